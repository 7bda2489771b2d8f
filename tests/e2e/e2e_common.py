"""Shared code for seqrt's end-to-end tests.

Each ``test_*.py`` in this folder is one ctest test, run as
``/usr/bin/python3 tests/e2e/test_x.py`` with the environment

    SEQRT_BIN         path of the seqrt binary
    SEQRT_SOURCE_DIR  the source tree (for models/)
    SEQRT_WORK_DIR    a scratch folder for exported models and .npy files

The tests export modules with the installed PyTorch at test time, run them
through the ``seqrt`` CLI in a subprocess and compare with what PyTorch
computes. Without SEQRT_BIN the binary is looked up in build/ of the source
tree; if it is not there the seqrt tests are skipped (ctest always sets it,
and a SEQRT_BIN that does not exist is a failure).
"""

import collections
import contextlib
import io
import os
import re
import shutil
import subprocess
import sys
import unittest
import warnings

import numpy as np
import torch
from torch import nn

HERE = os.path.dirname(os.path.abspath(__file__))
SOURCE_DIR = os.environ.get("SEQRT_SOURCE_DIR") or os.path.dirname(os.path.dirname(HERE))
WORK_DIR = os.environ.get("SEQRT_WORK_DIR") or os.path.join(SOURCE_DIR, "build", "e2e-work")
EXAMPLES_DIR = os.path.join(SOURCE_DIR, "models", "examples")

ATOL = 1e-4
RTOL = 1e-4
OPSETS = (9, 11, 13, 14, 17)
BATCHES = (1, 3)
TRACE_BATCH = 2  # differs from BATCHES so the dynamic batch axis is exercised
RUN_TIMEOUT = 120

sys.path.insert(0, os.path.join(SOURCE_DIR, "models"))

torch.set_num_threads(1)

# Filled while the tests run, printed by main() at the end.
REFUSED_EXPORTS = []  # (case, opset, torch's message)
EXPECTED_UNSUPPORTED = []  # (case, opset, seqrt's message)


# ---- the seqrt binary ----------------------------------------------------


def seqrt_binary():
    """Path of the seqrt binary, or None when it is not built yet."""
    explicit = os.environ.get("SEQRT_BIN")
    if explicit:
        return explicit
    default = os.path.join(SOURCE_DIR, "build", "seqrt")
    return default if os.path.exists(default) else None


def onednn_runs_avx512():
    """Whether oneDNN runs its AVX-512 kernels here, as seqrt's plans ask
    (sq_cpu_avx512: Winograd, bands, seqrt's own AVX-512 kernels); the
    CPU's flags, unless ONEDNN_MAX_CPU_ISA holds oneDNN lower."""
    limit = os.environ.get("ONEDNN_MAX_CPU_ISA", "ALL").upper()
    if limit not in ("", "ALL") and not limit.startswith("AVX512"):
        return False
    with open("/proc/cpuinfo") as f:
        flags = next((line.split(":", 1)[1].split() for line in f if line.startswith("flags")), [])
    return all(flag in flags for flag in ("avx512f", "avx512bw", "avx512vl", "avx512dq"))


def require_seqrt(test):
    """Fail if SEQRT_BIN names a missing file; skip if nothing is built."""
    path = seqrt_binary()
    if path is None:
        test.skipTest("seqrt binary not built (set SEQRT_BIN)")
    if not os.access(path, os.X_OK):
        test.fail("SEQRT_BIN=%s is not an executable file" % path)
    return path


def seqrt(*args, timeout=RUN_TIMEOUT):
    """Run the seqrt CLI; returns the CompletedProcess (text mode)."""
    cmd = [seqrt_binary()] + [str(a) for a in args]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)


def describe(proc):
    """The command, exit code and output, for assertion messages."""
    return "\n$ %s\nexit %d\nstdout:\n%s\nstderr:\n%s" % (
        " ".join(proc.args),
        proc.returncode,
        proc.stdout,
        proc.stderr,
    )


def assert_error_line(test, proc):
    """seqrt errors are one line on stderr starting with 'seqrt:'."""
    lines = [line for line in proc.stderr.splitlines() if line.strip()]
    test.assertTrue(lines, "no error message on stderr" + describe(proc))
    test.assertTrue(
        any(line.startswith("seqrt:") for line in lines),
        "no stderr line starts with 'seqrt:'" + describe(proc),
    )


# ---- scratch folders -----------------------------------------------------


def scratch_dir(*parts):
    """A fresh, empty folder under SEQRT_WORK_DIR."""
    path = os.path.join(WORK_DIR, *[re.sub(r"[^\w.-]+", "_", str(p)) for p in parts])
    shutil.rmtree(path, ignore_errors=True)
    os.makedirs(path)
    return path


# ---- PyTorch side ----------------------------------------------------------


class ExportRefused(Exception):
    """torch.onnx.export raised: this layer/opset pair cannot be exported."""


def export_onnx(model, example, path, opset=14, input_names=("input",), dynamic_batch=True):
    """Export `model` (eval mode) with the settings seqrt documents.

    `example` is a tensor or a tuple of tensors. Raises ExportRefused with the
    first line of torch's message when the exporter refuses.
    """
    examples = example if isinstance(example, tuple) else (example,)
    dynamic_axes = None
    if dynamic_batch:
        dynamic_axes = {name: {0: "batch"} for name in input_names}
        dynamic_axes["output"] = {0: "batch"}
    try:
        with warnings.catch_warnings(), contextlib.redirect_stdout(io.StringIO()):
            warnings.simplefilter("ignore")
            torch.onnx.export(
                model.eval(),
                examples,
                path,
                opset_version=opset,
                input_names=list(input_names),
                output_names=["output"],
                dynamic_axes=dynamic_axes,
                do_constant_folding=True,
            )
    except Exception as exc:  # the exporter raises many unrelated types
        raise ExportRefused("%s: %s" % (type(exc).__name__, short_message(exc))) from exc
    return path


def short_message(exc):
    """The gist of an exporter message: its first line without the links
    and the TorchScript dump torch appends."""
    text = (str(exc).strip().splitlines() or [""])[0]
    for tail in (" Please feel free", "  [Caused by"):
        text = text.split(tail)[0]
    return text.strip()


def seeded_input(sample_shape, batch, seed=0, dtype=np.float32):
    """Deterministic standard-normal input of shape [batch, *sample_shape]."""
    rng = np.random.RandomState(seed + 1000 * batch)
    return rng.standard_normal((batch,) + tuple(sample_shape)).astype(dtype)


def torch_output(model, x):
    with torch.no_grad():
        return model.eval()(torch.from_numpy(x)).numpy().astype(np.float32)


def randomize_batchnorm(model, seed=0):
    """Give every BatchNorm non-trivial statistics and affine parameters, so
    that a dropped or mis-folded BatchNorm changes the output."""
    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for module in model.modules():
            if isinstance(module, nn.modules.batchnorm._BatchNorm):
                c = module.num_features
                module.running_mean.copy_(torch.randn(c, generator=gen) * 0.5)
                module.running_var.copy_(torch.rand(c, generator=gen) * 1.5 + 0.25)
                module.weight.copy_(torch.rand(c, generator=gen) + 0.5)
                module.bias.copy_(torch.randn(c, generator=gen) * 0.3)
    return model


# ---- comparison ------------------------------------------------------------


def compare(actual, expected, atol=ATOL, rtol=RTOL):
    """None if every element is within tolerance, else a description.

    As in `seqrt verify`, an element fails only when both its absolute and
    its relative error exceed the tolerances.
    """
    if actual.shape != expected.shape:
        return "shape %s, expected %s" % (actual.shape, expected.shape)
    if not np.all(np.isfinite(actual)):
        return "output has non-finite values"
    abs_err = np.abs(actual.astype(np.float64) - expected.astype(np.float64))
    with np.errstate(divide="ignore", invalid="ignore"):
        rel_err = abs_err / np.abs(expected.astype(np.float64))
    rel_err = np.where(abs_err == 0, 0.0, rel_err)
    bad = (abs_err > atol) & (rel_err > rtol)
    if not bad.any():
        return None
    worst = np.unravel_index(int(np.argmax(np.where(bad, abs_err, -1))), abs_err.shape)
    return "%d of %d elements differ; worst at %s: got %.7g, expected %.7g (abs %.3g, rel %.3g)" % (
        int(bad.sum()),
        bad.size,
        tuple(int(i) for i in worst),
        actual[worst],
        expected[worst],
        abs_err[worst],
        rel_err[worst],
    )


def run_model(model_path, x, work, tag="x", extra=()):
    """`seqrt run` on input x; returns (CompletedProcess, output or None)."""
    in_path = os.path.join(work, "%s_input.npy" % tag)
    out_path = os.path.join(work, "%s_output.npy" % tag)
    np.save(in_path, x)
    if os.path.exists(out_path):
        os.remove(out_path)
    proc = seqrt("run", model_path, "--input", in_path, "--output", out_path, *extra)
    output = np.load(out_path) if proc.returncode == 0 and os.path.exists(out_path) else None
    return proc, output


UNSUPPORTED_OP = re.compile(r"unsupported op '([^']+)'")


class Case(collections.namedtuple("Case", "name factory sample_shape opsets known_unsupported note")):
    """One model to export and check.

    factory: () -> nn.Module, called after torch.manual_seed.
    known_unsupported: ONNX op types seqrt is allowed to reject at this
    stage ("unsupported op '<Op>'", exit 2); the case is then recorded in
    EXPECTED_UNSUPPORTED instead of failing.
    """

    def __new__(cls, name, factory, sample_shape, opsets=OPSETS, known_unsupported=(), note=""):
        return super().__new__(cls, name, factory, tuple(sample_shape), tuple(opsets), tuple(known_unsupported), note)


def check_case(test, case, seed=0):
    """Export `case` at each of its opsets and compare seqrt with PyTorch at
    batch 1 and batch 3 of the same dynamic-batch model. Each opset is a
    subTest; torch refusals skip that opset and are recorded."""
    require_seqrt(test)
    exported = 0
    for opset in case.opsets:
        with test.subTest(opset=opset):
            torch.manual_seed(seed)
            model = randomize_batchnorm(case.factory().eval(), seed)
            work = scratch_dir(type(test).__name__, case.name, "opset%d" % opset)
            model_path = os.path.join(work, "model.onnx")
            example = torch.from_numpy(seeded_input(case.sample_shape, TRACE_BATCH, seed))
            try:
                export_onnx(model, example, model_path, opset)
            except ExportRefused as exc:
                REFUSED_EXPORTS.append((case.name, opset, str(exc)))
                test.skipTest("torch refuses opset %d: %s" % (opset, exc))
            exported += 1
            check_exported(test, case, opset, model, model_path, work, seed)
    test.assertGreater(exported, 0, "torch exported %s at none of the opsets %s" % (case.name, case.opsets))


def check_exported(test, case, opset, model, model_path, work, seed):
    for batch in BATCHES:
        x = seeded_input(case.sample_shape, batch, seed)
        expected = torch_output(model, x)
        proc, actual = run_model(model_path, x, work, "batch%d" % batch)
        if proc.returncode == 2 and is_known_unsupported(case, proc):
            EXPECTED_UNSUPPORTED.append((case.name, opset, proc.stderr.strip()))
            test.skipTest("expected-unsupported: %s" % proc.stderr.strip())
        context = "%s opset %d batch %d%s" % (case.name, opset, batch, " (%s)" % case.note if case.note else "")
        test.assertEqual(proc.returncode, 0, "seqrt run failed: " + context + describe(proc))
        test.assertIsNotNone(actual, "seqrt run wrote no output" + describe(proc))
        problem = compare(actual, expected)
        test.assertIsNone(problem, "%s: %s" % (context, problem))


def is_known_unsupported(case, proc):
    match = UNSUPPORTED_OP.search(proc.stderr)
    return bool(match) and match.group(1) in case.known_unsupported


def add_case_tests(test_class, cases):
    """Add one test method per case to `test_class`."""
    for case in cases:
        method_name = "test_" + case.name
        if hasattr(test_class, method_name):
            raise ValueError("duplicate case " + case.name)

        def method(self, case=case):
            check_case(self, case)

        setattr(test_class, method_name, method)


# ---- graph inspection ------------------------------------------------------


def fan_out_tensors(model_path):
    """Data tensors read by two or more nodes: [(tensor, producer, readers)].

    The producer is None for a graph input.
    """
    import onnx

    graph = onnx.load(model_path).graph
    producer = {}
    for node in graph.node:
        for name in node.output:
            producer[name] = node.name
    readers = collections.defaultdict(list)
    initializers = {init.name for init in graph.initializer}
    for node in graph.node:
        if node.op_type in ("Shape", "Constant"):
            continue
        for name in set(node.input):
            if name and name not in initializers:
                readers[name].append(node.name)
    return [(t, producer.get(t), r) for t, r in readers.items() if len(r) >= 2]


# ---- entry point -----------------------------------------------------------


def print_summary(stream=sys.stderr):
    if REFUSED_EXPORTS:
        print("\ntorch %s refused to export:" % torch.__version__, file=stream)
        for name, opset, message in REFUSED_EXPORTS:
            print("  %-28s opset %-2d %s" % (name, opset, message), file=stream)
    if EXPECTED_UNSUPPORTED:
        print("\nexpected-unsupported by seqrt at this stage:", file=stream)
        for name, opset, message in EXPECTED_UNSUPPORTED:
            print("  %-28s opset %-2d %s" % (name, opset, message), file=stream)


def main():
    """unittest.main that also prints the refusal lists; exits non-zero on
    any failure."""
    program = unittest.main(exit=False, verbosity=2)
    print_summary()
    sys.exit(0 if program.result.wasSuccessful() else 1)
