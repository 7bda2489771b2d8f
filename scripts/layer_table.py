#!/usr/bin/env python3
"""Markdown table of supported layers x opsets, from the layer tests' results.

The end-to-end layer tests (tests/e2e/test_layers_*.py, see
tests/e2e/layer_suite.py) append one JSON line per (table row, case, opset)
to $SEQRT_WORK_DIR/layer-results/<test>.jsonl:

    {"layer": "Conv2d", "case": "conv2d_groups", "index": 10, "opset": 13,
     "outcome": "pass", "detail": "", "note": ""}

outcome is pass / fail (seqrt against PyTorch), refused (torch could not
export), bug_pass / bug_fail (an exporter bug: seqrt against the ONNX
file's semantics) or form_pass / form_fail (a refused layer's ONNX form,
built with onnx.helper, against PyTorch).

This script merges those files and prints, on stdout, one row per layer
and one column per opset (9, 11, 13, 14, 17, 18+ by default), each cell
summarising every case of that layer at that opset:

    ✓                               every case matches PyTorch
    ✓ (k of n refused)              ...and torch refused k other cases
    ✗ (k of n)                      k of the n cases fail (a bare ✗: all)
    export refused                  torch 1.13 cannot export the layer
    export refused; ONNX form ✓     ...but the form a newer exporter would
                                    write (built with onnx.helper) runs
    exporter bug (ONNX semantics) ✓ torch 1.13 exports something else than
                                    PyTorch computes; seqrt matches the ONNX
                                    file
    –                               not tested at that opset

Usage: scripts/layer_table.py [RESULTS_DIR_OR_FILE...] [--opsets 9,11,13,14,17,18]
                              [--details]
Without a path it reads $SEQRT_WORK_DIR/layer-results, else
build/tests/e2e-work/layer-results (ctest's) or build/e2e-work/layer-results
(tests run by hand). --details also lists every case that is not ✓ with its
message (seqrt's error or the first mismatch).
"""

import argparse
import collections
import glob
import json
import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
SOURCE_DIR = os.path.dirname(HERE)

# Test scripts in the order their rows appear.
SCRIPT_ORDER = ("test_layers_conv", "test_layers_pool", "test_layers_norm", "test_layers_activation",
                "test_layers_shape", "test_layers_reduce", "test_layers_arith", "test_layers_opset18")
NEWER_OPSETS = 18  # the last column gathers every opset from here on

PASSING = {"pass", "bug_pass", "form_pass"}
FAILING = {"fail", "bug_fail", "form_fail"}

LEGEND = (
    "✓ every tested configuration matches PyTorch (atol = rtol = 1e-4, batch 1 and 3); "
    "✗ (k of n): k configurations fail; export refused: torch 1.13 cannot export it; "
    "ONNX form ✓: the graph a newer exporter writes, built with onnx.helper, matches PyTorch; "
    "exporter bug (ONNX semantics) ✓: torch 1.13's export computes something else than PyTorch "
    "and seqrt matches the ONNX file; 18+: models of opset 18 and later in the newer exporter's form "
    "(external data, FX node names); –: not tested."
)


def default_inputs():
    """$SEQRT_WORK_DIR/layer-results, else where ctest (build/tests/e2e-work)
    or a test run by hand (build/e2e-work) writes them."""
    work = os.environ.get("SEQRT_WORK_DIR")
    if work:
        return [os.path.join(work, "layer-results")]
    candidates = [os.path.join(SOURCE_DIR, "build", *parts, "layer-results")
                  for parts in (("tests", "e2e-work"), ("e2e-work",))]
    return [next((path for path in candidates if os.path.isdir(path)), candidates[0])]


def result_files(paths):
    files = []
    for path in paths:
        if os.path.isdir(path):
            files += glob.glob(os.path.join(path, "*.jsonl"))
        elif os.path.exists(path):
            files.append(path)
        else:
            raise SystemExit("layer_table.py: no results at %s (run the e2e tests first)" % path)

    def order(path):
        name = os.path.splitext(os.path.basename(path))[0]
        return (SCRIPT_ORDER.index(name) if name in SCRIPT_ORDER else len(SCRIPT_ORDER), name)

    return sorted(files, key=order)


def load(files):
    """Entries ordered by test script, then by the case's place in its
    script's case list; a later line for the same (file, layer, case, opset)
    replaces an earlier one (a rerun without emptying the file)."""
    entries = collections.OrderedDict()
    for file_number, path in enumerate(files):
        with open(path) as stream:
            for number, line in enumerate(stream, 1):
                if not line.strip():
                    continue
                try:
                    entry = json.loads(line)
                except ValueError as exc:
                    raise SystemExit("%s:%d: %s" % (path, number, exc))
                entry["order"] = (file_number, entry.get("index", 0))
                entries[(path, entry["layer"], entry["case"], entry["opset"])] = entry
    return sorted(entries.values(), key=lambda entry: entry["order"])


def column_of(opset, columns):
    if opset >= NEWER_OPSETS and NEWER_OPSETS in columns:
        return NEWER_OPSETS
    return opset if opset in columns else None


def cell(outcomes):
    if not outcomes:
        return "–"
    counts = collections.Counter(outcomes)
    failed = sum(counts[o] for o in FAILING)
    passed = sum(counts[o] for o in PASSING)
    refused = counts["refused"]
    if failed:
        return "✗" if not passed else "✗ (%d of %d)" % (failed, failed + passed)
    if not passed:
        return "export refused"
    if counts["form_pass"] and refused:
        return "export refused; ONNX form ✓"
    text = "exporter bug (ONNX semantics) ✓" if counts["bug_pass"] else "✓"
    if counts["form_pass"] and not counts["pass"] and not counts["bug_pass"]:
        text = "ONNX form ✓"
    if refused:
        text += " (%d of %d refused)" % (refused, refused + passed)
    return text


def table(entries, columns):
    """One row per layer, placed where its first case is."""
    rows = collections.OrderedDict()
    for entry in entries:
        column = column_of(entry["opset"], columns)
        if column is None:
            continue
        rows.setdefault(entry["layer"], collections.defaultdict(list))[column].append(entry["outcome"])
    header = ["layer"] + ["opset %s" % ("%d+" % c if c == NEWER_OPSETS else c) for c in columns]
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for layer, by_column in rows.items():
        lines.append("| " + " | ".join([layer] + [cell(by_column.get(c, [])) for c in columns]) + " |")
    return lines


def details(entries, columns):
    lines = []
    for entry in entries:
        if entry["outcome"] in PASSING or column_of(entry["opset"], columns) is None:
            continue
        lines.append("- %s / %s, opset %d: %s: %s" % (entry["layer"], entry["case"], entry["opset"], entry["outcome"],
                                                    entry["detail"]))
    return lines


def main(argv):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("paths", nargs="*", help="results folders or .jsonl files")
    parser.add_argument("--opsets", default="9,11,13,14,17,18",
                        help="columns; 18 stands for every opset >= 18 (default %(default)s)")
    parser.add_argument("--details", action="store_true", help="also list every case that is not a pass")
    args = parser.parse_args(argv)
    columns = [int(part) for part in args.opsets.split(",")]
    entries = load(result_files(args.paths or default_inputs()))
    if not entries:
        raise SystemExit("layer_table.py: the results files are empty")
    print("\n".join(table(entries, columns)))
    print()
    print(LEGEND)
    if args.details:
        print()
        print("\n".join(details(entries, columns)) or "Every tested case passes.")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
