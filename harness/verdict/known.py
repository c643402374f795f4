"""Known discrepancies: data, not code (``harness/data/known-discrepancies.yaml``).

Each entry names a case pattern and either an impl pattern (a framework bug)
or a claim source pattern (a wrong source), optionally a grad, a framework
version range and ``when``: the facts of the path the bug lives on
(:mod:`harness.verdict.facts`; ``when: {onednn: on}`` for a bug of oneDNN's kernels,
``when: {onednn_dtype: off}`` for a framework's own half-precision kernels),
matched on what the impl's process probed, never on a variant's name. It
gives the reason, the evidence (a minimal standalone reproduction), the
platforms that reproduction ran on, and a link. ``except_impl`` (a glob of
variant names it leaves out) is still read, for older files. A verdict that fails and matches an entry is shown
as ``known``; one that passes although an entry matches is flagged, so a fixed
bug does not stay hidden, unless the entry is ``intermittent: true`` (a bug that
shows only in some runs, such as uninitialized memory that is sometimes zero:
its passes are expected, and the pytest plugin's xfail is not strict).

``case``, ``impl``, ``except_impl`` and ``claim`` are shell globs, matched by
:func:`fnmatch.fnmatchcase`, whose translation (since Python 3.9) commits to
each ``*`` as it goes: the time to match is linear in the text for a given
glob, never exponential. No entry is a regular expression. Each glob is at
most :data:`MAX_GLOB` characters and a ``versions`` range at most
:data:`MAX_VERSIONS`, refused with file, line, entry and field when the file
is loaded.
"""
from __future__ import annotations

import fnmatch
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping, Optional

from packaging.specifiers import InvalidSpecifier, SpecifierSet
from packaging.version import InvalidVersion, Version

from harness.verdict.facts import parse_when, when_matches
from harness.case import ops
from harness.safeio.yaml_source import Located, SourceError, load

# Shipped with the package (so an installed convgrad knows them too); --known FILE
# replaces it with a project's own.
DEFAULT_FILE = str(Path(__file__).resolve().parents[1] / "data" / "known-discrepancies.yaml")
KEYS = ("case", "impl", "except_impl", "claim", "grad", "versions", "when", "platforms",
        "intermittent", "reason", "evidence", "link")
GLOBS = ("case", "impl", "except_impl", "claim")
MAX_GLOB = 1000        # characters of a case, impl or claim glob
MAX_VERSIONS = 200     # characters of a versions range


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
    # the facts of the verdict's path it holds on (harness.verdict.facts): {"onednn_dtype": ("off",)}
    when: Mapping[str, tuple] = field(default_factory=dict)
    platforms: Optional[str] = None      # prose: the machines its reproduction was run on
    line: int = 0

    def matches(self, case: str, grad: str, *, impl: str | None = None,
                claim: str | None = None, version: str | None = None,
                facts: Mapping[str, Any] | None = None) -> bool:
        if not fnmatch.fnmatchcase(case, self.case):
            return False
        if self.when and (facts is None or not when_matches(self.when, facts)):
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
        out = {k: getattr(self, k) for k in KEYS if getattr(self, k) not in (None, {})}
        if self.when:
            out["when"] = {k: list(v) for k, v in self.when.items()}
        return out


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
        if "when" in raw and "claim" in raw:
            raise SourceError(name, raw.line_of("when"),
                              f"entry {i}: 'when' tests the path an impl took; a claim has none")
        if "except_impl" in raw and "impl" not in raw:
            raise SourceError(name, raw.line_of("except_impl"),
                              f"entry {i}: 'except_impl' narrows 'impl'; give 'impl' too")
        for key in GLOBS:
            if key in raw and len(str(raw[key])) > MAX_GLOB:
                raise SourceError(name, raw.line_of(key),
                                  f"entry {i}: {key} is {len(str(raw[key]))} characters; a "
                                  f"glob is at most {MAX_GLOB}")
        if "versions" in raw and len(str(raw["versions"])) > MAX_VERSIONS:
            raise SourceError(name, raw.line_of("versions"),
                              f"entry {i}: versions is {len(str(raw['versions']))} characters;"
                              f" at most {MAX_VERSIONS}")
        if "versions" in raw:
            try:
                SpecifierSet(str(raw["versions"]))
            except InvalidSpecifier:
                raise SourceError(name, raw.line_of("versions"),
                                  f"entry {i}: versions {raw['versions']!r} is not a version "
                                  "range such as '>=2.16,<2.22'") from None
        if "grad" in raw and raw["grad"] not in ops.ALL_GRADS:
            # a grad the runner never judges would make the entry match nothing, silently
            raise SourceError(name, raw.line_of("grad"),
                              f"entry {i}: grad {raw['grad']!r} is not one of "
                              f"{', '.join(ops.ALL_GRADS)} (one grad an entry)")
        if "intermittent" in raw and not isinstance(raw["intermittent"], bool):
            raise SourceError(name, raw.line_of("intermittent"),
                              f"entry {i}: 'intermittent' is true or false, got "
                              f"{raw['intermittent']!r}")
        fields = {k: (str(raw[k]) if raw.get(k) is not None else None)
                  for k in KEYS if k not in ("intermittent", "when")}
        entries.append(KnownDiscrepancy(**fields, intermittent=raw.get("intermittent") or None,
                                        when=parse_when(name, raw, i) if "when" in raw else {},
                                        line=line))
    return entries


def find(entries: list[KnownDiscrepancy], case: str, grad: str, **kw) -> Optional[KnownDiscrepancy]:
    return next((e for e in entries if e.matches(case, grad, **kw)), None)
