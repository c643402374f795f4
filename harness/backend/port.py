"""Your own conv code as an impl, in a few lines: the migration audit's entry point.

A team porting a TensorFlow/Keras model to PyTorch or JAX (or the other way)
writes its forward function in its framework's own terms; :func:`impl` turns
it into an impl whose ``y`` is that function and whose ``dx`` and ``dw`` come
from the framework's autodiff, judged on any case::

    # myport.py
    import torch.nn.functional as F
    from harness.api import impl

    def conv(x, w, case):                 # x NCHW, w OIHW: torch's own layouts
        return F.conv2d(x, w, stride=case.strides, padding=1)   # the port under audit

    IMPLS = [impl(conv, framework="torch", name="myport.conv")]

    $ convgrad run --suite conformance --impl 'myport.*' --impl-module myport.py

The function takes ``(x, w)`` or ``(x, w, case)`` (the case gives the geometry:
``case.strides``, ``case.pads``, ``case.padding``, ``case.dilations``,
``case.groups``); arrays arrive in the framework's layout: channels-first
(``NCHW`` / ``OIHW``) for torch, channels-last (``NHWC`` / ``HWIO``) for
TensorFlow and JAX, unless ``layout=`` says otherwise. Only plain (grouped)
convolutions are handed to it (``ops=`` widens that). See docs/migration.md.
"""
from __future__ import annotations

import importlib
import inspect
import sys
from pathlib import Path
from typing import Callable, Iterable, Optional, Sequence

import numpy as np

from harness.numerics import dtypes, layouts
from harness.backend.adapters import as_impls
from harness.backend.adapters.base import LEGACY_OPS, each_grad, framework_outcome, once

LAYOUTS = {"torch": "channels_first", "tensorflow": "channels_last", "jax": "channels_last"}


class FunctionImpl:
    """An impl made of a user's forward function (see the module docstring)."""

    def __init__(self, fn: Callable, framework: str, name: str, layout: Optional[str] = None,
                 ops: Iterable[str] = LEGACY_OPS):
        if framework not in LAYOUTS:
            raise ValueError(f"framework must be one of {', '.join(LAYOUTS)}, got {framework!r}")
        self.fn, self.framework, self.name = fn, framework, name
        self.layout = layout or LAYOUTS[framework]
        if self.layout not in ("channels_first", "channels_last"):
            raise ValueError("layout must be 'channels_first' or 'channels_last'")
        self.ops = frozenset(ops)
        self.takes_case = len(inspect.signature(fn).parameters) >= 3

    def version(self) -> str:
        return importlib.import_module(self.framework).__version__

    def _layouts(self, case) -> tuple[str, str]:
        first = self.layout == "channels_first"
        data = layouts.data_formats(case.rank)[1 if first else 0]
        filt = layouts.filter_formats(case.rank)[1 if first else 0]
        return data, filt

    def compute(self, case, inputs, grads):
        data, filt = self._layouts(case)
        to = {"x": (case.data_format, data), "w": (case.filter_format, filt),
              "dy": (case.data_format, data)}
        arrays = {n: np.ascontiguousarray(layouts.convert(getattr(inputs, n), *to[n]))
                  for n in ("x", "w", "dy")}
        thunks = getattr(self, f"_{self.framework}")(case, arrays)
        back = {"y": (data, case.data_format), "dx": (data, case.data_format),
                "dw": (filt, case.filter_format)}
        return each_grad(grads, thunks, lambda g, v: framework_outcome(v, *back[g]),
                         f"{self.name}: the user's function", False)

    def _call(self, x, w, case):
        return self.fn(x, w, case) if self.takes_case else self.fn(x, w)

    def _torch(self, case, a):
        import torch   # a port converts with its own framework, imported only when used

        dtype = getattr(torch, case.dtype)
        staging = np.float32 if case.dtype == "bfloat16" else None

        def tensor(name):
            array = a[name] if staging is None else a[name].astype(staging)
            return torch.from_numpy(array).to(dtype)

        @once
        def forward():
            x, w = tensor("x").requires_grad_(True), tensor("w").requires_grad_(True)
            return x, w, self._call(x, w, case)

        def grad(i):
            x, w, y = forward()
            return torch.autograd.grad(y, (x, w)[i], tensor("dy"), retain_graph=True)[0]
        return {"y": lambda: forward()[2], "dx": lambda: grad(0), "dw": lambda: grad(1)}

    def _tensorflow(self, case, a):
        import tensorflow as tf   # as above: only a TF port pays for TensorFlow

        def tensor(name):
            return tf.cast(tf.constant(a[name]), case.dtype)

        @once
        def forward():
            x, w = tensor("x"), tensor("w")
            with tf.GradientTape(persistent=True) as tape:
                tape.watch([x, w])
                y = self._call(x, w, case)
            return tape, x, w, y

        def grad(i):
            tape, x, w, y = forward()
            return tape.gradient(y, (x, w)[i], output_gradients=tensor("dy"))
        return {"y": lambda: forward()[3], "dx": lambda: grad(0), "dw": lambda: grad(1)}

    def _jax(self, case, a):
        import jax   # as above: only a JAX port pays for JAX

        jax.config.update("jax_enable_x64", True)
        dtype = dtypes.numpy_dtype(case.dtype)

        @once
        def vjp():
            y, pullback = jax.vjp(lambda x, w: self._call(x, w, case),
                                  a["x"].astype(dtype), a["w"].astype(dtype))
            return (y, *pullback(a["dy"].astype(dtype)))
        return {g: (lambda i=i: vjp()[i]) for i, g in enumerate(("y", "dx", "dw"))}


def impl(fn: Callable, *, framework: str, name: str, layout: Optional[str] = None,
         ops: Iterable[str] = LEGACY_OPS) -> FunctionImpl:
    """``fn`` (a forward conv in ``framework``'s terms) as an impl named ``name``."""
    return FunctionImpl(fn, framework, name, layout, ops)


# --------------------------------------------------------------- --impl-module

class ImplModuleError(ValueError):
    """An ``--impl-module`` that cannot be loaded or holds no impls; ``str`` says why."""


def module_impls(spec: str) -> list:
    """The impls that ``--impl-module`` names: ``FILE.py[:ATTR]`` or ``MODULE[:ATTR]``
    (ATTR defaults to ``IMPLS``): an impl, an impl class, or a list of either."""

    target, _, attr = spec.partition(":") if not spec.endswith(".py") else (spec, "", "")
    if ":" in spec and spec.rsplit(":", 1)[0].endswith(".py"):
        target, attr = spec.rsplit(":", 1)
    try:
        if target.endswith(".py"):
            path = Path(target)
            if not path.is_file():
                raise ImplModuleError(f"--impl-module {spec}: no such file")
            # importable by its own name from its folder, so worker processes (which get
            # this sys.path) can unpickle what it defines
            folder = str(path.resolve().parent)
            if folder not in sys.path:
                sys.path.insert(0, folder)
            module = importlib.import_module(path.stem)
            if Path(module.__file__).resolve() != path.resolve():
                raise ImplModuleError(f"--impl-module {spec}: the name {path.stem!r} is "
                                      f"already {module.__file__}; rename the file")
        else:
            module = importlib.import_module(target)
        found = getattr(module, attr or "IMPLS")
    except ImplModuleError:
        raise
    except Exception as exc:  # noqa: BLE001 - the user's module: any failure is its message
        raise ImplModuleError(f"--impl-module {spec}: {type(exc).__name__}: {exc}") from None
    found = list(found) if isinstance(found, (list, tuple)) else [found]
    if not found:   # else the run would fall back to the built-in impls: a green gate
        raise ImplModuleError(f"--impl-module {spec}: {attr or 'IMPLS'} is empty: no impl "
                              "to judge")   # that never judged the port
    try:
        return as_impls([i() if isinstance(i, type) else i for i in found],
                        f"--impl-module {spec}")
    except TypeError as exc:
        raise ImplModuleError(str(exc)) from None


def all_module_impls(specs: Sequence[str]) -> list:
    return [i for spec in specs for i in module_impls(spec)]
