#define _GNU_SOURCE /* madvise's MADV_HUGEPAGE */
#include "chain.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

static const struct {
  const char *name;
  sq_family family;
} kind_table[SQ_KIND_COUNT] = {
#define SQ_KIND_ROW(id, name, family) [SQ_##id] = {name, family},
    SQ_LAYER_KINDS(SQ_KIND_ROW)
#undef SQ_KIND_ROW
};

const char *sq_kind_name(sq_kind kind) {
  return (unsigned)kind < SQ_KIND_COUNT ? kind_table[kind].name : "?";
}

sq_family sq_kind_family(sq_kind kind) { return kind_table[kind].family; }

static void layer_free(sq_layer *layer) {
  free(layer->name);
  free(layer->nodes);
  free(layer->folded);
  sq_weights_release(&layer->weight);
  sq_weights_release(&layer->bias);
}

void sq_weights_release(sq_weights *weights) {
  free(weights->data);
  memset(weights, 0, sizeof *weights);
}

void sq_chain_free(sq_chain *chain) {
  if (!chain) return;
  for (int i = 0; i < chain->n_layers; i++) layer_free(&chain->layers[i]);
  free(chain->layers);
  free(chain->input_name);
  free(chain->output_name);
  free(chain->removed);
  free(chain->producer);
  free(chain);
}

int64_t sq_shape_count(const sq_shape *shape, int64_t batch) {
  int64_t n = 1;
  for (int i = 0; i < shape->rank; i++) n *= sq_dim_size(shape->dims[i], batch);
  return n;
}

/* "[a, b, ...]"; with `merged`, a dims[0] of -K (K > 1) as "-1*K". */
static const char *format_list(int rank, const int64_t *dims, bool merged,
                               char *buf, size_t size) {
  size_t used = (size_t)snprintf(buf, size, "[");
  for (int i = 0; i < rank && used < size; i++) {
    int64_t d = dims[i];
    const char *sep = i ? ", " : "";
    if (merged && i == 0 && d < -1 && d != INT64_MIN)
      used += (size_t)snprintf(buf + used, size - used, "%s-1*%lld", sep,
                               (long long)-d);
    else
      used += (size_t)snprintf(buf + used, size - used, "%s%lld", sep,
                               (long long)d);
  }
  if (used < size) snprintf(buf + used, size - used, "]");
  return buf;
}

const char *sq_shape_format(const sq_shape *shape, char *buf, size_t size) {
  return format_list(shape->rank, shape->dims, true, buf, size);
}

const char *sq_dims_format(int rank, const int64_t *dims, char *buf,
                           size_t size) {
  return format_list(rank, dims, false, buf, size);
}

static bool huge_pages_env_is(const char *value) {
  const char *env = getenv("SEQRT_HUGE_PAGES");
  return env && strcmp(env, value) == 0;
}

bool sq_huge_pages_wanted(void) { return huge_pages_env_is("1"); }

bool sq_huge_pages_refused(void) { return huge_pages_env_is("0"); }

void *sq_aligned_alloc(size_t bytes) {
  size_t rounded = (bytes + 63) / 64 * 64;
  if (rounded < bytes) return NULL;
  if (bytes < SQ_HUGE_PAGE || !sq_huge_pages_wanted())
    return aligned_alloc(64, rounded ? rounded : 64);
  void *data = NULL;
  if (posix_memalign(&data, SQ_HUGE_PAGE, rounded) != 0) return NULL;
  /* Only whole huge pages, so that the tail is not rounded up to 2 MiB of
   * resident memory. A refusal is harmless. */
  size_t whole = bytes / SQ_HUGE_PAGE * SQ_HUGE_PAGE;
  madvise(data, whole, MADV_HUGEPAGE);
  return data;
}

#ifndef MADV_COLLAPSE
#define MADV_COLLAPSE 25 /* Linux 6.1; glibc 2.36 does not name it */
#endif

void sq_collapse_huge_pages(const void *data, size_t bytes) {
  if (sq_huge_pages_refused()) return;
  uintptr_t lo = ((uintptr_t)data + SQ_HUGE_PAGE - 1) / SQ_HUGE_PAGE;
  uintptr_t hi = ((uintptr_t)data + bytes) / SQ_HUGE_PAGE;
  if (hi > lo) /* a refusal (an older kernel, THP "never") is harmless */
    madvise((void *)(lo * SQ_HUGE_PAGE), (hi - lo) * SQ_HUGE_PAGE,
            MADV_COLLAPSE);
}

const void *sq_release_pages(const void *from, const void *to) {
  long size = sysconf(_SC_PAGESIZE);
  if (size <= 0) return from;
  uintptr_t page = (uintptr_t)size;
  uintptr_t lo = ((uintptr_t)from + page - 1) / page * page;
  uintptr_t hi = (uintptr_t)to / page * page;
  if (hi <= lo) return from;
  madvise((void *)lo, hi - lo, MADV_DONTNEED);
  return (const void *)hi;
}

int64_t sq_layer_parameters(const sq_layer *layer) {
  return layer->weight.count + layer->bias.count;
}

uint64_t sq_chain_weight_bytes(const sq_chain *chain) {
  uint64_t bytes = 0;
  for (int k = 0; k < chain->n_layers; k++)
    bytes += (uint64_t)sq_layer_parameters(&chain->layers[k]) * sizeof(float);
  return bytes;
}

/* Softmax, GLU and LayerNorm are the layers with an axis that may be 0;
 * every other kind keeps dim 0 whole (chain.h). */
static bool mixes_samples(const sq_layer *layer) {
  bool along_axis = sq_kind_family(layer->kind) == SQ_FAMILY_SOFTMAX ||
                    layer->kind == SQ_GLU || layer->kind == SQ_LAYERNORM;
  return layer->in.dims[0] > 0 || layer->out.dims[0] > 0 ||
         (along_axis && layer->axis == 0);
}

bool sq_chain_samples_independent(const sq_chain *chain) {
  if (chain->input.dims[0] > 0) return false;
  for (int k = 0; k < chain->n_layers; k++)
    if (mixes_samples(&chain->layers[k])) return false;
  return true;
}

double sq_layer_flop(const sq_layer *layer, int64_t batch) {
  double out = (double)sq_shape_count(&layer->out, batch);
  double flop = out;
  switch (sq_kind_family(layer->kind)) {
  case SQ_FAMILY_LINEAR:
    flop = 2.0 * out * (double)layer->in.dims[layer->in.rank - 1];
    break;
  case SQ_FAMILY_CONV: {
    /* Each weight meets every output position of its output channel (a
     * transposed convolution: every input position of its input channel). */
    bool transposed = layer->kind == SQ_CONVTRANSPOSE;
    const sq_shape *per = transposed ? &layer->in : &layer->out;
    if (per->rank > 1 && per->dims[1] > 0)
      flop = 2.0 * (double)sq_shape_count(per, batch) *
             (double)layer->weight.count / (double)per->dims[1];
    break;
  }
  case SQ_FAMILY_POOL:
    for (int i = 0; i < layer->spatial && i < SQ_MAX_SPATIAL; i++)
      flop *= (double)layer->kernel[i];
    break;
  case SQ_FAMILY_REDUCE:
    flop = (double)sq_shape_count(&layer->in, batch);
    break;
  default: break;
  }
  return flop;
}

void sq_layer_padded_input(const sq_layer *layer, sq_shape *out) {
  if (sq_pool_padded_shape(layer, out)) return;
  *out = layer->in;
  if (layer->kind != SQ_CONV) return;
  for (int k = 0; k < SQ_MAX_SPATIAL && 2 + k < out->rank; k++)
    out->dims[2 + k] += layer->prepad_begin[k] + layer->prepad_end[k];
}

bool sq_pool_padded_shape(const sq_layer *layer, sq_shape *out) {
  bool counts = layer->kind == SQ_LPPOOL ||
                (layer->kind == SQ_AVGPOOL && layer->count_include_pad);
  bool counted = false, uncounted = false;
  *out = layer->in;
  for (int k = 0; counts && k < layer->spatial && k < SQ_MAX_SPATIAL; k++) {
    int64_t begin = layer->pad_begin[k] - layer->uncounted_begin[k];
    int64_t end = layer->pad_end[k] - layer->uncounted_end[k];
    counted |= begin > 0 || end > 0;
    uncounted |= layer->uncounted_begin[k] > 0 || layer->uncounted_end[k] > 0;
    if (2 + k < out->rank) out->dims[2 + k] += begin + end;
  }
  return counted && uncounted;
}
