"""benchmarks/detection.py (detection power) on one tiny case per dtype: its thresholds are
where each checker's criterion says they must be, and convgrad is sound on a correct sum."""
from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import numpy as np
import pytest

from harness.case.loader import load_cases

SCRIPT = Path(__file__).resolve().parents[1] / "benchmarks" / "detection.py"


@pytest.fixture(scope="module")
def detection():
    name = "detection_benchmark"
    spec = importlib.util.spec_from_file_location(name, SCRIPT)
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module       # its dataclasses look their module up there
    try:
        spec.loader.exec_module(module)
        yield module
    finally:
        sys.modules.pop(name, None)


@pytest.fixture(scope="module")
def example(detection):
    """The issue's 1x3x8x8 / 4x3x3x3 SAME stride-1 case, its y, per dtype."""
    cases = {c.id: c for c in load_cases([detection.CASES])}
    kinds = ("one-largest", "accumulation")
    return {dtype: detection.judged(cases[detection.EXAMPLE.format(dtype=dtype)],
                                    grads=("y",), kinds=kinds)["y"]
            for dtype in detection.DTYPES}


def _largest(j):
    at = int(np.argmax(np.abs(j.expected.values)))
    return abs(float(j.expected.values.flat[at])), float(j.expected.bound.flat[at])


def test_float64_one_element_errors_far_below_every_anchor(detection, example):
    j = example["float64"]
    found = detection.thresholds(j, kinds=("one-largest",))["one-largest"]
    assert found["convgrad"] < 1e-12
    size, _ = _largest(j)
    for anchor in detection.ANCHORS:     # each needs about its rtol (+ atol / |e|)
        rtol, atol = anchor.tolerances["float64"]
        assert found[anchor.name] == pytest.approx(rtol + atol / size, rel=0.05)
        assert found[anchor.name] > 1e4 * found["convgrad"]


@pytest.mark.parametrize("dtype", ["float64", "float32", "float16", "bfloat16"])
def test_convgrad_threshold_is_its_bound(detection, example, dtype):
    """One element scaled: caught once the error passes the bound there, give or take the
    rounding of the result to the dtype (an ULP of float16 and bfloat16 is the step)."""
    j = example[dtype]
    found = detection.thresholds(j, kinds=("one-largest",), checkers=("convgrad",))
    size, limit = _largest(j)
    step = {"float64": 0.05, "float32": 0.1, "float16": 1.5, "bfloat16": 1.5}[dtype]
    assert limit / size / (1 + step) <= found["one-largest"]["convgrad"] \
        <= limit / size * (1 + step)


def test_half_types_assert_close_needs_larger_errors(detection, example):
    for dtype in ("float16", "bfloat16"):
        found = detection.thresholds(example[dtype], kinds=("one-largest",))["one-largest"]
        assert found["assert_close"] > found["convgrad"]
        assert found["jax_grad_tol"] > found["convgrad"]


def test_storage_accumulation_passes_where_the_model_allows_it(detection, example):
    """delta = 1 is the sum accumulated in the dtype itself: correct for float64 and float32
    (convgrad passes it), a real bug for float16 and bfloat16 (convgrad flags it)."""
    for dtype, wrong in (("float64", False), ("float32", False),
                         ("float16", True), ("bfloat16", True)):
        j = example[dtype]
        assert j.catches("convgrad", "accumulation", 1.0) is wrong, dtype
        assert not j.catches("convgrad", "accumulation", 0.0)


def test_the_statistical_line_flags_no_later_than_the_hard_bound(detection, example):
    for dtype in detection.DTYPES:
        found = detection.thresholds(example[dtype], kinds=("one-largest",),
                                     checkers=detection.OURS)["one-largest"]
        assert found["statistical"] <= found["convgrad"], dtype


def test_on_a_long_sum_the_statistical_line_flags_smaller_errors(detection):
    """2304 products an element: lambda * sqrt(n) is a third of n, and the hard bound's
    partial sums about half of n * M; the line flags what the hard bound lets pass."""
    case = next(c for c in load_cases([detection.CASES]) if c.id == "detection/long-sum/float32")
    j = detection.judged(case, grads=("y",), kinds=("one-largest",))["y"]
    found = detection.thresholds(j, kinds=("one-largest",), checkers=detection.OURS)
    assert found["one-largest"]["statistical"] < 0.8 * found["one-largest"]["convgrad"]


def test_the_summary_gives_each_anchor_a_ratio_to_each_line(detection):
    found = {kind: {"convgrad": 1e-6, "statistical": 5e-7, "assert_close": 2e-6,
                    "tf_by_type": 1e-6, "jax_grad_tol": 1e-3} for kind in detection.KINDS}
    rows = detection.summary("float32", [("c", "y", found, {}), ("c", "dx", found, {})])
    head = detection.summary_head()
    assert len(rows) == 3
    assert rows[0].startswith("| float32 | all | y | 1e-06 | 5e-07 | 2 | 4 |")
    assert rows[-1].startswith("| float32 | all | all |")
    assert all(r.count("|") == head[0].count("|") for r in rows)
    assert rows[0].endswith("| - | - |")        # gradcheck: float64 only
    long = detection.summary("float32", [("c", "y", found, {}),
                                         (detection.LONG + "/x", "dx", found, {})], "long")
    assert [r.split("|")[3].strip() for r in long] == ["dx", "all"]
