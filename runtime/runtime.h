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

seqrt_status sq_plan_create(const sq_chain *chain, int64_t batch,
                            bool observable, sq_plan **out);
void sq_plan_free(sq_plan *plan);

/* What a plan holds and what each of its execs will allocate. */
typedef struct sq_plan_stats {
  int steps;                  /* primitives run by a whole-chain run */
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
  int first, last;     /* layer range, inclusive; 0..n-1 for a whole run */
  const void *input;   /* plain layout, shape of layers[first].in */
  float *output;       /* plain layout, shape of layers[last].out */
  int threads;         /* 0: OpenMP default */
  seqrt_layer_callback callback; /* observable plans only; may be NULL */
  void *user;
} sq_run_args;

/* Run. A fused plan only accepts first == 0 and last == n_layers - 1. */
seqrt_status sq_exec_run(sq_exec *exec, const sq_run_args *args);

#endif
