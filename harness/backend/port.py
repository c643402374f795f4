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
import os
import sys
from pathlib import Path
from typing import Callable, Iterable, Optional, Sequence

import numpy as np

from harness.backend import frameworks
from harness.backend.adapters import ImplError, load_impls
from harness.backend.adapters.base import (LEGACY_OPS, Explained, Outcome, each_grad,
                                           framework_values)
from harness.case import ops
from harness.numerics import layouts
from harness.safeio import files

class FunctionImpl:
    """An impl made of a user's forward function (see the module docstring)."""

    def __init__(self, fn: Callable, framework: str, name: str, layout: Optional[str] = None,
                 ops: Iterable[str] = LEGACY_OPS):
        hooks = port_hooks(framework)
        if hooks is None:
            raise ValueError(f"framework must be one of {', '.join(port_frameworks())}, "
                             f"got {framework!r}")
        self.fn, self.framework, self.name = fn, framework, name
        self.layout = layout or hooks.layout
        if self.layout not in ("channels_first", "channels_last"):
            raise ValueError("layout must be 'channels_first' or 'channels_last'")
        self.ops = frozenset(ops)
        self.takes_case = len(inspect.signature(fn).parameters) >= 3

    def version(self) -> str:
        return importlib.import_module(self.framework).__version__

    def compute(self, case, inputs, grads):
        native = native_layouts(case, self.layout)
        arrays = {n: np.ascontiguousarray(to_native(case, n, getattr(inputs, n), native))
                  for n in ("x", "w", "dy")}
        thunks = port_hooks(self.framework).thunks(self._call, case, arrays)
        expected = {"y": arrays["dy"].shape, "dx": arrays["x"].shape, "dw": arrays["w"].shape}

        def finish(grad, value):
            values, dtype = framework_values(value)
            if grad != "y" and tuple(values.shape) != expected[grad]:
                raise PortShapeError(f"{self.name}: the gradient {grad} has shape "
                                     f"{tuple(values.shape)}, not the {expected[grad]} of "
                                     f"its input (layout {self.layout})")
            return Outcome(values=from_native(case, grad, values, native), dtype=dtype)
        guarded = {g: self._guard(thunks, g, expected["y"]) for g in grads}
        return each_grad(grads, guarded, finish, f"{self.name}: the user's function", False)

    def _guard(self, thunks, grad: str, y_shape) -> Callable[[], object]:
        """dx and dw need the function's y to have this case's shape (dy's): say so in
        one line, not as the framework's shape error from deep in its autodiff."""
        if grad == "y":
            return thunks["y"]

        def checked():
            shape = tuple(framework_values(thunks["y"]())[0].shape)
            if shape != tuple(y_shape):
                raise PortShapeError(
                    f"{self.name}: your function returned y of shape {shape}; this case's "
                    f"y (and dy) is {tuple(y_shape)} ({self.layout}), so there is no {grad} "
                    "to judge: the y verdict shows what went wrong (padding, strides or "
                    "dilation, usually)")
            return thunks[grad]()
        return checked

    def _call(self, x, w, case):
        return self.fn(x, w, case) if self.takes_case else self.fn(x, w)


class PortShapeError(Explained, ValueError):
    """A port's result or gradient of the wrong shape: its message is the whole story."""


def port_hooks(framework: str):
    """How a port in ``framework`` is run and differentiated: its adapter's ``PORT`` (an
    object with ``layout``, the layout a port receives by default, and ``thunks(call,
    case, arrays)``, the y, dx and dw of ``call`` by the framework's autodiff)."""
    adapter = frameworks.adapter(framework)
    return getattr(adapter, "PORT", None)


def port_frameworks() -> list[str]:
    return [m for m in frameworks.modules() if port_hooks(m) is not None]


def native_layouts(case, layout: str) -> dict[str, str]:
    """The layouts a port's function receives for ``case``: channels-first (torch's,
    ``NCHW`` and the forward conv's ``OIHW``; a depthwise filter as the grouped conv's
    ``(C * M, 1, *kernel)``, a transposed conv's as torch's ``(in, out, *kernel)``), or
    channels-last (TF's and JAX's ``NHWC`` with ``HWIO``, depthwise ``HWCM``, a transposed
    conv's ``HWIO`` of its forward conv, TF's ``conv2d_transpose`` filter)."""
    first = layout == "channels_first"
    data = layouts.data_formats(case.rank)[1 if first else 0]
    if first:
        return {"data": data, "filter": "canonical"}
    filt = (layouts.depthwise_formats(case.rank) if case.kind == "depthwise"
            else layouts.filter_formats(case.rank))[0]
    return {"data": data, "filter": filt}


def to_native(case, name: str, a: np.ndarray, native: dict) -> np.ndarray:
    if name != "w":
        return layouts.convert(a, case.data_format, native["data"])
    if native["filter"] == "canonical":
        return ops.to_canonical(case, "w", a)
    return layouts.convert(a, case.filter_format, native["filter"])


def from_native(case, grad: str, a: np.ndarray, native: dict) -> np.ndarray:
    if grad != "dw":
        return layouts.convert(a, native["data"], case.data_format)
    if native["filter"] == "canonical":
        return ops.from_canonical(case, "dw", a)
    return layouts.convert(a, native["filter"], case.filter_format)


def impl(fn: Callable, *, framework: str, name: str, layout: Optional[str] = None,
         ops: Iterable[str] = LEGACY_OPS) -> FunctionImpl:
    """``fn`` (a forward conv in ``framework``'s terms) as an impl named ``name``."""
    return FunctionImpl(fn, framework, name, layout, ops)


# --------------------------------------------------------------- --impl-module

class ImplModuleError(ImplError):
    """An ``--impl-module`` that cannot be loaded or holds no impls; ``str`` says why."""


def module_impls(spec: str, limit_s: Optional[float] = None) -> list:
    """The impls that ``--impl-module`` names: ``FILE.py[:ATTR]`` or ``MODULE[:ATTR]``
    (ATTR defaults to ``IMPLS``): an impl, an impl class, or a list of either.

    The module is user code run in this process: its import and every impl's attributes
    run under :class:`harness.backend.adapters.UserCode`, within ``limit_s`` seconds
    (default :data:`harness.backend.adapters.LOAD_LIMIT_S`), and whatever ends them (an
    exception, ``sys.exit``, a hang, an attribute that raises) is one
    :class:`ImplModuleError` line. The impls come back as checked snapshots
    (:class:`harness.backend.adapters.UserImpl`)."""

    target, _, attr = spec.partition(":") if not spec.endswith(".py") else (spec, "", "")
    if ":" in spec and spec.rsplit(":", 1)[0].endswith(".py"):
        target, attr = spec.rsplit(":", 1)
    origin = f"--impl-module {spec}"
    path = Path(target) if target.endswith(".py") else None
    if path is not None:
        try:
            files.regular_file(path, "Python file")
        except files.FileRefused as exc:
            raise ImplModuleError(f"{origin}: {exc.reason}") from None

    def load():
        if path is not None:
            # importable by its own name from its folder, so worker processes (which get
            # this sys.path) can unpickle what it defines
            folder = str(path.resolve().parent)
            if folder not in sys.path:
                sys.path.insert(0, folder)
            module = importlib.import_module(path.stem)
            if Path(str(module.__file__)).resolve() != path.resolve():
                raise ImplModuleError(f"{origin}: the name {path.stem!r} is already "
                                      f"{module.__file__}; rename the file")
        else:
            if os.getcwd() not in sys.path:
                # found from the folder convgrad runs in, as `python -m` would (the console
                # script's sys.path holds its own bin folder, not the cwd); after what is
                # installed, so a module of the cwd never shadows an installed one
                sys.path.append(os.getcwd())
            module = importlib.import_module(target)
        found = getattr(module, attr or "IMPLS")
        if isinstance(found, (list, tuple)) and not found:
            # else the run would fall back to the built-in impls: a green gate that never
            # judged the port
            raise ImplModuleError(f"{origin}: {attr or 'IMPLS'} is empty: no impl to judge")
        return found
    try:
        return load_impls(load, origin, limit_s)
    except ImplModuleError:
        raise
    except ImplError as exc:
        raise ImplModuleError(str(exc)) from None


def all_module_impls(specs: Sequence[str], limit_s: Optional[float] = None) -> list:
    return [i for spec in specs for i in module_impls(spec, limit_s)]
