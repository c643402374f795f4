"""What the answer is for a case: oracle values and their error bounds, in the case's layouts.

The oracle works channels-first; this module moves the case's tensors there
and back, and evaluates each gradient three times: on the values (the exact
answer), on absolute values (``M``) and on ones (``n``, the number of products
summed into each element), which :func:`harness.compare.bound` combines.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from harness import compare, layouts, oracle
from harness.case import Case
from harness.values import Inputs


@dataclass(frozen=True)
class Expected:
    """Oracle values and bounds of one gradient, laid out as the case says."""

    values: np.ndarray
    bound: np.ndarray


def _evaluate(case: Case, grad: str, x: np.ndarray, w: np.ndarray, dy: np.ndarray) -> np.ndarray:
    """One oracle gradient, inputs and result channels-first."""
    geometry = dict(strides=case.strides, pads=case.pads, dilations=case.dilations)
    if grad == "y":
        return oracle.conv(x, w, **geometry)
    if grad == "dx":
        return oracle.conv_dx(dy, w, input_shape=case.canonical_input_shape, **geometry)
    return oracle.conv_dw(x, dy, filter_shape=case.canonical_filter_shape, **geometry)


def expected(case: Case, inputs: Inputs) -> dict[str, Expected]:
    """Oracle values and per-element bounds for every grad of the case."""
    data, filt = layouts.canonical_data(case.rank), layouts.canonical_filter(case.rank)
    x = layouts.convert(inputs.x, case.data_format, data)
    w = layouts.convert(inputs.w, case.filter_format, filt)
    dy = layouts.convert(inputs.dy, case.data_format, data)
    result = {}
    for grad in case.grads:
        exact = _evaluate(case, grad, x, w, dy)
        with np.errstate(invalid="ignore", over="ignore"):
            magnitude = _evaluate(case, grad, np.abs(x), np.abs(w), np.abs(dy))
        terms = _evaluate(case, grad, np.ones_like(x), np.ones_like(w), np.ones_like(dy))
        back = case.filter_format if grad == "dw" else case.data_format
        source = filt if grad == "dw" else data
        limit = compare.bound(exact, magnitude, terms, case.dtype)
        result[grad] = Expected(values=layouts.convert(exact, source, back),
                                bound=layouts.convert(limit, source, back))
    return result
