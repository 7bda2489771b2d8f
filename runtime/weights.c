/* Weights reordered into the layouts the primitives chose, made once and
 * shared by every plan of a chain (one copy per layout, not per plan). */
#include <stdint.h>
#include <stdlib.h>

#include "internal.h"

typedef struct cached_weight {
  const void *source;         /* the chain's array it was made from */
  dnnl_memory_desc_t user_md; /* how that array was seen: its dims */
  dnnl_memory_desc_t md;
  void *data;
  size_t bytes;
} cached_weight;

/* What became of a chain array the cache has seen. */
typedef struct source_state {
  const void *source;
  bool in_place; /* a plan reads it where it lies: never released */
  bool released; /* its pages were given back; read its cached copies */
} source_state;

struct sq_weight_cache {
  cached_weight *items;
  int count, capacity;
  size_t bytes;
  bool take_sources;
  source_state *sources;
  int n_sources, sources_capacity;
};

seqrt_status sq_weight_cache_create(bool take_sources, sq_weight_cache **out) {
  if (!out)
    return sq_error(SEQRT_ERR_INVALID_ARGUMENT, "weight cache: out is NULL");
  *out = calloc(1, sizeof **out);
  if (!*out)
    return sq_error(SEQRT_ERR_NOMEM, "out of memory for the weight cache");
  (*out)->take_sources = take_sources;
  return SEQRT_OK;
}

void sq_weight_cache_free(sq_weight_cache *cache) {
  if (!cache) return;
  for (int i = 0; i < cache->count; i++) free(cache->items[i].data);
  free(cache->items);
  free(cache->sources);
  free(cache);
}

size_t sq_weight_cache_bytes(const sq_weight_cache *cache) {
  return cache ? cache->bytes : 0;
}

/* One reorder primitive, kept while consecutive reorders have the same
 * descriptors. */
typedef struct reorder_cache {
  dnnl_memory_desc_t from, to;
  dnnl_primitive_t prim;
} reorder_cache;

static dnnl_status_t
reorder_exec(reorder_cache *rc, dnnl_engine_t engine, dnnl_stream_t stream,
             const dnnl_memory_desc_t *from_md, const void *from_data,
             const dnnl_memory_desc_t *to_md, void *to_data) {
  dnnl_status_t st = dnnl_success;
  if (!rc->prim || !dnnl_memory_desc_equal(&rc->from, from_md) ||
      !dnnl_memory_desc_equal(&rc->to, to_md)) {
    dnnl_primitive_destroy(rc->prim);
    rc->prim = NULL;
    dnnl_primitive_desc_t pd = NULL;
    st = dnnl_reorder_primitive_desc_create(&pd, from_md, engine, to_md, engine,
                                            NULL);
    if (st == dnnl_success) st = dnnl_primitive_create(&rc->prim, pd);
    dnnl_primitive_desc_destroy(pd);
    if (st != dnnl_success) return st;
    rc->from = *from_md;
    rc->to = *to_md;
  }
  dnnl_memory_t from = NULL, to = NULL;
  st = dnnl_memory_create(&from, from_md, engine, (void *)from_data);
  if (st == dnnl_success) st = dnnl_memory_create(&to, to_md, engine, to_data);
  if (st == dnnl_success) {
    dnnl_exec_arg_t args[2] = {{DNNL_ARG_FROM, from}, {DNNL_ARG_TO, to}};
    st = dnnl_primitive_execute(rc->prim, stream, 2, args);
  }
  if (st == dnnl_success) st = dnnl_stream_wait(stream);
  dnnl_memory_destroy(from);
  dnnl_memory_destroy(to);
  return st;
}

seqrt_status sq_reorder_now(const sq_layer *layer, dnnl_engine_t engine,
                            dnnl_stream_t stream,
                            const dnnl_memory_desc_t *from_md, const void *data,
                            const dnnl_memory_desc_t *to_md, void *out) {
  reorder_cache rc = {0};
  dnnl_status_t st =
      reorder_exec(&rc, engine, stream, from_md, data, to_md, out);
  dnnl_primitive_destroy(rc.prim);
  if (st != dnnl_success) return sq_dnnl_error(layer, "weights reorder", st);
  return SEQRT_OK;
}

static cached_weight *find(sq_weight_cache *cache, const void *source,
                           const dnnl_memory_desc_t *md) {
  for (int i = 0; i < cache->count; i++)
    if (cache->items[i].source == source &&
        (!md || dnnl_memory_desc_equal(&cache->items[i].md, md)))
      return &cache->items[i];
  return NULL;
}

/* What became of `source`, or NULL if the cache has not seen it. */
static source_state *known_state(const sq_weight_cache *cache,
                                 const void *source) {
  for (int i = 0; i < cache->n_sources; i++)
    if (cache->sources[i].source == source) return &cache->sources[i];
  return NULL;
}

/* The same, recording a new source. */
static source_state *state_of(sq_weight_cache *cache, const void *source) {
  source_state *known = known_state(cache, source);
  if (known) return known;
  if (cache->n_sources == cache->sources_capacity) {
    int capacity = cache->sources_capacity ? 2 * cache->sources_capacity : 16;
    source_state *grown =
        realloc(cache->sources, (size_t)capacity * sizeof *grown);
    if (!grown) return NULL;
    cache->sources = grown;
    cache->sources_capacity = capacity;
  }
  source_state *state = &cache->sources[cache->n_sources++];
  *state = (source_state){source, false, false};
  return state;
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

/* Only the big weight arrays of layers whose builders read them through the
 * cache alone (never element by element) are given back. */
#define SQ_RELEASE_MIN_BYTES ((size_t)1 << 20)

static bool may_release(const sq_weight_cache *cache, const sq_layer *layer,
                        const void *source, const dnnl_memory_desc_t *user_md) {
  sq_family family = sq_kind_family(layer->kind);
  return cache->take_sources && source == layer->weight.data &&
         (family == SQ_FAMILY_LINEAR || family == SQ_FAMILY_CONV) &&
         dnnl_memory_desc_get_size(user_md) >= SQ_RELEASE_MIN_BYTES;
}

/* The plain array's outermost dim (largest stride), if its bytes are
 * exactly dims[d] rows of strides[d] floats; -1 otherwise. */
static int outer_dim(const dnnl_memory_desc_t *md) {
  if (md->format_kind != dnnl_blocked || md->format_desc.blocking.inner_nblks)
    return -1;
  int d = -1;
  for (int i = 0; i < md->ndims; i++)
    if (md->dims[i] > 1 && (d < 0 || md->format_desc.blocking.strides[i] >
                                         md->format_desc.blocking.strides[d]))
      d = i;
  if (d < 0 || (size_t)(md->dims[d] * md->format_desc.blocking.strides[d]) *
                       sizeof(float) !=
                   dnnl_memory_desc_get_size(md))
    return -1;
  return d;
}

/* The rows of dim d that one block of `md` holds together. */
static int64_t block_rows(const dnnl_memory_desc_t *md, int d) {
  int64_t rows = 1;
  const dnnl_blocking_desc_t *blk = &md->format_desc.blocking;
  for (int i = 0; i < blk->inner_nblks; i++)
    if (blk->inner_idxs[i] == d) rows *= blk->inner_blks[i];
  return rows;
}

typedef struct slice_plan {
  int d;
  int64_t rows, block;
  size_t row_bytes;
} slice_plan;

static bool plan_slices(const dnnl_memory_desc_t *from_md,
                        const dnnl_memory_desc_t *to_md, slice_plan *p) {
  p->d = outer_dim(from_md);
  if (p->d < 0 || to_md->format_kind != dnnl_blocked) return false;
  p->block = block_rows(to_md, p->d);
  p->row_bytes =
      (size_t)from_md->format_desc.blocking.strides[p->d] * sizeof(float);
  p->rows =
      (int64_t)(SQ_RELEASE_SLICE_BYTES / p->row_bytes) / p->block * p->block;
  if (p->rows < p->block) p->rows = p->block;
  return true;
}

/* Rows [off, off + n) of dim d: the sub-descriptor with its offset moved
 * into the handle, so that equal slices share one reorder primitive. */
static bool slice_md(const dnnl_memory_desc_t *md, int d, int64_t off,
                     int64_t n, dnnl_memory_desc_t *slice, size_t *offset) {
  dnnl_dims_t dims, offsets = {0};
  for (int i = 0; i < md->ndims; i++) dims[i] = md->dims[i];
  dims[d] = n;
  offsets[d] = off;
  if (dnnl_memory_desc_init_submemory(slice, md, dims, offsets) != dnnl_success)
    return false;
  *offset = (size_t)slice->offset0 * sizeof(float);
  slice->offset0 = 0;
  return true;
}

/* The next slice: at most p->rows rows, whole blocks of the target layout
 * or the last partial block on its own (what sub-descriptors allow). */
static int64_t slice_rows(const slice_plan *p, int64_t off, int64_t total) {
  int64_t n = total - off < p->rows ? total - off : p->rows;
  if (n < total - off || n % p->block == 0 || n < p->block) return n;
  return n / p->block * p->block;
}

/* Reorder a chain array slice by slice along its outermost dim, giving
 * each slice's pages back once it is copied: the peak is the new copy
 * plus one slice, not two whole copies (the wide MLP's 4096x4096 layer
 * would otherwise hold 64 MiB twice). False, with nothing released, when
 * the layouts cannot be sliced; the caller then reorders whole. */
static bool reorder_releasing(const sq_layer *layer, dnnl_engine_t engine,
                              dnnl_stream_t stream,
                              const dnnl_memory_desc_t *from_md,
                              const void *source,
                              const dnnl_memory_desc_t *to_md, void *out,
                              seqrt_status *status) {
  slice_plan p;
  if (!plan_slices(from_md, to_md, &p)) return false;
  int64_t total = from_md->dims[p.d];
  dnnl_memory_desc_t from, to;
  size_t from_off = 0, to_off = 0;
  for (int64_t off = 0; off < total; off += slice_rows(&p, off, total))
    if (!slice_md(from_md, p.d, off, slice_rows(&p, off, total), &from,
                  &from_off) ||
        !slice_md(to_md, p.d, off, slice_rows(&p, off, total), &to, &to_off))
      return false;
  /* Not cleared up front: touching the whole copy before the source is
   * given back would hold both again. The last slice's reorder writes the
   * zeros of the blocks' padding (oneDNN zero-pads a reorder's output). */
  const char *base = source, *released = source;
  reorder_cache rc = {0};
  dnnl_status_t st = dnnl_success;
  for (int64_t off = 0, n; off < total && st == dnnl_success; off += n) {
    n = slice_rows(&p, off, total);
    slice_md(from_md, p.d, off, n, &from, &from_off);
    slice_md(to_md, p.d, off, n, &to, &to_off);
    st = reorder_exec(&rc, engine, stream, &from, base + from_off, &to,
                      (char *)out + to_off);
    if (st == dnnl_success)
      released =
          sq_release_pages(released, base + (size_t)(off + n) * p.row_bytes);
  }
  dnnl_primitive_destroy(rc.prim);
  *status = st == dnnl_success ? SEQRT_OK
                               : sq_dnnl_error(layer, "weights reorder", st);
  return true;
}

/* The chain array's bytes back from a cached copy (its pages were given
 * back), then reordered as `user_md` sees them into `want`. The copy may
 * see the array with other dims (an inner product's [N, K] where a matmul
 * wants [K, N]); then the bytes pass through a temporary plain array. */
static seqrt_status copy_from_cached(sq_weight_cache *cache,
                                     const sq_layer *layer, const void *source,
                                     const dnnl_memory_desc_t *user_md,
                                     const dnnl_memory_desc_t *want,
                                     dnnl_engine_t engine, dnnl_stream_t stream,
                                     void *data) {
  /* Only blocked copies reorder back (not e.g. Winograd's); the sliced
   * reorder that gave the pages back made one. */
  const cached_weight *copy = NULL;
  for (int i = 0; i < cache->count; i++) {
    const cached_weight *item = &cache->items[i];
    if (item->source != source || item->md.format_kind != dnnl_blocked)
      continue;
    if (!copy || dnnl_memory_desc_equal(&item->user_md, user_md)) copy = item;
  }
  if (!copy)
    return sq_error(SEQRT_ERR_BACKEND,
                    "layer '%s' (%s): no copy of its weights to reorder from",
                    layer->name, sq_kind_name(layer->kind));
  if (dnnl_memory_desc_equal(&copy->user_md, user_md))
    return sq_reorder_now(layer, engine, stream, &copy->md, copy->data, want,
                          data);
  void *plain = sq_aligned_alloc(dnnl_memory_desc_get_size(user_md));
  if (!plain)
    return sq_error(SEQRT_ERR_NOMEM, "layer '%s' (%s): out of memory",
                    layer->name, sq_kind_name(layer->kind));
  seqrt_status st = sq_reorder_now(layer, engine, stream, &copy->md, copy->data,
                                   &copy->user_md, plain);
  if (st == SEQRT_OK)
    st = sq_reorder_now(layer, engine, stream, user_md, plain, want, data);
  free(plain);
  return st;
}

/* Make `want` from the source array, or, once its pages are given back,
 * from a copy the cache holds. */
static seqrt_status
make_copy(sq_weight_cache *cache, const sq_layer *layer, const void *source,
          const dnnl_memory_desc_t *user_md, const dnnl_memory_desc_t *want,
          dnnl_engine_t engine, dnnl_stream_t stream, void *data) {
  source_state *state = state_of(cache, source);
  if (!state) return sq_error(SEQRT_ERR_NOMEM, "out of memory in weight cache");
  if (state->released)
    return copy_from_cached(cache, layer, source, user_md, want, engine, stream,
                            data);
  seqrt_status st = SEQRT_OK;
  if (!state->in_place && may_release(cache, layer, source, user_md) &&
      reorder_releasing(layer, engine, stream, user_md, source, want, data,
                        &st)) {
    state->released = st == SEQRT_OK;
    return st;
  }
  return sq_reorder_now(layer, engine, stream, user_md, source, want, data);
}

/* Room for one more item and `bytes` for its array (*data). */
static seqrt_status new_item(sq_weight_cache *cache, const sq_layer *layer,
                             size_t bytes, const char *what, void **data) {
  seqrt_status st = grow(cache);
  if (st != SEQRT_OK) return st;
  *data = sq_aligned_alloc(bytes);
  if (!*data)
    return sq_error(SEQRT_ERR_NOMEM,
                    "layer '%s' (%s): out of memory for %zu bytes of %s "
                    "weights",
                    layer->name, sq_kind_name(layer->kind), bytes, what);
  return SEQRT_OK;
}

/* The item new_item made room for, now that its array is filled. */
static void *keep_item(sq_weight_cache *cache, cached_weight item) {
  cache->items[cache->count++] = item;
  cache->bytes += item.bytes;
  return item.data;
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
  size_t bytes = dnnl_memory_desc_get_size(want);
  void *data = NULL;
  seqrt_status st = new_item(cache, layer, bytes, "reordered", &data);
  if (st == SEQRT_OK)
    st = make_copy(cache, layer, source, user_md, want, engine, stream, data);
  if (st != SEQRT_OK) {
    free(data);
    return st;
  }
  *out =
      keep_item(cache, (cached_weight){source, *user_md, *want, data, bytes});
  return SEQRT_OK;
}

int sq_weight_cache_mark(const sq_weight_cache *cache) { return cache->count; }

/* True if `item` is the cache's only copy of an array whose pages were
 * given back: dropping it would lose the weights. */
static bool only_copy_of_released(const sq_weight_cache *cache,
                                  const cached_weight *item) {
  const source_state *state = known_state(cache, item->source);
  if (!state || !state->released) return false;
  for (int i = 0; i < cache->count; i++)
    if (&cache->items[i] != item && cache->items[i].source == item->source)
      return false;
  return true;
}

void sq_weight_cache_rollback(sq_weight_cache *cache, int mark) {
  while (cache->count > mark) {
    cached_weight *last = &cache->items[cache->count - 1];
    if (only_copy_of_released(cache, last)) return;
    cache->bytes -= last->bytes;
    free(last->data);
    cache->count--;
  }
}

seqrt_status sq_weight_cache_in_place(sq_weight_cache *cache,
                                      const sq_layer *layer, const void *source,
                                      const dnnl_memory_desc_t *user_md,
                                      dnnl_engine_t engine,
                                      dnnl_stream_t stream, void **out) {
  source_state *state = state_of(cache, source);
  if (!state) return sq_error(SEQRT_ERR_NOMEM, "out of memory in weight cache");
  if (state->released)
    return sq_weight_cache_get(cache, layer, source, user_md, user_md, engine,
                               stream, out);
  state->in_place = true;
  *out = (void *)source;
  return SEQRT_OK;
}

seqrt_status sq_weight_cache_derived(sq_weight_cache *cache,
                                     const sq_layer *layer, const void *source,
                                     const dnnl_memory_desc_t *user_md,
                                     const dnnl_memory_desc_t *key,
                                     size_t bytes, sq_derive_fn derive,
                                     dnnl_engine_t engine, dnnl_stream_t stream,
                                     void **out, bool *made) {
  cached_weight *hit = find(cache, source, key);
  *made = !hit;
  if (hit) {
    *out = hit->data;
    return SEQRT_OK;
  }
  void *plain = NULL, *data = NULL;
  seqrt_status st = sq_weight_cache_in_place(cache, layer, source, user_md,
                                             engine, stream, &plain);
  if (st == SEQRT_OK) st = new_item(cache, layer, bytes, "transformed", &data);
  if (st != SEQRT_OK) return st;
  derive(layer, plain, data);
  *out = keep_item(cache, (cached_weight){source, *user_md, *key, data, bytes});
  return SEQRT_OK;
}
