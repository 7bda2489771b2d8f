/**
 * \file seqrt.h
 * \brief seqrt.h - run PyTorch nn.Sequential ONNX exports on the CPU with
 * oneDNN.
 *
 * Usage in four calls:
 *
 * \code
 *   seqrt_model *model;
 *   if (seqrt_model_load_file("model.onnx", NULL, &model) != SEQRT_OK)
 *     fprintf(stderr, "%s\n", seqrt_last_error());
 *   seqrt_context *ctx;
 *   seqrt_context_create(model, &ctx);
 *   seqrt_run(ctx, &input, &output);
 *   seqrt_context_free(ctx);
 *   seqrt_model_free(model);
 * \endcode
 *
 * Conventions
 * - Every fallible function returns a seqrt_status. On failure a one-line
 *   message naming the file, node, tensor or layer and the reason is kept
 *   for the calling thread; seqrt_last_error() returns it.
 * - A seqrt_model is immutable once loaded: any number of threads may use
 *   it at once, each through its own seqrt_context.
 * - A seqrt_context holds per-run state (activation buffers, scratchpad).
 *   One thread at a time may use a given context.
 * - Tensors cross the API in plain row-major (C order, NCHW-style) layout.
 *   The caller owns every tensor buffer it passes in.
 */
#ifndef SEQRT_H
#define SEQRT_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/** Major version; the CMake project version must agree (checked at
 * configure time). */
#define SEQRT_VERSION_MAJOR 0
/** Minor version. */
#define SEQRT_VERSION_MINOR 1
/** Patch version. */
#define SEQRT_VERSION_PATCH 0
/** The version as a string, "MAJOR.MINOR.PATCH". */
#define SEQRT_VERSION_STRING "0.1.0"

/** Marks a function of the public API: the only symbols the shared library
 * exports (everything else is built with hidden visibility). Define it
 * before including this header to override. */
#ifndef SEQRT_API
#if defined(__GNUC__) || defined(__clang__)
#define SEQRT_API __attribute__((visibility("default")))
#else
#define SEQRT_API
#endif
#endif

/** Marks a public function as deprecated; `msg` names the replacement.
 * Usage: `SEQRT_API SEQRT_DEPRECATED("use seqrt_x") void seqrt_y(void);` */
#ifndef SEQRT_DEPRECATED
#if defined(__GNUC__) || defined(__clang__)
#define SEQRT_DEPRECATED(msg) __attribute__((deprecated(msg)))
#elif defined(_MSC_VER)
#define SEQRT_DEPRECATED(msg) __declspec(deprecated(msg))
#else
#define SEQRT_DEPRECATED(msg)
#endif
#endif

/** Largest tensor rank seqrt handles. */
#define SEQRT_MAX_RANK 8

/** The result of every fallible call. */
typedef enum seqrt_status {
  SEQRT_OK = 0,               /**< success */
  SEQRT_ERR_INVALID_ARGUMENT, /**< a NULL handle, a bad index, a wrong shape */
  SEQRT_ERR_IO,               /**< a file could not be opened or read */
  SEQRT_ERR_PARSE,            /**< the bytes are not a valid ONNX protobuf */
  SEQRT_ERR_INVALID_MODEL,    /**< well-formed protobuf, inconsistent graph */
  SEQRT_ERR_UNSUPPORTED,      /**< an op, attribute or opset seqrt cannot run */
  SEQRT_ERR_NOT_CHAIN,        /**< branches, several inputs or outputs */
  SEQRT_ERR_LIMIT,            /**< a size exceeds a configured limit */
  SEQRT_ERR_NOMEM,            /**< an allocation failed */
  SEQRT_ERR_BACKEND           /**< oneDNN refused or failed */
} seqrt_status;

/** Element types of tensors. */
typedef enum seqrt_dtype {
  SEQRT_FLOAT32 = 1, /**< ONNX TensorProto.FLOAT */
  SEQRT_INT64 = 7    /**< ONNX TensorProto.INT64 (embedding indices) */
} seqrt_dtype;

/** A tensor view. dims[0] is the batch. data is not owned by the view. */
typedef struct seqrt_tensor {
  seqrt_dtype dtype;            /**< element type */
  int rank;                     /**< number of dimensions */
  int64_t dims[SEQRT_MAX_RANK]; /**< the first `rank` entries are used */
  void *data;                   /**< row-major elements */
} seqrt_tensor;

/** A shape as declared by the model. With a dynamic batch axis dims[0] is
 * negative: -1 is the batch; -K (K > 1) is the batch times K, in layers
 * after one that merged the batch with the dims after it (Flatten(0)).
 * Other dims are fixed. */
typedef struct seqrt_shape {
  int rank;                     /**< number of dimensions */
  int64_t dims[SEQRT_MAX_RANK]; /**< the first `rank` entries are used */
} seqrt_shape;

/** An imported model (opaque). */
typedef struct seqrt_model seqrt_model;
/** Per-run state of one model for one thread at a time (opaque). */
typedef struct seqrt_context seqrt_context;
/** Load options (opaque). */
typedef struct seqrt_options seqrt_options;

/* ---- version and errors ---------------------------------------------- */

/** The library's version string, e.g. "0.1.0". Static storage. */
SEQRT_API const char *seqrt_version(void);

/** The message of the last failed call on this thread ("" if none). Valid
 * until the next seqrt call on this thread; never NULL. Thread-safe. */
SEQRT_API const char *seqrt_last_error(void);

/** A short constant name for a status, e.g. "not a chain". */
SEQRT_API const char *seqrt_status_string(seqrt_status status);

/* ---- options ----------------------------------------------------------- */

/** Load options. Created with defaults; grows without breaking the ABI.
 * The caller owns the object and frees it with seqrt_options_free. */
SEQRT_API seqrt_status seqrt_options_create(seqrt_options **out);
/** Free options created by seqrt_options_create (NULL is ignored). */
SEQRT_API void seqrt_options_free(seqrt_options *options);

/** Refuse a model whose weights and plans would need more than `bytes` of
 * memory (0: the default, a multiple of the model's size). */
SEQRT_API seqrt_status seqrt_options_set_memory_limit(seqrt_options *options,
                                                      uint64_t bytes);

/** Trade memory for speed in convolutions: `enable` nonzero runs every 3x3,
 * stride-1 convolution with 32 or more channels in and out as oneDNN's
 * Winograd convolution, whatever its kernel size and scratchpad, where it
 * is faster (on several threads only with enough work per run; not on maps
 * that fill its output tiles badly). By default seqrt uses it only where it
 * costs little memory: kernels under 1 MiB and a scratchpad of at most 8 MiB
 * (plus 2 MiB for each thread beyond the first, for its own tile buffers).
 * Its weights take 1.8-4x the plain bytes and are held next to them, and
 * its scratchpad holds a transformed copy of the feature maps: VGG-11 at
 * batch 1 runs ~1.7x faster with 150 MB more peak memory (README,
 * "Performance"). Results differ from the direct convolution's at the 1e-6
 * relative level. Applies to models loaded with these options. */
SEQRT_API seqrt_status seqrt_options_set_winograd(seqrt_options *options,
                                                  int enable);

/** How a batch may run on several threads (seqrt_options_set_batch_slices).
 */
typedef enum seqrt_batch_slices {
  /** The default: the first run of a batch size times the batch run whole
   * against one slice per thread, where the slices take no more memory,
   * and keeps the faster way (seqrt_run). */
  SEQRT_BATCH_SLICES_AUTO = 0,
  /** Always whole, on one plan. */
  SEQRT_BATCH_SLICES_OFF = 1,
  /** Always in slices where the chain allows, without timing or memory
   * checks: faster on most small models, but may take more memory. */
  SEQRT_BATCH_SLICES_ON = 2
} seqrt_batch_slices;

/** Choose how batches of models loaded with these options run on several
 * threads. A sliced run and a whole run of the same batch differ in the
 * last bits (their plans pick other kernels: ~1e-6 relative on a VGG-style
 * CNN), and with SEQRT_BATCH_SLICES_AUTO the timed choice may go either way
 * from one process to the next. With OFF or ON, a model on a fixed thread
 * count gives the same bits in every process. The environment variable
 * SEQRT_BATCH_SPLIT=0 / =1 acts as OFF / ON when this is AUTO. An unknown
 * mode is SEQRT_ERR_INVALID_ARGUMENT. */
SEQRT_API seqrt_status seqrt_options_set_batch_slices(seqrt_options *options,
                                                      seqrt_batch_slices mode);

/** Supply the bytes of an external data file. A tensor whose external data
 * `location` is exactly `location` then reads its bytes from `data` (its
 * offset and length apply within `size`) instead of from the model's
 * folder; this is how a model loaded from memory can have external data.
 * `location` obeys the same rules as in a model: relative, without "..".
 * The location string is copied; `data` is not: it must stay valid and
 * unchanged until the last load with these options returns. Supplying a
 * location again replaces its data. */
SEQRT_API seqrt_status seqrt_options_set_external_data(seqrt_options *options,
                                                       const char *location,
                                                       const void *data,
                                                       size_t size);

/* ---- models ------------------------------------------------------------ */

/** Load and import an ONNX file. External data files are looked up among
 * those `options` supplies, then in the model's folder (confined to it:
 * SECURITY.md). `options` may be NULL. On success *out is owned by the
 * caller (seqrt_model_free). The file is mapped (read where it cannot be)
 * and its weights are copied into the model during the call: it may change
 * or go away after the call, but must not be truncated during it (reading
 * a page cut off a mapped file is a SIGBUS). Thread-safe. */
SEQRT_API seqrt_status seqrt_model_load_file(const char *path,
                                             const seqrt_options *options,
                                             seqrt_model **out);

/** Load from memory. The buffer is only read during the call. A model loaded
 * from memory has no folder, so external data references are rejected
 * unless `options` supplies them (seqrt_options_set_external_data). */
SEQRT_API seqrt_status seqrt_model_load_buffer(const void *data, size_t size,
                                               const seqrt_options *options,
                                               seqrt_model **out);

/** Free a model and its plans. No context of the model may be in use. */
SEQRT_API void seqrt_model_free(seqrt_model *model);

/** The input's declared shape and dtype (dims[0] == -1 for a dynamic batch).
 */
SEQRT_API seqrt_status seqrt_model_input(const seqrt_model *model,
                                         seqrt_shape *shape,
                                         seqrt_dtype *dtype);

/** The output shape for a given batch size (batch > 0). */
SEQRT_API seqrt_status seqrt_model_output_shape(const seqrt_model *model,
                                                int64_t batch,
                                                seqrt_shape *shape);

/* ---- layers -------------------------------------------------------------- */

/** One layer of the chain, as described by seqrt_model_layer. */
typedef struct seqrt_layer_info {
  const char *name;   /**< module path, e.g. "features.0" or "fc1" */
  const char *kind;   /**< e.g. "Conv", "Linear", "ReLU" */
  const char *nodes;  /**< the ONNX nodes it covers, comma separated */
  const char *folded; /**< module names folded into it ("" if none), e.g.
                         the BatchNorm folded into a Conv */
  seqrt_shape input;  /**< dims[0] < 0 for a dynamic batch (seqrt_shape) */
  seqrt_shape output; /**< dims[0] < 0 for a dynamic batch (seqrt_shape) */
  int64_t parameters; /**< learned values (weights, biases, slopes) */
} seqrt_layer_info;

/** Number of layers in the chain. */
SEQRT_API int seqrt_model_layer_count(const seqrt_model *model);

/** Describe layer `index` (0-based). The strings live as long as the model.
 */
SEQRT_API seqrt_status seqrt_model_layer(const seqrt_model *model, int index,
                                         seqrt_layer_info *info);

/** Index of the layer named `name` (module path or folded module name), or
 * -1 if there is none. */
SEQRT_API int seqrt_model_find_layer(const seqrt_model *model,
                                     const char *name);

/** Names of the modules the exporter removed (Dropout, Identity), comma
 * separated ("" if none). Lives as long as the model. */
SEQRT_API const char *seqrt_model_removed_layers(const seqrt_model *model);

/* ---- running ------------------------------------------------------------- */

/** Create a run context. The model must outlive the context. One thread at a
 * time per context; create one per worker thread. */
SEQRT_API seqrt_status seqrt_context_create(const seqrt_model *model,
                                            seqrt_context **out);
/** Free a context (NULL is ignored). */
SEQRT_API void seqrt_context_free(seqrt_context *ctx);

/** Number of threads oneDNN uses for runs on this context (0: the OpenMP
 * default). */
SEQRT_API seqrt_status seqrt_context_set_threads(seqrt_context *ctx,
                                                 int threads);

/** The number of threads the context's next run uses: the count set with
 * seqrt_context_set_threads, or when that is 0 the OpenMP default on the
 * calling thread (OMP_NUM_THREADS, else the CPUs available). 0 for a NULL
 * context. Like every call on a context, one thread at a time. */
SEQRT_API int seqrt_context_threads(const seqrt_context *ctx);

/** Run the whole chain. `input` must match the model's input shape (any
 * batch for a dynamic model). `output->data` must hold the output shape's
 * elements of float; seqrt fills output->rank and output->dims. The first
 * run with a new batch size builds that batch's plan (primitives, reordered
 * weights); later runs reuse it. On several threads, the first run of a
 * batch of 2 or more on a model may also time, over a few runs, the batch
 * run whole against the batch cut into one slice per thread (each slice on
 * a one-thread plan), where the slices take no more memory, and every
 * later run of that batch size and thread count, on any context of the
 * model, goes the faster way (README, "Batch slices";
 * seqrt_options_set_batch_slices). Other runs on the model wait meanwhile. */
SEQRT_API seqrt_status seqrt_run(seqrt_context *ctx, const seqrt_tensor *input,
                                 seqrt_tensor *output);

/** Called after each layer during seqrt_run_layers. `view` is a read-only
 * plain-layout view valid only during the call. Return nonzero to stop. */
typedef int (*seqrt_layer_callback)(void *user, int index, const char *name,
                                    const seqrt_tensor *view);

/** Run layers first..last (inclusive). `input` is the input of layer
 * `first` (its shape is seqrt_layer_info.input with a batch); `output`
 * receives the output of layer `last`. If `callback` is not NULL it
 * observes each layer's output; such runs use an unfused plan so every
 * layer's own output is visible. seqrt_run pays nothing for this. */
SEQRT_API seqrt_status seqrt_run_layers(seqrt_context *ctx, int first, int last,
                                        const seqrt_tensor *input,
                                        seqrt_tensor *output,
                                        seqrt_layer_callback callback,
                                        void *user);

/* ---- profiling ----------------------------------------------------------- */

/** One step of a run's plan: the oneDNN primitive that computes layers
 * first_layer..last_layer (a layer and what is fused into it, e.g. a Conv
 * with its ReLU), and the time the context's runs spent in it. */
typedef struct seqrt_step_profile {
  int first_layer;     /**< the first layer it computes (seqrt_model_layer) */
  int last_layer;      /**< the last one (inclusive) */
  const char *impl;    /**< oneDNN implementation, e.g. "brgconv:avx512_core";
                          "view" for a step that only moves or reshapes data */
  int threads;         /**< OpenMP threads the step runs on */
  double flop;         /**< arithmetic per run: 2 per multiply-add of a
                          convolution or linear layer, a window's elements per
                          pooled output, 1 per output element otherwise */
  double weight_bytes; /**< the layers' parameters, 4 bytes each: what a
                          run reads of weights (more in a Winograd layout) */
  int64_t runs;        /**< runs timed since profiling was switched on */
  double total_us;     /**< wall time summed over those runs, including the
                          reorder into the step's layout when it has one */
} seqrt_step_profile;

/** Time every step of this context's runs (enable nonzero), or stop (0).
 * Off by default; on, a run reads the clock twice per step, and runs its
 * batch whole on one plan, never in slices. Switching it on clears the
 * times collected so far. */
SEQRT_API seqrt_status seqrt_context_set_profiling(seqrt_context *ctx,
                                                   int enable);

/** The steps of the plan that this context's last run used (its batch
 * size; an observing seqrt_run_layers uses an unfused plan), in order, with
 * their times since profiling was switched on. `*steps` and its strings
 * belong to the context and stay valid until it is freed; later profiled
 * runs of the same plan add to its times in place. Fails if the last run
 * was not profiled. */
SEQRT_API seqrt_status seqrt_context_profile(seqrt_context *ctx,
                                             const seqrt_step_profile **steps,
                                             int *count);

#ifdef __cplusplus
}
#endif

#endif /* SEQRT_H */
