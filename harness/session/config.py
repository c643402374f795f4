"""What every front end (``convgrad run``, the repro tools, the pytest plugin) builds a run
from, in one place: the error for a bad option, the known-discrepancy and limitation
files, the backend, and the defaults they share. Below the front ends and the tools, so
that none of them imports another."""
from __future__ import annotations

from pathlib import Path
from typing import Optional, Sequence

from harness.backend import variants
from harness.session import runner
from harness.verdict import known as known_mod
from harness.verdict import limitations as limitations_mod

DEFAULT_TIMEOUT_S = 300.0    # per case and impl: a worker past it is killed


class UsageError(Exception):
    """A bad option or input file: one line on stderr, exit status 2, no traceback."""


def load_known(path: str | None, explicit: bool) -> list:
    """The entries of a known-discrepancies file (none for ``None``); a file named on the
    command line must exist, the shipped default may be missing (a trimmed install)."""
    if path is None:
        return []
    if not Path(path).exists():
        if explicit:
            raise UsageError(f"{path}: no such known-discrepancies file")
        return []
    return known_mod.load_known(path)


def load_limitations(extra: Sequence[str] | None) -> list:
    """The shipped documented limitations, then those of each ``--limitations`` file."""
    entries = list(limitations_mod.default())
    for path in extra or ():
        if not Path(path).exists():
            raise UsageError(f"{path}: no such limitations file")
        entries += limitations_mod.load_limitations(path)
    return entries


def make_backend(*, in_process: bool = False, jobs: int = 1,
                 timeout: float = DEFAULT_TIMEOUT_S, max_memory_mib: Optional[int] = None,
                 impls: Sequence = ()):
    """Where the impls compute: worker processes (crash, hang and memory isolation), or this
    process (``in_process``), which cannot take settings read at a framework's import."""
    if in_process:
        needs_env = [i.name for i in impls if variants.environment(i)]
        if needs_env:
            raise UsageError(f"{', '.join(needs_env)}: settings read at framework import need "
                             "worker processes; drop --in-process")
        return runner.InProcess()
    from harness.backend.worker import WorkerPool   # subprocess machinery: only when used
    return WorkerPool(jobs=jobs, timeout=timeout,
                      max_rss=max_memory_mib << 20 if max_memory_mib else None)
