"""JUnit XML of a run record, for CI systems that show test results.

One ``<testsuite>`` per impl plus one for the source claims, inside
``<testsuites>``. Each verdict and each claimed grad is a ``<testcase>`` whose
``classname`` and ``name`` are the ones pytest's ``--junitxml`` gives the same
item (:mod:`harness.verdict.testids`): ``classname="cases.article.3-same-dx.yaml"
name="article/same-dx[tf.backprop-dx]"``, or ``name="article/same-dx[claim-dx]"``
for the case's first claim (``claim2-dx`` for its second). ``fail``,
``nondeterministic`` and ``error`` are a ``<failure>`` of that ``type``
(first line as message, the whole message, the command that re-runs it and the one that
writes a standalone reproduction script as text), as pytest reports them;
``unsupported``, ``skipped`` and ``known`` are
``<skipped>`` with the reason. A wrong claim is a ``<failure>``. The output
follows the common (Jenkins / ant) JUnit schema: ``tests/data/junit.xsd``.
"""
from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from collections import defaultdict
from typing import Iterable

from harness.verdict import testids
from harness.render.terminal import repro_command, run_options, script_command

# XML 1.0 cannot hold most control characters (a traceback may carry ANSI colours).
_NOT_XML = re.compile("[^\x09\x0a\x0d\x20-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")
# An error verdict (the framework raised or died) is a <failure type="error">, as pytest's
# --junitxml writes the same item: pytest keeps <error> for setup and teardown problems.
FAILURES = {"fail": "mismatch", "nondeterministic": "nondeterministic", "error": "error"}
SKIPPED = {"unsupported": "unsupported", "skipped": "skipped", "known": "known discrepancy"}


def _text(value: object) -> str:
    return _NOT_XML.sub("\ufffd", "" if value is None else str(value))


def _first_line(text: str) -> str:
    return text.strip().split("\n", 1)[0] if text else ""


def _seconds(value: object) -> str:
    return f"{value:.6f}" if isinstance(value, (int, float)) else "0"


def _known_reason(entry: dict | None) -> str:
    if not entry:
        return ""
    link = f" ({entry['link']})" if entry.get("link") else ""
    return f"{entry.get('reason', '')}{link}"


def _testcase(case_file: str, name: str, seconds: object = 0) -> ET.Element:
    classname, name = testids.junit_pair(case_file, name)
    return ET.Element("testcase", classname=_text(classname), name=_text(name),
                      time=_seconds(seconds))


def verdict_case(v: dict, case_file: str, options: dict | None = None,
                 kind: str = "conv") -> ET.Element:
    tc = _testcase(case_file, testids.entry_name(v), v.get("seconds"))
    message, status = (v.get("message") or "").strip(), v["status"]
    repro = f"reproduce: {repro_command(v, case_file, options)}"
    script = script_command(v, case_file, options, kind)
    if script and (status in FAILURES or status == "known"):
        repro += f"\nstandalone script: {script}"
    if status in FAILURES:
        ET.SubElement(tc, "failure", message=_text(_first_line(message)),
                      type=FAILURES[status]).text = _text(f"{message}\n\n{repro}")
    elif status in SKIPPED:
        reason = _known_reason(v.get("known")) if status == "known" else _first_line(message)
        ET.SubElement(tc, "skipped", message=_text(f"{SKIPPED[status]}: {reason}")).text = \
            _text(f"{message}\n\n{repro}" if message else repro)
    return tc


def claim_case(c: dict, name: str, case_file: str) -> ET.Element:
    tc = _testcase(case_file, name)
    message = (c.get("message") or "").strip()
    if c["status"] == "wrong":
        ET.SubElement(tc, "failure", message=_text(f"{c['source']}: {_first_line(message)}"),
                      type="wrong-claim").text = _text(f"source: {c['source']}\n{message}")
    elif c["status"] == "known":
        ET.SubElement(tc, "skipped", message=_text(
            f"known wrong claim: {_known_reason(c.get('known'))}")).text = _text(message)
    return tc


def _claim_names(claims: Iterable[dict]) -> list[str]:
    """Each claim's test name; a record of an older convgrad has none, so the claim's
    position is taken as the order of its source among the case's claims."""
    sources: dict[str, list] = defaultdict(list)
    names = []
    for c in claims:
        if c.get("test"):
            names.append(c["test"])
            continue
        seen = sources[c["case"]]
        if c["source"] not in seen:
            seen.append(c["source"])
        names.append(testids.claim_name(c["case"], seen.index(c["source"]), c["grad"]))
    return names


def suite(name: str, cases: list[ET.Element], record: dict, properties: dict) -> ET.Element:
    counts = {tag: sum(1 for tc in cases if tc.find(tag) is not None)
              for tag in ("failure", "error", "skipped")}
    s = ET.Element("testsuite", name=_text(name), tests=str(len(cases)),
                   failures=str(counts["failure"]), errors=str(counts["error"]),
                   skipped=str(counts["skipped"]),
                   time=_seconds(sum(float(tc.get("time", 0)) for tc in cases)))
    if record.get("started"):
        s.set("timestamp", _text(record["started"])[:19])   # no zone: the ant schema's pattern
    props = ET.SubElement(s, "properties")
    for key, value in properties.items():
        ET.SubElement(props, "property", name=_text(key), value=_text(value))
    s.extend(cases)
    return s


def properties(record: dict) -> dict:
    env = record.get("environment") or {}
    out = {"run_id": record.get("run_id"), "python": env.get("python"),
           "numpy": env.get("numpy")}
    out.update({k: v or "not installed" for k, v in (env.get("frameworks") or {}).items()})
    out["cpu"], out["cpu_count"] = env.get("cpu"), env.get("cpu_count")
    out.update({k: v for k, v in (env.get("numerics") or {}).items() if v is not None})
    cmd = env.get("command")
    out["command"] = " ".join(cmd) if isinstance(cmd, list) else cmd
    return {k: v for k, v in out.items() if v is not None}


def build(record: dict) -> ET.Element:
    """The ``<testsuites>`` element of a run record."""
    files = {c["id"]: c.get("file") or "cases/" for c in record["cases"]}
    kinds = {c["id"]: c.get("kind", "conv") for c in record["cases"]}
    options = run_options(record)
    by_impl: dict[str, list] = defaultdict(list)
    for i in record.get("impls") or []:
        by_impl[i["name"]]    # keep the record's impl order, even for an impl with no verdict
    for v in record["verdicts"]:
        by_impl[v["impl"]].append(verdict_case(v, files.get(v["case"], "cases/"), options,
                                               kinds.get(v["case"], "conv")))
    claims = [claim_case(c, n, files.get(c["case"], "cases/"))
              for c, n in zip(record["claims"], _claim_names(record["claims"]))]
    props = properties(record)
    suites = [suite(name, cases, record, props) for name, cases in by_impl.items() if cases]
    if claims:
        suites.append(suite("claims", claims, record, props))
    root = ET.Element("testsuites", name="convgrad")
    for key in ("tests", "failures", "errors", "skipped"):
        root.set(key, str(sum(int(s.get(key)) for s in suites)))
    root.set("time", _seconds(sum(float(s.get("time")) for s in suites)))
    root.extend(suites)
    return root


def to_string(record: dict) -> str:
    root = build(record)
    ET.indent(root)
    return '<?xml version="1.0" encoding="UTF-8"?>\n' + ET.tostring(root, encoding="unicode") + "\n"
