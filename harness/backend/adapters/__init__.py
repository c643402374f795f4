"""The registry of implementations under test: built-in adapters plus plug-ins.

A plug-in package declares an entry point in the group ``convgrad.impls``
whose object is an impl (see :class:`harness.backend.adapters.base.Impl`), a class of
one, or a sequence of impls::

    [project.entry-points."convgrad.impls"]
    mylib = "mylib.convgrad_impls:IMPLS"

Importing this package imports no framework: each adapter imports its own
framework only when an impl is asked for its version or to compute.

User code (a plug-in's entry point, an ``--impl-module``) runs in convgrad's own
process only while it is loaded, under :class:`UserCode`: within a time limit,
and with its exit (``sys.exit``, ``KeyboardInterrupt`` it raises itself, any
``BaseException``) turned into one :class:`ImplError` line. Every attribute the
main process reads of an impl is read then, once, and checked
(:class:`UserImpl`); afterwards only ``version()`` and ``compute()`` reach the
user's object, in the worker process that hosts it.
"""
from __future__ import annotations

import fnmatch
import importlib
import itertools
import os
import pickle
import re
import signal
import threading
import time
import warnings
from collections.abc import Mapping
from dataclasses import dataclass, field
from importlib.metadata import entry_points
from typing import Callable, Iterable, Optional, Sequence

from harness.backend import frameworks
from harness.safeio import printable
from harness.backend.adapters.base import FIRST_ORDER, LEGACY_OPS, is_installed
from harness.backend.adapters.base import Impl, Outcome  # noqa: F401 (re-export)

ENTRY_POINT_GROUP = "convgrad.impls"

# How long loading user code may take: importing a plug-in's entry point or an
# --impl-module (its framework's import included) and reading its impls. An
# --impl-module gets the run's --timeout instead where the front end has one.
LOAD_LIMIT_S = 120.0
# After the limit, user code that swallows the interruption is given this much longer;
# then convgrad prints one line and exits (status 2): nothing else can stop it.
GIVE_UP_AFTER_S = 10.0
MAX_IMPLS = 1000                  # impls one module or entry point may hold
MAX_NAME = 200                    # characters of an impl's name
MAX_ITEMS = 1000                  # settings, variants, ops, grads, notes of one impl
MAX_TEXT = 2000                   # characters of a note, a setting, a variable
NAME_BREAKERS = re.compile(r"[\s\[\],]")
FRAMEWORK_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)*")


class UnknownImpl(ValueError):
    pass


class ImplError(ValueError):
    """User code (a plug-in, an ``--impl-module``, an impl's attribute) that cannot be used;
    ``str`` is one line saying whose and why, ``detail`` the why alone."""

    def __init__(self, message: object, detail: object = ""):
        super().__init__(printable.excerpt(message, MAX_TEXT))
        self.detail = printable.excerpt(detail or message, MAX_TEXT)


class _Expired(BaseException):
    """Raised into user code whose time is up (a BaseException: ``except Exception`` in the
    user's code does not swallow it)."""


def describe(exc: BaseException) -> str:
    """``Type: message`` of any exception, even one whose ``str`` raises."""
    try:
        text = str(exc)
    except BaseException:  # noqa: BLE001 - a message that cannot be read is no crash
        text = "<a message that could not be read>"
    name = type(exc).__name__
    return f"{name}: {text}" if text else name


_ACTIVE: list["UserCode"] = []


class UserCode:
    """``with UserCode(what, limit_s):`` around user code run in this process (a module's
    import, an impl's attributes, ``with_settings``). Whatever ends it other than returning
    (an exception, ``SystemExit``, ``GeneratorExit``, a ``KeyboardInterrupt`` it raises
    itself) becomes an :class:`ImplError` ``"{what}: Type: message"``; a Ctrl-C the user
    pressed stays a ``KeyboardInterrupt``. In the main thread it is bounded in time: at
    ``limit_s`` (and every second after) an exception is raised into it, and should it
    still run :data:`GIVE_UP_AFTER_S` later, convgrad says so and exits with status 2.
    Elsewhere (another thread) only its exceptions are caught."""

    def __init__(self, what: str, limit_s: Optional[float] = None):
        self.what = what
        self.limit_s = LOAD_LIMIT_S if limit_s is None else float(limit_s)
        self.pressed = self.expired = False
        self.armed = self.watching_int = False

    @property
    def root(self) -> "UserCode":
        return _ACTIVE[0] if _ACTIVE else self

    def __enter__(self) -> "UserCode":
        outer = bool(_ACTIVE)
        _ACTIVE.append(self)
        if not outer and threading.current_thread() is threading.main_thread():
            self._arm()
        return self

    def _arm(self) -> None:
        self.armed = True
        self.started = time.monotonic()
        self.old_int = signal.getsignal(signal.SIGINT)
        if self.old_int is signal.default_int_handler:
            signal.signal(signal.SIGINT, self._on_int)
            self.watching_int = True
        self.old_alarm = signal.signal(signal.SIGALRM, self._on_alarm)
        self.old_timer = signal.setitimer(signal.ITIMER_REAL, max(self.limit_s, 0.001), 1.0)
        self.finished = threading.Event()
        threading.Thread(target=self._watch, name="convgrad-user-code-watch",
                         daemon=True).start()

    def _disarm(self) -> None:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, self.old_alarm)
        if self.old_timer[0] > 0:   # someone else's timer (pytest-timeout): left running
            left = self.old_timer[0] - (time.monotonic() - self.started)
            signal.setitimer(signal.ITIMER_REAL, max(left, 0.001), self.old_timer[1])
        if self.watching_int:
            signal.signal(signal.SIGINT, self.old_int)
        self.finished.set()

    def _on_int(self, signum, frame) -> None:
        self.pressed = True
        raise KeyboardInterrupt

    def _on_alarm(self, signum, frame) -> None:
        self.expired = True
        if frame is not None and frame.f_globals.get("__name__") == __name__:
            return   # in this guard's own code (its exit, say): the next tick, or the exit
        raise _Expired()  # into the user's code: it unwinds to __exit__

    def _watch(self) -> None:
        if self.finished.wait(self.limit_s + GIVE_UP_AFTER_S):
            return
        try:
            os.write(2, (f"error: {printable.excerpt(self.what, 500)}: still running "
                         f"{self.limit_s + GIVE_UP_AFTER_S:g} s after it started, although "
                         f"stopped at {self.limit_s:g} s; convgrad gives up\n").encode(
                             "utf-8", "replace"))
        finally:
            os._exit(2)

    def timed_out(self) -> ImplError:
        detail = (f"did not finish within {self.limit_s:g} s (it hangs, or waits for "
                  "something that does not come)")
        return ImplError(f"{self.what}: {detail}", detail)

    def error(self, exc: BaseException, doing: str = "") -> Optional[BaseException]:
        """What ``exc``, escaping user code, becomes: ``None`` to let it through (a Ctrl-C,
        the expiry an outer guard reports, an ImplError already said), else an ImplError."""
        root = self.root
        if isinstance(exc, ImplError):
            return None
        if isinstance(exc, _Expired):
            return self.timed_out() if self.armed else None
        if isinstance(exc, KeyboardInterrupt) and (root.pressed or not root.watching_int):
            return None   # Ctrl-C (or, where SIGINT is not watched, taken to be one)
        return ImplError(f"{self.what}: {doing}{describe(exc)}", f"{doing}{describe(exc)}")

    def __exit__(self, exc_type, exc, tb) -> bool:
        try:
            if self.armed:
                self._disarm()
        finally:
            _ACTIVE.remove(self)
        if exc is None:
            if self.armed and self.expired:   # it swallowed the expiry and went on
                raise self.timed_out()
            return False
        replacement = self.error(exc)
        if replacement is not None:
            raise replacement from None
        return False


def _active() -> UserCode:
    return _ACTIVE[-1] if _ACTIVE else UserCode("user code")


# ---------------------------------------------------------------- snapshots

_MISSING = object()


def _read(obj: object, attr: str, label: str, default: object = _MISSING,
          convert: Optional[Callable[[object], object]] = None) -> object:
    """``convert(getattr(obj, attr, default))`` (``default`` is not converted); anything
    else the attribute or its conversion raises is an ImplError naming ``attr``."""
    try:
        value = getattr(obj, attr)
    except AttributeError:
        if default is _MISSING:
            raise _bad(label, f"has no {attr!r}") from None
        return default
    except BaseException as exc:  # noqa: BLE001 - the user's attribute: its failure, named
        _reraise(exc, f"{label}: reading its {attr!r} raised ")
    if convert is None:
        return value
    try:
        return convert(value)
    except BaseException as exc:  # noqa: BLE001 - the user's value: its failure, named
        _reraise(exc, f"{label}: reading its {attr!r} raised ")


def _call(fn: Callable[[], object], label: str, doing: str) -> object:
    try:
        return fn()
    except BaseException as exc:  # noqa: BLE001 - the user's code: its failure, named
        _reraise(exc, f"{label}: {doing} raised " if label else f"{doing} raised ")


def _reraise(exc: BaseException, doing: str):
    replacement = _active().error(exc, doing)
    if replacement is None:
        raise exc
    raise replacement from None


def _bad(label: str, problem: str) -> ImplError:
    return ImplError(f"{_active().what}: {label}: {problem}", f"{label}: {problem}")


def _text(value: object, label: str, what: str, limit: int = MAX_TEXT) -> str:
    """``value`` as plain text (a ``str`` subclass as a plain copy: none of its methods runs
    again), at most ``limit`` characters."""
    if not isinstance(value, str):
        raise _bad(label, f"{what} is a {type(value).__name__}, not text")
    value = str.__str__(value)
    if len(value) > limit:
        raise _bad(label, f"{what} is {len(value)} characters; at most {limit}")
    return value


def _items(value: object, label: str, what: str) -> list:
    """The first items of a list, tuple, set or other iterable (at most MAX_ITEMS)."""
    if isinstance(value, (str, bytes)) or isinstance(value, Mapping):
        raise _bad(label, f"{what} is a {type(value).__name__}, not a collection of names")
    items = list(itertools.islice(iter(value), MAX_ITEMS + 1))
    if len(items) > MAX_ITEMS:
        raise _bad(label, f"{what} has more than {MAX_ITEMS} items")
    return items


def _text_map(value: object, label: str, what: str) -> dict[str, str]:
    if not isinstance(value, Mapping):
        raise _bad(label, f"{what} is a {type(value).__name__}, not a mapping of text")
    keys = _items(value.keys(), label, what)
    return {_text(k, label, f"a key of {what}"): _text(value[k], label, f"{what}[{k!r}]")
            for k in keys}


def _variants(value: object, label: str) -> dict:
    if not isinstance(value, Mapping):
        raise _bad(label, f"variants is a {type(value).__name__}, not a mapping of setting "
                          "-> allowed values (or int)")
    out: dict = {}
    for key in _items(value.keys(), label, "variants"):
        key = _text(key, label, "a setting of variants", 100)
        allowed = value[key]
        out[key] = int if allowed is int else tuple(
            _text(v, label, f"an allowed value of variants[{key!r}]", 200)
            for v in _items(allowed, label, f"variants[{key!r}]"))
    return out


class UserImpl:
    """An impl of user code (a plug-in's, an ``--impl-module``'s) as convgrad's process
    sees it. What convgrad reads of an impl (``name``, ``framework``, ``variants``,
    ``settings``, ``ops``, ``grads`` and their notes, ``default``, ``environment()``,
    ``backend``, and the pickle that carries it to a worker) is read once, when it is
    loaded, under :class:`UserCode`, and checked; equality is identity. Afterwards only
    ``version()`` and ``compute()`` reach the user's object (``with_settings`` makes a
    configured one, loaded the same way)."""

    def __init__(self, impl: object, fields: dict, pickled: Optional[bytes], unpicklable: str):
        self.impl = impl
        self.__dict__.update(fields)
        self._fields, self._pickled, self._unpicklable = fields, pickled, unpicklable
        if fields.get("_configurable"):
            self.with_settings = self._with_settings

    # -- what the main process reads: plain values, set in __init__
    name: str
    framework: str

    def environment(self) -> dict[str, str]:
        return dict(self._fields.get("_environment", {}))

    def _with_settings(self, settings: Mapping[str, str]) -> "UserImpl":
        settings = dict(settings)
        with UserCode(f"impl {self.name}"):
            configured = _call(lambda: self.impl.with_settings(dict(settings)), "",
                               f"with_settings({settings})")
            return snapshot(configured, f"the impl with_settings({settings}) returned",
                            base=self)

    # -- what reaches the user's object
    def version(self) -> str:
        try:
            version = self.impl.version()
        except (Exception, KeyboardInterrupt):
            raise
        except BaseException as exc:  # noqa: BLE001 - SystemExit and kin: an unavailability
            raise RuntimeError(f"version() raised {describe(exc)}") from None
        if not isinstance(version, str):
            raise TypeError(f"version() returned a {type(version).__name__}, not text")
        return str.__str__(version)   # a plain copy (torch's is a TorchVersion)

    def compute(self, case, inputs, grads):
        return self.impl.compute(case, inputs, grads)

    def __reduce__(self):
        if self._pickled is None:
            raise pickle.PicklingError(self._unpicklable)
        return (_unpickle, (self._pickled, self._fields))

    def __repr__(self) -> str:
        return f"UserImpl({self.name})"


def _unpickle(pickled: bytes, fields: dict) -> UserImpl:
    """A :class:`UserImpl` in the worker: the user's object from its pickle taken at load."""
    return UserImpl(pickle.loads(pickled), fields, pickled, "")


def snapshot(obj: object, label: str, base: Optional[UserImpl] = None) -> UserImpl:
    """``obj`` (a user's impl) as a :class:`UserImpl`: every attribute read and checked
    now. Call it inside :class:`UserCode`; problems are :class:`ImplError` naming
    ``label`` and the attribute. ``base``: the impl whose ``with_settings`` made ``obj``
    (its name and framework are the base's)."""
    fields: dict = {}
    if base is None:
        name = _text(_read(obj, "name", label), label, "name", MAX_NAME)
        if not name or NAME_BREAKERS.search(name) or not name.isprintable():
            raise _bad(label, f"name {printable.excerpt(name)!r} is not a name convgrad can "
                              "select: printable, without spaces, brackets or commas")
        label = f"{label} ({name})"
        framework = _text(_read(obj, "framework", label), label, "framework", 100)
        if not FRAMEWORK_NAME.fullmatch(framework):
            raise _bad(label, f"framework {printable.excerpt(framework)!r} is not the name "
                              "of an importable module")
        fields.update(name=name, framework=framework)
    else:
        fields.update(name=base.name, framework=base.framework)
    for method in ("version", "compute"):
        if not callable(_read(obj, method, label, None)):
            raise _bad(label, f"{type(obj).__name__} is not an impl (needs name, framework, "
                              "version() and compute())")
    if base is None:
        fields["variants"] = _read(obj, "variants", label, {},
                                   lambda v: _variants(v, label) if v else {})
        fields["settings"] = _read(obj, "settings", label, {},
                                   lambda v: _text_map(v, label, "settings") if v else {})
        fields["ops"] = _read(obj, "ops", label, LEGACY_OPS, lambda v: frozenset(
            _text(o, label, "an op", 100) for o in _items(v, label, "ops")))
        fields["grads"] = _read(obj, "grads", label, FIRST_ORDER, lambda v: tuple(
            _text(g, label, "a grad", 100) for g in _items(v, label, "grads")))
        for notes in ("op_notes", "grad_notes"):
            fields[notes] = _read(obj, notes, label, {},
                                  lambda v, n=notes: _text_map(v, label, n) if v else {})
        fields["default"] = _read(obj, "default", label, True, lambda v: v if type(v) is bool
                                  else _raise(_bad(label, f"default is a {type(v).__name__}, "
                                                          "not True or False")))
        configure = _read(obj, "with_settings", label, None)
        if configure is not None and not callable(configure):
            raise _bad(label, "with_settings is not a method")
        fields["_configurable"] = configure is not None
    environment = _read(obj, "environment", label, None)
    if environment is not None:
        if not callable(environment):
            raise _bad(label, "environment is not a method")
        fields["_environment"] = _text_map(_call(environment, label, "environment()"),
                                           label, "environment()")
    backend = _read(obj, "backend", label, None)
    if isinstance(backend, str):
        fields["backend"] = _text(backend, label, "backend", 100)
    _call(lambda: is_installed(fields["framework"]), label, "finding its framework")
    try:
        pickled, unpicklable = pickle.dumps(obj, protocol=pickle.HIGHEST_PROTOCOL), ""
    except _Expired:
        raise
    except BaseException as exc:  # noqa: BLE001 - whatever stops it reaching a worker
        if isinstance(exc, KeyboardInterrupt) and _active().error(exc) is None:
            raise   # the user pressed Ctrl-C
        pickled, unpicklable = None, describe(exc)
    return UserImpl(obj, fields, pickled, unpicklable)


def _raise(exc: BaseException):
    raise exc


def as_impls(obj: object, origin: str) -> list[UserImpl]:
    """``obj`` (an impl, an impl class, or a sequence of either) as checked
    :class:`UserImpl` snapshots. Call it inside :class:`UserCode`; problems are one
    :class:`ImplError` line naming ``origin``, the impl and the attribute."""
    if isinstance(obj, type):
        obj = _call(obj, "", f"creating {obj.__name__}()")
    items = _items(obj, "its list of impls", "it") if isinstance(obj, (list, tuple)) else [obj]
    impls = []
    for i, item in enumerate(items):
        label = f"impl {i}" if len(items) > 1 else "impl"
        if isinstance(item, type):
            item = _call(item, label, f"creating {item.__name__}()")
        impls.append(snapshot(item, label))
    return impls


def load_impls(load: Callable[[], object], origin: str,
               limit_s: Optional[float] = None) -> list[UserImpl]:
    """The impls of user code: ``load()`` (an import and an attribute) and every impl's
    attributes, under :class:`UserCode` (time-bounded, its exits caught)."""
    with UserCode(origin, limit_s):
        return as_impls(load(), origin)


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


_LOADED: dict[tuple[str, str], list] = {}   # entry point -> its impls, loaded once a process


def _plugins() -> list[Impl]:
    impls = []
    for ep in sorted(entry_points(group=ENTRY_POINT_GROUP), key=lambda e: e.name):
        origin = f"plug-in entry point {ep.name} = {ep.value}"
        key = (ep.name, ep.value)
        if key not in _LOADED:
            try:
                _LOADED[key] = load_impls(ep.load, origin)
            except ImplError as exc:   # a broken plug-in costs itself, not the run
                reason = printable.excerpt(f"{origin} failed to load: {exc.detail}", MAX_TEXT)
                _LOADED[key] = [UnloadableImpl(printable.excerpt(f"plugin.{ep.name}", 100),
                                               reason)]
        for impl in _LOADED[key]:
            if isinstance(impl, UnloadableImpl):
                warnings.warn(impl.reason, stacklevel=2)
        impls += _LOADED[key]
    return impls


def all_impls() -> list[Impl]:
    """Built-in impls, then plug-ins, in a stable order; names are unique."""
    impls = [i for m in frameworks.adapter_modules() for i in importlib.import_module(m).IMPLS]
    impls += _plugins()
    names = [i.name for i in impls]
    duplicates = {n for n in names if names.count(n) > 1}
    if duplicates:
        raise ImplError(f"impl names registered twice: {', '.join(sorted(duplicates))}")
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
        chosen += [m for m in matches if not any(m is c for c in chosen)]
    return [i for i in impls if any(i is c for c in chosen)]


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
