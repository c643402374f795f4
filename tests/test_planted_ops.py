"""Planted bugs of grouped, depthwise and transposed convs are caught exactly where they
change the maths (the oracle under the mistake differs), and only there. NumPy only."""
from __future__ import annotations

import numpy as np
import pytest

from harness.session import runner
from harness.case.loader import load_cases
from harness.verdict.status import Status
from harness.case.values import materialize
from tests import planted_ops as planted

CASES = load_cases(["cases/conformance/grouped.yaml", "cases/conformance/depthwise.yaml",
                    "cases/conformance/transpose.yaml"])


@pytest.fixture(scope="module")
def verdicts():
    infos = runner.probe([planted.OpsPlanted(), *(bug() for bug in planted.BUGS)])
    by_key = {}
    for result in runner.run(CASES, infos):
        for v in result.verdicts:
            by_key.setdefault((v.impl, v.case), []).append(v)
    return by_key


def changes_the_maths(bug, case) -> bool:
    """Whether the planted impl's exact (unrounded) answer differs from the right one."""
    right, wrong = planted.OpsPlanted(), bug()
    inputs = materialize(case)
    for g in case.grads:
        a = _exact(right, case, inputs, g)
        b = _exact(wrong, case, inputs, g)
        if a is None or b is None or a.shape != b.shape or not np.allclose(a, b, atol=1e-9):
            return True
    return False


def _exact(impl, case, inputs, grad):
    from harness.case import ops

    try:
        x, dy = (ops.to_canonical(case, n, getattr(inputs, n)) for n in ("x", "dy"))
        w = impl.filter_to_canonical(case, inputs.w)
        value = ops.evaluate(case, grad, *impl.inputs(case, grad, x, w, dy), pads=impl.pads(case))
        return impl.filter_from_canonical(case, value) if grad == "dw" else value
    except ValueError:
        return None


def test_the_correct_ops_impl_passes_every_case(verdicts):
    bad = [(v.case, v.grad, v.status) for c in CASES
           for v in verdicts[("planted.ops_correct", c.id)] if v.status != Status.PASS]
    assert bad == []


@pytest.mark.parametrize("bug", planted.BUGS, ids=lambda b: b.name)
def test_ops_bug_is_caught_exactly_where_it_matters(bug, verdicts):
    affected = [c for c in CASES if changes_the_maths(bug, c)]
    assert len(affected) >= 10, "the conformance suite hardly exercises this mistake"
    missed, false_alarms = [], []
    for case in CASES:
        statuses = {v.status for v in verdicts[(bug.name, case.id)]}
        if case in affected and statuses == {Status.PASS}:
            missed.append(case.id)
        if case not in affected and statuses != {Status.PASS}:
            false_alarms.append((case.id, statuses))
    assert missed == [] and false_alarms == []


def test_records_of_every_op_kind_pass_the_published_schema(tmp_path):
    """Crops (negative pads), depthwise filters, transposed geometry, empty outputs and
    diagnoses: what a run writes, `convgrad report` reads back."""
    from datetime import datetime, timezone

    from harness.record import run_record as record_mod
    from tests import planted_ports

    cases = (load_cases(["cases/peers", "cases/degenerate"])
             + [c for c in CASES if c.id.endswith(("SAME-s2x2-k3x3-g1-3to2-nhwc",
                                                  "m2-SAME-s2x2-k3x3-NHWC"))])
    infos = runner.probe([planted.OpsPlanted(), planted_ports.SymmetricPadding()])
    results = runner.run(cases, infos)
    record = record_mod.build(results, infos, ["test"], datetime.now(timezone.utc))
    assert any(v.get("diagnosis") for v in record["verdicts"])
    record_mod.write(record, tmp_path / "results.json")
    assert record_mod.read(tmp_path / "results.json")["run_id"] == record["run_id"]
