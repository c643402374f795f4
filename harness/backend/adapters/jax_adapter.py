"""JAX: ``jax.vjp`` of ``jax.lax.conv_general_dilated`` / ``jax.lax.conv_transpose``.

JAX takes the case's own layouts as dimension numbers (data ``NHWC`` / ``NCHW``,
filters in any order of ``O``, ``I`` and the spatial letters) and every padding
mode natively (``'VALID'``, ``'SAME'``, ``'SAME_LOWER'``, explicit pairs), so
nothing is ever emulated. x64 is switched on at import: without it JAX silently
computes a float64 case in float32 (a variant without it comes with the worker
processes).

Ops (:mod:`harness.case.ops`):

* ``conv{1,2,3}d``: ``conv_general_dilated(feature_group_count=G)``.
* ``depthwise_conv{1,2}d``: the same with ``feature_group_count=C`` and the ``HWCM``
  filter as the grouped conv's ``(C * M, 1, *k)`` (``OI...``,
  :func:`harness.case.ops.to_canonical`); ``dw`` goes back to the case's layout.
* ``conv_transpose{1,2,3}d``: ``conv_transpose(x, w, strides, padding, rhs_dilation,
  (data, filter, data), transpose_kernel=True)`` with the forward conv's filter
  spec. ``'SAME'`` / ``'VALID'`` are passed as such where y has the size JAX gives
  them (``in * s``; ``in * s + max(k_eff - s, 0)``); anything else (SAME_LOWER,
  explicit pairs, output_padding, a given output_shape) as explicit padding of the
  stride-dilated input, ``(k_eff - 1 - before, k_eff - 1 - after + extra)`` per
  axis, where ``extra = size - ((in - 1) * s + k_eff - before - after)``.
  ``conv_transpose`` has no groups: with ``groups > 1`` it is the standard
  construction ``conv_general_dilated(x, w', padding as above, lhs_dilation=s,
  rhs_dilation=d, feature_group_count=G)`` with ``w'`` the filter flipped in
  space and its channels regrouped to ``(G * I, O / G, *k)``.

Forward mode and second order (:data:`harness.case.ops.SECOND_ORDER`), as users take
them: ``jvp`` is ``jax.jvp`` of the forward along ``(tx, tw)``; ``ddy``, ``ddx``, ``ddw``
are ``jax.vjp`` of a function that calls ``jax.vjp`` (reverse over reverse, cotangents
``(gx, gw)`` for its ``(dx, dw)``), or with ``second=fwd`` ``jax.jvp`` of the first-order
pullback along ``(gx, gw)`` with ``dy`` fixed (forward over reverse) and ``ddy`` as
``jax.jvp`` of the forward along ``(gx, gw)``. Tangents take the layout, filter
reshaping and dtype of the tensor they go with.
"""
from __future__ import annotations

import sys
from typing import Sequence

import numpy as np

from harness.numerics import dtypes, layouts
from harness.case import ops
from harness.backend.adapters.base import (COMMON_VARIANTS, Configurable, NoDevice, Outcome,
                                   each_grad, failed, once)
from harness.backend.adapters.idioms import Idioms
from harness.case.model import Case
from harness.case.values import Inputs


def _jax():
    import jax  # jax costs seconds at import: only in a worker that runs a jax impl
    return jax


def transposed_padding(case: Case) -> list[tuple[int, int]]:
    """conv_transpose's explicit padding of the stride-dilated ``x`` for the case's y:
    ``(k_eff - 1 - before, k_eff - 1 - after + extra)`` per spatial axis."""
    out = []
    for axis, n, size in zip(case.axes, case.canonical_input_shape[2:], case.transposed_sizes):
        eff = axis.effective_kernel
        extra = size - ((n - 1) * axis.stride + eff - axis.before - axis.after)
        out.append((eff - 1 - axis.before, eff - 1 - axis.after + extra))
    return out


def _jax_sizes(case: Case, mode: str) -> tuple[int, ...]:
    """y's sizes JAX's conv_transpose gives for ``'SAME'`` / ``'VALID'``."""
    return tuple(n * a.stride + (max(a.effective_kernel - a.stride, 0) if mode == "VALID" else 0)
                 for n, a in zip(case.canonical_input_shape[2:], case.axes))


def recipe(case: Case):
    """(padding argument, recipe) for the case's op."""
    if case.kind != "conv_transpose":
        padding = case.padding if isinstance(case.padding, str) else \
            [tuple(p) for p in case.padding]
        return padding, f"padding={padding!r}"
    if case.groups == 1 and case.padding in ("SAME", "VALID") and \
            _jax_sizes(case, case.padding) == tuple(case.transposed_sizes):
        return case.padding, f"conv_transpose(padding={case.padding!r}, transpose_kernel=True)"
    padding = transposed_padding(case)
    if case.groups == 1:
        return padding, (f"conv_transpose(padding={padding!r}, transpose_kernel=True): the "
                         f"pads {[tuple(p) for p in case.pads]} as (k_eff - 1 - before, "
                         "k_eff - 1 - after + extra) of the stride-dilated input")
    return padding, (f"conv_general_dilated(lhs_dilation={case.strides}, padding={padding!r}, "
                     f"feature_group_count={case.groups}) with the filter flipped and "
                     f"regrouped to (G * I, O / G, *k): the pads "
                     f"{[tuple(p) for p in case.pads]} as (k_eff - 1 - before, "
                     "k_eff - 1 - after + extra)")


# JAX keeps every executable it compiles for the life of the process: about 4.5 MiB a
# new shape (measured: 300 distinct conv shapes, 1.4 GiB; 2.7 GiB for the JAX worker of a
# bundled run). Dropping them every CLEAR_EVERY cases bounds that; a shape seen again is
# then found in the persistent compilation cache (--jax-cache) or compiled again.
CLEAR_EVERY = 100
_cases_since_clear = 0


def _bound_compiled(jax) -> None:
    global _cases_since_clear
    _cases_since_clear += 1
    if _cases_since_clear >= CLEAR_EVERY:
        _cases_since_clear = 0
        jax.clear_caches()


class JaxVjp(Configurable):
    grads = ops.ALL_GRADS      # first order, forward mode and second order
    ops = frozenset(ops.OPS)   # the ops this adapter calls its framework for (harness.case.ops)
    name = "jax.vjp"
    framework = "jax"
    # second: how ddy, ddx, ddw are taken (jvp is jax.jvp of the forward either way):
    # rev, jax.vjp of a function calling jax.vjp (reverse-over-reverse); fwd, jax.jvp of
    # the first-order pullback along (gx, gw) with dy fixed (forward-over-reverse), and
    # ddy as jax.jvp of the forward along (gx, gw)
    variants = {"x64": ("on", "off"), "second": ("rev", "fwd"), **COMMON_VARIANTS}

    def version(self) -> str:
        return _jax().__version__

    def _configure(self, jax):
        """x64 (on unless the variant says off), the device, and the conv precision."""
        jax.config.update("jax_enable_x64", self.settings.get("x64", "on") == "on")
        device = None
        if self.settings.get("device", "cpu") == "cuda":
            try:
                device = jax.devices("gpu")[0]
            except RuntimeError:
                raise NoDevice("JAX sees no GPU here (a CPU-only jaxlib, or no CUDA device)") \
                    from None
        tf32 = self.settings.get("tf32")
        precision = {"off": jax.lax.Precision.HIGHEST, "on": jax.lax.Precision.DEFAULT}.get(tf32)
        return device, precision

    def compute(self, case: Case, inputs: Inputs, grads: Sequence[str]) -> dict[str, Outcome]:
        jax = _jax()
        _bound_compiled(jax)
        padding, how = recipe(case)
        try:
            device, precision = self._configure(jax)
        except Exception as exc:  # noqa: BLE001 - costs this case's verdicts only
            return failed(grads, exc, how)
        dtype = dtypes.numpy_dtype(case.dtype)
        filter_format = case.filter_format
        if case.kind == "depthwise":   # HWCM -> the grouped conv's (C * M, 1, *k)
            filter_format = layouts.canonical_filter(case.rank)

        def put(name: str):
            """A tensor (tangents included) on the device in the case dtype, a depthwise
            filter as the grouped conv's."""
            a = inputs.get(name)
            if case.kind == "depthwise" and ops.base_tensor(name) == "w":
                a = ops.to_canonical(case, name, a)
            return jax.device_put(a.astype(dtype), device)

        forward = _forward(jax, case, padding, filter_format, precision)

        def pullback(x, w, dy):
            """The first-order (dx, dw): what a user differentiates again."""
            return jax.vjp(forward, x, w)[1](dy)

        @once
        def vjp():
            y, back = jax.vjp(forward, put("x"), put("w"))
            return (y, *back(put("dy")))

        thunks = {g: (lambda i=i: vjp()[i]) for i, g in enumerate(("y", "dx", "dw"))}
        thunks["jvp"] = lambda: jax.jvp(forward, (put("x"), put("w")),
                                        (put("tx"), put("tw")))[1]
        if self.settings.get("second", "rev") == "fwd":
            @once
            def second():   # forward over reverse, dy fixed; ddy: the jvp of y along (gx, gw)
                dy = put("dy")
                ddx, ddw = jax.jvp(lambda x, w: pullback(x, w, dy), (put("x"), put("w")),
                                   (put("gx"), put("gw")))[1]
                return {"ddx": ddx, "ddw": ddw}
            thunks["ddx"] = lambda: second()["ddx"]
            thunks["ddw"] = lambda: second()["ddw"]
            thunks["ddy"] = lambda: jax.jvp(forward, (put("x"), put("w")),
                                            (put("gx"), put("gw")))[1]
        else:
            @once
            def second():   # reverse over reverse: the vjp of (dx, dw) with (gx, gw)
                _, back = jax.vjp(pullback, put("x"), put("w"), put("dy"))
                return dict(zip(("ddx", "ddw", "ddy"), back((put("gx"), put("gw")))))
            for g in ("ddy", "ddx", "ddw"):
                thunks[g] = lambda g=g: second()[g]
        finish = (lambda g, v: _finish(g, v, case)) if case.kind == "depthwise" else _finish
        return each_grad(grads, thunks, finish, how, False)


def _forward(jax, case: Case, padding, filter_format: str, precision):
    """``y = f(x, w)`` for the case's op, ``w`` laid out as ``filter_format``."""
    lax = jax.lax
    numbers = (case.data_format, filter_format, case.data_format)
    if case.kind != "conv_transpose":
        return lambda x, w: lax.conv_general_dilated(
            x, w, window_strides=case.strides, padding=padding, rhs_dilation=case.dilations,
            precision=precision, dimension_numbers=numbers,
            feature_group_count=case.conv_groups)
    if case.groups == 1:
        return lambda x, w: lax.conv_transpose(
            x, w, strides=case.strides, padding=padding, rhs_dilation=case.dilations,
            dimension_numbers=numbers, transpose_kernel=True, precision=precision)
    canonical = layouts.canonical_filter(case.rank)
    groups = case.groups

    def grouped(x, w):
        w = jax.numpy.transpose(w, layouts.permutation(filter_format, canonical))
        o, i, *kernel = w.shape           # o: x's channels (G groups), i: y's per group
        w = w.reshape(groups, o // groups, i, *kernel).swapaxes(1, 2)
        w = w.reshape(groups * i, o // groups, *kernel)
        w = jax.numpy.flip(w, axis=tuple(range(2, 2 + case.rank)))
        return lax.conv_general_dilated(
            x, w, window_strides=(1,) * case.rank, padding=padding,
            lhs_dilation=case.strides, rhs_dilation=case.dilations, precision=precision,
            dimension_numbers=(case.data_format, canonical, case.data_format),
            feature_group_count=groups)
    return grouped


def _finish(grad: str, value, case: Case | None = None) -> Outcome:
    array = np.asarray(value)
    if case is not None and ops.base_tensor(grad) == "w":   # depthwise: (C * M, 1, *k) to HWCM
        array = ops.from_canonical(case, grad, array)
    return Outcome(values=array, dtype=str(array.dtype))


IMPLS = (JaxVjp(),)


class JaxIdioms(Idioms):
    """Fixes as ``jax.lax.conv_general_dilated`` arguments."""

    def padding(self, case: Case) -> str:
        if case.padding in ("SAME", "SAME_LOWER", "VALID"):
            return f"use padding={case.padding!r}"
        return f"use padding={[tuple(p) for p in case.pads]}"

    def padding_rule(self, case: Case) -> str:
        if case.padding in ("SAME", "SAME_LOWER"):
            return (f"pass padding={case.padding!r}: XLA's {case.padding} is TensorFlow's (the "
                    f"odd pad {'after' if case.padding == 'SAME' else 'before'} the data); do "
                    "not compute symmetric pairs by hand")
        return super().padding_rule(case)

    def pad_order_rule(self, case: Case) -> str:
        return ("padding is one (low, high) pair per spatial dimension in the order of the "
                f"dimension numbers' spatial axes, e.g. padding={[tuple(p) for p in case.pads]}")

    def strides(self, case: Case) -> str:
        return f"window_strides={tuple(case.strides)}"

    def dilation(self, case: Case) -> str:
        return f"rhs_dilation={tuple(case.dilations)}"

    def groups(self, case: Case) -> str:
        return f"feature_group_count={case.conv_groups}"

    def data_layout(self, case: Case) -> str:
        return ("jnp.transpose, or dimension_numbers="
                + repr((case.data_format, case.filter_format, case.data_format)))

    def filter_layout(self, case: Case) -> str:
        return f"pass dimension_numbers with rhs spec {case.filter_format!r}"

    def output_padding(self, case: Case) -> str:
        return "pad the end of each spatial dimension by output_padding, not the start"


IDIOMS = JaxIdioms()


class JaxPort:
    """A user's JAX conv function: y and its pullback by ``jax.vjp``."""

    layout = "channels_last"

    def thunks(self, call, case: Case, a: dict) -> dict:
        jax = _jax()
        jax.config.update("jax_enable_x64", True)   # else float64 silently computes float32
        dtype = dtypes.numpy_dtype(case.dtype)

        @once
        def forward():   # y alone: a y of the wrong shape is still judged (and diagnosed)
            return jax.vjp(lambda x, w: call(x, w, case),
                           a["x"].astype(dtype), a["w"].astype(dtype))

        @once
        def grads():
            return forward()[1](a["dy"].astype(dtype))
        return {"y": lambda: forward()[0], "dx": lambda: grads()[0], "dw": lambda: grads()[1]}


PORT = JaxPort()


def probe_platform(cpu: dict) -> dict:
    """This process's numerics path in the framework (imported already): what
    :func:`harness.backend.platforms.probe` records beside the CPU."""
    jax = sys.modules["jax"]
    devices = jax.devices()
    out = {"version": jax.__version__, "platform": jax.default_backend(),
           "devices": sorted({d.device_kind for d in devices}),
           "default_matmul_precision": str(jax.config.jax_default_matmul_precision),
           "onednn": None, "onednn_bfloat16": None, "onednn_float16": None}
    return out
