"""Ports written apart from the diagnosis (tests/ports_apart/, by an author who never read
harness/verdict/) are named as their mistake, said once per impl; a correct port gets no
diagnosis. A sample, one per kind of mistake the ports make in their own words (layouts,
padding order, a symmetric pad from the true total); benchmarks/diagnosis_apart.py runs
them all and prints the share."""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import FRAMEWORKS
from tests.ports_apart import labels

pytestmark = pytest.mark.frameworks
REPO = Path(__file__).resolve().parents[1]
AS_DIAGNOSED = {"pad-symmetric": "symmetric-padding", "data-reshaped": "layout-reshaped",
                "filter-reshaped": "filter-layout-misread"}
SAMPLE = ("apart.p02", "apart.p05", "apart.p16", "apart.p19", "apart.ok_torch")


@pytest.mark.parametrize("name", SAMPLE)
def test_a_port_written_apart_is_named_as_its_mistake(name, tmp_path):
    framework = labels.FRAMEWORK[name]
    if framework not in FRAMEWORKS:
        pytest.skip(f"{framework} not under test")
    suite, select, _ = labels.WHERE.get(name, ("conformance", "conv2d and float64", 0))
    done = subprocess.run(
        [sys.executable, "-m", "harness.frontends.cli", "run", "--suite", suite, "-k", select,
         "--impl-module", str(REPO / "tests/ports_apart" / labels.MODULE[name]), "--jobs", "1",
         "--no-jax-cache", "--out", str(tmp_path)], capture_output=True, text=True, cwd=REPO,
        timeout=600)
    assert done.returncode in (0, 1), done.stderr[-2000:]
    impl = next(i for i in json.loads((tmp_path / "results.json").read_text())["impls"]
                if i["name"] == name)
    found = impl.get("diagnosis") or {}
    label = labels.LABELS[name]
    if label == "none":
        assert done.returncode == 0 and not found.get("mistake")
        return
    want = AS_DIAGNOSED.get(label, label)
    assert want in [found.get("mistake"), *found.get("also", [])], found
    assert found["explains"] == found["of"] > 0
    assert done.stdout.count(f"DIAGNOSIS {name} ") == 1
