"""The statuses a verdict can have: one enum, used by every module that judges or renders.

``Status`` is a ``StrEnum``: a member equals its word (``Status.PASS == "pass"``),
so run records stay plain JSON and older records read as before.

Impl verdicts are ``pass``, ``fail``, ``error``, ``nondeterministic``,
``unsupported`` (a documented framework limitation, see
:mod:`harness.verdict.limitations`), ``skipped`` (cannot run here) or ``known`` (a
documented discrepancy). A source claim ``holds``, is ``wrong``, or is
``known``.
"""
from __future__ import annotations

from enum import StrEnum


class Status(StrEnum):
    PASS = "pass"
    FAIL = "fail"
    ERROR = "error"
    NONDETERMINISTIC = "nondeterministic"
    UNSUPPORTED = "unsupported"
    SKIPPED = "skipped"
    KNOWN = "known"
    HOLDS = "holds"
    WRONG = "wrong"


IMPL_STATUSES = (Status.PASS, Status.FAIL, Status.ERROR, Status.NONDETERMINISTIC,
                 Status.UNSUPPORTED, Status.SKIPPED, Status.KNOWN)
CLAIM_STATUSES = (Status.HOLDS, Status.WRONG, Status.KNOWN)

# Statuses that make a run exit 1: something is wrong and nobody has documented why.
FAILING = frozenset({Status.FAIL, Status.ERROR, Status.NONDETERMINISTIC, Status.WRONG})
# Statuses a reader should look at (the report's and the table's "problems").
PROBLEMS = FAILING | {Status.KNOWN}


def pass_status(kind: str = "impl") -> Status:
    """The passing status of a subject kind: ``pass`` for impls, ``holds`` for claims."""
    return Status.HOLDS if kind == "claim" else Status.PASS


def fail_status(kind: str = "impl") -> Status:
    """The failing status of a subject kind: ``fail`` for impls, ``wrong`` for claims."""
    return Status.WRONG if kind == "claim" else Status.FAIL
