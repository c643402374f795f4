"""The registry of implementations under test: built-in adapters plus plug-ins.

A plug-in package declares an entry point in the group ``convgrad.impls``
whose object is an impl (see :class:`harness.backend.adapters.base.Impl`), a class of
one, or a sequence of impls::

    [project.entry-points."convgrad.impls"]
    mylib = "mylib.convgrad_impls:IMPLS"

Importing this package imports no framework: each adapter imports its own
framework only when an impl is asked for its version or to compute.
"""
from __future__ import annotations

import fnmatch
import importlib
from dataclasses import dataclass, field
import warnings
from importlib.metadata import entry_points
from typing import Iterable, Sequence

from harness.backend import frameworks
from harness.safeio import printable
from harness.backend.adapters.base import Impl, Outcome, is_installed  # noqa: F401 (re-export)

ENTRY_POINT_GROUP = "convgrad.impls"


class UnknownImpl(ValueError):
    pass


def as_impls(obj: object, origin: str) -> list[Impl]:
    """``obj`` (an impl, an impl class, or a sequence of impls) as a checked list of impls."""
    if isinstance(obj, type):
        obj = obj()
    items = list(obj) if isinstance(obj, (list, tuple)) else [obj]
    for item in items:
        if not isinstance(item, Impl):
            raise TypeError(f"{origin}: {item!r} is not an impl (needs name, framework, "
                            "version() and compute())")
    return items


class UnloadableImpl:
    """A plug-in whose entry point failed to load: listed, never run (its verdicts are
    ``skipped`` with the reason), and a warning, not a crash of the run."""

    framework = "<plug-in>"

    def __init__(self, name: str, reason: str):
        self.name, self.reason = name, reason

    def version(self) -> str:
        raise RuntimeError(self.reason)

    def compute(self, case, inputs, grads):
        raise RuntimeError(self.reason)


def _plugins() -> list[Impl]:
    impls = []
    for ep in sorted(entry_points(group=ENTRY_POINT_GROUP), key=lambda e: e.name):
        origin = f"entry point {ep.name} = {ep.value}"
        try:
            impls += as_impls(ep.load(), origin)
        except Exception as exc:  # noqa: BLE001 - a broken plug-in costs itself, not the run
            reason = printable.line(f"plug-in {origin} failed to load: "
                                    f"{type(exc).__name__}: {exc}")[:2000]
            warnings.warn(reason, stacklevel=2)
            impls.append(UnloadableImpl(f"plugin.{ep.name}", reason))
    return impls


def all_impls() -> list[Impl]:
    """Built-in impls, then plug-ins, in a stable order; names are unique."""
    impls = [i for m in frameworks.adapter_modules() for i in importlib.import_module(m).IMPLS]
    impls += _plugins()
    names = [i.name for i in impls]
    duplicates = {n for n in names if names.count(n) > 1}
    if duplicates:
        raise TypeError(f"impl names registered twice: {sorted(duplicates)}")
    return impls


def select(patterns: Sequence[str] | None, impls: Iterable[Impl] | None = None) -> list[Impl]:
    """Impls whose names match any of ``patterns`` (shell globs, e.g. ``tf.*``); all if None."""
    impls = list(all_impls() if impls is None else impls)
    if not patterns:
        return impls
    chosen = []
    for pattern in patterns:
        matches = [i for i in impls if fnmatch.fnmatchcase(i.name, pattern)]
        if not matches:
            raise UnknownImpl(f"no impl matches {pattern!r}; known: "
                              f"{', '.join(i.name for i in impls)}")
        chosen += [m for m in matches if m not in chosen]
    return [i for i in impls if i in chosen]


@dataclass
class ImplInfo:
    """An impl as a run found it: available or not, its framework's version (or why it is
    unavailable), and the numerics path probed where it computes (harness.backend.platforms)."""
    impl: Impl
    available: bool
    version: str   # or the reason it is unavailable
    platform: dict = field(default_factory=dict)


def availability(impl: Impl) -> tuple[bool, str]:
    """(available, version or the reason it is not), importing the framework if installed."""
    if isinstance(getattr(impl, "base", impl), UnloadableImpl):
        return False, getattr(impl, "base", impl).reason
    if not is_installed(impl.framework):
        return False, f"{impl.framework} is not installed (pip install 'convgrad[...]')"
    try:
        return True, impl.version()
    except Exception as exc:  # noqa: BLE001 - a broken install is a skip, not a crash
        return False, f"{impl.framework} failed to import: {type(exc).__name__}: {exc}"
