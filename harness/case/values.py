"""Materialize a case's tensors: explicit values or reproducible generators.

Everything comes back as float64 already rounded to the case dtype, laid out
as the case says, so the oracle and every implementation see the very same
numbers and only the arithmetic is judged.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Optional

import numpy as np

from harness.numerics import dtypes
from harness.case import generators, ops
from harness.case.model import Case


@dataclass(frozen=True)
class Inputs:
    """``x``, ``w``, ``dy`` of a case (case layouts, float64, rounded to the case dtype), and
    the tangents ``tx``, ``tw`` and cotangents ``gx``, ``gw`` its second-order grads need
    (None where none of its grads does)."""

    x: np.ndarray
    w: np.ndarray
    dy: np.ndarray
    tx: Optional[np.ndarray] = None
    tw: Optional[np.ndarray] = None
    gx: Optional[np.ndarray] = None
    gw: Optional[np.ndarray] = None

    def get(self, name: str) -> np.ndarray:
        """A tensor by name; a tangent the case does not have is zeros of its shape."""
        value = getattr(self, name)
        if value is None:
            value = np.zeros_like(getattr(self, ops.base_tensor(name)))
        return value


def tensor(case: Case, name: str) -> np.ndarray:
    """One of ``x``, ``w``, ``dy``; zeros where the case leaves it out (its grads don't use it)."""
    spec, shape = getattr(case, name), case.shape_of(name)
    if spec is None:
        values = np.zeros(shape)
    elif isinstance(spec, dict):
        values = generators.generate(spec, shape, case.id, name)
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
    needed = {t for g in case.grads for t in ops.tensors_needed(g)}
    extra = {name: tensor(case, name) for name in ops.TENSORS[3:]
             if name in needed or getattr(case, name) is not None}
    return Inputs(x=tensor(case, "x"), w=tensor(case, "w"), dy=tensor(case, "dy"), **extra)
