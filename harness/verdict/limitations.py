"""Documented framework limitations: the only way a verdict becomes ``unsupported``.

A framework that raises on a configuration has either hit a limitation its
makers document (TensorFlow's CPU kernels compute channels-first layouts only
through oneDNN, say) or a bug. The harness, not the adapter, tells the two
apart: an exception, or a refusal an impl reports, is ``unsupported`` only
when it matches an entry of ``harness/data/limitations.yaml`` (or of a file
given with ``--limitations``); anything else is ``error`` and fails the run.

An entry names the framework, a regular expression searched in the
framework's message (``Type: message``), the configurations it covers
(``when``: facts of the case and impl, each a value or a list of values; every
key must match), and its evidence and link. The facts a ``when`` may test are
those :func:`facts` returns.

``message`` is matched with RE2 (google-re2), whose matching time is linear in
the message, never with Python's backtracking ``re``: a pattern such as
``(a+)+$`` in a ``--limitations`` file is matched in convgrad's own process,
where ``--timeout`` does not reach, and must not be able to hang the run. RE2
has no backreferences, lookaround or possessive quantifiers: a pattern that
needs them is refused when the file is loaded (file, line, entry and field
named), as is one longer than :data:`MAX_PATTERN` characters or one RE2 cannot
compile within its memory budget.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any, Mapping, Optional, Sequence

from harness.verdict.facts import FACTS, facts, parse_when, when_matches  # noqa: F401 (facts: re-export)
from harness.safeio import printable
from harness.safeio.patterns import compile_pattern, matchable  # noqa: F401 (re-export)
from harness.safeio.yaml_source import Located, SourceError, load

DEFAULT_FILE = Path(__file__).resolve().parents[1] / "data" / "limitations.yaml"
KEYS = ("id", "framework", "message", "when", "summary", "evidence", "link")


@dataclass(frozen=True)
class Limitation:
    id: str
    framework: str
    message: Any   # an RE2 pattern as loaded (harness.safeio.patterns); a re.Pattern where code builds one
    summary: str
    evidence: str
    link: str = ""
    when: Mapping[str, tuple] = field(default_factory=dict)
    line: int = 0

    def matches(self, framework: str, text: str, facts_: Mapping[str, Any]) -> bool:
        if framework != self.framework or not self.message.search(matchable(text)):
            return False
        return when_matches(self.when, facts_)

    def to_dict(self) -> dict:
        out = {"id": self.id, "framework": self.framework, "summary": self.summary,
               "evidence": self.evidence}
        if self.link:
            out["link"] = self.link
        return out


def load_limitations(path: str | Path) -> list[Limitation]:
    """The entries of a limitations file; problems are :class:`SourceError`."""
    name = str(path)
    document = load(path, "limitations file")
    if document is None:
        return []
    if not isinstance(document, list):
        raise SourceError(name, 1, "expected a list of limitations")
    entries, ids = [], set()
    for i, raw in enumerate(document):
        if not isinstance(raw, Located):
            raise SourceError(name, getattr(raw, "line", 1), f"entry {i}: expected a mapping")
        unknown = sorted(set(raw) - set(KEYS))
        if unknown:
            raise SourceError(name, raw.line_of(unknown[0]),
                              f"entry {i}: unknown key {unknown[0]!r}")
        for key in ("id", "framework", "message", "summary", "evidence"):
            if not isinstance(raw.get(key), str) or not raw[key].strip():
                raise SourceError(name, raw.line_of(key), f"entry {i}: {key!r} is required")
        if raw["id"] in ids:
            raise SourceError(name, raw.line_of("id"), f"entry {i}: duplicate id {raw['id']!r}")
        ids.add(raw["id"])
        try:
            pattern = compile_pattern(raw["message"])
        except ValueError as exc:
            raise SourceError(name, raw.line_of("message"),
                              f"entry {i} ({printable.excerpt(raw['id'], 60)}): message is not "
                              f"a regular expression convgrad can match: {exc}") from None
        entries.append(Limitation(id=raw["id"], framework=raw["framework"], message=pattern,
                                  summary=" ".join(raw["summary"].split()),
                                  evidence=" ".join(raw["evidence"].split()),
                                  link=str(raw.get("link") or ""), when=parse_when(name, raw, i),
                                  line=raw.line))
    return entries


@lru_cache(maxsize=None)
def _cached(path: str) -> tuple[Limitation, ...]:
    return tuple(load_limitations(path))


def default() -> tuple[Limitation, ...]:
    """The limitations shipped with convgrad."""
    return _cached(str(DEFAULT_FILE))


def find(entries: Sequence[Limitation], framework: str, text: str,
         facts_: Mapping[str, Any]) -> Optional[Limitation]:
    """The first entry that documents ``text`` raised by ``framework`` in these ``facts_``."""
    return next((e for e in entries if e.matches(framework, text, facts_)), None)
