"""models/torch_export.py: the files it writes (model, input, expected,
per-layer outputs, manifest), its refusal of non-chains, and that seqrt
verifies what it exports."""

import json
import os
import subprocess
import sys
import textwrap
import unittest

import numpy as np
import torch
from torch import nn

import e2e_common as e2e
import torch_export

USER_MODULE = textwrap.dedent(
    """
    import torch
    from torch import nn

    def convnet():
        return nn.Sequential(
            nn.Conv2d(1, 4, 3, padding=1),
            nn.BatchNorm2d(4),
            nn.ReLU(),
            nn.Sequential(nn.MaxPool2d(2), nn.Dropout(0.3)),
            nn.Flatten(),
            nn.Linear(4 * 4 * 4, 5),
        )

    class Reuse(nn.Module):
        def __init__(self):
            super().__init__()
            self.fc = nn.Linear(4, 4)

        def forward(self, x):
            return self.fc(torch.relu(self.fc(x)))

    def reuse():
        return Reuse()

    def tuple_out():
        return nn.LSTM(4, 3, batch_first=True)

    def not_a_module():
        return 42
    """
)

SCRIPT = os.path.join(e2e.SOURCE_DIR, "models", "torch_export.py")


class TorchExport(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.work = e2e.scratch_dir("TorchExport")
        cls.user_file = os.path.join(cls.work, "user_models.py")
        with open(cls.user_file, "w") as f:
            f.write(USER_MODULE)

    def cli(self, factory, shape, out, *extra):
        cmd = [sys.executable, SCRIPT, "--module", "%s:%s" % (self.user_file, factory), "--shape", shape,
               "--out", out] + list(extra)
        return subprocess.run(cmd, capture_output=True, text=True, timeout=300)

    def test_cli_writes_model_layers_and_manifest(self):
        out = os.path.join(self.work, "convnet")
        proc = self.cli("convnet", "3,1,8,8", out, "--seed", "7")
        self.assertEqual(proc.returncode, 0, e2e.describe(proc))
        with open(os.path.join(out, "manifest.json")) as f:
            manifest = json.load(f)
        names = [layer["name"] for layer in manifest["layers"]]
        self.assertEqual(names, ["0", "1", "2", "3.0", "3.1", "4", "5"])
        classes = [layer["class"] for layer in manifest["layers"]]
        self.assertEqual(classes, ["Conv2d", "BatchNorm2d", "ReLU", "MaxPool2d", "Dropout", "Flatten", "Linear"])
        self.assertEqual(manifest["layers"][3]["input_shape"], [3, 4, 8, 8])
        self.assertEqual(manifest["layers"][3]["output_shape"], [3, 4, 4, 4])
        self.assertEqual(manifest["output_shape"], [3, 5])

        x = np.load(os.path.join(out, "input.npy"))
        self.assertEqual((x.shape, x.dtype), ((3, 1, 8, 8), np.float32))
        # Recompute independently: same seed, run the prefix of the Sequential.
        torch.manual_seed(7)
        model = torch_export.load_factory(self.user_file + ":convnet")().eval()
        with torch.no_grad():
            h = torch.from_numpy(x)
            flat = [model[0], model[1], model[2], model[3][0], model[3][1], model[4], model[5]]
            for layer, entry in zip(flat, manifest["layers"]):
                h = layer(h)
                saved = np.load(os.path.join(out, entry["file"]))
                np.testing.assert_array_equal(saved, h.numpy(), err_msg=entry["name"])
        np.testing.assert_array_equal(np.load(os.path.join(out, "expected.npy")), h.numpy())
        self.assertTrue(os.path.getsize(os.path.join(out, "model.onnx")) > 0)

    def test_rerun_is_identical_and_leaves_no_stale_layers(self):
        out = os.path.join(self.work, "rerun")
        factory = torch_export.load_factory(self.user_file + ":convnet")
        torch_export.export_for_seqrt(factory, (2, 1, 8, 8), out, seed=3)
        stale = os.path.join(out, "layers", "999_stale.npy")
        np.save(stale, np.zeros(1))
        first = np.load(os.path.join(out, "expected.npy"))
        torch_export.export_for_seqrt(factory, (2, 1, 8, 8), out, seed=3)
        self.assertFalse(os.path.exists(stale))
        np.testing.assert_array_equal(np.load(os.path.join(out, "expected.npy")), first)

    def test_library_accepts_a_module(self):
        out = os.path.join(self.work, "module")
        model = nn.Sequential(nn.Linear(6, 3), nn.Tanh())
        manifest = torch_export.export_for_seqrt(model, (4, 6), out)
        self.assertEqual([l["name"] for l in manifest["layers"]], ["0", "1"])
        self.assertEqual(manifest["layers"][1]["file"], os.path.join("layers", "001_1.npy"))

    def test_int64_input_for_embedding(self):
        out = os.path.join(self.work, "embedding")
        model = nn.Sequential(nn.Embedding(7, 3), nn.Flatten())
        torch_export.export_for_seqrt(model, (2, 5), out, dtype="int64")
        x = np.load(os.path.join(out, "input.npy"))
        self.assertEqual(x.dtype, np.int64)
        self.assertTrue(0 <= x.min() and x.max() < 7)

    def test_reused_module_is_refused(self):
        proc = self.cli("reuse", "2,4", os.path.join(self.work, "reuse"))
        self.assertEqual(proc.returncode, 2, e2e.describe(proc))
        self.assertIn("'fc'", proc.stderr)
        self.assertIn("called twice", proc.stderr)
        self.assertIn("not a chain", proc.stderr)

    def test_tuple_output_is_refused(self):
        with self.assertRaisesRegex(torch_export.NotAChainError, "tuple"):
            torch_export.export_for_seqrt(torch_export.load_factory(self.user_file + ":tuple_out"), (2, 5, 4),
                                          os.path.join(self.work, "lstm"))

    def test_bad_arguments(self):
        for factory, shape in (("no_such_factory", "2,4"), ("not_a_module", "2,4"), ("convnet", "2,x")):
            with self.subTest(factory=factory, shape=shape):
                proc = self.cli(factory, shape, os.path.join(self.work, "bad"))
                self.assertNotEqual(proc.returncode, 0, e2e.describe(proc))
                self.assertTrue(proc.stderr.strip(), e2e.describe(proc))
                self.assertNotIn("Traceback", proc.stderr)

    def test_seqrt_verifies_the_export(self):
        e2e.require_seqrt(self)
        out = os.path.join(self.work, "verify")
        proc = self.cli("convnet", "2,1,8,8", out, "--seed", "11")
        self.assertEqual(proc.returncode, 0, e2e.describe(proc))
        proc = e2e.seqrt("verify", os.path.join(out, "model.onnx"), "--input", os.path.join(out, "input.npy"),
                         "--expect", os.path.join(out, "expected.npy"))
        self.assertEqual(proc.returncode, 0, e2e.describe(proc))


if __name__ == "__main__":
    e2e.main()
