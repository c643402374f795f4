"""The harness must catch each classic mistake on the conformance cases, and only there."""
from __future__ import annotations

import numpy as np
import pytest

from harness.numerics import layouts
from harness.case.loader import load_cases
from harness.session.runner import ImplInfo, run
from tests import planted

# The plain (grouped) convolutions: tests/test_planted_ops.py covers the other ops.
CONFORMANCE = [c for c in load_cases(["cases/conformance"]) if c.kind == "conv"]


def _asymmetric(case):
    return any(b != a for b, a in case.pads)


def _kernel_flip_visible(case):
    return "dx" in case.grads and any(k > 1 for k in case.canonical_filter_shape[2:])


def _reshape_is_not_transpose(shape, src, dst):
    a = np.arange(np.prod(shape)).reshape(shape)
    return not np.array_equal(np.reshape(a, layouts.shape_in(shape, src, dst)),
                              layouts.convert(a, src, dst))


def _layout_scrambled(case):
    data, filt = layouts.canonical_data(case.rank), layouts.canonical_filter(case.rank)
    return (_reshape_is_not_transpose(case.input_shape, case.data_format, data)
            or _reshape_is_not_transpose(case.filter_shape, case.filter_format, filt))


def _stride_visible(case):
    return any(a.stride > 1 and a.output_size > 1 for a in case.axes)


# bug -> the cases where it changes the mathematics
AFFECTED = {
    planted.PadBeforeInsteadOfAfter: _asymmetric,
    planted.KernelNotFlipped: _kernel_flip_visible,
    planted.DilationIgnored: lambda c: any(d > 1 and k > 1 for d, k in
                                           zip(c.dilations, c.canonical_filter_shape[2:])),
    planted.StrideOffByOne: _stride_visible,
    planted.ChannelsTransposed: _layout_scrambled,
}


@pytest.fixture(scope="module")
def verdicts():
    impls = [ImplInfo(cls(), True, "planted") for cls in (planted.Planted, *planted.BUGS)]
    by_key = {}
    for result in run(CONFORMANCE, impls):
        for v in result.verdicts:
            by_key.setdefault((v.impl, v.case), []).append(v)
    return by_key


def test_correct_numpy_impl_passes_every_conformance_case(verdicts):
    bad = [(v.case, v.grad, v.message) for c in CONFORMANCE
           for v in verdicts[("planted.correct", c.id)] if v.status != "pass"]
    assert bad == []


@pytest.mark.parametrize("bug", planted.BUGS, ids=lambda b: b.name)
def test_bug_is_caught_exactly_where_it_matters(bug, verdicts):
    affected = AFFECTED[bug]
    missed, false_alarms = [], []
    for case in CONFORMANCE:
        statuses = {v.status for v in verdicts[(bug.name, case.id)]}
        if affected(case) and statuses == {"pass"}:
            missed.append(case.id)
        if not affected(case) and statuses != {"pass"}:
            false_alarms.append(case.id)
    assert sum(map(affected, CONFORMANCE)) >= 20, "the conformance suite hardly exercises this"
    assert missed == []
    assert false_alarms == []


def test_failures_carry_statistics_and_worst_element(verdicts):
    case = next(c for c in CONFORMANCE if _asymmetric(c) and c.padding == "SAME")
    v = next(v for v in verdicts[("planted.pad_before", case.id)] if v.status == "fail")
    assert v.stats["mismatched"] > 0 and v.stats["error_ratio"] > 1
    assert v.message.startswith(f"Mismatched elements: {v.stats['mismatched']} / ")
    assert "Worst element" in v.message and "bound" in v.message
