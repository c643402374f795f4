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
from harness.adapters.base import Outcome, each_grad, once
from harness.case import Case
from harness.values import Inputs


# Exceptions by which JAX refuses a configuration (anything else is an error).
REFUSALS = (TypeError, ValueError, NotImplementedError)


def _jax():
    import jax
    jax.config.update("jax_enable_x64", True)
    return jax


class JaxVjp:
    name = "jax.vjp"
    framework = "jax"

    def version(self) -> str:
        return _jax().__version__

    def compute(self, case: Case, inputs: Inputs, grads: Sequence[str]) -> dict[str, Outcome]:
        jax = _jax()
        padding = case.padding if isinstance(case.padding, str) else [tuple(p) for p in case.padding]
        recipe = f"padding={padding!r}"
        dtype = dtypes.numpy_dtype(case.dtype)

        def forward(x, w):
            return jax.lax.conv_general_dilated(
                x, w, window_strides=case.strides, padding=padding,
                rhs_dilation=case.dilations,
                dimension_numbers=(case.data_format, case.filter_format, case.data_format))

        @once
        def vjp():
            y, pullback = jax.vjp(forward, inputs.x.astype(dtype), inputs.w.astype(dtype))
            return (y, *pullback(inputs.dy.astype(dtype)))

        thunks = {g: (lambda i=i: vjp()[i]) for i, g in enumerate(("y", "dx", "dw"))}
        return each_grad(grads, thunks, _finish, REFUSALS, recipe, False)


def _finish(grad: str, value) -> Outcome:
    array = np.asarray(value)
    return Outcome(values=array, dtype=str(array.dtype))


IMPLS = (JaxVjp(),)
