"""Issue 19's measure of the house: a new framework is its adapter, its template and one
registry line. The toy framework (tests/toy, NumPy-backed) is listed, judged, and its
standalone script written and run, with nothing else of convgrad changed."""
from __future__ import annotations

import subprocess
import sys

import pytest

from harness.backend import frameworks
from harness.frontends.cli import main

CASE = """\
id: toy/strided
op: conv2d
grads: [y]
data_format: NHWC
padding: SAME
strides: [2, 1]
input_shape: [1, 5, 4, 3]
filter_shape: [3, 2, 3, 2]
x: {random: normal, seed: 1}
w: {random: normal, seed: 2}
"""


@pytest.fixture
def toy_registered(monkeypatch):
    monkeypatch.setattr(frameworks, "FRAMEWORKS", frameworks.FRAMEWORKS + [
        frameworks.Framework("numpy", "numpy", "tests.toy.numpy_adapter",
                             "tests.toy.numpy_template")])


def test_a_toy_framework_is_listed_judged_and_reproduced(toy_registered, tmp_path, capsys):
    assert main(["list", "--impl", "toy.*"]) == 0
    assert "toy.numpy" in capsys.readouterr().out
    case = tmp_path / "toy.yaml"
    case.write_text(CASE)
    assert main(["run", str(case), "--impl", "toy.numpy", "--out", str(tmp_path / "out")]) == 0
    out = capsys.readouterr().out
    assert "toy/strided" in out and "verdicts: 1 pass" in out
    script = tmp_path / "toy_repro.py"
    assert main(["repro", str(case), "--case", "toy/strided", "--impl", "toy.numpy",
                 "--grad", "y", "-o", str(script)]) == 0
    assert "import harness" not in script.read_text() and "from tests" not in script.read_text()
    done = subprocess.run([sys.executable, "-I", str(script)], capture_output=True, text=True,
                          timeout=120, cwd=tmp_path)
    assert done.returncode == 0, done.stdout + done.stderr     # the toy is right: not reproduced
    assert "NOT REPRODUCED" in done.stdout


def test_without_its_registry_line_the_toy_is_unknown(tmp_path, capsys):
    assert main(["list", "--impl", "toy.*"]) == 2
    assert "no impl matches 'toy.*'" in capsys.readouterr().err
