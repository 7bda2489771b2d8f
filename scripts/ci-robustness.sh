#!/usr/bin/env bash
# Robustness CI (SECURITY.md): the whole test suite under ASan+UBSan (which
# includes the malformed-input corpus and the fuzz regression replays), the
# concurrency test under ThreadSanitizer, and each libFuzzer target for
# FUZZ_SECONDS (default 60). Exits non-zero on any failure.
#
#   bash scripts/ci-robustness.sh               # everything
#   bash scripts/ci-robustness.sh --fuzz-only   # just the fuzzers
#
# Environment: FUZZ_SECONDS (per target), ASAN_CTEST_EXCLUDE (a ctest -E
# regex of tests to skip in the ASan tree; default none).
set -euo pipefail
cd "$(dirname "$0")/.."
FUZZ_SECONDS=${FUZZ_SECONDS:-60}
JOBS=$(nproc)
ROOT=$PWD
SANITIZER_FLAGS=(-DCMAKE_BUILD_TYPE=RelWithDebInfo
                 "-DCMAKE_C_FLAGS_RELWITHDEBINFO=-O1 -g"
                 "-DCMAKE_CXX_FLAGS_RELWITHDEBINFO=-O1 -g" -DSEQRT_WERROR=ON)
# Any sanitizer report aborts the process; LeakSanitizer is on.
export ASAN_OPTIONS=detect_leaks=1:abort_on_error=1:strict_string_checks=1
export UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1:abort_on_error=1
export TSAN_OPTIONS=halt_on_error=1:second_deadlock_stack=1

step() { printf '\n==== %s (%s)\n' "$*" "$(date +%T)"; }

asan_suite() {
  step "ASan+UBSan build (gcc, -Werror)"
  cmake -S . -B build-asan "${SANITIZER_FLAGS[@]}" \
    -DSEQRT_SANITIZE=address,undefined >/dev/null
  cmake --build build-asan -j"$JOBS"
  step "the whole ctest suite under ASan+UBSan (malformed corpus included)"
  local exclude=()
  if [ -n "${ASAN_CTEST_EXCLUDE:-}" ]; then exclude=(-E "$ASAN_CTEST_EXCLUDE"); fi
  ctest --test-dir build-asan --output-on-failure -j"$JOBS" "${exclude[@]}"
}

tsan_concurrency() {
  step "ThreadSanitizer build (gcc) and the concurrency test"
  cmake -S . -B build-tsan "${SANITIZER_FLAGS[@]}" \
    -DSEQRT_SANITIZE=thread >/dev/null
  cmake --build build-tsan -j"$JOBS" --target seqrt_api_tests
  build-tsan/tests/seqrt_api_tests --gtest_filter='ApiConcurrency.*'
}

# Runs one libFuzzer target: replay the regressions, then fuzz from the
# seeds for FUZZ_SECONDS; prints the number of executions.
fuzz_target() {
  local target=$1 seeds=$2 regressions=$3
  shift 3
  local corpus=build-fuzz/corpus/$target
  rm -rf "$corpus" && mkdir -p "$corpus" build-fuzz/crashes
  local seed
  for seed in $seeds; do # names made unique: the examples are all model.onnx
    cp "$seed" "$corpus/$(echo "$seed" | tr / _)"
  done
  build-fuzz/tests/fuzz/$target -runs=0 "$regressions" tests/malformed/models \
    tests/malformed/inputs
  local log=build-fuzz/$target.log
  if ! build-fuzz/tests/fuzz/$target -max_total_time="$FUZZ_SECONDS" \
      -timeout=30 -rss_limit_mb=4096 -print_final_stats=1 \
      -artifact_prefix=build-fuzz/crashes/$target- "$@" "$corpus" \
      >"$log" 2>&1; then
    tail -60 "$log"
    echo "$target: crash found; input kept in build-fuzz/crashes/" >&2
    return 1
  fi
  echo "$target: $(grep -m1 -o 'Done [0-9]* runs in [0-9]* second(s)' "$log")," \
       "$(grep -m1 -o 'stat::number_of_executed_units: [0-9]*' "$log")," \
       "no crash"
}

fuzzers() {
  step "libFuzzer build (clang, ASan+UBSan)"
  CC=clang CXX=clang++ cmake -S . -B build-fuzz "${SANITIZER_FLAGS[@]}" \
    -DSEQRT_FUZZ=ON >/dev/null
  cmake --build build-fuzz -j"$JOBS" --target fuzz_model fuzz_tensor_file
  step "fuzz_model: ${FUZZ_SECONDS} s"
  OMP_NUM_THREADS=1 fuzz_target fuzz_model \
    "models/examples/*/model.onnx tests/malformed/models/*.onnx" \
    tests/fuzz/regressions/model -dict=tests/fuzz/onnx.dict
  step "fuzz_tensor_file: ${FUZZ_SECONDS} s"
  fuzz_target fuzz_tensor_file \
    "models/examples/*/*.npy tests/malformed/inputs/*" \
    tests/fuzz/regressions/tensor_file
}

start=$(date +%s)
if [ "${1:-}" != "--fuzz-only" ]; then
  asan_suite
  tsan_concurrency
fi
fuzzers
step "robustness CI passed in $(( $(date +%s) - start )) s"
