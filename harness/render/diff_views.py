"""How a :class:`harness.record.diff.Diff` is shown: a terminal text, a Markdown table for a
CI step summary, a self-contained HTML page (the report's template environment)."""
from __future__ import annotations

import math

from harness.record.diff import Diff
from harness.render import report


def _fmt(value) -> str:
    if isinstance(value, float):
        return f"{value:.3g}" if math.isfinite(value) else str(value)
    return "—" if value is None else str(value)


def text(d: Diff) -> str:
    lines = [f"convgrad diff {d.old} -> {d.new}: {d.compared} verdicts and "
             f"{d.claims_compared} claims in both, "
             f"{len(d.changes)} changes, {len(d.worse)} worse"]
    for name, facts in d.platforms.items():
        lines.append(f"  platform of {name} differs: {facts}")
    for c in d.changes:
        case, subject, grad = c.key
        mark = "WORSE " if c.worse else ""
        lines.append(f"  {mark}{c.kind:7} {case} [{subject}] {grad}: {_fmt(c.old)} -> "
                     f"{_fmt(c.new)}" + (f" ({c.detail})" if c.detail else "")
                     + (f"\n          where {c.facts}" if c.facts else ""))
    return "\n".join(lines)


def markdown(d: Diff) -> str:
    head = (f"### convgrad diff\n\n`{d.old}` → `{d.new}`: {d.compared} verdicts and "
            f"{d.claims_compared} claims in both, "
            f"**{len(d.changes)} changes, {len(d.worse)} worse**\n")
    if not d.changes:
        return head + "\nNo verdict changed.\n"
    rows = ["| | change | case | impl / claim | grad | old | new | detail | platform facts that differ |",
            "|---|---|---|---|---|---|---|---|---|"]
    for c in d.changes:
        case, subject, grad = c.key
        cells = ["❌" if c.worse else "", c.kind, case, subject, grad, _fmt(c.old), _fmt(c.new),
                 c.detail, c.facts]
        rows.append("| " + " | ".join(str(x).replace("|", "\\|") for x in cells) + " |")
    return head + "\n" + "\n".join(rows) + "\n"


def html(d: Diff) -> str:
    """The diff as one self-contained HTML page (the report's template environment:
    everything escaped)."""
    return report.environment().get_template("diff.html.j2").render(d=d, fmt=_fmt)
