"""`seqrt bench --json` on the bundled models: the output is one valid JSON
object with every field the issue names, and the numbers are consistent
with each other. No timing is asserted (the benchmark is its own command,
scripts/bench/compare.py)."""

import json
import math
import os
import re
import tempfile
import unittest

import numpy as np

import e2e_common as e2e

REQUIRED = ("p50_us", "p90_us", "p99_us", "throughput_per_s", "load_ms", "peak_rss_kb",
            "cpu_us_per_run")


class BenchJson(unittest.TestCase):
    def setUp(self):
        e2e.require_seqrt(self)

    def bench(self, model, *args):
        proc = e2e.seqrt("bench", model, "--json", *args)
        self.assertEqual(proc.returncode, 0, proc.stderr)
        lines = proc.stdout.strip().splitlines()
        self.assertEqual(len(lines), 1, proc.stdout)  # one object, one line
        return json.loads(lines[0])

    def check_fields(self, result, batch, iters):
        for key in REQUIRED:
            self.assertIn(key, result)
            self.assertIsInstance(result[key], (int, float), key)
            self.assertTrue(math.isfinite(result[key]), key)
            self.assertGreater(result[key], 0, key)
        self.assertEqual(result["batch"], batch)
        self.assertEqual(result["iters"], iters)
        self.assertLessEqual(result["p50_us"], result["p90_us"])
        self.assertLessEqual(result["p90_us"], result["p99_us"])
        # throughput is batch / mean latency
        self.assertAlmostEqual(result["throughput_per_s"], batch * 1e6 / result["mean_us"],
                               delta=result["throughput_per_s"] * 2e-2)  # mean_us is rounded
        # a process that loaded a model and ran it holds at least a megabyte
        self.assertGreater(result["peak_rss_kb"], 1024)

    def test_every_example(self):
        for name in ("mnist_mlp", "small_convnet", "sequential"):
            with self.subTest(name=name):
                model = os.path.join(e2e.EXAMPLES_DIR, name, "model.onnx")
                result = self.bench(model, "--batch", "3", "--iters", "20", "--warmup", "2",
                                    "--threads", "1")
                self.check_fields(result, 3, 20)
                self.assertEqual(result["threads"], 1)

    def test_default_threads_are_reported(self):
        # Without --threads the runs use the OpenMP default: "threads" says
        # how many, not 0.
        model = os.path.join(e2e.EXAMPLES_DIR, "mnist_mlp", "model.onnx")
        result = self.bench(model, "--iters", "5", "--warmup", "1")
        self.check_fields(result, 1, 5)
        if "OMP_NUM_THREADS" in os.environ:
            self.assertGreaterEqual(result["threads"], 1)
        else:
            self.assertEqual(result["threads"], len(os.sched_getaffinity(0)))

    def test_input_file_and_interval(self):
        model = os.path.join(e2e.EXAMPLES_DIR, "small_convnet", "model.onnx")
        with tempfile.TemporaryDirectory() as tmp:
            x_path = os.path.join(tmp, "x.npy")
            np.save(x_path, np.random.default_rng(0).standard_normal((5, 1, 28, 28))
                    .astype(np.float32))
            result = self.bench(model, "--input", x_path, "--iters", "10", "--interval-ms", "2",
                                "--threads", "2")
        self.check_fields(result, 5, 10)
        self.assertEqual(result["interval_ms"], 2)
        self.assertGreater(result["cpu_busy_ratio"], 0)

    def test_profile_names_every_layer_once(self):
        model = os.path.join(e2e.EXAMPLES_DIR, "small_convnet", "model.onnx")
        result = self.bench(model, "--batch", "2", "--iters", "15", "--warmup", "2",
                            "--threads", "1", "--profile")
        self.check_fields(result, 2, 15)
        steps = result["steps"]
        inspect = e2e.seqrt("inspect", model)
        self.assertEqual(inspect.returncode, 0, inspect.stderr)
        rows = re.findall(r"^\s*\d+\s+(\S+)\s+(\S+)\s+\[", inspect.stdout, re.M)
        layers = [{"name": name, "kind": kind} for name, kind in rows]
        self.assertEqual(len(layers), 6, inspect.stdout)
        covered = [k for s in steps for k in range(s["first_layer"], s["last_layer"] + 1)]
        self.assertEqual(covered, list(range(len(layers))))
        for s in steps:
            self.assertEqual(s["runs"], 15)
            self.assertGreater(s["mean_us"], 0)
            self.assertEqual(s["kinds"].split("+"),
                             [layers[k]["kind"] for k in range(s["first_layer"],
                                                                s["last_layer"] + 1)])
            self.assertEqual(s["name"], layers[s["first_layer"]]["name"])
            self.assertTrue(s["impl"])
        self.assertAlmostEqual(sum(s["share"] for s in steps), 1.0, delta=1e-2)
        # the steps are timed inside the runs: together no longer than a run
        self.assertLessEqual(sum(s["mean_us"] for s in steps), result["mean_us"] * 1.01)
        convs = [s for s in steps if s["kinds"].startswith("Conv")]
        self.assertTrue(convs)
        self.assertTrue(all(s["flop"] > 0 and s["gflops"] > 0 for s in convs))
        # small_convnet: Conv 1->8 3x3 (80 parameters), Linear 1568->10
        self.assertEqual(sum(s["weight_bytes"] for s in steps), 4 * (80 + 15690))
        self.assertTrue(all(s["weight_gbps"] > 0 for s in convs))

    def test_profile_table(self):
        model = os.path.join(e2e.EXAMPLES_DIR, "mnist_mlp", "model.onnx")
        proc = e2e.seqrt("bench", model, "--iters", "5", "--profile")
        self.assertEqual(proc.returncode, 0, proc.stderr)
        table = proc.stdout.split("profile ", 1)[1].splitlines()
        self.assertIn("implementation", table[1])
        self.assertTrue(any("Linear" in row and "GFLOP/s" not in row for row in table[2:]))

    def test_input_batch_mismatch_is_an_error(self):
        model = os.path.join(e2e.EXAMPLES_DIR, "mnist_mlp", "model.onnx")
        with tempfile.TemporaryDirectory() as tmp:
            x_path = os.path.join(tmp, "x.npy")
            np.save(x_path, np.zeros((2, 784), np.float32))
            proc = e2e.seqrt("bench", model, "--json", "--input", x_path, "--batch", "4")
        self.assertEqual(proc.returncode, 1)
        self.assertIn("--batch 4", proc.stderr)
        self.assertEqual(proc.stdout, "")


if __name__ == "__main__":
    e2e.main()
