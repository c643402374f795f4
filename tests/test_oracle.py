"""Independent checks of the float64 NumPy oracle (harness/numerics/oracle.py).

1. naive loops: a pure-Python reference written straight from the definition
   (one loop per index, no slicing tricks), compared exactly on integer-valued
   inputs and to rtol 1e-12 on random floats;
2. adjoint identities  <conv(x, w), dy> == <x, conv_dx(dy, w)> == <w, conv_dw(x, dy)>;
3. central finite differences of L = <conv(x, w), dy>;
4. published ONNX Conv / ConvTranspose vectors (tests/data/onnx_conv_vectors.json);
5. error messages for inconsistent shapes.
"""
from __future__ import annotations

import itertools
import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest

from harness.numerics import oracle, padding
from harness.numerics.oracle import conv, conv_dw, conv_dx, conv_forward_output_shape

VECTORS_PATH = Path(__file__).parent / "data" / "onnx_conv_vectors.json"


# --- cases -----------------------------------------------------------------

@dataclass(frozen=True)
class Case:
    x_shape: tuple[int, ...]  # (N, C, *spatial)
    w_shape: tuple[int, ...]  # (O, C // groups, *kernel)
    strides: tuple[int, ...]
    pads: tuple[tuple[int, int], ...]
    dilations: tuple[int, ...]
    groups: int = 1

    @property
    def params(self) -> dict:
        return dict(strides=self.strides, pads=self.pads, dilations=self.dilations,
                    groups=self.groups)

    @property
    def id(self) -> str:
        pads = "_".join(f"{b:+d}{a:+d}" for b, a in self.pads)
        return (f"{len(self.strides)}d-x{'x'.join(map(str, self.x_shape[2:]))}"
                f"-k{'x'.join(map(str, self.w_shape[2:]))}-s{''.join(map(str, self.strides))}"
                f"-d{''.join(map(str, self.dilations))}-p{pads}-g{self.groups}")


def _case(spatial, kernel, strides, pads, dilations, groups=1, n=2, cg=2, og=2) -> Case:
    return Case((n, cg * groups, *spatial), (og * groups, cg, *kernel), tuple(strides),
                tuple(tuple(p) for p in pads), tuple(dilations), groups)


PADS_1D = [(0, 0), (2, 1), (0, 3), (-1, 2), (1, -2), (3, 3), (-2, -1)]
CASES_1D = [
    _case([11], [k], [s], [PADS_1D[i % len(PADS_1D)]], [d], groups=1 + i % 2, cg=1 + i % 3)
    for i, (k, s, d) in enumerate(itertools.product(range(1, 5), range(1, 4), range(1, 3)))
]
CASES_ND = [
    _case([6, 7], [3, 3], [1, 1], [[1, 1], [1, 1]], [1, 1]),
    _case([7, 8], [2, 3], [3, 2], [[0, 0], [0, 0]], [1, 1]),  # trailing rows/cols untouched
    _case([7, 6], [3, 2], [2, 3], [[2, 0], [0, 1]], [2, 1], groups=2),
    _case([8, 7], [4, 1], [1, 2], [[0, 3], [1, 0]], [2, 1]),
    _case([6, 6], [1, 4], [3, 1], [[1, 2], [-1, 1]], [1, 1], groups=2, og=1),
    _case([9, 5], [2, 2], [2, 1], [[0, -1], [-1, 0]], [2, 2]),  # negative pads: crop
    _case([5, 5], [3, 3], [2, 2], [[1, 1], [1, 1]], [1, 1], groups=2, cg=1, og=3),
    _case([4, 5, 5], [2, 2, 3], [1, 2, 1], [[0, 1], [1, 0], [1, 1]], [1, 1, 2], n=1),
    _case([5, 4, 6], [3, 2, 2], [2, 1, 3], [[1, -1], [0, 0], [2, 0]], [1, 2, 1],
          groups=2, n=1, cg=1, og=1),
    _case([4, 4, 4], [2, 2, 2], [3, 3, 3], [[0, 0], [0, 0], [0, 0]], [1, 1, 1], n=1, cg=1),
    _case([3, 4, 3, 4], [2, 2, 1, 2], [1, 2, 1, 1], [[0, 1], [0, 0], [1, 0], [0, 0]],
          [1, 1, 1, 2], n=1, cg=1, og=1),  # 4 spatial dims: rank-generic
]
CASES = CASES_1D + CASES_ND
CASE_IDS = [c.id for c in CASES]


def _arrays(case: Case, kind: str, seed: int):
    """Random (x, w, dy); ``kind='int'`` gives small integers (exact float64 sums)."""
    rng = np.random.default_rng(seed)
    y_shape = _naive_output_shape(case)
    draw = ((lambda shape: rng.integers(-4, 5, size=shape).astype(np.float64))
            if kind == "int" else rng.standard_normal)
    return draw(case.x_shape), draw(case.w_shape), draw(y_shape)


# --- 1. naive reference, straight from the definition ----------------------

def _naive_output_shape(case: Case) -> tuple[int, ...]:
    """Output positions p with s * p + (k - 1) * d <= in + before + after - 1 (none: 0)."""
    out = [max((n + before + after - (k - 1) * d - 1) // s + 1, 0)
           for n, k, s, d, (before, after) in zip(case.x_shape[2:], case.w_shape[2:],
                                                  case.strides, case.dilations, case.pads)]
    return (case.x_shape[0], case.w_shape[0], *out)


def _ranges(shape):
    return itertools.product(*(range(n) for n in shape))


def _input_index(case: Case, p, k):
    """Index into x of output position p, tap k; None where it falls in the padding."""
    i = tuple(s * pp + d * kk - before for s, d, pp, kk, (before, _)
              in zip(case.strides, case.dilations, p, k, case.pads))
    inside = all(0 <= ii < n for ii, n in zip(i, case.x_shape[2:]))
    return i if inside else None


def naive_conv(x, w, case: Case):
    y_shape = _naive_output_shape(case)
    cg, og = case.w_shape[1], case.w_shape[0] // case.groups
    y = np.zeros(y_shape)
    for n, o, *p in _ranges(y_shape):
        for c, *k in _ranges(case.w_shape[1:]):
            i = _input_index(case, p, k)
            if i is not None:
                y[(n, o, *p)] += x[(n, (o // og) * cg + c, *i)] * w[(o, c, *k)]
    return y


def naive_conv_dx(dy, w, case: Case):
    """Gather form: dx[n, ch, i] = sum over (o, k, p) with s*p + d*k == i + before."""
    out = _naive_output_shape(case)[2:]
    cg, og = case.w_shape[1], case.w_shape[0] // case.groups
    dx = np.zeros(case.x_shape)
    for n, ch, *i in _ranges(case.x_shape):
        g, c = divmod(ch, cg)
        for o, *k in itertools.product(range(g * og, (g + 1) * og), *map(range, case.w_shape[2:])):
            num = [ii + before - d * kk for ii, (before, _), d, kk
                   in zip(i, case.pads, case.dilations, k)]
            if all(v % s == 0 and 0 <= v // s < m for v, s, m in zip(num, case.strides, out)):
                p = tuple(v // s for v, s in zip(num, case.strides))
                dx[(n, ch, *i)] += dy[(n, o, *p)] * w[(o, c, *k)]
    return dx


def naive_conv_dw(x, dy, case: Case):
    y_shape = _naive_output_shape(case)
    cg, og = case.w_shape[1], case.w_shape[0] // case.groups
    dw = np.zeros(case.w_shape)
    for o, c, *k in _ranges(case.w_shape):
        for n, *p in _ranges((y_shape[0], *y_shape[2:])):
            i = _input_index(case, p, k)
            if i is not None:
                dw[(o, c, *k)] += x[(n, (o // og) * cg + c, *i)] * dy[(n, o, *p)]
    return dw


def _assert_matches(actual, expected, kind: str):
    assert actual.dtype == np.float64 and actual.shape == expected.shape
    if kind == "int":
        np.testing.assert_array_equal(actual, expected)
    else:
        np.testing.assert_allclose(actual, expected, rtol=1e-12, atol=1e-13)


@pytest.mark.parametrize("kind", ["int", "float"])
@pytest.mark.parametrize("case", CASES, ids=CASE_IDS)
def test_conv_matches_naive_loops(case: Case, kind: str):
    x, w, _ = _arrays(case, kind, seed=1)
    _assert_matches(conv(x, w, **case.params), naive_conv(x, w, case), kind)


@pytest.mark.parametrize("kind", ["int", "float"])
@pytest.mark.parametrize("case", CASES, ids=CASE_IDS)
def test_conv_dx_matches_naive_loops(case: Case, kind: str):
    _, w, dy = _arrays(case, kind, seed=2)
    dx = conv_dx(dy, w, input_shape=case.x_shape, **case.params)
    _assert_matches(dx, naive_conv_dx(dy, w, case), kind)


@pytest.mark.parametrize("kind", ["int", "float"])
@pytest.mark.parametrize("case", CASES, ids=CASE_IDS)
def test_conv_dw_matches_naive_loops(case: Case, kind: str):
    x, _, dy = _arrays(case, kind, seed=3)
    dw = conv_dw(x, dy, filter_shape=case.w_shape, **case.params)
    _assert_matches(dw, naive_conv_dw(x, dy, case), kind)


def test_output_shape_formula():
    assert conv_forward_output_shape((2, 3, 10), (4, 3, 3), strides=[3], pads=[(0, 0)],
                                     dilations=[1]) == (2, 4, 3)
    assert conv_forward_output_shape((1, 4, 7, 9), (6, 2, 3, 2), strides=[2, 1],
                                     pads=[(1, 2), (0, -1)], dilations=[2, 3],
                                     groups=2) == (1, 6, 3, 5)


def test_stride_leaves_trailing_input_untouched():
    """in=10, k=3, s=3: windows cover 0..8, so x[..., 9] gets dx exactly 0."""
    case = _case([10], [3], [3], [(0, 0)], [1])
    _, w, dy = _arrays(case, "int", seed=4)
    w[...] = 1.0
    dy[...] = 1.0
    dx = conv_dx(dy, w, input_shape=case.x_shape, **case.params)
    assert np.all(dx[..., 9] == 0) and np.all(dx[..., :9] == case.w_shape[0])


def test_negative_pad_crops_input():
    """pads (-2, -1) on length 8: x[0:2] and x[7] are never read, their dx is 0."""
    case = _case([8], [2], [1], [(-2, -1)], [1], n=1, cg=1, og=1)
    x = np.arange(8.0).reshape(case.x_shape)
    w = np.array([1.0, 10.0]).reshape(case.w_shape)
    np.testing.assert_array_equal(conv(x, w, **case.params).ravel(),
                                  [2 + 30, 3 + 40, 4 + 50, 5 + 60])
    dx = conv_dx(np.ones((1, 1, 4)), w, input_shape=case.x_shape, **case.params)
    np.testing.assert_array_equal(dx.ravel(), [0, 0, 1, 11, 11, 11, 10, 0])


def test_nan_and_inf_propagate():
    x = np.arange(8.0).reshape(1, 1, 8)
    x[0, 0, 3] = np.nan
    x[0, 0, 7] = np.inf
    y = conv(x, np.ones((1, 1, 3)), strides=[1], pads=[(0, 0)], dilations=[1])[0, 0]
    np.testing.assert_array_equal(np.isnan(y), [False, True, True, True, False, False])
    np.testing.assert_array_equal(y[4:], [15.0, np.inf])


def test_integer_inputs_give_float64():
    y = conv(np.ones((1, 1, 4), dtype=np.int32), [[[1, 2]]], strides=[1], pads=[(0, 0)],
             dilations=[1])
    assert y.dtype == np.float64
    np.testing.assert_array_equal(y, [[[3.0, 3.0, 3.0]]])


# --- 2. adjoint identities --------------------------------------------------

@pytest.mark.parametrize("case", CASES, ids=CASE_IDS)
def test_adjoint_identities(case: Case):
    x, w, dy = _arrays(case, "float", seed=5)
    y = conv(x, w, **case.params)
    dx = conv_dx(dy, w, input_shape=case.x_shape, **case.params)
    dw = conv_dw(x, dy, filter_shape=case.w_shape, **case.params)
    scale = np.sum(conv(np.abs(x), np.abs(w), **case.params) * np.abs(dy))
    forward = np.vdot(y, dy)
    assert abs(forward - np.vdot(x, dx)) <= 1e-12 * scale
    assert abs(forward - np.vdot(w, dw)) <= 1e-12 * scale


# --- 2b. degenerate shapes: empty outputs, a batch of 0, no channels ---------

# (case, what is empty); every gradient is then empty or all zeros, exactly.
DEGENERATE = [
    (_case([2, 2], [3, 3], [1, 1], [[0, 0], [0, 0]], [1, 1]), "output"),   # tensorflow#64396
    (_case([2, 5], [3, 3], [1, 1], [[0, 0], [0, 0]], [1, 1]), "output"),   # in H only
    (_case([2, 4], [5, 2], [2, 1], [[1, 1], [0, 0]], [1, 1]), "output"),   # > padded input
    (_case([3], [2], [1], [(0, 0)], [3]), "output"),                       # dilated extent 4
    (_case([8], [3], [1], [(-3, -3)], [1]), "output"),                     # cropped to 2
    (_case([3, 3, 3], [2, 2, 4], [1, 1, 1], [[0, 0]] * 3, [1, 1, 1], n=1), "output"),
    (_case([5, 5], [3, 3], [1, 2], [[1, 1], [0, 0]], [1, 1], n=0), "batch"),
    (_case([6], [3], [2], [(1, 0)], [1], cg=0), "in_channels"),
    (_case([6], [3], [2], [(1, 0)], [1], groups=2, cg=0), "in_channels"),
    (_case([5, 5], [3, 3], [1, 1], [[1, 1], [1, 1]], [1, 1], og=0), "out_channels"),
    (_case([4, 4], [3, 3], [1, 1], [[0, 0], [0, 0]], [1, 1], cg=0, og=0), "in_channels"),
]
DEGENERATE_IDS = [f"{what}-{case.id}" for case, what in DEGENERATE]


@pytest.mark.parametrize("case, what", DEGENERATE, ids=DEGENERATE_IDS)
def test_degenerate_shapes_match_naive_loops(case: Case, what: str):
    x, w, dy = _arrays(case, "int", seed=8)
    params = case.params
    _assert_matches(conv(x, w, **params), naive_conv(x, w, case), "int")
    _assert_matches(conv_dx(dy, w, input_shape=case.x_shape, **params),
                    naive_conv_dx(dy, w, case), "int")
    _assert_matches(conv_dw(x, dy, filter_shape=case.w_shape, **params),
                    naive_conv_dw(x, dy, case), "int")


@pytest.mark.parametrize("case, what", DEGENERATE, ids=DEGENERATE_IDS)
def test_degenerate_gradients_are_empty_or_zeros_of_the_right_shape(case: Case, what: str):
    """No output element touches x (empty output, no output channel) or w (empty output,
    no example): those gradients are exactly 0; a sum over no input channel is 0 too."""
    x, w, dy = _arrays(case, "float", seed=9)
    y = conv(x, w, **case.params)
    dx = conv_dx(dy, w, input_shape=case.x_shape, **case.params)
    dw = conv_dw(x, dy, filter_shape=case.w_shape, **case.params)
    y_shape = _naive_output_shape(case)
    assert (y.shape, dx.shape, dw.shape) == (y_shape, case.x_shape, case.w_shape)
    assert y.size == 0 or what == "in_channels"
    assert not y.any() and not dx.any() and not dw.any()
    if what == "output":
        assert 0 in y_shape[2:] and x.size and w.size and dx.size and dw.size
    # The adjoint identities hold, trivially: every inner product is an empty sum or 0.
    assert np.vdot(y, dy) == np.vdot(x, dx) == np.vdot(w, dw) == 0


def test_empty_output_dx_is_zero_even_where_the_data_is_not():
    """x, w and dy full of ones: a kernel larger than the input still gives dx = dw = 0."""
    params = dict(strides=[1], pads=[(0, 0)], dilations=[1])
    assert conv_forward_output_shape((1, 1, 2), (1, 1, 3), **params) == (1, 1, 0)
    dx = conv_dx(np.ones((1, 1, 0)), np.ones((1, 1, 3)), input_shape=(1, 1, 2), **params)
    dw = conv_dw(np.ones((1, 1, 2)), np.ones((1, 1, 0)), filter_shape=(1, 1, 3), **params)
    np.testing.assert_array_equal(dx, np.zeros((1, 1, 2)))
    np.testing.assert_array_equal(dw, np.zeros((1, 1, 3)))


# --- 3. central finite differences ------------------------------------------

def _probe_indices(shape, rng, count=4):
    """A few random multi-indices plus the last element (often a stride-untouched one)."""
    picks = [tuple(int(rng.integers(n)) for n in shape) for _ in range(count)]
    return picks + [tuple(n - 1 for n in shape)]


@pytest.mark.parametrize("case", CASES, ids=CASE_IDS)
def test_central_finite_differences(case: Case):
    x, w, dy = _arrays(case, "float", seed=6)
    loss = lambda x_, w_: np.vdot(conv(x_, w_, **case.params), dy)  # noqa: E731
    dx = conv_dx(dy, w, input_shape=case.x_shape, **case.params)
    dw = conv_dw(x, dy, filter_shape=case.w_shape, **case.params)
    h, rng = 1e-3, np.random.default_rng(7)
    for arr, grad, perturb in ((x, dx, lambda e: loss(x + e, w)),
                               (w, dw, lambda e: loss(x, w + e))):
        for idx in _probe_indices(arr.shape, rng):
            e = np.zeros_like(arr)
            e[idx] = h
            numeric = (perturb(e) - perturb(-e)) / (2 * h)
            np.testing.assert_allclose(grad[idx], numeric, rtol=1e-7, atol=1e-9)


# --- 4. published ONNX vectors ----------------------------------------------

VECTORS = json.loads(VECTORS_PATH.read_text())


def _materialize(spec: dict) -> np.ndarray:
    shape = spec["shape"]
    if "values" in spec:
        return np.array(spec["values"], dtype=np.float64).reshape(shape)
    assert spec["generator"] == "constant", f"unknown generator {spec['generator']!r}"
    assert spec.get("rule", f"np.full({shape}, {spec['value']})") == \
        f"np.full({shape}, {spec['value']})"
    return np.full(shape, spec["value"], dtype=np.float64)


@pytest.mark.parametrize("vec", VECTORS, ids=[v["source"].split("::")[-1] for v in VECTORS])
def test_onnx_vector(vec: dict):
    x, w = _materialize(vec["x"]), _materialize(vec["w"])
    expected = np.array(vec["expected"], dtype=np.float64).reshape(vec["expected_shape"])
    if vec["kind"] == "forward":
        actual = conv(x, w, strides=vec["strides"], dilations=vec["dilations"],
                      pads=vec["padding_resolved"]["explicit_forward_conv_pads"],
                      groups=vec["groups"])
    else:
        assert vec["kind"] == "conv_transpose"
        grad = vec["equivalent_grad_input"]
        actual = conv_dx(x, w, input_shape=grad["dx_shape_NCHW"], strides=grad["strides"],
                         pads=grad["forward_pads"], dilations=grad["dilations"],
                         groups=grad["groups"])
    np.testing.assert_array_equal(actual, expected)


@pytest.mark.parametrize("vec", VECTORS, ids=[v["source"].split("::")[-1] for v in VECTORS])
def test_onnx_vector_pads_agree_with_onnx_attributes(vec: dict):
    """The resolved pads used above follow from the raw ONNX attributes of each vector."""
    resolved = [tuple(p) for p in vec["padding_resolved"]["explicit_forward_conv_pads"]]
    spec, rank = vec["padding"], len(vec["strides"])
    if isinstance(spec, dict) and "explicit_onnx_pads" in spec:  # [begins..., ends...]
        onnx = spec["explicit_onnx_pads"]
        assert resolved == list(zip(onnx[:rank], onnx[rank:]))
    if vec["kind"] == "forward":
        if isinstance(spec, str):
            mode = {"SAME_UPPER": "SAME"}.get(spec, spec)
            axes = padding.resolve(mode, vec["input_shape"][2:], vec["filter_shape"][2:],
                                   vec["strides"], vec["dilations"])
            assert padding.pairs(axes) == resolved
        return
    grad = vec["equivalent_grad_input"]
    assert [tuple(p) for p in grad["forward_pads"]] == resolved
    # ConvTranspose output = s * (in - 1) + output_padding + (k - 1) * d + 1 - begin - end
    out_pad = vec.get("output_padding", [0] * rank)
    ct_out = [s * (n - 1) + op + (k - 1) * d + 1 - b - a for s, n, op, k, d, (b, a)
              in zip(vec["strides"], vec["input_shape"][2:], out_pad, vec["filter_shape"][2:],
                     vec["dilations"], resolved)]
    assert ct_out == vec["expected_shape"][2:] == grad["dx_shape_NCHW"][2:]


# --- 5. errors --------------------------------------------------------------

PARAMS_2D = dict(strides=[2, 1], pads=[(1, 0), (0, 0)], dilations=[1, 1])


def test_every_dx_path_rejects_a_dy_of_another_shape():
    """The fast paths too (dx as a convolution at stride 1, the scatter otherwise): the
    diagnosis tries geometries that do not fit and relies on the ValueError."""
    w = np.ones((16, 16, 3))
    for strides in ([1], [2]):
        with pytest.raises(ValueError, match="dy"):
            conv_dx(np.ones((1, 16, 4)), w, input_shape=(1, 16, 5), strides=strides,
                    pads=[(0, 0)], dilations=[1])


def test_conv_dx_rejects_wrong_dy_shape():
    w = np.ones((3, 2, 3, 3))
    # forward: x (2, 2, 8, 6) -> y (2, 3, 4, 4); dy is one row short
    with pytest.raises(ValueError, match=r"dy has shape \(2, 3, 3, 4\).*\(2, 3, 4, 4\)"):
        conv_dx(np.ones((2, 3, 3, 4)), w, input_shape=(2, 2, 8, 6), **PARAMS_2D)


def test_conv_dw_rejects_wrong_dy_shape():
    x = np.ones((2, 2, 8, 6))
    with pytest.raises(ValueError, match=r"dy has shape \(2, 4, 4, 4\).*\(2, 3, 4, 4\)"):
        conv_dw(x, np.ones((2, 4, 4, 4)), filter_shape=(3, 2, 3, 3), **PARAMS_2D)


def test_rejects_inconsistent_shapes():
    with pytest.raises(ValueError, match="input channels"):
        conv(np.ones((1, 4, 5, 5)), np.ones((2, 3, 3, 3)), **PARAMS_2D)
    with pytest.raises(ValueError, match="groups=3 must"):
        conv(np.ones((1, 4, 5, 5)), np.ones((3, 1, 3, 3)), groups=3, **PARAMS_2D)
    # A kernel larger than the padded input is not an error: the output is empty.
    assert conv(np.ones((1, 1, 2, 5)), np.ones((1, 1, 4, 3)), **PARAMS_2D).shape == (1, 1, 0, 3)
    with pytest.raises(ValueError, match="negative size"):
        conv_dx(np.ones((1, 1, 3, 3)), np.ones((1, 1, 3, 3)), input_shape=(-1, 1, 5, 5),
                **PARAMS_2D)
    with pytest.raises(ValueError, match="kernel size of 0"):
        conv(np.ones((1, 1, 5, 5)), np.ones((1, 1, 0, 3)), **PARAMS_2D)
    with pytest.raises(ValueError, match="2 spatial dims need 2"):
        conv(np.ones((1, 1, 5, 5)), np.ones((1, 1, 3, 3)), strides=[1], pads=[(0, 0)] * 2,
             dilations=[1, 1])
    with pytest.raises(ValueError, match="padding.resolve"):
        conv(np.ones((1, 1, 5, 5)), np.ones((1, 1, 3, 3)), strides=[1, 1], pads="SAME",
             dilations=[1, 1])


# --- the GEMM fast path and the product counts, against the simple path ---------

def _random_geometries(seed: int, count: int):
    rng = np.random.default_rng(seed)
    while count:
        r = int(rng.integers(1, 4))
        groups = int(rng.choice([1, 1, 2, 3]))
        cg, og, n = int(rng.integers(1, 6)), int(rng.integers(1, 4)), int(rng.integers(0, 3))
        kernel = [int(rng.integers(1, 4)) for _ in range(r)]
        size = [int(rng.integers(1, 9)) for _ in range(r)]
        pads = [(int(rng.integers(-1, 3)), int(rng.integers(-1, 3))) for _ in range(r)]
        if any(s + min(b, 0) + min(a, 0) < 0 for s, (b, a) in zip(size, pads)):
            continue
        count -= 1
        yield ((n, cg * groups, *size), (og * groups, cg, *kernel),
               dict(strides=[int(rng.integers(1, 4)) for _ in range(r)], pads=pads,
                    dilations=[int(rng.integers(1, 3)) for _ in range(r)], groups=groups))


@pytest.mark.parametrize("block", [7, 1 << 21], ids=["tiny-blocks", "default-blocks"])
@pytest.mark.parametrize("columns", ["clipped", "padded"])
@pytest.mark.parametrize("buffer", ["empty", "nan-filled"])
def test_the_gemm_path_equals_the_tap_path(block, columns, buffer, monkeypatch):
    """Empty outputs, a batch of 0, groups, crops, strides and dilations included; tiny
    blocks split every tensor into many im2col blocks. Both column builders; a block
    buffer filled with NaN shows any element over padding left unzeroed."""
    from harness.numerics import oracle_gemm

    monkeypatch.setattr(oracle_gemm, "BLOCK", block)
    monkeypatch.setattr(oracle_gemm, "CLIP_CHANNELS", 1 if columns == "clipped" else 10**9)
    if buffer == "nan-filled":
        monkeypatch.setattr(oracle_gemm, "_empty", lambda size: np.full(size, np.nan))
    rng = np.random.default_rng(7)
    for x_shape, w_shape, geometry in _random_geometries(3, 150):
        x, w = rng.standard_normal(x_shape), rng.standard_normal(w_shape)
        y = oracle.conv_taps(x, w, **geometry)
        dy = rng.standard_normal(y.shape)
        pairs = [(y, oracle_gemm.conv(x, w, **geometry)),
                 (oracle.conv_dx_taps(dy, w, input_shape=x_shape, **geometry),
                  oracle_gemm.conv_dx(dy, w, input_shape=x_shape, **geometry)),
                 (oracle.conv_dw_taps(x, dy, filter_shape=w_shape, **geometry),
                  oracle_gemm.conv_dw(x, dy, filter_shape=w_shape, **geometry))]
        for simple, fast in pairs:
            assert simple.shape == fast.shape
            np.testing.assert_allclose(fast, simple, rtol=1e-12, atol=1e-12)


def test_product_counts_equal_the_oracle_on_ones():
    for x_shape, w_shape, geometry in _random_geometries(5, 150):
        ones_x, ones_w = np.ones(x_shape), np.ones(w_shape)
        y = oracle.conv_taps(ones_x, ones_w, **geometry)
        ones_dy = np.ones(y.shape)
        expected = {"y": y,
                    "dx": oracle.conv_dx_taps(ones_dy, ones_w, input_shape=x_shape, **geometry),
                    "dw": oracle.conv_dw_taps(ones_x, ones_dy, filter_shape=w_shape, **geometry)}
        for grad, value in expected.items():
            np.testing.assert_array_equal(oracle.terms(grad, x_shape, w_shape, **geometry),
                                          value)


def _stride_one_geometries(seed: int, count: int):
    """Random stride-1, one-group geometries (crops, dilations, 1-3 spatial dims)."""
    for x_shape, w_shape, geometry in _random_geometries(seed, 4 * count):
        geometry = dict(geometry, strides=[1] * (len(x_shape) - 2), groups=1)
        x_shape, w_shape = (x_shape[0] or 1, w_shape[1], *x_shape[2:]), w_shape
        if 0 in oracle.conv_forward_output_shape(x_shape, w_shape, **geometry):
            continue
        count -= 1
        yield x_shape, w_shape, geometry
        if not count:
            return


@pytest.mark.parametrize("block", [7, 1 << 19], ids=["tiny-blocks", "default-blocks"])
@pytest.mark.parametrize("columns", ["clipped", "padded"])
def test_dx_as_a_convolution_equals_the_tap_path(block, columns, monkeypatch):
    """Stride 1, one group: dx is dy correlated with the flipped, transposed kernel, with
    pads d * (k - 1) - before / - after (crops where negative)."""
    from harness.numerics import oracle_gemm

    monkeypatch.setattr(oracle_gemm, "BLOCK", block)
    monkeypatch.setattr(oracle_gemm, "CLIP_CHANNELS", 1 if columns == "clipped" else 10**9)
    rng = np.random.default_rng(11)
    seen = 0
    for x_shape, w_shape, geometry in _stride_one_geometries(13, 120):
        w = rng.standard_normal(w_shape)
        dy = rng.standard_normal(oracle.conv_forward_output_shape(x_shape, w_shape, **geometry))
        fast = oracle_gemm.conv_dx_as_conv(dy, w, input_shape=x_shape, pads=geometry["pads"],
                                           dilations=geometry["dilations"])
        np.testing.assert_allclose(fast, oracle.conv_dx_taps(dy, w, input_shape=x_shape,
                                                             **geometry), rtol=1e-12, atol=1e-12)
        seen += 1
    assert seen == 120


def test_dx_is_a_convolution_only_where_that_is_exact(monkeypatch):
    """Stride 1, one group, finite weights: as a convolution, dy's padding meets every
    weight, so an infinite weight would put NaN where the scatter has none."""
    from harness.numerics import oracle_gemm

    taken = []
    real = oracle_gemm.conv_dx_as_conv
    monkeypatch.setattr(oracle_gemm, "conv_dx_as_conv",
                        lambda *a, **k: taken.append(1) or real(*a, **k))
    rng = np.random.default_rng(3)
    x_shape, w_shape = (2, 16, 6, 6), (16, 16, 3, 3)
    same = dict(strides=[1, 1], pads=[(1, 1), (1, 1)], dilations=[1, 1], groups=1)
    w, dy = rng.standard_normal(w_shape), rng.standard_normal((2, 16, 6, 6))
    for strides, expected in (([1, 1], [1]), ([1, 2], [])):
        taken.clear()
        geometry = dict(same, strides=strides)
        dy_s = rng.standard_normal(oracle.conv_forward_output_shape(x_shape, w_shape, **geometry))
        oracle.conv_dx(dy_s, w, input_shape=x_shape, **geometry)
        assert taken == expected
    taken.clear()
    w[5, 1, 0, 2] = np.inf
    np.testing.assert_array_equal(oracle.conv_dx(dy, w, input_shape=x_shape, **same),
                                  oracle.conv_dx_taps(dy, w, input_shape=x_shape, **same))
    assert taken == []
