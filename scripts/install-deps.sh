#!/usr/bin/env bash
# Installs every Debian 12 package seqrt needs to build, test and export
# models. Run as root (or through sudo).
set -euo pipefail
SUDO=""
if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update
$SUDO apt-get install -y --no-install-recommends \
  build-essential cmake pkg-config \
  libdnnl-dev ocl-icd-opencl-dev opencl-c-headers \
  libprotobuf-c-dev protobuf-c-compiler \
  googletest libgtest-dev doxygen \
  python3-torch python3-numpy python3-onnx libonnx-testdata \
  libopenblas0-openmp python3-matplotlib \
  clang libclang-rt-14-dev libomp-14-dev llvm
# libopenblas0-openmp: PyTorch's BLAS in the speed comparison (without it
# Debian's torch falls back to the reference BLAS); python3-matplotlib: its
# plot. ../shared/bench/ortbench/build.sh fetches ONNX Runtime with the
# machine's own npm (Debian's npm package conflicts with its Node.js).
# clang, libclang-rt-14-dev (libFuzzer and the sanitizer runtimes),
# libomp-14-dev (OpenMP for clang) and llvm (llvm-symbolizer for sanitizer
# stack traces): scripts/ci-robustness.sh.
