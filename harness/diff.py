"""Run versus run: what changed between two run records (the upgrade audit).

``convgrad diff OLD.json NEW.json`` lines up the verdicts of two records by
(case, impl or claim source, grad) and reports:

* verdicts whose status changed (``pass -> fail``: worse; ``fail -> pass``: better);
* error ratios (``max |err| / bound``) that moved by more than ``factor`` either
  way, although the status held;
* cases, impls and verdicts present in only one record;
* element by element, where both runs stored a verdict's values (``values.npz``
  beside ``results.json`` holds every verdict's; a record alone holds small tensors
  and every verdict that did not pass), how many elements differ and by how much.

It exits 1 when anything got worse: a status that became failing, a ratio that
grew past the factor, or a verdict that disappeared. ``--markdown FILE`` writes
the same as a Markdown table for a CI step summary.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Optional

import numpy as np

from harness.status import FAILING

DEFAULT_FACTOR = 4.0
RANK = {"pass": 0, "holds": 0, "unsupported": 1, "skipped": 1, "known": 2,
        "nondeterministic": 3, "fail": 4, "wrong": 4, "error": 5}


@dataclass
class Change:
    key: tuple            # (case, subject, grad)
    kind: str             # status | ratio | added | removed | values
    old: object = None
    new: object = None
    worse: bool = False
    detail: str = ""


@dataclass
class Diff:
    old: str
    new: str
    changes: list[Change] = field(default_factory=list)
    compared: int = 0

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


def diff(old: dict, new: dict, *, factor: float = DEFAULT_FACTOR, old_name: str = "old",
         new_name: str = "new", old_values: Optional[dict] = None,
         new_values: Optional[dict] = None) -> Diff:
    out = Diff(old_name, new_name)
    before, after = _entries(old), _entries(new)
    for key in sorted(before.keys() - after.keys()):
        out.changes.append(Change(key, "removed", before[key]["status"], None,
                                  worse=True, detail="only in the old record"))
    for key in sorted(after.keys() - before.keys()):
        status = after[key]["status"]
        out.changes.append(Change(key, "added", None, status, worse=status in FAILING,
                                  detail="only in the new record"))
    for key in sorted(before.keys() & after.keys()):
        a, b = before[key], after[key]
        out.compared += 1
        if a["status"] != b["status"]:
            worse = RANK.get(b["status"], 5) > RANK.get(a["status"], 5)
            out.changes.append(Change(key, "status", a["status"], b["status"], worse=worse))
            continue
        ra, rb = _ratio(a), _ratio(b)
        if ra is not None and rb is not None and (ra > 0 or rb > 0):
            moved = (rb + 1e-300) / (ra + 1e-300)
            if moved > factor or moved < 1 / factor:
                out.changes.append(Change(key, "ratio", ra, rb, worse=moved > factor and rb > 0.01,
                                          detail=f"error ratio x{moved:.3g}"))
        va, vb = _values(a, old_values), _values(b, new_values)
        if va is not None and vb is not None and va.shape == vb.shape:
            differ = ~((va == vb) | (np.isnan(va) & np.isnan(vb)))
            if differ.any():
                with np.errstate(invalid="ignore"):
                    largest = float(np.nanmax(np.abs(va - vb)[differ])) if differ.any() else 0.0
                out.changes.append(Change(key, "values", None, None, detail=(
                    f"{int(differ.sum())} of {va.size} elements differ, largest by "
                    f"{largest:.3g}")))
    return out


def _fmt(value) -> str:
    if isinstance(value, float):
        return f"{value:.3g}" if math.isfinite(value) else str(value)
    return "—" if value is None else str(value)


def text(d: Diff) -> str:
    lines = [f"convgrad diff {d.old} -> {d.new}: {d.compared} verdicts in both, "
             f"{len(d.changes)} changes, {len(d.worse)} worse"]
    for c in d.changes:
        case, subject, grad = c.key
        mark = "WORSE " if c.worse else ""
        lines.append(f"  {mark}{c.kind:7} {case} [{subject}] {grad}: {_fmt(c.old)} -> "
                     f"{_fmt(c.new)}" + (f" ({c.detail})" if c.detail else ""))
    return "\n".join(lines)


def markdown(d: Diff) -> str:
    head = (f"### convgrad diff\n\n`{d.old}` → `{d.new}`: {d.compared} verdicts in both, "
            f"**{len(d.changes)} changes, {len(d.worse)} worse**\n")
    if not d.changes:
        return head + "\nNo verdict changed.\n"
    rows = ["| | change | case | impl / claim | grad | old | new | detail |",
            "|---|---|---|---|---|---|---|---|"]
    for c in d.changes:
        case, subject, grad = c.key
        cells = ["❌" if c.worse else "", c.kind, case, subject, grad, _fmt(c.old), _fmt(c.new),
                 c.detail]
        rows.append("| " + " | ".join(str(x).replace("|", "\\|") for x in cells) + " |")
    return head + "\n" + "\n".join(rows) + "\n"


def html(d: Diff) -> str:
    """The diff as one self-contained HTML page (the report's template environment:
    everything escaped)."""
    from harness.report import _environment

    return _environment().get_template("diff.html.j2").render(d=d, fmt=_fmt)
