"""The comparison: bounds from error analysis, statistics, and no masking of NaN / inf."""
from __future__ import annotations

import numpy as np
import pytest

from harness.numerics import compare, oracle

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


# ---------------------------------------------------------------- the sum's bound (issue 22)

def _pairwise(values):
    while len(values) > 1:
        pairs = [values[i] + values[i + 1] for i in range(0, len(values) - 1, 2)]
        values = pairs + ([values[-1]] if len(values) % 2 else [])
    return values[0]


def _float32_sums(x, w):
    """x . w in float32 arithmetic (each product rounded, then each addition), in the orders
    that make the partial sums largest and smallest: as given, reversed, the products
    sorted descending (every positive one first: partial sums reach P) and ascending, and
    pairwise (a tree, as blocked and threaded sums are)."""
    products = [np.float32(a) * np.float32(b) for a, b in zip(x, w)]
    orders = [products, products[::-1], sorted(products, reverse=True), sorted(products)]
    out = []
    for order in orders:
        total = np.float32(0)
        for p in order:
            total = np.float32(total + p)
        out.append(float(total))
    out.append(float(_pairwise(list(products))))
    return out


@pytest.mark.parametrize("n", [1, 2, 3, 9, 27, 144, 1000])
@pytest.mark.parametrize("data", ["zero-mean", "positive", "offset"])
def test_the_sum_bound_holds_in_every_order(n, data):
    """Float32 sums of float32 products, in five orders, stay within sum_bound's
    (n - 1) * Q + M (Q = (M + |exact|) / 2), which is never above the classical n * M."""
    rng = np.random.default_rng(n)
    model = compare.BoundModel.for_dtype("float32")
    worst = 0.0
    for trial in range(40):
        if data == "zero-mean":
            x, w = rng.standard_normal(n), rng.standard_normal(n)
        elif data == "positive":
            x, w = rng.uniform(0, 1, n), rng.uniform(0, 1, n)
        else:
            x, w = rng.uniform(-0.5, 1.5, n), rng.uniform(-0.5, 1.5, n)
        x, w = x.astype(np.float32).astype(np.float64), w.astype(np.float32).astype(np.float64)
        exact, m = np.array([np.dot(x, w)]), np.array([np.dot(abs(x), abs(w))])
        terms = np.array([float(n)])
        acc, limit = compare.sum_bound(exact, m, terms, model)
        assert limit[0] == acc[0]           # float32 sums: no rounding after the last addition
        assert limit[0] <= compare.bound(exact, m, terms, model)[0]
        for total in _float32_sums(x, w):
            worst = max(worst, abs(total - exact[0]) / limit[0])
    assert worst <= 1.0


def test_the_sum_bound_is_half_the_classical_one_on_zero_mean_data():
    rng = np.random.default_rng(1)
    x, w = rng.standard_normal((2, 500, 256))
    exact, m = np.sum(x * w, axis=1), np.sum(abs(x * w), axis=1)
    terms = np.full(exact.shape, 500.0)
    _, tight = compare.sum_bound(exact, m, terms, "float32")
    ratio = tight / compare.bound(exact, m, terms, "float32")
    assert 0.48 < np.median(ratio) < 0.56 and ratio.max() <= 1.0
    # all of one sign: Q = M, and only the rounding counted twice goes
    _, same_sign = compare.sum_bound(m, m, terms, "float32")
    assert np.all(same_sign < compare.bound(m, m, terms, "float32"))
    assert np.all(same_sign > 0.99 * compare.bound(m, m, terms, "float32"))


def test_the_sum_bound_of_half_types_adds_the_rounding_to_the_output():
    exact, m, n = np.array([3.0]), np.array([5.0]), np.array([4.0])
    acc, limit = compare.sum_bound(exact, m, n, "bfloat16")
    assert acc[0] == pytest.approx((2.0 ** -24 + 2.0 ** -53) * (3 * 4.0 + 5.0), rel=1e-6)
    u = 2.0 ** -8
    assert limit[0] == pytest.approx(acc[0] + u * (3.0 + acc[0]) + 2.0 ** -134)
    nothing = compare.sum_bound(np.zeros(1), np.zeros(1), np.zeros(1), "float32")[1]
    assert nothing[0] == 0.0                 # an element that sums no product is exact


def test_the_sum_bound_holds_for_float32_arithmetic_and_catches_float16_arithmetic():
    """As the classical bound does (above): a dw accumulated tap by tap in float32 passes,
    the same work in float16 fails."""
    rng = np.random.default_rng(0)
    x = rng.standard_normal((4, 16, 12, 12)).astype(np.float32).astype(np.float64)
    dy = rng.standard_normal((4, 8, 10, 10)).astype(np.float32).astype(np.float64)
    geometry = dict(filter_shape=(8, 16, 3, 3), strides=(1, 1), pads=[(0, 0), (0, 0)],
                    dilations=(1, 1))
    exact = oracle.conv_dw(x, dy, **geometry)
    m = oracle.conv_dw(abs(x), abs(dy), **geometry)
    n = oracle.conv_dw(np.ones_like(x), np.ones_like(dy), **geometry)
    _, limit = compare.sum_bound(exact, m, n, "float32")
    f32 = compare.compare(_dw_in(np.float32, x, dy, 3), exact, limit)
    assert f32.passed and 0 < f32.error_ratio < 1
    assert not compare.compare(_dw_in(np.float16, x, dy, 3), exact, limit).passed


# ---------------------------------------------------------------- the bound model

def _f16(v):
    return float(np.float16(v))


def test_a_correctly_rounded_float16_subnormal_result_passes():
    """0.001 * 0.003 (both rounded to float16) is 3.0e-6, below float16's smallest
    normal 6.1e-5: the correctly rounded result is off by up to 2**-25 in absolute
    terms, which only the underflow term of the bound covers."""
    x, w = _f16(0.001), _f16(0.003)
    exact = np.array([x * w])
    one = np.ones(1)
    limit = compare.bound(exact, np.abs(exact), one, "float16")
    rounded = np.float16(exact).astype(np.float64)
    c = compare.compare(rounded, exact, limit)
    assert c.passed and 0.5 < c.error_ratio <= 1
    relative_only = compare.UNIT_ROUNDOFF["float16"] * abs(exact)
    assert abs(rounded - exact) > 5 * relative_only           # why the term is needed
    assert limit[0] == pytest.approx(2.0 ** -25, rel=0.1)          # mostly the underflow term
    # one subnormal spacing off (2**-24) is not a correct rounding
    assert not compare.compare(rounded + 2.0 ** -24, exact, limit).passed


def test_a_result_that_underflows_to_zero_passes_and_a_flushed_one_fails():
    exact = np.array([1e-8])                      # below 2**-25: rounds to 0 in float16
    limit = compare.bound(exact, exact, np.ones(1), "float16")
    assert compare.compare(np.zeros(1), exact, limit).passed
    # float32: 1e-39 is subnormal; flushing it to zero is an error of 1e-39
    exact = np.array([1e-39])
    limit = compare.bound(exact, exact, np.ones(1), "float32")
    assert compare.compare(np.float32(exact).astype(np.float64), exact, limit).passed
    assert not compare.compare(np.zeros(1), exact, limit).passed


def test_the_accumulator_underflows_once_per_product():
    """n products that each underflow in the accumulator: n * eta_acc."""
    model = compare.BoundModel.for_dtype("float16", "storage")
    exact, n = np.array([4e-6]), np.array([8.0])
    limit = compare.bound(exact, exact, n, model)
    assert limit[0] >= 8 * 2.0 ** -25 + 2.0 ** -25
    default = compare.bound(exact, exact, n, "float16")     # float32 accumulator
    assert default[0] < 2 * 2.0 ** -25


@pytest.mark.parametrize("dtype, accumulate", [
    ("float16", "float32"), ("bfloat16", "float32"), ("float32", "float32"),
    ("float64", "float64")])
def test_the_default_accumulator_per_dtype(dtype, accumulate):
    assert compare.BoundModel.for_dtype(dtype).to_dict() == {"accumulate": accumulate,
                                                             "output": dtype}
    assert compare.BoundModel.for_dtype(dtype, "storage").accumulate == dtype


def test_an_unknown_accumulator_is_refused():
    with pytest.raises(ValueError, match="unknown accumulator 'float8'"):
        compare.BoundModel.for_dtype("float16", "float8")


def test_the_float32_accumulator_keeps_long_bfloat16_sums_meaningful():
    """n = 950 products in bfloat16: accumulating in bfloat16 the bound would be
    n * 2**-8 * M > 3.7 M, more than any |exact| <= M (vacuous); with the float32
    accumulator it is about 2**-8 * |exact|."""
    n, m, exact = np.array([950.0]), np.array([30.0]), np.array([2.0])
    storage = compare.bound(exact, m, n, "bfloat16", accumulate="storage")
    default = compare.bound(exact, m, n, "bfloat16")
    assert storage[0] > m[0] >= abs(exact[0])
    assert default[0] < 2.0 ** -8 * abs(exact[0]) * 1.3


FLOAT16_MAX = 65504.0


@pytest.mark.parametrize("exact, certain, possible", [
    (65519.0, False, False),   # rounds to 65504
    (65520.0, False, True),    # the threshold itself: inf, but a hair lower is 65504
    (65521.0, True, False),    # past the threshold by more than the slack
    (70000.0, True, False),
    (-70000.0, True, False),
])
def test_round_overflow_zones(exact, certain, possible):
    values, may = compare.round_overflow(np.array([exact]), np.array([0.01]), "float16")
    assert bool(np.isinf(values[0])) is certain and bool(may[0]) is possible
    if certain:
        assert values[0] == np.copysign(np.inf, exact)


def _overflow_judge(actual, exact, slack=0.01):
    exact = np.array([exact])
    values, may = compare.round_overflow(exact, np.array([slack]), "float16")
    limit = slack + compare.UNIT_ROUNDOFF["float16"] * np.abs(exact) + 2.0 ** -25
    return compare.compare(np.array([actual]), values, limit, may_overflow=may)


def test_a_result_past_the_range_must_be_the_infinity_it_rounds_to():
    assert _overflow_judge(np.inf, 70000.0).passed
    assert _overflow_judge(-np.inf, -70000.0).passed
    c = _overflow_judge(70000.0, 70000.0)          # the unrounded value: wrong
    assert not c.passed and "expected inf, got 70000.0" in c.message
    assert not _overflow_judge(FLOAT16_MAX, 70000.0).passed
    assert not _overflow_judge(-np.inf, 70000.0).passed


def test_next_to_the_threshold_either_rounding_passes():
    assert _overflow_judge(np.inf, 65520.0).passed
    assert _overflow_judge(FLOAT16_MAX, 65520.0).passed
    assert not _overflow_judge(-np.inf, 65520.0).passed
    # below the zone only the finite value is right
    assert _overflow_judge(FLOAT16_MAX, 65519.0).passed
    assert not _overflow_judge(np.inf, 65519.0).passed


def test_overflow_threshold_is_where_round_to_nearest_gives_infinity():
    from harness.numerics import dtypes
    t = dtypes.overflow_threshold("float16")
    assert t == 65520.0
    with np.errstate(over="ignore"):
        assert np.isinf(np.float16(t)) and np.float16(np.nextafter(t, 0)) == FLOAT16_MAX
    bf16 = dtypes.overflow_threshold("bfloat16")
    assert dtypes.largest_finite("bfloat16") < bf16 < 2.0 ** 128
    assert dtypes.overflow_threshold("float64") == np.inf


def _bf16_sum_case():
    """Products of bfloat16 values, their exact sums, and the same sums accumulated in
    bfloat16 (rounded after every addition)."""
    import ml_dtypes
    bf16 = ml_dtypes.bfloat16
    rng = np.random.default_rng(1)
    a = rng.standard_normal((64, 40)).astype(bf16).astype(np.float64)
    b = rng.standard_normal((64, 40)).astype(bf16).astype(np.float64)
    products = a * b
    exact = products.sum(axis=1)
    acc = np.zeros(64)
    for k in range(products.shape[1]):
        acc = (acc + products[:, k].astype(bf16).astype(np.float64)).astype(bf16).astype(
            np.float64)
    return exact, np.abs(products).sum(axis=1), np.full(64, 40.0), acc


def test_an_error_from_bfloat16_accumulation_fails_and_says_so():
    exact, m, n, in_bf16 = _bf16_sum_case()
    model = compare.BoundModel.for_dtype("bfloat16")
    c = compare.compare(in_bf16, exact, compare.bound(exact, m, n, model), model=model,
                        storage_limit=compare.bound(exact, m, n, model.storage))
    assert not c.passed and c.storage_fits
    assert ("the error fits accumulation in bfloat16, not the float32 accumulation the "
            "model assumes") in c.message
    assert c.stats()["bound_model"] == {"accumulate": "float32", "output": "bfloat16"}
    # the correctly rounded float32 sum passes
    rounded = np.asarray(exact, np.float32).astype(np.float64)
    import ml_dtypes
    rounded = rounded.astype(ml_dtypes.bfloat16).astype(np.float64)
    assert compare.compare(rounded, exact, compare.bound(exact, m, n, model)).passed


def test_an_error_beyond_both_bounds_does_not_blame_the_accumulator():
    exact, m, n, _ = _bf16_sum_case()
    model = compare.BoundModel.for_dtype("bfloat16")
    c = compare.compare(-exact, exact, compare.bound(exact, m, n, model), model=model,
                        storage_limit=compare.bound(exact, m, n, model.storage) / 100)
    assert not c.passed and not c.storage_fits and "fits accumulation" not in c.message


def test_a_vacuous_bound_is_flagged():
    exact = np.array([1.0, -2.0, 0.5, 4.0])
    c = compare.compare(exact, exact, np.array([3.0, 3.0, 3.0, 3.0]))
    assert c.passed and c.vacuous and c.vacuous_percent == 75.0
    assert "warning: the bound is vacuous: it exceeds |exact| at 75% of the elements" \
        in c.message
    tight = compare.compare(exact, exact, np.full(4, 1e-6))
    assert tight.vacuous is False and "vacuous" not in tight.message
    # elements that sum no products (n = 0) do not count
    active = np.array([True, False, False, True])
    assert not compare.compare(exact, exact, np.array([3.0, 3.0, 3.0, 1e-6]),
                               active=active).vacuous


def test_greatest_differences_are_over_mismatched_elements_only():
    """A tiny exact value within its bound has a huge relative difference that says
    nothing; the message points at the elements that fail."""
    exact = np.array([1e-9, 5.0, 100.0])
    actual = np.array([2e-9, 5.5, 100.0 + 1e-7])
    limit = np.array([1e-8, 1e-6, 1e-3])
    c = compare.compare(actual, exact, limit)
    assert c.mismatched == 1
    assert "Greatest absolute difference: 0.5 at index (1,)" in c.message
    assert "Greatest relative difference: 0.1 at index (1,)" in c.message
    assert c.max_rel_index == [0] and c.mismatched_max_rel_index == [1]   # stats keep both


def test_claim_printed_to_n_decimals_holds_with_decimals_and_fails_without():
    from harness.case.model import Claim
    from harness.verdict.expected import claim_tolerance
    exact = np.array([0.123456789012, -2.718281828459, 1e-7])
    printed = np.round(exact, 6)                      # as a source prints them
    limit = compare.bound(exact, np.abs(exact), np.full(3, 4.0), "float64")
    bare = Claim("source", {"y": printed.tolist()})
    assert not compare.compare(printed, exact, limit + claim_tolerance(bare, printed, exact)).passed
    six = Claim("source", {"y": printed.tolist()}, decimals=6)
    assert compare.compare(printed, exact, limit + claim_tolerance(six, printed, exact)).passed
    seven = Claim("source", {"y": printed.tolist()}, decimals=7)
    assert not compare.compare(printed, exact,
                               limit + claim_tolerance(seven, printed, exact)).passed


def test_claim_rtol_and_atol_are_the_sources_own():
    from harness.case.model import Claim
    from harness.verdict.expected import claim_tolerance
    exact = np.array([100.0, 1e-9])
    claimed = np.array([100.05, 0.0])
    limit = np.full(2, 1e-12)
    ok = Claim("s", {}, rtol=1e-3, atol=1e-8)
    assert compare.compare(claimed, exact, limit + claim_tolerance(ok, claimed, exact)).passed
    for tight in (Claim("s", {}, rtol=1e-4, atol=1e-8), Claim("s", {}, rtol=1e-3, atol=1e-10)):
        assert not compare.compare(claimed, exact,
                                   limit + claim_tolerance(tight, claimed, exact)).passed
