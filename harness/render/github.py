"""GitHub Actions outputs of a run: a Markdown step summary and error annotations.

``convgrad run --github`` (automatic where ``GITHUB_ACTIONS=true``) appends the
summary to ``$GITHUB_STEP_SUMMARY`` and prints ``::error`` workflow commands that
point at the case files, so failures show on the pull request's diff.

One annotation per case-file *location* (file and line), not per verdict: a matrix
entry expands into many cases that all sit at its line, and GitHub shows only 10 error
annotations per step (50 per job). An annotation names how many verdicts (and source
claims) failed at its line, by status, and lists the first ``MAX_LISTED`` of them with
their test id and the command that re-runs each. The locations are ordered by
importance (a fail or an error before a nondeterministic verdict, before a wrong source
claim; then the location with more failures) and at most ``MAX_ANNOTATIONS`` are
printed: when there are more, the last one says how many locations (and failures) have
none, and so does the step summary, whose table lists the failures in the same order.
"""
from __future__ import annotations

import os
import shlex
from dataclasses import dataclass, field
from pathlib import Path
from typing import TextIO

from harness.render.terminal import repro_command, run_options
from harness.safeio import printable
from harness.verdict import testids
from harness.verdict.status import FAILING

MAX_ANNOTATIONS = 10     # GitHub shows 10 error annotations per step
MAX_LISTED = 5           # failures listed in one location's annotation
MAX_TABLE_ROWS = 100     # failures in the step summary's table
# Which failures come first: a framework that computes a wrong value or cannot compute,
# then one that computes different values run to run, then a source's wrong claim.
PRIORITY = {"fail": 0, "error": 0, "nondeterministic": 1, "wrong": 2}


def _escape(text: str, prop: bool = False) -> str:
    """Workflow-command escaping: ``%``, CR, LF (and ``:`` ``,`` in properties)."""
    text = text.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")
    return text.replace(":", "%3A").replace(",", "%2C") if prop else text


def _command(props: dict[str, object], message: str) -> str:
    """One ``::error`` line; what a record carries is shown escaped (:mod:`printable`:
    no terminal escape reaches the log) and then escaped as workflow commands require."""
    head = ",".join(f"{k}={_escape(printable.line(v), True)}" for k, v in props.items())
    text = printable.block(message.replace("\r\n", "\n"))
    return f"::error{' ' + head if head else ''}::{_escape(text)}"


def _priority(entry: dict) -> int:
    return PRIORITY.get(entry["status"], 3)


@dataclass
class Location:
    """The failing verdicts and claims of one case-file line, most important first."""

    file: str
    line: int
    entries: list[dict] = field(default_factory=list)

    @property
    def rank(self) -> tuple:
        """Its most important failure's priority, then the more failures the sooner."""
        return (_priority(self.entries[0]), -len(self.entries))


def failing(record: dict) -> list[dict]:
    """The failing verdicts and claims, most important first (else in record order)."""
    return sorted((e for e in record["verdicts"] + record["claims"]
                   if e["status"] in FAILING), key=_priority)


def locations(record: dict) -> list[Location]:
    """The failures grouped by case-file location, the most important location first."""
    where = {c["id"]: (c.get("file") or "", c.get("line") or 1) for c in record["cases"]}
    groups: dict[tuple, Location] = {}
    for e in failing(record):
        file, line = where.get(e["case"], ("", 1))
        groups.setdefault((file, line), Location(file, line)).entries.append(e)
    return sorted(groups.values(), key=lambda g: g.rank)   # stable: file order on ties


def _who(e: dict) -> str:
    return e.get("impl") or f"claim by {e.get('source')}"


def _test_id(e: dict) -> str:
    return e.get("test") or (testids.verdict_name(e["case"], e["impl"], e["grad"])
                             if e.get("impl") else f"{e['case']}[claim-{e['grad']}]")


def _hint(e: dict, file: str, options: dict) -> str:
    """The command that re-runs one failure: its case with its impl (a claim is judged
    whenever its case runs)."""
    if e.get("impl"):
        return repro_command(e, file or "cases/", options)
    return shlex.join(["convgrad", "run", file or "cases/", "-k", e["case"]])


def _counts(entries: list[dict]) -> str:
    counts: dict[str, int] = {}
    for e in entries:
        counts[e["status"]] = counts.get(e["status"], 0) + 1
    return ", ".join(f"{n} {s}" for s, n in counts.items())


def _first_line(e: dict) -> str:
    return printable.excerpt((e.get("message") or "").strip().split("\n")[0], 300)


def _annotation(loc: Location, options: dict) -> str:
    first, n = loc.entries[0], len(loc.entries)
    title = f"convgrad {first['status']}: {first['case']} [{_who(first)}] {first['grad']}"
    props = {"file": testids.shown_path(loc.file), "line": loc.line}
    if n == 1:
        message = (first.get("message") or "").strip()[:2000]
        return _command({**props, "title": title}, message + "\n\nreproduce: "
                        + _hint(first, loc.file, options))
    title += f" and {n - 1} more failing here"
    what = "verdicts" if all(e.get("impl") for e in loc.entries) else "verdicts or claims"
    lines = [f"{n} failing {what} at this line ({_counts(loc.entries)}); "
             f"the first {min(n, MAX_LISTED)}:"]
    for e in loc.entries[:MAX_LISTED]:
        lines += [f"- {e['status']} {_test_id(e)}: {_first_line(e)}",
                  f"  reproduce: {_hint(e, loc.file, options)}"]
    if n > MAX_LISTED:
        lines.append(f"... and {n - MAX_LISTED} more: see the step summary or the report")
    return _command({**props, "title": title}, "\n".join(lines))


def _split(locs: list[Location]) -> tuple[list[Location], list[Location]]:
    """(the locations annotated, those left out): all when they fit, else room for the
    line that counts the rest."""
    if len(locs) <= MAX_ANNOTATIONS:
        return locs, []
    return locs[:MAX_ANNOTATIONS - 1], locs[MAX_ANNOTATIONS - 1:]


def _rest_line(rest: list[Location]) -> str:
    n = sum(len(loc.entries) for loc in rest)
    return (f"{len(rest)} more locations ({n} failing verdicts or claims) have no "
            f"annotation (GitHub shows {MAX_ANNOTATIONS} per step)")


def annotations(record: dict) -> list[str]:
    """The ``::error`` lines: one per failing location, at most ``MAX_ANNOTATIONS``."""
    options = run_options(record)
    shown, rest = _split(locations(record))
    out = [_annotation(loc, options) for loc in shown]
    if rest:
        entries = [e for loc in rest for e in loc.entries]
        where = [f"{testids.shown_path(loc.file)}:{loc.line} ({_counts(loc.entries)})"
                 for loc in rest]
        out.append(_command({"title": f"convgrad: {len(rest)} more failing locations"},
                            _rest_line(rest) + f": {_counts(entries)}\n"
                            + "\n".join(where[:20])
                            + (f"\n... and {len(where) - 20} more" if len(where) > 20 else "")
                            + "\nsee the step summary or the report"))
    return out


def _cell(text: object) -> str:
    """A table cell of the step summary: no heading, link, image, tag or cell break can
    come from what a record carries (printable.markdown)."""
    return printable.markdown(text, 300)


def summary_markdown(record: dict) -> str:
    s = record["summary"]
    counts = ", ".join(f"{n} {k}" for k, n in s["verdicts"].items() if n)
    claims = ", ".join(f"{n} {k}" for k, n in s["claims"].items() if n)
    lines = ["### convgrad", "", f"**verdicts:** {counts or 'none'}"
             + (f"; **source claims:** {claims}" if claims else ""), ""]
    bad, rest = failing(record), _split(locations(record))[1]
    if rest:
        lines += [_rest_line(rest) + ("; the table below lists every failure."
                                      if len(bad) <= MAX_TABLE_ROWS else
                                      f"; the table below lists the first {MAX_TABLE_ROWS}, "
                                      "the report every one."), ""]
    if bad:
        lines += ["| status | case | impl / claim | grad | first line |",
                  "|---|---|---|---|---|"]
        for e in bad[:MAX_TABLE_ROWS]:
            who = e.get("impl") or f"claim: {e.get('source')}"
            lines.append(f"| {e['status']} | {_cell(e['case'])} | {_cell(who)} | "
                         f"{_cell(e['grad'])} | {_cell(_first_line(e))} |")
        if len(bad) > MAX_TABLE_ROWS:
            lines.append(f"\n... and {len(bad) - MAX_TABLE_ROWS} more")
    by_limitation = s.get("unsupported_by_limitation") or {}
    if by_limitation:
        lines += ["", "unsupported, by documented limitation: " + ", ".join(
            f"{n} {_cell(k)}" for k, n in by_limitation.items())]
    return "\n".join(lines) + "\n"


def enabled(flag: bool) -> bool:
    return flag or os.environ.get("GITHUB_ACTIONS") == "true"


def publish(record: dict, stream: TextIO) -> None:
    for line in annotations(record):
        print(line, file=stream)
    path = os.environ.get("GITHUB_STEP_SUMMARY")
    if path:
        with Path(path).open("a", encoding="utf-8") as f:
            f.write(summary_markdown(record))
