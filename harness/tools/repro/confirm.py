"""Confirming a reproduction: its standalone script, run in a fresh Python process.

A worker process that has computed many cases is not a fresh process: a
framework bug that reads stale memory, or a cache keyed too loosely, can make
a candidate fail there and pass anywhere else. The shrinker therefore checks
its result the way a user will: it writes the script and runs it
(:func:`reproduces`), and walks back the steps it kept until the script
reproduces the failure (:mod:`harness.tools.repro.shrink`).
"""
from __future__ import annotations

import os
import subprocess
import sys
import tempfile
from pathlib import Path

from harness.safeio import outputs
from harness.tools.repro import script
from harness.tools.repro.target import from_result
from harness.tools.repro.templates import NoTemplate


def reproduces(t: script.Target, timeout: float = 300.0) -> bool:
    """Whether the standalone script of ``t`` exits 1 (the discrepancy reproduces) in a
    fresh process. False when it does not, cannot run, or overruns ``timeout``."""
    try:
        text = script.render(t)
    except NoTemplate:
        return False
    with tempfile.TemporaryDirectory(prefix="convgrad-confirm-") as tmp:
        path = Path(tmp) / "repro.py"
        outputs.write_output(path, text, "the confirming script")
        env = {k: v for k, v in os.environ.items() if k != "CONVGRAD_REPRO_SAVE"}
        try:
            done = subprocess.run([sys.executable, str(path)], cwd=tmp, env=env,
                                  stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                                  timeout=timeout)
        except subprocess.TimeoutExpired:
            return False
    return done.returncode == 1


def confirmer(runs: int = 1, worker_env: dict | None = None, timeout: float = 300.0):
    """A ``confirm(result, verdict)`` for :func:`harness.tools.repro.shrink.shrink`."""
    def confirm(result, verdict) -> bool:
        return reproduces(from_result(result, verdict, runs=runs, worker_env=worker_env),
                          timeout)
    return confirm
