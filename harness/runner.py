"""Run cases through impls and judge them: the data flow of DESIGN.md in one place.

For each case: materialize the inputs, ask the oracle, judge the source
claims, then let every selected impl compute and judge each grad. Nothing here
prints; :mod:`harness.cli` and the pytest plugin decide what a failure means.
"""
from __future__ import annotations

import time
from dataclasses import asdict, dataclass, field
from typing import Callable, Iterable, Optional, Sequence

import numpy as np

from harness import known as known_mod
from harness.adapters import availability
from harness.adapters.base import Impl, Outcome
from harness.case import Case
from harness.compare import Comparison, compare
from harness.expected import Expected, expected
from harness.values import Inputs, materialize

STATUSES = ("pass", "fail", "error", "unsupported", "skipped", "known")
CLAIM_STATUSES = ("holds", "wrong", "known")


@dataclass
class Verdict:
    case: str
    impl: str
    grad: str
    status: str
    emulated: bool = False
    padding: str = ""
    dtype: str = ""              # dtype the impl returned
    message: str = ""
    stats: dict = field(default_factory=dict)
    known: Optional[dict] = None
    seconds: float = 0.0
    notes: list = field(default_factory=list)
    comparison: Optional[Comparison] = field(default=None, repr=False)
    actual: Optional[np.ndarray] = field(default=None, repr=False)

    def to_dict(self) -> dict:
        out = asdict(self)
        out.pop("comparison"), out.pop("actual")
        return out


@dataclass
class ClaimVerdict:
    case: str
    source: str
    grad: str
    status: str
    message: str
    stats: dict = field(default_factory=dict)
    known: Optional[dict] = None
    comparison: Optional[Comparison] = field(default=None, repr=False)
    claimed: Optional[np.ndarray] = field(default=None, repr=False)

    def to_dict(self) -> dict:
        out = asdict(self)
        out.pop("comparison"), out.pop("claimed")
        return out


@dataclass
class CaseResult:
    case: Case
    inputs: Inputs
    expected: dict[str, Expected]
    verdicts: list[Verdict]
    claims: list[ClaimVerdict]


@dataclass
class ImplInfo:
    impl: Impl
    available: bool
    version: str   # or the reason it is unavailable


def probe(impls: Sequence[Impl]) -> list[ImplInfo]:
    """Availability and version of each impl (imports the installed frameworks)."""
    return [ImplInfo(i, *availability(i)) for i in impls]


def judge_claims(case: Case, exp: dict[str, Expected],
                 known: Sequence[known_mod.KnownDiscrepancy] = ()) -> list[ClaimVerdict]:
    results = []
    for claim in case.claims:
        for grad, values in claim.values.items():
            claimed = np.asarray(values, dtype=np.float64)
            c = compare(claimed, exp[grad].values, exp[grad].bound)
            status = "holds" if c.passed else "wrong"
            entry = known_mod.find(list(known), case.id, grad, claim=claim.source)
            if entry and status == "wrong":
                status = "known"
            results.append(ClaimVerdict(case.id, claim.source, grad, status, c.message,
                                        c.stats(), entry.to_dict() if entry else None, c,
                                        claimed))
    return results


def judge_outcome(case: Case, impl_name: str, grad: str, outcome: Outcome, exp: Expected,
                  version: str, known: Sequence[known_mod.KnownDiscrepancy],
                  seconds: float) -> Verdict:
    v = Verdict(case.id, impl_name, grad, "pass", outcome.emulated, outcome.padding,
                outcome.dtype, seconds=seconds, notes=list(outcome.notes))
    if outcome.unsupported:
        v.status, v.message = "unsupported", outcome.unsupported
        return v
    if outcome.error:
        v.status, v.message = "error", outcome.error
    else:
        c = compare(outcome.values, exp.values, exp.bound)
        v.comparison, v.actual, v.stats, v.message = c, outcome.values, c.stats(), c.message
        v.status = "pass" if c.passed else "fail"
    entry = known_mod.find(list(known), case.id, grad, impl=impl_name, version=version)
    if entry:
        v.known = entry.to_dict()
        if v.status in ("fail", "error"):
            v.status = "known"
        else:
            v.message += "\nnote: a known discrepancy matches this verdict but it passed: " \
                         "the entry may be out of date"
    return v


def run_case(case: Case, impls: Sequence[ImplInfo],
             known: Sequence[known_mod.KnownDiscrepancy] = ()) -> CaseResult:
    inputs = materialize(case)
    exp = expected(case, inputs)
    verdicts = []
    for info in impls:
        if not info.available:
            verdicts += [Verdict(case.id, info.impl.name, g, "skipped", message=info.version)
                         for g in case.grads]
            continue
        start = time.perf_counter()
        outcomes = info.impl.compute(case, inputs, case.grads)
        seconds = (time.perf_counter() - start) / max(len(case.grads), 1)
        verdicts += [judge_outcome(case, info.impl.name, g, outcomes[g], exp[g], info.version,
                                   known, seconds) for g in case.grads]
    return CaseResult(case, inputs, exp, verdicts, judge_claims(case, exp, known))


def run(cases: Iterable[Case], impls: Sequence[ImplInfo],
        known: Sequence[known_mod.KnownDiscrepancy] = (),
        progress: Optional[Callable[[int, Case], None]] = None) -> list[CaseResult]:
    results = []
    for i, case in enumerate(cases):
        if progress:
            progress(i, case)
        results.append(run_case(case, impls, known))
    return results
