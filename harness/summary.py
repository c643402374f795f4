"""The terminal summary: a cases x impls table rendered from a run record.

Case ids, impl names, sources and messages come from case files, plug-ins and
frameworks: each is escaped (:mod:`harness.printable`) before it is printed,
and the ``reproduce:`` command is shell-quoted, so that pasting it runs
convgrad and nothing else.
"""
from __future__ import annotations

import shlex
from collections import defaultdict
from typing import TextIO

from harness import status
from harness.printable import block, line

COLORS = {"pass": "32", "nondeterministic": "35", "fail": "31;1", "error": "35;1", "unsupported": "33", "skipped": "2",
          "known": "36", "holds": "32", "wrong": "31;1"}
MAX_FULL_ROWS = 40   # larger runs list only the cases with something other than a pass


def _cell(verdicts: list[dict]) -> str:
    """One table cell: the status if all grads agree, else ``grad:status`` each."""
    statuses = {v["status"] for v in verdicts}
    mark = "~" if any(v.get("emulated") for v in verdicts) else ""
    if len(statuses) == 1:
        return statuses.pop() + mark
    return " ".join(f"{v['grad']}:{v['status']}" for v in verdicts) + mark


def _paint(text: str, color: bool) -> str:
    if not color:
        return text
    word = text.split(":")[-1].split()[0].rstrip("~") if text else ""
    code = COLORS.get(word) or next((COLORS[s] for s in ("fail", "error", "wrong", "known",
                                                         "unsupported") if s in text), None)
    return f"\033[{code}m{text}\033[0m" if code else text


PROBLEMS = {str(s) for s in status.PROBLEMS}


def _problem_cases(record: dict) -> set[str]:
    """Cases with a verdict or claim that is neither a pass nor a refusal or skip."""
    return {e["case"] for e in record["verdicts"] + record["claims"] if e["status"] in PROBLEMS}


def table(record: dict, *, color: bool = False, only_problems: bool | None = None) -> str:
    impls = [line(i["name"]) for i in record["impls"]]
    cells: dict[str, dict[str, list]] = defaultdict(lambda: defaultdict(list))
    for v in record["verdicts"]:
        cells[v["case"]][line(v["impl"])].append(v)
    claims: dict[str, list] = defaultdict(list)
    for c in record["claims"]:
        claims[c["case"]].append(c["status"])
    rows = []
    for case in record["cases"]:
        row = [line(case["id"])] + [line(_cell(cells[case["id"]][i]))
                                    if cells[case["id"]][i] else "-" for i in impls]
        claim_statuses = claims.get(case["id"], [])
        row.append(("wrong" if "wrong" in claim_statuses else "known" if "known" in
                    claim_statuses else "holds") if claim_statuses else "-")
        rows.append(row)
    if only_problems is None:
        only_problems = len(rows) > MAX_FULL_ROWS
    if only_problems:
        problem_rows = {line(c) for c in _problem_cases(record)}
        rows = [r for r in rows if r[0] in problem_rows]
    header = ["case"] + impls + ["claims"]
    widths = [max(len(str(r[i])) for r in rows + [header]) for i in range(len(header))]
    lines = ["  ".join(h.ljust(w) for h, w in zip(header, widths))]
    lines.append("  ".join("-" * w for w in widths))
    for r in rows:
        lines.append("  ".join(_paint(str(c), color and i > 0) + " " * (w - len(str(c)))
                               for i, (c, w) in enumerate(zip(r, widths))).rstrip())
    if only_problems:
        lines.append(f"({len(record['cases'])} cases; only those with a fail, error, "
                     "nondeterministic, known or wrong claim are listed)")
    return "\n".join(lines)


def counts_line(record: dict) -> str:
    s = record["summary"]
    parts = [f"{n} {k}" for k, n in s["verdicts"].items() if n]
    claim_parts = [f"{n} {k}" for k, n in s["claims"].items() if n]
    text = f"verdicts: {', '.join(parts) or 'none'}"
    if s.get("emulated"):
        text += f" ({s['emulated']} emulated, marked ~)"
    if claim_parts:
        text += f"; source claims: {', '.join(claim_parts)}"
    by_limitation = s.get("unsupported_by_limitation") or {}
    if by_limitation:
        text += "\nunsupported, by documented limitation: " + ", ".join(
            f"{n} {line(name)}" for name, n in sorted(by_limitation.items(),
                                                      key=lambda kv: -kv[1]))
    return text


def problems(record: dict, limit: int = 20) -> list[str]:
    """One paragraph per failing verdict or wrong claim, with the repro command."""
    out, files = [], {c["id"]: c["file"] for c in record["cases"]}
    for c in record["claims"]:
        if c["status"] == "wrong":
            notes = "".join("\n" + n for n in c.get("notes") or [])
            out.append(line(f"WRONG CLAIM {c['case']} {c['grad']} ({c['source']}):") + "\n  "
                       + block(c["message"] + notes).replace("\n", "\n  "))
    for v in record["verdicts"]:
        if v["status"] in (status.Status.FAIL, status.Status.ERROR,
                           status.Status.NONDETERMINISTIC):
            out.append(line(f"{v['status'].upper()} {v['case']} [{v['impl']}] {v['grad']}:")
                       + "\n  " + block(v["message"].strip()).replace("\n", "\n  ")
                       + "\n  reproduce: "
                       + line(repro_command(v, files.get(v['case'], 'cases/'))))
    return out[:limit] + ([f"... and {len(out) - limit} more"] if len(out) > limit else [])


def repro_command(v: dict, case_file: str) -> str:
    """One command that re-runs just this case with just this impl, each argument
    shell-quoted: a case id cannot make a pasted line run anything but convgrad."""
    return (f"convgrad run {shlex.quote(case_file)} -k {_quoted(v['case'])} "
            f"--impl {_quoted(v['impl'])}")


def _quoted(text: str) -> str:
    """``text`` single-quoted for a POSIX shell, always (``shlex.quote`` leaves plain words
    bare): the quotes show where a case id or an impl name begins and ends."""
    quoted = shlex.quote(text)
    return quoted if quoted.startswith("'") else f"'{quoted}'"


def exit_line(record: dict) -> str:
    """Why the run exits as it does, in one line."""
    failing = [e for e in record["verdicts"] + record["claims"]
               if e["status"] in status.FAILING]
    if not failing:
        return ("exit 0: every verdict passed, or is a documented limitation (unsupported), "
                "a documented discrepancy (known) or cannot run here (skipped)")
    counts: dict[str, int] = {}
    for e in failing:
        counts[e["status"]] = counts.get(e["status"], 0) + 1
    what = ", ".join(f"{n} {s}" for s, n in counts.items())
    findings = [e for e in failing if e["status"] == "wrong" and e.get("notes")]
    if findings and len(findings) == len(failing):
        first = findings[0]["notes"][0].removeprefix("a documented finding: ").split(";")[0]
        return (f"exit 1: only wrong source claims ({len(findings)}), each a documented "
                f"finding, e.g. {findings[0]['case']}: {first}")
    return f"exit 1: {what}"


def print_summary(record: dict, stream: TextIO, color: bool) -> None:
    print(table(record, color=color), file=stream)
    for p in problems(record):
        print("\n" + p, file=stream)
    print("\n" + counts_line(record), file=stream)
    print(exit_line(record), file=stream)
