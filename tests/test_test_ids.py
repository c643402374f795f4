"""The same test ids everywhere: ``convgrad run --junit`` and ``pytest --junitxml`` on the
same cases name every verdict and claim alike (classname, name), give it the same
outcome, and select the same ones for a ``-k`` expression (harness.verdict.testids).

Both sides run for real on NumPy-only impls written below (no framework), in-process:
one passes, one fails (and is a known discrepancy on one case), one raises (an error),
one lacks conv1d (unsupported), one belongs to a framework that is not installed
(skipped); the article cases bring claims, one of them wrong, and a second file gives
one case two claims (``claim-dx``, ``claim2-dx``).
"""
from __future__ import annotations

import os
import shutil
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from harness.verdict import testids

REPO = Path(__file__).resolve().parents[1]

IMPLS = '''
from tests.planted import KernelNotFlipped, Planted

class Correct(Planted):
    name = "ids.correct"

class Wrong(KernelNotFlipped):
    name = "ids.wrong"

class Raises(Planted):
    name = "ids.raises"
    def compute(self, case, inputs, grads):
        raise RuntimeError("planted error")

class Conv2dOnly(Planted):
    name = "ids.conv2d_only"
    ops = frozenset({"conv2d"})

class NotInstalled(Planted):
    name = "ids.absent"
    framework = "no_such_framework_for_ids"

IMPLS = [Correct, Wrong, Raises, Conv2dOnly, NotInstalled]
'''

MORE = '''
- id: more/conv1d
  op: conv1d
  grads: [dx, dw]
  input_size: [5]
  kernel_size: [2]
  x: {random: normal}
  w: {random: normal}
  dy: {random: normal}
- id: more/two-claims
  op: conv2d
  grads: [dx]
  input_shape: [1, 2, 2, 1]
  w: [[[[1]]]]
  dy: [[[[1], [2]], [[3], [4]]]]
  claims:
    - source: first
      dx: [[[[1], [2]], [[3], [4]]]]
    - source: second
      dx: [[[[1], [2]], [[3], [5]]]]
'''

KNOWN = '''
- case: article/valid-dx
  impl: ids.wrong
  reason: planted bug
  evidence: tests/planted.py
'''

NAMES = "ids.correct,ids.wrong,ids.raises,ids.conv2d_only,ids.absent"


@pytest.fixture(scope="module")
def project(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("ids")
    shutil.copytree(REPO / "cases/article", root / "cases/article")
    (root / "cases/more").mkdir()
    (root / "cases/more/extra.yaml").write_text(MORE)
    (root / "ids_impls.py").write_text(IMPLS)
    (root / "known.yaml").write_text(KNOWN)
    (root / "pytest.ini").write_text("[pytest]\n")    # the rootdir: where both run
    return root


def _env(root: Path) -> dict:
    return {**os.environ, "PYTHONPATH": os.pathsep.join([str(root), str(REPO)])}


def cli_junit(root: Path, *args: str) -> dict:
    out = root / "out-cli"
    shutil.rmtree(out, ignore_errors=True)
    proc = subprocess.run(
        [sys.executable, "-m", "harness.frontends.cli", "run", "cases", "--impl-module", "ids_impls",
         "--impl", NAMES, "--known", "known.yaml", "--in-process", "--no-jax-cache",
         "--out", str(out), "--junit", str(out / "junit.xml"), *args],
        cwd=root, env=_env(root), capture_output=True, text=True, timeout=300)
    assert proc.returncode in (0, 1), proc.stderr
    return outcomes(out / "junit.xml")


def pytest_junit(root: Path, *args: str) -> dict:
    path = root / "pytest-junit.xml"
    path.unlink(missing_ok=True)
    proc = subprocess.run(
        [sys.executable, "-m", "pytest", "cases", "-p", "no:cacheprovider",
         "-p", "no:hypothesispytest", "--convgrad-impl-module", "ids_impls",
         "--convgrad-impl", NAMES, "--convgrad-known", "known.yaml", "--convgrad-in-process",
         f"--junitxml={path}", *args],
        cwd=root, env=_env(root), capture_output=True, text=True, timeout=300)
    assert proc.returncode in (0, 1, 5), proc.stdout[-3000:] + proc.stderr
    return outcomes(path)


def outcomes(path: Path) -> dict:
    """``{(classname, name): outcome}`` of a JUnit file; outcome: passed, failure, error,
    skipped. A pair twice would be two tests under one id: refused."""
    found = {}
    for tc in ET.parse(path).iter("testcase"):
        key = (tc.get("classname"), tc.get("name"))
        assert key not in found, f"{key} twice in {path.name}"
        tags = [child.tag for child in tc if child.tag in ("failure", "error", "skipped")]
        found[key] = tags[0] if tags else "passed"
    return found


@pytest.fixture(scope="module")
def both(project) -> tuple[dict, dict]:
    return cli_junit(project), pytest_junit(project)


def test_both_write_the_same_ids_with_the_same_outcomes(both):
    cli, py = both
    assert cli == py
    # the run covered what it is meant to: every outcome, claims of both positions
    assert set(cli.values()) == {"passed", "failure", "skipped"}
    # 5 impls x 7 grads (4 article cases, conv1d's dx and dw, two-claims' dx), and
    # 6 claimed grads (one per article case, two in two-claims)
    assert len(cli) == 5 * 7 + 6


def test_the_ids_are_the_documented_scheme(both):
    cli, _ = both
    same_dx = "cases.article.3-same-dx.yaml"
    expected = {
        (same_dx, "article/same-dx[ids.correct-dx]"): "passed",
        (same_dx, "article/same-dx[ids.wrong-dx]"): "failure",
        (same_dx, "article/same-dx[ids.raises-dx]"): "failure",   # an error verdict
        (same_dx, "article/same-dx[ids.absent-dx]"): "skipped",
        (same_dx, "article/same-dx[claim-dx]"): "failure",        # the article's wrong claim
        ("cases.article.1-valid-dx.yaml", "article/valid-dx[ids.wrong-dx]"): "skipped",  # known
        ("cases.more.extra.yaml", "more/conv1d[ids.conv2d_only-dw]"): "skipped",  # unsupported
        ("cases.more.extra.yaml", "more/two-claims[claim-dx]"): "passed",
        ("cases.more.extra.yaml", "more/two-claims[claim2-dx]"): "failure",
    }
    assert {k: cli.get(k) for k in expected} == expected
    assert (testids.junit_pair("cases/article/3-same-dx.yaml",
                               testids.verdict_name("article/same-dx", "ids.wrong", "dx"))
            == (same_dx, "article/same-dx[ids.wrong-dx]"))


@pytest.mark.parametrize("expression", [
    "same-dx and ids.wrong",
    "claim",
    "not dw and (correct or claim2)",
    "conv1d and not ids.absent",
    "VALID and raises",          # pytest ignores case; marker padding_valid matches too
    "padding_same and grad_dx and not claim",    # markers
    "more and not impl_numpy",   # a folder's name; claims only
    "extra.yaml and raises",     # the file's name
])
def test_k_selects_the_same_verdicts_in_both(project, expression):
    cli, py = cli_junit(project, "-k", expression), pytest_junit(project, "-k", expression)
    assert cli == py
    assert cli   # each expression selects something
