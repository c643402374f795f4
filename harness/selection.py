"""Choosing cases: ``-k`` patterns and ``--shard K/N`` (shared by the CLI and the pytest plugin)."""
from __future__ import annotations

import fnmatch
import hashlib
import re
from typing import Sequence, TypeVar

T = TypeVar("T")
SHARD = re.compile(r"^(\d+)/(\d+)$")


WORDS = re.compile(r"\s*(\(|\)|[^\s()]+)")


class ExpressionError(ValueError):
    """A ``-k`` expression that does not parse; ``str`` says where."""


def _term_matches(term: str, text: str) -> bool:
    """A word of ``-k``: a substring of the id, with glob wildcards (``*?[``) allowed."""
    return fnmatch.fnmatchcase(text, f"*{term}*")


def expression(pattern: str):
    """``-k`` as pytest reads it: words (substrings, globs allowed) joined by ``and``,
    ``or``, ``not`` and parentheses, e.g. ``'same and not dw'``; a single pattern with
    spaces (a glob) matches as itself. Returns ``matches(text) -> bool``."""
    tokens = WORDS.findall(pattern)
    if not any(t in ("and", "or", "not", "(", ")") for t in tokens):
        return lambda text: _term_matches(pattern.strip(), text)
    pos = 0

    def peek():
        return tokens[pos] if pos < len(tokens) else None

    def take():
        nonlocal pos
        pos += 1
        return tokens[pos - 1]

    def primary():
        token = peek()
        if token is None:
            raise ExpressionError(f"-k {pattern!r}: the expression ends too early")
        if token == "not":
            take()
            inner = primary()
            return lambda text: not inner(text)
        if token == "(":
            take()
            inner = disjunction()
            if take_if(")") is None:
                raise ExpressionError(f"-k {pattern!r}: a '(' is not closed")
            return inner
        if token in ("and", "or", ")"):
            raise ExpressionError(f"-k {pattern!r}: unexpected {token!r}")
        word = take()
        return lambda text: _term_matches(word, text)

    def take_if(word):
        return take() if peek() == word else None

    def conjunction():
        parts = [primary()]
        while take_if("and"):
            parts.append(primary())
        return lambda text: all(p(text) for p in parts)

    def disjunction():
        parts = [conjunction()]
        while take_if("or"):
            parts.append(conjunction())
        return lambda text: any(p(text) for p in parts)

    matcher = disjunction()
    if peek() is not None:
        raise ExpressionError(f"-k {pattern!r}: unexpected {peek()!r}")
    return matcher


def matching(cases: Sequence[T], pattern: str | None) -> list[T]:
    """Cases whose id matches ``pattern`` (see :func:`expression`)."""
    if not pattern:
        return list(cases)
    matches = expression(pattern)
    return [c for c in cases if matches(c.id)]


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
