"""The layer-coverage suite shared by tests/e2e/test_layers_*.py.

Each case is one layer configuration in a small nn.Sequential, exported by
the installed PyTorch at every opset from 9 to 17 (one subTest each; set
SEQRT_E2E_OPSETS="11,17" to run fewer), run by `seqrt run` at batch 1 and 3
of the dynamic-batch model traced at batch 2, and compared with PyTorch at
atol = rtol = 1e-4. Three kinds of case:

  LayerCase            the layer as torch.onnx.export writes it;
  LayerCase(bug=...)   an export that computes something else than PyTorch
                       (a torch 1.13 exporter bug): seqrt follows the ONNX
                       file, so it is compared with onnx_numpy's evaluation
                       of the graph, and PyTorch must differ from it;
  FormCase             a layer torch 1.13 refuses to export, built with
                       onnx.helper in the form an exporter would give it and
                       compared with the PyTorch module;
  FormCase(newer_exporter=True)
                       a model in the form of torch's newer exporter (opset
                       18+, external data), built the same way.

Every (case, opset) outcome is appended as one JSON line to
$SEQRT_WORK_DIR/layer-results/<test script>.jsonl; scripts/layer_table.py
turns those files into the README's table of layers x opsets.
"""

import collections
import json
import os
import re
import sys
import unittest

import numpy as np
import onnx
import onnx.numpy_helper
import torch
from onnx import TensorProto, helper
from torch import nn

import e2e_common as e2e
import onnx_numpy


def _opsets_from_env():
    text = os.environ.get("SEQRT_E2E_OPSETS", "").strip()
    if not text:
        return tuple(range(9, 18))  # every opset torch 1.13 can export
    return tuple(int(part) for part in text.split(","))


ALL_OPSETS = _opsets_from_env()


def opsets_between(low, high):
    """The tested opsets in [low, high]."""
    return tuple(opset for opset in ALL_OPSETS if low <= opset <= high)


RESULTS_DIR = os.path.join(e2e.WORK_DIR, "layer-results")

# Outcomes written to the results file (scripts/layer_table.py reads them).
PASS, FAIL, REFUSED = "pass", "fail", "refused"
BUG_PASS, BUG_FAIL = "bug_pass", "bug_fail"
FORM_PASS, FORM_FAIL = "form_pass", "form_fail"


# ---- results file ------------------------------------------------------------


def results_path():
    script = os.path.splitext(os.path.basename(sys.argv[0] or "interactive"))[0]
    return os.path.join(RESULTS_DIR, script + ".jsonl")


def start_results():
    """Empty this script's results file (each run rewrites it)."""
    os.makedirs(RESULTS_DIR, exist_ok=True)
    open(results_path(), "w").close()


def record(case, opset, outcome, detail=""):
    """One line per table row the case counts in (case.layer may be a
    tuple of rows)."""
    os.makedirs(RESULTS_DIR, exist_ok=True)
    layers = case.layer if isinstance(case.layer, tuple) else (case.layer,)
    with open(results_path(), "a") as stream:
        for layer in layers:
            entry = {"layer": layer, "case": case.name, "index": case.index, "opset": opset, "outcome": outcome,
                     "detail": detail, "note": case.note}
            stream.write(json.dumps(entry) + "\n")


def main():
    start_results()
    e2e.main()


# ---- inputs and parameters ---------------------------------------------------


def normal(scale=1.0):
    """Inputs drawn from N(0, scale^2): wide enough to reach clip points."""

    def make(sample_shape, batch, seed):
        return e2e.seeded_input(sample_shape, batch, seed) * np.float32(scale)

    return make


def indices(high):
    """int64 indices in [0, high), for Embedding."""

    def make(sample_shape, batch, seed):
        rng = np.random.RandomState(seed + 1000 * batch)
        return rng.randint(0, high, size=(batch,) + tuple(sample_shape)).astype(np.int64)

    return make


def randomize_parameters(model, seed=0):
    """Non-trivial norm statistics and affine parameters, per-channel PReLU
    slopes: default initialisations (weight 1, bias 0, mean 0, var 1, equal
    slopes) would hide a dropped or mis-indexed parameter."""
    gen = torch.Generator().manual_seed(seed)
    norms = (nn.modules.batchnorm._NormBase, nn.LayerNorm, nn.GroupNorm)
    with torch.no_grad():
        for module in model.modules():
            if isinstance(module, norms):
                if getattr(module, "running_mean", None) is not None:
                    c = module.running_mean.shape[0]
                    module.running_mean.copy_(torch.randn(c, generator=gen) * 0.5)
                    module.running_var.copy_(torch.rand(c, generator=gen) * 1.5 + 0.25)
                if getattr(module, "weight", None) is not None:
                    module.weight.copy_(torch.rand(module.weight.shape, generator=gen) + 0.5)
                    module.bias.copy_(torch.randn(module.bias.shape, generator=gen) * 0.3)
            elif isinstance(module, nn.PReLU):
                module.weight.copy_(torch.rand(module.weight.shape, generator=gen) * 0.5)
    return model


def L(cls, *args, **kwargs):
    """A deferred module constructor for seq()."""
    return lambda: cls(*args, **kwargs)


def seq(*factories):
    """A factory of nn.Sequential built fresh (from the seed) on each call."""
    return lambda: nn.Sequential(*[factory() for factory in factories])


# ---- cases ---------------------------------------------------------------------


class LayerCase:
    """One layer configuration exported by torch.

    layer: the row of the README table this case counts in.
    factory: () -> nn.Module, called after torch.manual_seed(seed).
    bug: set for exports torch 1.13 gets wrong; the text says how. The
      reference is then the ONNX graph evaluated by onnx_numpy, and
      `bug_model(module, x)` (a torch re-implementation of what the export
      computes) must agree with that evaluation while PyTorch must not.
    refusal_expected: torch 1.13 refuses every opset; the test documents the
      refusal (and a FormCase usually covers the layer).
    randomize: give norms and PReLU random parameters (see
      randomize_parameters); off to keep PyTorch's defaults.
    check_model: optional check_model(test, model_path) of each exported
      model beyond its numbers, e.g. the layers `seqrt inspect` shows.
    """

    def __init__(self, name, layer, factory, sample_shape, opsets=None, inputs=None, note="", bug=None,
                 bug_model=None, refusal_expected=False, randomize=True, check_model=None):
        self.name = name
        self.layer = layer
        self.factory = factory
        self.sample_shape = tuple(sample_shape)
        self.opsets = tuple(ALL_OPSETS if opsets is None else opsets)
        self.inputs = inputs or normal()
        self.note = note
        self.bug = bug
        self.bug_model = bug_model
        self.refusal_expected = refusal_expected
        self.randomize = randomize
        self.check_model = check_model
        self.index = 0

    def module(self, seed=0):
        torch.manual_seed(seed)
        module = self.factory().eval()
        return randomize_parameters(module, seed) if self.randomize else module


class FormCase:
    """A model built with onnx.helper rather than exported by torch 1.13.

    build(module, opset, case) -> onnx.ModelProto: the ONNX graph an
    exporter would give `module` (one input, one output, dynamic batch).
    The reference is PyTorch's module output; the built graph is first
    checked to compute it with onnx_numpy (when onnx_numpy has its ops).

    By default the case is the form of a layer torch 1.13 refuses to export
    (outcomes form_pass / form_fail). With newer_exporter=True it is a model
    in the form of torch's newer exporter (opset 18+, external data in
    model.onnx.data, FX node names); outcomes pass / fail. `layer` may be a
    tuple: the case then counts in each of those rows.
    """

    def __init__(self, name, layer, factory, sample_shape, build, opsets=None, inputs=None, note="",
                 newer_exporter=False):
        self.name = name
        self.layer = layer
        self.factory = factory
        self.sample_shape = tuple(sample_shape)
        self.build = build
        self.opsets = tuple(ALL_OPSETS if opsets is None else opsets)
        self.inputs = inputs or normal()
        self.note = note
        self.newer_exporter = newer_exporter
        self.index = 0

    def module(self, seed=0):
        torch.manual_seed(seed)
        return randomize_parameters(self.factory().eval(), seed)


# ---- checks ----------------------------------------------------------------------


def seqrt_message(proc):
    """seqrt's one-line error without the 'seqrt: ' prefix and model path."""
    lines = [line for line in proc.stderr.splitlines() if line.strip()]
    line = next((line for line in lines if line.startswith("seqrt:")), lines[0] if lines else "")
    line = line[len("seqrt:"):].strip() if line.startswith("seqrt:") else line.strip()
    if ".onnx: " in line:
        line = line.split(".onnx: ", 1)[1]
    return "exit %d: %s" % (proc.returncode, line or "(no message)")


def run_batches(case, model_path, work, expected_for):
    """Runs seqrt at each of e2e.BATCHES; returns (problem or None, detail
    for the assertion). expected_for(x) gives the reference for input x."""
    for batch in e2e.BATCHES:
        x = case.inputs(case.sample_shape, batch, 0)
        expected = expected_for(x)
        proc, actual = e2e.run_model(model_path, x, work, "batch%d" % batch)
        command = "\n$ " + " ".join(proc.args)
        if proc.returncode != 0:
            return seqrt_message(proc), command
        if actual is None:
            return "seqrt wrote no output", e2e.describe(proc)
        problem = e2e.compare(actual, expected)
        if problem:
            return "batch %d: %s" % (batch, problem), command
    return None, ""


def check_layer_case(test, case):
    e2e.require_seqrt(test)
    exported = []
    for opset in case.opsets:
        with test.subTest(opset=opset):
            check_layer_opset(test, case, opset, exported)
    if case.opsets and not case.refusal_expected:
        test.assertTrue(exported, "torch exported %s at none of the opsets %s" % (case.name, case.opsets))


def check_layer_opset(test, case, opset, exported):
    """Export at `opset` (appended to `exported` if torch did) and check."""
    module = case.module()
    work = e2e.scratch_dir(type(test).__name__, case.name, "opset%d" % opset)
    model_path = os.path.join(work, "model.onnx")
    example = torch.from_numpy(case.inputs(case.sample_shape, e2e.TRACE_BATCH, 0))
    try:
        e2e.export_onnx(module, example, model_path, opset)
    except e2e.ExportRefused as exc:
        record(case, opset, REFUSED, str(exc))
        e2e.REFUSED_EXPORTS.append((case.name, opset, str(exc)))
        if case.refusal_expected:
            return
        test.skipTest("torch refuses opset %d: %s" % (opset, exc))
    exported.append(opset)
    if case.refusal_expected:
        test.fail("%s: torch %s now exports at opset %d; move it to the exported cases" % (
            case.name, torch.__version__, opset))
    if case.bug:
        check_exporter_bug(test, case, opset, module, model_path, work)
    else:
        problem, details = run_batches(case, model_path, work, lambda x: e2e.torch_output(module, x))
        record(case, opset, FAIL if problem else PASS, problem or "")
        if problem:
            test.fail("%s opset %d: %s%s" % (case.name, opset, problem, details))
    if case.check_model:
        case.check_model(test, model_path)


def check_exporter_bug(test, case, opset, module, model_path, work):
    """seqrt must compute what the ONNX file says; PyTorch must not (else
    the exporter bug is gone and the case belongs with the others)."""

    def onnx_semantics(x):
        expected = onnx_numpy.run(model_path, x)
        if case.bug_model is not None:
            described = case.bug_model(module, x)
            test.assertIsNone(e2e.compare(expected, described, 1e-5, 1e-5),
                              "%s: the exported graph does not compute the documented bug" % case.name)
        test.assertIsNotNone(e2e.compare(e2e.torch_output(module, x), expected),
                             "%s opset %d: PyTorch now agrees with the export; the exporter bug (%s) is gone" % (
                                 case.name, opset, case.bug))
        return expected

    problem, details = run_batches(case, model_path, work, onnx_semantics)
    record(case, opset, BUG_FAIL if problem else BUG_PASS, problem or case.bug)
    if problem:
        test.fail("%s opset %d (against the ONNX semantics): %s%s" % (case.name, opset, problem, details))


def check_form_case(test, case):
    e2e.require_seqrt(test)
    for opset in case.opsets:
        with test.subTest(opset=opset):
            module = case.module()
            work = e2e.scratch_dir(type(test).__name__, case.name, "opset%d" % opset)
            model_path = os.path.join(work, "model.onnx")
            save_model(case.build(module, opset, case), model_path, external_data=case.newer_exporter)

            def reference(x):
                expected = e2e.torch_output(module, x)
                check_built_graph(test, case, model_path, x, expected)
                return expected

            problem, details = run_batches(case, model_path, work, reference)
            if case.newer_exporter:
                record(case, opset, FAIL if problem else PASS, problem or "")
            else:
                record(case, opset, FORM_FAIL if problem else FORM_PASS, problem or "")
            if problem:
                test.fail("%s opset %d (built model): %s%s" % (case.name, opset, problem, details))


def check_built_graph(test, case, model_path, x, expected):
    """The hand-built graph must itself compute the module (skipped where
    onnx_numpy lacks one of its ops)."""
    try:
        computed = onnx_numpy.run(model_path, x)
    except NotImplementedError:
        return
    problem = e2e.compare(computed, expected)
    if problem:
        test.fail("%s: the built ONNX graph does not compute the module: %s" % (case.name, problem))


def save_model(model, path, external_data=False):
    """Save; with external_data every initializer goes to <path>.data, as
    torch's newer exporter writes model.onnx + model.onnx.data."""
    if external_data:
        onnx.save_model(model, path, save_as_external_data=True, all_tensors_to_one_file=True,
                        location=os.path.basename(path) + ".data", size_threshold=0)
    else:
        onnx.save(model, path)


def add_tests(test_class, cases):
    """One test method per case; each opset is a subTest. The case's index
    orders the rows of the table."""
    for index, case in enumerate(cases):
        case.index = index
        method_name = "test_" + case.name
        if hasattr(test_class, method_name):
            raise ValueError("duplicate case " + case.name)
        check = check_form_case if isinstance(case, FormCase) else check_layer_case

        def method(self, case=case, check=check):
            check(self, case)

        setattr(test_class, method_name, method)


# ---- building ONNX forms ---------------------------------------------------------


def ir_version_for(opset):
    """The lowest IR version that allows a default-domain opset (what
    torch 1.13 writes up to opset 17)."""
    for bound, ir in ((8, 3), (9, 4), (10, 5), (11, 6), (14, 7), (18, 8), (20, 9)):
        if opset <= bound:
            return ir
    return 10


def param(module_tensor):
    return module_tensor.detach().numpy().astype(np.float32)


def make_model(nodes, initializers, in_shape, out_shape, opset, in_dtype=TensorProto.FLOAT,
               batch="batch", ir_version=None, producer=("pytorch", "1.13.1")):
    """A one-input one-output model; shapes are the sample shapes (the batch
    axis is prepended as the symbolic dim `batch`)."""
    graph = helper.make_graph(
        nodes, "main_graph",
        [helper.make_tensor_value_info("input", in_dtype, [batch] + list(in_shape))],
        [helper.make_tensor_value_info("output", TensorProto.FLOAT, [batch] + list(out_shape))],
        initializer=[onnx.numpy_helper.from_array(np.asarray(a), n) for n, a in initializers],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)],
                              producer_name=producer[0], producer_version=producer[1])
    model.ir_version = ir_version or ir_version_for(opset)
    return model


def output_sample_shape(module, case):
    x = case.inputs(case.sample_shape, 1, 0)
    return list(e2e.torch_output(module, x).shape[1:])


def make_test_class(name, cases, doc):
    """A TestCase subclass with one test per case, belonging to the calling
    test script (for unittest's names)."""
    caller = sys._getframe(1).f_globals["__name__"]
    test_class = type(name, (unittest.TestCase,), {"__doc__": doc, "__module__": caller})
    add_tests(test_class, cases)
    return test_class


# ---- seqrt inspect ---------------------------------------------------------------

InspectRow = collections.namedtuple("InspectRow", "index name kind shape params nodes")
_INSPECT_ROW = re.compile(r"^\s*(\d+)\s+(\S+)\s+(\S+)\s+(\[[^\]]*\])\s+(\d+)\s+(\S+)")


def inspect_rows(stdout):
    """The layer rows of `seqrt inspect`'s table; nodes is a list."""
    rows = []
    for line in stdout.splitlines():
        match = _INSPECT_ROW.match(line)
        if match:
            index, name, kind, shape, params, nodes = match.groups()
            rows.append(InspectRow(int(index), name, kind, shape, int(params), nodes.split(",")))
    return rows
