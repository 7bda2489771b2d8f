#include "chain.h"

#include <stdio.h>
#include <stdlib.h>

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
  free(layer->weight.data);
  free(layer->bias.data);
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
  for (int i = 0; i < shape->rank; i++)
    n *= shape->dims[i] < 0 ? batch : shape->dims[i];
  return n;
}

const char *sq_shape_format(const sq_shape *shape, char *buf, size_t size) {
  size_t used = 0;
  used += (size_t)snprintf(buf, size, "[");
  for (int i = 0; i < shape->rank && used < size; i++)
    used += (size_t)snprintf(buf + used, size - used, "%s%lld", i ? ", " : "",
                             (long long)shape->dims[i]);
  if (used < size) snprintf(buf + used, size - used, "]");
  return buf;
}

void *sq_aligned_alloc(size_t bytes) {
  size_t rounded = (bytes + 63) / 64 * 64;
  if (rounded < bytes) return NULL;
  return aligned_alloc(64, rounded ? rounded : 64);
}

int64_t sq_layer_parameters(const sq_layer *layer) {
  return layer->weight.count + layer->bias.count;
}
