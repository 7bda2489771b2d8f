/* Weights reordered into the layouts the primitives chose, made once and
 * shared by every plan of a chain (one copy per layout, not per plan). */
#define _GNU_SOURCE
#include <stdint.h>
#include <stdlib.h>
#include <sys/mman.h>

#include "internal.h"

#define SQ_HUGE_PAGE ((size_t)2 << 20)

void *sq_big_alloc(size_t bytes) {
  if (bytes < SQ_HUGE_PAGE) return sq_aligned_alloc(bytes);
  size_t rounded = (bytes + SQ_HUGE_PAGE - 1) / SQ_HUGE_PAGE * SQ_HUGE_PAGE;
  void *data = NULL;
  if (rounded < bytes || posix_memalign(&data, SQ_HUGE_PAGE, rounded) != 0)
    return NULL;
  /* Transparent huge pages where the system allows them on request: 512x
   * fewer page faults when the buffer is first written (they are slow in a
   * VM) and fewer TLB misses when weights stream through at run time. A
   * refusal is harmless. */
  madvise(data, rounded, MADV_HUGEPAGE);
  return data;
}

typedef struct cached_weight {
  const void *source; /* the chain's array it was made from */
  dnnl_memory_desc_t md;
  void *data;
  size_t bytes;
} cached_weight;

struct sq_weight_cache {
  cached_weight *items;
  int count, capacity;
  size_t bytes;
};

seqrt_status sq_weight_cache_create(sq_weight_cache **out) {
  if (!out)
    return sq_error(SEQRT_ERR_INVALID_ARGUMENT, "weight cache: out is NULL");
  *out = calloc(1, sizeof **out);
  if (!*out)
    return sq_error(SEQRT_ERR_NOMEM, "out of memory for the weight cache");
  return SEQRT_OK;
}

void sq_weight_cache_free(sq_weight_cache *cache) {
  if (!cache) return;
  for (int i = 0; i < cache->count; i++) free(cache->items[i].data);
  free(cache->items);
  free(cache);
}

size_t sq_weight_cache_bytes(const sq_weight_cache *cache) {
  return cache ? cache->bytes : 0;
}

seqrt_status sq_reorder_now(const sq_layer *layer, dnnl_engine_t engine,
                            dnnl_stream_t stream,
                            const dnnl_memory_desc_t *from_md, const void *data,
                            const dnnl_memory_desc_t *to_md, void *out) {
  dnnl_memory_t from = NULL, to = NULL;
  dnnl_primitive_desc_t pd = NULL;
  dnnl_primitive_t prim = NULL;
  dnnl_status_t st = dnnl_memory_create(&from, from_md, engine, (void *)data);
  if (st == dnnl_success) st = dnnl_memory_create(&to, to_md, engine, out);
  if (st == dnnl_success)
    st = dnnl_reorder_primitive_desc_create(&pd, from_md, engine, to_md, engine,
                                            NULL);
  if (st == dnnl_success) st = dnnl_primitive_create(&prim, pd);
  if (st == dnnl_success) {
    dnnl_exec_arg_t args[2] = {{DNNL_ARG_FROM, from}, {DNNL_ARG_TO, to}};
    st = dnnl_primitive_execute(prim, stream, 2, args);
  }
  if (st == dnnl_success) st = dnnl_stream_wait(stream);
  dnnl_primitive_destroy(prim);
  dnnl_primitive_desc_destroy(pd);
  dnnl_memory_destroy(from);
  dnnl_memory_destroy(to);
  if (st != dnnl_success) return sq_dnnl_error(layer, "weights reorder", st);
  return SEQRT_OK;
}

static cached_weight *find(sq_weight_cache *cache, const void *source,
                           const dnnl_memory_desc_t *md) {
  for (int i = 0; i < cache->count; i++)
    if (cache->items[i].source == source &&
        dnnl_memory_desc_equal(&cache->items[i].md, md))
      return &cache->items[i];
  return NULL;
}

static seqrt_status grow(sq_weight_cache *cache) {
  if (cache->count < cache->capacity) return SEQRT_OK;
  int capacity = cache->capacity ? 2 * cache->capacity : 16;
  cached_weight *items =
      realloc(cache->items, (size_t)capacity * sizeof *items);
  if (!items) return sq_error(SEQRT_ERR_NOMEM, "out of memory in weight cache");
  cache->items = items;
  cache->capacity = capacity;
  return SEQRT_OK;
}

seqrt_status sq_weight_cache_get(sq_weight_cache *cache, const sq_layer *layer,
                                 const void *source,
                                 const dnnl_memory_desc_t *user_md,
                                 const dnnl_memory_desc_t *want,
                                 dnnl_engine_t engine, dnnl_stream_t stream,
                                 void **out) {
  cached_weight *hit = find(cache, source, want);
  if (hit) {
    *out = hit->data;
    return SEQRT_OK;
  }
  seqrt_status st = grow(cache);
  if (st != SEQRT_OK) return st;
  size_t bytes = dnnl_memory_desc_get_size(want);
  void *data = sq_big_alloc(bytes);
  if (!data)
    return sq_error(SEQRT_ERR_NOMEM,
                    "layer '%s' (%s): out of memory for %zu bytes of "
                    "reordered weights",
                    layer->name, sq_kind_name(layer->kind), bytes);
  st = sq_reorder_now(layer, engine, stream, user_md, source, want, data);
  if (st != SEQRT_OK) {
    free(data);
    return st;
  }
  cache->items[cache->count++] = (cached_weight){source, *want, data, bytes};
  cache->bytes += bytes;
  *out = data;
  return SEQRT_OK;
}
