#!/usr/bin/python3
"""Time PyTorch eager on one benchmark model (run by compare.py).

    /usr/bin/python3 scripts/bench/torch_bench.py NAME INPUT.npy THREADS ITERS WARMUP [SECONDS]

NAME is a model of models/export_bench.py, rebuilt from the same seed (so
the same weights as the exported ONNX file), in eval mode under
torch.inference_mode() with torch.set_num_threads(THREADS). The timed loop stops early once it has run
for SECONDS (default: no limit) and at least 5 times. Prints one JSON
object: p50_us, p90_us, p99_us, build_ms.
"""

import json
import os
import sys
import time

import numpy as np
import torch

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "..", "models"))
import export_bench  # noqa: E402


def build(name):
    builder, _shape, _batches, seed = export_bench.MODELS[name]
    torch.manual_seed(seed)
    model = builder()
    export_bench.randomise_batchnorm(model, torch.Generator().manual_seed(seed))
    return model.eval()


def percentile(sorted_us, p):
    i = int(p / 100.0 * (len(sorted_us) - 1) + 0.5)
    return sorted_us[min(i, len(sorted_us) - 1)]


def main(argv):
    name, input_path, threads, iters, warmup = argv[1], argv[2], *map(int, argv[3:6])
    budget = float(argv[6]) if len(argv) > 6 else float("inf")
    torch.set_num_threads(threads)
    t0 = time.perf_counter()
    model = build(name)
    build_ms = (time.perf_counter() - t0) * 1e3
    x = torch.from_numpy(np.load(input_path))
    samples = []
    with torch.inference_mode():
        for _ in range(warmup):
            model(x)
        start = time.perf_counter()
        for i in range(iters):
            t = time.perf_counter()
            model(x)
            samples.append((time.perf_counter() - t) * 1e6)
            if i >= 4 and time.perf_counter() - start > budget:
                break
    samples.sort()
    print(json.dumps({"p50_us": percentile(samples, 50), "p90_us": percentile(samples, 90),
                      "p99_us": percentile(samples, 99), "build_ms": build_ms,
                      "torch": torch.__version__, "threads": torch.get_num_threads()}))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
