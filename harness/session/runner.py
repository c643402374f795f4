"""Run cases through impls and judge them: the data flow of DESIGN.md in one place.

For each case: materialize the inputs, ask the oracle, judge the source
claims, then let every selected impl compute and judge each grad. Nothing here
prints; :mod:`harness.frontends.cli` and the pytest plugin decide what a failure means.
"""
from __future__ import annotations

import threading
import time
from collections import deque
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Callable, Iterable, Iterator, Optional, Protocol, Sequence

import numpy as np

from harness.verdict import facts as facts_mod
from harness.verdict import known as known_mod
from harness.backend import platforms
from harness.backend.adapters import ImplInfo, availability
from harness.backend.adapters.base import (Impl, Outcome, compute_guarded, grads_of, missing_grad,
                                           missing_op)
from harness.case.model import Case
from harness.numerics import threads as oracle_threads
from harness.numerics.compare import Comparison
from harness.verdict.expected import Expected, expected
from harness.case.values import Inputs, as_array, materialize
from harness.verdict import diagnosis, testids
from harness.verdict import limitations as limitations_mod
from harness.verdict.status import CLAIM_STATUSES, IMPL_STATUSES, Status, fail_status, pass_status

STATUSES = tuple(str(s) for s in IMPL_STATUSES)          # record order
FULL_ARRAY_LIMIT = 64   # tensors up to this many elements are stored whole (the record)
CLAIM_STATUSES = tuple(str(s) for s in CLAIM_STATUSES)
REFERENCE = "oracle"


@dataclass
class Verdict:
    """The judgement of one *subject* (an impl, or a source's claim) against a *reference*
    (the oracle) for one grad of one case: the one result type of a run."""

    case: str
    subject: str                 # the impl's name, or the claim's source
    grad: str
    status: Status
    kind: str = "impl"           # "impl" or "claim"
    reference: str = REFERENCE
    emulated: bool = False
    padding: str = ""
    dtype: str = ""              # dtype the impl returned
    message: str = ""
    stats: dict = field(default_factory=dict)
    known: Optional[dict] = None
    limitation: Optional[dict] = None   # the documented limitation of an unsupported verdict
    diagnosis: Optional[list] = None    # a fail: the porting mistakes tried (harness.verdict.diagnosis)
    seconds: float = 0.0         # the backend's time per grad and run (IPC included)
    compute_s: Optional[float] = None   # the framework's own time for this grad, per run
    notes: list = field(default_factory=list)
    position: int = 0            # a claim's index in its case's claims: list
    comparison: Optional[Comparison] = field(default=None, repr=False)
    actual: Optional[np.ndarray] = field(default=None, repr=False)

    @property
    def impl(self) -> str:
        return self.subject if self.kind == "impl" else ""

    @property
    def source(self) -> str:
        return self.subject if self.kind == "claim" else ""

    @property
    def test(self) -> str:
        """Its test name (:mod:`harness.verdict.testids`), as pytest, JUnit and -k see it."""
        if self.kind == "impl":
            return testids.verdict_name(self.case, self.subject, self.grad)
        return testids.claim_name(self.case, self.position, self.grad)

    def to_dict(self) -> dict:
        out = {"case": self.case, ("impl" if self.kind == "impl" else "source"): self.subject,
               "grad": self.grad, "test": self.test, "status": str(self.status), "reference": self.reference,
               "message": self.message, "stats": self.stats, "known": self.known}
        if self.kind == "claim" and self.notes:
            out["notes"] = self.notes
        if self.kind == "impl":
            out.update(emulated=self.emulated, padding=self.padding, dtype=self.dtype,
                       limitation=self.limitation, seconds=self.seconds,
                       compute_s=self.compute_s, notes=self.notes, diagnosis=self.diagnosis)
        return out


@dataclass
class CaseResult:
    case: Case
    inputs: Inputs
    expected: dict[str, Expected]
    verdicts: list[Verdict]      # the impls'
    claims: list[Verdict]        # the sources' claims'


def stores_arrays(v: Verdict) -> bool:
    """Whether the record keeps ``v``'s arrays (expected, actual, ``|err| / bound``): every
    claim, every verdict that did not pass, and every small one. Any other verdict's
    element-wise ratio is dropped once judged (the ``actual`` values stay, for
    values.npz): 13 MB a verdict on a ResNet layer."""
    return v.kind == "claim" or str(v.status) not in ("pass", "holds") or (
        v.actual is not None and np.size(v.actual) <= FULL_ARRAY_LIMIT)


def probe(impls: Sequence[Impl]) -> list[ImplInfo]:
    """Availability and version of each impl (imports the installed frameworks)."""
    return [ImplInfo(i, *availability(i), platform=platforms.probe_impl(i)) for i in impls]


def judge_values(v: Verdict, values: np.ndarray, c: Comparison) -> Verdict:
    """``v`` judged on ``values`` by the comparison ``c`` with the reference (the oracle's
    :meth:`harness.verdict.expected.Expected.compare`): the one path every subject goes through."""
    v.comparison, v.actual, v.stats, v.message = c, values, c.stats(), c.message
    v.status = pass_status(v.kind) if c.passed else fail_status(v.kind)
    return v


def apply_known(v: Verdict, entry: Optional[known_mod.KnownDiscrepancy]) -> Verdict:
    """A documented discrepancy turns a failing verdict into ``known``; one that matches a
    verdict that passed is flagged, so a fixed bug does not stay hidden."""
    if entry is None:
        return v
    v.known = entry.to_dict()
    if v.status in (Status.FAIL, Status.ERROR, Status.WRONG, Status.NONDETERMINISTIC):
        v.status = Status.KNOWN
    elif v.status in (Status.PASS, Status.HOLDS) and entry.intermittent:
        v.message += ("\nnote: a known intermittent discrepancy matches this verdict; it "
                      "did not show in this run")
    elif v.status in (Status.PASS, Status.HOLDS):
        v.message += ("\nnote: a known discrepancy matches this verdict but it passed: "
                      "the entry may be out of date")
    return v


def judge_claims(case: Case, exp: dict[str, Expected],
                 known: Sequence[known_mod.KnownDiscrepancy] = ()) -> list[Verdict]:
    results = []
    for position, claim in enumerate(case.claims):
        for grad, values in claim.values.items():
            v = Verdict(case.id, claim.source, grad, Status.HOLDS, kind="claim",
                        position=position)
            claimed = as_array(values, case.shape_of(grad))   # [[]] for an empty grad
            judge_values(v, claimed, exp[grad].judge_claim(claim, claimed))
            if claim.finding and v.status == Status.WRONG:
                v.notes = [f"a documented finding: {claim.finding}"]
            results.append(apply_known(v, known_mod.find(list(known), case.id, grad,
                                                         claim=claim.source)))
    return results


def verdict_facts(case: Case, info: "ImplInfo", grad: str, emulated: bool = False) -> dict:
    """The facts a limitation's or known entry's ``when`` is tested on for this verdict: the
    case's, and the path the impl's process probed (:mod:`harness.verdict.facts`)."""
    return facts_mod.facts(case, info.impl.name, getattr(info.impl, "settings", {}) or {},
                           grad, emulated, info.platform)


def _refusal(case: Case, info: "ImplInfo", grad: str, outcome: Outcome,
             limitations: Sequence[limitations_mod.Limitation], facts: dict) -> Verdict:
    """An exception (or a refusal the impl reported): ``unsupported`` when a documented
    limitation of the impl's framework covers it, else ``error``."""
    impl = info.impl
    text = outcome.unsupported or outcome.exception
    v = Verdict(case.id, impl.name, grad, Status.ERROR, emulated=outcome.emulated,
                padding=outcome.padding, dtype=outcome.dtype, notes=list(outcome.notes))
    found = None
    if text:
        # an impl that computes through another framework (Keras on its TensorFlow backend)
        # meets that framework's documented limitations: its platform names the backend
        for framework in dict.fromkeys((impl.framework, info.platform.get("backend"))):
            found = found or (framework and limitations_mod.find(limitations, framework, text,
                                                                 facts))
    if found:
        v.status, v.message, v.limitation = Status.UNSUPPORTED, text, found.to_dict()
    elif outcome.unsupported:
        v.message = (f"{impl.name} reported a refusal that no documented limitation of "
                     f"{impl.framework} covers (see harness/data/limitations.yaml): "
                     f"{outcome.unsupported}")
    else:
        v.message = outcome.error
    return v


def diagnose(v: Verdict, case: Case, inputs: Optional[Inputs], framework: str) -> Verdict:
    """A failing verdict (or an error with values: a result of the wrong shape) tries the
    catalog of porting mistakes (:mod:`harness.verdict.diagnosis`); those that explain the values,
    and what the case needed, join the message (one line each; the rule that fixes the
    impl is said once, in the run's diagnosis of the impl). Nothing is said where none
    explains it: a framework's rounding is no porting mistake."""
    if v.status not in (Status.FAIL, Status.ERROR) or inputs is None or v.actual is None:
        return v
    v.diagnosis = diagnosis.diagnose(case, inputs, v.grad, v.actual, framework)
    said = False
    for d in v.diagnosis:
        if d["explains"]:
            v.message += (f"\ndiagnosis: {d['mistake']} explains these values"
                          + (" as well (the same values here)" if said else f": {d['fix']}"))
            said = True
    return v


def judge_outcome(case: Case, info: "ImplInfo", grad: str, outcome: Outcome, exp: Expected,
                  known: Sequence[known_mod.KnownDiscrepancy], seconds: float,
                  limitations: Sequence[limitations_mod.Limitation] = (),
                  inputs: Optional[Inputs] = None) -> Verdict:
    name = info.impl.name
    if outcome.skipped:
        return Verdict(case.id, name, grad, Status.SKIPPED, emulated=outcome.emulated,
                       padding=outcome.padding, message=outcome.skipped, seconds=seconds)
    facts = verdict_facts(case, info, grad, outcome.emulated)
    if outcome.unsupported or outcome.error:
        v = _refusal(case, info, grad, outcome, limitations, facts)
    else:
        v = Verdict(case.id, name, grad, Status.PASS, emulated=outcome.emulated,
                    padding=outcome.padding, dtype=outcome.dtype, notes=list(outcome.notes))
        judge_values(v, outcome.values, exp.compare(outcome.values))
        if np.shape(outcome.values) != exp.values.shape:
            # Not an answer to this case at all: the impl broke its contract.
            v.status = Status.ERROR
            v.message += f": {name} returned a {grad} that is not this case's {grad}"
    v.seconds = seconds
    if v.status == Status.UNSUPPORTED:
        return v
    diagnose(v, case, inputs, info.impl.framework)
    return apply_known(v, known_mod.find(list(known), case.id, grad, impl=name,
                                         version=info.version, facts=facts))


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
                  exp: Expected, known, seconds: float, limitations=(),
                  inputs: Optional[Inputs] = None) -> Verdict:
    """The verdict of one grad; ``nondeterministic`` when repeated runs differ bitwise."""
    v = judge_outcome(case, info, grad, runs[0][grad], exp, known, seconds, limitations,
                      inputs)
    measured = [r[grad].compute_s for r in runs if r[grad].compute_s is not None]
    v.compute_s = sum(measured) / len(measured) if measured else None
    values = [r[grad].values for r in runs if r[grad].values is not None]
    if len(runs) > 1 and len(values) == len(runs):
        distinct = _distinct(values)
        if distinct > 1:
            v.status = Status.NONDETERMINISTIC
            v.stats = {**v.stats, "repeats": len(runs), "distinct": distinct,
                       "spread": _spread(values)}
            v.message = (f"{distinct} distinct results in {len(runs)} runs; largest "
                         f"element-wise spread {v.stats['spread']:.6g}\n" + v.message)
            if v.known:
                v.status = Status.KNOWN
    return v


class Backend(Protocol):
    """Where impls compute: :class:`InProcess`, or :class:`harness.backend.worker.WorkerPool`
    (a worker process per impl: crash, hang and memory isolation)."""

    jobs: int   # how many computations may run at once

    def probe(self, impls: Sequence[Impl]) -> list[ImplInfo]: ...

    def compute(self, info: ImplInfo, case: Case, inputs: Inputs,
                repeat: int) -> tuple[list[dict[str, Outcome]], float]: ...

    def close(self) -> None: ...


class InProcess:
    """Impls compute in this process, one after another (the baseline; no isolation)."""

    jobs = 1

    def probe(self, impls: Sequence[Impl]) -> list[ImplInfo]:
        return probe(impls)

    def compute(self, info: ImplInfo, case: Case, inputs: Inputs,
                repeat: int) -> tuple[list[dict[str, Outcome]], float]:
        start = time.perf_counter()
        runs = compute_guarded(info.impl, case, inputs, grads_of(info.impl, case), repeat)
        return runs, time.perf_counter() - start

    def close(self) -> None:
        pass


def _timed(backend, info, case, inputs, repeat):
    """The backend's runs, and the compute seconds per grad and run."""
    runs, seconds = backend.compute(info, case, inputs, repeat)
    return runs, seconds / max(repeat * len(grads_of(info.impl, case)), 1)


class Session:
    """One run: which impls judge, with what known discrepancies and documented
    limitations, on which backend (:class:`InProcess` or
    :class:`harness.backend.worker.WorkerPool`, the same interface: ``probe``, ``compute``,
    ``close``, ``jobs``). The CLI and the pytest plugin both judge through it."""

    def __init__(self, impls: Sequence[ImplInfo] = (),
                 known: Sequence[known_mod.KnownDiscrepancy] = (),
                 backend: Optional[Backend] = None,
                 repeat: int = 1,
                 limitations: Optional[Sequence[limitations_mod.Limitation]] = None):
        self.impls = list(impls)
        self.known = list(known)
        self.backend = backend or InProcess()
        self.repeat = repeat
        self.limitations = list(limitations_mod.default() if limitations is None
                                else limitations)
        self._prefetched: Optional[tuple[Case, Inputs, dict[str, Expected]]] = None
        self._prefetch: Optional[threading.Thread] = None
        self._computing = 0                  # framework computations in flight
        self._lock = threading.Lock()
        self.oracle_threads_used: dict[int, int] = {}   # thread count -> oracle calls

    def oracle_threads(self) -> int:
        """The oracle's thread budget now (:func:`harness.numerics.threads.for_load` of the
        framework computations in flight): a worker computes with its ``threads`` (cores
        / jobs), an in-process impl with every core."""
        per_job = getattr(self.backend, "threads", None) or oracle_threads.cores()
        with self._lock:
            busy = min(self._computing, max(self.backend.jobs, 1))
            count = oracle_threads.for_load(busy, per_job)
            self.oracle_threads_used[count] = self.oracle_threads_used.get(count, 0) + 1
        return count

    def _submit(self, pool: ThreadPoolExecutor, fn, *args):
        """``pool.submit(fn, *args)``, counted in flight from now until it is done or
        cancelled (the oracle's budget reads the count)."""
        with self._lock:
            self._computing += 1
        try:
            future = pool.submit(fn, *args)
        except BaseException:
            self._finished(None)
            raise
        future.add_done_callback(self._finished)
        return future

    def _finished(self, future) -> None:
        with self._lock:
            self._computing -= 1

    def _expected(self, case: Case, inputs: Inputs) -> dict[str, Expected]:
        with oracle_threads.budget(self.oracle_threads):
            return expected(case, inputs)

    def prefetch(self, case: Case) -> None:
        """Start ``case``'s inputs and oracle answers in a background thread, so that they
        are computed while :meth:`probe` waits for the workers' imports; :meth:`judge_iter`
        takes them. A failure there is left for the inline computation to raise, as it
        would have without the prefetch."""
        def work() -> None:
            try:
                inputs = materialize(case)
                self._prefetched = (case, inputs, self._expected(case, inputs))
            except Exception:  # noqa: BLE001 - recomputed inline, where it surfaces
                pass
        self._prefetch = threading.Thread(target=work, name="oracle-prefetch", daemon=True)
        self._prefetch.start()

    def _answers(self, case: Case) -> tuple[Inputs, Optional[dict[str, Expected]]]:
        if self._prefetch is not None:
            self._prefetch.join()
            self._prefetch = None
        if self._prefetched is not None and self._prefetched[0] is case:
            _, inputs, answers = self._prefetched
            self._prefetched = None
            return inputs, answers
        return materialize(case), None

    def probe(self, impls: Sequence[Impl]) -> list[ImplInfo]:
        """Availability and version of ``impls`` (through the backend), added to the run."""
        infos = self.backend.probe(impls) if impls else []
        self.impls += infos
        return infos

    def judge_iter(self, cases: Sequence[Case],
                   impls: Optional[Sequence[ImplInfo]] = None) -> Iterator[CaseResult]:
        """Judge every case, yielding results in case order as they complete.

        Impls compute concurrently when the backend has more than one job; a few
        cases run ahead so that every worker stays busy.
        """
        impls = self.impls if impls is None else list(impls)
        backend, window = self.backend, deque()
        with ThreadPoolExecutor(max_workers=max(backend.jobs, 1)) as pool:
            try:
                for case in cases:
                    inputs, answers = self._answers(case)
                    futures = {i.impl.name: self._submit(pool, _timed, backend, i, case,
                                                         inputs, self.repeat)
                               for i in impls
                               if i.available and not missing_op(i.impl, case.op)
                               and grads_of(i.impl, case)}
                    window.append((case, inputs, answers or self._expected(case, inputs),
                                   futures))
                    if len(window) > 2 * max(backend.jobs, 1):
                        yield self._gather(window.popleft(), impls)
                while window:
                    yield self._gather(window.popleft(), impls)
            finally:
                for *_, futures in window:
                    for f in futures.values():
                        f.cancel()

    def judge(self, cases: Iterable[Case],
              progress: Optional[Callable[[int, Case], None]] = None) -> list[CaseResult]:
        results = []
        for i, result in enumerate(self.judge_iter(list(cases))):
            if progress:
                progress(i, result.case)
            results.append(result)
        return results

    def _gather(self, item, impls) -> CaseResult:
        case, inputs, exp, futures = item
        runs_of = {name: f.result() for name, f in futures.items()}
        with oracle_threads.budget(self.oracle_threads):   # a diagnosis runs the oracle
            return self._judged(case, inputs, exp, runs_of, impls)

    def _judged(self, case, inputs, exp, runs_of, impls) -> CaseResult:
        verdicts = []
        for info in impls:
            if not info.available:
                verdicts += [Verdict(case.id, info.impl.name, g, Status.SKIPPED,
                                     message=info.version) for g in case.grads]
                continue
            note = missing_op(info.impl, case.op)
            if note:   # the framework has no such API (or the adapter does not call it)
                verdicts += [Verdict(case.id, info.impl.name, g, Status.UNSUPPORTED,
                                     message=note, limitation={
                                         "id": f"no-{case.op}", "framework": info.impl.framework,
                                         "summary": note,
                                         "evidence": f"{info.impl.name} declares the ops it "
                                                     "implements (its 'ops' and 'op_notes')"})
                             for g in case.grads]
                continue
            runs, seconds = runs_of.get(info.impl.name, ([{}], 0.0))
            for g in case.grads:
                note = missing_grad(info.impl, g)
                if note:   # forward mode or second order the impl does not compute
                    verdicts.append(Verdict(case.id, info.impl.name, g, Status.UNSUPPORTED,
                                            message=note, limitation={
                                                "id": f"no-{g}", "framework": info.impl.framework,
                                                "summary": note,
                                                "evidence": f"{info.impl.name} declares the grads "
                                                            "it computes (its 'grads' and "
                                                            "'grad_notes')"}))
                    continue
                v = judge_repeats(case, info, g, runs, exp[g], self.known, seconds,
                                  self.limitations, inputs)
                if v.comparison is not None and not stores_arrays(v):
                    v.comparison.ratio = None
                verdicts.append(v)
        return CaseResult(case, inputs, exp, verdicts, judge_claims(case, exp, self.known))

    def close(self) -> None:
        self.backend.close()


def run_iter(cases: Sequence[Case], impls: Sequence[ImplInfo],
             known: Sequence[known_mod.KnownDiscrepancy] = (), backend=None,
             repeat: int = 1) -> Iterator[CaseResult]:
    """:meth:`Session.judge_iter` of a session over already-probed ``impls``."""
    return Session(impls, known, backend, repeat).judge_iter(list(cases))


def run(cases: Iterable[Case], impls: Sequence[ImplInfo],
        known: Sequence[known_mod.KnownDiscrepancy] = (),
        progress: Optional[Callable[[int, Case], None]] = None, backend=None,
        repeat: int = 1) -> list[CaseResult]:
    """:meth:`Session.judge` of a session over already-probed ``impls``."""
    return Session(impls, known, backend, repeat).judge(cases, progress)
