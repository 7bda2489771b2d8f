"""scripts/layer_table.py: the README table of layers x opsets, from
synthetic results files (no seqrt, no torch)."""

import json
import os
import subprocess
import sys
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
SOURCE_DIR = os.environ.get("SEQRT_SOURCE_DIR") or os.path.dirname(os.path.dirname(HERE))
WORK_DIR = os.environ.get("SEQRT_WORK_DIR") or os.path.join(SOURCE_DIR, "build", "e2e-work")
SCRIPT = os.path.join(SOURCE_DIR, "scripts", "layer_table.py")


def entry(layer, case, index, opset, outcome, detail=""):
    return {"layer": layer, "case": case, "index": index, "opset": opset, "outcome": outcome, "detail": detail,
            "note": ""}


RESULTS = {
    "test_layers_conv.jsonl": [
        entry("Linear", "linear", 0, 11, "pass"),
        entry("Linear", "linear", 0, 13, "pass"),
        entry("Linear", "linear_3d", 1, 11, "pass"),
        entry("Linear", "linear_3d", 1, 13, "fail", "exit 2: unsupported op 'MatMul'"),
        entry("Conv padding='same'", "conv_same", 2, 11, "refused", "UnsupportedOperatorError"),
        entry("Conv padding='same'", "conv_same_form", 3, 11, "form_pass"),
        entry("Conv padding='same'", "conv_same", 2, 13, "refused", "UnsupportedOperatorError"),
        entry("Conv circular", "conv_circular", 4, 11, "bug_pass", "off by one"),
        entry("Conv circular", "conv_circular", 4, 13, "bug_fail", "batch 1: 3 of 9 elements differ"),
    ],
    "test_layers_opset18.jsonl": [
        entry("Linear", "mlp", 0, 18, "pass"),
        entry("Linear", "mlp", 0, 21, "pass"),
        entry("CELU", "celu_form", 1, 20, "fail", "exit 2: unsupported op 'Celu'"),
    ],
    "test_layers_activation.jsonl": [
        entry("CELU", "celu", 0, 11, "refused", "needs opset 12"),
        entry("CELU", "celu", 0, 13, "pass"),
        entry("CELU", "celu_after_conv", 1, 13, "pass"),
        entry("CELU", "celu_after_conv", 1, 11, "refused", "needs opset 12"),
        entry("Tanh", "tanh_a", 2, 11, "refused", "x"),
        entry("Tanh", "tanh_b", 3, 11, "pass"),
    ],
}


class LayerTable(unittest.TestCase):
    def setUp(self):
        self.folder = os.path.join(WORK_DIR, "LayerTable", "layer-results")
        os.makedirs(self.folder, exist_ok=True)
        for name in os.listdir(self.folder):
            os.remove(os.path.join(self.folder, name))
        for name, entries in RESULTS.items():
            with open(os.path.join(self.folder, name), "w") as stream:
                stream.write("".join(json.dumps(e) + "\n" for e in entries))

    def table(self, *args):
        proc = subprocess.run([sys.executable, SCRIPT, self.folder, "--opsets", "9,11,13,18"] + list(args),
                              capture_output=True, text=True, timeout=60)
        self.assertEqual(proc.returncode, 0, proc.stderr)
        return proc.stdout

    def rows(self, text):
        """{layer: [cells]} of the markdown table."""
        rows = {}
        for line in text.splitlines():
            if line.startswith("| ") and not line.startswith("| layer"):
                cells = [cell.strip() for cell in line.strip("|").split("|")]
                rows[cells[0]] = cells[1:]
        return rows

    def test_header(self):
        first = self.table().splitlines()[0]
        self.assertEqual(first, "| layer | opset 9 | opset 11 | opset 13 | opset 18+ |")

    def test_cells(self):
        rows = self.rows(self.table())
        self.assertEqual(rows["Linear"], ["–", "✓", "✗ (1 of 2)", "✓"])
        self.assertEqual(rows["Conv padding='same'"], ["–", "export refused; ONNX form ✓", "export refused", "–"])
        self.assertEqual(rows["Conv circular"], ["–", "exporter bug (ONNX semantics) ✓", "✗", "–"])
        self.assertEqual(rows["CELU"], ["–", "export refused", "✓", "✗"])
        self.assertEqual(rows["Tanh"], ["–", "✓ (1 of 2 refused)", "–", "–"])

    def test_row_order_follows_the_test_scripts(self):
        """Scripts in family order (conv before activation before opset18),
        rows where their first case is."""
        layers = list(self.rows(self.table()))
        self.assertEqual(layers, ["Linear", "Conv padding='same'", "Conv circular", "CELU", "Tanh"])

    def test_details_list_what_is_not_a_pass(self):
        text = self.table("--details")
        self.assertIn("- Linear / linear_3d, opset 13: fail: exit 2: unsupported op 'MatMul'", text)
        self.assertIn("- CELU / celu_form, opset 20: fail: exit 2: unsupported op 'Celu'", text)
        self.assertNotIn("linear, opset 11", text)

    def test_a_rerun_line_replaces_the_earlier_one(self):
        with open(os.path.join(self.folder, "test_layers_conv.jsonl"), "a") as stream:
            stream.write(json.dumps(entry("Linear", "linear_3d", 1, 13, "pass")) + "\n")
        self.assertEqual(self.rows(self.table())["Linear"][2], "✓")

    def test_missing_results_folder_is_an_error(self):
        proc = subprocess.run([sys.executable, SCRIPT, os.path.join(self.folder, "absent")], capture_output=True,
                              text=True, timeout=60)
        self.assertNotEqual(proc.returncode, 0)
        self.assertIn("no results", proc.stderr)


if __name__ == "__main__":
    unittest.main(verbosity=2)
