"""Fuzzing the case loader: whatever a file holds, a clean refusal or valid cases, never a crash.

Property: ``load_cases`` either returns cases or raises ``LoadErrors`` whose
every message is one line starting ``path:line: ``; no other exception. A
case it returns must also be usable: its shapes resolve, its values
materialize and (when small) the oracle computes its gradients.

Four input strategies: (a) arbitrary bytes, (b) arbitrary YAML trees with
keys drawn from the real case keys plus random text, (c) valid cases with
some keys replaced by plausible-but-random values (reaches the geometry and
generator checks that (b) rarely gets past), (d) matrices built from (c).

Examples per test: ``CONVGRAD_FUZZ_EXAMPLES`` (default 300, about 15 s for
the file). CI sets ``CONVGRAD_FUZZ_EXAMPLES=2000``.
"""
from __future__ import annotations

import math
import os
import re
import tempfile
from pathlib import Path

import numpy as np
import pytest
import yaml
from hypothesis import HealthCheck, given, settings, strategies as st
from hypothesis.extra import numpy as hnp

from harness.case import values
from harness.verdict.expected import expected
from harness.case.loader import CASE_KEYS, MATRIX_KEYS, MAX_ELEMENTS, LoadErrors, load_cases

FUZZ = settings(max_examples=int(os.environ.get("CONVGRAD_FUZZ_EXAMPLES", "300")),
                deadline=None, suppress_health_check=[HealthCheck.too_slow])
SMALL = 4096  # materialize and run the oracle only on cases this small (elements, MACs / 16)

WORDS = ("conv1d", "conv2d", "conv3d", "conv4d", "VALID", "SAME", "SAME_LOWER", "same",
         "NHWC", "NCHW", "NWC", "NCW", "NDHWC", "NCDHW", "HWIO", "OIHW", "WIO", "OIW",
         "DHWIO", "OIDHW", "float64", "float32", "float16", "bfloat16", "float8", "y", "dx",
         "dw", "dz", "normal", "uniform", "integers", "2024-01-01", "a b", "m/x", "")
GENERATOR_KEYS = ("random", "seed", "scale", "low", "high", "range", "constant", "name")
EDGE_INTS = (0, -1, 1, 2, 3, 2 ** 31, 2 ** 53 + 1, 2 ** 63, -2 ** 63, 10 ** 30, MAX_ELEMENTS,
             MAX_ELEMENTS + 1)


# --- strategies ----------------------------------------------------------------------

scalars = st.one_of(
    st.none(), st.booleans(), st.integers(-3, 12), st.sampled_from(EDGE_INTS),
    st.integers(), st.floats(), st.sampled_from(WORDS), st.text(max_size=12))
keys = st.one_of(st.sampled_from(CASE_KEYS + MATRIX_KEYS + GENERATOR_KEYS + ("matrix",)),
                 st.text(max_size=10))
trees = st.recursive(
    scalars,
    lambda children: st.one_of(st.lists(children, max_size=6),
                               st.dictionaries(keys, children, max_size=8)),
    max_leaves=40)

small_ints = st.one_of(st.integers(-1, 6), st.sampled_from(EDGE_INTS))
int_lists = st.lists(small_ints, min_size=0, max_size=5)
nested_values = hnp.array_shapes(min_dims=1, max_dims=5, max_side=3).flatmap(
    lambda shape: hnp.arrays(np.int8, shape)).map(lambda a: a.tolist())
generators = st.dictionaries(st.sampled_from(GENERATOR_KEYS),
                             st.one_of(scalars, st.lists(small_ints, max_size=3)),
                             min_size=1, max_size=4)
chaos = st.one_of(scalars, int_lists, st.lists(st.lists(small_ints, max_size=3), max_size=4),
                  nested_values, generators, st.sampled_from(WORDS).map(lambda w: [w]))

# Values that are valid for their key on their own (combinations may still be refused).
sizes, spatial = st.integers(1, 3), st.lists(st.integers(1, 5), min_size=2, max_size=2)
channels = st.integers(0, 3)   # a batch or channel count of 0 is a legitimate (empty) case
valid_generators = st.one_of(
    st.fixed_dictionaries({"random": st.just("normal")},
                          optional={"seed": st.integers(0, 2 ** 70), "scale": st.floats(-4, 4)}),
    st.fixed_dictionaries({"random": st.just("uniform"), "low": st.floats(-9, 0),
                           "high": st.floats(0, 9)}),
    st.fixed_dictionaries({"random": st.just("integers"), "low": st.integers(-9, 0),
                           "high": st.integers(0, 9)}),
    st.builds(lambda v: {"range": v}, st.integers(-2 ** 53, 2 ** 53)),
    st.builds(lambda v: {"constant": v}, st.floats(-1e6, 1e6)))
VALID_VALUES = {
    "op": st.sampled_from(["conv2d", "conv2d", "conv1d", "conv3d"]),
    "grads": st.lists(st.sampled_from(["y", "dx", "dw"]), min_size=1, max_size=3, unique=True),
    "data_format": st.sampled_from(["NHWC", "NCHW"]),
    "filter_format": st.sampled_from(["HWIO", "OIHW"]),
    "padding": st.one_of(st.sampled_from(["VALID", "SAME", "SAME_LOWER"]),
                         st.lists(st.lists(st.integers(0, 3), min_size=2, max_size=2),
                                  min_size=2, max_size=2)),
    "strides": st.one_of(sizes, st.lists(sizes, min_size=2, max_size=2)),
    "dilations": st.one_of(sizes, st.lists(sizes, min_size=2, max_size=2)),
    "dtype": st.sampled_from(["float64", "float32", "float16", "bfloat16"]),
    "input_size": spatial, "kernel_size": spatial,
    "batch": channels, "in_channels": channels, "out_channels": channels,
    "x": valid_generators, "w": valid_generators, "dy": valid_generators,
    "description": st.text(max_size=20), "source": st.text(max_size=20),
}
plausible_items = st.sampled_from(sorted(VALID_VALUES)).flatmap(
    lambda k: st.tuples(st.just(k), st.one_of(VALID_VALUES[k], VALID_VALUES[k], chaos)))
chaos_items = st.tuples(st.sampled_from(CASE_KEYS), chaos)

VALID = {"id": "fuzz/base", "op": "conv2d", "grads": ["y", "dx", "dw"], "padding": "SAME",
         "strides": [2, 1], "input_size": [5, 4], "kernel_size": [3, 2], "batch": 2,
         "in_channels": 2, "out_channels": 3, "x": {"random": "normal", "seed": 1},
         "w": {"random": "integers", "low": -2, "high": 2}, "dy": {"range": 1}}
mutated_cases = st.tuples(
    st.lists(st.one_of(plausible_items, plausible_items, chaos_items), max_size=4),
    st.sets(st.sampled_from(list(VALID)), max_size=2),
).map(lambda t: {**{k: v for k, v in VALID.items() if k not in t[1]}, **dict(t[0])})
product_axes = st.one_of(
    st.sampled_from(sorted(VALID_VALUES)).flatmap(
        lambda k: st.tuples(st.just(k), st.lists(VALID_VALUES[k], min_size=1, max_size=3))),
    st.tuples(st.text(max_size=6), st.lists(st.builds(
        lambda name, items: {"name": name, **dict(items)}, st.text(max_size=4),
        st.lists(plausible_items, max_size=2)), min_size=1, max_size=2)),
    st.tuples(st.sampled_from(CASE_KEYS + ("",)), st.one_of(chaos, st.lists(chaos, max_size=2))))
matrices = st.tuples(mutated_cases, st.lists(product_axes, min_size=1, max_size=3)).map(
    lambda t: {"matrix": {"id": "fuzz/m", "base": {k: v for k, v in t[0].items() if k != "id"},
                          "product": dict(t[1])}})


# --- the property --------------------------------------------------------------------

def check_file(data: bytes) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "fuzz.yaml"
        path.write_bytes(data)
        try:
            cases = load_cases([path])
        except LoadErrors as exc:
            check_refusal(str(path), exc)
            return
        for case in cases:
            check_usable(case)


def check_refusal(path: str, exc: LoadErrors) -> None:
    assert exc.errors
    assert str(exc) == "\n".join(map(str, exc.errors))
    for error in exc.errors:
        assert re.match(rf"{re.escape(path)}:\d+: \S", str(error)), str(error)
        assert "\n" not in str(error), str(error)


def check_usable(case) -> None:
    """What the runner will do with a loaded case must work (on small cases)."""
    shapes = [case.shape_of(t) for t in ("x", "w", "dy")]
    assert all(math.prod(s) <= MAX_ELEMENTS for s in shapes)
    macs = math.prod(case.canonical_output_shape) * math.prod(case.canonical_filter_shape[1:])
    if max(map(math.prod, shapes)) <= SMALL and macs <= 16 * SMALL:
        inputs = values.materialize(case)
        assert [a.shape for a in (inputs.x, inputs.w, inputs.dy)] == shapes
        expected(case, inputs)


def dump(tree: object) -> bytes:
    return yaml.safe_dump(tree, allow_unicode=True, sort_keys=False).encode()


# --- the tests -----------------------------------------------------------------------

@FUZZ
@given(st.binary(max_size=2000))
def test_arbitrary_bytes(data):
    check_file(data)


@FUZZ
@given(trees)
def test_arbitrary_yaml_trees(tree):
    check_file(dump(tree))


@FUZZ
@given(st.one_of(mutated_cases, st.lists(mutated_cases, min_size=1, max_size=3)))
def test_mutated_valid_cases(tree):
    check_file(dump(tree))


@FUZZ
@given(matrices)
def test_mutated_matrices(tree):
    check_file(dump(tree))


def test_the_unmutated_base_case_loads():
    (case,) = load_cases_from(VALID)
    assert case.input_shape == (2, 5, 4, 2) and case.filter_shape == (3, 2, 2, 3)


def load_cases_from(tree: object):
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "case.yaml"
        path.write_bytes(dump(tree))
        return load_cases([path])


@pytest.mark.parametrize("tree", [
    {"matrix": {"id": "m", "product": {"padding": [[1, 2], "VALID"]}}},
    {"id": "g", "op": "conv1d", "x": {"random": [1]}},
    {"id": "s", "op": "conv1d", "grads": ["y"], "input_size": [4], "kernel_size": [2],
     "x": {"random": "normal", "seed": -1}, "w": {"constant": 10 ** 400}},
    {"id": "u", "op": "conv1d", "grads": ["y"], "input_size": [4], "kernel_size": [2],
     "x": {"random": "uniform", "low": -1e308, "high": 1e308}, "w": {"constant": 1}},
    {"id": "i", "op": "conv1d", "grads": ["y"], "input_size": [4], "kernel_size": [2],
     "x": {"random": "integers", "low": 0, "high": 2 ** 64}, "w": {"constant": 1}},
    {"id": "r", "op": "conv1d", "grads": ["y"], "input_size": [4], "kernel_size": [2],
     "x": {"range": 10 ** 400}, "w": {"constant": 1}},
    {"id": "e", "op": "conv1d", "grads": ["y"], "x": [[[10 ** 400]]], "w": [[[1]]]},
    {"id": "k\nl", "op": "conv1d", "strides": 0},
])
def test_inputs_that_once_crashed(tree):
    """Each raised TypeError, AttributeError, ValueError or OverflowError before the fixes."""
    check_file(dump(tree))
