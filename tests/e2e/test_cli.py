"""The seqrt CLI's contract: exit codes (0 ok, 1 error or mismatch, 2 model
cannot be imported), one-line 'seqrt:' error messages, run/verify/inspect
output, --threads. Models are exported with the installed PyTorch."""

import contextlib
import os
import re
import shutil
import subprocess
import unittest

import numpy as np
import torch
from torch import nn

import e2e_common as e2e
import export_examples


@contextlib.contextmanager
def environment(name, value):
    """The environment variable `name` is `value` meanwhile (None: unset)."""
    previous = os.environ.get(name)
    if value is None:
        os.environ.pop(name, None)
    else:
        os.environ[name] = value
    try:
        yield
    finally:
        if previous is None:
            os.environ.pop(name, None)
        else:
            os.environ[name] = previous


def plans_printed():
    """seqrt prints each plan it builds (SEQRT_PRINT_PLANS) meanwhile."""
    return environment("SEQRT_PRINT_PLANS", "1")


class CliTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.work = e2e.scratch_dir("CliTest")
        cls.model = export_examples.seeded_model("ordered_dict")
        cls.model_path = os.path.join(cls.work, "ordered_dict.onnx")
        e2e.export_onnx(cls.model, torch.zeros(2, 10), cls.model_path)
        cls.x = e2e.seeded_input((10,), 3)
        cls.expected = e2e.torch_output(cls.model, cls.x)
        cls.input_path = cls.save("input.npy", cls.x)
        cls.expected_path = cls.save("expected.npy", cls.expected)

    @classmethod
    def save(cls, name, array):
        path = os.path.join(cls.work, name)
        np.save(path, array)
        return path

    def setUp(self):
        e2e.require_seqrt(self)

    def assert_exit(self, proc, code):
        self.assertEqual(proc.returncode, code, e2e.describe(proc))
        if code != 0:
            e2e.assert_error_line(self, proc)

    # ---- run -------------------------------------------------------------

    def test_run_writes_correct_npy(self):
        out = os.path.join(self.work, "run_output.npy")
        proc = e2e.seqrt("run", self.model_path, "--input", self.input_path, "--output", out)
        self.assert_exit(proc, 0)
        actual = np.load(out)
        self.assertEqual(actual.dtype, np.float32)
        self.assertIsNone(e2e.compare(actual, self.expected))

    def test_run_any_batch(self):
        for batch in (1, 2, 7):
            with self.subTest(batch=batch):
                x = e2e.seeded_input((10,), batch)
                proc, actual = e2e.run_model(self.model_path, x, self.work, "batch%d" % batch)
                self.assert_exit(proc, 0)
                self.assertIsNone(e2e.compare(actual, e2e.torch_output(self.model, x)))

    def test_missing_input_file(self):
        out = os.path.join(self.work, "never.npy")
        proc = e2e.seqrt("run", self.model_path, "--input", os.path.join(self.work, "no_such.npy"), "--output", out)
        self.assert_exit(proc, 1)
        self.assertIn("no_such.npy", proc.stderr)
        self.assertFalse(os.path.exists(out))

    def test_missing_model_file(self):
        missing = os.path.join(self.work, "no_such_model.onnx")
        proc = e2e.seqrt("run", missing, "--input", self.input_path, "--output", os.path.join(self.work, "o.npy"))
        self.assert_exit(proc, 2)
        self.assertIn("no_such_model.onnx", proc.stderr)

    def test_unwritable_output(self):
        out = os.path.join(self.work, "no_such_dir", "out.npy")
        proc = e2e.seqrt("run", self.model_path, "--input", self.input_path, "--output", out)
        self.assert_exit(proc, 1)

    def test_wrong_input_shape(self):
        for shape in [(3, 11), (3, 2, 5), (10,)]:
            with self.subTest(shape=shape):
                bad = self.save("bad_shape.npy", np.ones(shape, np.float32))
                out = os.path.join(self.work, "bad_out.npy")
                proc = e2e.seqrt("run", self.model_path, "--input", bad, "--output", out)
                self.assert_exit(proc, 1)

    def test_not_an_npy_input(self):
        bad = os.path.join(self.work, "garbage.npy")
        with open(bad, "wb") as f:
            f.write(b"this is not numpy\n")
        proc = e2e.seqrt("run", self.model_path, "--input", bad, "--output", os.path.join(self.work, "o.npy"))
        self.assert_exit(proc, 1)

    def test_not_onnx(self):
        text_file = os.path.join(self.work, "notes.onnx")
        with open(text_file, "w") as f:
            f.write("definitely not a protobuf\n" * 10)
        for model in (text_file, self.input_path):
            with self.subTest(model=os.path.basename(model)):
                proc = e2e.seqrt("run", model, "--input", self.input_path, "--output", os.path.join(self.work, "o.npy"))
                self.assert_exit(proc, 2)
                proc = e2e.seqrt("inspect", model)
                self.assert_exit(proc, 2)

    def test_truncated_onnx(self):
        with open(self.model_path, "rb") as f:
            data = f.read()
        truncated = os.path.join(self.work, "truncated.onnx")
        with open(truncated, "wb") as f:
            f.write(data[: len(data) // 2])
        proc = e2e.seqrt("inspect", truncated)
        self.assert_exit(proc, 2)

    def test_threads_give_same_output(self):
        mlp = export_examples.seeded_model("mnist_mlp")
        path = os.path.join(self.work, "mnist_mlp.onnx")
        e2e.export_onnx(mlp, torch.zeros(2, 784), path)
        x = e2e.seeded_input((784,), 16)
        outputs = []
        for threads in ("1", "2"):
            proc, actual = e2e.run_model(path, x, self.work, "threads" + threads, ("--threads", threads))
            self.assert_exit(proc, 0)
            outputs.append(actual)
        self.assertIsNone(e2e.compare(outputs[0], e2e.torch_output(mlp, x)))
        np.testing.assert_allclose(outputs[1], outputs[0], rtol=1e-5, atol=1e-6)

    def test_winograd_option_matches_pytorch(self):
        # --winograd takes Winograd where the default keeps the direct
        # convolution for its memory (1.2 MB kernels; batch 4, 2 threads);
        # the output still matches PyTorch. (oneDNN 2.6 has Winograd only
        # with AVX-512; without it, seqrt's Winograd kernel.)
        marker = "wino" if e2e.onednn_runs_avx512() else "(Conv) threads=2 impl=kernel"
        torch.manual_seed(5)
        net = torch.nn.Sequential(torch.nn.Conv2d(128, 256, 3, padding=1), torch.nn.ReLU(),
                                  torch.nn.Conv2d(256, 128, 3, padding=1)).eval()
        path = os.path.join(self.work, "vgg_block.onnx")
        e2e.export_onnx(net, torch.zeros(1, 128, 14, 14), path)
        x = e2e.seeded_input((128, 14, 14), 4)
        with plans_printed():
            runs = {flag: e2e.run_model(path, x, self.work, "wino%d" % len(flag), flag + ("--threads", "2"))
                    for flag in ((), ("--winograd",))}
        for flag, (proc, actual) in runs.items():
            self.assert_exit(proc, 0)
            self.assertEqual(marker in proc.stderr, bool(flag), e2e.describe(proc))
            self.assertIsNone(e2e.compare(actual, e2e.torch_output(net, x)))

    def test_batch_slices_option(self):
        # --batch-slices on runs a batch of 4 on 2 threads as 2 slices,
        # off runs it whole, whatever SEQRT_BATCH_SPLIT says; both match
        # PyTorch. An unknown mode is a usage error.
        x = e2e.seeded_input((10,), 4)
        expected = e2e.torch_output(self.model, x)
        for mode, env, slices in (("on", "0", True), ("off", "1", False)):
            with self.subTest(mode=mode), plans_printed(), environment("SEQRT_BATCH_SPLIT", env):
                proc, actual = e2e.run_model(self.model_path, x, self.work, "slices_" + mode,
                                             ("--threads", "2", "--batch-slices", mode))
                self.assert_exit(proc, 0)
                self.assertEqual("in 2 slices (always)" in proc.stderr, slices, e2e.describe(proc))
                self.assertIsNone(e2e.compare(actual, expected))
        proc, _ = e2e.run_model(self.model_path, x, self.work, "slices_bad", ("--batch-slices", "sometimes"))
        self.assert_exit(proc, 1)
        self.assertIn("--batch-slices expects auto, off or on, got 'sometimes'", proc.stderr)

    def test_bands_match_pytorch(self):
        # At batch 1 on 2 threads a VGG-style run of convolutions and pools
        # runs split into bands of rows (one-thread Winograd each); the
        # output still matches PyTorch. 30x22: a pool reads across the
        # bands' border. Without AVX-512 (no Winograd) it runs as plain
        # steps, never on oneDNN's reference kernels.
        torch.manual_seed(6)
        nn = torch.nn
        net = nn.Sequential(nn.Conv2d(3, 32, 3, padding=1), nn.BatchNorm2d(32), nn.ReLU(),
                            nn.Conv2d(32, 48, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
                            nn.Conv2d(48, 64, 3, padding=1), nn.ReLU(),
                            nn.Conv2d(64, 64, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
                            nn.Flatten(), nn.Linear(64 * 7 * 5, 10))
        e2e.randomize_batchnorm(net)
        net.eval()
        path = os.path.join(self.work, "bands.onnx")
        e2e.export_onnx(net, torch.zeros(1, 3, 30, 22), path)
        x = e2e.seeded_input((3, 30, 22), 1)
        with plans_printed():
            proc, actual = e2e.run_model(path, x, self.work, "bands", ("--threads", "2"))
        self.assert_exit(proc, 0)
        if e2e.onednn_runs_avx512():
            self.assertIn("2 bands:", proc.stderr, e2e.describe(proc))
        else:
            self.assertNotIn("bands", proc.stderr, e2e.describe(proc))
            self.assertNotIn("impl=ref", proc.stderr, e2e.describe(proc))
        self.assertIsNone(e2e.compare(actual, e2e.torch_output(net, x)))

    def test_signal_bands_match_pytorch(self):
        # At batch 1 on 2 threads an M5-style run of 1-D convolutions and
        # pools runs split into bands of samples, on every CPU; the output
        # still matches PyTorch. 4001 samples: pools read across the
        # bands' border, and the last one drops samples.
        torch.manual_seed(8)
        nn = torch.nn
        net = nn.Sequential(nn.Conv1d(1, 32, 80, stride=4), nn.BatchNorm1d(32), nn.ReLU(),
                            nn.MaxPool1d(4),
                            nn.Conv1d(32, 40, 3, padding=1), nn.ReLU(), nn.MaxPool1d(3, 2, 1),
                            nn.Conv1d(40, 64, 3), nn.ReLU(), nn.MaxPool1d(4),
                            nn.AdaptiveAvgPool1d(1), nn.Flatten(), nn.Linear(64, 10))
        e2e.randomize_batchnorm(net)
        net.eval()
        path = os.path.join(self.work, "signal_bands.onnx")
        e2e.export_onnx(net, torch.zeros(1, 1, 4001), path)
        x = e2e.seeded_input((1, 4001), 1)
        with plans_printed():
            proc, actual = e2e.run_model(path, x, self.work, "signal_bands", ("--threads", "2"))
        self.assert_exit(proc, 0)
        self.assertIn("2 bands:", proc.stderr, e2e.describe(proc))
        self.assertNotIn("impl=ref", proc.stderr, e2e.describe(proc))
        self.assertIsNone(e2e.compare(actual, e2e.torch_output(net, x)))

    def test_avx2_wide_few_channel_convolutions_match_pytorch(self):
        # With oneDNN held to AVX2, convolutions of few channels with padded
        # kernels of 9 and wider (AlexNet's 11x11 stride-4 first one, a 1-D
        # audio stem), where oneDNN falls back to im2col and a gemm, run
        # seqrt's patch kernel; the output matches PyTorch's at batch 3 on 1
        # and 2 threads and in batch slices (one-thread plans side by side).
        torch.manual_seed(11)
        nn = torch.nn
        image = nn.Sequential(nn.Conv2d(3, 64, 11, stride=4, padding=2), nn.ReLU(),
                              nn.MaxPool2d(3, 2),
                              nn.Conv2d(64, 4, 1),
                              nn.Conv2d(4, 16, 9, padding=4), nn.ReLU(),
                              nn.Flatten(), nn.Linear(16 * 7 * 8, 10)).eval()
        audio = nn.Sequential(nn.Conv1d(1, 32, 9, padding=4), nn.ReLU(), nn.MaxPool1d(4),
                              nn.Conv1d(32, 16, 3), nn.ReLU(),
                              nn.Flatten(), nn.Linear(16 * 98, 10)).eval()
        for name, net, shape, kernels in (("image", image, (3, 63, 71), 2), ("audio", audio, (1, 400), 1)):
            path = os.path.join(self.work, "patch_%s.onnx" % name)
            e2e.export_onnx(net, torch.zeros((1,) + shape), path)
            x = e2e.seeded_input(shape, 3)
            expected = e2e.torch_output(net, x)
            for args in (("--threads", "1"), ("--threads", "2"), ("--threads", "2", "--batch-slices", "on")):
                with self.subTest(model=name, args=args), plans_printed(), \
                        environment("ONEDNN_MAX_CPU_ISA", "AVX2"):
                    proc, actual = e2e.run_model(path, x, self.work, "patch_" + name, args)
                    self.assert_exit(proc, 0)
                    plans = proc.stderr.count("plan: batch")
                    self.assertGreater(plans, 0, e2e.describe(proc))
                    found = re.findall(r"\(Conv\) threads=\d impl=kernel", proc.stderr)
                    self.assertEqual(len(found), kernels * plans, e2e.describe(proc))
                    self.assertIsNone(e2e.compare(actual, expected))

    def test_avx2_winograd_matches_pytorch(self):
        # With oneDNN held to AVX2 (as on a CPU without AVX-512) the 3x3
        # convolutions with 32+ channels run seqrt's Winograd F(2x2, 3x3)
        # kernel; the output matches PyTorch's direct convolutions, with
        # and without a ReLU, on odd maps, at batch 3 on 1 and 2 threads,
        # and in batch slices (one-thread plans side by side).
        torch.manual_seed(9)
        nn = torch.nn
        net = nn.Sequential(nn.Conv2d(3, 32, 3, padding=1), nn.ReLU(),
                            nn.Conv2d(32, 48, 3, padding=1), nn.BatchNorm2d(48), nn.ReLU(),
                            nn.MaxPool2d(2),
                            nn.Conv2d(48, 64, 3), nn.ReLU(),
                            nn.Conv2d(64, 64, 3, padding=2),
                            nn.Flatten(), nn.Linear(64 * 15 * 11, 10))
        e2e.randomize_batchnorm(net)
        net.eval()
        path = os.path.join(self.work, "winograd.onnx")
        e2e.export_onnx(net, torch.zeros(1, 3, 30, 22), path)
        x = e2e.seeded_input((3, 30, 22), 3)
        expected = e2e.torch_output(net, x)
        for args in (("--threads", "1"), ("--threads", "2"), ("--threads", "2", "--batch-slices", "on")):
            with self.subTest(args=args), plans_printed(), environment("ONEDNN_MAX_CPU_ISA", "AVX2"):
                proc, actual = e2e.run_model(path, x, self.work, "winograd", args)
                self.assert_exit(proc, 0)
                plans = proc.stderr.count("plan: batch")
                self.assertGreater(plans, 0, e2e.describe(proc))
                self.assertEqual(len(re.findall(r"\(Conv\) threads=\d impl=kernel", proc.stderr)), 3 * plans,
                                 e2e.describe(proc))
                self.assertIsNone(e2e.compare(actual, expected))

    def test_big_linear_layers_at_many_rows_match_pytorch(self):
        # From 32 rows, Linear layers with 16 MB of weights or more run
        # seqrt's kernel: with AVX-512 one sgemm on feature-major
        # activations (src=ba); without it (ONEDNN_MAX_CPU_ISA=AVX2 on any
        # CPU) seqrt's GEMM on plain ones (src=ab), the small last layer
        # too. The output still matches PyTorch, on 1 and 2 threads and
        # with batch slices.
        torch.manual_seed(7)
        nn = torch.nn
        net = nn.Sequential(nn.Linear(2048, 2048), nn.ReLU(), nn.Linear(2048, 2048), nn.ReLU(),
                            nn.Linear(2048, 10)).eval()
        path = os.path.join(self.work, "big_linear.onnx")
        e2e.export_onnx(net, torch.zeros(2, 2048), path)
        x = e2e.seeded_input((2048,), 40)
        expected = e2e.torch_output(net, x)
        path_3d = os.path.join(self.work, "big_linear_3d.onnx")
        e2e.export_onnx(net, torch.zeros(2, 5, 2048), path_3d)
        x_3d = e2e.seeded_input((5, 2048), 8)
        expected_3d = e2e.torch_output(net, x_3d)
        for isa in (None, "AVX2"):
            avx512 = isa is None and e2e.onednn_runs_avx512()
            kernels, layout = (2, "ba") if avx512 else (3, "ab")
            for args in (("--threads", "1"), ("--threads", "2"), ("--threads", "2", "--batch-slices", "on")):
                with self.subTest(isa=isa, args=args), plans_printed(), environment("ONEDNN_MAX_CPU_ISA", isa):
                    proc, actual = e2e.run_model(path, x, self.work, "big_linear", args)
                    self.assert_exit(proc, 0)
                    # Batch slices of 20 rows run on oneDNN.
                    many = [b for b in re.findall(r"plan: batch (\d+)", proc.stderr) if int(b) >= 32]
                    self.assertGreater(len(many), 0, e2e.describe(proc))
                    self.assertEqual(proc.stderr.count(f"impl=kernel src={layout} dst={layout}"),
                                     kernels * len(many), e2e.describe(proc))
                    self.assertIsNone(e2e.compare(actual, expected))
            # On [B, T, 2048] (MatMul and Add in the graph) the rows are B x T.
            layout = "cab" if avx512 else "abc"
            with self.subTest(isa=isa, rank=3), plans_printed(), environment("ONEDNN_MAX_CPU_ISA", isa):
                proc, actual = e2e.run_model(path_3d, x_3d, self.work, "big_linear_3d")
                self.assert_exit(proc, 0)
                self.assertEqual(proc.stderr.count(f"impl=kernel src={layout} dst={layout}"), kernels,
                                 e2e.describe(proc))
                self.assertIsNone(e2e.compare(actual, expected_3d))

    # ---- verify ----------------------------------------------------------

    def verify(self, expected_path, *extra):
        return e2e.seqrt("verify", self.model_path, "--input", self.input_path, "--expect", expected_path, *extra)

    def test_verify_passes(self):
        proc = self.verify(self.expected_path)
        self.assert_exit(proc, 0)
        self.assertRegex(proc.stdout, r"(?i)max abs")
        self.assertRegex(proc.stdout, r"(?i)max rel")

    def test_verify_fails_on_perturbed_expected(self):
        perturbed = self.expected.copy()
        perturbed[1, 1] += 0.5
        proc = self.verify(self.save("perturbed.npy", perturbed))
        self.assertEqual(proc.returncode, 1, e2e.describe(proc))
        match = re.search(r"(?i)max abs error\D*?([0-9.]+(?:e[-+]?\d+)?)", proc.stdout)
        self.assertIsNotNone(match, e2e.describe(proc))
        self.assertAlmostEqual(float(match.group(1)), 0.5, delta=1e-3)
        self.assertRegex(proc.stdout, r"\[\s*1,\s*1\s*\]", "worst index [1, 1] not printed" + e2e.describe(proc))

    def test_verify_tolerances(self):
        perturbed = self.expected.copy()
        perturbed[0, 0] += 0.01
        path = self.save("slightly_off.npy", perturbed)
        self.assertEqual(self.verify(path).returncode, 1)
        # Within atol: passes.
        self.assert_exit(self.verify(path, "--atol", "0.02"), 0)
        # Beyond atol but within rtol: an element fails only when both are exceeded.
        rel = 0.01 / abs(float(perturbed[0, 0])) * 1.5
        self.assert_exit(self.verify(path, "--atol", "1e-6", "--rtol", repr(rel)), 0)

    def test_verify_wrong_expected_shape(self):
        proc = self.verify(self.save("wrong_shape.npy", self.expected[:, :1].copy()))
        self.assert_exit(proc, 1)

    def test_verify_not_onnx(self):
        proc = e2e.seqrt("verify", self.input_path, "--input", self.input_path, "--expect", self.expected_path)
        self.assert_exit(proc, 2)

    # ---- inspect ---------------------------------------------------------

    def test_inspect_ordered_dict(self):
        proc = e2e.seqrt("inspect", self.model_path)
        self.assert_exit(proc, 0)
        rows = {}
        for line in proc.stdout.splitlines():
            for name in ("fc1", "relu", "fc2"):
                if re.search(r"(^|\s)%s(\s|$)" % name, line):
                    rows.setdefault(name, []).append(line)
        for name, params in (("fc1", "55"), ("relu", "0"), ("fc2", "12")):
            self.assertEqual(len(rows.get(name, [])), 1, "one row for %s" % name + e2e.describe(proc))
            self.assertIn(params, rows[name][0].split(), "%s has %s parameters" % (name, params))
        self.assertLess(proc.stdout.index(rows["fc1"][0]), proc.stdout.index(rows["relu"][0]))
        self.assertLess(proc.stdout.index(rows["relu"][0]), proc.stdout.index(rows["fc2"][0]))
        self.assertRegex(proc.stdout, r"(?i)total[^\n]*\b67\b")

    def test_inspect_convnet_shapes(self):
        model = export_examples.seeded_model("small_convnet")
        path = os.path.join(self.work, "small_convnet.onnx")
        e2e.export_onnx(model, torch.zeros(2, 1, 28, 28), path)
        proc = e2e.seqrt("inspect", path)
        self.assert_exit(proc, 0)
        total = sum(p.numel() for p in model.parameters())  # BatchNorm's 16 fold into the conv
        self.assertRegex(proc.stdout, r"(?i)total[^\n]*\b%d\b" % (total - 16))
        self.assertRegex(proc.stdout, r"14,\s*14\]")
        self.assertRegex(proc.stdout, r"1568\]")

    def test_inspect_lists_folded_modules_on_the_layer_row(self):
        class Frozen(nn.Module):  # FrozenBatchNorm's forward: folded into the Conv
            def __init__(self):
                super().__init__()
                self.register_buffer("scale", torch.rand(1, 4, 1, 1) + 0.5)
                self.register_buffer("shift", torch.rand(1, 4, 1, 1))

            def forward(self, x):
                return x * self.scale + self.shift

        model = nn.Sequential(nn.Conv2d(3, 4, 3), Frozen(), nn.ReLU()).eval()
        path = e2e.export_onnx(model, torch.zeros(2, 3, 8, 8), os.path.join(self.work, "frozen.onnx"))
        proc = e2e.seqrt("inspect", path)
        self.assert_exit(proc, 0)
        lines = proc.stdout.splitlines()
        conv = [line for line in lines if " Conv " in line]
        self.assertEqual(len(conv), 1, proc.stdout)
        self.assertTrue(conv[0].endswith("  (folded: 1)"), proc.stdout)
        self.assertEqual([line for line in lines if " Mul " in line or line.startswith(")")], [], proc.stdout)

    # ---- usage -----------------------------------------------------------

    def test_usage_errors(self):
        for args in (["frobnicate"], ["run", self.model_path], ["run", self.model_path, "--input", self.input_path],
                     ["verify", self.model_path, "--input", self.input_path], ["inspect"],
                     ["run", self.model_path, "--input", self.input_path, "--output", "o.npy", "--threads", "x"]):
            with self.subTest(args=args):
                self.assert_exit(e2e.seqrt(*args), 1)

    def test_examples_folder_with_a_mismatch(self):
        """`seqrt` with no arguments exits 1 when a bundled model does not
        match (SEQRT_MODELS_DIR points it at another folder)."""
        folder = e2e.scratch_dir("CliTest", "examples")
        for name, off in (("good", 0.0), ("bad", 1.0)):
            target = os.path.join(folder, name)
            os.makedirs(target)
            shutil.copy(self.model_path, os.path.join(target, "model.onnx"))
            np.save(os.path.join(target, "input.npy"), self.x)
            np.save(os.path.join(target, "expected.npy"), self.expected + off)
        env = dict(os.environ, SEQRT_MODELS_DIR=folder)
        proc = subprocess.run([e2e.seqrt_binary()], capture_output=True, text=True, env=env, timeout=e2e.RUN_TIMEOUT)
        self.assertEqual(proc.returncode, 1, e2e.describe(proc))
        lines = proc.stdout.splitlines()
        self.assertEqual(len([l for l in lines if "good" in l.split()]), 1, e2e.describe(proc))
        bad = [l for l in lines if "bad" in l.split()]
        self.assertEqual(len(bad), 1, e2e.describe(proc))
        self.assertIn("FAIL", bad[0])


if __name__ == "__main__":
    e2e.main()
