"""Materialize a case's tensors: explicit values or reproducible generators.

Everything comes back as float64 already rounded to the case dtype, laid out
as the case says, so the oracle and every implementation see the very same
numbers and only the arithmetic is judged.
"""
from __future__ import annotations

import hashlib
import math
from dataclasses import dataclass

import numpy as np

from harness import dtypes
from harness.case import Case


@dataclass(frozen=True)
class Inputs:
    """``x``, ``w``, ``dy`` of a case (case layouts, float64, rounded to the case dtype)."""

    x: np.ndarray
    w: np.ndarray
    dy: np.ndarray


def default_seed(case_id: str, tensor: str) -> int:
    """A seed derived from the case id, stable across runs, machines and Python versions."""
    digest = hashlib.sha256(f"{case_id}:{tensor}".encode()).digest()
    return int.from_bytes(digest[:4], "little")


def generate(spec: dict, shape: tuple[int, ...], case_id: str, tensor: str) -> np.ndarray:
    """Values of one generator spec (see docs/cases.md), float64."""
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


def tensor(case: Case, name: str) -> np.ndarray:
    """One of ``x``, ``w``, ``dy``; zeros where the case leaves it out (its grads don't use it)."""
    spec, shape = getattr(case, name), case.shape_of(name)
    if spec is None:
        values = np.zeros(shape)
    elif isinstance(spec, dict):
        values = generate(spec, shape, case.id, name)
    else:
        values = as_array(spec, shape)
    return dtypes.round_to(values, case.dtype)


def as_array(values: list, shape: tuple[int, ...]) -> np.ndarray:
    """Explicit nested-list values as float64 of ``shape``.

    Nested lists cannot spell the dimensions inside an empty list (``[[]]`` is
    all there is of a ``(1, 0, 0, 1)`` tensor): empty values take ``shape`` whole.
    """
    array = np.asarray(values, dtype=np.float64)
    return array.reshape(shape) if array.size == 0 and math.prod(shape) == 0 else array


def materialize(case: Case) -> Inputs:
    return Inputs(x=tensor(case, "x"), w=tensor(case, "w"), dy=tensor(case, "dy"))
