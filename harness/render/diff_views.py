"""How a :class:`harness.record.diff.Diff` is shown: a terminal text, a Markdown table for a
CI step summary, a self-contained HTML page (the report's template environment).

Everything a diff shows comes from two records (case ids, impl names, claim sources,
known entries, platform facts, file names), untrusted input: each string is escaped for
where it goes, one by one, never the assembled text. The terminal gets
:func:`harness.safeio.printable.line` (a newline in a case id cannot forge a line), the
Markdown :func:`harness.safeio.printable.markdown` (no heading, link, image, table cell or
HTML tag can come from a record), the HTML Jinja's autoescape."""
from __future__ import annotations

import math

from harness.record.diff import Diff
from harness.render import report
from harness.safeio import printable


def _fmt(value) -> str:
    if isinstance(value, float):
        return f"{value:.3g}" if math.isfinite(value) else str(value)
    return "—" if value is None else str(value)


def text(d: Diff) -> str:
    line = printable.line
    lines = [f"convgrad diff {line(d.old)} -> {line(d.new)}: {d.compared} verdicts and "
             f"{d.claims_compared} claims in both, "
             f"{len(d.changes)} changes, {len(d.worse)} worse"]
    for name, facts in d.platforms.items():
        lines.append(f"  platform of {line(name)} differs: {line(facts)}")
    for c in d.changes:
        case, subject, grad = map(line, c.key)
        mark = "WORSE " if c.worse else ""
        lines.append(f"  {mark}{line(c.kind):7} {case} [{subject}] {grad}: "
                     f"{line(_fmt(c.old))} -> {line(_fmt(c.new))}"
                     + (f" ({line(c.detail)})" if c.detail else "")
                     + (f"\n          where {line(c.facts)}" if c.facts else ""))
    return "\n".join(lines)


def markdown(d: Diff) -> str:
    md = printable.markdown
    head = (f"### convgrad diff\n\n{md(d.old)} → {md(d.new)}: {d.compared} verdicts and "
            f"{d.claims_compared} claims in both, "
            f"**{len(d.changes)} changes, {len(d.worse)} worse**\n")
    if not d.changes:
        return head + "\nNo verdict changed.\n"
    rows = ["| | change | case | impl / claim | grad | old | new | detail | platform facts that differ |",
            "|---|---|---|---|---|---|---|---|---|"]
    for c in d.changes:
        case, subject, grad = c.key
        cells = [md(x, 1000) for x in (c.kind, case, subject, grad, _fmt(c.old), _fmt(c.new),
                                 c.detail, c.facts)]
        rows.append("| " + " | ".join(["❌" if c.worse else "", *cells]) + " |")
    return head + "\n" + "\n".join(rows) + "\n"


def html(d: Diff) -> str:
    """The diff as one self-contained HTML page (the report's template environment:
    everything escaped)."""
    return report.environment().get_template("diff.html.j2").render(d=d, fmt=_fmt)
