"""Judging generated cases: a :class:`harness.session.runner.Session` kept open across many cases.

The shrinker judges hundreds of candidates and the fuzzer thousands of cases;
both go through the very :class:`~harness.session.runner.Session` that ``convgrad run``
uses (same oracle, bound, documented limitations), with no known
discrepancies applied (a shrinker must see the raw ``fail``, not ``known``),
on worker processes by default, so a framework that aborts on a candidate
costs that candidate's verdict, not the shrink or the fuzz run.
"""
from __future__ import annotations

import os
from typing import Iterable, Optional, Sequence

from harness.session import runner
from harness.session.config import make_backend
from harness.case.model import Case


def default_backend(jobs: int = 1, timeout: float = 120.0, in_process: bool = False,
                    max_memory_mib: Optional[int] = None):
    """Worker processes (crash isolation), or the in-process backend: the tools' defaults
    for :func:`harness.session.config.make_backend`."""
    return make_backend(in_process=in_process, jobs=jobs, timeout=timeout,
                        max_memory_mib=max_memory_mib)


class Judge:
    """Judges cases with a fixed set of impls, on one backend, until :meth:`close`."""

    def __init__(self, impls: Sequence, backend=None, repeat: int = 1,
                 limitations: Optional[Sequence] = None):
        self.session = runner.Session(known=(), backend=backend or default_backend(),
                                      repeat=repeat, limitations=limitations)
        self.infos = self.session.probe(list(impls))
        self.calls = 0

    def info(self, name: str) -> runner.ImplInfo:
        return next(i for i in self.infos if i.impl.name == name)

    def unavailable(self) -> list[runner.ImplInfo]:
        return [i for i in self.infos if not i.available]

    def results(self, cases: Iterable[Case],
                impls: Optional[Sequence[str]] = None) -> Iterable[runner.CaseResult]:
        """Results in case order (several cases in flight on a multi-job backend)."""
        infos = self.infos if impls is None else [self.info(n) for n in impls]
        for result in self.session.judge_iter(list(cases), infos):
            self.calls += 1
            yield result

    def one(self, case: Case, impl: str) -> runner.CaseResult:
        return next(iter(self.results([case], [impl])))

    def close(self) -> None:
        self.session.close()

    def __enter__(self) -> "Judge":
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def cores() -> int:
    return os.cpu_count() or 1
