"""Ctrl-C or SIGTERM mid-run: the previous record and report stay intact, and what was
judged so far is written to results.incomplete.json, marked incomplete."""
from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from harness.frontends.cli import main
from tests.conftest import chosen_impl_names

IMPL = (chosen_impl_names() or ["jax.vjp"])[-1]
CONVGRAD = str(Path(sys.executable).with_name("convgrad"))


@pytest.mark.frameworks
@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM])
def test_interrupted_run_keeps_the_previous_report(sig, tmp_path):
    assert main(["run", "cases/article/1-valid-dx.yaml", "--impl", IMPL, "--in-process",
                 "--out", str(tmp_path)]) == 0
    before = {name: (tmp_path / name).read_bytes() for name in ("results.json", "index.html")}
    proc = subprocess.Popen([CONVGRAD, "run", "cases/conformance", "--impl", IMPL,
                             "--in-process", "--out", str(tmp_path)],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 120
    for line in proc.stderr:  # progress lines appear once the run is under way
        if line.startswith("[") or time.monotonic() > deadline:
            break
    proc.send_signal(sig)
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 130, err
    assert "results.incomplete.json" in err
    for name, content in before.items():
        assert (tmp_path / name).read_bytes() == content
    partial = json.loads((tmp_path / "results.incomplete.json").read_text())
    assert partial["incomplete"] is True
    assert 0 < len(partial["cases"]) < 600
    assert {v["case"] for v in partial["verdicts"]} == {c["id"] for c in partial["cases"]}
