"""Run versus run: what changed between two run records (the upgrade audit).

``convgrad diff OLD.json NEW.json`` lines up the verdicts of two records by
(case, impl or claim source, grad) and reports:

* verdicts whose status changed (``pass -> fail``: worse; ``fail -> pass``: better);
* error ratios (``max |err| / bound``) that moved by more than ``factor`` either
  way, although the status held;
* verdicts whose known-discrepancy entry changed although the status held (another
  entry matches, or one matches now or no longer), with the old and the new entry;
* cases, impls and verdicts present in only one record;
* element by element, where both runs stored a verdict's values (``values.npz``
  beside ``results.json`` holds every verdict's; a record alone holds small tensors
  and every verdict that did not pass), how many elements differ, by how much, and how
  the error ratio moved.

It exits 1 when anything got worse: a status that became failing, a ratio that
grew past the factor, or a verdict that disappeared. ``--markdown FILE`` writes
the same as a Markdown table for a CI step summary.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Optional

import numpy as np

from harness.safeio import printable
from harness.verdict.status import FAILING

DEFAULT_FACTOR = 4.0
RANK = {"pass": 0, "holds": 0, "unsupported": 1, "skipped": 1, "known": 2,
        "nondeterministic": 3, "fail": 4, "wrong": 4, "error": 5}


@dataclass
class Change:
    key: tuple            # (case, subject, grad)
    kind: str             # status | ratio | known | added | removed | values
    old: object = None
    new: object = None
    worse: bool = False
    detail: str = ""
    facts: str = ""       # the platform facts of the impl's path that differ between the runs


@dataclass
class Diff:
    old: str
    new: str
    changes: list[Change] = field(default_factory=list)
    compared: int = 0          # verdicts both records hold
    claims_compared: int = 0   # source claims both records hold
    platforms: dict[str, str] = field(default_factory=dict)   # impl -> its facts that differ

    @property
    def worse(self) -> list[Change]:
        return [c for c in self.changes if c.worse]


def _key(entry: dict) -> tuple:
    return (entry["case"], entry.get("impl") or f"claim: {entry.get('source')}", entry["grad"])


def _entries(record: dict) -> dict[tuple, dict]:
    return {_key(e): e for e in record.get("verdicts", []) + record.get("claims", [])}


def _ratio(entry: dict) -> Optional[float]:
    value = (entry.get("stats") or {}).get("error_ratio")
    if isinstance(value, str):
        value = float(value)
    return value if isinstance(value, (int, float)) else None


NO_KNOWN = "no known entry"


def known_label(entry: object) -> str:
    """A known-discrepancies entry as a record keeps it, in one line: what it matches and
    why (``tf.* on conformance/* dx versions >=2.16 when onednn=on: reason``)."""
    if not isinstance(entry, dict) or not entry:
        return NO_KNOWN
    who = entry.get("impl") or (f"claim {entry['claim']}" if entry.get("claim") else "?")
    words = [f"{who} on {entry.get('case', '*')}"]
    if entry.get("except_impl"):
        words.append(f"except {entry['except_impl']}")
    if entry.get("grad"):
        words.append(str(entry["grad"]))
    if entry.get("versions"):
        words.append(f"versions {entry['versions']}")
    when = entry.get("when")
    if isinstance(when, dict) and when:
        words.append("when " + " ".join(
            f"{k}={'|'.join(map(str, v)) if isinstance(v, list) else v}"
            for k, v in when.items()))
    if entry.get("intermittent"):
        words.append("(intermittent)")
    reason = entry.get("reason")
    return printable.excerpt(" ".join(words) + (f": {reason}" if reason else ""), 160)


def _known_change(key: tuple, a: dict, b: dict) -> Optional[Change]:
    """A verdict of one status in both records whose known entry is not the same."""
    ka, kb = a.get("known") or None, b.get("known") or None
    if ka == kb:
        return None
    status = a["status"]
    what = ("now matched by a known entry" if ka is None else
            "no longer matched by a known entry" if kb is None else "another known entry")
    return Change(key, "known", known_label(ka), known_label(kb),
                  detail=f"{status} in both; {what}")


def _entry_change(ka: Optional[dict], kb: Optional[dict]) -> str:
    """A status change's detail: the known entry that matches now, or no longer."""
    if ka == kb:
        return ""
    if ka is None:
        return f"matched by the known entry {known_label(kb)}"
    if kb is None:
        return f"no longer matched by the known entry {known_label(ka)}"
    return f"known entry {known_label(ka)} -> {known_label(kb)}"


def _ratio_text(ra: Optional[float], rb: Optional[float]) -> str:
    """How the error ratio of a verdict whose values drifted moved (it may not have
    moved past the factor: then this is the only place that says it)."""
    if ra is None and rb is None:
        return ""
    return f"; greatest |err| / bound {_number(ra)} -> {_number(rb)}"


def _number(value: Optional[float]) -> str:
    return "none" if value is None else f"{value:.3g}"


def _values(entry: dict, stored: Optional[dict] = None) -> Optional[np.ndarray]:
    """The verdict's values: from ``values.npz`` beside its record where it has them
    (every verdict with values), else the record's own arrays (small tensors and every
    verdict that did not pass)."""
    key = entry.get("values_key")
    if stored and key in stored:
        return np.asarray(stored[key], dtype=np.float64)
    view = (entry.get("arrays") or {}).get("actual")
    if not view or "plane" in view:
        return None
    try:
        return np.asarray(view["data"], dtype=np.float64).reshape(view["shape"])
    except (ValueError, TypeError, KeyError):
        return None


def _flat(platform: object, prefix: str = "") -> dict[str, str]:
    """A probed platform (an impl's ``platform`` in a record) as ``fact -> value`` text."""
    out: dict[str, str] = {}
    if not isinstance(platform, dict):
        return out
    for key, value in platform.items():
        if key in ("model", "machine", "vendor"):   # the CPU's name: its class and flags say it
            continue
        name = f"{prefix}{key}"
        if isinstance(value, dict):
            out.update(_flat(value, f"{name}."))
        elif isinstance(value, list):
            out[name] = " ".join(map(str, value)) or "none"
        else:
            out[name] = "unset" if value is None else str(value)
    return out


def _platforms(record: dict) -> dict[str, dict[str, str]]:
    return {i["name"]: _flat(i.get("platform")) for i in record.get("impls", [])
            if isinstance(i, dict) and isinstance(i.get("name"), str)}


# The facts that decide a path, named first when a changed verdict is explained.
DECISIVE = ("onednn", "onednn_bfloat16", "onednn_float16", "cpu_capability",
            "cpu.effective_class", "cpu.class", "version", "platform", "backend")


def platform_change(old: dict[str, str], new: dict[str, str]) -> str:
    """The facts that differ between two probes of one impl, decisive ones first:
    ``onednn on -> off, cpu.class avx512_vnni -> avx2``; "" when none (or no probe)."""
    if not old or not new:
        return ""
    keys = sorted(set(old) | set(new),
                  key=lambda k: (DECISIVE.index(k) if k in DECISIVE else len(DECISIVE), k))
    return ", ".join(f"{k} {old.get(k, 'absent')} -> {new.get(k, 'absent')}"
                     for k in keys if old.get(k) != new.get(k))


def diff(old: dict, new: dict, *, factor: float = DEFAULT_FACTOR, old_name: str = "old",
         new_name: str = "new", old_values: Optional[dict] = None,
         new_values: Optional[dict] = None) -> Diff:
    out = Diff(old_name, new_name)
    out.platforms = _platform_changes(old, new)
    out.changes, out.compared, out.claims_compared = _changes(old, new, factor, old_values,
                                                              new_values)
    for c in out.changes:   # each change of an impl's verdict, explained by its path's facts
        facts = out.platforms.get(c.key[1], "")
        if facts and c.kind != "added" and c.kind != "removed":
            c.facts = facts
    return out


def _platform_changes(old: dict, new: dict) -> dict[str, str]:
    before, after = _platforms(old), _platforms(new)
    return {name: change for name in sorted(before.keys() & after.keys())
            if (change := platform_change(before[name], after[name]))}


def _changes(old: dict, new: dict, factor: float, old_values: Optional[dict],
             new_values: Optional[dict]) -> tuple[list[Change], int, int]:
    """(the changes, how many verdicts and how many claims both records hold)."""
    changes: list[Change] = []
    compared = claims = 0
    before, after = _entries(old), _entries(new)
    for key in sorted(before.keys() - after.keys()):
        changes.append(Change(key, "removed", before[key]["status"], None,
                                  worse=True, detail="only in the old record"))
    for key in sorted(after.keys() - before.keys()):
        status = after[key]["status"]
        changes.append(Change(key, "added", None, status, worse=status in FAILING,
                                  detail="only in the new record"))
    for key in sorted(before.keys() & after.keys()):
        a, b = before[key], after[key]
        if key[1].startswith("claim: "):
            claims += 1
        else:
            compared += 1
        if a["status"] != b["status"]:
            worse = RANK.get(b["status"], 5) > RANK.get(a["status"], 5)
            ka, kb = a.get("known") or None, b.get("known") or None
            changes.append(Change(key, "status", a["status"], b["status"], worse=worse,
                                  detail=_entry_change(ka, kb)))
            continue
        known = _known_change(key, a, b)
        if known:
            changes.append(known)
        ra, rb = _ratio(a), _ratio(b)
        if ra is not None and rb is not None and (ra > 0 or rb > 0):
            moved = (rb + 1e-300) / (ra + 1e-300)
            if moved > factor or moved < 1 / factor:
                changes.append(Change(key, "ratio", ra, rb, worse=moved > factor and rb > 0.01,
                                          detail=f"error ratio x{moved:.3g}"))
        va, vb = _values(a, old_values), _values(b, new_values)
        if va is not None and vb is not None and va.shape == vb.shape:
            differ = ~((va == vb) | (np.isnan(va) & np.isnan(vb)))
            if differ.any():
                with np.errstate(invalid="ignore"):
                    largest = float(np.nanmax(np.abs(va - vb)[differ])) if differ.any() else 0.0
                changes.append(Change(key, "values", a["status"], b["status"], detail=(
                    f"{int(differ.sum())} of {va.size} elements differ, largest by "
                    f"{largest:.3g}" + _ratio_text(ra, rb))))
    return changes, compared, claims
