"""What an implementation under test is, and the helpers every adapter shares.

An impl is any object with ``name``, ``framework``, ``version()`` and
``compute(case, inputs, grads)``; arrays cross the boundary only as NumPy in
the case's own layouts. ``compute`` returns one :class:`Outcome` per grad: the
values, or the exception the framework raised. Whether an exception is a
documented limitation (``unsupported``) or an ``error`` is for the harness to
decide (:mod:`harness.verdict.limitations`), never for the adapter.
"""
from __future__ import annotations

import copy
import importlib.util
import re
import time
import traceback
from dataclasses import dataclass, field
from typing import Callable, Mapping, Optional, Protocol, Sequence, runtime_checkable

import numpy as np

from harness.numerics import layouts
from harness.backend import platforms
from harness.case.model import Case
from harness.case.values import Inputs


@dataclass
class Outcome:
    """One gradient from one impl: values, or why there are none."""

    values: Optional[np.ndarray] = None   # laid out as the case says, any float dtype
    dtype: str = ""                       # the dtype the framework returned
    unsupported: str = ""                 # a refusal the impl reports (the framework's words);
                                          # unsupported only if a documented limitation matches
    skipped: str = ""                     # cannot run here at all (no GPU, say)
    error: str = ""                       # an exception (type, message, traceback tail), or
                                          # why the worker died
    exception: str = ""                   # ``Type: message`` of that exception, for matching
                                          # against the documented limitations
    padding: str = ""                     # how the case's padding was expressed
    emulated: bool = False                # padding built from pad / crop, not native
    notes: list[str] = field(default_factory=list)
    compute_s: Optional[float] = None     # seconds the framework took for this grad
                                          # (each_grad measures it; None: not measured)


# Settings every built-in impl takes (see harness.backend.variants): where it runs, and
# whether NVIDIA GPUs may use TF32 for float32 convolutions.
# cpu=CLASS takes the paths of a lesser CPU (harness.backend.platforms.EMULATIONS).
COMMON_VARIANTS = {"device": ("cpu", "cuda"), "tf32": ("on", "off"),
                   "cpu": tuple(platforms.EMULATIONS)}


class Configurable:
    """A built-in impl's settings (see :mod:`harness.backend.variants`): ``with_settings`` returns a
    configured copy; ``compute`` reads ``self.settings``."""

    settings: Mapping[str, str] = {}

    def with_settings(self, settings: Mapping[str, str]) -> "Configurable":
        configured = copy.copy(self)
        configured.settings = dict(settings)
        return configured

    def environment(self) -> dict[str, str]:
        """Variables the settings need before the framework is imported: ``cpu=CLASS``'s."""
        cpu = self.settings.get("cpu")
        return platforms.emulation_environment(cpu) if cpu else {}


class Explained(Exception):
    """An error whose message says all there is (a port's result of the wrong shape): its
    verdict shows the message without a traceback through convgrad's own code."""


class NoDevice(Exception):
    """The requested device does not exist here: the verdict is ``skipped``."""


@runtime_checkable
class Impl(Protocol):
    name: str          # "<framework>.<path>", e.g. "torch.autograd"
    framework: str     # the importable module that must be installed, e.g. "torch"

    def version(self) -> str: ...

    def compute(self, case: Case, inputs: Inputs,
                grads: Sequence[str]) -> Mapping[str, Outcome]: ...


# What an impl that does not say (``ops``) is taken to implement: the ops convgrad
# had before the op registry, so an older plug-in is never handed an op it ignores.
LEGACY_OPS = frozenset({"conv1d", "conv2d", "conv3d"})


# What an impl that does not say (``grads``) is taken to compute: the first-order grads,
# so a plug-in written before forward mode and second order is never handed them.
FIRST_ORDER = ("y", "dx", "dw")


def grads_of(impl, case) -> tuple[str, ...]:
    """The case's grads ``impl`` computes (the others: :func:`missing_grad`)."""
    declared = getattr(impl, "grads", FIRST_ORDER)
    return tuple(g for g in case.grads if g in declared)


def missing_grad(impl, grad: str) -> str:
    """Why ``impl`` does not compute ``grad`` (its ``grad_notes``), or '' when it does."""
    if grad in getattr(impl, "grads", FIRST_ORDER):
        return ""
    notes = getattr(impl, "grad_notes", {}) or {}
    computed = ", ".join(getattr(impl, "grads", FIRST_ORDER))
    return notes.get(grad) or f"{impl.name} computes {computed}, not {grad}"


def missing_op(impl, op: str) -> str:
    """Why ``impl`` does not implement ``op`` (its ``op_notes``), or '' when it does."""
    if op in getattr(impl, "ops", LEGACY_OPS):
        return ""
    notes = getattr(impl, "op_notes", {}) or {}
    implemented = ", ".join(sorted(getattr(impl, "ops", LEGACY_OPS)))
    return notes.get(op) or f"{impl.name} implements {implemented}, not {op}"


def is_installed(module: str) -> bool:
    """Whether ``module`` can be imported, without importing it."""
    try:
        return importlib.util.find_spec(module) is not None
    except (ImportError, ValueError):
        return False


def describe_exception(exc: BaseException) -> str:
    """``Type: message``, the framework's own words, minus TF's ``{{function_node ...}}`` tag
    (an exception whose ``str`` raises is described by its type)."""
    try:
        message = str(exc)
    except BaseException:  # noqa: BLE001 - a plug-in's exception that cannot say itself
        message = "(its message could not be read)"
    text = re.sub(r"\{\{function_node [^}]*\}\}\s*", "", message).strip().splitlines()
    first = " ".join(line.strip() for line in text[:3])[:500]
    return f"{type(exc).__name__}: {first}" if first else type(exc).__name__


def failed(grads: Sequence[str], exc: BaseException, padding: str = "",
           emulated: bool = False) -> dict[str, Outcome]:
    """Outcomes for an exception: ``skipped`` for :class:`NoDevice`, else the exception
    (the harness judges whether it is a documented limitation)."""
    if isinstance(exc, NoDevice):
        return {g: Outcome(skipped=str(exc), padding=padding, emulated=emulated) for g in grads}
    message = describe_exception(exc)
    detail = message if isinstance(exc, Explained) else \
        message + "\n" + "".join(traceback.format_exception(exc)[-4:])
    return {g: Outcome(error=detail, exception=message, padding=padding, emulated=emulated)
            for g in grads}


def each_grad(grads: Sequence[str], thunks: Mapping[str, Callable[[], object]],
              finish: Callable[[str, object], Outcome], padding: str,
              emulated: bool) -> dict[str, Outcome]:
    """Compute and convert every grad on its own, so that an exception in one (a framework
    with no kernel for dx, say) does not cost the others their verdicts.

    Each outcome's ``compute_s`` is the wall time of its thunk and ``finish``: the
    framework's own calls, from NumPy inputs to the values back in NumPy (its first
    use of a shape, compilation included, falls on the grad that makes it; where grads
    share a forward pass, the first grad computed pays for it)."""
    outcomes = {}
    for g in grads:
        start = time.perf_counter()
        try:
            outcome = finish(g, thunks[g]())
        except Exception as exc:  # noqa: BLE001 - a failure costs this verdict, not the run
            outcome = failed([g], exc, padding, emulated)[g]
        outcome.compute_s = time.perf_counter() - start
        outcome.padding, outcome.emulated = padding, emulated
        outcomes[g] = outcome
    return outcomes


def checked_outcomes(result: object, grads: Sequence[str]) -> dict[str, Outcome]:
    """What an impl's ``compute`` returned, as one :class:`Outcome` per grad: anything that
    is not (a mapping with an Outcome per grad whose values are a real floating-point
    array) becomes that grad's ``error`` saying what was wrong, never a crash of the run."""
    if not isinstance(result, Mapping):
        what = f"compute() returned {type(result).__name__}, not a mapping of grad -> Outcome"
        return {g: Outcome(error=what) for g in grads}
    out = {}
    for g in grads:
        outcome = result.get(g)
        if not isinstance(outcome, Outcome):
            what = ("no outcome" if outcome is None else
                    f"a {type(outcome).__name__} instead of an Outcome")
            out[g] = Outcome(error=f"compute() returned {what} for {g}")
            continue
        if outcome.values is not None and not (outcome.error or outcome.unsupported
                                               or outcome.skipped):
            problem = value_problem(outcome.values)
            if problem:
                outcome = Outcome(error=f"{g}: {problem}", dtype=outcome.dtype,
                                  padding=outcome.padding, emulated=outcome.emulated,
                                  notes=list(outcome.notes))
        elif not (outcome.error or outcome.unsupported or outcome.skipped):
            outcome = Outcome(error=f"{g}: the outcome has no values and says no reason",
                              padding=outcome.padding, emulated=outcome.emulated)
        out[g] = outcome
    return out


def value_problem(values: object) -> str:
    """Why ``values`` cannot be a gradient (empty string if it can): it must be a NumPy
    array of a real floating-point dtype (bfloat16 included)."""
    if not isinstance(values, np.ndarray):
        return f"values are a {type(values).__name__}, not a NumPy array"
    kind = values.dtype.kind
    if kind == "c":
        return f"values are complex ({values.dtype}); a real gradient was expected"
    if kind != "f" and values.dtype.name != "bfloat16":
        return f"values have dtype {values.dtype}, not a floating-point dtype"
    return ""


def once(fn: Callable[[], object]) -> Callable[[], object]:
    """``fn`` evaluated at most once (a shared forward pass); its exception re-raised each call."""
    cache: list = []

    def wrapper():
        if not cache:
            try:
                cache.append((fn(), None))
            except Exception as exc:  # noqa: BLE001 - re-raised to every caller below
                cache.append((None, exc))
        value, exc = cache[0]
        if exc is not None:
            raise exc
        return value
    return wrapper


def framework_values(value) -> tuple[np.ndarray, str]:
    """A torch, TensorFlow or JAX (or NumPy) result as (NumPy array, its dtype's name);
    bfloat16 through float32, which holds it exactly."""
    if hasattr(value, "detach"):                       # torch
        dtype = str(value.dtype).removeprefix("torch.")
        value = value.detach().float() if dtype == "bfloat16" else value.detach()
        return value.cpu().numpy(), dtype
    if hasattr(value, "numpy"):                        # TensorFlow
        return value.numpy(), value.dtype.name
    array = np.asarray(value)                          # JAX, NumPy
    return array, str(array.dtype)


def framework_outcome(value, src: str, dst: str) -> Outcome:
    """A framework's result (:func:`framework_values`) as an Outcome in layout ``dst``."""
    array, dtype = framework_values(value)
    return Outcome(values=layouts.convert(array, src, dst), dtype=dtype)


def numpy_pad(a: np.ndarray, layout: str, pads: Sequence[tuple[int, int]]) -> np.ndarray:
    """Zero-pad the spatial dims (D, H, W letters) of ``a`` laid out as ``layout``."""
    widths = [(0, 0)] * a.ndim
    spatial = [i for i, letter in enumerate(layout) if letter in "DHW"]
    for dim, pair in zip(spatial, pads):
        widths[dim] = tuple(pair)
    return np.pad(a, widths)


def numpy_crop(a: np.ndarray, layout: str, pads: Sequence[tuple[int, int]]) -> np.ndarray:
    """Inverse of :func:`numpy_pad`: drop the padded border."""
    index = [slice(None)] * a.ndim
    spatial = [i for i, letter in enumerate(layout) if letter in "DHW"]
    for dim, (before, after) in zip(spatial, pads):
        index[dim] = slice(before, a.shape[dim] - after)
    return a[tuple(index)]


def compute_guarded(impl: Impl, case, inputs, grads, repeat: int) -> list[dict[str, Outcome]]:
    """``repeat`` evaluations, each checked (:func:`checked_outcomes`); an exception escaping
    the impl, even ``SystemExit``, ``GeneratorExit`` or another ``BaseException``, costs this
    case's verdicts, not the run (a ``KeyboardInterrupt`` is taken as the user's Ctrl-C)."""
    runs = []
    try:
        for _ in range(repeat):
            runs.append(checked_outcomes(impl.compute(case, inputs, grads), grads))
    except KeyboardInterrupt:
        raise
    except BaseException as exc:  # noqa: BLE001 - a broken impl costs its verdicts
        return [failed(grads, exc)]
    return runs
