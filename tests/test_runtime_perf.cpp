// The performance machinery: plans built for a thread count (and steps that
// run on one thread), and the weight cache shared by a chain's plans. Every
// run is checked against the naive reference; and the opt-in huge pages.
#include <malloc.h>
#include <sys/mman.h>
#include <unistd.h>

#include <cstdio>
#include <fstream>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "test_runtime_util.h"
extern "C" {
#include "runtime/internal.h" // sq_weight_cache_in_place
}

using namespace sqtest;

// oneDNN 2.6's Winograd, brgemm and brgconv kernels, and seqrt's own
// AVX-512 kernels, run only where oneDNN runs AVX-512 (sq_cpu_avx512);
// elsewhere a plan is oneDNN's AVX2 one (WithoutAvx512PlansSuitAvx2).
#define SKIP_WITHOUT_AVX512()                                                  \
  do {                                                                         \
    if (!sq_cpu_avx512())                                                      \
      GTEST_SKIP() << "oneDNN runs no AVX-512 here; this plan needs it";       \
  } while (0)

// seqrt's batch-1 Linear kernel has an AVX-512 and an AVX2 form (the
// latter for weights under 16 MB).
static bool one_row_kernel_runs() { return sq_cpu_avx512() || sq_cpu_avx2(); }
#define SKIP_WITHOUT_ONE_ROW_KERNEL()                                          \
  do {                                                                         \
    if (!one_row_kernel_runs())                                                \
      GTEST_SKIP() << "oneDNN runs no AVX2 here; the kernel needs it";         \
  } while (0)

namespace {

sq_plan_options threads_with(int threads, bool observable = false) {
  sq_plan_options options{};
  options.threads = threads;
  options.observable = observable;
  return options;
}

// Holds oneDNN to AVX2 for this process (ctest runs each test in its own):
// false where it cannot (a CPU without AVX2, or an ISA fixed earlier).
bool hold_onednn_to_avx2() {
  return dnnl_set_max_cpu_isa(dnnl_cpu_isa_avx2) == dnnl_success &&
         dnnl_get_effective_cpu_isa() == dnnl_cpu_isa_avx2;
}

struct CacheDeleter {
  void operator()(sq_weight_cache *c) const { sq_weight_cache_free(c); }
};

std::unique_ptr<sq_weight_cache, CacheDeleter> new_cache(bool take_sources) {
  sq_weight_cache *cache = nullptr;
  EXPECT_EQ(sq_weight_cache_create(take_sources, &cache), SEQRT_OK);
  return std::unique_ptr<sq_weight_cache, CacheDeleter>(cache);
}

// Options for one-thread plans that share `cache` (nullptr: none).
sq_plan_options one_thread_with(sq_weight_cache *cache) {
  sq_plan_options options{};
  options.threads = 1;
  options.cache = cache;
  return options;
}

// Big enough that its convolutions are worth a second thread, with layers
// small enough to stay on one.
sq_chain *mixed_net() {
  ChainMaker m({-1, 16, 32, 32});
  m.conv(32, {{3, 3}, {1, 1}, {1, 1}, {1, 1}, {1, 1}}).eltwise(SQ_RELU);
  m.pool(SQ_MAXPOOL, {{2, 2}, {2, 2}});
  m.conv(32, {{3, 3}, {1, 1}, {1, 1}, {1, 1}, {1, 1}}).eltwise(SQ_RELU);
  m.pool(SQ_AVGPOOL, {{4, 4}, {4, 4}});
  m.flatten().linear(10).softmax(SQ_SOFTMAX, 1);
  return m.build();
}

std::unique_ptr<sq_plan, PlanDeleter>
plan_with(const sq_chain *chain, int64_t batch, sq_plan_options options) {
  sq_plan *plan = nullptr;
  EXPECT_EQ(sq_plan_create_with(chain, batch, &options, &plan), SEQRT_OK)
      << seqrt_last_error();
  return std::unique_ptr<sq_plan, PlanDeleter>(plan);
}

// `reference`: the chain whose weights the reference reads (an identical
// twin when the plan's cache has taken the chain's own).
void expect_runs_like_reference(const sq_chain *chain, const sq_plan *plan,
                                int64_t batch, int threads,
                                const sq_chain *reference = nullptr) {
  sq_exec *raw = nullptr;
  ASSERT_EQ(sq_exec_create(plan, &raw), SEQRT_OK) << seqrt_last_error();
  std::unique_ptr<sq_exec, ExecDeleter> exec(raw);
  std::vector<float> input =
      random_vector(count_of(shape_dims(chain->layers[0].in, batch)), 5);
  std::vector<Tensor> ref =
      ref_chain(reference ? reference : chain, batch, input);
  std::vector<float> output(ref.back().data.size(), NAN);
  sq_run_args args{};
  args.last = chain->n_layers - 1;
  args.input = input.data();
  args.output = output.data();
  args.threads = threads;
  ASSERT_EQ(sq_exec_run(exec.get(), &args), SEQRT_OK) << seqrt_last_error();
  EXPECT_TRUE(all_close(output.data(), ref.back().data))
      << "batch " << batch << ", " << threads << " threads";
}

std::string printed_plan(const sq_plan *plan) {
  char *text = nullptr;
  size_t size = 0;
  FILE *f = open_memstream(&text, &size);
  if (!f) return "";
  sq_plan_print(plan, f);
  fclose(f);
  std::string printed(text, size);
  free(text);
  return printed;
}

// What step i of `plan` runs ("kernel": one of seqrt's own).
std::string step_impl(const sq_plan *plan, int i) {
  char buf[256];
  return sq_step_impl(&plan->steps[i], buf, sizeof buf);
}

} // namespace

TEST(RuntimePerf, PlanRemembersItsThreads) {
  std::unique_ptr<sq_chain, ChainDeleter> chain(mixed_net());
  for (int threads : {1, 2, 3}) {
    sq_plan_options options{};
    options.threads = threads;
    auto plan = plan_with(chain.get(), 2, options);
    ASSERT_TRUE(plan);
    EXPECT_EQ(sq_plan_threads(plan.get()), threads);
    sq_plan_stats stats;
    sq_plan_get_stats(plan.get(), &stats);
    if (threads == 1) EXPECT_EQ(stats.parallel_steps, 0);
    // Fewer threads than the plan was built for, the same, more (clamped).
    for (int run_threads : {1, threads, threads + 1, 0})
      expect_runs_like_reference(chain.get(), plan.get(), 2, run_threads);
  }
  sq_plan_options options{};
  options.threads = -1;
  sq_plan *plan = nullptr;
  EXPECT_EQ(sq_plan_create_with(chain.get(), 1, &options, &plan),
            SEQRT_ERR_INVALID_ARGUMENT);
  EXPECT_EQ(plan, nullptr);
}

TEST(RuntimePerf, SmallStepsStayOnOneThread) {
  // A tiny MLP: no step is worth waking a second thread for.
  ChainMaker m({-1, 16});
  m.linear(8).eltwise(SQ_RELU).linear(4);
  std::unique_ptr<sq_chain, ChainDeleter> chain(m.build());
  sq_plan_options options{};
  options.threads = 2;
  auto plan = plan_with(chain.get(), 1, options);
  ASSERT_TRUE(plan);
  sq_plan_stats stats;
  sq_plan_get_stats(plan.get(), &stats);
  EXPECT_EQ(stats.parallel_steps, 0);
  expect_runs_like_reference(chain.get(), plan.get(), 1, 2);

  // The MNIST MLP at batch 1: its 784 -> 512 and 512 -> 256 Linear layers
  // (1.6 and 0.5 MB of weights) are worth a second thread, the last is not.
  ChainMaker mnist({-1, 784});
  mnist.linear(512).eltwise(SQ_RELU).linear(256).eltwise(SQ_RELU).linear(10);
  std::unique_ptr<sq_chain, ChainDeleter> mlp(mnist.build());
  auto mlp_plan = plan_with(mlp.get(), 1, options);
  ASSERT_TRUE(mlp_plan);
  ASSERT_EQ(mlp_plan->n_steps, 3);
  EXPECT_EQ(mlp_plan->steps[0].threads, 2);
  EXPECT_EQ(mlp_plan->steps[1].threads, 2);
  EXPECT_EQ(mlp_plan->steps[2].threads, 1);
  expect_runs_like_reference(mlp.get(), mlp_plan.get(), 1, 2);

  // The first convolution of mixed_net at batch 8 is ~150 MFLOP: parallel.
  std::unique_ptr<sq_chain, ChainDeleter> big(mixed_net());
  auto big_plan = plan_with(big.get(), 8, options);
  ASSERT_TRUE(big_plan);
  sq_plan_get_stats(big_plan.get(), &stats);
  EXPECT_GE(stats.parallel_steps, 1);
  EXPECT_LT(stats.parallel_steps, stats.steps);
  expect_runs_like_reference(big.get(), big_plan.get(), 8, 2);
  expect_runs_like_reference(big.get(), big_plan.get(), 8, 1);
}

// A constant after a convolution with a blocked output: oneDNN 2.6 has only
// its reference binary for nChw16c with a plain constant (9.4 ms instead of
// 30 us at 64 x 56 x 56), so the step runs on the plain layout.
TEST(RuntimePerf, BinaryAfterBlockedConvAvoidsTheReferenceKernel) {
  ChainMaker m({-1, 64, 28, 28});
  m.conv(64, {{3, 3}, {1, 1}, {1, 1}, {1, 1}, {}});
  for (sq_kind kind : {SQ_MULCONST, SQ_ADDCONST}) {
    sq_layer &l = m.custom(kind, m.shape());
    m.weights(&l.weight,
              kind == SQ_MULCONST ? Dims{1, 64, 1, 1} : Dims{1, 1, 28, 28},
              1.0f, 1.5f);
  }
  std::unique_ptr<sq_chain, ChainDeleter> chain(m.build());
  sq_plan_options options{};
  options.threads = 1;
  auto plan = plan_with(chain.get(), 1, options);
  ASSERT_TRUE(plan);
  ASSERT_FALSE(sq_md_is_plain(&plan->steps[0].dst_md))
      << "the convolution's output is plain: the test checks nothing\n"
      << printed_plan(plan.get());
  for (int i = 0; i < plan->n_steps; i++)
    EXPECT_NE(step_impl(plan.get(), i).rfind("ref", 0), 0u)
        << printed_plan(plan.get());
  expect_runs_like_reference(chain.get(), plan.get(), 1, 1);
}

// oneDNN 2.6 runs a deconvolution's post-ops element by element (a ReLU
// made one 4x slower): its ConvTranspose is a step of its own. With fewer
// output channels than a 16-channel block (32 -> 3 at 64 -> 128 pixels:
// 0.8-1.4 ms against 0.16 ms) a ConvTranspose runs seqrt's kernel.
// A max pool on plain data (the user's input, or what a gemm convolution
// wrote, as AlexNet's first on an AVX2 CPU) gets only oneDNN's C kernel
// there, "simple_nchw" (3.5 ms for AlexNet's first pool): the step reads
// the CPU's channel blocks instead, reordered to.
TEST(RuntimePerf, PlainMaxPoolRunsJitted) {
  ChainMaker m({-1, 64, 55, 55});
  m.pool(SQ_MAXPOOL, {{3, 3}, {2, 2}});
  std::unique_ptr<sq_chain, ChainDeleter> chain(m.build());
  for (int threads : {1, 2})
    for (int64_t batch : {1, 3}) {
      auto plan = plan_with(chain.get(), batch, threads_with(threads));
      ASSERT_TRUE(plan);
      std::string impl = step_impl(plan.get(), 0);
      EXPECT_NE(impl.rfind("simple", 0), 0u) << printed_plan(plan.get());
      EXPECT_NE(impl.rfind("ref", 0), 0u) << printed_plan(plan.get());
      expect_runs_like_reference(chain.get(), plan.get(), batch, threads);
    }
}

TEST(RuntimePerf, ConvTransposeAvoidsOneDnnsSlowPaths) {
  ChainMaker m({-1, 32, 16, 16});
  m.conv_transpose(16, {{4, 4}, {2, 2}, {}, {1, 1}, {}}, {});
  m.eltwise(SQ_RELU);
  m.conv_transpose(3, {{4, 4}, {2, 2}, {}, {1, 1}, {}}, {});
  m.eltwise(SQ_SIGMOID);
  std::unique_ptr<sq_chain, ChainDeleter> chain(m.build());
  for (int threads : {1, 2})
    for (int64_t batch : {1, 3}) {
      sq_plan_options options{};
      options.threads = threads;
      auto plan = plan_with(chain.get(), batch, options);
      ASSERT_TRUE(plan);
      const sq_step &large = plan->steps[plan->layer_step[0]];
      EXPECT_EQ(large.hi, large.lo) << printed_plan(plan.get());
      EXPECT_EQ(step_impl(plan.get(), plan->layer_step[2]), "kernel")
          << printed_plan(plan.get());
      for (int i = 0; i < plan->n_steps; i++)
        EXPECT_NE(step_impl(plan.get(), i).rfind("ref", 0), 0u)
            << printed_plan(plan.get());
      expect_runs_like_reference(chain.get(), plan.get(), batch, threads);
    }
}

// oneDNN 2.6's batch normalisation on plain data (ncsp) took 0.87 ms for an
// InstanceNorm of 32 x 128 x 128 (4.9 ms with a fused ReLU) against about
// 0.1 ms jitted: no normalisation step runs it, and an InstanceNorm at
// batch 1 after a convolution runs on the convolution's layout.
TEST(RuntimePerf, InstanceAndGroupNormStayOffThePlainBatchNorm) {
  auto group_norm = [](ChainMaker &m, sq_kind kind, int64_t groups) {
    int64_t c = m.shape()[1];
    sq_layer &l = m.custom(kind, m.shape());
    l.groups = groups;
    l.epsilon = 1e-5f;
    m.weights(&l.weight, {c}, 0.5f, 1.0f);
    m.weights(&l.bias, {c}, 0.5f);
  };
  ChainMaker m({-1, 8, 20, 20});
  group_norm(m, SQ_INSTANCENORM, 0); // plain input
  m.eltwise(SQ_RELU);
  m.conv(32, {{3, 3}, {1, 1}, {1, 1}, {1, 1}, {1, 1}});
  group_norm(m, SQ_INSTANCENORM, 0);
  m.eltwise(SQ_RELU);
  m.conv(32, {{3, 3}, {1, 1}, {1, 1}, {1, 1}, {1, 1}});
  group_norm(m, SQ_GROUPNORM, 4);
  m.eltwise(SQ_RELU);
  std::unique_ptr<sq_chain, ChainDeleter> chain(m.build());
  for (int64_t batch : {1, 3}) {
    auto plan = plan_with(chain.get(), batch, one_thread_with(nullptr));
    ASSERT_TRUE(plan);
    for (int i = 0; i < plan->n_steps; i++) {
      std::string impl = step_impl(plan.get(), i);
      EXPECT_EQ(impl.find("ncsp"), std::string::npos)
          << printed_plan(plan.get());
      EXPECT_EQ(impl.find("ref"), std::string::npos)
          << printed_plan(plan.get());
    }
    if (batch == 1) {
      const sq_step &conv = plan->steps[plan->layer_step[2]];
      ASSERT_FALSE(sq_md_is_plain(&conv.dst_md))
          << "the convolution's output is plain: the test checks less\n"
          << printed_plan(plan.get());
      EXPECT_EQ(
          step_impl(plan.get(), plan->layer_step[3]).rfind("bnorm_jit", 0), 0u)
          << printed_plan(plan.get());
    }
    expect_runs_like_reference(chain.get(), plan.get(), batch, 1);
  }
}

TEST(RuntimePerf, PlansShareReorderedWeights) {
  std::unique_ptr<sq_chain, ChainDeleter> chain(mixed_net());
  auto cache = new_cache(false);
  ASSERT_TRUE(cache);

  // Batch 2: at batch 1 the Linear runs seqrt's kernel on plain weights.
  sq_plan_options fused = one_thread_with(cache.get());
  auto first = plan_with(chain.get(), 2, fused);
  ASSERT_TRUE(first);
  sq_plan_stats stats;
  sq_plan_get_stats(first.get(), &stats);
  size_t after_first = sq_weight_cache_bytes(cache.get());
  EXPECT_EQ(after_first, stats.owned_weight_bytes);
  EXPECT_GT(after_first, 0u);

  // The same batch and threads again, as the observable kind: every
  // layout is already there but one of the last Linear's weights. The fused
  // plan folded the Flatten before it, so it reads the pooled [2, 32, 4, 4]
  // activation and its [10, 512] weights as [10, 32, 4, 4]; the observable
  // plan shows the Flatten's output and reads [2, 512].
  sq_plan_options observable = fused;
  observable.observable = true;
  auto second = plan_with(chain.get(), 2, observable);
  ASSERT_TRUE(second);
  const sq_layer &linear = chain->layers[chain->n_layers - 2];
  ASSERT_EQ(linear.kind, SQ_LINEAR);
  size_t growth = sq_weight_cache_bytes(cache.get()) - after_first;
  EXPECT_GT(growth, 0u);
  // At most the weights with the 10 outputs padded to a block of 64.
  EXPECT_LE(growth, 64 * linear.weight.count / 10 * sizeof(float));

  // Other threads (a parallel step is never Winograd) or another batch may
  // want other layouts; each plan adds at most its own copies.
  fused.threads = 2;
  size_t before = sq_weight_cache_bytes(cache.get());
  auto third = plan_with(chain.get(), 2, fused);
  ASSERT_TRUE(third);
  sq_plan_get_stats(third.get(), &stats);
  EXPECT_LE(sq_weight_cache_bytes(cache.get()),
            before + stats.owned_weight_bytes);
  before = sq_weight_cache_bytes(cache.get());
  auto other = plan_with(chain.get(), 4, fused);
  ASSERT_TRUE(other);
  sq_plan_get_stats(other.get(), &stats);
  EXPECT_LE(sq_weight_cache_bytes(cache.get()),
            before + stats.owned_weight_bytes);

  // Every plan still computes the right thing from the shared buffers,
  // also after the plan that made them is gone.
  first.reset();
  expect_runs_like_reference(chain.get(), second.get(), 2, 1);
  expect_runs_like_reference(chain.get(), third.get(), 2, 2);
  expect_runs_like_reference(chain.get(), other.get(), 4, 2);
}

namespace {

// A convolution and a Linear layer with weight arrays over 1 MiB, the size
// from which a cache that takes sources gives the chain's pages back.
sq_chain *big_weights_net() {
  ChainMaker m({-1, 128, 4, 4});
  m.conv(256, {{3, 3}, {1, 1}, {1, 1}, {1, 1}, {1, 1}}).eltwise(SQ_RELU);
  m.pool(SQ_MAXPOOL, {{2, 2}, {2, 2}});
  m.flatten().linear(1000).eltwise(SQ_RELU).linear(10);
  return m.build();
}

int64_t nonzero(const sq_weights &w) {
  return std::count_if(w.data, w.data + w.count,
                       [](float v) { return v != 0.0f; });
}

} // namespace

TEST(RuntimePerf, CacheGivesBackTheChainsWeights) {
  std::unique_ptr<sq_chain, ChainDeleter> chain(big_weights_net());
  std::unique_ptr<sq_chain, ChainDeleter> twin(big_weights_net());
  const int conv = 0, linear = 4;
  ASSERT_EQ(chain->layers[linear].kind, SQ_LINEAR);
  auto cache = new_cache(true);
  ASSERT_TRUE(cache);
  sq_plan_options options = one_thread_with(cache.get());

  // Batch 2 wants blocked layouts: both big arrays now live only in the
  // cache; the chain's pages read as zeros (a page at each end may stay).
  auto first = plan_with(chain.get(), 2, options);
  ASSERT_TRUE(first);
  EXPECT_LT(nonzero(chain->layers[conv].weight), 2048);
  EXPECT_LT(nonzero(chain->layers[linear].weight), 2048);
  EXPECT_EQ(nonzero(twin->layers[linear].weight),
            twin->layers[linear].weight.count);
  expect_runs_like_reference(chain.get(), first.get(), 2, 1, twin.get());

  // Batch 1 runs the Linear layers on seqrt's kernel, which reads plain
  // weights: made from the cached copy.
  auto one_row = plan_with(chain.get(), 1, options);
  ASSERT_TRUE(one_row);
  if (one_row_kernel_runs())
    EXPECT_EQ(step_impl(one_row.get(), one_row->layer_step[linear]), "kernel");
  expect_runs_like_reference(chain.get(), one_row.get(), 1, 1, twin.get());

  // Batch 40 runs the 1000-wide layer on plain [K, N] weights: a layout
  // made from the cached copy, as the observable plan's may be.
  auto second = plan_with(chain.get(), 40, options);
  options.observable = true;
  auto observable = plan_with(chain.get(), 3, options);
  ASSERT_TRUE(second && observable);
  expect_runs_like_reference(chain.get(), second.get(), 40, 1, twin.get());
  expect_runs_like_reference(chain.get(), observable.get(), 3, 1, twin.get());

  // A plan that would read the array in place gets a restored copy.
  dnnl_engine_t engine = nullptr;
  dnnl_stream_t stream = nullptr;
  ASSERT_EQ(dnnl_engine_create(&engine, dnnl_cpu, 0), dnnl_success);
  ASSERT_EQ(dnnl_stream_create(&stream, engine, dnnl_stream_default_flags),
            dnnl_success);
  const sq_weights &w = chain->layers[linear].weight;
  dnnl_dims_t dims = {1000, 1024};
  dnnl_memory_desc_t plain;
  ASSERT_EQ(dnnl_memory_desc_init_by_tag(&plain, 2, dims, dnnl_f32, dnnl_ab),
            dnnl_success);
  void *restored = nullptr;
  EXPECT_EQ(sq_weight_cache_in_place(cache.get(), &chain->layers[linear],
                                     w.data, &plain, engine, stream, &restored),
            SEQRT_OK);
  ASSERT_NE(restored, (void *)w.data);
  EXPECT_EQ(std::memcmp(restored, twin->layers[linear].weight.data,
                        (size_t)w.count * sizeof(float)),
            0);
  dnnl_stream_destroy(stream);
  dnnl_engine_destroy(engine);
}

TEST(RuntimePerf, CacheRollbackFreesOnlyTheUndoneLayouts) {
  // The batch-slice decision (api/seqrt.c) builds plans it may undo: their
  // new layouts go, the earlier plan's stay and still run, and a plan built
  // again afterwards remakes them from the cached copies.
  std::unique_ptr<sq_chain, ChainDeleter> chain(big_weights_net());
  std::unique_ptr<sq_chain, ChainDeleter> twin(big_weights_net());
  auto cache = new_cache(true);
  ASSERT_TRUE(cache);
  sq_plan_options options = one_thread_with(cache.get());
  auto first = plan_with(chain.get(), 2, options);
  ASSERT_TRUE(first);
  size_t kept = sq_weight_cache_bytes(cache.get());
  int mark = sq_weight_cache_mark(cache.get());
  auto undone = plan_with(chain.get(), 40, options); // plain [K, N] Linear
  ASSERT_TRUE(undone);
  ASSERT_GT(sq_weight_cache_bytes(cache.get()), kept);
  undone.reset();
  sq_weight_cache_rollback(cache.get(), mark);
  EXPECT_EQ(sq_weight_cache_bytes(cache.get()), kept);
  expect_runs_like_reference(chain.get(), first.get(), 2, 1, twin.get());
  auto again = plan_with(chain.get(), 40, options);
  ASSERT_TRUE(again);
  expect_runs_like_reference(chain.get(), again.get(), 40, 1, twin.get());

  // The only copy of an array whose pages were given back is never freed
  // (the two big arrays here); the small Linear's copy, whose array is
  // whole, is.
  auto fresh = new_cache(true);
  std::unique_ptr<sq_chain, ChainDeleter> other(big_weights_net());
  sq_plan_options alone = one_thread_with(fresh.get());
  auto only = plan_with(other.get(), 2, alone);
  ASSERT_TRUE(only);
  size_t held = sq_weight_cache_bytes(fresh.get());
  only.reset();
  sq_weight_cache_rollback(fresh.get(), 0);
  size_t big =
      (size_t)(other->layers[0].weight.count + other->layers[4].weight.count) *
      sizeof(float);
  EXPECT_GE(sq_weight_cache_bytes(fresh.get()), big);
  EXPECT_LT(sq_weight_cache_bytes(fresh.get()), held);
  auto rebuilt = plan_with(other.get(), 2, alone);
  ASSERT_TRUE(rebuilt);
  expect_runs_like_reference(other.get(), rebuilt.get(), 2, 1, twin.get());
}

TEST(RuntimePerf, CacheKeepsTheChainsWeightsUnlessAllowed) {
  std::unique_ptr<sq_chain, ChainDeleter> chain(big_weights_net());
  auto cache = new_cache(false);
  ASSERT_TRUE(cache);
  sq_plan_options options = one_thread_with(cache.get());
  auto plan = plan_with(chain.get(), 1, options);
  ASSERT_TRUE(plan);
  for (const sq_layer *l = chain->layers; l < chain->layers + 6; l++)
    EXPECT_EQ(nonzero(l->weight), l->weight.count) << l->name;
  expect_runs_like_reference(chain.get(), plan.get(), 1, 1);
}

// Whether the plan printed for `chain` at `batch` shows a Winograd step.
bool plans_winograd(const sq_chain *chain, int64_t batch, int threads,
                    bool winograd_option) {
  sq_plan_options options = one_thread_with(nullptr);
  options.threads = threads;
  options.winograd = winograd_option;
  auto plan = plan_with(chain, batch, options);
  EXPECT_TRUE(plan);
  return plan && printed_plan(plan.get()).find("wino") != std::string::npos;
}

TEST(RuntimePerf, FlattenOfBlockedDataFoldsIntoTheLinear) {
  // mixed_net's Flatten follows a pool that writes a blocked layout: below
  // the matmul's batch its Linear reads that layout unflattened (one step,
  // no reorder to plain); an observable plan keeps the Flatten visible.
  std::unique_ptr<sq_chain, ChainDeleter> chain(mixed_net());
  int flatten = chain->n_layers - 3, linear = flatten + 1;
  ASSERT_EQ(chain->layers[flatten].kind, SQ_FLATTEN);
  for (int threads : {1, 2})
    for (int64_t batch : {1, 3, 32}) {
      sq_plan_options options{};
      options.threads = threads;
      auto plan = plan_with(chain.get(), batch, options);
      ASSERT_TRUE(plan);
      int step = plan->layer_step[flatten];
      EXPECT_EQ(plan->layer_step[linear] == step, batch < 32)
          << "batch " << batch;
      // At batch 1 seqrt's Linear kernel reads it reordered to plain.
      if (batch < 32)
        EXPECT_EQ(plan->steps[step].in_reorder.prim != nullptr,
                  batch == 1 && one_row_kernel_runs());
      expect_runs_like_reference(chain.get(), plan.get(), batch, threads);
      options.observable = true;
      auto observable = plan_with(chain.get(), batch, options);
      ASSERT_TRUE(observable);
      EXPECT_NE(observable->layer_step[flatten],
                observable->layer_step[linear]);
      expect_runs_like_reference(chain.get(), observable.get(), batch, threads);
    }
  // Rank-3 and rank-5 activations, a Reshape as the view, and a view as
  // the first layer (the user's plain input read as it is).
  ChainMaker m1d({-1, 8, 20});
  m1d.conv(16, {{3}, {1}, {1}, {1}, {1}}).eltwise(SQ_RELU);
  m1d.reshape({-1, 320}).linear(6).eltwise(SQ_RELU);
  ChainMaker m3d({-1, 4, 4, 6, 6});
  m3d.conv(16, {{3, 3, 3}, {1, 1, 1}, {1, 1, 1}, {0, 0, 0}, {0, 0, 0}});
  m3d.flatten().linear(5);
  ChainMaker first({-1, 4, 3, 3});
  first.flatten().linear(5);
  std::pair<sq_chain *, int> views[] = {
      {m1d.build(), 2}, {m3d.build(), 1}, {first.build(), 0}};
  for (auto [raw, view] : views) {
    std::unique_ptr<sq_chain, ChainDeleter> c(raw);
    auto plan = plan_with(c.get(), 2, one_thread_with(nullptr));
    ASSERT_TRUE(plan);
    EXPECT_EQ(plan->layer_step[view], plan->layer_step[view + 1]);
    EXPECT_FALSE(plan->steps[plan->layer_step[view]].is_view);
    expect_runs_like_reference(c.get(), plan.get(), 2, 1);
  }
}

TEST(RuntimePerf, WinogradWhereItPays) {
  SKIP_WITHOUT_AVX512();
  // 3x3 stride-1 convolutions with >= 32 channels and kernels under 1 MiB
  // run as oneDNN's Winograd convolution on one thread, at batch 1 (its
  // 2x3 kernel) and from batch 2 (its 4x3 kernel, 6-7 MB of scratchpad);
  // the first (3 channels in) stays direct.
  ChainMaker m({-1, 3, 12, 12});
  m.conv(32, {{3, 3}, {1, 1}, {1, 1}, {1, 1}, {1, 1}}).eltwise(SQ_RELU);
  m.conv(48, {{3, 3}, {1, 1}, {1, 1}, {1, 1}, {1, 1}}).eltwise(SQ_RELU);
  m.conv(32, {{3, 3}, {1, 1}, {1, 1}, {1, 1}, {1, 1}});
  std::unique_ptr<sq_chain, ChainDeleter> chain(m.build());
  for (int64_t batch : {1, 3}) {
    auto plan = plan_with(chain.get(), batch, one_thread_with(nullptr));
    ASSERT_TRUE(plan);
    std::string printed = printed_plan(plan.get());
    size_t first = printed.find("step 0:"), second = printed.find("step 1:");
    ASSERT_NE(second, std::string::npos) << printed;
    EXPECT_EQ(printed.substr(first, second - first).find("wino"),
              std::string::npos)
        << printed;
    EXPECT_NE(printed.substr(second).find("wino"), std::string::npos)
        << printed;
    expect_runs_like_reference(chain.get(), plan.get(), batch, 1);
  }
}

TEST(RuntimePerf, WinogradOnSeveralThreadsOnlyWithEnoughWork) {
  SKIP_WITHOUT_AVX512();
  // Split over threads, a small Winograd convolution's few tiles leave
  // them idle: on 2 threads oneDNN's 4x3 kernel (batch 8 and 16) takes
  // 50 MFLOP, its 2x3 kernel (batch 1) 500 MFLOP. (At batch 1 bands would
  // run one-thread Winograd instead: BatchOneConvolutionsRunInBands.)
  setenv("SEQRT_BANDS", "0", 1);
  struct Case {
    int64_t channels, side, batch;
    bool option, expected;
  } cases[] = {{32, 16, 8, false, false}, // 4x3, 38 MFLOP
               {32, 16, 16, false, true}, // 4x3, 75 MFLOP
               {64, 28, 1, false, false}, // 2x3, 58 MFLOP
               {512, 14, 1, true, true}}; // 2x3, 925 MFLOP
  for (const Case &c : cases) {
    ChainMaker m({-1, c.channels, c.side, c.side});
    m.conv(c.channels, {{3, 3}, {1, 1}, {1, 1}, {1, 1}, {1, 1}})
        .eltwise(SQ_RELU);
    std::unique_ptr<sq_chain, ChainDeleter> chain(m.build());
    EXPECT_EQ(plans_winograd(chain.get(), c.batch, 2, c.option), c.expected)
        << c.channels << " channels at " << c.side << ", batch " << c.batch;
    EXPECT_TRUE(plans_winograd(chain.get(), c.batch, 1, c.option))
        << c.channels << " channels at " << c.side << ", batch " << c.batch;
  }
  unsetenv("SEQRT_BANDS");
}

TEST(RuntimePerf, FewOutputChannelsTakeTheOlderDirectKernel) {
  SKIP_WITHOUT_AVX512();
  // Convolutions with 6 and 16 channels out (LeNet-5's second has 6 in, 16
  // out) run faster on oneDNN's jit: direct convolution than on its first
  // choice, brgconv; 32 channels out stay on brgconv.
  ChainMaker m({-1, 6, 16, 16});
  m.conv(6, {{5, 5}, {1, 1}, {1, 1}, {0, 0}, {0, 0}}).eltwise(SQ_RELU);
  m.conv(16, {{5, 5}, {1, 1}, {1, 1}, {0, 0}, {0, 0}}).eltwise(SQ_RELU);
  m.conv(32, {{3, 3}, {1, 1}, {1, 1}, {0, 0}, {0, 0}});
  std::unique_ptr<sq_chain, ChainDeleter> chain(m.build());
  for (int64_t batch : {1, 5}) {
    auto plan = plan_with(chain.get(), batch, one_thread_with(nullptr));
    ASSERT_TRUE(plan);
    std::string printed = printed_plan(plan.get());
    size_t third = printed.find("step 2:");
    ASSERT_NE(third, std::string::npos) << printed;
    std::string first_two = printed.substr(0, third);
    EXPECT_EQ(first_two.find("brgconv"), std::string::npos) << printed;
    EXPECT_NE(first_two.find("impl=jit:"), std::string::npos) << printed;
    EXPECT_NE(printed.substr(third).find("brgconv"), std::string::npos)
        << printed;
    expect_runs_like_reference(chain.get(), plan.get(), batch, 1);
  }
}

TEST(RuntimePerf, FewChannelConvolutionsRunTheKernel) {
  if (!sq_cpu_avx2()) GTEST_SKIP() << "the kernel needs AVX2 or AVX-512";
  // LeNet-5's first block: in a fused plan the kernel runs the convolution,
  // its ReLU and the pool as one step, on one thread or split over two;
  // an observable plan shows the pool as its own step.
  ChainMaker m({-1, 1, 32, 32});
  m.conv(6, {{5, 5}}).eltwise(SQ_RELU).pool(SQ_MAXPOOL, {{2, 2}, {2, 2}});
  m.conv(16, {{5, 5}}).eltwise(SQ_RELU);
  std::unique_ptr<sq_chain, ChainDeleter> chain(m.build());
  for (int threads : {1, 2})
    for (int64_t batch : {1, 16}) {
      sq_plan_options options{};
      options.threads = threads;
      auto plan = plan_with(chain.get(), batch, options);
      ASSERT_TRUE(plan);
      EXPECT_EQ(plan->layer_step[2], 0);
      EXPECT_EQ(plan->layer_step[3], 1);
      EXPECT_EQ(step_impl(plan.get(), 0), "kernel") << printed_plan(plan.get());
      expect_runs_like_reference(chain.get(), plan.get(), batch, threads);
      options.observable = true;
      auto observable = plan_with(chain.get(), batch, options);
      ASSERT_TRUE(observable);
      EXPECT_EQ(observable->layer_step[1], 1);
      EXPECT_EQ(observable->layer_step[2], 2);
      expect_runs_like_reference(chain.get(), observable.get(), batch, threads);
    }
}

TEST(RuntimePerf, ConvolutionsOutsideTheKernelStayOnOneDnn) {
  // Stride, dilation, groups, 5 channels in, 9 out, 3-D: oneDNN. A pool
  // other than 2x2 stride 2 unpadded, or after a non-ReLU, is its own step.
  struct Case {
    Dims input;
    int64_t out, groups;
    Window window;
  } cases[] = {{{-1, 1, 12, 12}, 4, 1, {{3, 3}, {2, 2}}},
               {{-1, 1, 12, 12}, 4, 1, {{3, 3}, {1, 1}, {2, 2}}},
               {{-1, 4, 12, 12}, 4, 2, {{3, 3}}},
               {{-1, 5, 12, 12}, 4, 1, {{3, 3}}},
               {{-1, 1, 12, 12}, 9, 1, {{3, 3}}},
               {{-1, 1, 6, 6, 6}, 4, 1, {{3, 3, 3}}}};
  for (const Case &c : cases) {
    ChainMaker m(c.input);
    m.conv(c.out, c.window, c.groups).eltwise(SQ_RELU);
    std::unique_ptr<sq_chain, ChainDeleter> chain(m.build());
    auto plan = plan_with(chain.get(), 2, one_thread_with(nullptr));
    ASSERT_TRUE(plan);
    for (int i = 0; i < plan->n_steps; i++)
      EXPECT_NE(step_impl(plan.get(), i), "kernel") << printed_plan(plan.get());
    expect_runs_like_reference(chain.get(), plan.get(), 2, 1);
  }
  Window pools[] = {{{3, 3}, {2, 2}},
                    {{2, 2}, {1, 1}},
                    {{2, 2}, {2, 2}, {1, 1}, {1, 1}, {1, 1}}};
  for (const Window &w : pools)
    for (sq_kind act : {SQ_RELU, SQ_TANH}) {
      ChainMaker m({-1, 1, 12, 12});
      m.conv(4, {{3, 3}}).eltwise(act).pool(SQ_MAXPOOL, w);
      std::unique_ptr<sq_chain, ChainDeleter> chain(m.build());
      auto plan = plan_with(chain.get(), 2, one_thread_with(nullptr));
      ASSERT_TRUE(plan);
      EXPECT_EQ(plan->n_steps, act == SQ_RELU && w.kernel[0] == 2 &&
                                       w.stride[0] == 2 && w.pad_begin.empty()
                                   ? 1
                                   : 2)
          << printed_plan(plan.get());
      expect_runs_like_reference(chain.get(), plan.get(), 2, 1);
    }
}

TEST(RuntimePerf, OneRowLinearRunsTheKernel) {
  SKIP_WITHOUT_ONE_ROW_KERNEL();
  // Batch 1: seqrt's kernel, with its ReLU in the same step and split over
  // two threads when the weights are worth it. Batch 2, and a Linear
  // whose step fuses a Sigmoid, stay on oneDNN.
  ChainMaker m({-1, 2048});
  m.linear(1001).eltwise(SQ_RELU).linear(10).eltwise(SQ_SIGMOID);
  std::unique_ptr<sq_chain, ChainDeleter> chain(m.build());
  for (int threads : {1, 2})
    for (int64_t batch : {1, 2}) {
      sq_plan_options options{};
      options.threads = threads;
      auto plan = plan_with(chain.get(), batch, options);
      ASSERT_TRUE(plan);
      ASSERT_EQ(plan->n_steps, 2) << printed_plan(plan.get());
      EXPECT_EQ(step_impl(plan.get(), 0) == "kernel", batch == 1)
          << printed_plan(plan.get());
      EXPECT_NE(step_impl(plan.get(), 1), "kernel");
      EXPECT_EQ(plan->steps[0].threads, threads);
      expect_runs_like_reference(chain.get(), plan.get(), batch, threads);
    }
}

namespace {

sq_chain *big_mlp() {
  ChainMaker m({-1, 2048});
  m.linear(2048).eltwise(SQ_RELU).linear(2048).linear(10);
  m.eltwise(SQ_SIGMOID).linear(2048);
  return m.build();
}

} // namespace

TEST(RuntimePerf, ManyRowsOfBigWeightsRunTheSgemmKernel) {
  // From 32 rows, a Linear with 16 MB of weights or more runs seqrt's
  // kernel. With AVX-512 it is one dnnl_sgemm on feature-major activations,
  // passed from one such layer to the next without a reorder, which reads
  // the chain's weights in place (a cache that takes sources keeps them), as
  // the batch-1 kernel does: plans of both share one copy. Without AVX-512
  // it is seqrt's GEMM on plain activations and weights packed once into the
  // cache, which gives the chain's pages back (the batch-1 plan's inner
  // product reorders from that copy). Fewer rows, smaller weights and a
  // step that fuses a Sigmoid stay on oneDNN; without AVX-512 (no brgemm)
  // the small weights from 32 rows run the kernel too. Observable plans run
  // it too.
  const int big[] = {0, 2}, small = 3, sigmoid_fed = 5;
  const size_t big_bytes = 2 * size_t{2048 * 2048} * sizeof(float);
  std::unique_ptr<sq_chain, ChainDeleter> twin(big_mlp());
  for (int threads : {1, 2})
    for (int64_t batch : {31, 32, 45}) {
      SCOPED_TRACE(::testing::Message()
                   << "batch " << batch << ", " << threads << " threads");
      std::unique_ptr<sq_chain, ChainDeleter> chain(big_mlp());
      auto cache = new_cache(true);
      sq_plan_options options = one_thread_with(cache.get());
      options.threads = threads;
      auto plan = plan_with(chain.get(), batch, options);
      ASSERT_TRUE(plan);
      std::string printed = printed_plan(plan.get());
      bool many = batch >= 32;
      for (int layer : big)
        EXPECT_EQ(step_impl(plan.get(), plan->layer_step[layer]) == "kernel",
                  many)
            << printed;
      EXPECT_NE(step_impl(plan.get(), plan->layer_step[small]), "kernel");
      EXPECT_EQ(step_impl(plan.get(), plan->layer_step[sigmoid_fed]) ==
                    "kernel",
                many && !sq_cpu_avx512())
          << printed;
      if (many)
        EXPECT_EQ(plan->steps[plan->layer_step[2]].in_reorder.prim, nullptr)
            << printed;
      sq_plan_stats stats;
      sq_plan_get_stats(plan.get(), &stats);
      bool packed = many && !sq_cpu_avx512();
      EXPECT_EQ(stats.shared_weight_bytes >= big_bytes, many && !packed);
      expect_runs_like_reference(chain.get(), plan.get(), batch, threads,
                                 twin.get());
      if (!many) continue;
      if (packed) {
        EXPECT_GE(sq_weight_cache_bytes(cache.get()), big_bytes);
        for (int layer : big)
          EXPECT_LT(nonzero(chain->layers[layer].weight), 2048);
      } else {
        EXPECT_LT(sq_weight_cache_bytes(cache.get()), big_bytes / 2);
      }
      auto one_row = plan_with(chain.get(), 1, options);
      ASSERT_TRUE(one_row);
      // The AVX2 one-row kernel takes only weights under 16 MB.
      EXPECT_EQ(step_impl(one_row.get(), one_row->layer_step[0]) == "kernel",
                sq_cpu_avx512())
          << printed_plan(one_row.get());
      if (!packed) EXPECT_LT(sq_weight_cache_bytes(cache.get()), big_bytes / 2);
      expect_runs_like_reference(chain.get(), one_row.get(), 1, threads,
                                 twin.get());
      // Every layer its own step: the ReLU runs on the kernel's output.
      options.observable = true;
      auto observable = plan_with(chain.get(), batch, options);
      ASSERT_TRUE(observable);
      EXPECT_EQ(step_impl(observable.get(), 0), "kernel");
      expect_runs_like_reference(chain.get(), observable.get(), batch, threads,
                                 twin.get());
    }
}

TEST(RuntimePerf, ManyRowsOfThreeDInputsRunTheSgemmKernel) {
  // A Linear over the last dim of [B, T, K] counts B x T rows.
  ChainMaker m({-1, 5, 2048});
  m.linear(2048).eltwise(SQ_RELU).linear(2048).linear(3);
  std::unique_ptr<sq_chain, ChainDeleter> chain(m.build());
  for (int64_t batch : {6, 7}) {
    SCOPED_TRACE(::testing::Message() << "batch " << batch);
    auto plan = plan_with(chain.get(), batch, one_thread_with(nullptr));
    ASSERT_TRUE(plan);
    for (int layer : {0, 2})
      EXPECT_EQ(step_impl(plan.get(), plan->layer_step[layer]) == "kernel",
                batch * 5 >= 32)
          << printed_plan(plan.get());
    expect_runs_like_reference(chain.get(), plan.get(), batch, 1);
  }
}

namespace {

// The VmFlags of the mapping that holds `p` (/proc/self/smaps); "" if none.
std::string vm_flags_at(const void *p) {
  std::ifstream smaps("/proc/self/smaps");
  std::string line;
  bool inside = false;
  auto at = reinterpret_cast<uintptr_t>(p);
  while (std::getline(smaps, line)) {
    unsigned long lo, hi;
    if (std::sscanf(line.c_str(), "%lx-%lx ", &lo, &hi) == 2)
      inside = lo <= at && at < hi;
    else if (inside && line.rfind("VmFlags:", 0) == 0)
      return line;
  }
  return "";
}

// The bytes on huge pages in the whole process; -1 if unknown.
long long process_huge_bytes() {
  std::ifstream rollup("/proc/self/smaps_rollup");
  std::string line;
  long long kb = -1;
  while (std::getline(rollup, line))
    if (std::sscanf(line.c_str(), "AnonHugePages: %lld kB", &kb) == 1) break;
  return kb < 0 ? -1 : kb * 1024;
}

// The bytes of the whole huge pages inside [data, data + bytes).
long long whole_huge_pages(const void *data, size_t bytes) {
  auto lo =
      (reinterpret_cast<uintptr_t>(data) + SQ_HUGE_PAGE - 1) / SQ_HUGE_PAGE;
  auto hi = (reinterpret_cast<uintptr_t>(data) + bytes) / SQ_HUGE_PAGE;
  return hi > lo ? (long long)((hi - lo) * SQ_HUGE_PAGE) : 0;
}

// A fresh private mapping of `bytes`: 4 KiB pages, whatever earlier tests
// left, since no VMA with other flags merges with it.
std::unique_ptr<char, std::function<void(char *)>> fresh_mapping(size_t bytes) {
  void *map = mmap(nullptr, bytes, PROT_READ | PROT_WRITE,
                   MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  return {map == MAP_FAILED ? nullptr : static_cast<char *>(map),
          [bytes](char *p) { munmap(p, bytes); }};
}

// Whether this kernel moves filled memory onto huge pages when asked to.
bool huge_pages_can_be_collapsed() {
  const size_t bytes = size_t{8} << 20;
  auto map = fresh_mapping(bytes);
  if (!map) return false;
  std::fill(map.get(), map.get() + bytes, 1);
  long long before = process_huge_bytes();
  sq_collapse_huge_pages(map.get(), bytes);
  return before >= 0 && process_huge_bytes() > before;
}

} // namespace

TEST(RuntimePerf, HugePagesOnlyOnRequest) {
  // Big buffers are advised to use transparent huge pages (the mapping's
  // "hg" flag) only with SEQRT_HUGE_PAGES=1; always 64-byte aligned.
  if (access("/sys/kernel/mm/transparent_hugepage/enabled", F_OK) != 0)
    GTEST_SKIP() << "this kernel has no transparent huge pages";
  const size_t bytes = size_t{16} << 20;
  for (bool wanted : {false, true}) {
    SCOPED_TRACE(wanted ? "SEQRT_HUGE_PAGES=1" : "unset");
    if (wanted)
      setenv("SEQRT_HUGE_PAGES", "1", 1);
    else
      unsetenv("SEQRT_HUGE_PAGES");
    EXPECT_EQ(sq_huge_pages_wanted(), wanted);
    std::unique_ptr<char, decltype(&free)> data(
        static_cast<char *>(sq_aligned_alloc(bytes)), free);
    ASSERT_TRUE(data);
    EXPECT_EQ(reinterpret_cast<uintptr_t>(data.get()) % 64, 0u);
    std::string flags = vm_flags_at(data.get());
    ASSERT_FALSE(flags.empty());
    EXPECT_EQ(flags.find(" hg") != std::string::npos, wanted) << flags;
  }
  unsetenv("SEQRT_HUGE_PAGES");
}

// The whole huge pages of the weights of big_mlp's two big layers as
// `weights(layer)` finds them; -1 if either lies in memory advised to use
// huge pages (an earlier test in this process, SEQRT_HUGE_PAGES=1): such
// memory is on huge pages whether it moves or not.
template <typename F> long long big_weights_huge_pages(F weights) {
  const size_t bytes = size_t{2048 * 2048} * sizeof(float);
  long long total = 0;
  for (int layer : {0, 2}) {
    if (vm_flags_at(weights(layer)).find(" hg") != std::string::npos) return -1;
    total += whole_huge_pages(weights(layer), bytes);
  }
  return total;
}

TEST(RuntimePerf, SgemmKernelWeightsMoveToHugePages) {
  // A plan whose Linear layers run the sgemm kernel moves the whole 2 MiB
  // pages of their weights onto huge pages when it is made, unless
  // SEQRT_HUGE_PAGES=0; a batch-1 plan (the one-row kernel) leaves them
  // be. Without AVX-512 those are the packed copies the kernel reads: in
  // fresh mappings (a fixed mmap threshold), 7 or 8 whole pages of each
  // 16 MiB copy. Nothing else in the process takes huge pages meanwhile
  // (THP in "madvise" mode, or none at all).
  unsetenv("SEQRT_HUGE_PAGES");
  if (!huge_pages_can_be_collapsed())
    GTEST_SKIP() << "this kernel does not collapse memory onto huge pages";
  if (!sq_cpu_avx512() && mallopt(M_MMAP_THRESHOLD, 1 << 20) != 1)
    GTEST_SKIP() << "the allocator (a sanitizer's?) ignores mallopt";
  malloc_trim(0);
  for (bool refused : {true, false}) {
    SCOPED_TRACE(refused ? "SEQRT_HUGE_PAGES=0" : "unset");
    std::unique_ptr<sq_chain, ChainDeleter> chain(big_mlp());
    // Each big array in a fresh mapping of its own (4 KiB pages, whatever
    // earlier tests left), 64 bytes past a huge page's start.
    std::vector<std::unique_ptr<char, std::function<void(char *)>>> maps;
    for (int layer : {0, 2}) {
      sq_weights &w = chain->layers[layer].weight;
      maps.push_back(
          fresh_mapping(size_t(w.count) * sizeof(float) + 2 * SQ_HUGE_PAGE));
      ASSERT_TRUE(maps.back());
      auto *moved = reinterpret_cast<float *>(
          (reinterpret_cast<uintptr_t>(maps.back().get()) + SQ_HUGE_PAGE - 1) /
              SQ_HUGE_PAGE * SQ_HUGE_PAGE +
          SQ_ALIGN);
      std::copy(w.data, w.data + w.count, moved);
      free(w.data);
      w.data = moved;
    }
    // the arrays lie in `maps`, which the chain must not free
    auto unhook = [](sq_chain *c) {
      c->layers[0].weight.data = c->layers[2].weight.data = nullptr;
    };
    std::unique_ptr<sq_chain, decltype(unhook)> unhooked(chain.get(), unhook);
    long long expected = big_weights_huge_pages(
        [&](int layer) { return chain->layers[layer].weight.data; });
    ASSERT_GE(expected, 0);
    ASSERT_GE(expected, 8 * (long long)SQ_HUGE_PAGE);
    long long before = process_huge_bytes();
    // Without AVX-512 batch 1 streams weights this big from oneDNN's copy.
    if (sq_cpu_avx512()) {
      auto one_row = plan_with(chain.get(), 1, one_thread_with(nullptr));
      ASSERT_TRUE(one_row);
      EXPECT_EQ(step_impl(one_row.get(), 0), "kernel");
      EXPECT_EQ(process_huge_bytes(), before);
    }
    if (refused) setenv("SEQRT_HUGE_PAGES", "0", 1);
    auto many = plan_with(chain.get(), 32, one_thread_with(nullptr));
    ASSERT_TRUE(many);
    EXPECT_EQ(step_impl(many.get(), 0), "kernel");
    long long moved = process_huge_bytes() - before;
    if (refused || sq_cpu_avx512()) {
      EXPECT_EQ(moved, refused ? 0 : expected);
    } else {
      EXPECT_GE(moved, 14 * (long long)SQ_HUGE_PAGE);
      EXPECT_LE(moved, 16 * (long long)SQ_HUGE_PAGE);
    }
    expect_runs_like_reference(chain.get(), many.get(), 32, 1);
    unsetenv("SEQRT_HUGE_PAGES");
  }
}

TEST(RuntimePerf, StreamedLinearWeightsMoveToHugePages) {
  // Below 32 rows a Linear with 16 MB of weights or more runs oneDNN's
  // inner product on a reordered copy; the plan moves the copy onto huge
  // pages once it is made, unless SEQRT_HUGE_PAGES=0. Big arrays get fresh
  // mappings (a fixed mmap threshold, the heap's free pages given back),
  // not memory that earlier tests' arrays left on huge pages.
  unsetenv("SEQRT_HUGE_PAGES");
  if (!huge_pages_can_be_collapsed())
    GTEST_SKIP() << "this kernel does not collapse memory onto huge pages";
  if (mallopt(M_MMAP_THRESHOLD, 1 << 20) != 1)
    GTEST_SKIP() << "the allocator (a sanitizer's?) ignores mallopt";
  malloc_trim(0);
  for (bool refused : {true, false}) {
    SCOPED_TRACE(refused ? "SEQRT_HUGE_PAGES=0" : "unset");
    std::unique_ptr<sq_chain, ChainDeleter> chain(big_mlp());
    if (refused) setenv("SEQRT_HUGE_PAGES", "0", 1);
    long long before = process_huge_bytes();
    auto plan = plan_with(chain.get(), 8, one_thread_with(nullptr));
    ASSERT_TRUE(plan);
    long long after = process_huge_bytes();
    auto copy = [&](int layer) {
      const sq_prim &main = plan->steps[plan->layer_step[layer]].main;
      void *data = nullptr;
      for (int i = 0; i < main.n_consts; i++)
        if (main.consts[i].arg == DNNL_ARG_WEIGHTS)
          EXPECT_EQ(dnnl_memory_get_data_handle(main.consts[i].memory, &data),
                    dnnl_success);
      EXPECT_NE(data, nullptr);
      EXPECT_NE(data, static_cast<void *>(chain->layers[layer].weight.data));
      return data;
    };
    EXPECT_NE(step_impl(plan.get(), plan->layer_step[0]), "kernel");
    long long expected = big_weights_huge_pages(copy);
    if (expected < 0) GTEST_SKIP() << "copies in memory advised earlier";
    ASSERT_GE(expected, 8 * (long long)SQ_HUGE_PAGE);
    EXPECT_EQ(after - before, refused ? 0 : expected);
    expect_runs_like_reference(chain.get(), plan.get(), 8, 1);
    unsetenv("SEQRT_HUGE_PAGES");
  }
}

TEST(RuntimePerf, LinearKernelReadsAlignedWeightsInPlace) {
  SKIP_WITHOUT_ONE_ROW_KERNEL();
  // The kernel reads the chain's 64-byte aligned weights where they lie,
  // with or without a weight cache; an array that is not so aligned (no
  // importer makes one) runs on oneDNN instead, still right.
  ChainMaker m({-1, 96});
  m.linear(21).eltwise(SQ_RELU).linear(6);
  std::unique_ptr<sq_chain, ChainDeleter> chain(m.build());
  sq_weights &w = chain->layers[0].weight;
  std::vector<float> values(w.data, w.data + w.count);
  free(w.data);
  std::unique_ptr<float, decltype(&free)> storage(
      static_cast<float *>(aligned_alloc(64, (values.size() + 64) * 4)), free);
  // the array lies in `storage` below, which the chain must not free
  std::unique_ptr<sq_weights, void (*)(sq_weights *)> unhook(
      &w, [](sq_weights *x) { x->data = nullptr; });
  size_t bytes = values.size() * sizeof(float);
  for (int offset : {0, 1, 3, 8, 16}) {
    SCOPED_TRACE(::testing::Message() << "offset " << offset << " floats");
    w.data = storage.get() + offset;
    std::copy(values.begin(), values.end(), w.data);
    bool aligned = offset % 16 == 0;
    auto cache = new_cache(false);
    for (sq_weight_cache *c : {(sq_weight_cache *)nullptr, cache.get()}) {
      auto plan = plan_with(chain.get(), 1, one_thread_with(c));
      ASSERT_TRUE(plan);
      EXPECT_EQ(step_impl(plan.get(), 0) == "kernel", aligned);
      sq_plan_stats stats;
      sq_plan_get_stats(plan.get(), &stats);
      if (aligned) EXPECT_GE(stats.shared_weight_bytes, bytes);
      expect_runs_like_reference(chain.get(), plan.get(), 1, 1);
    }
  }
}

TEST(RuntimePerf, WinogradOptionLiftsTheMemoryLimits) {
  SKIP_WITHOUT_AVX512();
  // By default Winograd stays off where it costs memory: a 1.2 MB kernel
  // (4.7 MB as Winograd weights) and a scratchpad over 8 MiB, plus 2 MiB
  // for each thread beyond the first (its size is oneDNN's choice for the
  // CPU: 11 MB for 64->128 at 8x8 at batch 32 on an AMD EPYC, under 8 MiB
  // on an Intel Xeon, where 64->64 at 16x16 on 2 threads has 9.2 MB and
  // 128->128 at 32x32 on 1 thread is over);
  // sq_plan_options.winograd lifts both limits. Maps that fill the kernel's
  // output tiles badly stay direct either way: 6x6 in the 4x4 tiles of
  // batch 8's kernel (13x13 still pays), 3x3 in the 2x2 ones of batch 1's.
  struct Case {
    int64_t in, out, side, batch;
    int threads;
    bool by_default, with_option;
    bool up_to_scratch; /* by_default only within the scratchpad limit */
  } cases[] = {{128, 256, 14, 1, 1, false, true, false},
               {64, 128, 8, 32, 1, true, true, true},
               {64, 128, 8, 32, 2, true, true, true},
               {64, 64, 16, 32, 2, true, true, true},
               {128, 128, 32, 32, 1, false, true, true},
               {64, 128, 8, 1, 1, true, true, false},
               {64, 64, 6, 1, 1, true, true, false},
               {64, 64, 13, 8, 1, true, true, false},
               {64, 64, 6, 8, 1, false, false, false},
               {64, 64, 3, 1, 1, false, false, false}};
  for (const Case &c : cases) {
    const size_t max_default_scratch =
        ((size_t)8 << 20) + (size_t)(c.threads - 1) * ((size_t)2 << 20);
    ChainMaker m({-1, c.in, c.side, c.side});
    m.conv(c.out, {{3, 3}, {1, 1}, {1, 1}, {1, 1}, {1, 1}}).eltwise(SQ_RELU);
    std::unique_ptr<sq_chain, ChainDeleter> chain(m.build());
    size_t wino_scratch = 0;
    for (bool option : {true, false}) {
      sq_plan_options options = one_thread_with(nullptr);
      options.threads = c.threads;
      options.winograd = option;
      auto plan = plan_with(chain.get(), c.batch, options);
      ASSERT_TRUE(plan);
      sq_plan_stats stats;
      sq_plan_get_stats(plan.get(), &stats);
      if (option) wino_scratch = stats.scratchpad_bytes;
      bool expected =
          option ? c.with_option
                 : c.by_default && (!c.up_to_scratch ||
                                    wino_scratch <= max_default_scratch);
      std::string printed = printed_plan(plan.get());
      EXPECT_EQ(printed.find("wino") != std::string::npos, expected)
          << c.in << "->" << c.out << " at " << c.side << ", batch " << c.batch
          << ", " << c.threads << " threads, Winograd scratchpad "
          << wino_scratch << " bytes\n"
          << printed;
      if (c.batch == 1)
        expect_runs_like_reference(chain.get(), plan.get(), 1, 1);
    }
  }
}

namespace {

// VGG-like convolutions at batch 1: the first reads the 3-channel input,
// 40 channels fill part of a 16-channel block, an odd height makes a pool
// read across the bands' border, and the last maps are thin enough for
// rows of zeros in place of padding; a padded first pool has padding in
// its bands too.
sq_chain *banded_net(int64_t height, int64_t width, Window first_pool) {
  Window same{{3, 3}, {1, 1}, {1, 1}, {1, 1}, {1, 1}};
  ChainMaker m({-1, 3, height, width});
  m.conv(32, same).eltwise(SQ_RELU);
  m.conv(40, same).eltwise(SQ_RELU);
  m.pool(SQ_MAXPOOL, first_pool);
  m.conv(64, same).eltwise(SQ_RELU);
  m.conv(64, same).eltwise(SQ_RELU);
  m.pool(SQ_MAXPOOL, {{2, 2}, {2, 2}});
  m.flatten().linear(10);
  return m.build();
}

} // namespace

TEST(RuntimePerf, BatchOneConvolutionsRunInBands) {
  SKIP_WITHOUT_AVX512();
  // On 2 threads at batch 1 the convolutions and pools run as one step of
  // two bands of rows; its output matches the reference on 2 threads and
  // on 1 (the bands then run one after the other).
  Window pool2{{2, 2}, {2, 2}}, pool3{{3, 3}, {2, 2}, {1, 1}, {1, 1}, {1, 1}};
  struct Case {
    int64_t height, width;
    Window first_pool;
  } cases[] = {{32, 32, pool2}, {30, 20, pool2}, {30, 20, pool3}};
  for (const Case &c : cases) {
    std::unique_ptr<sq_chain, ChainDeleter> chain(
        banded_net(c.height, c.width, c.first_pool));
    auto plan = plan_with(chain.get(), 1, threads_with(2));
    ASSERT_TRUE(plan);
    std::string printed = printed_plan(plan.get()),
                impl = step_impl(plan.get(), 0);
    EXPECT_NE(printed.find("step 0: layers 0..9 "), std::string::npos)
        << printed;
    EXPECT_EQ(impl.find("2 bands:"), 0u) << printed;
    EXPECT_NE(impl.find("wino"), std::string::npos) << printed;
    for (int threads : {2, 1})
      expect_runs_like_reference(chain.get(), plan.get(), 1, threads);
  }
}

namespace {

// An M5-like 1-D CNN at batch 1: a strided wide first convolution over
// the raw signal, pools whose windows do not divide the length, padding
// at both ends, 40 channels that fill part of a block, then layers that
// are not convolutions or max pools and end the group.
sq_chain *banded_signal_net(int64_t in_channels, int64_t samples) {
  ChainMaker m({-1, in_channels, samples});
  m.conv(32, {{80}, {4}}).eltwise(SQ_RELU);
  m.pool(SQ_MAXPOOL, {{4}, {4}});
  m.conv(40, {{3}, {1}, {1}, {1}, {1}}).eltwise(SQ_RELU);
  m.pool(SQ_MAXPOOL, {{3}, {2}, {1}, {1}, {1}});
  m.conv(64, {{3}, {1}, {2}, {0}, {0}}).eltwise(SQ_RELU);
  m.pool(SQ_MAXPOOL, {{4}, {4}});
  m.pool(SQ_AVGPOOL, {{3}, {3}});
  m.flatten().linear(10);
  return m.build();
}

} // namespace

TEST(RuntimePerf, BatchOneSignalConvolutionsRunInBands) {
  // oneDNN splits a batch-1 1-D convolution over threads only by blocks
  // of output channels, and one with 32 of them not at all; in bands each
  // thread takes its half of the samples through every convolution and
  // max pool. The output matches the reference on 2 threads and on 1.
  for (int64_t in_channels : {1, 3}) {
    for (int64_t samples : {8000, 1999}) {
      std::unique_ptr<sq_chain, ChainDeleter> chain(
          banded_signal_net(in_channels, samples));
      auto plan = plan_with(chain.get(), 1, threads_with(2));
      ASSERT_TRUE(plan);
      std::string printed = printed_plan(plan.get()),
                  impl = step_impl(plan.get(), 0);
      EXPECT_NE(printed.find("step 0: layers 0..8 "), std::string::npos)
          << printed;
      EXPECT_EQ(impl.find("2 bands:"), 0u) << printed;
      EXPECT_EQ(printed.find("impl=ref"), std::string::npos) << printed;
      // Without AVX-512 the pools run seqrt's kernel (pool_kernel.c).
      if (!sq_cpu_avx512())
        EXPECT_NE(impl.find("+kernel+"), std::string::npos) << printed;
      for (int threads : {2, 1})
        expect_runs_like_reference(chain.get(), plan.get(), 1, threads);
    }
  }
  // Not at a larger batch, on one thread, or in an observable plan.
  std::unique_ptr<sq_chain, ChainDeleter> chain(banded_signal_net(1, 8000));
  struct Case {
    int64_t batch;
    int threads;
    bool observable;
  } cases[] = {{2, 2, false}, {1, 1, false}, {1, 2, true}};
  for (const Case &c : cases) {
    auto plan =
        plan_with(chain.get(), c.batch, threads_with(c.threads, c.observable));
    ASSERT_TRUE(plan);
    std::string printed = printed_plan(plan.get());
    EXPECT_EQ(printed.find("bands"), std::string::npos) << printed;
  }
}

TEST(RuntimePerf, BandsOnlyWhereTheyPay) {
  SKIP_WITHOUT_AVX512();
  std::unique_ptr<sq_chain, ChainDeleter> chain(
      banded_net(32, 32, {{2, 2}, {2, 2}}));
  auto has_bands = [](const sq_plan *plan) {
    return printed_plan(plan).find("bands") != std::string::npos;
  };
  // Larger batches split over the batch, one thread has nothing to split,
  // an observable plan shows every layer.
  EXPECT_FALSE(has_bands(plan_with(chain.get(), 2, threads_with(2)).get()));
  EXPECT_FALSE(has_bands(plan_with(chain.get(), 1, threads_with(1)).get()));
  EXPECT_FALSE(
      has_bands(plan_with(chain.get(), 1, threads_with(2, true)).get()));
  // Without Winograd in a band (5x5 kernels) oneDNN's own 2-thread
  // convolutions are as fast.
  ChainMaker m({-1, 3, 32, 32});
  m.conv(32, {{5, 5}, {1, 1}, {1, 1}, {2, 2}, {2, 2}}).eltwise(SQ_RELU);
  m.conv(32, {{5, 5}, {1, 1}, {1, 1}, {2, 2}, {2, 2}}).eltwise(SQ_RELU);
  std::unique_ptr<sq_chain, ChainDeleter> direct(m.build());
  auto plan = plan_with(direct.get(), 1, threads_with(2));
  EXPECT_FALSE(has_bands(plan.get()));
  expect_runs_like_reference(direct.get(), plan.get(), 1, 2);
  // SEQRT_BANDS=0 turns them off.
  setenv("SEQRT_BANDS", "0", 1);
  EXPECT_FALSE(has_bands(plan_with(chain.get(), 1, threads_with(2)).get()));
  unsetenv("SEQRT_BANDS");
  EXPECT_TRUE(has_bands(plan_with(chain.get(), 1, threads_with(2)).get()));
}

TEST(RuntimePerf, WithoutAvx512PlansSuitAvx2) {
  // With oneDNN held to AVX2 (as on an AVX2-only CPU): no Winograd and no
  // bands (oneDNN 2.6 has Winograd only with AVX-512, and bands on its
  // layouts ran its reference kernels, ~1000x slower); Linear layers from
  // 32 rows run seqrt's GEMM whatever their weights (no brgemm matmul),
  // at batch 1 the AVX2 form of seqrt's one-row kernel (37 inputs: masked
  // last columns; 7 outputs: a block of 4 and single rows), between them
  // oneDNN; few-channel convolutions run the AVX2 form of seqrt's kernel
  // (8-lane chunks: odd widths, padding, 1-D).
  if (!hold_onednn_to_avx2())
    GTEST_SKIP() << "oneDNN cannot be held to AVX2 here (a CPU without it, "
                    "or an ISA fixed earlier in this process)";
  EXPECT_FALSE(sq_cpu_avx512());
  std::unique_ptr<sq_chain, ChainDeleter> convs(
      banded_net(32, 32, {{2, 2}, {2, 2}}));
  for (int threads : {1, 2}) {
    auto plan = plan_with(convs.get(), 1, threads_with(threads));
    ASSERT_TRUE(plan);
    std::string printed = printed_plan(plan.get());
    EXPECT_EQ(printed.find("bands"), std::string::npos) << printed;
    EXPECT_EQ(printed.find("wino"), std::string::npos) << printed;
    EXPECT_EQ(printed.find("impl=ref"), std::string::npos) << printed;
    expect_runs_like_reference(convs.get(), plan.get(), 1, threads);
  }
  ChainMaker m({-1, 784});
  m.linear(512).eltwise(SQ_RELU).linear(256).eltwise(SQ_RELU).linear(10);
  std::unique_ptr<sq_chain, ChainDeleter> mlp(m.build());
  for (int64_t batch : {1, 31, 32, 64}) {
    SCOPED_TRACE(::testing::Message() << "batch " << batch);
    auto plan = plan_with(mlp.get(), batch, threads_with(2));
    ASSERT_TRUE(plan);
    ASSERT_EQ(plan->n_steps, 3) << printed_plan(plan.get());
    for (int step = 0; step < 3; step++)
      EXPECT_EQ(step_impl(plan.get(), step) == "kernel",
                batch >= 32 || batch == 1)
          << printed_plan(plan.get());
    expect_runs_like_reference(mlp.get(), plan.get(), batch, 2);
  }
  ChainMaker odd({-1, 37});
  odd.linear(7).eltwise(SQ_RELU).linear(5);
  std::unique_ptr<sq_chain, ChainDeleter> odd_mlp(odd.build());
  for (int threads : {1, 2}) {
    auto plan = plan_with(odd_mlp.get(), 1, threads_with(threads));
    ASSERT_TRUE(plan);
    ASSERT_EQ(plan->n_steps, 2) << printed_plan(plan.get());
    for (int step = 0; step < 2; step++)
      EXPECT_EQ(step_impl(plan.get(), step), "kernel")
          << printed_plan(plan.get());
    expect_runs_like_reference(odd_mlp.get(), plan.get(), 1, threads);
  }
  ChainMaker lenet({-1, 1, 32, 32});
  lenet.conv(6, {{5, 5}}).eltwise(SQ_RELU).pool(SQ_MAXPOOL, {{2, 2}, {2, 2}});
  ChainMaker padded({-1, 3, 9, 37});
  padded.conv(8, {{3, 3}, {1, 1}, {1, 1}, {1, 1}, {1, 1}})
      .eltwise(SQ_RELU)
      .pool(SQ_MAXPOOL, {{2, 2}, {2, 2}});
  ChainMaker one_d({-1, 2, 50});
  one_d.conv(5, {{7}, {1}, {1}, {3}, {2}}).eltwise(SQ_RELU);
  for (ChainMaker *few : {&lenet, &padded, &one_d}) {
    std::unique_ptr<sq_chain, ChainDeleter> chain(few->build());
    for (int64_t batch : {1, 3}) {
      auto plan = plan_with(chain.get(), batch, threads_with(2));
      ASSERT_TRUE(plan);
      ASSERT_EQ(plan->n_steps, 1) << printed_plan(plan.get());
      EXPECT_EQ(step_impl(plan.get(), 0), "kernel") << printed_plan(plan.get());
      expect_runs_like_reference(chain.get(), plan.get(), batch, 2);
    }
  }
}

TEST(RuntimePerf, WithoutAvx512ManyRowsRunTheGemmOnPackedWeights) {
  // seqrt's GEMM (oneDNN held to AVX2): rows in tiles of 6 and columns in
  // panels of 16, both cut at the end; rows packed (150 and 140 columns)
  // or read in place (up to 8 panels); K in blocks beyond 4096 (8200:
  // two), rows in blocks beyond 8 MiB of packed input (520 rows of 4100:
  // two); threads split the columns (150: 10 panels) or the rows; a ReLU
  // fused or not; [B, T, K] inputs; 1 and 2 threads; weights packed into a
  // cache and shared by a second plan, or owned by the plan.
  if (!hold_onednn_to_avx2())
    GTEST_SKIP() << "oneDNN cannot be held to AVX2 here (a CPU without it, "
                    "or an ISA fixed earlier in this process)";
  ChainMaker deep_maker({-1, 8200});
  deep_maker.linear(150).eltwise(SQ_RELU).linear(21).linear(3);
  ChainMaker rows3_maker({-1, 7, 40});
  rows3_maker.linear(37).eltwise(SQ_RELU).linear(140);
  std::unique_ptr<sq_chain, ChainDeleter> deep(deep_maker.build()),
      rows3(rows3_maker.build());
  struct Case {
    const sq_chain *chain;
    int64_t batch;
    int steps;
  };
  for (Case c : {Case{deep.get(), 520, 3}, Case{deep.get(), 33, 3},
                 Case{rows3.get(), 5, 2}})
    for (int threads : {1, 2})
      for (bool cached : {false, true}) {
        SCOPED_TRACE(::testing::Message()
                     << "batch " << c.batch << ", " << threads << " threads"
                     << (cached ? ", cached" : ""));
        const sq_chain *chain = c.chain;
        auto cache = new_cache(false);
        sq_plan_options options = threads_with(threads);
        if (cached) options.cache = cache.get();
        auto plan = plan_with(chain, c.batch, options);
        ASSERT_TRUE(plan);
        ASSERT_EQ(plan->n_steps, c.steps) << printed_plan(plan.get());
        for (int step = 0; step < c.steps; step++)
          EXPECT_EQ(step_impl(plan.get(), step), "kernel")
              << printed_plan(plan.get());
        expect_runs_like_reference(chain, plan.get(), c.batch, threads);
        if (!cached) continue;
        size_t packed = sq_weight_cache_bytes(cache.get());
        EXPECT_GT(packed, 0u);
        auto other = plan_with(chain, c.batch + 1, options);
        ASSERT_TRUE(other);
        EXPECT_EQ(sq_weight_cache_bytes(cache.get()), packed);
        expect_runs_like_reference(chain, other.get(), c.batch + 1, threads);
      }
}

// A convolution (with a ReLU after it or not) that one of seqrt's kernels
// runs as the first step, fused or observable, on 1 and 2 threads.
struct KernelConv {
  Dims input;
  int64_t out, batch;
  Window window;
  bool relu, bias;
};

void expect_kernel_runs(const KernelConv &c) {
  ChainMaker m(c.input);
  m.conv(c.out, c.window, 1, c.bias);
  if (c.relu) m.eltwise(SQ_RELU);
  m.flatten().linear(5);
  std::unique_ptr<sq_chain, ChainDeleter> chain(m.build());
  for (int threads : {1, 2})
    for (bool observable : {false, true}) {
      SCOPED_TRACE(::testing::Message()
                   << c.input[1] << "->" << c.out << ", rank " << c.input.size()
                   << ", width " << c.input.back() << ", batch " << c.batch
                   << ", " << threads << " threads"
                   << (observable ? ", observable" : ""));
      auto plan =
          plan_with(chain.get(), c.batch, threads_with(threads, observable));
      ASSERT_TRUE(plan);
      EXPECT_EQ(step_impl(plan.get(), 0), "kernel") << printed_plan(plan.get());
      EXPECT_EQ(plan->layer_step[1], c.relu && !observable ? 0 : 1);
      expect_runs_like_reference(chain.get(), plan.get(), c.batch, threads);
    }
}

// A convolution and an activation after it that stay on oneDNN.
struct OneDnnConv {
  Dims input;
  int64_t out, groups;
  Window window;
  sq_kind act;
};

void expect_onednn_runs(const OneDnnConv &o) {
  SCOPED_TRACE(::testing::Message()
               << o.input[1] << "->" << o.out << ", kernel "
               << o.window.kernel[0] << ", groups " << o.groups);
  ChainMaker m(o.input);
  m.conv(o.out, o.window, o.groups).eltwise(o.act);
  std::unique_ptr<sq_chain, ChainDeleter> chain(m.build());
  auto plan = plan_with(chain.get(), 1, threads_with(1));
  ASSERT_TRUE(plan);
  EXPECT_NE(step_impl(plan.get(), 0), "kernel") << printed_plan(plan.get());
  expect_runs_like_reference(chain.get(), plan.get(), 1, 1);
}

TEST(RuntimePerf, WithoutAvx512WideFewChannelConvolutionsRunThePatchKernel) {
  // Where oneDNN 2.6 on AVX2 has no jitted kernel and falls back to im2col
  // and a gemm (fewer than 8 channels in, padded kernels 9 and wider), the
  // patch kernel runs with multiples of 16 channels out: 2-D and 1-D,
  // strides 1 to 4, unequal kernels, strides and pads, no bias, output rows
  // of 1 to 50 tiles (tiles of 1 to 6 columns), batches, 1 and 2 threads,
  // fused with its ReLU and observable.
  if (!hold_onednn_to_avx2())
    GTEST_SKIP() << "oneDNN cannot be held to AVX2 here";
  const KernelConv cases[] = {
      {{-1, 3, 35, 29},
       64,
       2,
       {{11, 11}, {4, 4}, {1, 1}, {2, 2}, {2, 2}},
       true,
       true},
      {{-1, 1, 30, 23},
       16,
       1,
       {{9, 9}, {1, 1}, {1, 1}, {4, 4}, {4, 4}},
       false,
       true},
      {{-1, 4, 40, 37},
       32,
       3,
       {{9, 11}, {2, 3}, {1, 1}, {0, 5}, {3, 0}},
       true,
       false},
      {{-1, 3, 5, 5},
       16,
       2,
       {{9, 9}, {1, 1}, {1, 1}, {2, 2}, {2, 2}},
       true,
       true},
      {{-1, 1, 300}, 32, 2, {{9}, {1}, {1}, {4}, {4}}, true, true},
      {{-1, 3, 250}, 16, 1, {{11}, {2}, {1}, {5}, {3}}, false, true}};
  for (const KernelConv &c : cases) expect_kernel_runs(c);
  // Outside it: oneDNN's jitted kernels (3x3, or 11x11 unpadded), 24 or 8
  // channels, groups, dilation, a Tanh after it.
  const Dims image = {-1, 3, 40, 40};
  const OneDnnConv others[] = {
      {image, 32, 1, {{3, 3}, {1, 1}, {1, 1}, {1, 1}, {1, 1}}, SQ_RELU},
      {image, 32, 1, {{11, 11}, {4, 4}, {1, 1}, {0, 0}, {0, 0}}, SQ_RELU},
      {image, 24, 1, {{11, 11}, {4, 4}, {1, 1}, {2, 2}, {2, 2}}, SQ_RELU},
      {{-1, 8, 40, 40},
       32,
       1,
       {{11, 11}, {4, 4}, {1, 1}, {2, 2}, {2, 2}},
       SQ_RELU},
      {{-1, 4, 40, 40},
       32,
       2,
       {{11, 11}, {4, 4}, {1, 1}, {2, 2}, {2, 2}},
       SQ_RELU},
      {image, 32, 1, {{5, 5}, {1, 1}, {3, 3}, {6, 6}, {6, 6}}, SQ_RELU},
      {image, 32, 1, {{11, 11}, {4, 4}, {1, 1}, {2, 2}, {2, 2}}, SQ_TANH}};
  for (const OneDnnConv &o : others) expect_onednn_runs(o);
}

TEST(RuntimePerf, WithoutAvx512ThreeByThreeConvolutionsRunWinograd) {
  // oneDNN 2.6 has Winograd only with AVX-512; without it 3x3 stride-1
  // convolutions with 32+ channels in multiples of 8 run seqrt's F(2x2,
  // 3x3) kernel on nChw8c, with the ReLUs after them: odd maps (tiles
  // past the edge), pads of 0 to 2 on either side, no bias, batches whose
  // tiles take several chunks, 1 and 2 threads, fused and observable.
  if (!hold_onednn_to_avx2())
    GTEST_SKIP() << "oneDNN cannot be held to AVX2 here";
  const KernelConv cases[] = {{{-1, 32, 9, 7},
                               32,
                               1,
                               {{3, 3}, {1, 1}, {1, 1}, {1, 1}, {1, 1}},
                               true,
                               true},
                              {{-1, 40, 13, 10},
                               64,
                               3,
                               {{3, 3}, {1, 1}, {1, 1}, {0, 2}, {2, 0}},
                               false,
                               true},
                              {{-1, 64, 33, 31},
                               32,
                               2,
                               {{3, 3}, {1, 1}, {1, 1}, {0, 0}, {0, 0}},
                               true,
                               false}};
  for (const KernelConv &c : cases) expect_kernel_runs(c);
  // Outside it: 5x5, stride 2, groups, 24 channels, 36 (not a multiple of
  // 8), a Tanh after it.
  const OneDnnConv others[] = {{{-1, 32, 12, 12},
                                32,
                                1,
                                {{5, 5}, {1, 1}, {1, 1}, {2, 2}, {2, 2}},
                                SQ_RELU},
                               {{-1, 32, 12, 12},
                                32,
                                1,
                                {{3, 3}, {2, 2}, {1, 1}, {1, 1}, {1, 1}},
                                SQ_RELU},
                               {{-1, 32, 12, 12},
                                32,
                                2,
                                {{3, 3}, {1, 1}, {1, 1}, {1, 1}, {1, 1}},
                                SQ_RELU},
                               {{-1, 24, 12, 12},
                                32,
                                1,
                                {{3, 3}, {1, 1}, {1, 1}, {1, 1}, {1, 1}},
                                SQ_RELU},
                               {{-1, 36, 12, 12},
                                32,
                                1,
                                {{3, 3}, {1, 1}, {1, 1}, {1, 1}, {1, 1}},
                                SQ_RELU},
                               {{-1, 32, 12, 12},
                                32,
                                1,
                                {{3, 3}, {1, 1}, {1, 1}, {1, 1}, {1, 1}},
                                SQ_TANH}};
  for (const OneDnnConv &o : others) expect_onednn_runs(o);
  // Its transformed weights (16/9 of the plain ones, which stay) only under
  // 1 MiB of weights, or with the winograd option; plans share them.
  ChainMaker big({-1, 160, 8, 8});
  big.conv(200, {{3, 3}, {1, 1}, {1, 1}, {1, 1}, {1, 1}}).eltwise(SQ_RELU);
  std::unique_ptr<sq_chain, ChainDeleter> chain(big.build());
  auto cache = new_cache(false);
  sq_plan_options options = threads_with(1);
  options.cache = cache.get();
  auto plan = plan_with(chain.get(), 1, options);
  ASSERT_TRUE(plan);
  EXPECT_NE(step_impl(plan.get(), 0), "kernel") << printed_plan(plan.get());
  options.winograd = true;
  for (int64_t batch : {1, 2}) {
    auto lifted = plan_with(chain.get(), batch, options);
    ASSERT_TRUE(lifted);
    EXPECT_EQ(step_impl(lifted.get(), 0), "kernel")
        << printed_plan(lifted.get());
    sq_plan_stats stats;
    sq_plan_get_stats(lifted.get(), &stats);
    EXPECT_EQ(stats.owned_weight_bytes,
              batch == 1 ? (size_t)16 * 160 * 200 * sizeof(float) : 0u);
    expect_runs_like_reference(chain.get(), lifted.get(), batch, 1);
  }
}

TEST(RuntimePerf, WithoutAvx512MaxPoolsOnBlocksRunTheKernel) {
  // oneDNN 2.6's AVX2 pooling is slow (8 x 28 x 28, 2x2 stride 2: 5.5 us):
  // there a MaxPool after a convolution that writes 8-channel blocks runs
  // seqrt's kernel, any window, padding and dilation, channels padded to
  // the block or not, split over two threads when big enough.
  if (!hold_onednn_to_avx2())
    GTEST_SKIP() << "oneDNN cannot be held to AVX2 here";
  Window same{{3, 3}, {1, 1}, {1, 1}, {1, 1}, {1, 1}};
  struct Case {
    int64_t channels, side;
    Window pool;
  } cases[] = {{6, 28, {{2, 2}, {2, 2}}},
               {16, 80, {{3, 3}, {2, 2}, {1, 1}, {1, 1}, {1, 1}}},
               {8, 20, {{3, 3}, {1, 1}, {2, 2}, {2, 2}, {2, 2}}},
               {6, 21, {{3, 3}, {2, 2}, {1, 1}, {0, 0}, {1, 1}}}};
  for (const Case &c : cases) {
    ChainMaker m({-1, 3, c.side, c.side});
    m.conv(c.channels, same).eltwise(SQ_RELU).pool(SQ_MAXPOOL, c.pool);
    std::unique_ptr<sq_chain, ChainDeleter> chain(m.build());
    for (int threads : {1, 2})
      for (int64_t batch : {1, 3}) {
        SCOPED_TRACE(::testing::Message()
                     << c.channels << " channels at " << c.side << ", batch "
                     << batch << ", " << threads << " threads");
        auto plan = plan_with(chain.get(), batch, threads_with(threads));
        ASSERT_TRUE(plan);
        EXPECT_EQ(step_impl(plan.get(), plan->layer_step[2]), "kernel")
            << printed_plan(plan.get());
        expect_runs_like_reference(chain.get(), plan.get(), batch, threads);
      }
  }
  ChainMaker m1d({-1, 3, 100});
  m1d.conv(8, {{3}, {1}, {1}, {1}, {1}}).pool(SQ_MAXPOOL, {{4}, {4}});
  std::unique_ptr<sq_chain, ChainDeleter> chain(m1d.build());
  auto plan = plan_with(chain.get(), 2, threads_with(1));
  ASSERT_TRUE(plan);
  EXPECT_EQ(step_impl(plan.get(), plan->layer_step[1]), "kernel")
      << printed_plan(plan.get());
  expect_runs_like_reference(chain.get(), plan.get(), 2, 1);
}
