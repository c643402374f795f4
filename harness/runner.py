"""Run cases through impls and judge them: the data flow of DESIGN.md in one place.

For each case: materialize the inputs, ask the oracle, judge the source
claims, then let every selected impl compute and judge each grad. Nothing here
prints; :mod:`harness.cli` and the pytest plugin decide what a failure means.
"""
from __future__ import annotations

import time
from collections import deque
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from typing import Callable, Iterable, Iterator, Optional, Sequence

import numpy as np

from harness import known as known_mod
from harness.adapters import availability
from harness.adapters.base import Impl, Outcome
from harness.case import Case
from harness.compare import Comparison
from harness.expected import Expected, expected
from harness.values import Inputs, materialize

STATUSES = ("pass", "fail", "error", "nondeterministic", "unsupported", "skipped", "known")
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
            c = exp[grad].judge_claim(claim, claimed)
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
    if outcome.skipped:
        v.status, v.message = "skipped", outcome.skipped
        return v
    if outcome.unsupported:
        v.status, v.message = "unsupported", outcome.unsupported
        return v
    if outcome.error:
        v.status, v.message = "error", outcome.error
    else:
        c = exp.compare(outcome.values)
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


def _spread(values: list[np.ndarray]) -> float:
    first = np.asarray(values[0], dtype=np.float64)
    with np.errstate(invalid="ignore"):
        diffs = [np.nanmax(np.abs(np.asarray(v, dtype=np.float64) - first)) if first.size else 0.0
                 for v in values[1:] if np.shape(v) == first.shape]
    return float(max(diffs, default=float("inf")))


def _distinct(values: list[np.ndarray]) -> int:
    """How many bitwise-different results (NaN equal to NaN)."""
    kinds: list[np.ndarray] = []
    for v in values:
        if not any(np.shape(v) == np.shape(k) and np.array_equal(v, k, equal_nan=True)
                   for k in kinds):
            kinds.append(v)
    return len(kinds)


def judge_repeats(case: Case, info: "ImplInfo", grad: str, runs: list[dict[str, Outcome]],
                  exp: Expected, known, seconds: float) -> Verdict:
    """The verdict of one grad; ``nondeterministic`` when repeated runs differ bitwise."""
    v = judge_outcome(case, info.impl.name, grad, runs[0][grad], exp, info.version, known,
                      seconds)
    values = [r[grad].values for r in runs if r[grad].values is not None]
    if len(runs) > 1 and len(values) == len(runs):
        distinct = _distinct(values)
        if distinct > 1:
            v.status = "nondeterministic"
            v.stats = {**v.stats, "repeats": len(runs), "distinct": distinct,
                       "spread": _spread(values)}
            v.message = (f"{distinct} distinct results in {len(runs)} runs; largest "
                         f"element-wise spread {v.stats['spread']:.6g}\n" + v.message)
            if v.known:
                v.status = "known"
    return v


class InProcess:
    """Impls compute in this process, one after another (the baseline; no isolation)."""

    jobs = 1

    def probe(self, impls: Sequence[Impl]) -> list[ImplInfo]:
        return probe(impls)

    def compute(self, info: ImplInfo, case: Case, inputs: Inputs,
                repeat: int) -> tuple[list[dict[str, Outcome]], float]:
        from harness.worker import compute_guarded
        start = time.perf_counter()
        runs = compute_guarded(info.impl, case, inputs, case.grads, repeat)
        return runs, time.perf_counter() - start

    def close(self) -> None:
        pass


def _case_verdicts(case, exp, impls, runs_of, known) -> list[Verdict]:
    verdicts = []
    for info in impls:
        if not info.available:
            verdicts += [Verdict(case.id, info.impl.name, g, "skipped", message=info.version)
                         for g in case.grads]
            continue
        runs, seconds = runs_of[info.impl.name]
        verdicts += [judge_repeats(case, info, g, runs, exp[g], known, seconds)
                     for g in case.grads]
    return verdicts


def _timed(backend, info, case, inputs, repeat):
    """The backend's runs, and the compute seconds per grad and run."""
    runs, seconds = backend.compute(info, case, inputs, repeat)
    return runs, seconds / max(repeat * len(case.grads), 1)


def run_iter(cases: Sequence[Case], impls: Sequence[ImplInfo],
             known: Sequence[known_mod.KnownDiscrepancy] = (), backend=None,
             repeat: int = 1) -> Iterator[CaseResult]:
    """Judge every case, yielding results in case order as they complete.

    Impls compute concurrently when the backend has more than one job; a few
    cases run ahead so that every worker stays busy.
    """
    backend = backend or InProcess()
    window = deque()
    with ThreadPoolExecutor(max_workers=max(backend.jobs, 1)) as pool:
        try:
            for case in cases:
                inputs = materialize(case)
                futures = {i.impl.name: pool.submit(_timed, backend, i, case, inputs, repeat)
                           for i in impls if i.available}
                window.append((case, inputs, expected(case, inputs), futures))
                if len(window) > 2 * max(backend.jobs, 1):
                    yield _gather(window.popleft(), impls, known)
            while window:
                yield _gather(window.popleft(), impls, known)
        finally:
            for *_, futures in window:
                for f in futures.values():
                    f.cancel()


def _gather(item, impls, known) -> CaseResult:
    case, inputs, exp, futures = item
    runs_of = {name: f.result() for name, f in futures.items()}
    return CaseResult(case, inputs, exp, _case_verdicts(case, exp, impls, runs_of, known),
                      judge_claims(case, exp, known))


def run(cases: Iterable[Case], impls: Sequence[ImplInfo],
        known: Sequence[known_mod.KnownDiscrepancy] = (),
        progress: Optional[Callable[[int, Case], None]] = None, backend=None,
        repeat: int = 1) -> list[CaseResult]:
    results = []
    for i, result in enumerate(run_iter(list(cases), impls, known, backend, repeat)):
        if progress:
            progress(i, result.case)
        results.append(result)
    return results
