"""A minute of ``convgrad fuzz`` against the real frameworks (``pytest -m fuzz``).

Bounded: 60 s of fuzzing (and each shrink 20 s). Whatever it finds must be written
as the docs say: a loadable shrunk case, and a script that reproduces it in a fresh
process (exit 1) when the shrinker confirmed it.
"""
from __future__ import annotations

import json
import subprocess
import sys

import pytest

from harness.frontends import cli
from harness.case.loader import load_cases

pytestmark = [pytest.mark.fuzz, pytest.mark.frameworks]


def test_a_minute_of_fuzzing_writes_reproducible_findings(tmp_path):
    out = tmp_path / "fuzz"
    status = cli.main(["fuzz", "--time", "60", "--seed", "11", "--shrink-time", "20",
                       "--out", str(out), "--impl", "tf.backprop,torch.autograd,jax.vjp"])
    findings = json.loads((out / "findings.json").read_text())
    assert status == (1 if findings else 0)
    for f in findings:
        assert {"case", "impl", "grad", "status", "case_file", "script"} <= set(f)
        (case,) = load_cases([f["case_file"]])
        assert case.id == f["case"] and f["grad"] in case.grads
        if f["reproduces_standalone"]:
            done = subprocess.run([sys.executable, f["script"]], capture_output=True,
                                  text=True, timeout=300)
            assert done.returncode == 1, done.stdout[-2000:]
