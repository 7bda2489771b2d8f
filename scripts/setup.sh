#!/usr/bin/env bash
# One-command set-up: install the dependencies, build seqrt into build/,
# then run the default job (every bundled model checked against PyTorch).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install-deps.sh
cmake -S . -B build -DCMAKE_BUILD_TYPE=Release
cmake --build build -j"$(nproc)"
./build/seqrt
