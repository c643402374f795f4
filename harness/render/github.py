"""GitHub Actions outputs of a run: a Markdown step summary and error annotations.

``convgrad run --github`` (automatic where ``GITHUB_ACTIONS=true``) appends the
summary to ``$GITHUB_STEP_SUMMARY`` and prints one ``::error`` workflow command
per failing verdict or wrong claim (at most ``MAX_ANNOTATIONS``), pointing at the
case file and line, so the failure shows on the pull request's diff.
"""
from __future__ import annotations

import os
from pathlib import Path
from typing import TextIO

from harness.verdict.status import FAILING

MAX_ANNOTATIONS = 50


def _escape(text: str, prop: bool = False) -> str:
    """Workflow-command escaping: ``%``, CR, LF (and ``:`` ``,`` in properties)."""
    text = text.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")
    return text.replace(":", "%3A").replace(",", "%2C") if prop else text


def annotations(record: dict) -> list[str]:
    where = {c["id"]: (c.get("file") or "", c.get("line") or 1) for c in record["cases"]}
    out = []
    for e in record["verdicts"] + record["claims"]:
        if e["status"] not in FAILING:
            continue
        file, line = where.get(e["case"], ("", 1))
        who = e.get("impl") or f"claim by {e.get('source')}"
        title = f"convgrad {e['status']}: {e['case']} [{who}] {e['grad']}"
        message = (e.get("message") or "").strip()[:2000]
        out.append(f"::error file={_escape(file, True)},line={line},"
                   f"title={_escape(title, True)}::{_escape(message)}")
    return out[:MAX_ANNOTATIONS]


def summary_markdown(record: dict) -> str:
    s = record["summary"]
    counts = ", ".join(f"{n} {k}" for k, n in s["verdicts"].items() if n)
    claims = ", ".join(f"{n} {k}" for k, n in s["claims"].items() if n)
    lines = ["### convgrad", "", f"**verdicts:** {counts or 'none'}"
             + (f"; **source claims:** {claims}" if claims else ""), ""]
    failing = [e for e in record["verdicts"] + record["claims"] if e["status"] in FAILING]
    if failing:
        lines += ["| status | case | impl / claim | grad | first line |",
                  "|---|---|---|---|---|"]
        for e in failing[:100]:
            first = (e.get("message") or "").strip().split("\n")[0].replace("|", "\\|")
            who = (e.get("impl") or f"claim: {e.get('source')}").replace("|", "\\|")
            lines.append(f"| {e['status']} | {e['case']} | {who} | {e['grad']} | {first} |")
        if len(failing) > 100:
            lines.append(f"\n... and {len(failing) - 100} more")
    by_limitation = s.get("unsupported_by_limitation") or {}
    if by_limitation:
        lines += ["", "unsupported, by documented limitation: " + ", ".join(
            f"{n} `{k}`" for k, n in by_limitation.items())]
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
