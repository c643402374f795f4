"""Planted-bug implementations: each makes one classic conv-gradient mistake.

They are built from the oracle with one thing wrong, computed in the case's
dtype, so a harness that cannot tell them from the real thing is broken.
``Correct`` makes no mistake and must pass everything (no false alarm).
"""
from __future__ import annotations

import numpy as np

from harness import dtypes, layouts, oracle
from harness.adapters.base import Outcome, failed
from harness.case import Case
from harness.values import Inputs


class Planted:
    framework = "numpy"
    name = "planted.correct"

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
                        dilations=self.dilations(case))
        results = {
            "y": lambda: oracle.conv(x, w, **geometry),
            "dx": lambda: oracle.conv_dx(dy, self.dx_kernel(w),
                                         input_shape=case.canonical_input_shape, **geometry),
            "dw": lambda: oracle.conv_dw(x, dy, filter_shape=case.canonical_filter_shape,
                                         **geometry),
        }
        out = {}
        for g in grads:
            value = dtypes.round_to(results[g](), case.dtype)
            back = (filt, case.filter_format) if g == "dw" else (data, case.data_format)
            out[g] = Outcome(values=layouts.convert(value, *back), dtype=case.dtype,
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


BUGS = (PadBeforeInsteadOfAfter, KernelNotFlipped, DilationIgnored, StrideOffByOne,
        ChannelsTransposed)
