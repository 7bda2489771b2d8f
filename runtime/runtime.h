/* chain → oneDNN execution. The only part of seqrt that sees oneDNN. */
#ifndef SEQRT_RUNTIME_H
#define SEQRT_RUNTIME_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "../core/chain.h"

/* A plan: the chain compiled for one batch size. Holds the oneDNN
 * primitives and reordered weights; immutable after creation and shared by
 * every thread running the model. A fused plan merges layers (eltwise
 * post-ops); an observable plan has exactly one step per layer so that
 * every layer's output can be seen and any layer range can run. */
typedef struct sq_plan sq_plan;

/* Reordered weights shared by every plan of one chain, keyed by source
 * array and memory descriptor: plans for several batch sizes (and the
 * observable plan) hold one copy of each layout, not one copy each. Not
 * thread-safe: plan creation against one cache must be serialised (the API
 * does it under the model's plan lock). Free it after all its plans.
 *
 * take_sources: the cache may give back the pages of a big Linear or Conv
 * weight array of the chain once it holds a reordered copy (later layouts
 * are made from that copy), so a model does not keep its weights twice.
 * The chain's array then reads as zeros: only for a chain nothing else
 * reads values from (the API's models), and unless a plan reads that
 * array in place. */
typedef struct sq_weight_cache sq_weight_cache;

seqrt_status sq_weight_cache_create(bool take_sources, sq_weight_cache **out);
void sq_weight_cache_free(sq_weight_cache *cache);
/* Bytes of reordered weights the cache holds. */
size_t sq_weight_cache_bytes(const sq_weight_cache *cache);
/* Undoing plans: sq_weight_cache_mark before building them; after freeing
 * them (and every other plan made since), sq_weight_cache_rollback frees
 * the copies made since the mark, newest first, but stops at the only copy
 * of an array whose pages were given back. */
int sq_weight_cache_mark(const sq_weight_cache *cache);
void sq_weight_cache_rollback(sq_weight_cache *cache, int mark);

/* How a plan is built. */
typedef struct sq_plan_options {
  bool observable; /* one step per layer, every output visible */
  /* The most OpenMP threads a run may use; 0: omp_get_max_threads() of the
   * calling thread. oneDNN sizes each primitive for the thread count at its
   * creation, so a plan is built for, and runs with at most, this many. */
  int threads;
  sq_weight_cache *cache; /* NULL: the plan owns its reordered weights */
  /* Winograd for every convolution it applies to, not only where it costs
   * little memory (seqrt_options_set_winograd). */
  bool winograd;
} sq_plan_options;

seqrt_status sq_plan_create_with(const sq_chain *chain, int64_t batch,
                                 const sq_plan_options *options, sq_plan **out);
/* sq_plan_create_with with the default threads and no cache. */
seqrt_status sq_plan_create(const sq_chain *chain, int64_t batch,
                            bool observable, sq_plan **out);
void sq_plan_free(sq_plan *plan);
/* The thread count the plan was built for (after resolving 0). */
int sq_plan_threads(const sq_plan *plan);
/* What threads = 0 means on the calling thread: omp_get_max_threads(). */
int sq_default_threads(void);

/* What a plan holds and what each of its execs will allocate. */
typedef struct sq_plan_stats {
  int steps;                  /* primitives run by a whole-chain run */
  int parallel_steps;         /* steps that run with more than one thread */
  size_t activation_bytes;    /* each of an exec's two ping-pong buffers */
  size_t view_bytes;          /* an exec's plain view buffer (observable) */
  size_t scratchpad_bytes;    /* an exec's scratchpad */
  size_t owned_weight_bytes;  /* weights reordered into plan-owned buffers */
  size_t shared_weight_bytes; /* weights read in place from the chain */
} sq_plan_stats;

void sq_plan_get_stats(const sq_plan *plan, sq_plan_stats *stats);

/* One line per step: layers covered, oneDNN implementation, src/dst/weights
 * layouts (format-tag style, e.g. "aBcd16b" for nChw16c). For debugging. */
void sq_plan_print(const sq_plan *plan, FILE *f);

/* Per-context execution state bound to one plan: activation ping-pong
 * buffers, user-mode scratchpad, oneDNN memory objects and stream. One
 * thread at a time. */
typedef struct sq_exec sq_exec;

seqrt_status sq_exec_create(const sq_plan *plan, sq_exec **out);
void sq_exec_free(sq_exec *exec);

typedef struct sq_run_args {
  int first, last;   /* layer range, inclusive; 0..n-1 for a whole run */
  const void *input; /* plain layout, shape of layers[first].in */
  float *output;     /* plain layout, shape of layers[last].out */
  int threads;       /* at most this many (0: the plan's count) */
  seqrt_layer_callback callback; /* observable plans only; may be NULL */
  void *user;
  bool profile; /* time each step (sq_exec_profile) */
} sq_run_args;

/* Run. A fused plan only accepts first == 0 and last == n_layers - 1. */
seqrt_status sq_exec_run(sq_exec *exec, const sq_run_args *args);

/* Runs execs[i] with args[i] for every i < n at once, each on its own
 * OpenMP thread (in turn on the caller's when it is already inside a
 * parallel region): one-thread plans over slices of one batch. The first
 * failure's message is kept. */
seqrt_status sq_exec_run_parallel(sq_exec *const *execs,
                                  const sq_run_args *args, int n);

/* CLOCK_MONOTONIC in microseconds. */
double sq_now_us(void);

/* Waits, at most max_us, until a team of `threads` OpenMP threads runs on
 * as many CPUs; false if it does not (or cannot: fewer CPUs allowed, or more
 * than SQ_MAX_SPREAD_CHECK threads). A new process's worker threads may
 * share the main thread's CPU for its first 14-22 ms, until the scheduler
 * moves them (2-CPU VM: a 2-thread region twice as slow meanwhile), so
 * timings taken before then mean little. */
#define SQ_MAX_SPREAD_CHECK 256
bool sq_wait_threads_spread(int threads, double max_us);

/* The steps' times of the profiled runs since the last clear; fails if
 * there was none. The array lives until the next run, clear or free. */
seqrt_status sq_exec_profile(const sq_exec *exec,
                             const seqrt_step_profile **steps, int *count);
void sq_exec_profile_clear(sq_exec *exec);
/* True once a profiled run made its profile (sq_exec_profile's array). */
bool sq_exec_profiled(const sq_exec *exec);

#endif
