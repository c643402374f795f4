"""The comparison: bounds from error analysis, statistics, and no masking of NaN / inf."""
from __future__ import annotations

import numpy as np
import pytest

from harness import compare, oracle

NAN, INF = float("nan"), float("inf")


def _judge(actual, exact, limit=1e-6):
    exact = np.asarray(exact, dtype=np.float64)
    return compare.compare(np.asarray(actual), exact, np.full(exact.shape, limit))


def test_equal_arrays_pass_with_ratio_zero():
    c = _judge([1.0, 2.0], [1.0, 2.0])
    assert c.passed and c.error_ratio == 0.0 and c.mismatched == 0


def test_error_just_inside_and_just_outside_the_bound():
    assert _judge([1.0 + 0.9e-6], [1.0]).passed
    c = _judge([1.0 + 1.1e-6], [1.0])
    assert not c.passed and c.error_ratio == pytest.approx(1.1, rel=1e-6)


def test_statistics_and_message_name_the_worst_element():
    c = _judge([[0.0, 1.0], [2.0, 3.5]], [[0.0, 1.0], [2.0, 3.0]])
    assert (c.mismatched, c.total, c.worst_index) == (1, 4, [1, 1])
    assert c.message.splitlines()[0] == "Mismatched elements: 1 / 4 (25.0%)"
    assert "at index (1, 1): expected 3.0, got 3.5" in c.message


def test_shape_mismatch_is_a_failure_not_an_exception():
    c = compare.compare(np.zeros((2, 3)), np.zeros((3, 2)), np.ones((3, 2)))
    assert not c.passed and "shape [2, 3] differs from the expected [3, 2]" in c.message


@pytest.mark.parametrize("actual, exact, ok", [
    ([NAN], [NAN], True), ([1.0], [NAN], False), ([NAN], [1.0], False),
    ([INF], [INF], True), ([-INF], [INF], False), ([INF], [1.0], False), ([1.0], [INF], False),
])
def test_nan_and_infinity_are_never_masked(actual, exact, ok):
    assert _judge(actual, exact, limit=INF).passed is ok


def _dw_in(dtype, x, dy, k):
    """dw of a stride-1 VALID conv computed tap by tap entirely in ``dtype``."""
    x, dy = x.astype(dtype), dy.astype(dtype)
    out = dy.shape[2:]
    dw = np.zeros((dy.shape[1], x.shape[1], k, k), dtype=dtype)
    for i in range(k):
        for j in range(k):
            window = x[:, :, i:i + out[0], j:j + out[1]]
            dw[:, :, i, j] = np.einsum("ncij,noij->oc", window, dy, dtype=dtype)
    return dw


def test_bound_holds_for_float32_arithmetic_and_catches_float16_arithmetic():
    """Real float32 accumulation stays within the float32 bound; the same work
    done in float16 (a silent precision loss) breaks it."""
    rng = np.random.default_rng(0)
    x = rng.standard_normal((4, 16, 12, 12)).astype(np.float32).astype(np.float64)
    dy = rng.standard_normal((4, 8, 10, 10)).astype(np.float32).astype(np.float64)
    geometry = dict(filter_shape=(8, 16, 3, 3), strides=(1, 1), pads=[(0, 0), (0, 0)],
                    dilations=(1, 1))
    exact = oracle.conv_dw(x, dy, **geometry)
    limit = compare.bound(exact, oracle.conv_dw(abs(x), abs(dy), **geometry),
                          oracle.conv_dw(np.ones_like(x), np.ones_like(dy), **geometry),
                          "float32")
    f32 = compare.compare(_dw_in(np.float32, x, dy, 3), exact, limit)
    assert f32.passed and 0 < f32.error_ratio < 1
    assert not compare.compare(_dw_in(np.float16, x, dy, 3), exact, limit).passed
