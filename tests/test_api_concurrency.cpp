// One loaded model shared by 8 threads, 500 runs each, with different inputs
// and batch sizes, whole-chain and layer-range runs mixed: every output must
// equal, bit for bit, what a single thread computed with a separately loaded
// copy of the model. The shared model builds its plans while the threads
// race for them. scripts/ci-robustness.sh also runs this under
// ThreadSanitizer (contexts use one oneDNN thread each, so no OpenMP team
// runs inside a seqrt_run: see SECURITY.md).
#include <gtest/gtest.h>

#include <atomic>
#include <cstring>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "seqrt.h"

namespace {

constexpr int kThreads = 8;
constexpr int kRunsPerThread = 500;
const int kBatches[] = {1, 2, 3, 5, 8, 13};

std::string example(const char *name) {
  return std::string(SEQRT_SOURCE_DIR) + "/models/examples/" + name +
         "/model.onnx";
}

struct Job {
  seqrt_shape in, out;
  std::vector<float> input;
  bool layers; // seqrt_run_layers over the whole chain (observable plan)
  std::vector<float> expected;
};

size_t count_of(const seqrt_shape &shape) {
  size_t n = 1;
  for (int i = 0; i < shape.rank; i++) n *= static_cast<size_t>(shape.dims[i]);
  return n;
}

seqrt_status run_job(seqrt_context *ctx, int layers, const Job &job,
                     std::vector<float> &out) {
  seqrt_tensor x = {
      SEQRT_FLOAT32, job.in.rank, {}, const_cast<float *>(job.input.data())};
  std::memcpy(x.dims, job.in.dims, sizeof x.dims);
  out.assign(count_of(job.out), -1.0f);
  seqrt_tensor y = {SEQRT_FLOAT32, 0, {}, out.data()};
  if (job.layers)
    return seqrt_run_layers(ctx, 0, layers - 1, &x, &y, nullptr, nullptr);
  return seqrt_run(ctx, &x, &y);
}

// Inputs for every batch size, each with its own values, run once by a
// single thread on `reference` (a separate load of the same file).
std::vector<Job> make_jobs(const seqrt_model *reference) {
  seqrt_shape in;
  seqrt_dtype dtype;
  EXPECT_EQ(seqrt_model_input(reference, &in, &dtype), SEQRT_OK);
  EXPECT_EQ(dtype, SEQRT_FLOAT32);
  std::mt19937 rng(1234);
  std::normal_distribution<float> normal(0.0f, 1.0f);
  seqrt_context *ctx = nullptr;
  EXPECT_EQ(seqrt_context_create(reference, &ctx), SEQRT_OK);
  EXPECT_EQ(seqrt_context_set_threads(ctx, 1), SEQRT_OK);
  int layers = seqrt_model_layer_count(reference);
  std::vector<Job> jobs;
  for (int variant = 0; variant < 4; variant++) {
    for (int batch : kBatches) {
      Job job;
      job.in = in;
      job.in.dims[0] = batch;
      EXPECT_EQ(seqrt_model_output_shape(reference, batch, &job.out), SEQRT_OK);
      job.input.resize(count_of(job.in));
      for (float &v : job.input) v = normal(rng);
      job.layers = variant % 2 == 1;
      EXPECT_EQ(run_job(ctx, layers, job, job.expected), SEQRT_OK)
          << seqrt_last_error();
      jobs.push_back(std::move(job));
    }
  }
  seqrt_context_free(ctx);
  return jobs;
}

// What one worker thread does: its own context, runs in its own order.
void worker(const seqrt_model *model, const std::vector<Job> &jobs, int id,
            std::atomic<int> &mismatches, std::atomic<int> &failures,
            std::string &first_error) {
  seqrt_context *ctx = nullptr;
  if (seqrt_context_create(model, &ctx) != SEQRT_OK ||
      seqrt_context_set_threads(ctx, 1) != SEQRT_OK) {
    failures++;
    first_error = seqrt_last_error();
    seqrt_context_free(ctx);
    return;
  }
  int layers = seqrt_model_layer_count(model);
  std::vector<float> out;
  std::mt19937 rng(static_cast<unsigned>(id));
  for (int run = 0; run < kRunsPerThread; run++) {
    const Job &job = jobs[rng() % jobs.size()];
    if (run_job(ctx, layers, job, out) != SEQRT_OK) {
      if (failures++ == 0) first_error = seqrt_last_error();
      continue;
    }
    if (std::memcmp(out.data(), job.expected.data(),
                    out.size() * sizeof(float)) != 0)
      mismatches++;
  }
  seqrt_context_free(ctx);
}

void check_concurrent_runs(const char *name) {
  seqrt_model *reference = nullptr, *shared = nullptr;
  ASSERT_EQ(seqrt_model_load_file(example(name).c_str(), nullptr, &reference),
            SEQRT_OK)
      << seqrt_last_error();
  ASSERT_EQ(seqrt_model_load_file(example(name).c_str(), nullptr, &shared),
            SEQRT_OK)
      << seqrt_last_error();
  std::vector<Job> jobs = make_jobs(reference);
  ASSERT_FALSE(testing::Test::HasFailure());
  std::atomic<int> mismatches{0}, failures{0};
  std::vector<std::string> errors(kThreads);
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; t++)
    threads.emplace_back(worker, shared, std::cref(jobs), t,
                         std::ref(mismatches), std::ref(failures),
                         std::ref(errors[t]));
  for (std::thread &t : threads) t.join();
  EXPECT_EQ(failures.load(), 0) << name;
  for (const std::string &e : errors)
    if (!e.empty()) ADD_FAILURE() << name << ": " << e;
  EXPECT_EQ(mismatches.load(), 0)
      << name << ": outputs that differ from the single-threaded run, of "
      << kThreads * kRunsPerThread;
  seqrt_model_free(shared);
  seqrt_model_free(reference);
}

TEST(ApiConcurrency, ConvNetEightThreadsFiveHundredRunsEach) {
  check_concurrent_runs("small_convnet");
}

TEST(ApiConcurrency, MlpEightThreadsFiveHundredRunsEach) {
  check_concurrent_runs("mnist_mlp");
}

// Models loaded, described and freed from many threads at once, while other
// threads run: loading shares nothing between models.
TEST(ApiConcurrency, LoadsAndFreesFromManyThreads) {
  std::atomic<int> failures{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; t++)
    threads.emplace_back([t, &failures] {
      const char *names[] = {"small_convnet", "mnist_mlp", "sequential",
                             "ordered_dict"};
      for (int k = 0; k < 20; k++) {
        seqrt_model *model = nullptr;
        if (seqrt_model_load_file(example(names[(t + k) % 4]).c_str(), nullptr,
                                  &model) != SEQRT_OK) {
          failures++;
          continue;
        }
        seqrt_layer_info info;
        for (int i = 0; i < seqrt_model_layer_count(model); i++)
          if (seqrt_model_layer(model, i, &info) != SEQRT_OK) failures++;
        seqrt_model_free(model);
      }
      // errors stay per thread: a failed call here leaves others' intact
      seqrt_model *none = nullptr;
      if (seqrt_model_load_buffer("x", 1, nullptr, &none) == SEQRT_OK ||
          std::strstr(seqrt_last_error(), "not an ONNX model") == nullptr)
        failures++;
    });
  for (std::thread &t : threads) t.join();
  EXPECT_EQ(failures.load(), 0);
}

} // namespace
