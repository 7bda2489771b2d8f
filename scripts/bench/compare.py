#!/usr/bin/python3
"""seqrt vs ONNX Runtime vs PyTorch eager, side by side in one run.

    /usr/bin/python3 scripts/bench/compare.py [--build build] [--out DIR]
        [--threads 1,2] [--rounds 3] [--seconds 1.0] [--only NAME ...]
        [--seqrt-arg=ARG ...]

For every model of models/export_bench.py (exported into build/bench-models
when missing), every batch it lists and every thread count, the three
runtimes run the same input file one after the other, in a rotated order,
--rounds times; a runtime's p50 is the median of its per-round p50s. The
same run measures the machine's limits (oneDNN's dnnl_sgemm at 2048^3 and a
streaming read, per thread count, with scripts/bench/peaks.c), seqrt's idle
CPU (`seqrt bench --interval-ms 10`), load times and peak RSS, where
seqrt's time goes (`seqrt bench --profile`, a separate run per
configuration: reading the clock at every step made LeNet-5's p50
13.4-14.9 us instead of 13.0-13.3 us in interleaved runs), and checks each target of the performance issue.

Writes DIR/performance.json (every number), DIR/performance-table.md (the
tables and the target check), DIR/performance-profile.md (seqrt's steps
against the machine's limits) and DIR/performance.png (the plot), and
prints the target markdown. Installs nothing; it needs (see the README, "Performance"):

    bash ../shared/bench/ortbench/build.sh      # ONNX Runtime 1.30 C API bench
    apt-get install libopenblas0-openmp python3-matplotlib
"""

import argparse
import json
import os
import platform
import re
import statistics
import subprocess
import sys
import tempfile
import time

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, os.path.join(ROOT, "models"))
import export_bench  # noqa: E402

PYTHON = "/usr/bin/python3"
TOOLS = ("seqrt", "ort", "torch")
MB = 1 << 20


def log(*args):
    print(*args, file=sys.stderr, flush=True)


def run(cmd, env=None, timeout=1800):
    proc = subprocess.run([str(c) for c in cmd], capture_output=True, text=True,
                          env=env, timeout=timeout)
    if proc.returncode != 0:
        raise RuntimeError("%s failed (%d): %s" % (" ".join(map(str, cmd)), proc.returncode,
                                                   proc.stderr.strip()[-2000:]))
    return proc


def load_average():
    with open("/proc/loadavg") as f:
        return " ".join(f.read().split()[:3])


# ---- prerequisites and machine --------------------------------------------


def find_ortbench(explicit):
    path = explicit or os.path.join(os.environ.get("ORTBENCH_CACHE", os.path.expanduser(
        "~/.cache/ortbench")), "bin", "ortbench")
    if not os.access(path, os.X_OK):
        sys.exit("compare.py: no ortbench at %s; build it with "
                 "`bash ../shared/bench/ortbench/build.sh` (or pass --ort)" % path)
    return path


def check_openblas():
    """Debian's torch uses whatever libblas.so.3 is selected."""
    blas = os.path.realpath("/usr/lib/x86_64-linux-gnu/libblas.so.3")
    if "openblas" not in blas:
        sys.exit("compare.py: libblas.so.3 is %s, not OpenBLAS: PyTorch's Linear layers "
                 "would run on the reference BLAS. `apt-get install libopenblas0-openmp`" % blas)
    return blas


def build_peaks(build_dir):
    out = os.path.join(build_dir, "bench", "peaks")
    src = os.path.join(HERE, "peaks.c")
    if not os.path.exists(out) or os.path.getmtime(out) < os.path.getmtime(src):
        os.makedirs(os.path.dirname(out), exist_ok=True)
        run(["gcc", "-O3", "-march=native", "-fopenmp", "-o", out, src, "-ldnnl"])
    return out


def package_version(name):
    proc = subprocess.run(["dpkg-query", "-W", "-f", "${Version}", name],
                          capture_output=True, text=True)
    return proc.stdout.strip() or "?"


def machine_info(seqrt_bin, ortbench):
    cpu = "?"
    with open("/proc/cpuinfo") as f:
        for line in f:
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    flags = open("/proc/cpuinfo").read()
    ort_version = "?"
    model = os.path.join(ROOT, "models", "examples", "mnist_mlp", "model.onnx")
    proc = subprocess.run([ortbench, model, "--iters", "1", "--warmup", "0"],
                          capture_output=True, text=True)
    m = re.search(r"onnxruntime (\S+)", proc.stderr)
    if m:
        ort_version = m.group(1)
    torch_version = run([PYTHON, "-c", "import torch; print(torch.__version__)"]).stdout.strip()
    mem_kb = int(re.search(r"MemTotal:\s+(\d+)", open("/proc/meminfo").read()).group(1))
    return {
        "cpu": cpu,
        "cores": os.cpu_count(),
        "avx512": "avx512f" in flags,
        "memory_gb": round(mem_kb / 1024 / 1024, 1),
        "kernel": platform.release(),
        "os": open("/etc/debian_version").read().strip() if os.path.exists(
            "/etc/debian_version") else "?",
        "seqrt": run([seqrt_bin, "--version"]).stdout.strip().replace("seqrt ", ""),
        "onednn": package_version("libdnnl-dev"),
        "onnxruntime": ort_version,
        "torch": torch_version,
        "openblas": package_version("libopenblas0-openmp"),
        "gcc": run(["gcc", "-dumpfullversion"]).stdout.strip(),
    }


def measure_peaks(peaks_bin, threads_list, bw_bytes):
    peaks = {}
    for t in threads_list:
        sgemm = [float(run([peaks_bin, "sgemm", t]).stdout.split()[1]) for _ in range(3)]
        bw = [float(run([peaks_bin, "bw", bw_bytes, t]).stdout.split()[1]) for _ in range(3)]
        peaks[t] = {"sgemm_gflops": max(sgemm), "read_gbps": max(bw)}
        log("peaks, %d thread(s): dnnl_sgemm %.1f GFLOP/s, read %.1f GB/s" %
            (t, max(sgemm), max(bw)))
    return peaks


# ---- one measurement per runtime -------------------------------------------


def iterations(meta, batch, seconds):
    flops = meta["flops_per_sample"] * batch
    est = max(flops / 1.2e11, meta["parameters"] * 4 / 2.0e10) + 20e-6
    iters = int(min(5000, max(10, seconds / est)))
    return iters, int(min(200, max(3, iters // 10)))


# Extra `seqrt bench` arguments (--seqrt-arg), e.g. --winograd.
SEQRT_ARGS = []


def time_seqrt(seqrt_bin, path, x_path, threads, iters, warmup, interval_ms=0,
               profile=False):
    cmd = [seqrt_bin, "bench", path, "--input", x_path, "--threads", threads,
           "--iters", iters, "--warmup", warmup, "--json"] + SEQRT_ARGS
    if interval_ms:
        cmd += ["--interval-ms", interval_ms]
    if profile:
        cmd += ["--profile"]
    return json.loads(run(cmd).stdout)


def time_ort(ortbench, path, x_path, threads, iters, warmup):
    out = run([ortbench, path, "--input", x_path, "--threads", threads, "--iters", iters,
               "--warmup", warmup]).stdout
    p50 = float(re.search(r"p50=([\d.]+)", out).group(1))
    load = float(re.search(r"load_ms=([\d.]+)", out).group(1))
    return {"p50_us": p50, "load_ms": load}


def time_torch(name, x_path, threads, iters, warmup, seconds):
    """PyTorch is often far slower than the estimate: its loop is also
    bounded by time (2 x --seconds)."""
    env = dict(os.environ, OMP_NUM_THREADS=str(threads))
    out = run([PYTHON, os.path.join(HERE, "torch_bench.py"), name, x_path, threads,
               iters, min(warmup, 10), 2 * seconds], env=env).stdout
    return json.loads(out.strip().splitlines()[-1])


def measure_config(ctx, name, meta, batch, threads, x_path):
    path = os.path.join(ctx.models, name + ".onnx")
    iters, warmup = iterations(meta, batch, ctx.seconds)
    samples = {tool: [] for tool in TOOLS}
    extra = {"seqrt_load_ms": [], "seqrt_plan_ms": [], "seqrt_rss_kb": [],
             "ort_load_ms": []}
    for r in range(ctx.rounds):
        order = TOOLS[r % 3:] + TOOLS[:r % 3]
        for tool in order:
            if tool == "seqrt":
                res = time_seqrt(ctx.seqrt, path, x_path, threads, iters, warmup)
                extra["seqrt_load_ms"].append(res["load_ms"])
                extra["seqrt_plan_ms"].append(res["plan_ms"])
                extra["seqrt_rss_kb"].append(res["peak_rss_kb"])
            elif tool == "ort":
                res = time_ort(ctx.ort, path, x_path, threads, iters, warmup)
                extra["ort_load_ms"].append(res["load_ms"])
            else:
                res = time_torch(name, x_path, threads, iters, warmup, ctx.seconds)
            samples[tool].append(res["p50_us"])
    result = {"model": name, "batch": batch, "threads": threads, "iters": iters,
              "rounds": ctx.rounds}
    for tool in TOOLS:
        result[tool + "_p50_us"] = statistics.median(samples[tool])
        result[tool + "_p50_rounds"] = samples[tool]
    result["seqrt_load_ms"] = statistics.median(extra["seqrt_load_ms"])
    result["seqrt_plan_ms"] = statistics.median(extra["seqrt_plan_ms"])
    result["seqrt_peak_rss_kb"] = max(extra["seqrt_rss_kb"])
    result["ort_load_ms"] = statistics.median(extra["ort_load_ms"])
    log("%-10s b=%-3d t=%d  seqrt %10.1f us  ort %10.1f us  torch %10.1f us  (load %s)" % (
        name, batch, threads, result["seqrt_p50_us"], result["ort_p50_us"],
        result["torch_p50_us"], load_average()))
    return result


def measure_idle(ctx, name, meta, batch, threads, x_path):
    """CPU burned with 10 ms pauses between runs, relative to run time x threads."""
    path = os.path.join(ctx.models, name + ".onnx")
    iters, _ = iterations(meta, batch, ctx.seconds)
    iters = max(20, min(iters, int(1.5 * ctx.seconds / 0.010)))
    res = time_seqrt(ctx.seqrt, path, x_path, threads, iters, 5, interval_ms=10)
    return {"model": name, "batch": batch, "threads": threads, "iters": iters,
            "cpu_us_per_run": res["cpu_us_per_run"], "mean_us": res["mean_us"],
            "cpu_busy_ratio": res["cpu_busy_ratio"]}


def measure_profile(ctx, name, meta, batch, threads, x_path):
    """seqrt's steps: implementation, mean time, GFLOP/s, weight GB/s."""
    path = os.path.join(ctx.models, name + ".onnx")
    iters, warmup = iterations(meta, batch, ctx.seconds)
    res = time_seqrt(ctx.seqrt, path, x_path, threads, iters, warmup, profile=True)
    return {"model": name, "batch": batch, "threads": threads, "iters": iters,
            "p50_us": res["p50_us"], "mean_us": res["mean_us"], "steps": res["steps"]}


def profile_markdown(profiles, peaks):
    out = ["Where seqrt's time goes: `seqrt bench --profile`, one run per configuration "
           "after the timed rounds. A step is a layer and what is fused into it; "
           "GFLOP/s and weight GB/s are also given as a share of the run's dnnl_sgemm "
           "and streaming-read limits for the step's own thread count. GFLOP/s counts "
           "a convolution's direct arithmetic (a Winograd step can exceed 100%); "
           "weights that stay in cache between runs read faster than the streaming "
           "read. A profiled run always runs its batch whole on one plan, so where "
           "the timed runs went in batch slices (README, \"Batch slices\") the "
           "profile's p50 is the whole plan's.\n"]
    for p in profiles:
        out.append("**%s, batch %d, %d thread%s**: p50 %s, mean %s, steps %s\n" % (
            p["model"], p["batch"], p["threads"], "s" if p["threads"] > 1 else "",
            fmt_us(p["p50_us"]), fmt_us(p["mean_us"]),
            fmt_us(sum(s["mean_us"] for s in p["steps"]))))
        out.append("| step | layers | kinds | implementation | threads | time | share "
                   "| GFLOP/s | of sgemm | weight GB/s | of read |")
        out.append("|---|---|---|---|---|---|---|---|---|---|---|")
        for s in p["steps"]:
            peak = peaks.get(s["threads"], peaks[p["threads"]])
            weights = s["weight_bytes"] > 0
            out.append("| %d | %d..%d | %s | %s | %d | %s | %.1f%% | %.1f | %.0f%% | %s | %s |" % (
                s["step"], s["first_layer"], s["last_layer"], s["kinds"], s["impl"],
                s["threads"], fmt_us(s["mean_us"]), 100 * s["share"], s["gflops"],
                100 * s["gflops"] / peak["sgemm_gflops"],
                "%.1f" % s["weight_gbps"] if weights else "-",
                "%.0f%%" % (100 * s["weight_gbps"] / peak["read_gbps"]) if weights else "-"))
        out.append("")
    return "\n".join(out)


# ---- targets ---------------------------------------------------------------


def physics_bound_us(meta, batch, peak):
    flops = meta["flops_per_sample"] * batch
    compute = flops / (0.95 * peak["sgemm_gflops"] * 1e3)
    memory = meta["parameters"] * 4 / (0.95 * peak["read_gbps"] * 1e3)
    return max(compute, memory)


def check_targets(results, idle, metas, peaks):
    """One row per target and configuration: (target, config, value, limit, met)."""
    rows = []
    by_key = {(r["model"], r["batch"], r["threads"]): r for r in results}
    for r in results:
        meta, peak = metas[r["model"]], peaks[r["threads"]]
        cfg = "%s b=%d t=%d" % (r["model"], r["batch"], r["threads"])
        bound = physics_bound_us(meta, r["batch"], peak)
        factor = 0.7 if r["batch"] == 1 else 0.9
        limit = max(factor * r["ort_p50_us"], bound)
        rows.append(("p50 <= %.1fx ORT (or the physics bound)" % factor, cfg,
                     r["seqrt_p50_us"], limit, r["seqrt_p50_us"] <= limit))
        if r["batch"] == 1:
            limit = max(0.2 * r["torch_p50_us"], bound)
            rows.append(("p50 <= 0.2x PyTorch at batch 1 (or the physics bound)", cfg,
                         r["seqrt_p50_us"], limit, r["seqrt_p50_us"] <= limit))
        if r["threads"] > 1 and (r["model"], r["batch"], 1) in by_key:
            one = by_key[(r["model"], r["batch"], 1)]["seqrt_p50_us"]
            rows.append(("%d threads not slower than 1" % r["threads"], cfg,
                         r["seqrt_p50_us"], one, r["seqrt_p50_us"] <= one))
        if r["model"] == "wide_mlp" and r["batch"] > 1:
            gflops = meta["flops_per_sample"] * r["batch"] / r["seqrt_p50_us"] / 1e3
            limit = 0.95 * peak["sgemm_gflops"]
            rows.append(("GFLOP/s >= 95% of dnnl_sgemm", cfg, gflops, limit, gflops >= limit))
        limit = 0.3 * r["ort_load_ms"]
        rows.append(("load <= 0.3x ORT session creation (ms)", cfg, r["seqrt_load_ms"], limit,
                     r["seqrt_load_ms"] <= limit))
        weights = meta["parameters"] * 4
        act = meta["largest_activation_per_sample"] * r["batch"] * 4
        limit = (weights + 2 * act + 25 * MB) / 1024
        rows.append(("peak RSS <= weights + 2 x largest activation + 25 MB (kB)", cfg,
                     r["seqrt_peak_rss_kb"], limit, r["seqrt_peak_rss_kb"] <= limit))
    for i in idle:
        cfg = "%s b=%d t=%d" % (i["model"], i["batch"], i["threads"])
        rows.append(("idle: CPU <= 1.2x run time x threads (--interval-ms 10)", cfg,
                     i["cpu_busy_ratio"], 1.2, i["cpu_busy_ratio"] <= 1.2))
    return rows


# ---- report ----------------------------------------------------------------


def fmt_us(us):
    if us >= 10000:
        return "%.1f ms" % (us / 1000)
    if us >= 1000:
        return "%.2f ms" % (us / 1000)
    return "%.1f µs" % us


def markdown(info, peaks, results, idle, rows, command, started, load_before, load_after):
    out = []
    out.append("Measured %s by `%s`; load average %s before, %s after.\n" % (
        started, command, load_before, load_after))
    out.append("Machine: %s, %d cores%s, %.0f GB, Linux %s, Debian %s. Versions: seqrt %s, "
               "oneDNN %s, ONNX Runtime %s (C API), PyTorch %s with OpenBLAS %s, gcc %s.\n" % (
                   info["cpu"], info["cores"], " (AVX-512)" if info["avx512"] else "",
                   info["memory_gb"], info["kernel"], info["os"], info["seqrt"],
                   info["onednn"], info["onnxruntime"], info["torch"], info["openblas"],
                   info["gcc"]))
    out.append("| threads | dnnl_sgemm 2048³ | streaming read |")
    out.append("|---|---|---|")
    for t, p in sorted(peaks.items()):
        out.append("| %d | %.1f GFLOP/s | %.1f GB/s |" % (t, p["sgemm_gflops"], p["read_gbps"]))
    out.append("")
    out.append("p50 latency (median of the rounds' p50s), and seqrt's ratio to each:\n")
    out.append("| model | batch | threads | seqrt | ONNX Runtime | PyTorch | seqrt/ORT | "
               "seqrt/PyTorch | bound |")
    out.append("|---|---|---|---|---|---|---|---|---|")
    for r in results:
        bound = physics_bound_us(r["meta"], r["batch"], peaks[r["threads"]])
        out.append("| %s | %d | %d | %s | %s | %s | %.2f | %.2f | %s |" % (
            r["model"], r["batch"], r["threads"], fmt_us(r["seqrt_p50_us"]),
            fmt_us(r["ort_p50_us"]), fmt_us(r["torch_p50_us"]),
            r["seqrt_p50_us"] / r["ort_p50_us"], r["seqrt_p50_us"] / r["torch_p50_us"],
            fmt_us(bound)))
    out.append("\n`bound`: the larger of the FLOPs at 95% of dnnl_sgemm's GFLOP/s and the "
               "weight bytes at 95% of the streaming-read bandwidth, for that thread count.\n")
    out.append("Load, plan and memory (seqrt, median over the rounds; peak RSS the largest):\n")
    out.append("| model | batch | threads | seqrt load | seqrt first run (plan) | "
               "ORT session | seqrt peak RSS |")
    out.append("|---|---|---|---|---|---|---|")
    for r in results:
        out.append("| %s | %d | %d | %.1f ms | %.1f ms | %.1f ms | %.1f MB |" % (
            r["model"], r["batch"], r["threads"], r["seqrt_load_ms"], r["seqrt_plan_ms"],
            r["ort_load_ms"], r["seqrt_peak_rss_kb"] / 1024))
    out.append("\nIdle CPU (`seqrt bench --interval-ms 10`): CPU time / (run time × threads):\n")
    out.append("| model | batch | threads | run | CPU per run | ratio |")
    out.append("|---|---|---|---|---|---|")
    for i in idle:
        out.append("| %s | %d | %d | %s | %s | %.2f |" % (
            i["model"], i["batch"], i["threads"], fmt_us(i["mean_us"]),
            fmt_us(i["cpu_us_per_run"]), i["cpu_busy_ratio"]))
    out.append("\nTargets (each configuration):\n")
    out.append("| target | configuration | value | limit | met |")
    out.append("|---|---|---|---|---|")
    for target, cfg, value, limit, met in rows:
        out.append("| %s | %s | %.3g | %.3g | %s |" % (target, cfg, value, limit,
                                                       "yes" if met else "**no**"))
    return "\n".join(out) + "\n"


def plot(results, path):
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    threads = sorted({r["threads"] for r in results})
    fig, axes = plt.subplots(1, len(threads), figsize=(6 * len(threads), 0.45 * len(
        results) / len(threads) + 2), sharey=True, squeeze=False)
    for ax, t in zip(axes[0], threads):
        rows = [r for r in results if r["threads"] == t]
        labels = ["%s b=%d" % (r["model"], r["batch"]) for r in rows]
        y = np.arange(len(rows))
        seqrt = [r["seqrt_p50_us"] / r["ort_p50_us"] for r in rows]
        torch_ = [r["torch_p50_us"] / r["ort_p50_us"] for r in rows]
        ax.barh(y - 0.2, seqrt, 0.4, label="seqrt", color="tab:blue")
        ax.barh(y + 0.2, torch_, 0.4, label="PyTorch eager", color="tab:orange")
        ax.axvline(1.0, color="black", lw=1, label="ONNX Runtime")
        ax.axvline(0.7, color="tab:green", lw=1, ls="--", label="target 0.7× (batch 1)")
        ax.set_xscale("log")
        ax.set_yticks(y)
        ax.set_yticklabels(labels)
        ax.invert_yaxis()
        ax.set_xlabel("p50 latency / ONNX Runtime's (log scale, lower is faster)")
        ax.set_title("%d thread%s" % (t, "" if t == 1 else "s"))
        ax.grid(axis="x", which="both", alpha=0.3)
    axes[0][0].legend(loc="lower right", fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=110)


# ---- main ------------------------------------------------------------------


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--build", default=os.path.join(ROOT, "build"),
                        help="build folder holding seqrt (default build/)")
    parser.add_argument("--models", default=export_bench.DEFAULT_OUT)
    parser.add_argument("--out", default=None, help="report folder (default BUILD/bench)")
    parser.add_argument("--ort", default=None, help="ortbench binary")
    parser.add_argument("--threads", default="1,2")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--seconds", type=float, default=1.0,
                        help="rough time of one timed loop")
    parser.add_argument("--only", nargs="+", choices=sorted(export_bench.MODELS))
    parser.add_argument("--seqrt-arg", action="append", default=[],
                        help="extra seqrt bench argument, e.g. --seqrt-arg=--winograd")
    args = parser.parse_args(argv)
    SEQRT_ARGS.extend(args.seqrt_arg)

    started = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())
    command = "/usr/bin/python3 scripts/bench/compare.py " + " ".join(
        sys.argv[1:] if argv is None else argv)
    load_before = load_average()
    seqrt_bin = os.path.join(os.path.abspath(args.build), "seqrt")
    if not os.access(seqrt_bin, os.X_OK):
        sys.exit("compare.py: %s is not built" % seqrt_bin)
    ort = find_ortbench(args.ort)
    check_openblas()
    out_dir = args.out or os.path.join(os.path.abspath(args.build), "bench")
    os.makedirs(out_dir, exist_ok=True)
    threads_list = [int(t) for t in args.threads.split(",")]
    names = args.only or list(export_bench.MODELS)
    metas = {}
    for name in names:
        export_bench.export(name, args.models)
        with open(os.path.join(args.models, name + ".json")) as f:
            metas[name] = json.load(f)
    info = machine_info(seqrt_bin, ort)
    peaks_bin = build_peaks(os.path.abspath(args.build))
    largest_weights = max(m["parameters"] * 4 for m in metas.values())
    peaks = measure_peaks(peaks_bin, threads_list, max(largest_weights, 256 * MB))

    ctx = argparse.Namespace(seqrt=seqrt_bin, ort=ort, models=args.models,
                             rounds=args.rounds, seconds=args.seconds)
    results, idle, profiles = [], [], []
    with tempfile.TemporaryDirectory() as tmp:
        for name in names:
            meta = metas[name]
            for batch in meta["batches"]:
                rng = np.random.default_rng(1000 + batch)
                x = rng.uniform(-1, 1, (batch,) + tuple(meta["input_shape"])).astype(np.float32)
                x_path = os.path.join(tmp, "%s_%d.npy" % (name, batch))
                np.save(x_path, x)
                for t in threads_list:
                    r = measure_config(ctx, name, meta, batch, t, x_path)
                    results.append(r)
                idle.append(measure_idle(ctx, name, meta, batch, max(threads_list), x_path))
                for t in threads_list:
                    profiles.append(measure_profile(ctx, name, meta, batch, t, x_path))
                with open(os.path.join(out_dir, "partial.json"), "w") as f:
                    json.dump({"peaks": peaks, "results": results, "idle": idle,
                               "profiles": profiles}, f)
    # The limits again at the end: the best of both is the practical peak.
    for t, p in measure_peaks(peaks_bin, threads_list, max(largest_weights, 256 * MB)).items():
        peaks[t] = {k: max(peaks[t][k], p[k]) for k in p}
    load_after = load_average()
    rows = check_targets(results, idle, metas, peaks)
    for r in results:
        r["meta"] = metas[r["model"]]
    text = markdown(info, peaks, results, idle, rows, command, started, load_before, load_after)
    with open(os.path.join(out_dir, "performance-table.md"), "w") as f:
        f.write(text)
    with open(os.path.join(out_dir, "performance-profile.md"), "w") as f:
        f.write(profile_markdown(profiles, peaks))
    with open(os.path.join(out_dir, "performance.json"), "w") as f:
        json.dump({"machine": info, "peaks": peaks, "results": results, "idle": idle,
                   "profiles": profiles,
                   "targets": rows, "command": command, "started": started,
                   "load_before": load_before, "load_after": load_after}, f, indent=1)
    plot(results, os.path.join(out_dir, "performance.png"))
    print(text)
    met = sum(1 for row in rows if row[4])
    log("targets met: %d of %d; report in %s" % (met, len(rows), out_dir))
    return 0


if __name__ == "__main__":
    sys.exit(main())
