"""JAX: ``jax.vjp`` of ``jax.lax.conv_general_dilated``.

JAX takes the case's own layouts as dimension numbers and every padding mode
natively (``'VALID'``, ``'SAME'``, ``'SAME_LOWER'``, explicit pairs), so nothing
is ever emulated. x64 is switched on at import: without it JAX silently
computes a float64 case in float32 (a variant without it comes with the
worker processes).
"""
from __future__ import annotations

from typing import Sequence

import numpy as np

from harness import dtypes
from harness.adapters.base import (COMMON_VARIANTS, LEGACY_OPS, Configurable, NoDevice,
                                   Outcome, each_grad, failed, once)
from harness.case import Case
from harness.values import Inputs




def _jax():
    import jax
    return jax


class JaxVjp(Configurable):
    ops = LEGACY_OPS   # the ops this adapter calls its framework for (harness.ops)
    name = "jax.vjp"
    framework = "jax"
    variants = {"x64": ("on", "off"), **COMMON_VARIANTS}

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
        padding = case.padding if isinstance(case.padding, str) else [tuple(p) for p in case.padding]
        recipe = f"padding={padding!r}"
        try:
            device, precision = self._configure(jax)
        except Exception as exc:  # noqa: BLE001 - costs this case's verdicts only
            return failed(grads, exc, recipe)
        dtype = dtypes.numpy_dtype(case.dtype)
        put = lambda a: jax.device_put(a.astype(dtype), device)  # noqa: E731

        def forward(x, w):
            return jax.lax.conv_general_dilated(
                x, w, window_strides=case.strides, padding=padding,
                rhs_dilation=case.dilations, precision=precision,
                dimension_numbers=(case.data_format, case.filter_format, case.data_format))

        @once
        def vjp():
            y, pullback = jax.vjp(forward, put(inputs.x), put(inputs.w))
            return (y, *pullback(put(inputs.dy)))

        thunks = {g: (lambda i=i: vjp()[i]) for i, g in enumerate(("y", "dx", "dw"))}
        return each_grad(grads, thunks, _finish, recipe, False)


def _finish(grad: str, value) -> Outcome:
    array = np.asarray(value)
    return Outcome(values=array, dtype=str(array.dtype))


IMPLS = (JaxVjp(),)
