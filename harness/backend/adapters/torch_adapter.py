"""PyTorch: ``torch.nn.grad.conv{1,2,3}d_input/_weight`` and autograd of ``F.conv*``.

Torch is channels-first only: arrays are transposed to ``NC...`` / ``OI...`` at
this boundary and back (a depthwise ``HWCM`` filter becomes the grouped conv's
``(C * M, 1, *kernel)``, :func:`harness.case.ops.to_canonical`). Padding: torch's
``padding='same'`` exists only for stride 1, and integer padding is symmetric
and non-negative, so an asymmetric case (SAME with a stride, SAME_LOWER,
explicit unequal pairs) is emulated with ``F.pad`` and ``padding=0`` (and for
``torch.nn.grad``, by cropping the padded ``dx``).

Ops (:mod:`harness.case.ops`):

* ``conv{1,2,3}d``: ``F.conv*d(groups=G)``; ``torch.nn.grad.conv*d_input/_weight(groups=G)``.
* ``depthwise_conv{1,2}d``: the same with ``groups=C`` and the ``(C * M, 1, k)`` filter.
* ``conv_transpose{1,2,3}d``: autograd of ``F.conv_transpose*d`` (its weight
  ``(in, out / G, *k)`` is the case's ``OI...`` filter). Native where torch's
  ``padding=p`` (both sides) and ``output_padding`` give the case's crop: ``p =
  before >= 0`` and ``output_padding = size - ((in - 1) * s - 2p + (k - 1) * d + 1)``
  in ``[0, max(s, d))``; otherwise the full output (``padding=0``) is cropped /
  zero-padded to the case's ``[before, after]`` and size with ``F.pad``, inside the
  autograd graph. ``torch.nn.grad`` has no transposed functions: a transposed conv
  is the input gradient of the forward conv over its output, so ``y =
  conv*d_input(y's shape, w, grad_output=x)``, ``dx = F.conv*d(dy, w)`` and ``dw =
  conv*d_weight(input=dy, w.shape, grad_output=x)``, with the forward conv's padding.

Forward mode and second order (:data:`harness.case.ops.SECOND_ORDER`): the tangents
``tx``, ``tw`` and cotangents ``gx``, ``gw`` reach torch as ``x``, ``w`` do.
``torch.autograd`` computes them the way its users do, by its setting ``second``:

* ``autograd`` (default): ``jvp`` by ``torch.autograd.forward_ad`` dual tensors of
  ``x``, ``w``; ``ddy``, ``ddx``, ``ddw`` by double backward, ``torch.autograd.grad((dx,
  dw), (dy, x, w), (gx, gw))`` over the first backward taken with ``create_graph=True``;
* ``func``: ``torch.func.jvp`` of the forward; reverse-over-reverse, ``torch.func.vjp``
  of a function that returns the first-order ``torch.func.vjp`` of the forward;
* ``fwd_over_rev``: ``ddx``, ``ddw`` by ``torch.func.jvp`` of the first-order vjp along
  ``(gx, gw)`` with ``dy`` fixed, ``ddy`` by ``torch.func.jvp`` of the forward along
  ``(gx, gw)``; ``jvp`` as ``func``.

``torch.nn_grad`` writes them by hand from the bilinear identities
(:data:`harness.case.ops.SECOND_ORDER_TERMS`) over its first-order functions, padding
and transposed identities included: ``jvp = y(tx, w) + y(x, tw)``, ``ddy = y(gx, w) +
y(x, gw)``, ``ddx = dx(dy, gw)``, ``ddw = dw(gx, dy)``, each term in the case dtype.
"""
from __future__ import annotations

import re
import sys
import warnings
from typing import Sequence

import numpy as np

from harness.numerics import layouts
from harness.case import ops
from harness.numerics import padding as pad
from harness.backend import platforms
from harness.backend.adapters.base import (COMMON_VARIANTS, Configurable, NoDevice, Outcome,
                                   each_grad, failed, once)
from harness.backend.adapters.idioms import Idioms, dims, pads_text
from harness.case.model import Case
from harness.case.values import Inputs

ALL_OPS = frozenset(ops.OPS)
ALL_GRADS = ops.ALL_GRADS


def _torch():
    import torch  # torch costs ~2 s at import: only in a worker that runs a torch impl
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


def _to_numpy(case: Case, grad: str, t) -> Outcome:
    """A channels-first torch result as NumPy in the case's layout (a depthwise ``dw``
    reshaped back to ``HWCM``)."""
    torch = _torch()
    dtype = str(t.dtype).removeprefix("torch.")
    t = t.detach()
    if t.dtype == torch.bfloat16:  # NumPy has no bfloat16; float32 holds it exactly
        t = t.to(torch.float32)
    return Outcome(values=ops.from_canonical(case, grad, t.cpu().numpy()), dtype=dtype)


def _torch_pad_tuple(pads: Sequence[tuple[int, int]]) -> tuple[int, ...]:
    """``F.pad`` order: last spatial dim first, (before, after) each."""
    return tuple(p for pair in reversed(pads) for p in pair)


def _negated(pads: Sequence[tuple[int, int]]) -> list[tuple[int, int]]:
    """The pads that undo ``pads`` (``F.pad`` crops for negative amounts)."""
    return [(-before, -after) for before, after in pads]


def _native_ints(case: Case):
    """Torch's symmetric integer padding for the case's pads, or None where it has none."""
    if pad.is_symmetric(case.axes) and all(b >= 0 for b, _ in case.pads):
        return tuple(b for b, _ in case.pads)
    return None


def transposed_geometry(case: Case) -> list[dict]:
    """Per spatial axis of a conv_transpose: ``before`` / ``after`` (the forward conv's pads
    over y), ``size`` (y's), ``full`` (the uncropped output, ``(in - 1) * s + (k - 1) * d
    + 1``) and ``output_padding``, what torch's formula needs with ``padding=before``
    (``size - (full - 2 * before)``). ``y[j] = full_output[j + before]``."""
    out = []
    for axis, n, size in zip(case.axes, case.canonical_input_shape[2:], case.transposed_sizes):
        full = (n - 1) * axis.stride + axis.effective_kernel
        out.append(dict(before=axis.before, after=axis.after, size=size, full=full,
                        output_padding=size - (full - 2 * axis.before),
                        limit=max(axis.stride, axis.dilation)))
    return out


class _TorchImpl(Configurable):
    ops = ALL_OPS   # the ops this adapter calls its framework for (harness.case.ops)
    grads = ALL_GRADS   # first order, forward mode and second order
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
        padding, emulated, recipe = self.padding(case)
        memory = self.settings.get("memory", "contiguous")
        try:
            device = self._configure(_torch())
        except Exception as exc:  # noqa: BLE001 - costs this case's verdicts only
            return failed(grads, exc, recipe, emulated)

        def convert(name: str):
            layout = ops.canonical_layout(case, name)
            if case.kind == "depthwise" and ops.base_tensor(name) == "w":   # (C * M, 1, k)
                layout = layouts.canonical_filter(case.rank)
            return _to_torch(ops.to_canonical(case, name, inputs.get(name)), layout,
                             layout, case.dtype, memory, device)
        converted = {name: once(lambda name=name: convert(name)) for name in ops.TENSORS}

        def tensor(name: str):   # converted once, on first use (in the thunk that needs it)
            return converted[name]()
        tensors = once(lambda: tuple(tensor(name) for name in ("x", "w", "dy")))
        thunks = dict(self.thunks(case, tensors, padding, emulated))
        if any(g in ops.SECOND_ORDER for g in grads):
            thunks.update(self.second_order_thunks(case, tensor, padding, emulated))
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            outcomes = each_grad(grads, thunks, lambda g, t: _to_numpy(case, g, t),
                                 recipe, emulated)
        notes = sorted({f"torch warned: {w.message}" for w in caught})
        for outcome in outcomes.values():
            outcome.notes = notes
        return outcomes


class TorchAutograd(_TorchImpl):
    name = "torch.autograd"
    # second: how forward mode and second order are taken (module docstring); default first
    variants = {**_TorchImpl.variants, "second": ("autograd", "func", "fwd_over_rev")}

    def padding(self, case: Case):
        """(padding argument, emulated, recipe) for ``F.conv*d`` / ``F.conv_transpose*d``."""
        if case.kind == "conv_transpose":
            return self._transposed_padding(case)
        pads = case.pads
        if case.padding == "VALID":
            return "valid", False, "padding='valid'"
        if case.padding == "SAME" and set(case.strides) == {1}:
            return "same", False, "padding='same'"
        native = _native_ints(case)
        if native is not None:
            return native, False, f"padding={native}"
        return pads, True, f"F.pad(x, {_torch_pad_tuple(pads)}) then padding=0"

    @staticmethod
    def _transposed_padding(case: Case):
        """Native ``padding=before, output_padding`` where torch's formula gives the case's
        crop and size; else ``F.pad`` amounts that turn the full output into the case's y."""
        fn = f"F.conv_transpose{case.rank}d"
        axes = transposed_geometry(case)
        if all(a["before"] >= 0 and 0 <= a["output_padding"] < a["limit"] for a in axes):
            native = tuple(a["before"] for a in axes)
            extra = tuple(a["output_padding"] for a in axes)
            return native, False, f"{fn}(padding={native}, output_padding={extra})"
        crop = [(-a["before"], a["size"] + a["before"] - a["full"]) for a in axes]
        return crop, True, (f"{fn}(padding=0) gives the full output, then "
                            f"F.pad(y, {_torch_pad_tuple(crop)}) crops / zero-pads it to the "
                            f"case's pads {[tuple(p) for p in case.pads]} and size")

    def forward_fn(self, case, padding, emulated):
        """The forward ``call(x, w)``: ``F.conv*d`` / ``F.conv_transpose*d`` with the case's
        padding (emulated with ``F.pad`` where torch cannot say it)."""
        functional = _torch().nn.functional

        def call(x, w):
            if case.kind == "conv_transpose":
                fn = getattr(functional, f"conv_transpose{case.rank}d")
                if emulated:
                    full = fn(x, w, stride=case.strides, padding=0, groups=case.groups,
                              dilation=case.dilations)
                    return functional.pad(full, _torch_pad_tuple(padding))
                extra = tuple(a["output_padding"] for a in transposed_geometry(case))
                return fn(x, w, stride=case.strides, padding=padding, output_padding=extra,
                          groups=case.groups, dilation=case.dilations)
            conv = getattr(functional, f"conv{case.rank}d")
            xin = functional.pad(x, _torch_pad_tuple(padding)) if emulated else x
            return conv(xin, w, stride=case.strides, padding=0 if emulated else padding,
                        dilation=case.dilations, groups=case.conv_groups)
        return call

    def thunks(self, case, tensors, padding, emulated):
        torch = _torch()
        call = self.forward_fn(case, padding, emulated)

        @once
        def forward():
            x, w, dy = (t.clone().requires_grad_(True) for t in tensors())
            return x, w, dy, call(x, w)

        def grad(of: int):
            x, w, dy, y = forward()
            return torch.autograd.grad(y, (x, w)[of], dy.detach(), retain_graph=True)[0]
        return {"y": lambda: forward()[3], "dx": lambda: grad(0), "dw": lambda: grad(1)}

    def second_order_thunks(self, case, tensor, padding, emulated):
        """``jvp``, ``ddy``, ``ddx``, ``ddw`` the way the setting ``second`` says (module
        docstring); each grad its own thunk, the passes they share computed once."""
        torch = _torch()
        call = self.forward_fn(case, padding, emulated)
        mode = self.settings.get("second", "autograd")

        def leaves(*names):
            return tuple(tensor(n).clone().requires_grad_(True) for n in names)

        def first_vjp(dy, x, w):   # torch.func's first-order (dx, dw)
            _, pullback = torch.func.vjp(call, x, w)
            return pullback(dy)

        if mode == "autograd":
            def jvp():
                forward_ad = torch.autograd.forward_ad
                with forward_ad.dual_level():
                    out = call(forward_ad.make_dual(tensor("x"), tensor("tx")),
                               forward_ad.make_dual(tensor("w"), tensor("tw")))
                    tangent = forward_ad.unpack_dual(out).tangent
                return torch.zeros_like(out) if tangent is None else tangent

            @once
            def first_backward():   # dx, dw with create_graph: differentiable in dy, x, w
                x, w, dy = leaves("x", "w", "dy")
                dx, dw = torch.autograd.grad(call(x, w), (x, w), dy, create_graph=True)
                return dy, x, w, dx, dw

            def double_backward(of: int):
                dy, x, w, dx, dw = first_backward()
                return torch.autograd.grad((dx, dw), (dy, x, w)[of],
                                           (tensor("gx"), tensor("gw")), retain_graph=True)[0]
            return {"jvp": jvp, "ddy": lambda: double_backward(0),
                    "ddx": lambda: double_backward(1), "ddw": lambda: double_backward(2)}

        def func_jvp():
            return torch.func.jvp(call, (tensor("x"), tensor("w")),
                                  (tensor("tx"), tensor("tw")))[1]

        if mode == "func":
            @once
            def pullback2():   # reverse over reverse
                return torch.func.vjp(first_vjp, tensor("dy"), tensor("x"), tensor("w"))[1]

            def reverse_over_reverse(of: int):
                return pullback2()((tensor("gx"), tensor("gw")))[of]
            return {"jvp": func_jvp, "ddy": lambda: reverse_over_reverse(0),
                    "ddx": lambda: reverse_over_reverse(1),
                    "ddw": lambda: reverse_over_reverse(2)}

        # fwd_over_rev
        @once
        def tangents():   # the jvp of (dx, dw) along (gx, gw), dy fixed
            dy = tensor("dy")
            return torch.func.jvp(lambda x, w: first_vjp(dy, x, w), (tensor("x"), tensor("w")),
                                  (tensor("gx"), tensor("gw")))[1]

        def ddy():
            return torch.func.jvp(call, (tensor("x"), tensor("w")),
                                  (tensor("gx"), tensor("gw")))[1]
        return {"jvp": func_jvp, "ddy": ddy, "ddx": lambda: tangents()[0],
                "ddw": lambda: tangents()[1]}


class TorchNnGrad(_TorchImpl):
    name = "torch.nn_grad"

    def padding(self, case: Case):
        pads = case.pads
        native = _native_ints(case)
        if case.kind == "conv_transpose":
            identities = (f"forward-conv identities (torch.nn.grad has no transposed conv): "
                          f"y = conv{case.rank}d_input(y's shape, w, grad_output=x), "
                          f"dx = F.conv{case.rank}d(dy, w), "
                          f"dw = conv{case.rank}d_weight(dy, w.shape, grad_output=x); ")
            if native is not None:
                return native, False, identities + f"padding={native}"
            return pads, True, identities + (f"dy padded by F.pad(dy, {_torch_pad_tuple(pads)}),"
                                             " padding=0, y cropped back")
        if native is not None:
            return native, False, f"padding={native}"
        return pads, True, (f"x padded by F.pad(x, {_torch_pad_tuple(pads)}), "
                            f"conv{case.rank}d_input/_weight with padding=0, dx cropped back")

    def functions(self, case, padding, emulated):
        """The case's ``y``, ``dx``, ``dw`` as functions of ``(x, w, dy)``, from the forward
        conv's three functions; for a conv_transpose its input is y-space (``x`` plays
        ``dy``, ``dy`` plays the forward conv's input)."""
        torch = _torch()
        grad, functional = torch.nn.grad, torch.nn.functional
        rank = case.rank
        args = dict(stride=case.strides, dilation=case.dilations, groups=case.conv_groups,
                    padding=0 if emulated else padding)

        def padded(t):   # the forward conv's input, padded as the case says
            return functional.pad(t, _torch_pad_tuple(padding)) if emulated else t

        def input_grad(shape, w, grad_output):
            """The forward conv's input gradient over ``shape``, cropped back when padded."""
            if emulated:
                shape = (*shape[:2], *(n + b + a for n, (b, a) in zip(shape[2:], padding)))
            result = getattr(grad, f"conv{rank}d_input")(shape, w, grad_output, **args)
            return functional.pad(result, _torch_pad_tuple(_negated(padding))) if emulated \
                else result

        def forward(inp, w):
            return getattr(functional, f"conv{rank}d")(padded(inp), w, **args)

        def weight_grad(inp, w, grad_output):
            return getattr(grad, f"conv{rank}d_weight")(padded(inp), tuple(w.shape),
                                                        grad_output, **args)

        if case.kind == "conv_transpose":
            y_shape = case.canonical_output_shape
            return {"y": lambda x, w, dy: input_grad(y_shape, w, x),
                    "dx": lambda x, w, dy: forward(dy, w),
                    "dw": lambda x, w, dy: weight_grad(dy, w, x)}
        return {"y": lambda x, w, dy: forward(x, w),
                "dx": lambda x, w, dy: input_grad(tuple(x.shape), w, dy),
                "dw": lambda x, w, dy: weight_grad(x, w, dy)}

    def thunks(self, case, tensors, padding, emulated):
        functions = self.functions(case, padding, emulated)
        return {g: (lambda f=f: f(*tensors())) for g, f in functions.items()}

    def second_order_thunks(self, case, tensor, padding, emulated):
        """Double backward and forward mode written by hand: each second-order grad the sum
        of its first-order terms with the tangents swapped in (``ddx = dx(dy, w := gw)``,
        ``ddw = dw(x := gx, dy)``, ``jvp``, ``ddy``: ``y(tx, w) + y(x, tw)``), added in the
        case dtype."""
        functions = self.functions(case, padding, emulated)

        def identity(grad: str):
            total = None
            for base, swap in ops.SECOND_ORDER_TERMS[grad]:
                term = functions[base](*(tensor(swap.get(t, t)) for t in ("x", "w", "dy")))
                total = term if total is None else total + term
            return total
        return {g: (lambda g=g: identity(g)) for g in ops.SECOND_ORDER}


IMPLS = (TorchNnGrad(), TorchAutograd())


class TorchIdioms(Idioms):
    """Fixes as torch code (``torch.nn.functional`` as ``F``)."""

    def padding(self, case: Case) -> str:
        if case.kind == "conv_transpose":
            return (f"compute the full output with padding=0 and crop it by "
                    f"{pads_text(case.pads)} (before, after) per dimension ({dims(case)})")
        if case.padding == "SAME" and set(case.strides) == {1}:
            return "use padding='same'"
        if pad.is_symmetric(case.axes) and all(b >= 0 for b, _ in case.pads):
            return f"use padding={tuple(b for b, _ in case.pads)}"
        return (f"use F.pad(x, {_torch_pad_tuple(case.pads)}) and padding=0 (F.pad takes the "
                "LAST dimension first: (left, right, top, bottom) for 2-D)")

    def padding_rule(self, case: Case) -> str:
        if case.padding not in ("SAME", "SAME_LOWER"):
            return super().padding_rule(case)
        halves = ("total // 2, total - total // 2" if case.padding == "SAME"
                  else "total - total // 2, total // 2")
        conv = f"F.conv{case.rank}d"
        text = (f"TensorFlow's {case.padding} is asymmetric where the total pad is odd: "
                f"pad by its rule, per spatial dimension:\n"
                f"def same_pads(n, k, s, d):   # TensorFlow's {case.padding}\n"
                f"    total = max((-(-n // s) - 1) * s + (k - 1) * d + 1 - n, 0)\n"
                f"    return {halves}\n")
        if case.kind == "conv_transpose":
            return text + ("pads = [same_pads(n, k, s, d) for ...]   # n: y's sizes\n"
                           "y = F.conv_transpose{r}d(x, w, stride=..., dilation=..., padding=0)"
                           "  # then crop each dim: y[..., before:size - after]"
                           ).format(r=case.rank)
        return text + ("pads = [same_pads(n, k, s, d) for n, k, s, d in zip(x.shape[2:], "
                       "w.shape[2:], stride, dilation)]\n"
                       "x = F.pad(x, [p for pair in reversed(pads) for p in pair])   "
                       "# F.pad: last dimension first\n"
                       f"y = {conv}(x, w, stride=stride, dilation=dilation, padding=0)")

    def pad_order_rule(self, case: Case) -> str:
        return ("F.pad takes the LAST dimension first: F.pad(x, (left, right, top, bottom)) "
                "in 2-D, (left, right, top, bottom, front, back) in 3-D; from per-dimension "
                "pairs: F.pad(x, [p for pair in reversed(pads) for p in pair])"
                f" (here: F.pad(x, {_torch_pad_tuple(case.pads)}))")

    def strides(self, case: Case) -> str:
        return f"stride={tuple(case.strides)}"

    def dilation(self, case: Case) -> str:
        return f"dilation={tuple(case.dilations)}"

    def groups(self, case: Case) -> str:
        return f"groups={case.conv_groups}"

    def data_layout(self, case: Case) -> str:
        return "x.permute(" + ", ".join(map(str, layouts.permutation(
            case.data_format, layouts.canonical_data(case.rank)))) + ")"

    def filter_layout(self, case: Case) -> str:
        if case.kind == "depthwise":
            c, m = (case.canonical_input_shape[1],
                    case.canonical_filter_shape[0] // case.canonical_input_shape[1])
            return (f"w.permute({', '.join(map(str, layouts.permutation(case.filter_format, layouts.depthwise_canonical(case.rank))))})"
                    f".reshape({c * m}, 1, *kernel) gives the grouped conv's weight")
        return "w.permute(" + ", ".join(map(str, layouts.permutation(
            case.filter_format, layouts.canonical_filter(case.rank)))) + ") gives OIHW"

    def output_padding(self, case: Case) -> str:
        return f"pass output_padding={tuple(case.output_padding)}"


IDIOMS = TorchIdioms()


class TorchPort:
    """A user's torch conv function (:mod:`harness.backend.port`): y by calling it, dx and
    dw by ``torch.autograd.grad``, as a porter's training loop gets them."""

    layout = "channels_first"

    def thunks(self, call, case: Case, a: dict) -> dict:
        torch = _torch()
        dtype = getattr(torch, case.dtype)
        staging = np.float32 if case.dtype == "bfloat16" else None

        def tensor(name):
            array = a[name] if staging is None else a[name].astype(staging)
            return torch.from_numpy(array).to(dtype)

        @once
        def forward():
            x, w = tensor("x").requires_grad_(True), tensor("w").requires_grad_(True)
            return x, w, call(x, w, case)

        def grad(i):
            x, w, y = forward()
            return torch.autograd.grad(y, (x, w)[i], tensor("dy"), retain_graph=True)[0]
        return {"y": lambda: forward()[2], "dx": lambda: grad(0), "dw": lambda: grad(1)}


PORT = TorchPort()


def probe_platform(cpu: dict) -> dict:
    """This process's numerics path in the framework (imported already): what
    :func:`harness.backend.platforms.probe` records beside the CPU."""
    torch = sys.modules["torch"]
    onednn = bool(torch.backends.mkldnn.is_available() and torch.backends.mkldnn.enabled)
    try:
        bf16 = bool(torch.ops.mkldnn._is_mkldnn_bf16_supported())
        f16 = bool(torch.ops.mkldnn._is_mkldnn_fp16_supported())
    except (AttributeError, RuntimeError):
        bf16 = f16 = None
    version = re.search(r"(?:MKL-DNN|oneDNN) v([0-9.]+)", torch.__config__.show())
    out = {"version": torch.__version__, "cpu_capability": torch.backends.cpu.get_cpu_capability(),
           "onednn": platforms.on(onednn), "onednn_bfloat16": platforms.on(onednn and bf16) if bf16 is not None
           else None, "onednn_float16": platforms.on(onednn and f16) if f16 is not None else None,
           "onednn_version": version[1] if version else None, "gpus": []}
    if torch.cuda.is_available():
        out["gpus"] = [torch.cuda.get_device_name(i) for i in range(torch.cuda.device_count())]
        out["compute_capability"] = ".".join(map(str, torch.cuda.get_device_capability(0)))
        out["cuda"] = torch.version.cuda
        out["cudnn"] = str(torch.backends.cudnn.version())
        out["tf32"] = platforms.on(torch.backends.cudnn.allow_tf32)
        out["tf32_matmul"] = platforms.on(torch.backends.cuda.matmul.allow_tf32)
    return out
