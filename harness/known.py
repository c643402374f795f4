"""Known discrepancies: data, not code (``harness/data/known-discrepancies.yaml``).

Each entry names a case pattern and either an impl pattern (a framework bug,
optionally narrowed by ``except_impl``: variants it leaves out, such as
``*onednn=off*`` for a bug of oneDNN's kernels) or a claim source pattern (a
wrong source), optionally a grad and a framework version range, with the reason, the evidence (a minimal standalone
reproduction) and a link. A verdict that fails and matches an entry is shown
as ``known``; one that passes although an entry matches is flagged, so a fixed
bug does not stay hidden, unless the entry is ``intermittent: true`` (a bug that
shows only in some runs, such as uninitialized memory that is sometimes zero:
its passes are expected, and the pytest plugin's xfail is not strict).
"""
from __future__ import annotations

import fnmatch
from dataclasses import dataclass
from pathlib import Path
from typing import Optional

from packaging.specifiers import InvalidSpecifier, SpecifierSet
from packaging.version import InvalidVersion, Version

from harness.yaml_source import Located, SourceError, load

# Shipped with the package (so an installed convgrad knows them too); --known FILE
# replaces it with a project's own.
DEFAULT_FILE = str(Path(__file__).parent / "data" / "known-discrepancies.yaml")
KEYS = ("case", "impl", "except_impl", "claim", "grad", "versions", "intermittent", "reason",
        "evidence", "link")


@dataclass(frozen=True)
class KnownDiscrepancy:
    case: str
    reason: str
    evidence: str
    impl: Optional[str] = None
    except_impl: Optional[str] = None   # glob on the full name: variants the entry leaves out
    claim: Optional[str] = None
    grad: Optional[str] = None
    versions: Optional[str] = None
    intermittent: Optional[bool] = None  # shows in some runs only: a pass is no news
    link: Optional[str] = None
    line: int = 0

    def matches(self, case: str, grad: str, *, impl: str | None = None,
                claim: str | None = None, version: str | None = None) -> bool:
        if not fnmatch.fnmatchcase(case, self.case):
            return False
        if self.grad and self.grad != grad:
            return False
        if impl is not None:
            if not self.impl or not (fnmatch.fnmatchcase(impl, self.impl) or
                                     fnmatch.fnmatchcase(impl.split("[")[0], self.impl)):
                return False
            if self.except_impl and fnmatch.fnmatchcase(impl, self.except_impl):
                return False
        elif claim is not None:
            if not self.claim or not fnmatch.fnmatchcase(claim, self.claim):
                return False
        if self.versions and version:
            try:
                return Version(version.split("+")[0]) in SpecifierSet(self.versions)
            except InvalidVersion:
                return False
        return True

    def to_dict(self) -> dict:
        return {k: getattr(self, k) for k in KEYS if getattr(self, k) is not None}


def load_known(path: str | Path) -> list[KnownDiscrepancy]:
    """Entries of a known-discrepancies file; problems are :class:`SourceError`."""
    name = str(path)
    document = load(path, "known-discrepancies file")
    if document is None:
        return []
    if not isinstance(document, list):
        raise SourceError(name, 1, "expected a list of entries")
    entries = []
    for i, raw in enumerate(document):
        line = getattr(raw, "line", 1)
        if not isinstance(raw, Located):
            raise SourceError(name, line, f"entry {i}: expected a mapping")
        unknown = sorted(set(raw) - set(KEYS))
        if unknown:
            raise SourceError(name, raw.line_of(unknown[0]), f"entry {i}: unknown key "
                                                             f"'{unknown[0]}'")
        for key in ("case", "reason", "evidence"):
            if not isinstance(raw.get(key), str) or not raw[key].strip():
                raise SourceError(name, raw.line_of(key), f"entry {i}: '{key}' is required")
        if ("impl" in raw) == ("claim" in raw):
            raise SourceError(name, line, f"entry {i}: give exactly one of 'impl' or 'claim'")
        if "except_impl" in raw and "impl" not in raw:
            raise SourceError(name, raw.line_of("except_impl"),
                              f"entry {i}: 'except_impl' narrows 'impl'; give 'impl' too")
        if "versions" in raw:
            try:
                SpecifierSet(str(raw["versions"]))
            except InvalidSpecifier:
                raise SourceError(name, raw.line_of("versions"),
                                  f"entry {i}: versions {raw['versions']!r} is not a version "
                                  "range such as '>=2.16,<2.22'") from None
        if "intermittent" in raw and not isinstance(raw["intermittent"], bool):
            raise SourceError(name, raw.line_of("intermittent"),
                              f"entry {i}: 'intermittent' is true or false, got "
                              f"{raw['intermittent']!r}")
        fields = {k: (str(raw[k]) if raw.get(k) is not None else None)
                  for k in KEYS if k != "intermittent"}
        entries.append(KnownDiscrepancy(**fields, intermittent=raw.get("intermittent") or None,
                                        line=line))
    return entries


def find(entries: list[KnownDiscrepancy], case: str, grad: str, **kw) -> Optional[KnownDiscrepancy]:
    return next((e for e in entries if e.matches(case, grad, **kw)), None)
