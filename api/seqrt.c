/* The public API: models own a chain and a cache of plans (one per batch
 * size and kind); contexts own the per-run state bound to those plans. */
#define _GNU_SOURCE
#include "seqrt.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/chain.h"
#include "core/error.h"
#include "importer/importer.h"
#include "runtime/runtime.h"

struct seqrt_options {
  uint64_t memory_limit;
  bool winograd;                   /* seqrt_options_set_winograd */
  seqrt_batch_slices batch_slices; /* seqrt_options_set_batch_slices */
  sq_external_blob *external;      /* locations owned, data borrowed */
  size_t n_external;
};

typedef struct plan_entry {
  int64_t batch;
  bool observable;
  int threads;
  sq_plan *plan;
  /* How a whole run at this batch goes (split_decision): 0 not decided
   * yet, 1 on `plan`, N > 1 in N slices of the batch at once, each on its
   * own thread with a one-thread plan. */
  int slices;
} plan_entry;

/* Plans are built lazily on first use of a batch size; the cache is the
 * only mutable part of a model, guarded by its own lock. */
typedef struct plan_cache {
  pthread_mutex_t lock;
  plan_entry *entries;
  int count, capacity;
  sq_weight_cache *weights; /* reordered weights shared by the plans */
  bool winograd;            /* seqrt_options_set_winograd */
} plan_cache;

/* Whether a batch may run in slices (batch slices). */
typedef enum split_mode { SPLIT_NEVER, SPLIT_TRIAL, SPLIT_ALWAYS } split_mode;
static split_mode split_mode_of(const sq_chain *chain,
                                seqrt_batch_slices option);

struct seqrt_model {
  sq_chain *chain;
  plan_cache *plans;
  split_mode split;
  bool print_plans; /* SEQRT_PRINT_PLANS */
};

/* A context's exec of a plan; `slot` tells apart the slices of one batch
 * that share a plan. */
typedef struct exec_entry {
  const sq_plan *plan;
  int slot;
  sq_exec *exec;
} exec_entry;

struct seqrt_context {
  const seqrt_model *model;
  int threads;
  bool profiling;     /* seqrt_context_set_profiling */
  sq_exec *last_exec; /* the last run's if profiled (seqrt_context_profile) */
  exec_entry *execs;
  int count, capacity;
};

const char *seqrt_version(void) { return SEQRT_VERSION_STRING; }

/* ---- options ----------------------------------------------------------- */

seqrt_status seqrt_options_create(seqrt_options **out) {
  if (!out) return sq_error(SEQRT_ERR_INVALID_ARGUMENT, "options: out is NULL");
  *out = calloc(1, sizeof **out);
  if (!*out) return sq_error(SEQRT_ERR_NOMEM, "options: out of memory");
  return SEQRT_OK;
}

void seqrt_options_free(seqrt_options *options) {
  if (!options) return;
  for (size_t k = 0; k < options->n_external; k++)
    free((char *)options->external[k].location);
  free(options->external);
  free(options);
}

seqrt_status seqrt_options_set_winograd(seqrt_options *options, int enable) {
  if (!options)
    return sq_error(SEQRT_ERR_INVALID_ARGUMENT, "options: handle is NULL");
  options->winograd = enable != 0;
  return SEQRT_OK;
}

seqrt_status seqrt_options_set_batch_slices(seqrt_options *options,
                                            seqrt_batch_slices mode) {
  if (!options)
    return sq_error(SEQRT_ERR_INVALID_ARGUMENT, "options: handle is NULL");
  if (mode != SEQRT_BATCH_SLICES_AUTO && mode != SEQRT_BATCH_SLICES_OFF &&
      mode != SEQRT_BATCH_SLICES_ON)
    return sq_error(SEQRT_ERR_INVALID_ARGUMENT,
                    "options: batch slices mode %d is not AUTO (0), OFF (1) "
                    "or ON (2)",
                    (int)mode);
  options->batch_slices = mode;
  return SEQRT_OK;
}

seqrt_status seqrt_options_set_memory_limit(seqrt_options *options,
                                            uint64_t bytes) {
  if (!options)
    return sq_error(SEQRT_ERR_INVALID_ARGUMENT, "options: handle is NULL");
  options->memory_limit = bytes;
  return SEQRT_OK;
}

seqrt_status seqrt_options_set_external_data(seqrt_options *options,
                                             const char *location,
                                             const void *data, size_t size) {
  if (!options || !location || (!data && size))
    return sq_error(SEQRT_ERR_INVALID_ARGUMENT,
                    "external data: options, location or data is NULL");
  for (size_t k = 0; k < options->n_external; k++)
    if (strcmp(options->external[k].location, location) == 0) {
      options->external[k].data = data;
      options->external[k].size = size;
      return SEQRT_OK;
    }
  sq_external_blob *grown =
      realloc(options->external, (options->n_external + 1) * sizeof *grown);
  if (!grown) return sq_error(SEQRT_ERR_NOMEM, "options: out of memory");
  options->external = grown;
  char *copy = strdup(location);
  if (!copy) return sq_error(SEQRT_ERR_NOMEM, "options: out of memory");
  grown[options->n_external++] = (sq_external_blob){copy, data, size};
  return SEQRT_OK;
}

/* ---- loading ------------------------------------------------------------- */

static seqrt_status model_from_chain(sq_chain *chain,
                                     const seqrt_options *options,
                                     seqrt_model **out) {
  seqrt_model *model = calloc(1, sizeof *model);
  plan_cache *plans = calloc(1, sizeof *plans);
  if (!model || !plans ||
      sq_weight_cache_create(true, &plans->weights) != SEQRT_OK ||
      pthread_mutex_init(&plans->lock, NULL) != 0) {
    if (plans) sq_weight_cache_free(plans->weights);
    free(model);
    free(plans);
    sq_chain_free(chain);
    return sq_error(SEQRT_ERR_NOMEM, "out of memory creating the model");
  }
  plans->winograd = options && options->winograd;
  model->chain = chain;
  model->plans = plans;
  model->split = split_mode_of(chain, options ? options->batch_slices
                                              : SEQRT_BATCH_SLICES_AUTO);
  const char *print = getenv("SEQRT_PRINT_PLANS");
  model->print_plans = print && *print && strcmp(print, "0") != 0;
  *out = model;
  return SEQRT_OK;
}

/* `releasable`: `data` is not needed once imported (sq_import_releasing). */
static seqrt_status load(const void *data, bool releasable, size_t size,
                         const char *model_dir, const seqrt_options *options,
                         seqrt_model **out) {
  sq_import_options import = {model_dir, 0, NULL, 0};
  if (options)
    import = (sq_import_options){model_dir, options->memory_limit,
                                 options->external, options->n_external};
  sq_chain *chain = NULL;
  seqrt_status status = releasable
                            ? sq_import_releasing(data, size, &import, &chain)
                            : sq_import(data, size, &import, &chain);
  if (status != SEQRT_OK) return status;
  return model_from_chain(chain, options, out);
}

seqrt_status seqrt_model_load_buffer(const void *data, size_t size,
                                     const seqrt_options *options,
                                     seqrt_model **out) {
  if (!out) return sq_error(SEQRT_ERR_INVALID_ARGUMENT, "load: out is NULL");
  *out = NULL;
  if (!data && size)
    return sq_error(SEQRT_ERR_INVALID_ARGUMENT, "load: data is NULL");
  sq_error_clear();
  return load(data, false, size, NULL, options, out);
}

static char *folder_of(const char *path) {
  const char *slash = strrchr(path, '/');
  if (!slash) return strdup(".");
  if (slash == path) return strdup("/");
  return strndup(path, (size_t)(slash - path));
}

static seqrt_status read_all(int fd, const char *path, uint8_t *data,
                             size_t size) {
  for (size_t done = 0; done < size;) {
    ssize_t n = pread(fd, data + done, size - done, (off_t)done);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0)
      return sq_error(SEQRT_ERR_IO, "cannot read '%s': %s", path,
                      n < 0 ? strerror(errno) : "the file shrank");
    done += (size_t)n;
  }
  return SEQRT_OK;
}

/* The file's bytes (NULL when empty): a private read-only mapping
 * (*mapped), or where the file cannot be mapped, a copy read into memory
 * (free with free). */
static seqrt_status map_file(const char *path, void **data, size_t *size,
                             bool *mapped) {
  *data = NULL;
  *size = 0;
  *mapped = false;
  int fd = open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0)
    return sq_error(SEQRT_ERR_IO, "cannot open '%s': %s", path,
                    strerror(errno));
  struct stat st;
  seqrt_status status = SEQRT_OK;
  if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode))
    status = sq_error(SEQRT_ERR_IO, "'%s' is not a regular file", path);
  else if ((uint64_t)st.st_size > SIZE_MAX / 2)
    status = sq_error(SEQRT_ERR_IO, "'%s' is too large", path);
  if (status == SEQRT_OK && st.st_size > 0) {
    *size = (size_t)st.st_size;
    void *map = mmap(NULL, *size, PROT_READ, MAP_PRIVATE, fd, 0);
    *mapped = map != MAP_FAILED;
    *data = *mapped ? map : malloc(*size);
    if (!*mapped)
      status = *data ? read_all(fd, path, *data, *size)
                     : sq_error(SEQRT_ERR_NOMEM,
                                "out of memory reading '%s' (%zu bytes)", path,
                                *size);
  }
  close(fd);
  if (status != SEQRT_OK) {
    free(*data);
    *data = NULL;
  }
  return status;
}

/* The weights are copied from the file's mapping straight into memory of
 * the model's own, and each payload's pages are unmapped as it is copied
 * (sq_import_releasing): no copy of the whole file is made, and the
 * weights are in memory once. Reading the file into a buffer and using
 * its weights in place, as before, made misaligned weights (most of them:
 * ONNX puts them at any offset) need a second copy at the first run: on
 * the 150 MB wide MLP 35-159 ms, now 5 ms. The load itself is mostly the
 * weights' fresh pages either way (`seqrt bench`, Intel Xeon VM). */
seqrt_status seqrt_model_load_file(const char *path,
                                   const seqrt_options *options,
                                   seqrt_model **out) {
  if (!out) return sq_error(SEQRT_ERR_INVALID_ARGUMENT, "load: out is NULL");
  *out = NULL;
  if (!path) return sq_error(SEQRT_ERR_INVALID_ARGUMENT, "load: path is NULL");
  sq_error_clear();
  void *data;
  size_t size;
  bool mapped;
  seqrt_status status = map_file(path, &data, &size, &mapped);
  if (status != SEQRT_OK) return status;
  char *dir = folder_of(path);
  status = dir ? load(data, true, size, dir, options, out)
               : sq_error(SEQRT_ERR_NOMEM, "out of memory loading '%s'", path);
  free(dir);
  if (mapped)
    munmap(data, size);
  else
    free(data);
  if (status != SEQRT_OK) sq_error_prefix("%s", path);
  return status;
}

void seqrt_model_free(seqrt_model *model) {
  if (!model) return;
  for (int i = 0; i < model->plans->count; i++)
    sq_plan_free(model->plans->entries[i].plan);
  free(model->plans->entries);
  sq_weight_cache_free(model->plans->weights);
  pthread_mutex_destroy(&model->plans->lock);
  free(model->plans);
  sq_chain_free(model->chain);
  free(model);
}

/* ---- model description --------------------------------------------------- */

static void shape_out(const sq_shape *in, seqrt_shape *out) {
  out->rank = in->rank;
  memcpy(out->dims, in->dims, sizeof out->dims);
}

seqrt_status seqrt_model_input(const seqrt_model *model, seqrt_shape *shape,
                               seqrt_dtype *dtype) {
  if (!model)
    return sq_error(SEQRT_ERR_INVALID_ARGUMENT, "model handle is NULL");
  if (shape) shape_out(&model->chain->input, shape);
  if (dtype) *dtype = model->chain->input_dtype;
  return SEQRT_OK;
}

seqrt_status seqrt_model_output_shape(const seqrt_model *model, int64_t batch,
                                      seqrt_shape *shape) {
  if (!model || !shape)
    return sq_error(SEQRT_ERR_INVALID_ARGUMENT, "model or shape is NULL");
  if (batch <= 0)
    return sq_error(SEQRT_ERR_INVALID_ARGUMENT, "batch %lld must be > 0",
                    (long long)batch);
  shape_out(&model->chain->output, shape);
  if (shape->rank > 0) shape->dims[0] = sq_dim_size(shape->dims[0], batch);
  return SEQRT_OK;
}

int seqrt_model_layer_count(const seqrt_model *model) {
  return model ? model->chain->n_layers : 0;
}

seqrt_status seqrt_model_layer(const seqrt_model *model, int index,
                               seqrt_layer_info *info) {
  if (!model || !info)
    return sq_error(SEQRT_ERR_INVALID_ARGUMENT, "model or info is NULL");
  if (index < 0 || index >= model->chain->n_layers)
    return sq_error(SEQRT_ERR_INVALID_ARGUMENT,
                    "layer index %d out of range (model has %d layers)", index,
                    model->chain->n_layers);
  const sq_layer *layer = &model->chain->layers[index];
  info->name = layer->name;
  info->kind = sq_kind_name(layer->kind);
  info->nodes = layer->nodes ? layer->nodes : "";
  info->folded = layer->folded ? layer->folded : "";
  shape_out(&layer->in, &info->input);
  shape_out(&layer->out, &info->output);
  info->parameters = sq_layer_parameters(layer);
  return SEQRT_OK;
}

/* True if `name` is one entry of the comma-separated `list`. */
static bool list_contains(const char *list, const char *name) {
  size_t len = strlen(name);
  for (const char *p = list; p && *p;) {
    const char *end = strchr(p, ',');
    size_t item = end ? (size_t)(end - p) : strlen(p);
    if (item == len && strncmp(p, name, len) == 0) return true;
    p = end ? end + 1 : NULL;
  }
  return false;
}

int seqrt_model_find_layer(const seqrt_model *model, const char *name) {
  if (!model || !name) return -1;
  for (int i = 0; i < model->chain->n_layers; i++)
    if (strcmp(model->chain->layers[i].name, name) == 0) return i;
  for (int i = 0; i < model->chain->n_layers; i++)
    if (list_contains(model->chain->layers[i].folded, name)) return i;
  return -1;
}

const char *seqrt_model_removed_layers(const seqrt_model *model) {
  return model && model->chain->removed ? model->chain->removed : "";
}

/* ---- plans -----------------------------------------------------------------
 */

/* One plan per batch size, kind and thread count: oneDNN primitives are
 * made for the thread count they run with. The index of its entry, built
 * if new; the cache's lock is held. */
static seqrt_status entry_locked(const seqrt_model *model, int64_t batch,
                                 bool observable, int threads, int *index) {
  plan_cache *cache = model->plans;
  for (int i = 0; i < cache->count; i++) {
    if (cache->entries[i].batch == batch &&
        cache->entries[i].observable == observable &&
        cache->entries[i].threads == threads) {
      *index = i;
      return SEQRT_OK;
    }
  }
  if (cache->count == cache->capacity) {
    int capacity = cache->capacity ? 2 * cache->capacity : 4;
    plan_entry *grown =
        realloc(cache->entries, (size_t)capacity * sizeof *grown);
    if (!grown)
      return sq_error(SEQRT_ERR_NOMEM, "out of memory caching a plan");
    cache->entries = grown;
    cache->capacity = capacity;
  }
  sq_plan *plan = NULL;
  sq_plan_options options = {observable, threads, cache->weights,
                             cache->winograd};
  seqrt_status status =
      sq_plan_create_with(model->chain, batch, &options, &plan);
  if (status != SEQRT_OK) return status;
  if (model->print_plans) sq_plan_print(plan, stderr);
  *index = cache->count++;
  cache->entries[*index] = (plan_entry){batch, observable, threads, plan, 0};
  return SEQRT_OK;
}

static seqrt_status find_or_create_plan(const seqrt_model *model, int64_t batch,
                                        bool observable, int threads,
                                        const sq_plan **out) {
  int index = 0;
  pthread_mutex_lock(&model->plans->lock);
  seqrt_status status = entry_locked(model, batch, observable, threads, &index);
  if (status == SEQRT_OK) *out = model->plans->entries[index].plan;
  pthread_mutex_unlock(&model->plans->lock);
  return status;
}

/* ---- contexts and runs ------------------------------------------------------
 */

seqrt_status seqrt_context_create(const seqrt_model *model,
                                  seqrt_context **out) {
  if (!model || !out)
    return sq_error(SEQRT_ERR_INVALID_ARGUMENT, "model or out is NULL");
  *out = calloc(1, sizeof **out);
  if (!*out)
    return sq_error(SEQRT_ERR_NOMEM, "out of memory creating a context");
  (*out)->model = model;
  return SEQRT_OK;
}

void seqrt_context_free(seqrt_context *ctx) {
  if (!ctx) return;
  for (int i = 0; i < ctx->count; i++) sq_exec_free(ctx->execs[i].exec);
  free(ctx->execs);
  free(ctx);
}

seqrt_status seqrt_context_set_threads(seqrt_context *ctx, int threads) {
  if (!ctx) return sq_error(SEQRT_ERR_INVALID_ARGUMENT, "context is NULL");
  if (threads < 0)
    return sq_error(SEQRT_ERR_INVALID_ARGUMENT, "threads %d must be >= 0",
                    threads);
  ctx->threads = threads;
  return SEQRT_OK;
}

int seqrt_context_threads(const seqrt_context *ctx) {
  if (!ctx) return 0;
  return ctx->threads > 0 ? ctx->threads : sq_default_threads();
}

seqrt_status seqrt_context_set_profiling(seqrt_context *ctx, int enable) {
  if (!ctx) return sq_error(SEQRT_ERR_INVALID_ARGUMENT, "context is NULL");
  if (enable && !ctx->profiling)
    for (int i = 0; i < ctx->count; i++)
      sq_exec_profile_clear(ctx->execs[i].exec);
  ctx->profiling = enable != 0;
  return SEQRT_OK;
}

seqrt_status seqrt_context_profile(seqrt_context *ctx,
                                   const seqrt_step_profile **steps,
                                   int *count) {
  if (!ctx || !steps || !count)
    return sq_error(SEQRT_ERR_INVALID_ARGUMENT,
                    "context, steps or count is NULL");
  *steps = NULL;
  *count = 0;
  return sq_exec_profile(ctx->last_exec, steps, count);
}

static seqrt_status exec_of(seqrt_context *ctx, const sq_plan *plan, int slot,
                            sq_exec **out) {
  for (int i = 0; i < ctx->count; i++)
    if (ctx->execs[i].plan == plan && ctx->execs[i].slot == slot) {
      *out = ctx->execs[i].exec;
      return SEQRT_OK;
    }
  if (ctx->count == ctx->capacity) {
    int capacity = ctx->capacity ? 2 * ctx->capacity : 4;
    exec_entry *grown = realloc(ctx->execs, (size_t)capacity * sizeof *grown);
    if (!grown) return sq_error(SEQRT_ERR_NOMEM, "out of memory in context");
    ctx->execs = grown;
    ctx->capacity = capacity;
  }
  sq_exec *exec = NULL;
  seqrt_status status = sq_exec_create(plan, &exec);
  if (status != SEQRT_OK) return status;
  ctx->execs[ctx->count++] = (exec_entry){plan, slot, exec};
  *out = exec;
  return SEQRT_OK;
}

/* Frees the context's execs of `plan`, giving their buffers back, but for a
 * profiled one: its profile lives as long as the context. */
static void drop_execs(seqrt_context *ctx, const sq_plan *plan) {
  int kept = 0;
  for (int i = 0; i < ctx->count; i++) {
    if (ctx->execs[i].plan != plan || sq_exec_profiled(ctx->execs[i].exec)) {
      ctx->execs[kept++] = ctx->execs[i];
      continue;
    }
    sq_exec_free(ctx->execs[i].exec);
  }
  ctx->count = kept;
}

static void format_dims(const int64_t *dims, int rank, char *buf, size_t size) {
  sq_dims_format(rank < SQ_MAX_RANK ? rank : SQ_MAX_RANK, dims, buf, size);
}

/* True if every layer's input and output at `batch` has fewer than 2^60
 * bytes, so that no size computed for a run overflows. */
static bool batch_fits(const sq_chain *chain, int64_t batch) {
  for (int k = 0; k < chain->n_layers; k++) {
    const sq_shape *shapes[2] = {&chain->layers[k].in, &chain->layers[k].out};
    for (int s = 0; s < 2; s++) {
      int64_t bytes;
      if (sq_mul_overflow(sq_shape_count(shapes[s], 1), 8, &bytes) ||
          sq_mul_overflow(bytes, batch, &bytes) || bytes >= (int64_t)1 << 60)
        return false;
    }
  }
  return true;
}

/* The batch size that gives `t` (which matches `expected`): dims[0] = -K
 * holds the batch times K; a model with a fixed batch runs that batch,
 * whatever its layers' dims[0] (e.g. after Flatten(0)). */
static int64_t batch_of(const sq_chain *chain, const seqrt_tensor *t,
                        const sq_shape *expected) {
  if (expected->dims[0] < 0) return t->dims[0] / -expected->dims[0];
  const sq_shape *first =
      chain->n_layers ? &chain->layers[0].in : &chain->input;
  return first->dims[0] > 0 ? first->dims[0] : t->dims[0];
}

/* Checks `t` against `expected` (dims[0] -K = any batch times K) and
 * returns the batch. */
static seqrt_status check_input(const sq_chain *chain, const seqrt_tensor *t,
                                const sq_shape *expected, const char *what,
                                int64_t *batch) {
  char want[128], got[128];
  if (!t || !t->data)
    return sq_error(SEQRT_ERR_INVALID_ARGUMENT, "%s: tensor or data is NULL",
                    what);
  /* the chain's first layer reads the model's input dtype, others float */
  bool first = expected == &chain->input ||
               (chain->n_layers > 0 && expected == &chain->layers[0].in);
  seqrt_dtype dtype = first ? chain->input_dtype : SEQRT_FLOAT32;
  if (t->dtype != dtype)
    return sq_error(SEQRT_ERR_INVALID_ARGUMENT,
                    "%s: dtype %s, the model expects %s", what,
                    t->dtype == SEQRT_INT64 ? "int64" : "float32",
                    dtype == SEQRT_INT64 ? "int64" : "float32");
  if (t->rank < 1 || t->rank > SQ_MAX_RANK) {
    sq_shape_format(expected, want, sizeof want);
    return sq_error(SEQRT_ERR_INVALID_ARGUMENT,
                    "%s has rank %d; the model expects %s (-1 = any batch)",
                    what, t->rank, want);
  }
  bool ok = t->rank == expected->rank && t->dims[0] > 0;
  for (int i = 0; ok && i < t->rank; i++)
    ok = expected->dims[i] < 0
             ? t->dims[i] > 0 && t->dims[i] % -expected->dims[i] == 0
             : t->dims[i] == expected->dims[i];
  if (!ok) {
    sq_shape_format(expected, want, sizeof want);
    format_dims(t->dims, t->rank < 0 ? 0 : t->rank, got, sizeof got);
    return sq_error(SEQRT_ERR_INVALID_ARGUMENT,
                    "%s shape %s does not match the model's %s (-1 = any "
                    "batch)",
                    what, got, want);
  }
  int64_t b = batch_of(chain, t, expected);
  if (!batch_fits(chain, b))
    return sq_error(SEQRT_ERR_LIMIT,
                    "%s batch %lld is too large: the model's activations "
                    "would not fit in memory",
                    what, (long long)b);
  *batch = b;
  return SEQRT_OK;
}

static void fill_output(const sq_shape *shape, int64_t batch,
                        seqrt_tensor *output) {
  output->dtype = SEQRT_FLOAT32;
  output->rank = shape->rank;
  for (int i = 0; i < shape->rank; i++)
    output->dims[i] = sq_dim_size(shape->dims[i], batch);
}

/* ---- batch slices -----------------------------------------------------------
 * On several threads a batch may run faster cut into slices, one per
 * thread, each through a one-thread plan, than whole through a plan that
 * shares out the work of every step: no thread waits for the others
 * between steps, and a slice's activations stay in its core's cache. It is
 * slower where the threads would each read all of the weights that the
 * whole plan splits between the cores' caches (the MNIST MLP at batch 2:
 * 63 us against 38 us). So the first whole run of a batch size on a model
 * times both ways and every later run, on any context, takes the faster.
 * Models whose weights pass SLICE_MAX_WEIGHT_BYTES do not try: each slice
 * would stream all of them from memory. */

#define MAX_SLICES 64
#define SLICE_MAX_WEIGHT_BYTES ((size_t)32 << 20)
#define SPLIT_TRIAL_ROUNDS 3 /* turns of each way */
#define SPLIT_TRIAL_RUNS 2   /* timed runs per turn, at least (time_runs) */
#define SPLIT_TURN_US 2000.0
#define SPLIT_TURN_MAX_RUNS 50
/* Slices must beat the whole plan by 2%: the whole plan is the default, and
 * a near tie is within the noise of the trial. */
#define SPLIT_MIN_GAIN 0.98
#define SPLIT_SPREAD_WAIT_US 100000.0 /* sq_wait_threads_spread */

/* The option, else SEQRT_BATCH_SPLIT=0 / =1, else the timed choice for
 * chains small enough. */
static split_mode split_mode_of(const sq_chain *chain,
                                seqrt_batch_slices option) {
  if (chain->n_layers == 0 || !sq_chain_samples_independent(chain))
    return SPLIT_NEVER;
  const char *env = getenv("SEQRT_BATCH_SPLIT");
  if (option == SEQRT_BATCH_SLICES_OFF ||
      (option == SEQRT_BATCH_SLICES_AUTO && env && strcmp(env, "0") == 0))
    return SPLIT_NEVER;
  if (option == SEQRT_BATCH_SLICES_ON ||
      (option == SEQRT_BATCH_SLICES_AUTO && env && strcmp(env, "1") == 0))
    return SPLIT_ALWAYS;
  return sq_chain_weight_bytes(chain) <= SLICE_MAX_WEIGHT_BYTES ? SPLIT_TRIAL
                                                                : SPLIT_NEVER;
}

/* How many slices a whole run may have: 1 if it runs whole. Profiled runs
 * run whole, so that their steps are the plan's. */
static int max_slices(const seqrt_context *ctx, int64_t batch, int threads) {
  if (ctx->model->split == SPLIT_NEVER || ctx->profiling || threads < 2 ||
      batch < 2)
    return 1;
  int64_t n = batch < threads ? batch : threads;
  return n < MAX_SLICES ? (int)n : MAX_SLICES;
}

typedef struct slice_set {
  int n;
  int64_t batch[MAX_SLICES]; /* slice i: batch / n, one more if i < rest */
  const sq_plan *plans[MAX_SLICES];
} slice_set;

/* The one-thread plans of `n` slices of `batch`; the lock is held. */
static seqrt_status slices_locked(const seqrt_model *model, int64_t batch,
                                  int n, slice_set *set) {
  set->n = n;
  for (int i = 0; i < n; i++) {
    set->batch[i] = batch / n + (i < batch % n);
    if (i > 0 && set->batch[i] == set->batch[i - 1]) {
      set->plans[i] = set->plans[i - 1];
      continue;
    }
    int index = 0;
    seqrt_status status = entry_locked(model, set->batch[i], false, 1, &index);
    if (status != SEQRT_OK) return status;
    set->plans[i] = model->plans->entries[index].plan;
  }
  return SEQRT_OK;
}

static seqrt_status run_slices(seqrt_context *ctx, const slice_set *set,
                               const sq_run_args *whole) {
  const sq_chain *chain = ctx->model->chain;
  size_t in_bytes = chain->input_dtype == SEQRT_INT64 ? 8 : 4;
  size_t in_sample = (size_t)sq_shape_count(&chain->layers[0].in, 1);
  size_t out_sample =
      (size_t)sq_shape_count(&chain->layers[chain->n_layers - 1].out, 1);
  sq_exec *execs[MAX_SLICES];
  sq_run_args args[MAX_SLICES];
  size_t done = 0;
  ctx->last_exec = NULL; /* never profiled */
  for (int i = 0; i < set->n; i++) {
    seqrt_status status = exec_of(ctx, set->plans[i], i, &execs[i]);
    if (status != SEQRT_OK) return status;
    args[i] = *whole;
    args[i].threads = 1;
    args[i].input = (const char *)whole->input + done * in_sample * in_bytes;
    args[i].output = whole->output + done * out_sample;
    done += (size_t)set->batch[i];
  }
  return sq_exec_run_parallel(execs, args, set->n);
}

/* A whole run on `plan`, or in slices when `set` is given. */
static seqrt_status run_as(seqrt_context *ctx, const sq_plan *plan,
                           const slice_set *set, const sq_run_args *args) {
  if (set) return run_slices(ctx, set, args);
  sq_exec *exec = NULL;
  seqrt_status status = exec_of(ctx, plan, 0, &exec);
  if (status != SEQRT_OK) return status;
  ctx->last_exec = ctx->profiling ? exec : NULL;
  return sq_exec_run(exec, args);
}

/* Lowers *best_us to the fastest of a turn's timed runs: after an untimed
 * one, which pays for the page faults of new buffers, at least
 * SPLIT_TRIAL_RUNS and more while they add up to less than SPLIT_TURN_US
 * (at most SPLIT_TURN_MAX_RUNS), so that short runs are timed often enough
 * for the fastest to be their true time. */
static seqrt_status time_runs(seqrt_context *ctx, const sq_plan *plan,
                              const slice_set *set, const sq_run_args *args,
                              double *best_us) {
  double timed_us = 0.0;
  for (int r = 0; r <= SPLIT_TRIAL_RUNS ||
                  (timed_us < SPLIT_TURN_US && r <= SPLIT_TURN_MAX_RUNS);
       r++) {
    double start = sq_now_us();
    seqrt_status status = run_as(ctx, plan, set, args);
    if (status != SEQRT_OK) return status;
    double us = sq_now_us() - start;
    if (r == 0) continue;
    timed_us += us;
    if (us < *best_us) *best_us = us;
  }
  return SEQRT_OK;
}

static void drop_slice_execs(seqrt_context *ctx, const slice_set *set) {
  for (int i = 0; i < set->n; i++) drop_execs(ctx, set->plans[i]);
}

/* Memory an exec of `plan` allocates. */
static size_t exec_bytes(const sq_plan *plan) {
  sq_plan_stats stats;
  sq_plan_get_stats(plan, &stats);
  return 2 * stats.activation_bytes + stats.scratchpad_bytes + stats.view_bytes;
}

/* What running in slices would cost beyond running whole: weights the
 * slices' plans added to the cache since it held `weights_before` bytes
 * (another layout), and their execs' memory past the whole exec's (a
 * one-thread Winograd convolution's scratchpad is sized for its slice:
 * CIFAR VGG at batch 32, 2 x 12.6 MB against 18.5 MB). Within 1/64 of the
 * whole exec and 64 KiB (a scratchpad's few KiB) counts as the same. */
static size_t slices_extra_bytes(const seqrt_model *model, const sq_plan *whole,
                                 const slice_set *set, size_t weights_before) {
  size_t extra = sq_weight_cache_bytes(model->plans->weights) - weights_before;
  size_t sliced = 0, limit = exec_bytes(whole);
  for (int i = 0; i < set->n; i++) sliced += exec_bytes(set->plans[i]);
  limit += limit / 64 + ((size_t)64 << 10);
  return extra + (sliced > limit ? sliced - limit : 0);
}

/* Frees the plans made since the cache held `first_new` entries, and the
 * weights they added (since `mark`); the lock is held and no exec of them
 * exists. */
static void forget_plans(const seqrt_model *model, int first_new, int mark) {
  plan_cache *cache = model->plans;
  for (int i = first_new; i < cache->count; i++)
    sq_plan_free(cache->entries[i].plan);
  cache->count = first_new;
  sq_weight_cache_rollback(cache->weights, mark);
}

/* Times whole runs of entry `index` against runs in `set`'s slices on the
 * caller's input (every run computes the output). The two ways take turns,
 * in case the machine is slower for a while (a new process's threads may
 * share a core at first), and only one way's buffers exist at a time. */
static seqrt_status time_both_ways(seqrt_context *ctx, plan_entry *entry,
                                   const slice_set *set,
                                   const sq_run_args *args) {
  sq_wait_threads_spread(entry->threads, SPLIT_SPREAD_WAIT_US);
  double whole_us = 1e300, sliced_us = 1e300;
  seqrt_status status = SEQRT_OK;
  for (int round = 0; round < SPLIT_TRIAL_ROUNDS && status == SEQRT_OK;
       round++) {
    status = time_runs(ctx, entry->plan, NULL, args, &whole_us);
    drop_execs(ctx, entry->plan);
    if (status == SEQRT_OK)
      status = time_runs(ctx, NULL, set, args, &sliced_us);
    if (status != SEQRT_OK || round + 1 < SPLIT_TRIAL_ROUNDS ||
        sliced_us >= SPLIT_MIN_GAIN * whole_us)
      drop_slice_execs(ctx, set);
  }
  if (status != SEQRT_OK) return status;
  entry->slices = sliced_us < SPLIT_MIN_GAIN * whole_us ? set->n : 1;
  if (ctx->model->print_plans)
    fprintf(stderr,
            "batch %lld on %d threads: %s (timed: whole %.1f us, in %d "
            "slices %.1f us)\n",
            (long long)entry->batch, entry->threads,
            entry->slices > 1 ? "in slices" : "whole", whole_us, set->n,
            sliced_us);
  return SEQRT_OK;
}

/* Decides how whole runs of entry `index` go, running the caller's input.
 * Slices are tried only where they cost no memory: otherwise their new
 * plans and weights are freed again. The lock is held, so no other run
 * shares the cores meanwhile. */
static seqrt_status split_decision(seqrt_context *ctx, int index, int n,
                                   const sq_run_args *args) {
  const seqrt_model *model = ctx->model;
  plan_cache *cache = model->plans;
  int first_new = cache->count;
  int mark = sq_weight_cache_mark(cache->weights);
  size_t weights_before = sq_weight_cache_bytes(cache->weights);
  slice_set set;
  seqrt_status status =
      slices_locked(model, cache->entries[index].batch, n, &set);
  plan_entry *entry = &cache->entries[index]; /* after any realloc */
  if (status != SEQRT_OK) {
    forget_plans(model, first_new, mark);
    return status;
  }
  if (model->split == SPLIT_ALWAYS) {
    entry->slices = n;
    if (model->print_plans)
      fprintf(stderr, "batch %lld on %d threads: in %d slices (always)\n",
              (long long)entry->batch, entry->threads, n);
    return run_slices(ctx, &set, args);
  }
  size_t extra = slices_extra_bytes(model, entry->plan, &set, weights_before);
  if (extra == 0) return time_both_ways(ctx, entry, &set, args);
  forget_plans(model, first_new, mark);
  entry->slices = 1;
  if (model->print_plans)
    fprintf(stderr,
            "batch %lld on %d threads: whole (%d slices would take %zu more "
            "bytes)\n",
            (long long)entry->batch, entry->threads, n, extra);
  return run_as(ctx, entry->plan, NULL, args);
}

/* seqrt_run's way: the whole chain, whole or in slices. */
static seqrt_status run_chain(seqrt_context *ctx, int64_t batch,
                              const sq_run_args *args) {
  const seqrt_model *model = ctx->model;
  int threads = seqrt_context_threads(ctx);
  int n = max_slices(ctx, batch, threads);
  slice_set set;
  int index = 0;
  pthread_mutex_lock(&model->plans->lock);
  seqrt_status status = entry_locked(model, batch, false, threads, &index);
  int slices =
      status == SEQRT_OK && n > 1 ? model->plans->entries[index].slices : 1;
  if (slices == 0) {
    status = split_decision(ctx, index, n, args);
    pthread_mutex_unlock(&model->plans->lock);
    return status;
  }
  if (slices > 1) status = slices_locked(model, batch, slices, &set);
  const sq_plan *plan =
      status == SEQRT_OK ? model->plans->entries[index].plan : NULL;
  pthread_mutex_unlock(&model->plans->lock);
  if (status != SEQRT_OK) return status;
  return run_as(ctx, plan, slices > 1 ? &set : NULL, args);
}

static seqrt_status run_range(seqrt_context *ctx, int first, int last,
                              const seqrt_tensor *input, seqrt_tensor *output,
                              bool observable, seqrt_layer_callback callback,
                              void *user) {
  const sq_chain *chain = ctx->model->chain;
  const sq_shape *in_shape =
      chain->n_layers ? &chain->layers[first].in : &chain->input;
  const sq_shape *out_shape =
      chain->n_layers ? &chain->layers[last].out : &chain->output;
  int64_t batch = 0;
  seqrt_status status = check_input(chain, input, in_shape, "input", &batch);
  if (status != SEQRT_OK) return status;
  if (!output || !output->data)
    return sq_error(SEQRT_ERR_INVALID_ARGUMENT, "output or its data is NULL");
  fill_output(out_shape, batch, output);
  if (chain->n_layers == 0) { /* every layer was removed: identity */
    memcpy(output->data, input->data,
           (size_t)sq_shape_count(out_shape, batch) * sizeof(float));
    return SEQRT_OK;
  }
  sq_run_args args = {.first = first,
                      .last = last,
                      .input = input->data,
                      .output = output->data,
                      .threads = ctx->threads,
                      .callback = callback,
                      .user = user,
                      .profile = ctx->profiling};
  if (!observable) return run_chain(ctx, batch, &args);
  const sq_plan *plan = NULL;
  status = find_or_create_plan(ctx->model, batch, true,
                               seqrt_context_threads(ctx), &plan);
  if (status != SEQRT_OK) return status;
  return run_as(ctx, plan, NULL, &args);
}

seqrt_status seqrt_run(seqrt_context *ctx, const seqrt_tensor *input,
                       seqrt_tensor *output) {
  if (!ctx) return sq_error(SEQRT_ERR_INVALID_ARGUMENT, "context is NULL");
  sq_error_clear();
  int last = ctx->model->chain->n_layers - 1;
  return run_range(ctx, 0, last < 0 ? 0 : last, input, output, false, NULL,
                   NULL);
}

seqrt_status seqrt_run_layers(seqrt_context *ctx, int first, int last,
                              const seqrt_tensor *input, seqrt_tensor *output,
                              seqrt_layer_callback callback, void *user) {
  if (!ctx) return sq_error(SEQRT_ERR_INVALID_ARGUMENT, "context is NULL");
  sq_error_clear();
  int n = ctx->model->chain->n_layers;
  if (first < 0 || last >= n || first > last)
    return sq_error(SEQRT_ERR_INVALID_ARGUMENT,
                    "layer range %d..%d is not within 0..%d", first, last,
                    n - 1);
  return run_range(ctx, first, last, input, output, true, callback, user);
}
