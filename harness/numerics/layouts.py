"""Layout strings (as in JAX dimension numbers) and the permutations between them.

Internally the oracle works channels-first: data ``N C *spatial`` and filter
``O I *spatial``. A case names its own layouts (``NHWC``, ``HWIO``, ...); these
helpers move arrays between the two without any framework.
"""
from __future__ import annotations

import itertools
from typing import Sequence

import numpy as np

SPATIAL_LETTERS = {1: "W", 2: "HW", 3: "DHW"}


def data_formats(rank: int) -> tuple[str, str]:
    """(channels-last, channels-first) data layouts for a spatial rank."""
    s = SPATIAL_LETTERS[rank]
    return f"N{s}C", f"NC{s}"


def filter_formats(rank: int) -> tuple[str, str]:
    """(spatial-first ``HWIO``, channels-first ``OIHW``) filter layouts."""
    s = SPATIAL_LETTERS[rank]
    return f"{s}IO", f"OI{s}"


def depthwise_formats(rank: int) -> tuple[str, str]:
    """(TensorFlow's ``HWCM``, channels-first ``CMHW``) depthwise filter layouts."""
    s = SPATIAL_LETTERS[rank]
    return f"{s}CM", f"CM{s}"


def depthwise_canonical(rank: int) -> str:
    return depthwise_formats(rank)[1]


def filter_layouts(rank: int, letters: str = "OI") -> tuple[str, ...]:
    """Every filter layout of a rank: any order of the two channel letters and the
    spatial letters kept in D, H, W order (HWIO, OIHW, OHWI, IOHW, HWOI, ...)."""
    spatial = SPATIAL_LETTERS[rank]
    out = []
    for a, b in (letters, letters[::-1]):
        for i, j in itertools.combinations(range(rank + 2), 2):
            rest = iter(spatial)
            out.append("".join(a if k == i else b if k == j else next(rest)
                               for k in range(rank + 2)))
    return tuple(out)


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
