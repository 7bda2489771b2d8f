#!/usr/bin/python3
"""seqrt against PyTorch and ONNX Runtime on the chain models of
models/export_zoo.py (layers the benchmark suite lacks).

    /usr/bin/python3 scripts/bench/zoo.py [--build build] [--models DIR]
        [--threads 1,2] [--rounds 3] [--seconds 0.5] [--only NAME ...]

Exports the models that are missing (into build/zoo-models), checks each
against PyTorch's output with `seqrt verify` (batch 2, atol 1e-4, rtol
1e-3), then for every model and thread count times `seqrt bench` and
ortbench on the same batch-1 input, alternating, --rounds times, and
prints a markdown table of the median p50s and their ratio. Needs ortbench
(`bash ../shared/bench/ortbench/build.sh`).
"""

import argparse
import os
import re
import statistics
import subprocess
import sys

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.join(ROOT, "models"))
import compare  # noqa: E402
import export_zoo  # noqa: E402


def ensure_models(models_dir, names):
    os.makedirs(models_dir, exist_ok=True)
    for name in names:
        if not os.path.exists(os.path.join(models_dir, name + ".onnx")):
            compare.log("exporting", name)
            export_zoo.export(name, models_dir)


def verify(seqrt_bin, models_dir, name):
    """PASS, or FAIL with how many elements differ (or seqrt's error)."""
    base = os.path.join(models_dir, name)
    proc = subprocess.run([seqrt_bin, "verify", base + ".onnx", "--input", base + "_x.npy", "--expect",
                           base + "_y.npy", "--rtol", "1e-3"], capture_output=True, text=True)
    lines = (proc.stdout + proc.stderr).strip().splitlines() or ["no output"]
    m = re.match(r"(\d+) of (\d+) elements.*: (PASS|FAIL)$", lines[-1])
    if proc.returncode == 0 and m and m.group(3) == "PASS":
        return "PASS"
    return "FAIL (%s of %s differ)" % (m.group(1), m.group(2)) if m else "FAIL: " + lines[-1]


def batch_one_input(models_dir, name):
    path = os.path.join(models_dir, name + "_x1.npy")
    np.save(path, np.load(os.path.join(models_dir, name + "_x.npy"))[:1])
    return path


def compare_one(ctx, name, threads):
    path = os.path.join(ctx.models, name + ".onnx")
    x_path = batch_one_input(ctx.models, name)
    probe = compare.time_seqrt(ctx.seqrt, path, x_path, threads, 20, 3)["p50_us"]
    iters = int(min(20000, max(20, ctx.seconds * 1e6 / probe)))
    warmup = max(3, iters // 10)
    seqrt, ort = [], []
    for _ in range(ctx.rounds):
        seqrt.append(compare.time_seqrt(ctx.seqrt, path, x_path, threads, iters, warmup)["p50_us"])
        ort.append(compare.time_ort(ctx.ort, path, x_path, threads, iters, warmup)["p50_us"])
    return statistics.median(seqrt), statistics.median(ort)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--build", default=os.path.join(ROOT, "build"))
    parser.add_argument("--models", default=export_zoo.DEFAULT_OUT)
    parser.add_argument("--ort", default=None, help="ortbench binary")
    parser.add_argument("--threads", default="1,2")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--seconds", type=float, default=0.5, help="length of one timed loop")
    parser.add_argument("--only", nargs="+", choices=sorted(export_zoo.MODELS))
    args = parser.parse_args(argv)
    names = args.only or list(export_zoo.MODELS)
    ctx = argparse.Namespace(seqrt=os.path.join(args.build, "seqrt"), ort=compare.find_ortbench(args.ort),
                             models=args.models, rounds=args.rounds, seconds=args.seconds)
    ensure_models(args.models, names)
    print("| model | PyTorch check (batch 2) | threads | seqrt p50 | ONNX Runtime p50 | seqrt/ORT |")
    print("|---|---|---|---|---|---|")
    for name in names:
        check = verify(ctx.seqrt, args.models, name)
        for threads in args.threads.split(","):
            seqrt, ort = compare_one(ctx, name, threads)
            print("| %s | %s | %s | %s | %s | %.2f |" % (name, check, threads, compare.fmt_us(seqrt),
                                                        compare.fmt_us(ort), seqrt / ort), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
