"""Choosing what runs: ``-k`` expressions and ``--shard K/N`` (shared by the CLI and the
pytest plugin).

``-k`` matches a test's keywords as pytest does (:func:`keywords`): its name
(:mod:`harness.verdict.testids`, e.g. ``article/same-dx[jax.vjp-dx]``), its file's and folders'
names and its markers, so ``convgrad run -k EXPR`` judges the verdicts and claims that
``pytest -k EXPR`` selects among a case file's items; ``convgrad shrink -k`` matches
case ids.
"""
from __future__ import annotations

import hashlib
import re
from functools import lru_cache
from typing import Sequence, TypeVar

from harness.safeio import printable
from harness.safeio.patterns import compile_pattern, matchable
from harness.verdict import testids

T = TypeVar("T")
SHARD = re.compile(r"^(\d+)/(\d+)$")


WORDS = re.compile(r"\s*(\(|\)|[^\s()]+)")


class ExpressionError(ValueError):
    """A ``-k`` expression that does not parse; ``str`` says where."""


def _term_matches(term: str, texts: Sequence[str]) -> bool:
    """A word of ``-k``: a substring of one of ``texts``, ignoring case as pytest does;
    ``*`` and ``?`` are wildcards (``[`` and ``]`` are themselves: test names hold them)."""
    regex = _term_regex(term)
    return any(regex.search(matchable(t)) for t in texts)


@lru_cache(maxsize=256)
def _term_regex(term: str):
    """A ``-k`` word as a regular expression matched by RE2 (linear time: a word such as
    ``*a*a*a*a*a*a*a*a*a*a*a*a*b`` backtracks for ever in Python's ``re``)."""
    regex = "".join(".*" if ch == "*" else "." if ch == "?" else re.escape(ch) for ch in term)
    try:
        return compile_pattern("(?is)" + regex)
    except ValueError as exc:
        raise ExpressionError(f"-k {printable.excerpt(term)!s}: {exc}") from None


def expression(pattern: str):
    """``-k`` as pytest reads it: words (substrings in any case, ``*`` and ``?`` allowed)
    joined by ``and``, ``or``, ``not`` and parentheses, e.g. ``'same and not dw'``; a
    single pattern with spaces (a glob) matches as itself. Returns
    ``matches(texts) -> bool``: whether the expression holds when each word is looked
    for in each of ``texts`` (a test's keywords)."""
    tokens = WORDS.findall(pattern)
    if not any(t in ("and", "or", "not", "(", ")") for t in tokens):
        return lambda texts: _term_matches(pattern.strip(), texts)
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
            return lambda texts: not inner(texts)
        if token == "(":
            take()
            inner = disjunction()
            if take_if(")") is None:
                raise ExpressionError(f"-k {pattern!r}: a '(' is not closed")
            return inner
        if token in ("and", "or", ")"):
            raise ExpressionError(f"-k {pattern!r}: unexpected {token!r}")
        word = take()
        return lambda texts: _term_matches(word, texts)

    def take_if(word):
        return take() if peek() == word else None

    def conjunction():
        parts = [primary()]
        while take_if("and"):
            parts.append(primary())
        return lambda texts: all(p(texts) for p in parts)

    def disjunction():
        parts = [conjunction()]
        while take_if("or"):
            parts.append(conjunction())
        return lambda texts: any(p(texts) for p in parts)

    matcher = disjunction()
    if peek() is not None:
        raise ExpressionError(f"-k {pattern!r}: unexpected {peek()!r}")
    return matcher


def matching(cases: Sequence[T], pattern: str | None) -> list[T]:
    """Cases whose id matches ``pattern`` (see :func:`expression`)."""
    if not pattern:
        return list(cases)
    matches = expression(pattern)
    return [c for c in cases if matches((c.id,))]


def tests_of(case, impls: Sequence) -> list[tuple[str, object, str]]:
    """``(test name, impl, grad)`` of every verdict of ``case`` by ``impls`` and every grad
    it claims (impl ``None``): the items the pytest plugin makes of it, in its order."""
    tests = [(testids.verdict_name(case.id, impl.name, grad), impl, grad)
             for impl in impls for grad in case.grads]
    tests += [(testids.claim_name(case.id, i, grad), None, grad)
              for i, claim in enumerate(case.claims) for grad in claim.values]
    return tests


def keywords(case, name: str, impl, grad: str) -> tuple[str, ...]:
    """What ``-k`` looks in, as pytest's keyword matching does for an item of the plugin:
    the test name, the case file's name and the names of the folders above it (below the
    current directory, pytest's rootdir), and the item's markers (:func:`markers`)."""
    parts = tuple(testids.shown_path(case.file).split("/")) if case.file else ()
    return (name, *[p for p in parts if p not in ("", ".", "..")],
            *markers(case, grad, impl))


def markers(case, grad: str, impl) -> list[str]:
    """The markers of a verdict (``impl``) or claim (``None``) item: op, padding, dtype,
    grad, and the impl's framework or ``claim`` (docs/pytest.md, Markers)."""
    kind = "claim" if impl is None else "impl_" + re.sub(r"\W", "_", impl.framework)
    return [f"op_{case.op}", f"padding_{case.padding_name.lower()}", f"dtype_{case.dtype}",
            f"grad_{grad}", kind]


def choose_tests(cases: Sequence[T], impls: Sequence,
                 pattern: str | None) -> dict[str, set[str]] | None:
    """The test names ``pattern`` selects, per case id (cases with none left out); ``None``
    without a pattern (everything)."""
    if not pattern:
        return None
    matches = expression(pattern)
    chosen = {}
    for case in cases:
        names = {name for name, impl, grad in tests_of(case, impls)
                 if matches(keywords(case, name, impl, grad))}
        if names:
            chosen[case.id] = names
    return chosen


def impls_chosen(case, impls: Sequence, chosen: dict[str, set[str]] | None) -> set[str]:
    """The names of the impls with a chosen verdict on ``case``."""
    if chosen is None:
        return {i.name for i in impls}
    return {impl.name for name, impl, _ in tests_of(case, impls)
            if impl is not None and name in chosen.get(case.id, ())}


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
