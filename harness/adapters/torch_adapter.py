"""PyTorch: ``torch.nn.grad.conv{1,2,3}d_input/_weight`` and autograd of ``F.conv{1,2,3}d``.

Torch is channels-first only: arrays are transposed to ``NC...`` / ``OI...`` at
this boundary and back. Padding: torch's ``padding='same'`` exists only for
stride 1, and integer padding is symmetric, so an asymmetric case (SAME with a
stride, SAME_LOWER, explicit unequal pairs) is emulated with ``F.pad`` and
``padding=0`` (and for ``torch.nn.grad``, by cropping the padded ``dx``).
"""
from __future__ import annotations

import warnings
from typing import Sequence

import numpy as np

from harness import layouts
from harness.adapters.base import Outcome, each_grad, once
from harness.case import Case
from harness.values import Inputs

# Exceptions by which torch refuses a configuration (anything else is an error).
REFUSALS = (RuntimeError, NotImplementedError, ValueError)


def _torch():
    import torch
    return torch


def _to_torch(a: np.ndarray, src: str, dst: str, dtype: str):
    torch = _torch()
    array = np.ascontiguousarray(layouts.convert(a, src, dst))
    return torch.from_numpy(array).to(getattr(torch, dtype))


def _to_numpy(t, src: str, dst: str) -> Outcome:
    torch = _torch()
    dtype = str(t.dtype).removeprefix("torch.")
    t = t.detach()
    if t.dtype == torch.bfloat16:  # NumPy has no bfloat16; float32 holds it exactly
        t = t.to(torch.float32)
    return Outcome(values=layouts.convert(t.numpy(), src, dst), dtype=dtype)


def _torch_pad_tuple(pads: Sequence[tuple[int, int]]) -> tuple[int, ...]:
    """``F.pad`` order: last spatial dim first, (before, after) each."""
    return tuple(p for pair in reversed(pads) for p in pair)


class _TorchImpl:
    framework = "torch"

    def version(self) -> str:
        return _torch().__version__

    def compute(self, case: Case, inputs: Inputs, grads: Sequence[str]) -> dict[str, Outcome]:
        rank = case.rank
        data, filt = layouts.canonical_data(rank), layouts.canonical_filter(rank)
        padding, emulated, recipe = self.padding(case)
        tensors = once(lambda: (_to_torch(inputs.x, case.data_format, data, case.dtype),
                                _to_torch(inputs.w, case.filter_format, filt, case.dtype),
                                _to_torch(inputs.dy, case.data_format, data, case.dtype)))
        thunks = self.thunks(case, tensors, padding, emulated)
        layout = {"y": (data, case.data_format), "dx": (data, case.data_format),
                  "dw": (filt, case.filter_format)}
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            outcomes = each_grad(grads, thunks, lambda g, t: _to_numpy(t, *layout[g]),
                                 REFUSALS, recipe, emulated)
        notes = sorted({f"torch warned: {w.message}" for w in caught})
        for outcome in outcomes.values():
            outcome.notes = notes
        return outcomes


class TorchAutograd(_TorchImpl):
    name = "torch.autograd"

    def padding(self, case: Case):
        """(padding argument, emulated, recipe) for ``F.conv*d``."""
        pads = case.pads
        if case.padding == "VALID":
            return "valid", False, "padding='valid'"
        if case.padding == "SAME" and set(case.strides) == {1}:
            return "same", False, "padding='same'"
        if all(b == a for b, a in pads):
            sym = tuple(b for b, _ in pads)
            return sym, False, f"padding={sym}"
        return pads, True, f"F.pad(x, {_torch_pad_tuple(pads)}) then padding=0"

    def thunks(self, case, tensors, padding, emulated):
        torch = _torch()
        conv = getattr(torch.nn.functional, case.op)

        @once
        def forward():
            x, w, dy = (t.clone().requires_grad_(True) for t in tensors())
            xin = torch.nn.functional.pad(x, _torch_pad_tuple(padding)) if emulated else x
            y = conv(xin, w, stride=case.strides, padding=0 if emulated else padding,
                     dilation=case.dilations)
            return x, w, dy, y

        def grad(of: int):
            x, w, dy, y = forward()
            return torch.autograd.grad(y, (x, w)[of], dy.detach(), retain_graph=True)[0]
        return {"y": lambda: forward()[3], "dx": lambda: grad(0), "dw": lambda: grad(1)}


class TorchNnGrad(_TorchImpl):
    name = "torch.nn_grad"

    def padding(self, case: Case):
        pads = case.pads
        if all(b == a for b, a in pads):
            sym = tuple(b for b, _ in pads)
            return sym, False, f"padding={sym}"
        return pads, True, (f"x padded by F.pad(x, {_torch_pad_tuple(pads)}), "
                            f"{case.op}_input/_weight with padding=0, dx cropped back")

    def thunks(self, case, tensors, padding, emulated):
        torch = _torch()
        grad = torch.nn.grad
        args = dict(stride=case.strides, dilation=case.dilations,
                    padding=0 if emulated else padding)

        def x_in():
            x = tensors()[0]
            return torch.nn.functional.pad(x, _torch_pad_tuple(padding)) if emulated else x

        def dx():
            xin, (_, w, dy) = x_in(), tensors()
            result = getattr(grad, f"{case.op}_input")(tuple(xin.shape), w, dy, **args)
            if emulated:
                crop = tuple(slice(b, result.shape[i + 2] - a) for i, (b, a) in enumerate(padding))
                result = result[(slice(None), slice(None), *crop)]
            return result

        def dw():
            _, w, dy = tensors()
            return getattr(grad, f"{case.op}_weight")(x_in(), tuple(w.shape), dy, **args)

        def y():
            return getattr(torch.nn.functional, case.op)(x_in(), tensors()[1], **args)
        return {"y": y, "dx": dx, "dw": dw}


IMPLS = (TorchNnGrad(), TorchAutograd())
