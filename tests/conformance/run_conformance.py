#!/usr/bin/python3
"""ONNX backend conformance runner for seqrt.

Runs the ONNX backend test cases of Debian's ``libonnx-testdata`` (one
folder per case: ``model.onnx`` and ``test_data_set_N/{input,output}_K.pb``)
through ``seqrt run`` and compares seqrt's output with ``output_0.pb`` here,
in NumPy. Every case ends in one outcome:

  pass         every data set matches within atol/rtol (1e-4 unless the
               manifest documents a looser bound for the case)
  rejected     the graph is not a chain (several real inputs or outputs,
               fan-out, joins) and seqrt refuses it with exit 2: with the
               "not a chain" message, or naming an op, opset or type it met
               first
  unsupported  a chain graph refused with exit 2 naming an op, opset, domain
               or data type seqrt does not handle
  fail         a mismatch, a run error (exit 1), any other import error, or
               a "not a chain" message on a graph that is a chain
  crash        killed by a signal, a timeout or an unexpected exit code

``expected.json`` beside this script holds the outcome expected of each case
and the documented looser tolerances. A case doing worse than expected is a
regression and fails the suite, as does any fail or crash; a case doing
better is reported as improved and does not fail. See README.md.
"""

import argparse
import collections
import concurrent.futures
import json
import os
import re
import subprocess
import sys
import tempfile

import numpy as np
import onnx
from onnx import numpy_helper

HERE = os.path.dirname(os.path.abspath(__file__))
SOURCE_DIR = os.environ.get("SEQRT_SOURCE_DIR") or os.path.dirname(os.path.dirname(HERE))
MANIFEST = os.path.join(SOURCE_DIR, "tests", "conformance", "expected.json")
DEFAULT_DATA = "/usr/share/libonnx-testdata/data"
# `real` holds only download links (data.json) in the Debian package; its
# cases are run only where a model.onnx is present.
CATEGORIES = ("node", "pytorch-converted", "pytorch-operator", "simple", "real")
ATOL = 1e-4
RTOL = 1e-4

# Outcomes, from worst to best: a case doing worse than its expectation is a
# regression. (Whether a refusal counts as rejected or unsupported depends on
# the graph's shape, which a case keeps.)
RANK = {"crash": 0, "fail": 1, "unsupported": 2, "rejected": 3, "pass": 4}
EXPECTABLE = ("pass", "rejected", "unsupported")

# seqrt's refusals (exit 2). Not a chain: several inputs or outputs, fan-out,
# joins, dangling tensors. Unsupported: an op, opset, domain, data type, rank
# or kind of graph input seqrt does not handle.
NOT_A_CHAIN = re.compile(
    r"model has (\d+ inputs|\d+ outputs|no input)|single-(input|output) chains|"
    r"branching graph|joins \d+ activations|not a single chain|"
    r"not on the chain|the chain ends there", re.IGNORECASE)
UNSUPPORTED = re.compile(
    r"unsupported|not supported|supported for opsets|seqrt handles opsets|"
    r"no opset of the default ONNX domain|has element type \S+; seqrt runs|"
    r"seqrt handles ranks|symbolic dim|no tensor shape|"
    r"uses only (the first|one) output|does not depend on the values of the graph input",
    re.IGNORECASE)

# ---- the graph, as the onnx package sees it ----------------------------------


class Shape:
    """What a case's graph is, independently of seqrt."""

    def __init__(self, model):
        graph = model.graph
        constants = {t.name for t in graph.initializer}
        self.inputs = [v for v in graph.input if v.name not in constants]
        self.outputs = list(graph.output)
        self.structure = structure(graph, self.inputs, self.outputs)

    def is_chain(self):
        return self.structure == "chain"


def structure(graph, inputs, outputs):
    """"chain", or why not: "N inputs", "N outputs", "no nodes", "branching"
    (a tensor computed from the input is read by several nodes) or "joins"
    (a node reads several such tensors)."""
    if len(inputs) != 1:
        return "%d inputs" % len(inputs)
    if len(outputs) != 1:
        return "%d outputs" % len(outputs)
    if not graph.node:
        return "no nodes"
    data = {inputs[0].name}  # tensors computed from the graph input
    readers = collections.Counter()
    joins = False
    for node in graph.node:  # ONNX requires topological order
        used = [name for name in node.input if name in data]
        if not used:
            continue
        joins |= len(used) > 1
        readers.update(set(used))
        data.update(name for name in node.output if name)
    if any(n > 1 for n in readers.values()):
        return "branching"
    return "joins" if joins else "chain"


# ---- cases ----------------------------------------------------------------------


class Case:
    def __init__(self, category, name, folder):
        self.category = category
        self.name = name
        self.key = "%s/%s" % (category, name)
        self.folder = folder
        self.data_sets = sorted(
            (d for d in os.listdir(folder) if d.startswith("test_data_set_")),
            key=lambda d: int(d.rsplit("_", 1)[1]))


def find_cases(data_dir, pattern):
    cases = []
    for category in CATEGORIES:
        root = os.path.join(data_dir, category)
        if not os.path.isdir(root):
            continue
        for name in sorted(os.listdir(root)):
            folder = os.path.join(root, name)
            case = "%s/%s" % (category, name)
            if os.path.isfile(os.path.join(folder, "model.onnx")) and \
                    (not pattern or pattern.search(case)):
                cases.append(Case(category, name, folder))
    return cases


class Result:
    def __init__(self, case, outcome, detail, shape=None):
        self.case = case
        self.outcome = outcome
        self.detail = detail
        self.shape = shape


def seqrt_message(stderr):
    """seqrt's first `seqrt:` line, without the prefix and the model path."""
    lines = [l for l in stderr.splitlines() if l.startswith("seqrt:")]
    if not lines:
        tail = stderr.strip().splitlines()
        return tail[-1] if tail else "no message"
    message = lines[0][len("seqrt:"):].strip()
    return re.sub(r"^\S*model\.onnx: ", "", message)


def read_tensor(path):
    tensor = onnx.TensorProto()
    with open(path, "rb") as f:
        tensor.ParseFromString(f.read())
    return numpy_helper.to_array(tensor)


def compare(got, want, atol, rtol):
    """None when `got` matches `want`, else why not (the rule of seqrt
    verify: an element fails when beyond both atol and rtol; NaN and Inf
    must match exactly)."""
    if got.shape != want.shape:
        return "output shape %s, expected %s" % (list(got.shape), list(want.shape))
    if want.dtype.kind not in "fiub":
        return "expected output of dtype %s" % want.dtype
    got = got.astype(np.float64)
    want = want.astype(np.float64)
    finite = np.isfinite(want) & np.isfinite(got)
    same_special = (np.isnan(got) & np.isnan(want)) | (~finite & (got == want))
    abs_err = np.where(finite, np.abs(got - want), 0.0)
    rel_err = abs_err / np.maximum(np.abs(want), 1e-30)
    bad = (finite & (abs_err > atol) & (rel_err > rtol)) | (~finite & ~same_special)
    if not bad.any():
        return None
    worst = np.unravel_index(np.argmax(np.where(finite, abs_err, np.inf)), got.shape)
    return ("%d of %d elements beyond atol %g and rtol %g; max abs error %.3g "
            "at %s (got %.7g, expected %.7g)"
            % (bad.sum(), bad.size, atol, rtol, abs_err.max(initial=0.0),
               list(worst), got[worst], want[worst]))


def run_seqrt(args, case, data_set, tolerance, scratch):
    """Outcome of one data set: (outcome, detail)."""
    set_dir = os.path.join(case.folder, data_set)
    out = os.path.join(scratch, "%s__%s__%s.pb" % (case.category, case.name, data_set))
    cmd = [args.seqrt, "run", os.path.join(case.folder, "model.onnx"),
           "--input", os.path.join(set_dir, "input_0.pb"), "--output", out,
           "--threads", str(args.threads)]
    try:
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=args.timeout)
    except subprocess.TimeoutExpired:
        return "crash", "timed out after %g s" % args.timeout
    message = seqrt_message(proc.stderr)
    if proc.returncode < 0:
        return "crash", "killed by signal %d: %s" % (-proc.returncode, message)
    if proc.returncode == 2:
        return "import", message
    if proc.returncode == 1:
        return "fail", "exit 1: %s" % message
    if proc.returncode != 0:
        return "crash", "exit %d: %s" % (proc.returncode, message)
    try:
        got = read_tensor(out)
        want = read_tensor(os.path.join(set_dir, "output_0.pb"))
    except Exception as exc:  # an unreadable file is this case's failure
        return "fail", "cannot read the output: %s" % exc
    finally:
        if os.path.exists(out):
            os.remove(out)
    mismatch = compare(got, want, tolerance["atol"], tolerance["rtol"])
    return ("fail", "%s: %s" % (data_set, mismatch)) if mismatch else ("pass", "")


def import_outcome(shape, message):
    """Outcome of an exit 2 (the model was not imported). A graph that is not
    a chain is correctly rejected by any of seqrt's refusals (its shape, or an
    op, opset or type met first); a chain graph refused as not being one is a
    failure, and any other import error too."""
    refused = NOT_A_CHAIN.search(message) or UNSUPPORTED.search(message)
    if refused and not shape.is_chain():
        return "rejected", "exit 2: %s" % message
    if UNSUPPORTED.search(message):
        return "unsupported", "exit 2: %s" % message
    if NOT_A_CHAIN.search(message):
        return "fail", "exit 2 on a chain graph: %s" % message
    return "fail", "exit 2: %s" % message


def run_case(args, case, tolerance, scratch):
    try:
        shape = Shape(onnx.load(os.path.join(case.folder, "model.onnx")))
    except Exception as exc:
        return Result(case, "fail", "the onnx package cannot load the model: %s" % exc)
    if not case.data_sets:
        return Result(case, "fail", "no test_data_set_* folder", shape)
    for data_set in case.data_sets:
        outcome, detail = run_seqrt(args, case, data_set, tolerance, scratch)
        if outcome == "import":
            outcome, detail = import_outcome(shape, detail)
        if outcome != "pass":
            return Result(case, outcome, detail, shape)
    return Result(case, "pass", "", shape)


# ---- the manifest ----------------------------------------------------------------


ABOUT = [
    "Expected outcome of each ONNX backend test case of libonnx-testdata run by",
    "tests/conformance/run_conformance.py: pass, rejected (not a chain) or",
    "unsupported. Regenerate 'expected' with --update-manifest (see README.md).",
    "'tolerances' is written by hand: a looser atol/rtol for a case, with the reason.",
]


def load_manifest(path):
    if not os.path.exists(path):
        return {"expected": {}, "tolerances": {}}
    with open(path) as f:
        manifest = json.load(f)
    manifest.setdefault("expected", {})
    manifest.setdefault("tolerances", {})
    for key, outcome in manifest["expected"].items():
        if outcome not in EXPECTABLE:
            sys.exit("run_conformance: %s: %s expects '%s'; use one of %s"
                     % (path, key, outcome, ", ".join(EXPECTABLE)))
    for key, entry in manifest["tolerances"].items():
        if not entry.get("reason"):
            sys.exit("run_conformance: %s: the tolerance of %s has no reason" % (path, key))
    return manifest


def tolerance_of(manifest, key):
    entry = manifest["tolerances"].get(key, {})
    return {"atol": entry.get("atol", ATOL), "rtol": entry.get("rtol", RTOL)}


def write_manifest(path, manifest, results, filtered):
    """The current outcomes become the expectations. Fail and crash are not
    recorded: the case keeps its previous expectation, and keeps failing.
    Without --filter, cases no longer in the data are dropped."""
    old_expected = manifest["expected"]
    run = {r.case.key for r in results}
    expected = {k: v for k, v in manifest["expected"].items() if filtered or k in run}
    for r in results:
        if r.outcome in EXPECTABLE:
            expected[r.case.key] = r.outcome
    kept = set(expected) | run
    manifest = {
        "about": ABOUT,
        "expected": expected,
        "tolerances": {k: v for k, v in manifest["tolerances"].items() if k in kept},
    }
    with open(path, "w") as f:
        json.dump(manifest, f, indent=2, sort_keys=True)
        f.write("\n")
    return changes(old_expected, expected)


def changes(old, new):
    """Lines naming each expectation added, changed or dropped."""
    lines = []
    for key in sorted(set(old) | set(new)):
        before, after = old.get(key, "(none)"), new.get(key, "(dropped)")
        if before != after:
            lines.append("%s: %s -> %s" % (key, before, after))
    return lines


# ---- judging and reporting ---------------------------------------------------------


class Verdict:
    PASSED, FAILED, SKIPPED = "passed", "failed", "skipped"


def must_pass(result):
    """The issue's bar: every chain-shaped pytorch-converted case passes."""
    return result.case.category == "pytorch-converted" and \
        result.shape is not None and result.shape.is_chain()


def judge(result, expected, require_converted):
    """(verdict, note) of a result against its expectation (None: new case)."""
    outcome = result.outcome
    if require_converted and must_pass(result) and outcome != "pass":
        return Verdict.FAILED, "chain-shaped pytorch-converted cases must pass"
    if outcome in ("crash", "fail"):
        return Verdict.FAILED, "expected %s" % expected if expected else "new case"
    if expected is not None and RANK[outcome] < RANK[expected]:
        return Verdict.FAILED, "regression: expected %s" % expected
    note = ""
    if expected is None:
        note = "new case, update the manifest"
    elif RANK[outcome] > RANK[expected]:
        note = "improved from %s, update the manifest" % expected
    if outcome == "unsupported":
        return Verdict.SKIPPED, note
    return Verdict.PASSED, note


def case_line(result, verdict, note):
    """`LABEL category/case (details)`; a regression is labelled FAIL."""
    label = result.outcome
    if verdict == Verdict.FAILED and label != "crash":
        label = "fail"
    parts = [result.detail] if result.detail else []
    if result.shape is not None and not result.shape.is_chain():
        parts.append("graph: %s" % result.shape.structure)
    if label != result.outcome:
        parts.append("outcome %s" % result.outcome)
    if note:
        parts.append(note)
    line = "%-11s %s" % (label.upper(), result.case.key)
    return line + (" (%s)" % "; ".join(parts) if parts else "")


def reason_of(detail):
    """seqrt's message with names and numbers taken out, ops kept."""
    op = re.search(r"unsupported op '([^']+)'", detail)
    if op:
        return "unsupported op %s" % op.group(1)
    return re.sub(r"\d+", "N", re.sub(r"'[^']*'", "'X'", detail.replace("exit 2: ", "")))


def print_summary(results, judged):
    print()
    print("Outcomes by category:")
    outcomes = ("pass", "rejected", "unsupported", "fail", "crash")
    print("  %-18s %s" % ("", " ".join("%11s" % o for o in outcomes)))
    by_category = collections.defaultdict(collections.Counter)
    for r in results:
        by_category[r.case.category][r.outcome] += 1
    for category in CATEGORIES:
        if category in by_category:
            counts = by_category[category]
            print("  %-18s %s" % (category, " ".join("%11d" % counts[o] for o in outcomes)))

    reasons = collections.Counter(
        reason_of(r.detail) for r in results if r.outcome == "unsupported")
    if reasons:
        print()
        print("Unsupported chain graphs, by reason:")
        for reason, n in sorted(reasons.items(), key=lambda item: (-item[1], item[0])):
            print("  %4d  %s" % (n, reason))

    todo = [r for r in results if must_pass(r) and r.outcome != "pass"]
    if todo:
        print()
        print("Chain-shaped pytorch-converted cases not passing yet (%d):" % len(todo))
        for r in todo:
            print("  %s: %s" % (r.case.key, r.detail))

    improved = [r for r, (v, note) in zip(results, judged) if note.startswith(("improved", "new"))]
    if improved:
        print()
        print("%d cases improved or new: run with --update-manifest" % len(improved))
    failed = [r for r, (v, _) in zip(results, judged) if v == Verdict.FAILED]
    if failed:
        print()
        print("Failures (%d):" % len(failed))
        for r in failed:
            print("  %s: %s" % (r.case.key, r.outcome))


def parse_args():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seqrt", default=os.environ.get("SEQRT_BIN"),
                        help="the seqrt binary (default: $SEQRT_BIN)")
    parser.add_argument("--data", default=DEFAULT_DATA,
                        help="libonnx-testdata's data folder (default: %(default)s)")
    parser.add_argument("--work-dir", default=os.environ.get("SEQRT_WORK_DIR"),
                        help="scratch folder for seqrt's outputs (default: $SEQRT_WORK_DIR, "
                        "else the system's temporary folder)")
    parser.add_argument("--manifest", default=MANIFEST, help="default: %(default)s")
    parser.add_argument("--update-manifest", action="store_true",
                        help="record the current outcomes as the expected ones")
    parser.add_argument("--filter", default=None,
                        help="run only cases whose category/name matches this regex")
    parser.add_argument("--require-converted", action="store_true",
                        help="fail on any chain-shaped pytorch-converted case that "
                        "does not pass, whatever the manifest says")
    parser.add_argument("-j", "--jobs", type=int, default=2)
    parser.add_argument("--timeout", type=float, default=120,
                        help="seconds per seqrt run before it counts as a crash "
                        "(default: %(default)s)")
    parser.add_argument("--threads", type=int, default=1,
                        help="seqrt's threads per run (default: %(default)s)")
    return parser.parse_args()


def main():
    sys.stdout.reconfigure(errors="backslashreplace")  # seqrt's messages are UTF-8
    args = parse_args()
    if not args.seqrt or not os.access(args.seqrt, os.X_OK):
        sys.exit("run_conformance: no seqrt binary: pass --seqrt BIN or set SEQRT_BIN")
    if not os.path.isdir(args.data):
        sys.exit("run_conformance: no test data at %s (apt-get install libonnx-testdata)"
                 % args.data)
    pattern = re.compile(args.filter) if args.filter else None
    cases = find_cases(args.data, pattern)
    if not cases:
        sys.exit("run_conformance: no case in %s%s" % (
            args.data, " matches --filter" if pattern else ""))
    manifest = load_manifest(args.manifest)
    if args.work_dir:
        os.makedirs(args.work_dir, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=args.work_dir) as scratch, \
            concurrent.futures.ThreadPoolExecutor(max(1, args.jobs)) as pool:
        futures = [pool.submit(run_case, args, c, tolerance_of(manifest, c.key), scratch)
                   for c in cases]
        results = []
        judged = []
        for future in futures:  # printed in case order
            result = future.result()
            verdict, note = judge(result, manifest["expected"].get(result.case.key),
                                  args.require_converted)
            print(case_line(result, verdict, note), flush=True)
            results.append(result)
            judged.append((verdict, note))

    print_summary(results, judged)
    if args.update_manifest:
        changed = write_manifest(args.manifest, manifest, results, bool(pattern))
        print("\nwrote %s: %d expectations changed%s" % (
            args.manifest, len(changed), ":" if 0 < len(changed) <= 50 else ""))
        for line in changed if len(changed) <= 50 else []:
            print("  " + line)
    counts = collections.Counter(v for v, _ in judged)
    print("%d passed, %d failed, %d skipped"
          % (counts[Verdict.PASSED], counts[Verdict.FAILED], counts[Verdict.SKIPPED]))
    return 1 if counts[Verdict.FAILED] else 0


if __name__ == "__main__":
    sys.exit(main())
