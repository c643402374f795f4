"""Generated tensor values: the schema of a generator spec, its checks, and its values.

A case gives ``x``, ``w`` or ``dy`` as a nested list, or as a generator that
is reproducible from the file alone (docs/cases.md):

* ``{random: normal, seed: S, scale: K}``: standard normal times ``K``;
* ``{random: uniform, seed: S, low: A, high: B}``: uniform on ``[A, B)``;
* ``{random: integers, seed: S, low: A, high: B}``: integers in ``[A, B]``;
* ``{range: START}`` or ``{range: [START, STOP]}``: ``START, START+1, ...`` in
  row-major order;
* ``{constant: V}``: ``V`` everywhere.

Without ``seed``, the seed is derived from the case id and the tensor name
(:func:`default_seed`), stable across runs, machines and Python versions.
This module is the one place that knows these forms: the loader calls
:func:`check`, :mod:`harness.case.values` calls :func:`generate`.
"""
from __future__ import annotations

import hashlib
import math
from typing import Iterator, Mapping

import numpy as np

from harness.case import fields

PARAMS = {
    "normal": ("seed", "scale"),
    "uniform": ("seed", "low", "high"),
    "integers": ("seed", "low", "high"),
}
MAX_EXACT_INT = 2 ** 53         # generator integers stay exact in float64


class GeneratorError(ValueError):
    """A generator spec that is not valid; ``field`` names the key (``w.seed``)."""

    def __init__(self, field: str, message: str):
        super().__init__(f"{field}: {message}")
        self.field, self.message = field, message


def check(name: str, spec: Mapping) -> None:
    """Refuse a generator spec of tensor ``name`` that is not one of the documented forms
    (:class:`GeneratorError` naming the field)."""
    kinds = [k for k in ("random", "range", "constant") if k in spec]
    if len(kinds) != 1:
        raise GeneratorError(name, "a generator has exactly one of 'random', 'range', 'constant'; "
                              f"got keys {', '.join(spec) or 'none'}")
    kind = kinds[0]
    allowed = (kind,)
    if kind == "random":
        dist = spec["random"]
        if not isinstance(dist, str) or dist not in PARAMS:
            raise GeneratorError(f"{name}.random", f"{fields.show(dist)} is not one of "
                                              f"{', '.join(PARAMS)}")
        allowed += PARAMS[dist]
    for key in spec:
        if key not in allowed:
            raise GeneratorError(f"{name}.{key}", f"not a parameter of {{{kind}: "
                                             f"{fields.compact(spec[kind])}}}; allowed: "
                                             f"{', '.join(allowed)}")
    {"random": _check_random, "range": _check_range,
     "constant": _check_constant}[kind](name, spec)


def _check_random(name: str, spec: Mapping) -> None:
    seed = spec.get("seed", 0)
    if not fields.is_int(seed) or seed < 0:
        raise GeneratorError(f"{name}.seed", f"expected an integer >= 0, got {fields.show(seed)}")
    if "scale" in spec and not fields.is_finite(spec["scale"]):
        raise GeneratorError(f"{name}.scale", f"expected a finite number, got {fields.show(spec['scale'])}")
    if spec["random"] == "integers":
        _check_integer_bounds(name, spec)
    if spec["random"] == "uniform":
        for key in ("low", "high"):
            if key in spec and not fields.is_finite(spec[key]):
                raise GeneratorError(f"{name}.{key}", f"expected a finite number, got "
                                                 f"{fields.show(spec[key])}")
        low, high = spec.get("low", -1.0), spec.get("high", 1.0)
        if low > high or not math.isfinite(high - low):
            raise GeneratorError(name, f"expected low <= high with a finite difference, got "
                                  f"low={fields.show(low)}, high={fields.show(high)}")


def _check_integer_bounds(name: str, spec: Mapping) -> None:
    if not ("low" in spec and "high" in spec):
        raise GeneratorError(name, "random: integers needs 'low' and 'high' (both inclusive), "
                              "e.g. {random: integers, low: -4, high: 4}")
    for key in ("low", "high"):
        if not fields.is_int(spec[key]) or abs(spec[key]) > MAX_EXACT_INT:
            raise GeneratorError(f"{name}.{key}", f"expected an integer within +-2**53, got "
                                             f"{fields.show(spec[key])}")
    if spec["low"] > spec["high"]:
        raise GeneratorError(name, f"low={spec['low']} is above high={spec['high']}")


def _check_range(name: str, spec: Mapping) -> None:
    r = spec["range"]
    if not (fields.is_int(r) or (isinstance(r, list) and len(r) == 2 and all(map(fields.is_int, r)))):
        raise GeneratorError(f"{name}.range", f"expected a start or [start, stop] integers, "
                                         f"got {fields.show(r)}")
    ends = [r] if fields.is_int(r) else r
    if any(abs(e) > MAX_EXACT_INT for e in ends):
        raise GeneratorError(f"{name}.range", f"values must stay within +-2**53, got {fields.show(r)}")
    if ends[-1] < ends[0]:
        raise GeneratorError(f"{name}.range", f"stop {ends[1]} is below start {ends[0]}")


def _check_constant(name: str, spec: Mapping) -> None:
    if not fields.is_float64(spec["constant"]):
        raise GeneratorError(f"{name}.constant", f"expected a number, got {fields.show(spec['constant'])}")


def check_range_length(name: str, spec, shape: tuple[int, ...]) -> None:
    """A ``{range: [start, stop]}`` must hold exactly as many values as the tensor."""
    if isinstance(spec, dict) and isinstance(spec.get("range"), list):
        start, stop = spec["range"]
        if stop - start + 1 != math.prod(shape):
            raise GeneratorError(f"{name}.range", f"[{start}, {stop}] holds {stop - start + 1} "
                                             f"values; shape {list(shape)} needs "
                                             f"{math.prod(shape)}")


def largest_magnitude(spec, shape: tuple[int, ...]) -> float | None:
    """The largest finite ``|value|`` a value spec can produce; None when unbounded or absent."""
    if isinstance(spec, list):
        finite = [abs(float(v)) for v in _flatten(spec) if math.isfinite(v)]
        return max(finite, default=None)
    if not isinstance(spec, dict) or spec.get("random") == "normal":
        return None
    if "constant" in spec:
        return abs(float(spec["constant"])) if math.isfinite(spec["constant"]) else None
    if "range" in spec:
        start = spec["range"] if fields.is_int(spec["range"]) else spec["range"][0]
        return float(max(abs(start), abs(start + math.prod(shape) - 1)))
    return float(max(abs(spec.get("low", -1.0)), abs(spec.get("high", 1.0))))


def _flatten(values) -> Iterator[float]:
    for v in values:
        if isinstance(v, list):
            yield from _flatten(v)
        else:
            yield v




def default_seed(case_id: str, tensor: str) -> int:
    """A seed derived from the case id, stable across runs, machines and Python versions."""
    digest = hashlib.sha256(f"{case_id}:{tensor}".encode()).digest()
    return int.from_bytes(digest[:4], "little")


def generate(spec: Mapping, shape: tuple[int, ...], case_id: str, tensor: str) -> np.ndarray:
    """Values of one (checked) generator spec, float64, of ``shape``."""
    if "constant" in spec:
        return np.full(shape, float(spec["constant"]))
    if "range" in spec:
        start = spec["range"] if isinstance(spec["range"], int) else spec["range"][0]
        return np.arange(start, start + math.prod(shape), dtype=np.float64).reshape(shape)
    rng = np.random.default_rng(spec.get("seed", default_seed(case_id, tensor)))
    kind = spec["random"]
    if kind == "normal":
        return rng.standard_normal(shape) * float(spec.get("scale", 1.0))
    if kind == "uniform":
        return rng.uniform(spec.get("low", -1.0), spec.get("high", 1.0), shape)
    return rng.integers(spec["low"], spec["high"], shape, endpoint=True).astype(np.float64)
