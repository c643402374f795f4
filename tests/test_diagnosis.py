"""Diagnosis: each planted porting mistake is named as itself (and no other) with a fix."""
from __future__ import annotations

import numpy as np
import pytest

from harness.verdict import diagnosis
from harness.session import runner
from harness.verdict.expected import expected_from_canonical
from harness.case.loader import load_cases
from harness.verdict.status import Status
from harness.case.values import materialize
from tests import planted_ports, planted_second_order

CASES = load_cases(["cases/conformance"])


def test_the_catalog_and_the_planted_ports_cover_the_same_mistakes():
    second = {m.id for m in diagnosis.SECOND_ORDER_MISTAKES}
    assert {p.mistake for p in planted_ports.PORTS} == set(diagnosis.MISTAKES) - second
    assert second == set(SECOND_ORDER_BUGS.values())


# the planted second-order bugs (tests/planted_second_order.py) and the mistake each is
SECOND_ORDER_BUGS = {"pytorch#80766": "transposed-flag-dropped",
                     "pytorch#51430": "weight-grad-groups",
                     "pytorch#75219": "fwd-over-rev-groups",
                     "jax#563": "transposed-dilation-dropped"}


@pytest.mark.parametrize("bug", [b for b in planted_second_order.BUGS
                                 if b.bug in SECOND_ORDER_BUGS], ids=lambda b: b.bug)
def test_each_planted_second_order_bug_is_diagnosed_as_itself(bug):
    cases = load_cases(["cases/second-order", "tests/data/second_order.yaml"])
    results = runner.Session(runner.probe([bug()])).judge(cases)
    fails = [v for r in results for v in r.verdicts
             if v.status in (Status.FAIL, Status.ERROR) and v.actual is not None]
    assert fails, bug.bug
    mistake = SECOND_ORDER_BUGS[bug.bug]
    unexplained = [(v.case, v.grad) for v in fails
                   if mistake not in {d["mistake"] for d in v.diagnosis if d["explains"]}]
    assert unexplained == []
    found = diagnosis.summarize([(r.case, v) for r in results for v in r.verdicts], "torch")
    assert found["mistake"] == mistake and found["explains"] == found["of"]


@pytest.mark.parametrize("port", planted_ports.PORTS, ids=lambda p: p.mistake)
def test_each_planted_mistake_is_diagnosed_as_itself(port):
    # a sample of the cases where the mistake applies keeps this fast
    # A transposed conv's geometry mistakes change y's size, so its dx and dw of a planted
    # port would read a dy of another shape: no real port computes that. They are judged on
    # the forward ops; output-padding-misplaced exists for transposed convs only.
    transposed = port.mistake == "output-padding-misplaced"
    applicable = [c for c in CASES if (c.kind == "conv_transpose") == transposed
                  and _mistake(port.mistake).attempts(c, materialize(c))][::3]
    session = runner.Session(runner.probe([port()]))
    results = session.judge(applicable)
    fails = [v for r in results for v in r.verdicts
             if v.status in (Status.FAIL, Status.ERROR) and v.actual is not None]
    assert len(fails) >= 5, f"{port.mistake}: too few failing verdicts to judge the diagnosis"
    wrong = []
    for v in fails:
        explaining = {d["mistake"] for d in v.diagnosis if d["explains"]}
        others = {m for m in explaining - {port.mistake}
                  if not _same_maths(v.case, v.grad, port.mistake, m)}
        if port.mistake not in explaining or others:
            wrong.append((v.case, v.grad, sorted(explaining)))
    assert wrong == []
    assert all(f"diagnosis: {port.mistake} explains these values" in v.message for v in fails)
    # the impl's diagnosis, said once: the mistake explains every diagnosed failure, and
    # its rule is written for the framework (torch here: the wording of its adapter)
    found = diagnosis.summarize([(r.case, v) for r in results for v in r.verdicts], "torch")
    assert found["explains"] == found["of"] == len(fails)
    assert port.mistake in [found["mistake"], *found["also"]], found
    assert found["rule"] and found["example"]["fix"]


def _mistake(mistake_id):
    return next(m for m in diagnosis.CATALOG if m.id == mistake_id)


def _same_maths(case_id, grad, a, b) -> bool:
    """Whether two mistakes compute the very same values on this case (then no diagnosis
    can tell them apart: with stride 2, SAME's unread trailing pad makes k // 2 on both
    sides and the swapped pads identical, say)."""
    case = next(c for c in CASES if c.id == case_id)
    inputs = materialize(case)
    values = []
    for mistake in (a, b):
        attempt = _mistake(mistake).attempts(case, inputs)
        got = []
        for t in attempt:
            try:
                got.append(expected_from_canonical(t.case, grad, t.x, t.w, t.dy,
                                                   lambda arr, t=t: t.back(grad, arr)).values)
            except ValueError:   # shapes the mistake makes inconsistent
                pass
        values.append(got)
    return any(x.shape == y.shape and np.allclose(x, y, rtol=0, atol=1e-9)
               for x in values[0] for y in values[1])


def test_the_rule_of_a_padding_mistake_is_code_of_the_impls_framework():
    case = next(c for c in CASES if c.padding == "SAME" and c.strides == (2, 2)
                and c.kind == "conv")
    rule = {f: _mistake("symmetric-padding").rule(diagnosis.for_framework(f), case)
            for f in ("torch", "jax", "tensorflow", "numpy")}
    assert "def same_pads(n, k, s, d)" in rule["torch"] and "F.pad(x, [p for pair in " \
        "reversed(pads)" in rule["torch"]
    assert "padding='SAME'" in rule["jax"] and "padding='SAME'" in rule["tensorflow"]
    assert "odd element AFTER the data" in rule["numpy"]      # the neutral wording
