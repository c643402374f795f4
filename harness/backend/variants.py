"""Impl variants: ``tf.backprop[onednn=off]``, ``torch.autograd[threads=1,memory=nhwc_view]``.

A variant is an impl plus settings. Settings an impl accepts are declared in
its ``variants`` mapping (setting -> allowed values, or ``int`` for a positive
integer). Some take effect through environment variables that must be set
before the framework is imported (``environment()``): such variants run only
in a worker process of their own, never in a process that already imported
the framework.
"""
from __future__ import annotations

import re
from typing import Sequence

from harness.backend import platforms
from harness.backend.adapters import all_impls, select
from harness.backend.adapters.base import Impl

SPEC = re.compile(r"^(?P<name>[^\[\]]+)(\[(?P<settings>[^\[\]]*)\])?$")


class VariantError(ValueError):
    pass


def parse(spec: str) -> tuple[str, dict[str, str]]:
    """``'tf.tape[onednn=off]'`` -> ``('tf.tape', {'onednn': 'off'})``."""
    m = SPEC.match(spec.strip())
    if not m:
        raise VariantError(f"{spec!r} is not NAME or NAME[setting=value,...]")
    settings = {}
    for item in filter(None, (m["settings"] or "").split(",")):
        key, sep, value = item.partition("=")
        if not sep or not key.strip() or not value.strip():
            raise VariantError(f"{spec!r}: {item!r} is not setting=value")
        settings[key.strip()] = value.strip()
    return m["name"].strip(), settings


def name_of(base: str, settings: dict[str, str]) -> str:
    if not settings:
        return base
    return f"{base}[{','.join(f'{k}={v}' for k, v in sorted(settings.items()))}]"


def declared(impl: Impl) -> dict:
    return getattr(impl, "variants", {}) or {}


def describe(impl: Impl) -> str:
    """``onednn=on|off threads=N`` for ``convgrad list``."""
    parts = []
    for key, allowed in declared(impl).items():
        parts.append(f"{key}=N" if allowed is int else f"{key}={'|'.join(allowed)}")
    return " ".join(parts)


def _check(impl: Impl, settings: dict[str, str]) -> None:
    allowed = declared(impl)
    for key, value in settings.items():
        if key not in allowed:
            known = describe(impl) or "none"
            raise VariantError(f"{impl.name} has no setting {key!r}; its settings: {known}")
        if allowed[key] is int:
            # ASCII digits only ('²'.isdigit() holds, int('²') raises), and a bounded count
            if not (value.isascii() and value.isdigit() and len(value) <= 6) or int(value) < 1:
                raise VariantError(f"{impl.name}[{key}={value[:40]!r}]: expected a positive "
                                   "integer up to 999999")
        elif value not in allowed[key]:
            raise VariantError(f"{impl.name}[{key}={value}]: expected one of "
                               f"{', '.join(allowed[key])}")
        if key == "cpu":
            try:
                platforms.check_emulation(value)
            except platforms.EmulationError as exc:
                raise VariantError(f"{impl.name}[{key}={value}]: {exc}") from None


class Variant:
    """An impl with settings, wrapping it: the impl itself is never changed (a frozen or
    shared third-party impl works). The wrapped impl takes the settings through
    ``with_settings(settings)``, which returns a configured impl of its own."""

    def __init__(self, impl: Impl, settings: dict[str, str]):
        configure = getattr(impl, "with_settings", None)
        if not callable(configure):
            raise VariantError(f"{impl.name} declares settings but has no "
                               "with_settings(settings) to take them")
        self.base, self.settings = impl, dict(settings)
        self.configured = configure(dict(settings))
        self.name = name_of(impl.name, settings)
        self.framework = impl.framework
        self.variants = declared(impl)
        for attr in ("ops", "op_notes", "grads", "grad_notes"):
            if hasattr(impl, attr):
                setattr(self, attr, getattr(impl, attr))

    def version(self) -> str:
        return self.configured.version()

    def environment(self) -> dict[str, str]:
        env_of = getattr(self.configured, "environment", None)
        return env_of() if env_of else {}

    def compute(self, case, inputs, grads):
        return self.configured.compute(case, inputs, grads)

    def __repr__(self) -> str:
        return f"Variant({self.name})"


def make(impl: Impl, settings: dict[str, str]) -> Impl:
    """``impl`` itself when there are no settings, else a :class:`Variant` named
    ``base[k=v,...]`` carrying them."""
    _check(impl, settings)
    return Variant(impl, settings) if settings else impl


def environment(impl: Impl) -> dict[str, str]:
    """Environment variables the impl's settings need before its framework is imported."""
    env_of = getattr(impl, "environment", None)
    return env_of() if env_of else {}


def split_specs(values: Sequence[str] | None) -> list[str] | None:
    """``--impl`` values split on commas outside brackets: ``a[x=1,y=2],b`` -> two specs."""
    if not values:
        return None
    specs = []
    for value in values:
        specs += [s.strip() for s in re.split(r",(?![^\[]*\])", value) if s.strip()]
    return specs


def parse_paths(value: str | None) -> list[dict[str, str]]:
    """``--platforms``: the numerics paths to judge each impl on, as settings each adds.
    ``native`` (the default): as this machine runs it; ``all``: that and every ``cpu=`` class
    this machine can lower itself to (:func:`harness.backend.platforms.emulations_here`); or a
    comma-separated list of ``native`` and ``cpu=CLASS``."""
    if not value or value == "native":
        return [{}]
    if value == "all":
        return [{}] + [{"cpu": name} for name in platforms.emulations_here()]
    paths: list[dict[str, str]] = []
    for item in filter(None, (v.strip() for v in value.split(","))):
        if item == "native":
            path = {}
        else:
            key, sep, name = item.partition("=")
            if key != "cpu" or not sep:
                raise VariantError(f"--platforms: {item!r} is not native or cpu=CLASS")
            try:
                platforms.check_emulation(name)
            except platforms.EmulationError as exc:
                raise VariantError(f"--platforms: {exc}") from None
            path = {"cpu": name}
        if path not in paths:
            paths.append(path)
    return paths or [{}]


def resolve(specs: Sequence[str] | None, registry: Sequence[Impl] | None = None,
            run_wide: dict[str, str] | None = None,
            paths: Sequence[dict[str, str]] = ({},)) -> list[Impl]:
    """The impls ``--impl`` names (globs and variants, default all) over ``registry``
    (default: the built-in impls and plug-ins), each with ``run_wide`` settings
    (``--device``, ``--tf32``) under its own, once per path of ``paths``
    (:func:`parse_paths`; an impl that cannot take ``cpu=`` runs natively only, and a spec
    that names its own ``cpu=`` keeps it)."""
    chosen: list[Impl] = []
    if not split_specs(specs):   # no --impl: every impl that is judged by default
        registry = [i for i in (all_impls() if registry is None else registry)
                    if getattr(i, "default", True)]
    for spec in split_specs(specs) or ["*"]:
        base, settings = parse(spec)
        for impl in select([base], registry):
            for path in paths:
                if path and ("cpu" in settings or "cpu" not in declared(impl)):
                    continue
                variant = make(impl, {**(run_wide or {}), **path, **settings})
                if variant.name not in [c.name for c in chosen]:
                    chosen.append(variant)
    return chosen

