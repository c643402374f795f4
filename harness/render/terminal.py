"""The terminal summary: a cases x impls table rendered from a run record.

Case ids, impl names, sources and messages come from case files, plug-ins and
frameworks: each is escaped (:mod:`harness.safeio.printable`) before it is printed,
and the ``reproduce:`` command is shell-quoted, so that pasting it runs
convgrad and nothing else.
"""
from __future__ import annotations

import os
import re
import shlex
from collections import defaultdict
from typing import Optional, TextIO

from harness.verdict import known as known_mod
from harness.verdict import status
from harness.safeio.printable import block, line

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
    if s.get("improbable"):
        text += (f"; {s['improbable']} passing verdict{'s' if s['improbable'] != 1 else ''} "
                 "improbable (within the bound, beyond the statistical line: --strict-statistical "
                 "fails them)")
    if claim_parts:
        text += f"; source claims: {', '.join(claim_parts)}"
    by_limitation = s.get("unsupported_by_limitation") or {}
    if by_limitation:
        text += "\nunsupported, by documented limitation: " + ", ".join(
            f"{n} {line(name)}" for name, n in sorted(by_limitation.items(),
                                                      key=lambda kv: -kv[1]))
    return text


def problems(record: dict, limit: int = 20) -> list[str]:
    """One paragraph per failing verdict or wrong claim, with the commands that re-run it
    and that write a standalone script reproducing it."""
    out, files = [], {c["id"]: c["file"] for c in record["cases"]}
    options = run_options(record)
    for c in record["claims"]:
        if c["status"] == "wrong":
            notes = "".join("\n" + n for n in c.get("notes") or [])
            out.append(line(f"WRONG CLAIM {c['case']} {c['grad']} ({c['source']}):") + "\n  "
                       + block(c["message"] + notes).replace("\n", "\n  "))
    kinds = {c["id"]: c.get("kind", "conv") for c in record["cases"]}
    for v in record["verdicts"]:
        if v["status"] in (status.Status.FAIL, status.Status.ERROR,
                           status.Status.NONDETERMINISTIC):
            case_file = files.get(v["case"], "cases/")
            script = script_command(v, case_file, options, kinds.get(v["case"], "conv"))
            out.append(line(f"{v['status'].upper()} {v['case']} [{v['impl']}] {v['grad']}:")
                       + "\n  " + block(v["message"].strip()).replace("\n", "\n  ")
                       + "\n  reproduce: " + line(repro_command(v, case_file, options))
                       + ("\n  standalone script: " + line(script) if script else ""))
    return out[:limit] + ([f"... and {len(out) - limit} more"] if len(out) > limit else [])


DEFAULT_KNOWN = "known-discrepancies.yaml"
DEFAULT_TIMEOUT = 300.0


def run_options(record: dict) -> dict:
    """What a record's verdicts depended on besides the case and the impl (whose name
    carries its variant, --device and --tf32): --repeat, the known discrepancies, the
    documented limitations, the timeout and memory limit, in-process runs."""
    env = record.get("environment") or {}
    run = env.get("run") or {}
    argv = env.get("command") or []
    argv = argv if isinstance(argv, list) else shlex.split(str(argv))
    known: Optional[str] = DEFAULT_KNOWN
    limitations, max_memory, modules = [], None, []
    for i, word in enumerate(argv):
        key, eq, value = word.partition("=")
        value = value if eq else (argv[i + 1] if i + 1 < len(argv) else "")
        if word == "--no-known":
            known = None
        elif key == "--known":
            known = value
        elif key == "--limitations":
            limitations.append(value)
        elif key == "--max-memory":
            max_memory = value
        elif key == "--impl-module":
            modules.append(value)
    return {"repeat": int(run.get("repeat") or 1), "known": known, "limitations": limitations,
            "timeout": run.get("timeout_s"), "max_memory": max_memory,
            "in_process": run.get("isolation") == "in-process", "jobs": run.get("jobs"),
            "impl_modules": modules}


def _default_known(path: Optional[str]) -> bool:
    """Whether ``path`` is the known-discrepancies file convgrad uses anyway."""
    if path == DEFAULT_KNOWN:
        return True
    try:
        return path is not None and os.path.samefile(path, known_mod.DEFAULT_FILE)
    except OSError:
        return False


def _judging_words(options: Optional[dict], *, known: bool) -> list[str]:
    o = options or {}
    words = []
    if o.get("jobs") and o["jobs"] != (os.cpu_count() or 1) and not o.get("in_process"):
        words += ["--jobs", str(o["jobs"])]   # threads per worker: cores / jobs
    if (o.get("repeat") or 1) > 1:
        words += ["--repeat", str(o["repeat"])]
    if known and "known" in o and not _default_known(o["known"]):
        words += ["--no-known"] if o["known"] is None else ["--known", o["known"]]
    for path in o.get("limitations") or []:
        words += ["--limitations", path]
    if o.get("timeout") not in (None, DEFAULT_TIMEOUT):
        words += ["--timeout", f"{o['timeout']:g}"]
    if o.get("max_memory"):
        words += ["--max-memory", str(o["max_memory"])]
    if o.get("in_process"):
        words.append("--in-process")
    return words


def repro_command(v: dict, case_file: str, options: Optional[dict] = None) -> str:
    """One shell-quoted command that re-runs just this case with just this impl, with the
    options the verdict depended on (:func:`run_options`), and the ``--impl-module`` the
    impls of the run came from (a port's impl exists only with its module)."""
    modules = [w for m in (options or {}).get("impl_modules") or () for w in ("--impl-module", m)]
    return shlex.join(["convgrad", "run", case_file, "-k", v["case"], "--impl", v["impl"],
                       *modules, *_judging_words(options, known=True)])


def script_name(v: dict) -> str:
    """``repro-<case>-<impl>-<grad>.py``, safe as a file name."""
    text = f"repro-{v['case']}-{v['impl']}-{v['grad']}"
    return re.sub(r"[^A-Za-z0-9._=-]+", "_", text).strip("_")[:150] + ".py"


SCRIPTED_KINDS = ("conv",)   # the op kinds convgrad repro writes scripts for


def script_command(v: dict, case_file: str, options: Optional[dict] = None,
                   kind: str = "conv") -> str:
    """The shell-quoted ``convgrad repro`` command that writes a standalone script (NumPy
    and the framework only) reproducing this verdict; see docs/repro.md. Empty for an op
    kind (``kind``: the case's) repro has no script for: depthwise and transposed."""
    if kind not in SCRIPTED_KINDS:
        return ""
    modules = [w for m in (options or {}).get("impl_modules") or () for w in ("--impl-module", m)]
    words = ["convgrad", "repro", case_file, "--case", v["case"], "--impl", v["impl"],
             *modules, "--grad", v["grad"], *_judging_words(options, known=False),
             "-o", script_name(v)]
    return shlex.join(words)


def exit_line(record: dict, strict_statistical: bool = False) -> str:
    """Why the run exits as it does, in one line."""
    failing = [e for e in record["verdicts"] + record["claims"]
               if e["status"] in status.FAILING]
    improbable = record["summary"].get("improbable") if strict_statistical else 0
    if improbable and not failing:
        return (f"exit 1: {improbable} passing verdicts improbable (--strict-statistical): "
                "within the bound, beyond the statistical line")
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


def diagnoses(record: dict) -> list[str]:
    """Per impl whose failing verdicts a porting mistake explains: the mistake, how many of
    them it explains, and the rule that fixes it, in the impl's framework; said once."""
    out = []
    for impl in record.get("impls", []):
        d = impl.get("diagnosis") or {}
        if not d.get("mistake"):
            continue
        share = ("all" if d["explains"] == d["of"] else f"{d['explains']} of")
        lines = [f"DIAGNOSIS {impl['name']} ({impl.get('framework', '')}): {d['mistake']} "
                 f"explains {share} {d['of']} diagnosed failing verdict"
                 f"{'s' if d['of'] != 1 else ''}",
                 f"  {d.get('summary', '')}",
                 f"  the fix, in {impl.get('framework', 'your framework')}:"]
        lines += [f"    {line}" for line in str(d.get("rule", "")).splitlines()]
        example = d.get("example") or {}
        if example:
            lines.append(f"  on {example.get('case')}: {example.get('fix')}")
        if d.get("also"):
            lines.append(f"  as well explained by: {', '.join(d['also'])} (the same values on "
                         "these cases)")
        if d["explains"] != d["of"]:
            lines.append(f"  {d['of'] - d['explains']} other failing verdicts: no single "
                         "mistake tried explains them with this one")
        out.append(block("\n".join(lines)))
    return out


def print_summary(record: dict, stream: TextIO, color: bool,
                  strict_statistical: bool = False) -> None:
    print(table(record, color=color), file=stream)
    for p in problems(record):
        print("\n" + p, file=stream)
    for d in diagnoses(record):
        print("\n" + d, file=stream)
    print("\n" + counts_line(record), file=stream)
    print(exit_line(record, strict_statistical), file=stream)
