"""Verdicts that cannot lie: a crash or a buggy impl's shape error is never 'unsupported'.

Planted bugs in real torch code (tests/planted_frameworks.py) must be ``fail``
or ``error`` on every conformance case where their mistake changes the maths,
and ``pass`` everywhere else; a real torch bug (float16 channels-last view,
one output channel) is an ``error`` that fails the run.
"""
from __future__ import annotations

import dataclasses
import json

import numpy as np
import pytest

from harness.session import runner
from harness.frontends.cli import main
from harness.verdict.expected import expected
from harness.case.loader import load_cases
from harness.case.values import materialize
from tests import paths
from tests import planted_frameworks as planted
from tests.conftest import FRAMEWORKS

pytestmark = [pytest.mark.frameworks,
              pytest.mark.skipif("torch" not in FRAMEWORKS, reason="torch not under test")]

# 2-D and 3-D conv cases (every mistake below needs two spatial axes), not in the dtypes
# torch's own kernels add in 16 bits here (float16; bfloat16 too where oneDNN does not take
# it: tests/paths.py): a known discrepancy that would read as a false alarm of the planted
# impls.
CASES = [c for c in load_cases(["cases/conformance"])
         if c.rank > 1 and c.kind == "conv" and c.groups == 1
         and not paths.sums_in_16_bits("torch", c.dtype)]


def _mistaken(bug, case):
    """The case as the planted impl computes it."""
    if bug is planted.SwappedStrides:
        return dataclasses.replace(case, strides=case.strides[::-1])
    if bug is planted.DilationOnOneAxis:
        return dataclasses.replace(case, dilations=case.dilations[:1] + (1,) * (case.rank - 1))
    if bug is planted.PadAxesReversed and bug().padding(case)[1]:   # emulated with F.pad
        return dataclasses.replace(case, padding=tuple(tuple(p) for p in reversed(case.pads)))
    return case


def changes_the_maths(bug, case) -> bool:
    """Whether the oracle's answer under the bug's mistake differs from the right one."""
    wrong = _mistaken(bug, case)
    if wrong == case:
        return False
    if wrong.output_shape != case.output_shape:
        return True
    inputs = materialize(case)
    right, mistaken = expected(case, inputs), expected(wrong, inputs)
    return any(not np.allclose(right[g].values, mistaken[g].values, rtol=0, atol=1e-9)
               for g in case.grads)


@pytest.fixture(scope="module")
def verdicts():
    infos = runner.probe([bug() for bug in planted.BUGS])
    by_key = {}
    for result in runner.run(CASES, infos):
        for v in result.verdicts:
            by_key.setdefault((v.impl, v.case), []).append(v)
    return by_key


@pytest.mark.parametrize("bug", planted.BUGS, ids=lambda b: b.name)
def test_planted_torch_bug_fails_or_errors_exactly_where_it_matters(bug, verdicts):
    affected = [c for c in CASES if changes_the_maths(bug, c)]
    assert len(affected) >= 20, "the conformance suite hardly exercises this mistake"
    missed, false_alarms, hidden = [], [], []
    for case in CASES:
        statuses = {v.status for v in verdicts[(bug.name, case.id)]}
        hidden += [case.id] if "unsupported" in statuses else []
        if case in affected and statuses == {"pass"}:
            missed.append(case.id)
        if case not in affected and statuses != {"pass"}:
            false_alarms.append((case.id, statuses))
    assert hidden == [] and missed == [] and false_alarms == []


def test_a_shape_error_keeps_the_frameworks_message(verdicts):
    errors = [v for vs in verdicts.values() for v in vs
              if v.impl == planted.SwappedStrides.name and v.status == "error"]
    assert errors, "swapped strides should make torch raise on some case"
    # torch's own shape error, or a y of the wrong shape (named with both shapes)
    assert all(v.message.startswith(("RuntimeError: ", "shape [")) for v in errors), \
        {v.message.splitlines()[0] for v in errors}
    assert any(v.message.startswith("RuntimeError: ") for v in errors)


REGRESSION = "cases/regressions/torch-f16-nhwc-view-cout1.yaml"


def test_torch_f16_channels_last_view_bug_is_an_error_and_fails_the_run(tmp_path, capsys):
    status = main(["run", REGRESSION, "--in-process", "--out", str(tmp_path),
                   "--impl", "torch.autograd,torch.autograd[memory=nhwc_view]"])
    record = json.loads((tmp_path / "results.json").read_text())
    got = {(v["impl"], v["grad"]): v for v in record["verdicts"]}
    assert status == 1
    view = got[("torch.autograd[memory=nhwc_view]", "dw")]
    assert view["status"] == "error" and view["limitation"] is None
    assert "slow_conv2d: grad_weight must be contiguous" in view["message"]
    assert {v["status"] for (impl, _), v in got.items() if impl == "torch.autograd"} == {"pass"}
    assert "ERROR regressions/torch-f16-nhwc-view-cout1 [torch.autograd[memory=nhwc_view]] dw" \
        in capsys.readouterr().out


@pytest.mark.skipif("tensorflow" not in FRAMEWORKS, reason="TensorFlow not under test")
def test_every_tensorflow_refusal_in_the_suite_is_a_documented_limitation():
    """TF's CPU refusals (channels-first, dilation, strides with dilations) are each
    'unsupported' under a shipped limitation, and nothing else it raises is."""
    from harness.backend.adapters.tf_adapter import TfBackprop, TfTape

    groups = ("conv1d-ncw", "conv2d-dilated", "float64", "conv3d-dilated")
    cases = [c for c in load_cases(["cases/conformance"]) if c.id.split("/")[1] in groups]
    results = runner.run(cases, runner.probe([TfBackprop(), TfTape()]))
    verdicts = [v for r in results for v in r.verdicts]
    refused = [v for v in verdicts if v.status == "unsupported"]
    assert {v.status for v in verdicts} == {"pass", "unsupported"}
    assert all(v.limitation for v in refused)
    assert {v.limitation["id"] for v in refused} == {
        "tf-cpu-channels-first", "tf-cpu-dilation", "tf-convolution-stride-with-dilation"}
