"""The report's overview: a run's cases grouped by outcome, problems first.

A suite-sized run has a thousand cases and sixteen thousand verdicts; a reader
wants the few that need attention. Every case falls in exactly one of:

* ``problems``: a verdict that fails the run (fail, error, nondeterministic) or
  a wrong source claim (:data:`harness.verdict.status.FAILING`);
* ``known``: no problem, but a documented discrepancy (a ``known`` verdict or claim);
* ``passing``: neither; grouped by suite (the first part of the case id) and op,
  with counts, its unsupported and skipped verdicts counted beside the passes.

Unsupported verdicts are grouped apart, one group per documented limitation
(:mod:`harness.verdict.limitations`) with its verdicts, cases and impls, whatever group
their case is in; skipped verdicts (cannot run here) likewise in one group.
Everything here is data: the template decides how it looks.
"""
from __future__ import annotations

from collections import Counter, defaultdict
from dataclasses import dataclass, field
from typing import Optional, Sequence

from harness.verdict.status import FAILING, Status

UNDOCUMENTED = {"id": "undocumented",
                "summary": "no limitation recorded (a record written before limitations "
                           "were data)"}


@dataclass
class CaseRow:
    """One case in a group: its verdicts (and claims) in record order."""

    id: str
    slug: str
    op: str
    verdicts: list = field(default_factory=list)   # (verdict, its slug)
    claims: list = field(default_factory=list)     # (claim, its slug)

    def counts(self) -> list[tuple[str, int]]:
        """(status, how many) of its verdicts, passes first."""
        c = Counter(v["status"] for v, _ in self.verdicts)
        return sorted(c.items(), key=lambda kv: (kv[0] != Status.PASS, kv[0]))


@dataclass
class Group:
    """A collapsible group of cases: a limitation's, the known ones, a suite's passes."""

    key: str                      # stable id: "limitation:<id>", "passing:<suite>/<op>" ...
    title: str
    rows: list[CaseRow]
    verdicts: int                 # the verdicts the group stands for
    impls: list[str] = field(default_factory=list)
    about: Optional[dict] = None  # a limitation: its id, summary and link
    counts: list[tuple[str, int]] = field(default_factory=list)   # status counts of its cases


def outcome(verdicts: Sequence[dict], claims: Sequence[dict]) -> str:
    """``problem``, ``known`` or ``passing``: the group a case belongs to."""
    statuses = {v["status"] for v in verdicts} | {c["status"] for c in claims}
    if statuses & FAILING:
        return "problem"
    if Status.KNOWN in statuses:
        return "known"
    return "passing"


def suite_of(case_id: str) -> str:
    return case_id.split("/", 1)[0] if "/" in case_id else "(no suite)"


def _filtered(row: CaseRow, status: str) -> CaseRow:
    return CaseRow(row.id, row.slug, row.op, [(v, s) for v, s in row.verdicts
                                              if v["status"] == status], [])


def _status_counts(rows: Sequence[CaseRow]) -> list[tuple[str, int]]:
    total: Counter = Counter()
    for r in rows:
        total.update(dict(r.counts()))
    return sorted(total.items(), key=lambda kv: (kv[0] != Status.PASS, kv[0]))


def limitation_groups(rows: Sequence[CaseRow], safe_url) -> list[Group]:
    """One group per documented limitation behind the unsupported verdicts, most frequent
    first; each row holds only that limitation's verdicts of the case."""
    by_lim: dict[str, dict] = {}
    for row in rows:
        for v, vslug in row.verdicts:
            if v["status"] != Status.UNSUPPORTED:
                continue
            lim = v.get("limitation") or UNDOCUMENTED
            lid = str(lim.get("id", "?"))
            entry = by_lim.setdefault(lid, {"lim": lim, "rows": {}, "impls": set(), "n": 0})
            entry["rows"].setdefault(row.id, CaseRow(row.id, row.slug, row.op)) \
                .verdicts.append((v, vslug))
            entry["impls"].add(v.get("impl", ""))
            entry["n"] += 1
    groups = [Group(key=f"limitation:{lid}", title=lid, rows=list(e["rows"].values()),
                    verdicts=e["n"], impls=sorted(e["impls"]),
                    about={**e["lim"], "link": safe_url(e["lim"].get("link"))})
              for lid, e in by_lim.items()]
    return sorted(groups, key=lambda g: (-g.verdicts, g.title))


def group(cases: Sequence[dict], verdicts_by_case: dict, claims_by_case: dict,
          slugs: dict[str, str], verdict_slug, claim_slug, safe_url) -> dict:
    """The overview of a run: ``problems`` and ``known`` (rows), ``limitations`` and
    ``skipped`` (groups of verdicts), ``passing`` (groups by suite and op)."""
    rows, kinds = [], {}
    for case in cases:
        cs = slugs[case["id"]]
        vs = verdicts_by_case.get(case["id"], [])
        cl = claims_by_case.get(case["id"], [])
        row = CaseRow(case["id"], cs, str(case.get("op", "")),
                      [(v, verdict_slug(v, cs)) for v in vs],
                      [(c, claim_slug(c, i, cs)) for i, c in cl])
        rows.append(row)
        kinds[case["id"]] = outcome(vs, [c for _, c in cl])
    problems = [r for r in rows if kinds[r.id] == "problem"]
    known = [r for r in rows if kinds[r.id] == "known"]
    passing: dict[tuple[str, str], list[CaseRow]] = defaultdict(list)
    for r in rows:
        if kinds[r.id] == "passing":
            passing[(suite_of(r.id), r.op)].append(r)
    skipped = [_filtered(r, Status.SKIPPED) for r in rows
               if any(v["status"] == Status.SKIPPED for v, _ in r.verdicts)]
    return {
        "problems": problems,
        "known": Group("known", "known discrepancies", known,
                       sum(v["status"] == Status.KNOWN for r in known for v, _ in r.verdicts),
                       counts=_status_counts(known)),
        "limitations": limitation_groups(rows, safe_url),
        "skipped": Group("skipped", "skipped (cannot run here)", skipped,
                         sum(len(r.verdicts) for r in skipped)) if skipped else None,
        "passing": [Group(f"passing:{suite}/{op}", f"{suite} · {op}", rs,
                          sum(len(r.verdicts) for r in rs), counts=_status_counts(rs))
                    for (suite, op), rs in passing.items()],
    }
