// Plans and execs: layer ranges with callbacks, fused-plan limits, threads,
// shared plans across threads, errors and memory accounting.
#include <memory>
#include <thread>

#include "test_runtime_util.h"

using namespace sqtest;

namespace {

// conv, bn, relu, pool, conv, relu, pool, flatten, linear, relu, linear,
// softmax: blocked layouts inside, plain at the ends.
sq_chain *conv_net() {
  ChainMaker m({-1, 3, 12, 12});
  m.conv(16, {{3, 3}, {1, 1}, {1, 1}, {1, 1}, {}}).batchnorm().eltwise(SQ_RELU);
  m.pool(SQ_MAXPOOL, {{2, 2}, {2, 2}});
  m.conv(32, {{3, 3}, {1, 1}, {1, 1}, {1, 1}, {}}).eltwise(SQ_RELU);
  m.pool(SQ_AVGPOOL, {{2, 2}, {2, 2}});
  m.flatten().linear(20).eltwise(SQ_TANH).linear(10).softmax(SQ_SOFTMAX, 1);
  return m.build();
}

struct Planned {
  std::unique_ptr<sq_plan, PlanDeleter> plan;
  std::unique_ptr<sq_exec, ExecDeleter> exec;
};

Planned make_plan(const sq_chain *chain, int64_t batch, bool observable) {
  Planned p;
  sq_plan *plan = nullptr;
  sq_exec *exec = nullptr;
  EXPECT_EQ(sq_plan_create(chain, batch, observable, &plan), SEQRT_OK)
      << seqrt_last_error();
  p.plan.reset(plan);
  if (plan)
    EXPECT_EQ(sq_exec_create(plan, &exec), SEQRT_OK) << seqrt_last_error();
  p.exec.reset(exec);
  return p;
}

struct RangeSeen {
  const std::vector<Tensor> *ref;
  std::vector<int> indices;
  std::vector<std::string> failures;
  int stop_at = -1;
};

int record_layer(void *user, int index, const char *name,
                 const seqrt_tensor *view) {
  RangeSeen *s = static_cast<RangeSeen *>(user);
  s->indices.push_back(index);
  const Tensor &want = (*s->ref)[(size_t)index + 1];
  if (view->rank != (int)want.dims.size() ||
      !std::equal(want.dims.begin(), want.dims.end(), view->dims))
    s->failures.push_back(std::string(name) + ": wrong view shape");
  else if (auto r =
               all_close(static_cast<const float *>(view->data), want.data);
           !r)
    s->failures.push_back(std::string(name) + ": " + r.message());
  return index == s->stop_at;
}

} // namespace

TEST(RuntimePlan, LayerRangesWithCallbacks) {
  std::unique_ptr<sq_chain, ChainDeleter> chain(conv_net());
  const int n = chain->n_layers;
  for (int64_t batch : {1, 5}) {
    Planned p = make_plan(chain.get(), batch, true);
    ASSERT_TRUE(p.exec);
    std::vector<float> input =
        random_vector(count_of(shape_dims(chain->layers[0].in, batch)), 7);
    std::vector<Tensor> ref = ref_chain(chain.get(), batch, input);
    const int ranges[][2] = {{0, n - 1}, {0, 0},        {1, 3}, {2, 6},
                             {3, 3},     {4, 8},        {7, 7}, {7, 9},
                             {5, n - 1}, {n - 1, n - 1}};
    for (const auto &range : ranges) {
      int first = range[0], last = range[1];
      SCOPED_TRACE(::testing::Message()
                   << "batch " << batch << " layers " << first << ".." << last);
      RangeSeen seen{&ref};
      std::vector<float> output(ref[(size_t)last + 1].data.size(), NAN);
      sq_run_args args{};
      args.first = first;
      args.last = last;
      args.input = ref[(size_t)first].data.data();
      args.output = output.data();
      args.callback = record_layer;
      args.user = &seen;
      ASSERT_EQ(sq_exec_run(p.exec.get(), &args), SEQRT_OK)
          << seqrt_last_error();
      EXPECT_TRUE(all_close(output.data(), ref[(size_t)last + 1].data));
      std::vector<int> expected;
      for (int i = first; i <= last; i++) expected.push_back(i);
      EXPECT_EQ(seen.indices, expected);
      for (const std::string &f : seen.failures) ADD_FAILURE() << f;
      // Without a callback the range gives the same output.
      std::fill(output.begin(), output.end(), NAN);
      args.callback = nullptr;
      ASSERT_EQ(sq_exec_run(p.exec.get(), &args), SEQRT_OK)
          << seqrt_last_error();
      EXPECT_TRUE(all_close(output.data(), ref[(size_t)last + 1].data));
    }
  }
}

TEST(RuntimePlan, CallbackStopsTheRun) {
  std::unique_ptr<sq_chain, ChainDeleter> chain(conv_net());
  Planned p = make_plan(chain.get(), 2, true);
  ASSERT_TRUE(p.exec);
  std::vector<float> input = random_vector(2 * 3 * 12 * 12, 3);
  std::vector<Tensor> ref = ref_chain(chain.get(), 2, input);
  std::vector<float> output(ref.back().data.size());
  RangeSeen seen{&ref};
  seen.stop_at = 4;
  sq_run_args args{};
  args.first = 1;
  args.last = chain->n_layers - 1;
  args.input = ref[1].data.data();
  args.output = output.data();
  args.callback = record_layer;
  args.user = &seen;
  ASSERT_EQ(sq_exec_run(p.exec.get(), &args), SEQRT_OK) << seqrt_last_error();
  EXPECT_EQ(seen.indices, (std::vector<int>{1, 2, 3, 4}));
  for (const std::string &f : seen.failures) ADD_FAILURE() << f;
}

TEST(RuntimePlan, FusedPlanRunsOnlyTheWholeChain) {
  std::unique_ptr<sq_chain, ChainDeleter> chain(conv_net());
  Planned p = make_plan(chain.get(), 1, false);
  ASSERT_TRUE(p.exec);
  sq_plan_stats stats;
  sq_plan_get_stats(p.plan.get(), &stats);
  // conv+bn... : conv(+no fusion of bn), bn(+relu? no), pool, conv+relu,
  // pool, flatten absorbed or reorder, linear+tanh, linear, softmax.
  EXPECT_LT(stats.steps, chain->n_layers);
  std::vector<float> input(3 * 12 * 12, 0.5f), output(10);
  sq_run_args args{};
  args.first = 0;
  args.last = 3;
  args.input = input.data();
  args.output = output.data();
  EXPECT_EQ(sq_exec_run(p.exec.get(), &args), SEQRT_ERR_INVALID_ARGUMENT);
  EXPECT_NE(std::string(seqrt_last_error()).find("fused"), std::string::npos);
  args.last = chain->n_layers - 1;
  args.callback = record_layer;
  EXPECT_EQ(sq_exec_run(p.exec.get(), &args), SEQRT_ERR_INVALID_ARGUMENT);
  args.callback = nullptr;
  args.last = chain->n_layers;
  EXPECT_EQ(sq_exec_run(p.exec.get(), &args), SEQRT_ERR_INVALID_ARGUMENT);
  args.last = chain->n_layers - 1;
  args.input = nullptr;
  EXPECT_EQ(sq_exec_run(p.exec.get(), &args), SEQRT_ERR_INVALID_ARGUMENT);
}

TEST(RuntimePlan, ObservableHasOneStepPerLayer) {
  std::unique_ptr<sq_chain, ChainDeleter> chain(conv_net());
  Planned p = make_plan(chain.get(), 1, true);
  ASSERT_TRUE(p.plan);
  sq_plan_stats stats;
  sq_plan_get_stats(p.plan.get(), &stats);
  EXPECT_EQ(stats.steps, chain->n_layers);
}

TEST(RuntimePlan, ThreadsArgument) {
  std::unique_ptr<sq_chain, ChainDeleter> chain(conv_net());
  Planned p = make_plan(chain.get(), 3, false);
  ASSERT_TRUE(p.exec);
  std::vector<float> input = random_vector(3 * 3 * 12 * 12, 11);
  std::vector<Tensor> ref = ref_chain(chain.get(), 3, input);
  for (int threads : {1, 2, 0}) {
    std::vector<float> output(ref.back().data.size(), NAN);
    sq_run_args args{};
    args.last = chain->n_layers - 1;
    args.input = input.data();
    args.output = output.data();
    args.threads = threads;
    ASSERT_EQ(sq_exec_run(p.exec.get(), &args), SEQRT_OK) << seqrt_last_error();
    EXPECT_TRUE(all_close(output.data(), ref.back().data))
        << threads << " threads";
  }
}

TEST(RuntimePlan, OnePlanFourThreads) {
  std::unique_ptr<sq_chain, ChainDeleter> chain(conv_net());
  const int64_t batch = 2;
  const int n_threads = 4, n_runs = 50;
  sq_plan *raw = nullptr;
  ASSERT_EQ(sq_plan_create(chain.get(), batch, false, &raw), SEQRT_OK)
      << seqrt_last_error();
  std::unique_ptr<sq_plan, PlanDeleter> plan(raw);
  const int64_t in_count = count_of(shape_dims(chain->layers[0].in, batch));
  const int64_t out_count = count_of(shape_dims(chain->output, batch));

  // Single-threaded results first, on one exec.
  std::vector<std::vector<float>> inputs, expected;
  {
    sq_exec *exec = nullptr;
    ASSERT_EQ(sq_exec_create(plan.get(), &exec), SEQRT_OK)
        << seqrt_last_error();
    std::unique_ptr<sq_exec, ExecDeleter> guard(exec);
    for (int t = 0; t < n_threads; t++) {
      inputs.push_back(random_vector(in_count, 100 + (uint32_t)t));
      expected.emplace_back((size_t)out_count);
      sq_run_args args{};
      args.last = chain->n_layers - 1;
      args.input = inputs.back().data();
      args.output = expected.back().data();
      ASSERT_EQ(sq_exec_run(exec, &args), SEQRT_OK) << seqrt_last_error();
      std::vector<Tensor> ref = ref_chain(chain.get(), batch, inputs.back());
      EXPECT_TRUE(all_close(expected.back().data(), ref.back().data));
    }
  }

  std::vector<int> mismatches(n_threads, 0), failures(n_threads, 0);
  std::vector<std::thread> threads;
  for (int t = 0; t < n_threads; t++)
    threads.emplace_back([&, t] {
      sq_exec *exec = nullptr;
      if (sq_exec_create(plan.get(), &exec) != SEQRT_OK) {
        failures[(size_t)t]++;
        return;
      }
      std::vector<float> output((size_t)out_count);
      for (int run = 0; run < n_runs; run++) {
        std::fill(output.begin(), output.end(), NAN);
        sq_run_args args{};
        args.last = chain->n_layers - 1;
        args.input = inputs[(size_t)t].data();
        args.output = output.data();
        if (sq_exec_run(exec, &args) != SEQRT_OK) failures[(size_t)t]++;
        if (!all_close(output.data(), expected[(size_t)t], 1e-6))
          mismatches[(size_t)t]++;
      }
      sq_exec_free(exec);
    });
  for (std::thread &th : threads) th.join();
  for (int t = 0; t < n_threads; t++) {
    EXPECT_EQ(failures[(size_t)t], 0) << "thread " << t;
    EXPECT_EQ(mismatches[(size_t)t], 0) << "thread " << t;
  }
}

TEST(RuntimePlan, WeightsAreSharedOrCopiedExactlyOnce) {
  std::unique_ptr<sq_chain, ChainDeleter> chain(conv_net());
  size_t weight_bytes = 0;
  for (int i = 0; i < chain->n_layers; i++) {
    const sq_layer &l = chain->layers[i];
    weight_bytes += (size_t)(l.weight.count + l.bias.count) * sizeof(float);
  }
  for (int64_t batch : {1, 5}) {
    Planned p = make_plan(chain.get(), batch, false);
    ASSERT_TRUE(p.plan);
    sq_plan_stats s;
    sq_plan_get_stats(p.plan.get(), &s);
    // Every chain array is either referenced or reordered (padded copies may
    // be larger); BatchNorm adds plan-owned mean and variance (16 channels).
    const size_t bn_stats = 2 * 16 * sizeof(float);
    EXPECT_GE(s.shared_weight_bytes + s.owned_weight_bytes,
              weight_bytes + bn_stats);
    EXPECT_GT(s.activation_bytes, 0u);
    // The largest activation of this net is conv1's [N,16,12,12].
    EXPECT_GE(s.activation_bytes, (size_t)batch * 16 * 12 * 12 * sizeof(float));
    EXPECT_EQ(s.view_bytes, 0u);
    char *text = nullptr;
    size_t size = 0;
    FILE *f = open_memstream(&text, &size);
    sq_plan_print(p.plan.get(), f);
    fclose(f);
    EXPECT_EQ(std::count(text, text + size, '\n'), s.steps + 1) << text;
    free(text);
  }
}

TEST(RuntimeErrors, BadWeightsNameTheLayer) {
  ChainMaker m({-1, 3, 8, 8});
  m.conv(4, {{3, 3}}).flatten().linear(5);
  m.layer(0).weight.count -= 1;
  std::unique_ptr<sq_chain, ChainDeleter> chain(m.build());
  sq_plan *plan = nullptr;
  EXPECT_EQ(sq_plan_create(chain.get(), 1, false, &plan),
            SEQRT_ERR_INVALID_MODEL);
  EXPECT_EQ(plan, nullptr);
  std::string msg = seqrt_last_error();
  EXPECT_NE(msg.find("Conv_0"), std::string::npos) << msg;
  EXPECT_NE(msg.find("weight has 107 values, expected 108"), std::string::npos)
      << msg;
}

TEST(RuntimeErrors, LateFailureFreesEarlierSteps) {
  // Steps with reordered weights exist when the last layer fails.
  ChainMaker m({-1, 3, 8, 8});
  m.conv(16, {{3, 3}}).eltwise(SQ_RELU).flatten().linear(5).linear(4);
  m.layer(4).bias.count = 3;
  std::unique_ptr<sq_chain, ChainDeleter> chain(m.build());
  for (bool observable : {false, true}) {
    sq_plan *plan = nullptr;
    EXPECT_EQ(sq_plan_create(chain.get(), 2, observable, &plan),
              SEQRT_ERR_INVALID_MODEL);
    EXPECT_EQ(plan, nullptr);
    std::string msg = seqrt_last_error();
    EXPECT_NE(
        msg.find("layer 'Linear_4' (Linear): bias has 3 values, expected 4"),
        std::string::npos)
        << msg;
  }
}

TEST(RuntimeErrors, InconsistentShapes) {
  ChainMaker m({-1, 3, 8, 8});
  m.conv(4, {{3, 3}}).flatten().linear(5);
  m.layer(0).out.dims[2] = 7; // conv really gives 6
  m.layer(0).out.dims[3] = 7;
  m.layer(1).in = m.layer(0).out;
  m.layer(1).out.dims[1] = 4 * 7 * 7;
  m.layer(2).in = m.layer(1).out;
  std::unique_ptr<sq_chain, ChainDeleter> chain(m.build());
  sq_plan *plan = nullptr;
  EXPECT_EQ(sq_plan_create(chain.get(), 1, true, &plan),
            SEQRT_ERR_INVALID_MODEL);
  std::string msg = seqrt_last_error();
  EXPECT_NE(msg.find("Conv_0"), std::string::npos) << msg;
  EXPECT_NE(msg.find("expected 6"), std::string::npos) << msg;

  ChainMaker broken({-1, 10});
  broken.linear(4).linear(3);
  broken.layer(1).in.dims[1] = 5;
  std::unique_ptr<sq_chain, ChainDeleter> chain2(broken.build());
  EXPECT_EQ(sq_plan_create(chain2.get(), 1, false, &plan),
            SEQRT_ERR_INVALID_MODEL);
  msg = seqrt_last_error();
  EXPECT_NE(msg.find("does not match the previous layer's output"),
            std::string::npos)
      << msg;

  ChainMaker bad_axis({-1, 10});
  bad_axis.softmax(SQ_SOFTMAX, 2);
  std::unique_ptr<sq_chain, ChainDeleter> chain3(bad_axis.build());
  EXPECT_EQ(sq_plan_create(chain3.get(), 1, false, &plan),
            SEQRT_ERR_INVALID_MODEL);
  EXPECT_EQ(sq_plan_create(chain3.get(), 0, false, &plan),
            SEQRT_ERR_INVALID_ARGUMENT);
  EXPECT_EQ(sq_plan_create(nullptr, 1, false, &plan),
            SEQRT_ERR_INVALID_ARGUMENT);
}

TEST(RuntimeErrors, BackendRefusalNamesTheLayer) {
  // A pooling window entirely in the padding: oneDNN refuses it.
  ChainMaker m({-1, 2, 4, 4});
  m.pool(SQ_AVGPOOL, {{2, 2}, {1, 1}, {1, 1}, {3, 3}, {3, 3}});
  std::unique_ptr<sq_chain, ChainDeleter> chain(m.build());
  sq_plan *plan = nullptr;
  seqrt_status st = sq_plan_create(chain.get(), 1, false, &plan);
  if (st == SEQRT_OK) {
    sq_plan_free(plan);
    GTEST_SKIP() << "oneDNN accepted a window inside the padding";
  }
  EXPECT_EQ(st, SEQRT_ERR_BACKEND);
  std::string msg = seqrt_last_error();
  EXPECT_NE(msg.find("layer 'AvgPool_0' (AvgPool): oneDNN"), std::string::npos)
      << msg;
}

// ---- the batch merged with other dims (dims[0] = -K: batch * K) ----------

namespace {

// conv → view [-1*4, 4, 4] → tanh → softmax over dim 0 (across every
// sample's rows) → linear over the last dim → view [-1, 96] → log-softmax.
sq_chain *merged_batch_net() {
  ChainMaker m({-1, 3, 6, 6});
  m.conv(4, {{3, 3}}).reshape({-4, 4, 4}).eltwise(SQ_TANH);
  m.softmax(SQ_SOFTMAX, 0).linear(6).reshape({-1, 96});
  m.softmax(SQ_LOGSOFTMAX, 1);
  return m.build();
}

} // namespace

TEST(RuntimeMergedBatch, ShapesAtABatch) {
  sq_shape merged = make_shape({-4, 4, 6}), plain = make_shape({-1, 96});
  EXPECT_EQ(shape_dims(merged, 3), (Dims{12, 4, 6}));
  EXPECT_EQ(sq_shape_count(&merged, 3), 12 * 4 * 6);
  EXPECT_EQ(sq_shape_count(&plain, 3), 3 * 96);
}

TEST(RuntimeMergedBatch, FusedAndObservablePlansPerBatch) {
  std::unique_ptr<sq_chain, ChainDeleter> chain(merged_batch_net());
  const int n = chain->n_layers;
  for (bool observable : {false, true}) {
    for (int64_t batch : {1, 3, 4}) {
      SCOPED_TRACE(::testing::Message()
                   << "batch " << batch << (observable ? " observable" : ""));
      Planned p = make_plan(chain.get(), batch, observable);
      ASSERT_TRUE(p.exec);
      std::vector<float> input = random_vector(batch * 3 * 6 * 6, 11, 2.0f);
      std::vector<Tensor> ref = ref_chain(chain.get(), batch, input);
      ASSERT_EQ(ref[2].dims, (Dims{4 * batch, 4, 4}));
      std::vector<float> output(ref.back().data.size(), NAN);
      sq_run_args args{};
      args.first = 0;
      args.last = n - 1;
      args.input = input.data();
      args.output = output.data();
      ASSERT_EQ(sq_exec_run(p.exec.get(), &args), SEQRT_OK)
          << seqrt_last_error();
      EXPECT_TRUE(all_close(output.data(), ref.back().data));
      if (!observable) continue;
      // from the layers after the merge; every view has batch * 4 rows
      for (int first : {2, 3, 4}) {
        RangeSeen seen{&ref};
        std::vector<float> out(ref[(size_t)n].data.size(), NAN);
        args.first = first;
        args.input = ref[(size_t)first].data.data();
        args.output = out.data();
        args.callback = record_layer;
        args.user = &seen;
        ASSERT_EQ(sq_exec_run(p.exec.get(), &args), SEQRT_OK)
            << seqrt_last_error();
        EXPECT_TRUE(all_close(out.data(), ref.back().data)) << first;
        for (const std::string &f : seen.failures) ADD_FAILURE() << f;
      }
    }
  }
}

// Softmax over dim 0 normalises across the samples: at batch 1 every value
// is 1 (0 for log-softmax); at batch 3 it is not.
TEST(RuntimeMergedBatch, SoftmaxOverTheBatchAxis) {
  for (sq_kind kind : {SQ_SOFTMAX, SQ_LOGSOFTMAX, SQ_SOFTMIN}) {
    ChainMaker m({-1, 2, 5});
    m.softmax(kind, 0);
    std::unique_ptr<sq_chain, ChainDeleter> chain(m.build());
    for (int64_t batch : {1, 3}) {
      SCOPED_TRACE(::testing::Message()
                   << sq_kind_name(kind) << " batch " << batch);
      Planned p = make_plan(chain.get(), batch, false);
      ASSERT_TRUE(p.exec);
      std::vector<float> input = random_vector(batch * 10, 5, 3.0f);
      std::vector<Tensor> ref = ref_chain(chain.get(), batch, input);
      std::vector<float> output(input.size(), NAN);
      sq_run_args args{};
      args.last = 0;
      args.input = input.data();
      args.output = output.data();
      ASSERT_EQ(sq_exec_run(p.exec.get(), &args), SEQRT_OK)
          << seqrt_last_error();
      EXPECT_TRUE(all_close(output.data(), ref.back().data));
      float trivial = kind == SQ_LOGSOFTMAX ? 0.0f : 1.0f;
      bool all_trivial =
          std::all_of(output.begin(), output.end(),
                      [&](float v) { return std::fabs(v - trivial) < 1e-6f; });
      EXPECT_EQ(all_trivial, batch == 1);
    }
  }
}

// With a fixed batch Flatten(0) gives a concrete vector: a Linear on it
// runs as one row; other batches are refused.
TEST(RuntimeMergedBatch, FixedBatchVectorLinear) {
  ChainMaker m({2, 3, 4});
  m.reshape({24}).linear(5).eltwise(SQ_RELU);
  std::unique_ptr<sq_chain, ChainDeleter> chain(m.build());
  for (bool observable : {false, true}) {
    Planned p = make_plan(chain.get(), 2, observable);
    ASSERT_TRUE(p.exec);
    std::vector<float> input = random_vector(24, 9);
    std::vector<Tensor> ref = ref_chain(chain.get(), 2, input);
    ASSERT_EQ(ref.back().dims, (Dims{5}));
    std::vector<float> output(5, NAN);
    sq_run_args args{};
    args.last = chain->n_layers - 1;
    args.input = input.data();
    args.output = output.data();
    ASSERT_EQ(sq_exec_run(p.exec.get(), &args), SEQRT_OK) << seqrt_last_error();
    EXPECT_TRUE(all_close(output.data(), ref.back().data)) << observable;
  }
  sq_plan *plan = nullptr;
  EXPECT_EQ(sq_plan_create(chain.get(), 3, false, &plan),
            SEQRT_ERR_INVALID_ARGUMENT);
  EXPECT_NE(std::string(seqrt_last_error()).find("fixed batch of 2, not 3"),
            std::string::npos)
      << seqrt_last_error();
}

TEST(RuntimeMergedBatch, AbsurdFactorIsRefused) {
  ChainMaker m({-1, 4});
  m.reshape({-((int64_t)1 << 42)});
  std::unique_ptr<sq_chain, ChainDeleter> chain(m.build());
  sq_plan *plan = nullptr;
  EXPECT_EQ(sq_plan_create(chain.get(), 1, false, &plan),
            SEQRT_ERR_INVALID_MODEL);
  EXPECT_EQ(plan, nullptr);
  EXPECT_NE(std::string(seqrt_last_error()).find("output dim 0 is"),
            std::string::npos)
      << seqrt_last_error();
}
