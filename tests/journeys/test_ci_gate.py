"""Journey: a CI engineer gates an upgrade on convgrad, as docs/ci.md tells them to.

The whole job, driving the real ``convgrad`` console script in subprocesses from a CI
checkout in a temporary folder (its ``cases/`` holds a bundled suite, ``upstream``, and
a case file of the team's own):

1. baseline: ``convgrad run --shard K/2 --junit ... --github`` under GitHub Actions
   (``GITHUB_ACTIONS=true``, ``GITHUB_STEP_SUMMARY``) with a real framework (``jax.vjp``)
   and the impl under test (``planted.correct``, tests/planted.py), then ``convgrad
   merge`` of the shard records: kept as main's last record;
2. a candidate with no regression: the same steps, and ``convgrad diff baseline
   candidate --markdown`` lets it through (exit 0, no failure, no annotation);
3. a candidate with a regression: the impl under test is replaced by a planted bug
   (the odd SAME pad before the data instead of after) under the *same* name, so the
   diff compares like with like. Every step must say so: the runs exit 1, JUnit names
   the failing tests, ``::error`` annotations point at the case files' lines (at most
   10 a step), the step summary lists the failures, and ``diff`` exits 1 naming every
   verdict that got worse.

What should fail is derived from the cases alone (the planted bug changes a result
exactly where a case's resolved pads are asymmetric), not from convgrad's own output.
"""
from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path
from urllib.parse import unquote

import pytest

from harness.case.loader import load_cases
from tests.conftest import FRAMEWORKS
from tests.planted import Planted

REPO = Path(__file__).resolve().parents[2]
CONVGRAD = Path(sys.executable).with_name("convgrad")
SUITES = ("upstream",)                  # a bundled suite: a case or two per file
OURS = "cases/ours/odd-pad.yaml"        # the team's own cases: 20 lines that fail apart
BAD = {"fail", "error", "nondeterministic", "wrong"}   # what fails a run (docs/ci.md)
IMPLS = "jax.vjp,planted.correct"       # a real framework, and the impl under test
REGRESSED_PORT = """\
# The candidate's impl under test: the classic SAME-padding bug, named like the baseline's
# impl so that `convgrad diff` compares the same verdicts.
from tests.planted import PadBeforeInsteadOfAfter


class Candidate(PadBeforeInsteadOfAfter):
    name = "planted.correct"


IMPLS = [Candidate()]
"""


def _own_cases() -> str:
    """A list of SAME cases with a 2x2 kernel (total pad 1: odd), each at a line of its
    own (one shape, so that JAX compiles once)."""
    text = ""
    for n in range(20):
        case_id = f"ours/odd-pad/seed{n}"
        text += (f"- id: {case_id}\n  op: conv2d\n  grads: [dx, dw]\n  data_format: NHWC\n"
                 f"  padding: SAME\n  strides: [1, 1]\n  dtype: float32\n"
                 f"  input_shape: [1, 5, 5, 1]\n  filter_shape: [2, 2, 1, 1]\n"
                 f"  x: {{random: normal, seed: {n}}}\n"
                 f"  w: {{random: normal, seed: {100 + n}}}\n"
                 f"  dy: {{random: normal, seed: {200 + n}}}\n")
    return text


def _checkout(ci: Path) -> None:
    """The CI job's checkout: the cases it judges, under cases/."""
    for suite in SUITES:
        shutil.copytree(REPO / "cases" / suite, ci / "cases" / suite)
    (ci / OURS).parent.mkdir(parents=True)
    (ci / OURS).write_text(_own_cases())
    (ci / "regressed_port.py").write_text(REGRESSED_PORT)


def convgrad(ci: Path, *args: str, summary: Path | None = None) -> subprocess.CompletedProcess:
    """One CI step: the console script, run from the checkout, under GitHub Actions."""
    env = {k: v for k, v in os.environ.items()
           if k not in ("GITHUB_STEP_SUMMARY", "JAX_COMPILATION_CACHE_DIR")}
    env.update(GITHUB_ACTIONS="true", NO_COLOR="1",
               # the impls under test live in this repository's tests/ package
               PYTHONPATH=os.pathsep.join(p for p in (str(REPO), env.get("PYTHONPATH")) if p))
    if summary is not None:
        env["GITHUB_STEP_SUMMARY"] = str(summary)
    return subprocess.run([str(CONVGRAD), *args], cwd=ci, env=env, capture_output=True,
                          text=True, timeout=300)


def _shown(proc: subprocess.CompletedProcess) -> str:
    return f"exit {proc.returncode}\n--- stdout\n{proc.stdout[-6000:]}\n--- stderr\n" \
           f"{proc.stderr[-3000:]}"


def ci_run(ci: Path, label: str, impl_module: str) -> dict:
    """Judge the cases in 2 shards (each a step with its own step summary), then merge."""
    shards = []
    for k in (1, 2):
        out, summary = ci / "reports" / label / f"shard-{k}", ci / "summaries" / f"{label}-{k}.md"
        summary.parent.mkdir(parents=True, exist_ok=True)
        proc = convgrad(ci, "run", "cases/", "--impl", IMPLS, "--impl-module", impl_module,
                        "--in-process", "--jax-cache", str(ci / "jax-cache"),
                        "--shard", f"{k}/2", "--out", str(out),
                        "--junit", str(out / "junit.xml"), "--github", summary=summary)
        shards.append(dict(proc=proc, out=out, summary=summary,
                           record=json.loads((out / "results.json").read_text())
                           if (out / "results.json").is_file() else None))
    merged = ci / "reports" / label / "results.json"
    merge = convgrad(ci, "merge", *(str(s["out"] / "results.json") for s in shards),
                     "-o", str(merged))
    return dict(shards=shards, merge=merge, merged=merged)


# --------------------------------------------------------------------------- oracles

def _expected_failures(ci: Path) -> dict[str, tuple[str, str]]:
    """test id -> (case file, case id) of every verdict the planted bug must break: the
    impl under test's, on a case of an op it implements (plain convolutions: the rest are
    ``unsupported``) whose resolved pads are asymmetric in some dimension."""
    expected = {}
    for case in load_cases([str(ci / "cases")]):
        if case.op in Planted.ops and any(before != after for before, after in case.pads):
            rel = Path(case.file).resolve().relative_to(ci.resolve()).as_posix()
            for grad in case.grads:
                expected[f"{case.id}[planted.correct-{grad}]"] = (rel, case.id)
    return expected


def _id_line(ci: Path, rel: str, case_id: str) -> int:
    """The line of ``rel`` that starts the case ``case_id`` (its ``id:``)."""
    for number, line in enumerate((ci / rel).read_text().splitlines(), 1):
        if re.fullmatch(rf"\s*(- )?id: {re.escape(case_id)}\s*", line):
            return number
    raise AssertionError(f"no 'id: {case_id}' in {rel}")


def _tests(record: dict) -> dict[str, str]:
    return {e["test"]: e["status"] for key in ("verdicts", "claims") for e in record[key]}


def _junit(path: Path) -> tuple[set, set]:
    """(every (classname, name), those with a <failure> or <error>) of a JUnit file."""
    root = ET.parse(path).getroot()
    every, failed = set(), set()
    for tc in root.iter("testcase"):
        key = (tc.get("classname"), tc.get("name"))
        every.add(key)
        if tc.find("failure") is not None or tc.find("error") is not None:
            failed.add(key)
    return every, failed


def _classname(rel: str) -> str:
    return rel.replace("/", ".")


def _annotations(stdout: str) -> list[tuple[dict, str]]:
    """The ``::error`` workflow commands of a step, as (properties, message)."""
    out = []
    for line in stdout.splitlines():
        if line.startswith("::error"):
            m = re.fullmatch(r"::error(?: (?P<props>[^:]*))?::(?P<msg>.*)", line)
            assert m, line
            props = dict(p.split("=", 1) for p in (m["props"] or "").split(",") if p)
            out.append(({k: unquote(v) for k, v in props.items()}, unquote(m["msg"])))
    return out


def _diff_text_worse(text: str) -> set[tuple]:
    """(case, impl, grad, old, new) of each ``WORSE status`` line of ``convgrad diff``."""
    return set(re.findall(r"^\s*WORSE status\s+(\S+) \[(\S+)\] (\w+): (\w+) -> (\w+)$",
                          text, re.M))


def _diff_markdown_worse(text: str) -> set[tuple]:
    """The same, from the rows of ``--markdown`` marked worse."""
    return set(re.findall(r"^\| ❌ \| status \| (\S+) \| (\S+) \| (\w+) \| (\w+) \| (\w+) \|",
                          text, re.M))


# --------------------------------------------------------------------------- the journey

@pytest.mark.frameworks
@pytest.mark.skipif("jax" not in FRAMEWORKS, reason="jax not under test")
def test_a_ci_engineer_gates_an_upgrade_on_sharded_runs_merge_and_diff(tmp_path):
    ci = tmp_path / "checkout"
    _checkout(ci)
    expected = _expected_failures(ci)
    all_cases = {c.id for c in load_cases([str(ci / "cases")])}
    # the planted bug must bite in the team's own file and in a bundled suite
    assert {rel for rel, _ in expected.values()} >= {OURS, "cases/upstream/a1-tf-same-split.yaml"}

    # 1. baseline: main's last run ------------------------------------------------------
    base = ci_run(ci, "baseline", "tests.planted:Planted")
    shard_cases = []
    for s in base["shards"]:
        assert s["proc"].returncode == 0, _shown(s["proc"])
        record, tests = s["record"], _tests(s["record"])
        shard_cases.append({c["id"] for c in record["cases"]})
        # the gate ran on the real framework too: JAX judged (not skipped) and passed
        jax = [v["status"] for v in record["verdicts"] if v["impl"] == "jax.vjp"]
        assert jax and "pass" in jax and set(jax) <= {"pass", "unsupported"}, set(jax)
        assert {v["impl"] for v in record["verdicts"]} == {"jax.vjp", "planted.correct"}
        every, failed = _junit(s["out"] / "junit.xml")
        assert not failed
        assert {name for _, name in every} == set(tests)
        assert not _annotations(s["proc"].stdout), s["proc"].stdout[-3000:]
        text = s["summary"].read_text()
        assert text.startswith("### convgrad") and "| fail |" not in text
    # --shard split the cases: each shard has some, none twice, none lost
    assert all(shard_cases) and not shard_cases[0] & shard_cases[1]
    assert shard_cases[0] | shard_cases[1] == all_cases
    assert base["merge"].returncode == 0, _shown(base["merge"])
    merged = json.loads(base["merged"].read_text())
    assert _tests(merged) == {**_tests(base["shards"][0]["record"]),
                              **_tests(base["shards"][1]["record"])}
    baseline = ci / "baseline" / "results.json"     # what the next run downloads
    baseline.parent.mkdir()
    shutil.copyfile(base["merged"], baseline)

    # 2. a candidate that changes nothing: the gate lets it through ----------------------
    good = ci_run(ci, "good", "tests.planted:Planted")
    for s in good["shards"]:
        assert s["proc"].returncode == 0, _shown(s["proc"])
        assert not _junit(s["out"] / "junit.xml")[1]
        assert not _annotations(s["proc"].stdout)
    assert good["merge"].returncode == 0, _shown(good["merge"])
    good_summary = ci / "summaries" / "diff-good.md"
    gate = convgrad(ci, "diff", str(baseline), str(good["merged"]),
                    "--markdown", str(good_summary))
    assert gate.returncode == 0, _shown(gate)
    assert good_summary.is_file()
    assert not _diff_text_worse(gate.stdout)
    assert not _diff_markdown_worse(good_summary.read_text())

    # 3. a candidate with a regression in the impl under test ---------------------------
    bad = ci_run(ci, "regressed", "regressed_port.py")
    located = set()
    for s, cases in zip(bad["shards"], shard_cases):
        proc, record = s["proc"], s["record"]
        mine = {t: where for t, where in expected.items() if where[1] in cases}
        assert mine, "each shard must hold some of the planted failures"
        assert proc.returncode == 1, _shown(proc)
        failing = {t for t, status in _tests(record).items() if status in BAD}
        assert failing == set(mine), failing ^ set(mine)
        # JUnit: a <failure> for exactly those tests, named as pytest names them
        every, failed = _junit(s["out"] / "junit.xml")
        assert failed == {(_classname(rel), t) for t, (rel, _) in mine.items()}
        assert len(every) == len(_tests(record))
        # annotations: at most 10 (GitHub shows no more), each at a case's `id:` line,
        # and together (with the overflow note) every failing location
        notes = _annotations(proc.stdout)
        lines = {(rel, _id_line(ci, rel, cid)) for rel, cid in mine.values()}
        assert len(lines) > 10, "the shard must have more failing lines than GitHub shows"
        assert len(notes) == 10, [p for p, _ in notes]
        for props, _ in notes[:9]:
            cid = re.search(r"^convgrad fail: (\S+) \[planted\.correct\]", props["title"])[1]
            assert (props["file"], cid) in mine.values(), props
            assert int(props["line"]) == _id_line(ci, props["file"], cid), props
        rest_props, rest = notes[9]
        assert "file" not in rest_props and "more failing locations" in rest_props["title"]
        listed = {(f, int(n)) for f, n in re.findall(r"^(cases/\S+\.yaml):(\d+) \(", rest, re.M)}
        shown = {(p["file"], int(p["line"])) for p, _ in notes[:9]}
        assert len(shown) == 9 and len(listed) == len(lines) - 9
        assert shown | listed == lines
        located |= shown | listed
        # the step summary was written, with a row per failure
        text = s["summary"].read_text()
        assert text.startswith("### convgrad")
        rows = set(re.findall(r"^\| fail \| (\S+) \| planted\.correct \| (\w+) \|", text, re.M))
        assert rows == {(cid, t.rsplit("-", 1)[1].rstrip("]")) for t, (_, cid) in mine.items()}
    assert located == {(rel, _id_line(ci, rel, cid)) for rel, cid in expected.values()}
    assert bad["merge"].returncode == 0, _shown(bad["merge"])
    merged = json.loads(bad["merged"].read_text())
    assert {t for t, status in _tests(merged).items() if status in BAD} == set(expected)
    assert {_tests(merged)[t] for t in expected} == {"fail"}

    # the gate: diff against main's baseline fails, naming every verdict that got worse
    bad_summary = ci / "summaries" / "diff-regressed.md"
    gate = convgrad(ci, "diff", str(baseline), str(bad["merged"]),
                    "--markdown", str(bad_summary))
    assert gate.returncode == 1, _shown(gate)
    worse = {(cid, "planted.correct", t.rsplit("-", 1)[1].rstrip("]"), "pass", "fail")
             for t, (_, cid) in expected.items()}
    assert _diff_text_worse(gate.stdout) == worse, gate.stdout[-4000:]
    assert f", {len(worse)} worse" in gate.stdout.splitlines()[0]
    assert _diff_markdown_worse(bad_summary.read_text()) == worse
