"""Layout strings (as in JAX dimension numbers) and the permutations between them.

Internally the oracle works channels-first: data ``N C *spatial`` and filter
``O I *spatial``. A case names its own layouts (``NHWC``, ``HWIO``, ...); these
helpers move arrays between the two without any framework.
"""
from __future__ import annotations

from typing import Sequence

import numpy as np

SPATIAL_LETTERS = {1: "W", 2: "HW", 3: "DHW"}


def spatial_rank(op: str) -> int:
    """``conv1d`` -> 1, ``conv2d`` -> 2, ``conv3d`` -> 3."""
    return {"conv1d": 1, "conv2d": 2, "conv3d": 3}[op]


def data_formats(rank: int) -> tuple[str, str]:
    """(channels-last, channels-first) data layouts for a spatial rank."""
    s = SPATIAL_LETTERS[rank]
    return f"N{s}C", f"NC{s}"


def filter_formats(rank: int) -> tuple[str, str]:
    """(spatial-first ``HWIO``, channels-first ``OIHW``) filter layouts."""
    s = SPATIAL_LETTERS[rank]
    return f"{s}IO", f"OI{s}"


def canonical_data(rank: int) -> str:
    return data_formats(rank)[1]


def canonical_filter(rank: int) -> str:
    return filter_formats(rank)[1]


def permutation(src: str, dst: str) -> tuple[int, ...]:
    """Axes such that ``np.transpose(a_in_src, perm)`` is laid out as ``dst``."""
    return tuple(src.index(letter) for letter in dst)


def convert(a: np.ndarray, src: str, dst: str) -> np.ndarray:
    """Transpose ``a`` from layout ``src`` to layout ``dst`` (a view, no copy)."""
    return np.transpose(a, permutation(src, dst))


def shape_in(shape: Sequence[int], src: str, dst: str) -> tuple[int, ...]:
    """``shape`` (laid out as ``src``) laid out as ``dst``."""
    return tuple(shape[i] for i in permutation(src, dst))


def spatial_dims(layout: str) -> tuple[int, ...]:
    """Positions of the spatial letters of a layout, in D, H, W order."""
    return tuple(i for i, letter in enumerate(layout) if letter in "DHW")
