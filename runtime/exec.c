/* Per-context execution: buffers, stream and memory objects are made once
 * in sq_exec_create; sq_exec_run only points the user's tensors in and runs
 * the plan's primitives. */
#define _GNU_SOURCE /* sched_getcpu */
#include <omp.h>
#include <oneapi/dnnl/dnnl_debug.h>
#include <sched.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>

#include "internal.h"

/* The exec's memory objects for one step, bound to its buffers. */
typedef struct exec_step {
  dnnl_memory_t src;      /* step src_md on the src buffer */
  dnnl_memory_t main_src; /* main's src_md on the src buffer */
  dnnl_memory_t main_dst; /* main's dst_md on the dst buffer */
  dnnl_memory_t dst;      /* step dst_md on the dst buffer */
  dnnl_memory_t user_in;  /* user_in_md on the caller's input (set per run) */
  dnnl_memory_t user_out; /* user_out_md on the caller's output (per run) */
  dnnl_memory_t view;     /* user_out_md on the view buffer */
  dnnl_memory_t scratch_main, scratch_in, scratch_user, scratch_out;
  sq_ops_exec *ops;     /* a step of several ops: their memory objects */
  sq_bands_exec *bands; /* a band step's */
} exec_step;

struct sq_exec {
  const sq_plan *plan;
  dnnl_stream_t stream;
  void *buf[2];
  void *view;
  void *scratch;
  void *arena; /* one mapping holding buf, view and scratch */
  size_t arena_bytes;
  exec_step *steps;
  seqrt_step_profile *profile; /* per step; made by the first profiled run */
  char *profile_impl;          /* the profile's impl strings */
};

seqrt_status sq_exec_error(const char *what, dnnl_status_t st) {
  return sq_error(SEQRT_ERR_BACKEND, "oneDNN %s failed: %s", what,
                  dnnl_status2str(st));
}

seqrt_status sq_memory_on(const sq_plan *plan, const dnnl_memory_desc_t *md,
                          void *data, dnnl_memory_t *out) {
  *out = NULL;
  if (md->ndims == 0) return SEQRT_OK;
  dnnl_status_t st = dnnl_memory_create(out, md, plan->engine, data);
  return st == dnnl_success ? SEQRT_OK : sq_exec_error("memory creation", st);
}

static seqrt_status scratch_on(sq_exec *exec, const sq_prim *p,
                               dnnl_memory_t *out) {
  *out = NULL;
  if (!p->prim || p->scratch_md.ndims == 0 ||
      dnnl_memory_desc_get_size(&p->scratch_md) == 0)
    return SEQRT_OK;
  return sq_memory_on(exec->plan, &p->scratch_md, exec->scratch, out);
}

static seqrt_status bind_step(sq_exec *exec, int index) {
  const sq_plan *plan = exec->plan;
  const sq_step *s = &plan->steps[index];
  exec_step *m = &exec->steps[index];
  void *src = exec->buf[s->src_buf], *dst = exec->buf[s->dst_buf];
  seqrt_status st = sq_memory_on(plan, &s->src_md, src, &m->src);
  if (st == SEQRT_OK)
    st = sq_memory_on(plan, &s->main.src_md, src, &m->main_src);
  if (st == SEQRT_OK)
    st = sq_memory_on(plan, &s->main.dst_md, dst, &m->main_dst);
  if (st == SEQRT_OK) st = sq_memory_on(plan, &s->dst_md, dst, &m->dst);
  if (st == SEQRT_OK)
    st = sq_memory_on(plan, &s->user_in_md, NULL, &m->user_in);
  if (st == SEQRT_OK)
    st = sq_memory_on(plan, &s->user_out_md, NULL, &m->user_out);
  if (st == SEQRT_OK && exec->view && s->out_reorder.prim)
    st = sq_memory_on(plan, &s->user_out_md, exec->view, &m->view);
  if (st == SEQRT_OK) st = scratch_on(exec, &s->main, &m->scratch_main);
  if (st == SEQRT_OK) st = scratch_on(exec, &s->in_reorder, &m->scratch_in);
  if (st == SEQRT_OK) st = scratch_on(exec, &s->user_reorder, &m->scratch_user);
  if (st == SEQRT_OK) st = scratch_on(exec, &s->out_reorder, &m->scratch_out);
  if (st == SEQRT_OK && s->ops) {
    void *const where[3] = {src, dst, exec->buf[1 - s->dst_buf]};
    st = sq_ops_bind(plan, s->ops, exec->scratch, where, &m->ops);
  }
  if (st == SEQRT_OK && s->bands)
    st = sq_bands_bind(plan, s->bands, exec->scratch, &m->bands);
  return st;
}

static void unbind_step(exec_step *m) {
  dnnl_memory_t all[] = {m->src,          m->main_src,     m->main_dst,
                         m->dst,          m->user_in,      m->user_out,
                         m->view,         m->scratch_main, m->scratch_in,
                         m->scratch_user, m->scratch_out};
  for (size_t i = 0; i < sizeof all / sizeof *all; i++)
    dnnl_memory_destroy(all[i]);
  sq_ops_unbind(m->ops);
  sq_bands_unbind(m->bands);
}

static size_t round_up_64(size_t bytes) {
  return bytes ? (bytes + 63) / 64 * 64 : 64;
}

/* The exec's buffers are carved from one anonymous mapping, unmapped when
 * the exec is freed, so that freeing an exec gives its memory back at once:
 * from malloc, after a first big block was freed glibc would serve the next
 * ones from its heap and keep them (it raises its mmap threshold), and the
 * batch-slice trial (api/seqrt.c), which frees one way's execs before it
 * makes the other's, took CIFAR VGG at batch 32 from 31 to 64 MB of peak
 * RSS. */
static seqrt_status alloc_buffers(sq_exec *exec) {
  const sq_plan *plan = exec->plan;
  size_t act = round_up_64(plan->activation_bytes);
  size_t scratch = round_up_64(plan->scratchpad_bytes);
  size_t view = plan->view_bytes ? round_up_64(plan->view_bytes) : 0;
  size_t total = 0;
  bool overflow = __builtin_add_overflow(act, act, &total) ||
                  __builtin_add_overflow(total, scratch, &total) ||
                  __builtin_add_overflow(total, view, &total);
  exec->steps = calloc((size_t)plan->n_steps, sizeof *exec->steps);
  void *arena = overflow ? MAP_FAILED
                         : mmap(NULL, total, PROT_READ | PROT_WRITE,
                                MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (arena != MAP_FAILED) { /* sq_exec_free unmaps it, also on failure */
    exec->arena = arena;
    exec->arena_bytes = total;
  }
  if (!exec->steps || arena == MAP_FAILED)
    return sq_error(SEQRT_ERR_NOMEM,
                    "out of memory for run buffers (2 x %zu activation bytes, "
                    "%zu scratchpad bytes)",
                    plan->activation_bytes, plan->scratchpad_bytes);
  if (total >= SQ_HUGE_PAGE && sq_huge_pages_wanted())
    madvise(arena, total, MADV_HUGEPAGE); /* a refusal is harmless */
  char *at = arena;
  exec->buf[0] = at;
  exec->buf[1] = at + act;
  exec->scratch = at + 2 * act;
  exec->view = view ? at + 2 * act + scratch : NULL;
  return SEQRT_OK;
}

seqrt_status sq_exec_create(const sq_plan *plan, sq_exec **out) {
  if (!plan || !out)
    return sq_error(SEQRT_ERR_INVALID_ARGUMENT,
                    "sq_exec_create: NULL argument");
  *out = NULL;
  sq_exec *exec = calloc(1, sizeof *exec);
  if (!exec)
    return sq_error(SEQRT_ERR_NOMEM, "out of memory for a run context");
  exec->plan = plan;
  seqrt_status st = alloc_buffers(exec);
  if (st == SEQRT_OK) {
    dnnl_status_t dst = dnnl_stream_create(&exec->stream, plan->engine,
                                           dnnl_stream_default_flags);
    if (dst != dnnl_success) st = sq_exec_error("stream creation", dst);
  }
  for (int i = 0; st == SEQRT_OK && i < plan->n_steps; i++)
    st = bind_step(exec, i);
  if (st != SEQRT_OK) {
    sq_exec_free(exec);
    return st;
  }
  *out = exec;
  return SEQRT_OK;
}

void sq_exec_free(sq_exec *exec) {
  if (!exec) return;
  for (int i = 0; exec->steps && i < exec->plan->n_steps; i++)
    unbind_step(&exec->steps[i]);
  free(exec->steps);
  if (exec->stream) dnnl_stream_destroy(exec->stream);
  if (exec->arena) munmap(exec->arena, exec->arena_bytes);
  free(exec->profile);
  free(exec->profile_impl);
  free(exec);
}

/* ---- running ---- */

dnnl_status_t sq_prim_execute(const sq_prim *p, dnnl_stream_t stream,
                              dnnl_memory_t src, dnnl_memory_t dst,
                              dnnl_memory_t scratch) {
  dnnl_exec_arg_t args[SQ_MAX_EXEC_ARGS];
  int n = 0;
  args[n++] = (dnnl_exec_arg_t){DNNL_ARG_SRC, src};
  args[n++] = (dnnl_exec_arg_t){DNNL_ARG_DST, dst};
  if (scratch) args[n++] = (dnnl_exec_arg_t){DNNL_ARG_SCRATCHPAD, scratch};
  for (int i = 0; i < p->n_consts; i++) args[n++] = p->consts[i];
  return dnnl_primitive_execute(p->prim, stream, n, args);
}

static seqrt_status run_prim(sq_exec *exec, const sq_layer *layer,
                             const sq_prim *p, dnnl_memory_t src,
                             dnnl_memory_t dst, dnnl_memory_t scratch) {
  SQ_DNNL(layer, "execution",
          sq_prim_execute(p, exec->stream, src, dst, scratch));
  return SEQRT_OK;
}

/* Where a run's endpoints are. */
typedef struct run_io {
  const sq_run_args *args;
  int first_step, last_step;
} run_io;

static seqrt_status run_view_step(sq_exec *exec, int index, const run_io *io) {
  const sq_step *s = &exec->plan->steps[index];
  exec_step *m = &exec->steps[index];
  const sq_layer *layer = &exec->plan->chain->layers[s->lo];
  bool first = index == io->first_step, last = index == io->last_step;
  if (s->main.prim && !first)
    return run_prim(exec, layer, &s->main, m->main_src,
                    last ? m->user_out : m->main_dst, m->scratch_main);
  /* Plain data already: the bytes only move at the ends of the run. */
  const void *from = first ? io->args->input : exec->buf[s->src_buf];
  void *to = last ? io->args->output : exec->buf[s->dst_buf];
  if (from != to) memmove(to, from, dnnl_memory_desc_get_size(&s->dst_md));
  return SEQRT_OK;
}

/* The bands read and write the tensors' bytes; the stream's earlier work
 * (a reorder into src) must be done first. */
static seqrt_status run_bands(sq_exec *exec, const sq_layer *layer,
                              const sq_step *s, exec_step *m, dnnl_memory_t src,
                              dnnl_memory_t dst) {
  void *in = NULL, *out = NULL;
  SQ_DNNL(layer, "stream wait", dnnl_stream_wait(exec->stream));
  SQ_DNNL(layer, "data handle", dnnl_memory_get_data_handle(src, &in));
  SQ_DNNL(layer, "data handle", dnnl_memory_get_data_handle(dst, &out));
  return sq_bands_run(s->bands, m->bands, in, out);
}

static seqrt_status run_main_step(sq_exec *exec, int index, const run_io *io) {
  const sq_step *s = &exec->plan->steps[index];
  exec_step *m = &exec->steps[index];
  const sq_layer *layer = &exec->plan->chain->layers[s->lo];
  bool first = index == io->first_step, last = index == io->last_step;
  seqrt_status st = SEQRT_OK;
  dnnl_memory_t src = m->main_src;
  if (first && s->user_reorder.prim)
    st = run_prim(exec, layer, &s->user_reorder, m->user_in, m->src,
                  m->scratch_user);
  else if (first)
    src = m->user_in;
  else if (s->in_reorder.prim)
    st = run_prim(exec, layer, &s->in_reorder, exec->steps[index - 1].dst,
                  m->src, m->scratch_in);
  if (st != SEQRT_OK) return st;
  bool direct = last && s->dst_direct;
  dnnl_memory_t out = direct ? m->user_out : m->main_dst;
  if (s->bands)
    st = run_bands(exec, layer, s, m, src, out);
  else if (s->ops)
    st = sq_ops_run(s->ops, m->ops, exec->stream, src, out,
                    exec->buf[1 - s->dst_buf]);
  else
    st = run_prim(exec, layer, &s->main, src, out, m->scratch_main);
  if (st == SEQRT_OK && last && !direct)
    st = run_prim(exec, layer, &s->out_reorder, m->dst, m->user_out,
                  m->scratch_out);
  return st;
}

/* Show step `index`'s output (plain) to the callback. */
static seqrt_status observe(sq_exec *exec, int index, const run_io *io,
                            bool *stop) {
  const sq_step *s = &exec->plan->steps[index];
  exec_step *m = &exec->steps[index];
  const sq_layer *layer = &exec->plan->chain->layers[s->hi];
  seqrt_tensor view = {.dtype = SEQRT_FLOAT32, .rank = layer->out.rank};
  dnnl_dims_t dims;
  sq_dims(&layer->out, exec->plan->batch, dims);
  memcpy(view.dims, dims, sizeof(int64_t) * (size_t)view.rank);
  if (index == io->last_step) {
    view.data = io->args->output;
  } else if (s->dst_direct) {
    view.data = exec->buf[s->dst_buf];
  } else {
    seqrt_status st =
        run_prim(exec, layer, &s->out_reorder, m->dst, m->view, m->scratch_out);
    if (st != SEQRT_OK) return st;
    view.data = exec->view;
  }
  SQ_DNNL(layer, "stream wait", dnnl_stream_wait(exec->stream));
  *stop = io->args->callback(io->args->user, s->hi, layer->name, &view) != 0;
  return SEQRT_OK;
}

static seqrt_status check_run_args(const sq_exec *exec,
                                   const sq_run_args *args) {
  if (!exec || !args || !args->input || !args->output)
    return sq_error(SEQRT_ERR_INVALID_ARGUMENT, "sq_exec_run: NULL argument");
  const sq_plan *plan = exec->plan;
  int n = plan->chain->n_layers;
  if (args->first < 0 || args->last >= n || args->first > args->last)
    return sq_error(SEQRT_ERR_INVALID_ARGUMENT,
                    "layer range %d..%d is not within 0..%d", args->first,
                    args->last, n - 1);
  if (!plan->observable && (args->first != 0 || args->last != n - 1))
    return sq_error(SEQRT_ERR_INVALID_ARGUMENT,
                    "a fused plan runs only the whole chain (0..%d), not "
                    "%d..%d",
                    n - 1, args->first, args->last);
  if (!plan->observable && args->callback)
    return sq_error(SEQRT_ERR_INVALID_ARGUMENT,
                    "layer callbacks need an observable plan");
  return SEQRT_OK;
}

/* ---- profiling ---- */

#define SQ_IMPL_TEXT 128

static seqrt_status profile_create(sq_exec *exec) {
  const sq_plan *plan = exec->plan;
  size_t n = (size_t)plan->n_steps;
  exec->profile = calloc(n, sizeof *exec->profile);
  exec->profile_impl = calloc(n, SQ_IMPL_TEXT);
  if (!exec->profile || !exec->profile_impl) {
    free(exec->profile);
    free(exec->profile_impl);
    exec->profile = NULL;
    exec->profile_impl = NULL;
    return sq_error(SEQRT_ERR_NOMEM, "out of memory for a run profile");
  }
  for (int i = 0; i < plan->n_steps; i++) {
    const sq_step *s = &plan->steps[i];
    seqrt_step_profile *p = &exec->profile[i];
    p->first_layer = s->lo;
    p->last_layer = s->hi;
    p->impl = sq_step_impl(s, exec->profile_impl + (size_t)i * SQ_IMPL_TEXT,
                           SQ_IMPL_TEXT);
    p->threads = s->threads;
    for (int k = s->lo; k <= s->hi; k++) {
      const sq_layer *layer = &plan->chain->layers[k];
      p->flop += sq_layer_flop(layer, plan->batch);
      p->weight_bytes += (double)sq_layer_parameters(layer) * sizeof(float);
    }
  }
  return SEQRT_OK;
}

double sq_now_us(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return (double)t.tv_sec * 1e6 + (double)t.tv_nsec / 1e3;
}

static void profile_add(sq_exec *exec, int index, double since_us) {
  exec->profile[index].total_us += sq_now_us() - since_us;
  exec->profile[index].runs++;
}

seqrt_status sq_exec_profile(const sq_exec *exec,
                             const seqrt_step_profile **steps, int *count) {
  if (!exec || !exec->profile)
    return sq_error(SEQRT_ERR_INVALID_ARGUMENT,
                    "the last run on this context was not profiled "
                    "(seqrt_context_set_profiling before running)");
  *steps = exec->profile;
  *count = exec->plan->n_steps;
  return SEQRT_OK;
}

bool sq_exec_profiled(const sq_exec *exec) { return exec->profile != NULL; }

void sq_exec_profile_clear(sq_exec *exec) {
  for (int i = 0; exec->profile && i < exec->plan->n_steps; i++) {
    exec->profile[i].runs = 0;
    exec->profile[i].total_us = 0.0;
  }
}

/* ---- running the plan ---- */

seqrt_status sq_exec_run(sq_exec *exec, const sq_run_args *args) {
  seqrt_status st = check_run_args(exec, args);
  if (st == SEQRT_OK && args->profile && !exec->profile)
    st = profile_create(exec);
  if (st != SEQRT_OK) return st;
  const sq_plan *plan = exec->plan;
  run_io io = {args, plan->layer_step[args->first],
               plan->layer_step[args->last]};
  dnnl_status_t dst = dnnl_memory_set_data_handle(
      exec->steps[io.first_step].user_in, (void *)args->input);
  if (dst == dnnl_success)
    dst = dnnl_memory_set_data_handle(exec->steps[io.last_step].user_out,
                                      args->output);
  if (dst != dnnl_success)
    return sq_exec_error("setting the user buffers", dst);
  /* OpenMP's thread count is a setting of the calling thread: each step
   * runs with the count its primitives were created for (never more), and
   * the caller's setting is restored after. */
  int caller_threads = omp_get_max_threads(), current = caller_threads;
  for (int i = io.first_step; i <= io.last_step && st == SEQRT_OK; i++) {
    int threads = plan->steps[i].threads;
    if (args->threads > 0 && args->threads < threads) threads = args->threads;
    if (threads != current) omp_set_num_threads(current = threads);
    double start = args->profile ? sq_now_us() : 0.0;
    st = plan->steps[i].is_view ? run_view_step(exec, i, &io)
                                : run_main_step(exec, i, &io);
    if (args->profile) profile_add(exec, i, start);
    bool stop = false;
    if (st == SEQRT_OK && args->callback) st = observe(exec, i, &io, &stop);
    if (stop) break;
  }
  if (current != caller_threads) omp_set_num_threads(caller_threads);
  if (st != SEQRT_OK) return st;
  dst = dnnl_stream_wait(exec->stream);
  return dst == dnnl_success ? SEQRT_OK : sq_exec_error("stream wait", dst);
}

seqrt_status sq_exec_run_parallel(sq_exec *const *execs,
                                  const sq_run_args *args, int n) {
  seqrt_status status = SEQRT_OK;
  char message[256] = "";
#pragma omp parallel for num_threads(n) schedule(static, 1)
  for (int i = 0; i < n; i++) {
    seqrt_status st = sq_exec_run(execs[i], &args[i]);
    if (st != SEQRT_OK) {
#pragma omp critical
      if (status == SEQRT_OK) {
        status = st;
        snprintf(message, sizeof message, "%s", seqrt_last_error());
      }
    }
  }
  if (status == SEQRT_OK) return SEQRT_OK;
  return sq_error(status, "%s", message); /* on the caller's thread */
}

/* Each thread of the team keeps its CPU busy for SPREAD_SPIN_US first, so
 * that the scheduler sees two threads queued on one CPU and moves one. */
#define SPREAD_SPIN_US 200.0

static bool threads_spread(int threads) {
  int cpus[SQ_MAX_SPREAD_CHECK], team = 0;
#pragma omp parallel num_threads(threads)
  {
    double end = sq_now_us() + SPREAD_SPIN_US;
    while (sq_now_us() < end) continue;
    cpus[omp_get_thread_num()] = sched_getcpu();
    if (omp_get_thread_num() == 0) team = omp_get_num_threads();
  }
  if (team != threads) return false;
  for (int i = 0; i < threads; i++)
    for (int j = 0; j < i; j++)
      if (cpus[i] < 0 || cpus[i] == cpus[j]) return false;
  return true;
}

bool sq_wait_threads_spread(int threads, double max_us) {
  cpu_set_t allowed;
  if (threads < 2) return true;
  if (threads > SQ_MAX_SPREAD_CHECK ||
      sched_getaffinity(0, sizeof allowed, &allowed) != 0 ||
      CPU_COUNT(&allowed) < threads)
    return false;
  double deadline = sq_now_us() + max_us;
  while (!threads_spread(threads))
    if (sq_now_us() > deadline) return false;
  return true;
}
