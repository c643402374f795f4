"""Planted-bug implementations: each makes one classic conv-gradient mistake.

They are built from the oracle with one thing wrong, computed in the case's
dtype, so a harness that cannot tell them from the real thing is broken.
``Correct`` makes no mistake and must pass everything (no false alarm).
"""
from __future__ import annotations

import itertools

import numpy as np

from harness.numerics import dtypes, layouts, oracle
from harness.backend.adapters.base import LEGACY_OPS, Outcome, failed
from harness.case.model import Case
from harness.case.values import Inputs


class Planted:
    framework = "numpy"
    name = "planted.correct"
    ops = LEGACY_OPS   # plain (grouped) convolutions; tests/planted_ops.py has the others

    def version(self) -> str:
        return np.__version__

    # Hooks a bug overrides; the defaults are right.
    def pads(self, case: Case):
        return case.pads

    def strides(self, case: Case):
        return case.strides

    def dilations(self, case: Case):
        return case.dilations

    def to_canonical(self, a: np.ndarray, src: str, dst: str) -> np.ndarray:
        return layouts.convert(a, src, dst)

    def dx_kernel(self, w: np.ndarray) -> np.ndarray:
        return w

    def dw_inputs(self, x: np.ndarray, dy: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        return x, dy

    def from_canonical(self, a: np.ndarray, src: str, dst: str, grad: str) -> np.ndarray:
        return layouts.convert(a, src, dst)

    def round(self, value: np.ndarray, case: Case) -> np.ndarray:
        """The one rounding of the result to the case dtype."""
        return dtypes.round_to(value, case.dtype)

    # The arithmetic (channels-first, exact in float64 before ``round``).
    def conv(self, x, w, geometry):
        return oracle.conv(x, w, **geometry)

    def conv_dx(self, dy, w, input_shape, geometry):
        return oracle.conv_dx(dy, w, input_shape=input_shape, **geometry)

    def conv_dw(self, x, dy, filter_shape, geometry):
        return oracle.conv_dw(x, dy, filter_shape=filter_shape, **geometry)

    def compute(self, case: Case, inputs: Inputs, grads) -> dict[str, Outcome]:
        try:
            return self._compute(case, inputs, grads)
        except ValueError as exc:  # the oracle refuses shapes a bug made inconsistent
            return failed(grads, exc)

    def _compute(self, case: Case, inputs: Inputs, grads) -> dict[str, Outcome]:
        data, filt = layouts.canonical_data(case.rank), layouts.canonical_filter(case.rank)
        x = self.to_canonical(inputs.x, case.data_format, data)
        w = self.to_canonical(inputs.w, case.filter_format, filt)
        dy = self.to_canonical(inputs.dy, case.data_format, data)
        geometry = dict(strides=self.strides(case), pads=self.pads(case),
                        dilations=self.dilations(case), groups=case.groups)
        results = {
            "y": lambda: self.conv(x, w, geometry),
            "dx": lambda: self.conv_dx(dy, self.dx_kernel(w), case.canonical_input_shape,
                                       geometry),
            "dw": lambda: self.conv_dw(*self.dw_inputs(x, dy), case.canonical_filter_shape,
                                       geometry),
        }
        out = {}
        for g in grads:
            value = self.round(results[g](), case)
            back = (filt, case.filter_format) if g == "dw" else (data, case.data_format)
            out[g] = Outcome(values=self.from_canonical(value, *back, g), dtype=case.dtype,
                             padding="planted")
        return out


class PadBeforeInsteadOfAfter(Planted):
    """The odd SAME pad on the wrong side (SAME treated as SAME_LOWER and vice versa)."""
    name = "planted.pad_before"

    def pads(self, case):
        return [(after, before) for before, after in case.pads]


class KernelNotFlipped(Planted):
    """dx as a correlation of dy with w, forgetting the kernel flip of the transpose."""
    name = "planted.kernel_not_flipped"

    def dx_kernel(self, w):
        return w[(slice(None), slice(None)) + (slice(None, None, -1),) * (w.ndim - 2)]


class DilationIgnored(Planted):
    name = "planted.dilation_ignored"

    def dilations(self, case):
        return (1,) * case.rank


class StrideOffByOne(Planted):
    name = "planted.stride_off_by_one"

    def strides(self, case):
        return tuple(s + 1 if s > 1 else s for s in case.strides)


class ChannelsTransposed(Planted):
    """Layout change by reshape instead of transpose: channels and space scrambled."""
    name = "planted.channels_transposed"

    def to_canonical(self, a, src, dst):
        return np.reshape(a, layouts.shape_in(a.shape, src, dst))


class DxLayoutByReshape(Planted):
    """dx computed right, then put back in the case's layout by reshape, not transpose."""
    name = "planted.dx_reshaped"

    def from_canonical(self, a, src, dst, grad):
        if grad != "dx":
            return layouts.convert(a, src, dst)
        return np.reshape(a, layouts.shape_in(a.shape, src, dst))


class DwFromFirstBatchItem(Planted):
    """dw summed over batch item 0 only, as if the batch had one element."""
    name = "planted.dw_first_item"

    def dw_inputs(self, x, dy):
        return x[:1], dy[:1]


class Unrounded(Planted):
    """Right arithmetic, but returns the float64 result without rounding it to the case
    dtype: a finite 66000 where float16's correctly rounded result is inf."""
    name = "planted.unrounded"

    def round(self, value, case):
        return value


class AccumulateInStorage(Planted):
    """Right formula, computed in the case dtype alone: every product and the running sum
    rounded to the case dtype after every addition (no wider accumulator).

    Each gradient is linear in each input, so it splits into pieces of one product
    per element: the oracle on one channel and one kernel tap (y, dx) or one batch
    item and output position (dw). They are added one after another.
    """
    name = "planted.accumulate_in_storage"

    def round(self, value, case):
        return value  # already rounded as it was accumulated

    def _sum(self, pieces, dtype):
        acc = None
        for piece in pieces:
            piece = dtypes.round_to(piece, dtype)            # the product, rounded
            acc = piece if acc is None else dtypes.round_to(acc + piece, dtype)
        return acc

    def compute(self, case, inputs, grads):
        self.dtype = case.dtype
        return super().compute(case, inputs, grads)

    def conv(self, x, w, geometry):
        return self._sum((oracle.conv(x[:, c:c + 1], _one(w[:, c:c + 1], tap), **geometry)
                          for c in range(w.shape[1]) for tap in _taps(w.shape[2:])), self.dtype)

    def conv_dx(self, dy, w, input_shape, geometry):
        return self._sum((oracle.conv_dx(dy[:, o:o + 1], _one(w[o:o + 1], tap),
                                         input_shape=input_shape, **geometry)
                          for o in range(w.shape[0]) for tap in _taps(w.shape[2:])), self.dtype)

    def conv_dw(self, x, dy, filter_shape, geometry):
        return self._sum((oracle.conv_dw(x[n:n + 1], _one(dy[n:n + 1], q),
                                         filter_shape=filter_shape, **geometry)
                          for n in range(dy.shape[0]) for q in _taps(dy.shape[2:])), self.dtype)


def _taps(shape):
    """Every spatial index of ``shape``."""
    return itertools.product(*(range(k) for k in shape))


def _one(a, spatial):
    """``a`` with every spatial position but ``spatial`` zeroed (all channels kept)."""
    out = np.zeros_like(a)
    index = (slice(None), slice(None)) + tuple(spatial)
    out[index] = a[index]
    return out


BUGS = (PadBeforeInsteadOfAfter, KernelNotFlipped, DilationIgnored, StrideOffByOne,
        ChannelsTransposed)
