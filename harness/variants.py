"""Impl variants: ``tf.backprop[onednn=off]``, ``torch.autograd[threads=1,memory=nhwc_view]``.

A variant is an impl plus settings. Settings an impl accepts are declared in
its ``variants`` mapping (setting -> allowed values, or ``int`` for a positive
integer). Some take effect through environment variables that must be set
before the framework is imported (``environment()``): such variants run only
in a worker process of their own, never in a process that already imported
the framework.
"""
from __future__ import annotations

import copy
import re

from harness.adapters.base import Impl

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
            if not value.isdigit() or int(value) < 1:
                raise VariantError(f"{impl.name}[{key}={value}]: expected a positive integer")
        elif value not in allowed[key]:
            raise VariantError(f"{impl.name}[{key}={value}]: expected one of "
                               f"{', '.join(allowed[key])}")


def make(impl: Impl, settings: dict[str, str]) -> Impl:
    """A copy of ``impl`` carrying ``settings``, named ``base[k=v,...]``."""
    _check(impl, settings)
    variant = copy.copy(impl)
    variant.settings = dict(settings)
    variant.name = name_of(impl.name, settings)
    return variant


def environment(impl: Impl) -> dict[str, str]:
    """Environment variables the impl's settings need before its framework is imported."""
    env_of = getattr(impl, "environment", None)
    return env_of() if env_of else {}
