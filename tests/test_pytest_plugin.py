"""The pytest plugin (``pytest cases/``), driven with ``pytester`` on copies of the bundled cases.

Most runs use the planted numpy impls (``tests/planted.py``, registered with
``--convgrad-impl-module``) computing in-process: no framework import, a
fraction of a second per run. One test runs a real framework in worker processes.
"""
from __future__ import annotations

import json
import shutil
from datetime import datetime, timezone
from pathlib import Path

import pytest

from harness.record import run_record as record_mod
from harness.case.loader import load_cases
from harness.frontends.pytest_items import merge_records
from harness.session.runner import probe, run as run_cases
from tests.conftest import chosen_impl_names
from tests.planted import Planted

pytest_plugins = ["pytester"]

REPO = Path(__file__).resolve().parents[1]
PLANTED = ("--convgrad-impl-module", "tests.planted:BUGS",
           "--convgrad-impl-module", "tests.planted:Planted", "--convgrad-in-process")
SAME_DX = "cases/article/3-same-dx.yaml"
# Plug-ins these runs do not need; Hypothesis's alone costs a second per run.
LEAN = ("-p", "no:cacheprovider", "-p", "no:hypothesispytest")


@pytest.fixture
def project(pytester: pytest.Pytester) -> pytest.Pytester:
    """A project with the article cases under cases/ and its own tests under tests/."""
    pytester.makeini("[pytest]\ntestpaths = tests\n")
    shutil.copytree(REPO / "cases/article", pytester.path / "cases/article")
    return pytester


def run(pytester: pytest.Pytester, *args: str) -> pytest.RunResult:
    return pytester.runpytest_inprocess(*args, *LEAN)


def test_one_item_per_case_impl_and_grad_plus_one_per_claim(project):
    result = run(project, "cases/", "--collect-only", "-q", "--convgrad-impl", "jax.vjp,planted.pad*",
                 *PLANTED)
    ids = [line for line in result.stdout.lines if "::" in line]
    expected = []
    for file, case, grad in (("1-valid-dx", "valid-dx", "dx"), ("2-valid-dw", "valid-dw", "dw"),
                             ("3-same-dx", "same-dx", "dx"), ("4-same-dw", "same-dw", "dw")):
        expected += [f"cases/article/{file}.yaml::article/{case}[{label}-{grad}]"
                     for label in ("jax.vjp", "planted.pad_before", "claim")]
    assert ids == expected


def test_markers_select_by_padding_and_grad(project):
    result = run(project, "cases/", "--collect-only", "-q", "--convgrad-impl", "jax.vjp,tf.tape",
                 "-m", "padding_same and grad_dx and not impl_tensorflow")
    assert [line for line in result.stdout.lines if "::" in line] == [
        f"{SAME_DX}::article/same-dx[jax.vjp-dx]", f"{SAME_DX}::article/same-dx[claim-dx]"]


def test_a_planted_bug_fails_with_the_comparison_and_a_repro_command(project):
    result = run(project, SAME_DX, "--convgrad-impl", "planted.kernel_not_flipped", *PLANTED)
    result.assert_outcomes(failed=2)    # the planted impl, and the article's wrong claim
    out = result.stdout.str()
    assert ("FAIL article/same-dx [planted.kernel_not_flipped] dx:\n"
            "  Mismatched elements: 9 / 9 (100.0%)\n"
            "  Greatest absolute difference: 20 at index (0, 1, 2, 0)\n") in out
    assert ("  reproduce: convgrad run cases/article/3-same-dx.yaml -k article/same-dx "
            "--impl planted.kernel_not_flipped --in-process\n"     # as it was judged here
            "  standalone script: convgrad repro cases/article/3-same-dx.yaml --case "
            "article/same-dx --impl planted.kernel_not_flipped --grad dx --in-process -o "
            "repro-article_same-dx-planted.kernel_not_flipped-dx.py\n") in out
    assert ("WRONG CLAIM article/same-dx dx (article (printed output of "
            "session.run(inputValue))):\n  Mismatched elements: 4 / 9 (44.4%)\n") in out
    assert "Traceback" not in out and "runtest" not in out


def test_a_known_discrepancy_is_an_xfail(project):
    project.makefile(".yaml", known="""
        - case: article/same-dx
          impl: planted.kernel_not_flipped
          reason: planted bug
          evidence: tests/planted.py
        - case: article/same-dx
          claim: article*
          reason: the article printed another tensor
          evidence: README
    """)
    result = run(project, "cases/", "--convgrad-impl", "planted.kernel_not_flipped", "-rx",
                 "--convgrad-known", "known.yaml", *PLANTED)
    result.assert_outcomes(xfailed=2, failed=1, passed=5)  # valid-dx fails too: unflipped
    result.stdout.fnmatch_lines([
        "XFAIL cases/article/3-same-dx.yaml::article/same-dx[[]planted.kernel_not_flipped-dx] "
        "- known discrepancy (known.yaml:1): planted bug -- an XPASS means it no longer "
        "happens: remove or narrow that entry",
        "XFAIL cases/article/3-same-dx.yaml::article/same-dx[[]claim-dx] - known discrepancy "
        "(known.yaml:5): the article printed another tensor*"])


def test_a_known_discrepancy_that_passes_is_a_strict_xpass_failure(project):
    project.makefile(".yaml", known="""
        - case: article/same-dx
          impl: planted.correct
          reason: thought broken
          evidence: none
    """)
    result = run(project, SAME_DX, "--convgrad-impl", "planted.correct", "-k", "not claim",
                 "--convgrad-known", "known.yaml", *PLANTED)
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines([
        "*[[]XPASS(strict)[]] known discrepancy (known.yaml:1): thought broken -- an XPASS "
        "means it no longer happens: remove or narrow that entry"])


def test_an_intermittent_known_discrepancy_that_passes_is_an_xpass_not_a_failure(project):
    """A bug that shows in some runs only (uninitialized memory that is sometimes zero):
    its passing runs are expected, so the xfail is not strict; it still fails as xfail."""
    project.makefile(".yaml", known="""
        - case: article/same-dx
          impl: planted.correct
          intermittent: true
          reason: sometimes garbage
          evidence: none
        - case: article/same-dx
          impl: planted.kernel_not_flipped
          intermittent: true
          reason: sometimes garbage
          evidence: none
    """)
    result = run(project, SAME_DX, "--convgrad-impl",
                 "planted.correct,planted.kernel_not_flipped", "-k", "not claim", "-rxX",
                 "--convgrad-known", "known.yaml", *PLANTED)
    result.assert_outcomes(xpassed=1, xfailed=1)
    result.stdout.fnmatch_lines([
        "XPASS cases/article/3-same-dx.yaml::article/same-dx[[]planted.correct-dx] - known "
        "intermittent discrepancy (known.yaml:1): sometimes garbage"])


REFUSER = """
    from harness.backend.adapters.base import Outcome

    class Refuser:
        name, framework = "mylib.refuser", "json"   # any importable module
        def version(self):
            return "1.0"
        def compute(self, case, inputs, grads):
            return {g: Outcome(unsupported="NotImplementedError: no SAME") for g in grads}

    IMPLS = [Refuser()]
"""


def test_a_documented_refusal_is_a_skip_in_the_frameworks_words(project):
    project.makepyfile(refuser=REFUSER)
    (project.path / "limits.yaml").write_text(
        "- id: json-no-same\n  framework: json\n  message: no SAME\n"
        "  summary: mylib has no SAME\n  evidence: its docs\n")
    project.syspathinsert()
    result = run(project, "cases/", "--convgrad-impl", "mylib.*", "--convgrad-impl-module", "refuser",
                 "--convgrad-limitations", "limits.yaml",
                 "--convgrad-in-process", "-m", "impl_json", "-rs", "--strict-markers")
    result.assert_outcomes(skipped=4, deselected=4)
    result.stdout.fnmatch_lines(["SKIPPED [[]1[]] cases/article/4-same-dw.yaml:*: "
                                 "unsupported (json-no-same): NotImplementedError: no SAME"])


def test_an_undocumented_refusal_is_an_error_not_a_skip(project):
    project.makepyfile(refuser=REFUSER)
    project.syspathinsert()
    result = run(project, "cases/", "--convgrad-impl", "mylib.*", "--convgrad-impl-module", "refuser",
                 "--convgrad-in-process", "-m", "impl_json")
    result.assert_outcomes(failed=4, deselected=4)
    result.stdout.fnmatch_lines(["ERROR article/same-dw [[]mylib.refuser[]] dw:",
                                 "*no documented limitation of json covers*no SAME"])


def test_a_bad_case_file_is_a_collection_error_of_loader_lines(project):
    shutil.copy(REPO / "tests/bad_cases/bad-op-conv4d.yaml", project.path / "cases/op.yaml")
    (project.path / "cases/broken.yaml").write_text("id: bad/syntax\nop: conv2d\nw: [1, 2\n")
    (project.path / "cases/ci.yaml").write_text("jobs: {test: {runs-on: linux}}\n")
    (project.path / "cases/notes.yaml").write_text("not: [valid\n")  # not meant as a case
    result = run(project, "cases/", "--convgrad-impl", "planted.correct", *PLANTED)
    assert result.ret == pytest.ExitCode.INTERRUPTED
    result.assert_outcomes(errors=2)
    lines, out = result.stdout.lines, result.stdout.str()
    assert "cases/op.yaml:2: case 'bad/op': op: 'conv4d' is not one of conv1d, conv2d, " \
           "conv3d, depthwise_conv1d, depthwise_conv2d, conv_transpose1d, conv_transpose2d, " \
           "conv_transpose3d" in lines
    assert "cases/broken.yaml:4: invalid YAML: expected ',' or ']', but got '<stream end>' " \
           "(while parsing a flow sequence that starts on line 3)" in lines
    assert "ci.yaml" not in out and "notes.yaml" not in out
    assert "Traceback" not in out and ".py:" not in out


def test_yaml_under_testpaths_is_not_collected_unless_asked(project):
    project.mkdir("tests")
    shutil.copy(REPO / SAME_DX, project.path / "tests/case.yaml")
    for args in ([], ["tests"], ["."]):
        result = run(project, *args, "--collect-only", "-q", *PLANTED)
        assert "case.yaml" not in result.stdout.str(), args
    for args in (["tests/case.yaml"], ["tests", "--convgrad"]):
        result = run(project, *args, "--collect-only", "-q", "--convgrad-impl", "planted.correct",
                     *PLANTED)
        result.stdout.fnmatch_lines(["tests/case.yaml::article/same-dx[[]claim-dx]"])


def test_a_bad_impl_option_is_a_usage_error(project):
    result = run(project, "cases/", "--convgrad-impl", "nosuch")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["ERROR: --convgrad-impl: no impl matches 'nosuch'; known: tf.backprop*"])


def _outcomes(pytester: pytest.Pytester, *args: str) -> dict[str, str]:
    reports = pytester.inline_run(*args, *LEAN).getreports(
        "pytest_runtest_logreport")
    outcomes = {}
    for r in reports:
        if r.when == "call" or r.outcome != "passed":
            outcomes[r.nodeid.split("@")[0]] = r.outcome   # loadgroup adds @<group>
    return outcomes


def _verdicts(out: Path) -> set[tuple]:
    record = json.loads((out / "results.json").read_text())
    return {(v["case"], v["impl"], v["grad"], v["status"]) for v in record["verdicts"]}


def test_xdist_gives_the_serial_outcomes_and_one_merged_record(pytester):
    shutil.copy(REPO / "cases/conformance/conv1d.yaml", pytester.path)
    args = ("conv1d.yaml", "--convgrad-impl", "planted.dilation_ignored", *PLANTED)
    serial = _outcomes(pytester, *args, "--convgrad-out", "serial")
    grouped = _outcomes(pytester, *args, "-n", "2", "--dist", "loadgroup",
                        "--convgrad-out", "grouped")
    spread = _outcomes(pytester, *args, "-n", "2", "--convgrad-out", "spread")
    assert len(serial) == 648 and set(serial.values()) == {"passed", "failed"}
    assert grouped == serial and spread == serial
    verdicts = _verdicts(pytester.path / "serial")
    assert len(verdicts) == 648
    assert _verdicts(pytester.path / "grouped") == verdicts == _verdicts(pytester.path / "spread")


def test_out_writes_a_record_and_a_report(project):
    run(project, "cases/", "--convgrad-impl", "planted.correct", "--convgrad-out", "out", *PLANTED)
    record = json.loads((project.path / "out/results.json").read_text())
    assert record["summary"]["verdicts"]["pass"] == 4
    assert record["summary"]["claims"] == {"holds": 3, "wrong": 1, "known": 0}
    assert record["environment"]["command"][:2] == ["pytest", "cases/"]
    assert "article/same-dx" in (project.path / "out/index.html").read_text()


@pytest.mark.frameworks
def test_a_real_framework_in_worker_processes(project):
    impl = chosen_impl_names()[-1]    # the cheapest to import (JAX when all are chosen)
    result = run(project, "cases/", "--convgrad-impl", impl)
    result.assert_outcomes(passed=7, failed=1)   # the article's example 3 claim is wrong
    result.stdout.fnmatch_lines([f"convgrad probe: {impl} *",
                                 f"FAILED {SAME_DX}::article/same-dx[[]claim-dx]*"])


def test_worker_records_merge_with_each_case_once():
    infos = probe([Planted()])
    results = run_cases(load_cases([REPO / "cases/article"]), infos)
    started = datetime.now(timezone.utc)
    first = record_mod.build(results[:3], infos, ["pytest"], started)
    second = record_mod.build(results[2:], infos, ["pytest"], started)   # same-dx twice
    merged = merge_records([("gw0", first), ("gw1", second)])
    assert [c["id"] for c in merged["cases"]] == [r.case.id for r in results]
    assert len(merged["verdicts"]) == 4 and merged["summary"]["claims"]["wrong"] == 1
    assert [s["path"] for s in merged["sources"]] == ["xdist worker gw0", "xdist worker gw1"]


def test_a_project_whose_conftest_defines_impl_still_collects_cases(project):
    """Every convgrad option is --convgrad-*: a project's own --impl cannot clash."""
    project.makeconftest("""
        def pytest_addoption(parser):
            parser.addoption("--impl", action="store", default="theirs")
    """)
    result = run(project, "cases/", "--collect-only", "-q", "--convgrad-impl", "planted.correct",
                 "--impl", "theirs", *PLANTED)
    assert result.ret == 0
    result.stdout.fnmatch_lines(["*article/same-dx[[]planted.correct-dx[]]*"])
