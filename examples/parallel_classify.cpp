// parallel_classify: one model shared by N worker threads, each running
// through its own context, serving a queue of requests. Every request
// classifies one sample of a raw float32 file; the results of all requests
// for the same sample must agree.
//
//   parallel_classify MODEL.onnx INPUT.f32 [THREADS [REQUESTS]]
#include <seqrt.hpp>

#include <algorithm>
#include <cmath>
#include <condition_variable>
#include <cstdlib>
#include <deque>
#include <exception>
#include <fstream>
#include <iostream>
#include <iterator>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

namespace {

struct Request {
  std::size_t sample = 0;
  std::size_t top1 = 0;
  float score = 0;
};

// A closable multi-consumer queue: pop() blocks until a request arrives and
// returns nullptr once the queue is closed and drained.
class RequestQueue {
public:
  void push(Request *request) {
    {
      std::lock_guard<std::mutex> lock(mutex_);
      requests_.push_back(request);
    }
    ready_.notify_one();
  }
  void close() {
    {
      std::lock_guard<std::mutex> lock(mutex_);
      closed_ = true;
    }
    ready_.notify_all();
  }
  Request *pop() {
    std::unique_lock<std::mutex> lock(mutex_);
    ready_.wait(lock, [this] { return closed_ || !requests_.empty(); });
    if (requests_.empty()) return nullptr;
    Request *request = requests_.front();
    requests_.pop_front();
    return request;
  }

private:
  std::mutex mutex_;
  std::condition_variable ready_;
  std::deque<Request *> requests_;
  bool closed_ = false;
};

std::vector<float> read_floats(const std::string &path) {
  std::ifstream file(path, std::ios::binary);
  if (!file) throw std::runtime_error("cannot open " + path);
  std::vector<char> bytes{std::istreambuf_iterator<char>(file), {}};
  std::vector<float> floats(bytes.size() / sizeof(float));
  std::copy_n(bytes.data(), floats.size() * sizeof(float),
              reinterpret_cast<char *>(floats.data()));
  return floats;
}

// One worker: its own context (one oneDNN thread, the workers are the
// parallelism) serving requests until the queue is closed.
void serve(const seqrt::Model &model, RequestQueue &queue,
           const std::vector<float> &samples, std::size_t per_sample,
           std::exception_ptr &error) {
  try {
    seqrt::Context context(model);
    context.set_threads(1);
    seqrt::Dims dims = model.input_shape();
    dims[0] = 1;
    while (Request *request = queue.pop()) {
      seqrt::Span<const float> input(
          samples.data() + request->sample * per_sample, per_sample);
      seqrt::Tensor output = context.run(input, dims);
      auto best = std::max_element(output.data.begin(), output.data.end());
      request->top1 = static_cast<std::size_t>(best - output.data.begin());
      request->score = *best;
    }
  } catch (...) {
    error = std::current_exception();
    queue.close(); // let the producer and the other workers finish
  }
}

} // namespace

int main(int argc, char **argv) try {
  if (argc < 3 || argc > 5) {
    std::cerr << "usage: " << argv[0]
              << " MODEL.onnx INPUT.f32 [THREADS [REQUESTS]]\n";
    return 2;
  }
  int threads = argc > 3 ? std::atoi(argv[3]) : 4;
  int count = argc > 4 ? std::atoi(argv[4]) : 64;
  if (threads < 1 || count < 1) throw std::runtime_error("bad counts");

  const seqrt::Model model = seqrt::Model::load_file(argv[1]);
  std::vector<float> samples = read_floats(argv[2]);
  seqrt::Dims dims = model.input_shape();
  std::size_t per_sample = 1;
  for (std::size_t i = 1; i < dims.size(); i++)
    per_sample *= static_cast<std::size_t>(dims[i]);
  std::size_t sample_count = samples.size() / per_sample;
  if (sample_count == 0) throw std::runtime_error("no whole sample in input");

  RequestQueue queue;
  std::vector<Request> requests(static_cast<std::size_t>(count));
  std::vector<std::exception_ptr> errors(static_cast<std::size_t>(threads));
  std::vector<std::thread> workers;
  for (int t = 0; t < threads; t++)
    workers.emplace_back(serve, std::cref(model), std::ref(queue),
                         std::cref(samples), per_sample, std::ref(errors[t]));
  for (std::size_t i = 0; i < requests.size(); i++) {
    requests[i].sample = i % sample_count;
    queue.push(&requests[i]);
  }
  queue.close();
  for (std::thread &worker : workers) worker.join();
  for (const std::exception_ptr &error : errors)
    if (error) std::rethrow_exception(error);

  // Requests are answered in any order by any worker; the answers for one
  // sample must not depend on which.
  for (std::size_t s = 0; s < sample_count && s < requests.size(); s++) {
    const Request &first = requests[s];
    for (std::size_t i = s; i < requests.size(); i += sample_count) {
      const Request &other = requests[i];
      if (other.top1 != first.top1 ||
          std::fabs(other.score - first.score) >
              1e-5f * std::max(1.0f, std::fabs(first.score)))
        throw std::runtime_error("request " + std::to_string(i) +
                                 " disagrees with request " +
                                 std::to_string(s));
    }
    std::cout << "sample " << s << ": class " << first.top1 << " (score "
              << first.score << ")\n";
  }
  std::cout << requests.size() << " requests on " << threads
            << " threads: consistent\n";
  return 0;
} catch (const seqrt::Error &error) {
  std::cerr << "parallel_classify: " << error.what() << " ("
            << error.status_string() << ")\n";
  return 1;
} catch (const std::exception &error) {
  std::cerr << "parallel_classify: " << error.what() << "\n";
  return 1;
}
