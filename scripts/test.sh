#!/usr/bin/env bash
# Builds (if needed) and runs the whole test suite: GoogleTest units,
# end-to-end tests against PyTorch, conformance tests. One result line.
set -euo pipefail
cd "$(dirname "$0")/.."
cmake -S . -B build -DCMAKE_BUILD_TYPE=Release -DSEQRT_WERROR=ON
cmake --build build -j"$(nproc)"
ctest --test-dir build --output-on-failure -j"$(nproc)" "$@"
