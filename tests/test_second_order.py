"""Forward mode and second order in the oracle (issue 21), checked without any framework.

Every op is bilinear, ``y = B(x, w)``, so its forward mode is exact in finite
differences of two evaluations, and each second-order grad is the adjoint of a
first-order one: ``<ddy, v> = <dx(v, w), gx> + <dw(x, v), gw>``, ``<ddx, u> =
<dw(u, dy), gw>``, ``<ddw, s> = <dx(dy, s), gx>`` for any ``v``, ``u``, ``s``. The
oracle's second-order values are checked against those identities, computed from its
first-order grads, on every op kind; the torch cross-check is in the framework layer.
"""
from __future__ import annotations

import numpy as np
import pytest

from harness.case import ops
from harness.case.loader import load_cases
from harness.case.values import materialize
from harness.verdict.expected import expected

CASES = "tests/data/second_order.yaml"


def _first(case, grad, x, w, dy):
    return ops.evaluate(case, grad, x, w, dy)


@pytest.mark.parametrize("case", [c for c in load_cases([CASES]) if "jvp" in c.grads],
                         ids=lambda c: c.id)
def test_second_order_values_satisfy_the_adjoint_identities(case):
    inputs = materialize(case)
    exp = expected(case, inputs)
    t = {n: ops.to_canonical(case, n, inputs.get(n)) for n in ops.TENSORS}
    got = {g: ops.to_canonical(case, g, exp[g].values) for g in ops.SECOND_ORDER}
    rng = np.random.default_rng(7)
    v, u, s = (rng.standard_normal(t[n].shape) for n in ("dy", "x", "w"))
    x, w, dy = t["x"], t["w"], t["dy"]
    # forward mode: exact central difference of a bilinear map
    plus = _first(case, "y", x + t["tx"], w + t["tw"], dy)
    minus = _first(case, "y", x - t["tx"], w - t["tw"], dy)
    checks = {
        "jvp": (np.vdot(got["jvp"], v), np.vdot((plus - minus) / 2, v)),
        "ddy": (np.vdot(got["ddy"], v), np.vdot(_first(case, "dx", x, w, v), t["gx"])
                + np.vdot(_first(case, "dw", x, w, v), t["gw"])),
        "ddx": (np.vdot(got["ddx"], u), np.vdot(_first(case, "dw", u, w, dy), t["gw"])),
        "ddw": (np.vdot(got["ddw"], s), np.vdot(_first(case, "dx", x, s, dy), t["gx"])),
    }
    for grad, (ours, reference) in checks.items():
        assert ours == pytest.approx(reference, rel=1e-9, abs=1e-9), grad


def test_a_second_order_bound_covers_each_term_rounded_before_the_sum():
    """Two float16 convs each rounded to float16, then added in float16: the error of that
    (the arithmetic autodiff does) stays within the bound, which a first-order bound of the
    summed magnitudes alone would not cover where the terms cancel."""
    from harness.numerics import dtypes
    case = next(c for c in load_cases([CASES]) if c.dtype == "float16")
    inputs = materialize(case)
    exp = expected(case, inputs)["ddy"]
    t = {n: ops.to_canonical(case, n, inputs.get(n)) for n in ops.TENSORS}
    one = dtypes.round_to(_first(case, "y", t["gx"], t["w"], t["dy"]), "float16")
    two = dtypes.round_to(_first(case, "y", t["x"], t["gw"], t["dy"]), "float16")
    computed = ops.from_canonical(case, "ddy", dtypes.round_to(one + two, "float16"))
    assert np.all(np.abs(computed - exp.values) <= exp.bound)
    assert exp.compare(computed).passed


def test_a_case_names_the_tensors_its_second_order_grads_need(tmp_path):
    from harness.case.loader import LoadErrors
    path = tmp_path / "c.yaml"
    path.write_text("id: c\nop: conv2d\ngrads: [ddx]\ninput_shape: [1, 4, 4, 1]\n"
                    "filter_shape: [2, 2, 1, 1]\ndy: {random: normal}\n")
    with pytest.raises(LoadErrors, match="gw: required: ddx needs its values"):
        load_cases([str(path)])
    path.write_text("id: c\nop: conv2d\ngrads: [jvp]\ninput_shape: [1, 4, 4, 1]\n"
                    "filter_shape: [2, 2, 1, 1]\nx: {random: normal}\nw: {random: normal}\n"
                    "tx: {random: normal}\ntw: [[1.0]]\n")
    with pytest.raises(LoadErrors, match=r"tw goes with w and must have its shape \[2, 2, 1, 1\]"):
        load_cases([str(path)])
