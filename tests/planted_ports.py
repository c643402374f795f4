"""Planted porting mistakes, one per entry of harness.verdict.diagnosis.CATALOG, written
independently of it: NumPy impls that compute through the oracle with the mistake."""
from __future__ import annotations

import dataclasses

import numpy as np

from harness.numerics import dtypes, layouts
from harness.case import ops
from harness.backend.adapters.base import Outcome, failed


class Port:
    framework = "numpy"
    name = "port.correct"
    ops = frozenset(ops.OPS)

    def geometry(self, case):
        return case

    def tensors(self, case, inputs):
        return tuple(ops.to_canonical(case, n, getattr(inputs, n)) for n in ("x", "w", "dy"))

    def back(self, case, grad, a):
        return ops.from_canonical(case, grad, a)

    def version(self):
        return np.__version__

    def compute(self, case, inputs, grads):
        x, w, dy = self.tensors(case, inputs)
        wrong = self.geometry(case)
        out = {}
        for g in grads:   # each on its own, as the real adapters do
            try:
                value = dtypes.round_to(ops.evaluate(wrong, g, x, w, dy), case.dtype)
                out[g] = Outcome(values=self.back(case, g, value), dtype=case.dtype,
                                 padding="planted")
            except ValueError as exc:   # the shapes the mistake makes inconsistent
                out[g] = failed([g], exc)[g]
        return out


def _explicit(case, pads):
    return dataclasses.replace(case, padding=tuple(tuple(p) for p in pads))


class SymmetricPadding(Port):
    mistake, name = "symmetric-padding", "port.symmetric_padding"

    def geometry(self, case):   # the classic: padding=k//2 in torch
        return _explicit(case, [(k // 2, k // 2) for k in case.canonical_filter_shape[2:]])


class PadSideSwapped(Port):
    mistake, name = "pad-side-swapped", "port.pad_side_swapped"

    def geometry(self, case):
        return _explicit(case, [(a, b) for b, a in case.pads])


class KernelFlipped(Port):
    mistake, name = "kernel-flipped", "port.kernel_flipped"

    def tensors(self, case, inputs):
        x, w, dy = super().tensors(case, inputs)
        return x, np.flip(w, axis=tuple(range(2, w.ndim))), dy

    def back(self, case, grad, a):
        if grad == "dw":
            a = np.flip(a, axis=tuple(range(2, a.ndim)))
        return super().back(case, grad, a)


class StridesSwapped(Port):
    mistake, name = "strides-swapped", "port.strides_swapped"

    def geometry(self, case):
        return dataclasses.replace(case, strides=tuple(reversed(case.strides)))


class DilationIgnored(Port):
    mistake, name = "dilation-ignored", "port.dilation_ignored"

    def geometry(self, case):
        return dataclasses.replace(case, dilations=(1,) * case.rank)


class LayoutReshaped(Port):
    mistake, name = "layout-reshaped", "port.layout_reshaped"

    def tensors(self, case, inputs):
        _, w, _ = super().tensors(case, inputs)
        to = layouts.canonical_data(case.rank)
        return (inputs.x.reshape(layouts.shape_in(inputs.x.shape, case.data_format, to)), w,
                inputs.dy.reshape(layouts.shape_in(inputs.dy.shape, case.data_format, to)))

    def back(self, case, grad, a):
        return super().back(case, grad, a) if grad == "dw" else a.reshape(case.shape_of(grad))


class FilterMisread(Port):
    mistake, name = "filter-layout-misread", "port.filter_misread"

    def tensors(self, case, inputs):
        x, w, dy = super().tensors(case, inputs)
        return x, inputs.w.reshape(w.shape), dy

    def back(self, case, grad, a):
        return a.reshape(case.filter_shape) if grad == "dw" else super().back(case, grad, a)


class OutputPaddingMisplaced(Port):
    mistake, name = "output-padding-misplaced", "port.output_padding_misplaced"

    def geometry(self, case):
        return _explicit(case, [(b - p, a + p) for (b, a), p in
                                zip(case.pads, case.output_padding or (0,) * case.rank)])


class PadAxesReversed(Port):
    mistake, name = "pad-axes-reversed", "port.pad_axes_reversed"

    def geometry(self, case):   # F.pad(x, (top, bottom, left, right)): W gets H's pads
        return _explicit(case, list(reversed(case.pads)))


class PadIgnoresStride(Port):
    mistake, name = "pad-ignores-stride", "port.pad_ignores_stride"

    def geometry(self, case):   # SAME's total as if the stride were 1: d * (k - 1)
        if case.padding not in ("SAME", "SAME_LOWER"):
            return case
        totals = [(k - 1) * d for k, d in zip(case.canonical_filter_shape[2:], case.dilations)]
        halves = [(t // 2, t - t // 2) for t in totals]
        return _explicit(case, halves if case.padding == "SAME" else
                         [(a, b) for b, a in halves])


class NoPadding(Port):
    mistake, name = "no-padding", "port.no_padding"

    def geometry(self, case):
        return case if case.kind == "conv_transpose" else _explicit(case, [(0, 0)] * case.rank)


class StrideOneAxis(Port):
    mistake, name = "stride-one-axis", "port.stride_one_axis"

    def geometry(self, case):   # stride=case.strides[0] passed as an int
        return dataclasses.replace(case, strides=(case.strides[0],) * case.rank)


class DilationSwapped(Port):
    mistake, name = "dilation-swapped", "port.dilation_swapped"

    def geometry(self, case):
        return dataclasses.replace(case, dilations=tuple(reversed(case.dilations)))


PORTS = (SymmetricPadding, PadSideSwapped, KernelFlipped, StridesSwapped, DilationIgnored,
         LayoutReshaped, FilterMisread, OutputPaddingMisplaced, PadAxesReversed,
         PadIgnoresStride, NoPadding, StrideOneAxis, DilationSwapped)
