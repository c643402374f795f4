"""Choosing cases: ``-k`` patterns and ``--shard K/N`` (shared by the CLI and the pytest plugin)."""
from __future__ import annotations

import fnmatch
import hashlib
import re
from typing import Sequence, TypeVar

T = TypeVar("T")
SHARD = re.compile(r"^(\d+)/(\d+)$")


def matching(cases: Sequence[T], pattern: str | None) -> list[T]:
    """Cases whose id contains ``pattern``, which may hold glob wildcards (``*?[``)."""
    if not pattern:
        return list(cases)
    return [c for c in cases if fnmatch.fnmatchcase(c.id, f"*{pattern}*")]


def parse_shard(text: str) -> tuple[int, int]:
    """``'2/4'`` -> ``(2, 4)``; ``ValueError`` unless 1 <= K <= N."""
    m = SHARD.match(text.strip())
    if not m or not 1 <= int(m[1]) <= int(m[2]):
        raise ValueError(f"--shard {text!r}: expected K/N with 1 <= K <= N, e.g. 2/4")
    return int(m[1]), int(m[2])


def shard_of(case_id: str, count: int) -> int:
    """The shard (1..count) a case belongs to: a hash of its id, so adding or removing
    other cases never moves it, and every machine computes the same split."""
    digest = hashlib.sha256(case_id.encode()).digest()
    return int.from_bytes(digest[:8], "big") % count + 1


def shard(cases: Sequence[T], k: int, n: int) -> list[T]:
    return [c for c in cases if shard_of(c.id, n) == k]
