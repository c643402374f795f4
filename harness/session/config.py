"""What every front end (``convgrad run``, the repro tools, the pytest plugin) builds a run
from, in one place: the error for a bad option, the known-discrepancy and limitation
files, and the defaults they share. Below the front ends, so that none imports another."""
from __future__ import annotations

from pathlib import Path
from typing import Sequence

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
