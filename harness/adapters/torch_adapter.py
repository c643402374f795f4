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
from harness import padding as pad
from harness.adapters.base import (COMMON_VARIANTS, LEGACY_OPS, Configurable, NoDevice,
                                   Outcome, each_grad, failed, once)
from harness.case import Case
from harness.values import Inputs



def _torch():
    import torch
    return torch


def _to_torch(a: np.ndarray, src: str, dst: str, dtype: str, memory: str, device: str):
    """``a`` (laid out as ``src``) as a torch tensor laid out as ``dst`` (channels-first).

    ``memory`` is how it reaches torch: ``contiguous`` (a C-contiguous copy),
    ``channels_last`` (torch's channels-last memory format), or ``nhwc_view``
    (a channels-last NumPy array handed over zero-copy as a permuted view).
    """
    torch = _torch()
    staging = np.float32 if dtype == "bfloat16" else np.dtype(dtype)
    if memory == "nhwc_view":
        rank = len(src) - 2
        last = layouts.data_formats(rank)[0] if "N" in src else layouts.filter_formats(rank)[0]
        array = np.ascontiguousarray(layouts.convert(a, src, last), dtype=staging)
        t = torch.from_numpy(array).permute(*layouts.permutation(last, dst))
    else:
        array = np.ascontiguousarray(layouts.convert(a, src, dst), dtype=staging)
        t = torch.from_numpy(array)
        if memory == "channels_last":
            if t.dim() not in (4, 5):
                raise ValueError("torch's channels_last memory format exists for 2-D and 3-D "
                                 "convolutions only")
            t = t.contiguous(memory_format=torch.channels_last if t.dim() == 4
                             else torch.channels_last_3d)
    return t.to(device=device, dtype=getattr(torch, dtype))  # keeps the strides


def _to_numpy(t, src: str, dst: str) -> Outcome:
    torch = _torch()
    dtype = str(t.dtype).removeprefix("torch.")
    t = t.detach()
    if t.dtype == torch.bfloat16:  # NumPy has no bfloat16; float32 holds it exactly
        t = t.to(torch.float32)
    t = t.cpu()
    return Outcome(values=layouts.convert(t.numpy(), src, dst), dtype=dtype)


def _torch_pad_tuple(pads: Sequence[tuple[int, int]]) -> tuple[int, ...]:
    """``F.pad`` order: last spatial dim first, (before, after) each."""
    return tuple(p for pair in reversed(pads) for p in pair)


class _TorchImpl(Configurable):
    ops = LEGACY_OPS   # the ops this adapter calls its framework for (harness.ops)
    framework = "torch"
    variants = {"threads": int, "memory": ("contiguous", "channels_last", "nhwc_view"),
                **COMMON_VARIANTS}

    def version(self) -> str:
        return _torch().__version__

    def _configure(self, torch) -> str:
        """Applies thread count and TF32 settings; returns the device to use."""
        if "threads" in self.settings:
            torch.set_num_threads(int(self.settings["threads"]))
        if self.settings.get("device", "cpu") == "cpu":
            return "cpu"
        if not torch.cuda.is_available():
            raise NoDevice("torch sees no CUDA device here (a CPU build, or no GPU)")
        if "tf32" in self.settings:
            allow = self.settings["tf32"] == "on"
            torch.backends.cuda.matmul.allow_tf32 = allow
            torch.backends.cudnn.allow_tf32 = allow
        return "cuda"

    def compute(self, case: Case, inputs: Inputs, grads: Sequence[str]) -> dict[str, Outcome]:
        rank = case.rank
        data, filt = layouts.canonical_data(rank), layouts.canonical_filter(rank)
        padding, emulated, recipe = self.padding(case)
        memory = self.settings.get("memory", "contiguous")
        try:
            device = self._configure(_torch())
        except Exception as exc:  # noqa: BLE001 - costs this case's verdicts only
            return failed(grads, exc, recipe, emulated)
        convert = lambda a, src, dst: _to_torch(a, src, dst, case.dtype, memory, device)  # noqa
        tensors = once(lambda: (convert(inputs.x, case.data_format, data),
                                convert(inputs.w, case.filter_format, filt),
                                convert(inputs.dy, case.data_format, data)))
        thunks = self.thunks(case, tensors, padding, emulated)
        layout = {"y": (data, case.data_format), "dx": (data, case.data_format),
                  "dw": (filt, case.filter_format)}
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            outcomes = each_grad(grads, thunks, lambda g, t: _to_numpy(t, *layout[g]),
                                 recipe, emulated)
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
        if pad.is_symmetric(case.axes):
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
        if pad.is_symmetric(case.axes):
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
