// Shared helpers for the importer unit tests.
#ifndef SEQRT_TESTS_TEST_IMPORTER_UTIL_H
#define SEQRT_TESTS_TEST_IMPORTER_UTIL_H

#include <gtest/gtest.h>

#include <cmath>
#include <string>
#include <vector>

#include "onnx_builder.h"

extern "C" {
#include "core/chain.h"
#include "core/error.h"
#include "importer/importer.h"
}

// The result of one sq_import call; frees the chain.
struct Imported {
  seqrt_status status = SEQRT_OK;
  sq_chain *chain = nullptr;
  std::string error;

  Imported() = default;
  Imported(const Imported &) = delete;
  Imported &operator=(const Imported &) = delete;
  ~Imported() { sq_chain_free(chain); }

  bool ok() const { return status == SEQRT_OK && chain != nullptr; }
  const sq_layer &layer(int k) const { return chain->layers[k]; }
  int count() const { return chain ? chain->n_layers : 0; }
};

inline void import_bytes(const uint8_t *data, size_t size, Imported &out,
                         const sq_import_options *options = nullptr) {
  sq_error_clear();
  out.status = sq_import(data, size, options, &out.chain);
  out.error = seqrt_last_error();
}

inline void import_model(onnxb::Model &m, Imported &out,
                         const sq_import_options *options = nullptr) {
  std::vector<uint8_t> bytes = m.bytes();
  import_bytes(bytes.data(), bytes.size(), out, options);
}

inline std::vector<int64_t> dims_of(const sq_shape &s) {
  return std::vector<int64_t>(s.dims, s.dims + s.rank);
}

inline std::vector<float> values_of(const sq_weights &w) {
  if (!w.data) return {};
  return std::vector<float>(w.data, w.data + w.count);
}

#define EXPECT_FLOATS_NEAR(expected, actual, tol)                              \
  do {                                                                         \
    std::vector<float> e_ = (expected), a_ = (actual);                         \
    ASSERT_EQ(e_.size(), a_.size());                                           \
    for (size_t i_ = 0; i_ < e_.size(); i_++)                                  \
      EXPECT_NEAR(e_[i_], a_[i_], (tol) * (1 + std::fabs(e_[i_])))             \
          << "at index " << i_;                                                \
  } while (0)

#endif
