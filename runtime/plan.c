/* The plan: one step per layer (observable) or per fused group, built by the
 * family builders, then wired together (reorders, ping-pong buffers). */
#include <omp.h>
#include <oneapi/dnnl/dnnl_debug.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"

/* ---- the process-wide CPU engine ---------------------------------------- */

static pthread_once_t engine_once = PTHREAD_ONCE_INIT;
static dnnl_engine_t cpu_engine;
static dnnl_status_t cpu_engine_status;

static void engine_create(void) {
  cpu_engine_status = dnnl_engine_create(&cpu_engine, dnnl_cpu, 0);
}

static seqrt_status engine_get(dnnl_engine_t *out) {
  if (pthread_once(&engine_once, engine_create) != 0)
    return sq_error(SEQRT_ERR_BACKEND,
                    "could not initialise the oneDNN engine");
  if (cpu_engine_status != dnnl_success)
    return sq_error(SEQRT_ERR_BACKEND, "oneDNN CPU engine creation failed: %s",
                    dnnl_status2str(cpu_engine_status));
  *out = cpu_engine;
  return SEQRT_OK;
}

/* ---- helpers shared by the builders ---- */

seqrt_status sq_dnnl_error(const sq_layer *layer, const char *what,
                           dnnl_status_t status) {
  return sq_error(SEQRT_ERR_BACKEND, "layer '%s' (%s): oneDNN %s failed: %s",
                  layer->name, sq_kind_name(layer->kind), what,
                  dnnl_status2str(status));
}

void sq_dims(const sq_shape *shape, int64_t batch, dnnl_dims_t dims) {
  for (int i = 0; i < shape->rank; i++)
    dims[i] = i == 0 ? sq_dim_size(shape->dims[0], batch) : shape->dims[i];
}

seqrt_status sq_md_plain(const sq_layer *layer, int ndims,
                         const dnnl_dims_t dims, dnnl_memory_desc_t *md) {
  SQ_DNNL(layer, "plain memory descriptor",
          dnnl_memory_desc_init_by_strides(md, ndims, dims, dnnl_f32, NULL));
  return SEQRT_OK;
}

seqrt_status sq_md_any(const sq_layer *layer, int ndims, const dnnl_dims_t dims,
                       dnnl_memory_desc_t *md) {
  SQ_DNNL(layer, "memory descriptor",
          dnnl_memory_desc_init_by_tag(md, ndims, dims, dnnl_f32,
                                       dnnl_format_tag_any));
  return SEQRT_OK;
}

seqrt_status sq_md_tagged(const sq_layer *layer, int ndims,
                          const dnnl_dims_t dims, dnnl_format_tag_t tag,
                          dnnl_memory_desc_t *md) {
  if (tag == dnnl_format_tag_undef) return sq_md_any(layer, ndims, dims, md);
  SQ_DNNL(layer, "memory descriptor",
          dnnl_memory_desc_init_by_tag(md, ndims, dims, dnnl_f32, tag));
  return SEQRT_OK;
}

bool sq_md_is_plain(const dnnl_memory_desc_t *md) {
  dnnl_memory_desc_t plain;
  if (md->ndims == 0 || md->format_kind != dnnl_blocked) return false;
  if (dnnl_memory_desc_init_by_strides(&plain, md->ndims, md->dims,
                                       md->data_type, NULL) != dnnl_success)
    return false;
  return dnnl_memory_desc_equal(md, &plain);
}

seqrt_status sq_builder_create_pd(sq_builder *b, const void *op_desc,
                                  const char *what) {
  SQ_DNNL(b->layer, what,
          dnnl_primitive_desc_create(&b->pd, op_desc, b->attr, b->plan->engine,
                                     NULL));
  return SEQRT_OK;
}

seqrt_status sq_builder_create_pd_preferring(sq_builder *b, const void *op_desc,
                                             const char *what,
                                             const char *prefix) {
  dnnl_primitive_desc_iterator_t it = NULL;
  SQ_DNNL(b->layer, what,
          dnnl_primitive_desc_iterator_create(&it, op_desc, b->attr,
                                              b->plan->engine, NULL));
  do {
    dnnl_primitive_desc_t pd = dnnl_primitive_desc_iterator_fetch(it);
    if (pd && strncmp(sq_pd_impl(pd), prefix, strlen(prefix)) == 0) {
      b->pd = pd;
      break;
    }
    dnnl_primitive_desc_destroy(pd);
  } while (dnnl_primitive_desc_iterator_next(it) == dnnl_success);
  dnnl_primitive_desc_iterator_destroy(it);
  return b->pd ? SEQRT_OK : sq_builder_create_pd(b, op_desc, what);
}

/* Weights the primitive wants in another layout: reordered once, into the
 * model's cache when there is one (shared with its other plans), otherwise
 * into a buffer the step owns. */
static seqrt_status add_owned_const(sq_builder *b, int arg,
                                    const dnnl_memory_desc_t *user_md,
                                    const dnnl_memory_desc_t *want,
                                    const void *data) {
  sq_step *step = b->step;
  sq_plan *plan = b->plan;
  void *buffer = NULL;
  if (plan->cache) {
    seqrt_status st =
        sq_weight_cache_get(plan->cache, b->layer, data, user_md, want,
                            plan->engine, plan->build_stream, &buffer);
    if (st != SEQRT_OK) return st;
  } else {
    int slot = 0;
    while (slot < SQ_MAX_CONSTS && step->owned[slot]) slot++;
    if (slot == SQ_MAX_CONSTS)
      return sq_error(SEQRT_ERR_BACKEND, "layer '%s': too many constants",
                      b->layer->name);
    size_t size = dnnl_memory_desc_get_size(want);
    buffer = step->owned[slot] = sq_aligned_alloc(size);
    if (!buffer)
      return sq_error(SEQRT_ERR_NOMEM,
                      "layer '%s' (%s): out of memory for %zu "
                      "bytes of reordered weights",
                      b->layer->name, sq_kind_name(b->layer->kind), size);
    seqrt_status st = sq_reorder_now(b->layer, plan->engine, plan->build_stream,
                                     user_md, data, want, buffer);
    if (st != SEQRT_OK) return st;
  }
  dnnl_memory_t to = NULL;
  SQ_DNNL(b->layer, "weights memory",
          dnnl_memory_create(&to, want, plan->engine, buffer));
  step->main.consts[step->main.n_consts++] = (dnnl_exec_arg_t){arg, to};
  plan->owned_const_bytes += dnnl_memory_desc_get_size(want);
  return SEQRT_OK;
}

seqrt_status sq_builder_add_const(sq_builder *b, int arg,
                                  const dnnl_memory_desc_t *user_md,
                                  const void *data) {
  sq_prim *main = &b->step->main;
  const dnnl_memory_desc_t *want =
      dnnl_primitive_desc_query_md(b->pd, dnnl_query_exec_arg_md, arg);
  if (!want || want->ndims == 0 || main->n_consts == SQ_MAX_CONSTS)
    return sq_error(SEQRT_ERR_BACKEND,
                    "layer '%s' (%s): the primitive takes no argument %d",
                    b->layer->name, sq_kind_name(b->layer->kind), arg);
  if (!dnnl_memory_desc_equal(want, user_md))
    return add_owned_const(b, arg, user_md, want, data);
  /* Same layout: read the chain's array in place (never written). */
  void *buffer = (void *)data;
  if (b->plan->cache) {
    seqrt_status st = sq_weight_cache_in_place(b->plan->cache, b->layer, data,
                                               user_md, b->plan->engine,
                                               b->plan->build_stream, &buffer);
    if (st != SEQRT_OK) return st;
  }
  dnnl_memory_t mem = NULL;
  SQ_DNNL(b->layer, "weights memory",
          dnnl_memory_create(&mem, user_md, b->plan->engine, buffer));
  main->consts[main->n_consts++] = (dnnl_exec_arg_t){arg, mem};
  b->plan->shared_const_bytes += dnnl_memory_desc_get_size(user_md);
  return SEQRT_OK;
}

seqrt_status sq_check_weights(const sq_layer *layer, const sq_weights *w,
                              const char *what, int64_t expected,
                              bool required) {
  if (!w->data) {
    if (!required) return SEQRT_OK;
    return sq_error(SEQRT_ERR_INVALID_MODEL, "layer '%s' (%s): %s is missing",
                    layer->name, sq_kind_name(layer->kind), what);
  }
  if (w->count != expected)
    return sq_error(SEQRT_ERR_INVALID_MODEL,
                    "layer '%s' (%s): %s has %lld values, expected %lld",
                    layer->name, sq_kind_name(layer->kind), what,
                    (long long)w->count, (long long)expected);
  return SEQRT_OK;
}

seqrt_status sq_check_window(const sq_layer *layer, const dnnl_dims_t in,
                             const dnnl_dims_t out) {
  int spatial = layer->in.rank - 2;
  if (spatial < 1 || spatial > SQ_MAX_SPATIAL || layer->spatial != spatial ||
      layer->out.rank != layer->in.rank)
    return sq_error(SEQRT_ERR_UNSUPPORTED,
                    "layer '%s' (%s): input rank %d with %d spatial dims "
                    "(supported: 1 to 3 spatial dims)",
                    layer->name, sq_kind_name(layer->kind), layer->in.rank,
                    layer->spatial);
  for (int i = 0; i < spatial; i++) {
    int64_t k = layer->kernel[i], s = layer->stride[i], d = layer->dilation[i];
    int64_t pb = layer->pad_begin[i], pe = layer->pad_end[i];
    if (k < 1 || s < 1 || d < 1 || pb < 0 || pe < 0)
      return sq_error(
          SEQRT_ERR_INVALID_MODEL,
          "layer '%s' (%s): bad window along spatial dim %d "
          "(kernel %lld, stride %lld, dilation %lld, pads %lld/%lld)",
          layer->name, sq_kind_name(layer->kind), i, (long long)k, (long long)s,
          (long long)d, (long long)pb, (long long)pe);
    int64_t span = in[2 + i] + pb + pe - ((k - 1) * d + 1);
    int64_t expected = span < 0 ? 0 : span / s + 1;
    if (out[2 + i] != expected)
      return sq_error(SEQRT_ERR_INVALID_MODEL,
                      "layer '%s' (%s): output size %lld along spatial dim %d, "
                      "expected %lld",
                      layer->name, sq_kind_name(layer->kind),
                      (long long)out[2 + i], i, (long long)expected);
  }
  return SEQRT_OK;
}

void sq_window_arrays(const sq_layer *layer, dnnl_dims_t strides,
                      dnnl_dims_t dilates, dnnl_dims_t pad_l,
                      dnnl_dims_t pad_r) {
  for (int i = 0; i < layer->spatial; i++) {
    strides[i] = layer->stride[i];
    dilates[i] = layer->dilation[i] - 1; /* oneDNN: 0 = no dilation */
    pad_l[i] = layer->pad_begin[i];
    pad_r[i] = layer->pad_end[i];
  }
}

/* ---- validation ---- */

/* Largest K of a merged batch dim -K: the importer's per-sample limit. */
#define SQ_MAX_MERGED ((int64_t)1 << 40)

static seqrt_status check_shape(const sq_layer *layer, const sq_shape *shape,
                                const char *what) {
  if (shape->rank < 1 || shape->rank > SQ_MAX_RANK)
    return sq_error(SEQRT_ERR_INVALID_MODEL, "layer '%s' (%s): %s rank %d",
                    layer->name, sq_kind_name(layer->kind), what, shape->rank);
  /* dims[0] < 0: the batch times -dims[0] (core/chain.h) */
  for (int i = 0; i < shape->rank; i++)
    if (shape->dims[i] == 0 || shape->dims[i] < (i == 0 ? -SQ_MAX_MERGED : 1))
      return sq_error(SEQRT_ERR_INVALID_MODEL,
                      "layer '%s' (%s): %s dim %d is %lld", layer->name,
                      sq_kind_name(layer->kind), what, i,
                      (long long)shape->dims[i]);
  return SEQRT_OK;
}

static bool same_dims(const sq_shape *a, const sq_shape *b, int64_t batch) {
  dnnl_dims_t da, db;
  if (a->rank != b->rank) return false;
  sq_dims(a, batch, da);
  sq_dims(b, batch, db);
  return memcmp(da, db, sizeof(int64_t) * (size_t)a->rank) == 0;
}

static seqrt_status check_chain(const sq_chain *chain, int64_t batch) {
  char a[128], b[128];
  if (chain->n_layers < 1 || !chain->layers)
    return sq_error(SEQRT_ERR_INVALID_MODEL, "the chain has no layers");
  if (batch < 1)
    return sq_error(SEQRT_ERR_INVALID_ARGUMENT, "batch %lld (must be >= 1)",
                    (long long)batch);
  bool indices = chain->input_dtype == SEQRT_INT64 &&
                 chain->layers[0].kind == SQ_EMBEDDING;
  if (chain->input_dtype != SEQRT_FLOAT32 && !indices)
    return sq_error(SEQRT_ERR_UNSUPPORTED,
                    "input '%s': only float32 inputs (or int64 indices into "
                    "an Embedding first layer) can run",
                    chain->input_name ? chain->input_name : "");
  const sq_shape *first_in = &chain->layers[0].in;
  if (first_in->rank > 0 && first_in->dims[0] > 0 && first_in->dims[0] != batch)
    return sq_error(SEQRT_ERR_INVALID_ARGUMENT,
                    "the model has a fixed batch of %lld, not %lld",
                    (long long)first_in->dims[0], (long long)batch);
  for (int i = 0; i < chain->n_layers; i++) {
    const sq_layer *layer = &chain->layers[i];
    if ((unsigned)layer->kind >= SQ_KIND_COUNT)
      return sq_error(SEQRT_ERR_UNSUPPORTED, "layer '%s': unknown kind %d",
                      layer->name, (int)layer->kind);
    seqrt_status st = check_shape(layer, &layer->in, "input");
    if (st == SEQRT_OK) st = check_shape(layer, &layer->out, "output");
    if (st != SEQRT_OK) return st;
    if (i > 0 && !same_dims(&chain->layers[i - 1].out, &layer->in, batch))
      return sq_error(SEQRT_ERR_INVALID_MODEL,
                      "layer '%s' (%s): input %s does not match the previous "
                      "layer's output %s",
                      layer->name, sq_kind_name(layer->kind),
                      sq_shape_format(&layer->in, a, sizeof a),
                      sq_shape_format(&chain->layers[i - 1].out, b, sizeof b));
  }
  return SEQRT_OK;
}

/* ---- threads per step ---- */

/* Threads per step. A plan whose estimated one-thread time is below
 * SQ_PARALLEL_MIN_US runs on one thread: it never opens an OpenMP region.
 * The threshold was 100 us while oneDNN ran batch-1 Linear layers; with
 * seqrt's Linear kernel the MNIST MLP at batch 1 (estimated 21 us) gains
 * from its first layer on 2 threads: 22.9-24.6 -> 20.1-21.3 us
 * (alternating `seqrt bench` runs; 1 thread 23.7-24.4 us), and no other
 * bundled or benchmark model's plan changes below 20 us.
 * A bigger plan runs every step on all its threads but the tiniest ones:
 * a step on one thread between parallel ones lets the other thread stop
 * spinning and fall asleep, and waking it (a futex and, in a VM, a halted
 * vCPU) costs more than the serial step saved. With GOMP_SPINCOUNT=1000
 * (what seqrt bench uses) the spin lasts 10-20 us on an Intel Xeon KVM
 * guest and waking costs ~50 us (an OpenMP region after a serial busy
 * wait: 1 us after 10 us, 34-50 us after 20 us or more), so a serial step
 * must be a few microseconds at most. 2 threads, p50, with a 10 us step
 * threshold -> this 2 us one (1 thread): audio CNN at batch 1 179 -> 89 us
 * (114), VAE decoder 131 -> 78 us (97), LeNet-5 at batch 64 302 -> 251 us
 * (438); MNIST MLP at batch 1 14.1 -> 11.6 us; no suite plan slower.
 * On an AMD EPYC guest the 10 us threshold had measured LeNet-5 at batch
 * 64 548 us (790 us with 20 us, 820 us with 200 us; 1 thread 870 us) and
 * the audio CNN 73 us (94 us with every step parallel; 1 thread 74 us).
 * SEQRT_PARALLEL_MIN_US overrides the plan threshold (for experiments). */
#define SQ_PARALLEL_MIN_US 15.0
#define SQ_PARALLEL_STEP_MIN_US 2.0
#define SQ_EST_FLOP_PER_US 1.0e5  /* about 100 GFLOP/s on one core */
#define SQ_EST_DRAM_PER_US 2.0e4  /* about 20 GB/s from memory */
#define SQ_EST_CACHE_PER_US 1.0e5 /* data that stays in cache between runs */
#define SQ_EST_CACHE_BYTES 8.0e6
static double parallel_min_us(void) {
  const char *env = getenv("SEQRT_PARALLEL_MIN_US");
  char *end = NULL;
  double value = env ? strtod(env, &end) : 0.0;
  return env && end != env && value >= 0.0 ? value : SQ_PARALLEL_MIN_US;
}

/* Rough one-thread time of a layer: the larger of its compute at the
 * FP32 peak and its bytes at memory bandwidth. */
static double layer_cost_us(const sq_layer *layer, int64_t batch) {
  double in = (double)sq_shape_count(&layer->in, batch);
  double out = (double)sq_shape_count(&layer->out, batch);
  double weights = (double)(layer->weight.count + layer->bias.count);
  double flops = sq_layer_flop(layer, batch);
  double bytes = 4.0 * (in + out + weights);
  double compute = flops / SQ_EST_FLOP_PER_US;
  double memory = bytes / (bytes > SQ_EST_CACHE_BYTES ? SQ_EST_DRAM_PER_US
                                                      : SQ_EST_CACHE_PER_US);
  return compute > memory ? compute : memory;
}

/* The thread count of a plan's steps that are worth more than one. */
static int plan_step_threads(const sq_plan *plan) {
  if (plan->threads <= 1) return 1;
  double cost = 0.0;
  for (int i = 0; i < plan->chain->n_layers; i++)
    cost += layer_cost_us(&plan->chain->layers[i], plan->batch);
  return cost >= parallel_min_us() ? plan->threads : 1;
}

static int step_threads(const sq_plan *plan, int lo, int plan_threads) {
  double cost = layer_cost_us(&plan->chain->layers[lo], plan->batch);
  return cost >= SQ_PARALLEL_STEP_MIN_US ? plan_threads : 1;
}

/* ---- building the steps ---- */

static void prim_free(sq_prim *p) {
  dnnl_primitive_destroy(p->prim);
  for (int i = 0; i < p->n_consts; i++)
    dnnl_memory_destroy(p->consts[i].memory);
  memset(p, 0, sizeof *p);
}

void sq_step_free(sq_step *step) {
  prim_free(&step->main);
  prim_free(&step->in_reorder);
  prim_free(&step->user_reorder);
  prim_free(&step->out_reorder);
  for (int i = 0; i < SQ_MAX_CONSTS; i++) free(step->owned[i]);
  sq_ops_free(step->ops);
  sq_bands_free(step->bands);
  memset(step, 0, sizeof *step);
}

/* Create p->prim from pd and record its memory descriptors. */
static seqrt_status prim_from_pd(const sq_layer *layer,
                                 const_dnnl_primitive_desc_t pd, sq_prim *p) {
  SQ_DNNL(layer, "primitive creation", dnnl_primitive_create(&p->prim, pd));
  p->src_md = *dnnl_primitive_desc_query_md(pd, dnnl_query_src_md, 0);
  p->dst_md = *dnnl_primitive_desc_query_md(pd, dnnl_query_dst_md, 0);
  p->scratch_md =
      *dnnl_primitive_desc_query_md(pd, dnnl_query_scratchpad_md, 0);
  return SEQRT_OK;
}

static seqrt_status attr_create(const sq_layer *layer,
                                dnnl_primitive_attr_t *attr) {
  SQ_DNNL(layer, "attribute creation", dnnl_primitive_attr_create(attr));
  /* User mode: the library-managed scratchpad ties a primitive to one
   * thread; each exec brings its own. */
  SQ_DNNL(layer, "scratchpad mode",
          dnnl_primitive_attr_set_scratchpad_mode(*attr,
                                                  dnnl_scratchpad_mode_user));
  return SEQRT_OK;
}

static seqrt_status append_post_ops(const sq_layer *fused, int n_fused,
                                    dnnl_primitive_attr_t attr) {
  dnnl_post_ops_t post_ops;
  SQ_DNNL(fused - 1, "post-ops creation", dnnl_post_ops_create(&post_ops));
  seqrt_status st = SEQRT_OK;
  dnnl_status_t dst = dnnl_success;
  for (int i = 0; i < n_fused && st == SEQRT_OK; i++)
    st = sq_eltwise_append_post_ops(&fused[i], post_ops);
  if (st == SEQRT_OK) dst = dnnl_primitive_attr_set_post_ops(attr, post_ops);
  dnnl_post_ops_destroy(post_ops);
  if (st == SEQRT_OK && dst != dnnl_success)
    st = sq_dnnl_error(fused - 1, "post-op fusion", dst);
  return st;
}

static sq_build_fn family_builder(sq_kind kind) {
  switch (sq_kind_family(kind)) {
  case SQ_FAMILY_LINEAR: return sq_build_linear;
  case SQ_FAMILY_CONV: return sq_build_conv;
  case SQ_FAMILY_POOL: return sq_build_pool;
  case SQ_FAMILY_NORM: return sq_build_norm;
  case SQ_FAMILY_ELTWISE: return sq_build_eltwise;
  case SQ_FAMILY_SOFTMAX: return sq_build_softmax;
  case SQ_FAMILY_RESHAPE: return sq_build_reshape;
  case SQ_FAMILY_GATE: return sq_build_gate;
  case SQ_FAMILY_PAD: return sq_build_pad;
  case SQ_FAMILY_RESIZE: return sq_build_resize;
  case SQ_FAMILY_SHUFFLE: return sq_build_shuffle;
  case SQ_FAMILY_EMBEDDING: return sq_build_embedding;
  case SQ_FAMILY_REDUCE: return sq_build_reduce;
  case SQ_FAMILY_BINARY: return sq_build_binary;
  default: return NULL;
  }
}

/* The builder's pd becomes the step's main primitive. */
static seqrt_status finish_main(sq_builder *b) {
  sq_step *step = b->step;
  if (b->pd) {
    seqrt_status st = prim_from_pd(b->layer, b->pd, &step->main);
    if (st != SEQRT_OK) return st;
  } else {
    step->main.src_md = b->src_md;
    step->main.dst_md = b->dst_md;
  }
  step->src_md = b->src_md.ndims ? b->src_md : step->main.src_md;
  step->dst_md = b->dst_md.ndims ? b->dst_md : step->main.dst_md;
  step->is_view = sq_kind_family(b->layer->kind) == SQ_FAMILY_RESHAPE;
  step->in_place = b->in_place || (step->is_view && !b->pd);
  return SEQRT_OK;
}

seqrt_status sq_build_layer(sq_plan *plan, sq_step *step, const sq_layer *layer,
                            const sq_layer *fused, int n_fused,
                            const sq_layer *flatten,
                            const dnnl_memory_desc_t *in_md,
                            dnnl_format_tag_t src_tag,
                            dnnl_format_tag_t dst_tag) {
  dnnl_primitive_attr_t attr = NULL;
  seqrt_status st = attr_create(layer, &attr);
  if (st == SEQRT_OK && n_fused > 0 &&
      sq_kind_family(layer->kind) != SQ_FAMILY_NORM)
    st = append_post_ops(fused, n_fused, attr);
  sq_builder b = {.plan = plan,
                  .step = step,
                  .layer = layer,
                  .in_md = *in_md,
                  .attr = attr,
                  .flatten = flatten,
                  .src_tag = src_tag,
                  .dst_tag = dst_tag};
  sq_build_fn build = family_builder(layer->kind);
  if (st == SEQRT_OK && !build)
    st = sq_error(SEQRT_ERR_UNSUPPORTED,
                  "layer '%s' (%s): the runtime cannot run this kind yet",
                  layer->name, sq_kind_name(layer->kind));
  if (st == SEQRT_OK) st = build(&b);
  if (st == SEQRT_OK) st = finish_main(&b);
  dnnl_primitive_desc_destroy(b.pd);
  dnnl_primitive_attr_destroy(attr);
  return st;
}

/* A step of layers lo..main + n_fused + pooled: the layer at `main` with
 * the eltwise layers after it (and the pool after those that the
 * convolution kernel takes), and the view at lo when main == lo + 1. */
static seqrt_status build_step(sq_plan *plan, sq_step *step, int lo, int main,
                               int n_fused, bool pooled,
                               const dnnl_memory_desc_t *in_md) {
  const sq_layer *layers = plan->chain->layers;
  step->lo = lo;
  step->hi = main + n_fused + pooled;
  return sq_build_layer(plan, step, &layers[main], &layers[main + 1], n_fused,
                        main > lo ? &layers[lo] : NULL, in_md,
                        dnnl_format_tag_undef, dnnl_format_tag_undef);
}

/* In a fused plan, how many ELTWISE layers after `lo` join its step: any
 * run of them with a oneDNN recipe as post-ops of a LINEAR or CONV; one
 * plain ReLU as the fused ReLU of a batch/instance/group norm. */
static int fusable_after(const sq_plan *plan, int lo) {
  const sq_chain *chain = plan->chain;
  sq_family family = sq_kind_family(chain->layers[lo].kind);
  if (plan->observable) return 0;
  if (family == SQ_FAMILY_NORM)
    return lo + 1 < chain->n_layers && chain->layers[lo + 1].kind == SQ_RELU &&
           sq_norm_fuses_relu(&chain->layers[lo]);
  if (family != SQ_FAMILY_LINEAR && family != SQ_FAMILY_CONV) return 0;
  /* oneDNN 2.6 runs a deconvolution's post-ops element by element after
   * it: a ReLU made one 4x slower (1.9-3.5 ms instead of 0.5-0.9 ms),
   * where a separate eltwise step takes microseconds. */
  if (chain->layers[lo].kind == SQ_CONVTRANSPOSE) return 0;
  int n = 0;
  while (lo + n + 1 < chain->n_layers &&
         sq_kind_family(chain->layers[lo + n + 1].kind) == SQ_FAMILY_ELTWISE)
    n++;
  return sq_eltwise_fusable_count(&chain->layers[lo + 1], n);
}

/* In a fused plan a reshape of plain data only renames the dims of the
 * previous step's output. */
static seqrt_status absorb_view(sq_plan *plan, int index, bool *absorbed) {
  const sq_layer *layer = &plan->chain->layers[index];
  sq_step *last = plan->n_steps ? &plan->steps[plan->n_steps - 1] : NULL;
  *absorbed = false;
  if (plan->observable || !last ||
      sq_kind_family(layer->kind) != SQ_FAMILY_RESHAPE ||
      !sq_md_is_plain(&last->dst_md))
    return SEQRT_OK;
  if (sq_shape_count(&layer->in, plan->batch) !=
      sq_shape_count(&layer->out, plan->batch))
    return SEQRT_OK; /* the reshape builder reports it */
  dnnl_dims_t dims;
  sq_dims(&layer->out, plan->batch, dims);
  seqrt_status st = sq_md_plain(layer, layer->out.rank, dims, &last->dst_md);
  if (st != SEQRT_OK) return st;
  last->hi = index;
  plan->layer_step[index] = plan->n_steps - 1;
  *absorbed = true;
  return SEQRT_OK;
}

/* In a fused plan a view of blocked data folds into a Linear after it
 * (sq_linear_folds_view); views of plain data are absorbed (absorb_view). */
static bool folds_view(const sq_plan *plan, int index) {
  const sq_layer *layers = plan->chain->layers;
  return !plan->observable && index + 1 < plan->chain->n_layers &&
         sq_linear_folds_view(plan, &layers[index], &layers[index + 1]);
}

bool sq_cpu_avx512(void) {
  dnnl_cpu_isa_t isa = dnnl_get_effective_cpu_isa();
  return (isa & dnnl_cpu_isa_avx512_core) == dnnl_cpu_isa_avx512_core;
}

bool sq_cpu_avx2(void) {
  dnnl_cpu_isa_t isa = dnnl_get_effective_cpu_isa();
  return (isa & dnnl_cpu_isa_avx2) == dnnl_cpu_isa_avx2;
}

/* Band groups (bands.c): at batch 1 on several threads, a run of 1-D or
 * 2-D convolutions (with their fused eltwise layers) and max pools runs
 * split by output rows (a signal's samples), each thread its band of every
 * layer with one-thread primitives, exchanging only the rows a window
 * reads across the border.
 * oneDNN's own 2-thread convolutions at batch 1 split badly, and its
 * Winograd ones worse (conv.c); a band's one-thread Winograd does not.
 * CIFAR VGG's convolutions, standalone, 2 threads: 32->32 at 32x32 direct
 * 50.8 us, two Winograd bands side by side 29.1 us; 32->64 at 16x16 25.2
 * -> 15.1 us; 64->64 at 16x16 49.4 -> 31.2 us. On thinner maps oneDNN's
 * Winograd kernel for them lost (64->128 at 8x8 27.0 -> 25.1 us, 128->128
 * 48.6 -> 52.5 us); with rows of zeros for its other kernel (bands.c) the
 * 128->128 bands took 43.4 us. Below SQ_BAND_MIN_ROWS rows per band (a
 * limit not measured further) a convolution ends the group. SEQRT_BANDS=0
 * turns bands off (for experiments). */
#define SQ_BAND_MIN_ROWS 4
static bool bands_enabled(void) {
  const char *env = getenv("SEQRT_BANDS");
  return !env || strcmp(env, "0") != 0;
}

static bool band_stage_fits(const sq_layer *layer, int bands) {
  int rank = layer->in.rank;
  if ((rank != 3 && rank != 4) || layer->out.rank != rank) return false;
  /* A pool, cheap on any band, only saves the group's end. */
  if (layer->kind == SQ_MAXPOOL) return layer->out.dims[2] >= bands;
  if (layer->out.dims[2] < SQ_BAND_MIN_ROWS * bands) return false;
  if (layer->kind != SQ_CONV) return false;
  for (int i = 0; i < SQ_MAX_SPATIAL; i++)
    if (layer->prepad_begin[i] || layer->prepad_end[i]) return false;
  return true;
}

static int fusable_after(const sq_plan *plan, int lo);

/* 2-D bands gain where their one-thread Winograd replaces a direct
 * 2-thread convolution; a band's direct convolution is no faster than
 * oneDNN's own 2-thread one (AlexNet at batch 1, all its convolutions in
 * bands: 9.2 -> 9.5-9.9 ms; VGG-11 45-49 -> 49-52 ms). So a 2-D group
 * needs at least half its convolutions' FLOPs in ones that get Winograd.
 * 1-D bands always gain: oneDNN splits a batch-1 1-D convolution over
 * threads only by blocks of output channels, and the audio CNN's (32 and
 * 64 channels) hardly at all; on 2 threads its first convolution took
 * 138 us against 112 us on one, the model 248-307 us against 189-247 us
 * (`seqrt bench --profile`, an AVX2 AMD EPYC). Its 9 layers of
 * convolutions and pools in 2 bands: 108-150 us (alternating `seqrt
 * bench` runs on a noisy host). Not measured with AVX-512. */
static bool bands_pay(const sq_chain *chain, const sq_band_stage_span *spans,
                      int n) {
  if (n > 0 && chain->layers[spans[0].lo].in.rank == 3) return true;
  double all = 0.0, winograd = 0.0;
  for (int k = 0; k < n; k++) {
    const sq_layer *layer = &chain->layers[spans[k].lo];
    if (layer->kind != SQ_CONV) continue;
    all += sq_layer_flop(layer, 1);
    if (sq_conv_winograd_candidate(layer)) winograd += sq_layer_flop(layer, 1);
  }
  return all > 0.0 && 2.0 * winograd >= all;
}

/* The stages of a band group starting at layer lo (a convolution), or 0. */
static int band_spans(const sq_plan *plan, int lo, int bands,
                      sq_band_stage_span *spans) {
  const sq_chain *chain = plan->chain;
  if (plan->observable || plan->batch != 1 || bands < 2 || !bands_enabled() ||
      chain->layers[lo].kind != SQ_CONV)
    return 0;
  int n = 0;
  for (int i = lo; i < chain->n_layers && n < SQ_MAX_BAND_STAGES &&
                   band_stage_fits(&chain->layers[i], bands);) {
    int hi =
        i + (chain->layers[i].kind == SQ_CONV ? fusable_after(plan, i) : 0);
    spans[n++] = (sq_band_stage_span){i, hi};
    i = hi + 1;
  }
  return bands_pay(chain, spans, n) ? n : 0;
}

/* Step plan->n_steps as a band group from layer lo, if one starts there
 * and its layouts split by rows. */
static seqrt_status try_bands(sq_plan *plan, int lo, int plan_threads,
                              bool *built) {
  sq_band_stage_span spans[SQ_MAX_BAND_STAGES];
  int bands = plan_threads < SQ_MAX_BANDS ? plan_threads : SQ_MAX_BANDS;
  int n = band_spans(plan, lo, bands, spans);
  *built = false;
  if (n == 0) return SEQRT_OK;
  sq_step *step = &plan->steps[plan->n_steps];
  seqrt_status st = sq_build_bands(plan, step, spans, n, bands, built);
  if (st != SEQRT_OK || !*built) return st;
  for (int k = step->lo; k <= step->hi; k++)
    plan->layer_step[k] = plan->n_steps;
  plan->n_steps++;
  return SEQRT_OK;
}

/* oneDNN 2.6 has only C kernels for some primitives on one layout that it
 * runs jitted on another. On a blocked layout: a binary with a per-channel
 * constant on nChw16c (64 x 56 x 56: 9.4 ms against 30 us), an eltwise on
 * 3 channels padded to 16 (3 x 128 x 128 Sigmoid: 354 us). On the plain
 * one: max pooling ("simple_nchw"), which AlexNet's first pool gets on an
 * AVX2 CPU after a gemm convolution that writes nchw (64 x 55 x 55: 3.5 ms
 * on an AMD EPYC). Such a step is rebuilt on the other layout, the
 * reorder to it being cheap; kept as it was where oneDNN has nothing
 * better there either. A step runs one of those C kernels when any of its
 * primitives does (seqrt's own kernels are not among them). */
static bool unjitted(const sq_step *step) {
  if (!step->ops) return step->main.prim && sq_prim_unjitted(step->main.prim);
  for (int i = 0; i < step->ops->n; i++)
    if (step->ops->op[i].prim && sq_prim_unjitted(step->ops->op[i].prim))
      return true;
  return false;
}

/* The CPU's channel blocks for rank 3 to 5: what its jitted kernels read. */
dnnl_format_tag_t sq_channel_blocked_tag(int ndims) {
  bool wide = sq_cpu_avx512();
  switch (ndims) {
  case 3: return wide ? dnnl_nCw16c : dnnl_nCw8c;
  case 4: return wide ? dnnl_nChw16c : dnnl_nChw8c;
  case 5: return wide ? dnnl_nCdhw16c : dnnl_nCdhw8c;
  default: return dnnl_format_tag_undef;
  }
}

static seqrt_status avoid_unjitted_kernel(sq_plan *plan, sq_step *step, int lo,
                                          int main,
                                          const dnnl_memory_desc_t *in_md,
                                          size_t owned_before,
                                          size_t shared_before) {
  if (step->ops || step->bands || !step->main.prim || !unjitted(step))
    return SEQRT_OK;
  const sq_layer *layer = &plan->chain->layers[main];
  bool plain = sq_md_is_plain(in_md);
  dnnl_format_tag_t tag = sq_channel_blocked_tag(in_md->ndims);
  if (plain && tag == dnnl_format_tag_undef) return SEQRT_OK;
  dnnl_memory_desc_t other;
  seqrt_status st =
      plain ? sq_md_tagged(layer, in_md->ndims, in_md->dims, tag, &other)
            : sq_md_plain(layer, in_md->ndims, in_md->dims, &other);
  if (st != SEQRT_OK) return st;
  size_t owned = plan->owned_const_bytes, shared = plan->shared_const_bytes;
  sq_step retry = {.threads = step->threads};
  st = build_step(plan, &retry, lo, main, step->hi - main, false, &other);
  if (st == SEQRT_OK && !retry.bands && !unjitted(&retry)) {
    sq_step_free(step);
    *step = retry;
    plan->owned_const_bytes += owned_before - owned;
    plan->shared_const_bytes += shared_before - shared;
  } else {
    sq_step_free(&retry);
    plan->owned_const_bytes = owned;
    plan->shared_const_bytes = shared;
  }
  return SEQRT_OK;
}

static seqrt_status build_steps(sq_plan *plan) {
  const sq_chain *chain = plan->chain;
  const sq_layer *first = &chain->layers[0];
  int plan_threads = plan_step_threads(plan);
  dnnl_memory_desc_t in_md;
  dnnl_dims_t dims;
  sq_dims(&first->in, plan->batch, dims);
  seqrt_status st = sq_md_plain(first, first->in.rank, dims, &in_md);
  for (int i = 0; st == SEQRT_OK && i < chain->n_layers;) {
    bool absorbed;
    st = absorb_view(plan, i, &absorbed);
    if (st != SEQRT_OK) break;
    if (!absorbed) st = try_bands(plan, i, plan_threads, &absorbed);
    if (st != SEQRT_OK) break;
    if (absorbed) {
      in_md = plan->steps[plan->n_steps - 1].dst_md;
      i = plan->steps[plan->n_steps - 1].hi + 1;
      continue;
    }
    int main = folds_view(plan, i) ? i + 1 : i;
    int n_fused = fusable_after(plan, main);
    bool pooled = sq_conv_kernel_pools(plan, main, n_fused);
    sq_step *step = &plan->steps[plan->n_steps++];
    int threads = step_threads(plan, main, plan_threads);
    size_t owned = plan->owned_const_bytes, shared = plan->shared_const_bytes;
    /* oneDNN sizes a primitive for the thread count at its creation. */
    omp_set_num_threads(threads);
    step->threads = threads;
    st = build_step(plan, step, i, main, n_fused, pooled, &in_md);
    if (st != SEQRT_OK && (n_fused > 0 || pooled)) {
      /* The primitive refused the fusion: run the eltwise separately. */
      sq_step_free(step);
      plan->owned_const_bytes = owned;
      plan->shared_const_bytes = shared;
      step->threads = threads;
      st = build_step(plan, step, i, main, 0, false, &in_md);
    }
    if (st == SEQRT_OK)
      st = avoid_unjitted_kernel(plan, step, i, main, &in_md, owned, shared);
    if (st != SEQRT_OK) break;
    for (int k = i; k <= step->hi; k++) plan->layer_step[k] = plan->n_steps - 1;
    in_md = step->dst_md;
    i = step->hi + 1;
  }
  return st;
}

/* ---- wiring: reorders between steps, buffers, sizes ---- */

seqrt_status sq_reorder_pd_create(const sq_plan *plan, const sq_layer *layer,
                                  const dnnl_memory_desc_t *from,
                                  const dnnl_memory_desc_t *to,
                                  dnnl_primitive_desc_t *pd) {
  dnnl_primitive_attr_t attr = NULL;
  seqrt_status st = attr_create(layer, &attr);
  if (st == SEQRT_OK) {
    dnnl_status_t dst = dnnl_reorder_primitive_desc_create(
        pd, from, plan->engine, to, plan->engine, attr);
    if (dst != dnnl_success) st = sq_dnnl_error(layer, "reorder", dst);
  }
  dnnl_primitive_attr_destroy(attr);
  return st;
}

static seqrt_status reorder_create(sq_plan *plan, const sq_layer *layer,
                                   const dnnl_memory_desc_t *src,
                                   const dnnl_memory_desc_t *dst,
                                   sq_prim *out) {
  dnnl_primitive_desc_t pd = NULL;
  seqrt_status st = sq_reorder_pd_create(plan, layer, src, dst, &pd);
  if (st == SEQRT_OK) st = prim_from_pd(layer, pd, out);
  dnnl_primitive_desc_destroy(pd);
  return st;
}

static size_t max_size(size_t current, const dnnl_memory_desc_t *md) {
  size_t size = md->ndims ? dnnl_memory_desc_get_size(md) : 0;
  return size > current ? size : current;
}

static void account(sq_plan *plan, const sq_step *step) {
  plan->activation_bytes = max_size(plan->activation_bytes, &step->src_md);
  plan->activation_bytes = max_size(plan->activation_bytes, &step->dst_md);
  plan->activation_bytes = max_size(plan->activation_bytes, &step->main.src_md);
  plan->activation_bytes = max_size(plan->activation_bytes, &step->main.dst_md);
  const sq_prim *prims[] = {&step->main, &step->in_reorder, &step->user_reorder,
                            &step->out_reorder};
  for (size_t i = 0; i < sizeof prims / sizeof *prims; i++)
    if (prims[i]->prim)
      plan->scratchpad_bytes =
          max_size(plan->scratchpad_bytes, &prims[i]->scratch_md);
  size_t band_bytes = step->bands ? sq_bands_scratch_bytes(step->bands) : 0;
  if (band_bytes > plan->scratchpad_bytes) plan->scratchpad_bytes = band_bytes;
  if (plan->observable && step->out_reorder.prim)
    plan->view_bytes = max_size(plan->view_bytes, &step->user_out_md);
}

/* The plain md of a step's input or output as the user sees it. */
static seqrt_status user_md(const sq_layer *layer,
                            const dnnl_memory_desc_t *like,
                            dnnl_memory_desc_t *md) {
  return sq_md_plain(layer, like->ndims, like->dims, md);
}

static seqrt_status wire_step(sq_plan *plan, int index) {
  sq_step *step = &plan->steps[index];
  const sq_step *prev = index ? &plan->steps[index - 1] : NULL;
  const sq_layer *layer = &plan->chain->layers[step->lo];
  bool can_start = plan->observable || index == 0;
  bool can_end = plan->observable || index == plan->n_steps - 1;
  seqrt_status st = SEQRT_OK;
  omp_set_num_threads(step->threads); /* its reorders run with its threads */
  int prev_buf = prev ? prev->dst_buf : 0;
  if (prev && !dnnl_memory_desc_equal(&prev->dst_md, &step->src_md))
    st = reorder_create(plan, layer, &prev->dst_md, &step->src_md,
                        &step->in_reorder);
  step->src_buf = step->in_reorder.prim ? 1 - prev_buf : prev_buf;
  step->dst_buf = step->in_place ? step->src_buf : 1 - step->src_buf;

  step->dst_direct = sq_md_is_plain(&step->main.dst_md);
  /* Never a padded layout on the caller's buffer: binding one zero-pads. */
  if (sq_md_is_plain(&step->main.src_md))
    step->user_in_md = step->main.src_md;
  else if (st == SEQRT_OK)
    st = user_md(layer, &step->src_md, &step->user_in_md);
  if (st == SEQRT_OK && can_start && !step->is_view &&
      !sq_md_is_plain(&step->main.src_md))
    st = reorder_create(plan, layer, &step->user_in_md, &step->src_md,
                        &step->user_reorder);

  if (step->dst_direct) {
    step->user_out_md = step->main.dst_md;
  } else if (st == SEQRT_OK) {
    st = user_md(layer, &step->dst_md, &step->user_out_md);
    if (st == SEQRT_OK && can_end)
      st = reorder_create(plan, layer, &step->dst_md, &step->user_out_md,
                          &step->out_reorder);
  }
  if (st == SEQRT_OK) account(plan, step);
  return st;
}

/* ---- plan lifetime ---- */

static seqrt_status plan_build(sq_plan *plan) {
  dnnl_status_t sst = dnnl_stream_create(&plan->build_stream, plan->engine,
                                         dnnl_stream_default_flags);
  if (sst != dnnl_success)
    return sq_error(SEQRT_ERR_BACKEND, "oneDNN stream creation failed: %s",
                    dnnl_status2str(sst));
  seqrt_status st = build_steps(plan);
  for (int i = 0; st == SEQRT_OK && i < plan->n_steps; i++)
    st = wire_step(plan, i);
  dnnl_stream_destroy(plan->build_stream);
  plan->build_stream = NULL;
  return st;
}

seqrt_status sq_plan_create_with(const sq_chain *chain, int64_t batch,
                                 const sq_plan_options *options,
                                 sq_plan **out) {
  if (!chain || !options || !out)
    return sq_error(SEQRT_ERR_INVALID_ARGUMENT,
                    "sq_plan_create: NULL argument");
  *out = NULL;
  if (options->threads < 0)
    return sq_error(SEQRT_ERR_INVALID_ARGUMENT, "threads %d must be >= 0",
                    options->threads);
  seqrt_status st = check_chain(chain, batch);
  dnnl_engine_t engine = NULL;
  if (st == SEQRT_OK) st = engine_get(&engine);
  if (st != SEQRT_OK) return st;

  sq_plan *plan = calloc(1, sizeof *plan);
  if (plan) {
    plan->steps = calloc((size_t)chain->n_layers, sizeof *plan->steps);
    plan->layer_step =
        calloc((size_t)chain->n_layers, sizeof *plan->layer_step);
  }
  if (!plan || !plan->steps || !plan->layer_step) {
    sq_plan_free(plan);
    return sq_error(SEQRT_ERR_NOMEM, "out of memory for a plan of %d layers",
                    chain->n_layers);
  }
  int caller_threads = omp_get_max_threads();
  plan->chain = chain;
  plan->batch = batch;
  plan->observable = options->observable;
  plan->threads = options->threads > 0 ? options->threads : caller_threads;
  plan->cache = options->cache;
  plan->winograd = options->winograd;
  plan->engine = engine;
  st = plan_build(plan);
  omp_set_num_threads(caller_threads);
  if (st != SEQRT_OK) {
    sq_plan_free(plan);
    return st;
  }
  *out = plan;
  return SEQRT_OK;
}

seqrt_status sq_plan_create(const sq_chain *chain, int64_t batch,
                            bool observable, sq_plan **out) {
  sq_plan_options options = {.observable = observable};
  return sq_plan_create_with(chain, batch, &options, out);
}

int sq_plan_threads(const sq_plan *plan) { return plan ? plan->threads : 0; }

int sq_default_threads(void) { return omp_get_max_threads(); }

void sq_plan_free(sq_plan *plan) {
  if (!plan) return;
  for (int i = 0; plan->steps && i < plan->n_steps; i++)
    sq_step_free(&plan->steps[i]);
  free(plan->steps);
  free(plan->layer_step);
  free(plan);
}

void sq_plan_get_stats(const sq_plan *plan, sq_plan_stats *stats) {
  stats->steps = plan->n_steps;
  stats->parallel_steps = 0;
  for (int i = 0; i < plan->n_steps; i++)
    stats->parallel_steps += plan->steps[i].threads > 1;
  stats->activation_bytes = plan->activation_bytes;
  stats->view_bytes = plan->view_bytes;
  stats->scratchpad_bytes = plan->scratchpad_bytes;
  stats->owned_weight_bytes = plan->owned_const_bytes;
  stats->shared_weight_bytes = plan->shared_const_bytes;
}

/* ---- description ---- */

/* A format-tag-like name: outer dims by decreasing stride, blocked dims in
 * capitals, then the inner blocks ("aBcd16b" is nChw16c). */
static const char *md_layout(const dnnl_memory_desc_t *md, char *buf,
                             size_t size) {
  if (md->ndims == 0) return "-";
  if (md->format_kind != dnnl_blocked) return "opaque";
  const dnnl_blocking_desc_t *blk = &md->format_desc.blocking;
  int order[DNNL_MAX_NDIMS];
  for (int i = 0; i < md->ndims; i++) order[i] = i;
  for (int i = 1; i < md->ndims; i++)
    for (int j = i;
         j > 0 && blk->strides[order[j]] > blk->strides[order[j - 1]]; j--) {
      int t = order[j];
      order[j] = order[j - 1];
      order[j - 1] = t;
    }
  size_t used = 0;
  for (int i = 0; i < md->ndims && used + 1 < size; i++) {
    bool blocked = false;
    for (int k = 0; k < blk->inner_nblks; k++)
      blocked |= blk->inner_idxs[k] == order[i];
    buf[used++] = (char)((blocked ? 'A' : 'a') + order[i]);
  }
  buf[used] = '\0';
  for (int k = 0; k < blk->inner_nblks && used < size; k++)
    used += (size_t)snprintf(buf + used, size - used, "%lld%c",
                             (long long)blk->inner_blks[k],
                             (char)('a' + blk->inner_idxs[k]));
  return buf;
}

const char *sq_step_impl(const sq_step *step, char *buf, size_t size) {
  if (step->bands) return sq_bands_describe(step->bands, buf, size);
  if (step->ops) return sq_ops_describe(step->ops, buf, size);
  snprintf(buf, size, "%s",
           step->main.prim ? sq_prim_impl(step->main.prim) : "view");
  return buf;
}

void sq_plan_print(const sq_plan *plan, FILE *f) {
  char src[32], dst[32], w[32], impl[128];
  fprintf(f, "plan: batch %lld, %s, %d steps, up to %d threads\n",
          (long long)plan->batch, plan->observable ? "observable" : "fused",
          plan->n_steps, plan->threads);
  for (int i = 0; i < plan->n_steps; i++) {
    const sq_step *s = &plan->steps[i];
    const dnnl_memory_desc_t *wmd = NULL;
    void *handle = NULL;
    for (int k = 0; k < s->main.n_consts; k++) {
      if (s->main.consts[k].arg != DNNL_ARG_WEIGHTS) continue;
      dnnl_memory_get_memory_desc(s->main.consts[k].memory, &wmd);
      dnnl_memory_get_data_handle(s->main.consts[k].memory, &handle);
    }
    bool shared = handle && handle == plan->chain->layers[s->lo].weight.data;
    fprintf(f,
            "  step %d: layers %d..%d %s (%s) threads=%d impl=%s src=%s "
            "dst=%s weights=%s%s%s%s buf %d->%d\n",
            i, s->lo, s->hi, plan->chain->layers[s->lo].name,
            sq_kind_name(plan->chain->layers[s->lo].kind), s->threads,
            sq_step_impl(s, impl, sizeof impl),
            md_layout(&s->main.src_md, src, sizeof src),
            md_layout(&s->main.dst_md, dst, sizeof dst),
            wmd ? md_layout(wmd, w, sizeof w) : "-",
            wmd ? (shared ? " (shared)" : " (plan copy)") : "",
            s->in_reorder.prim ? " +in-reorder" : "",
            s->out_reorder.prim ? " +out-reorder" : "", s->src_buf, s->dst_buf);
  }
}
