"""The statistical line (issue 22): an error within the hard bound but beyond the
probabilistic one (harness.numerics.compare.probable_bound) passes, marked improbable;
``--strict-statistical`` fails the run on it. The oracle's own result, correctly rounded,
is never marked; an error of 0.8 of the hard bound on a long sum always is."""
from __future__ import annotations

import numpy as np
import pytest

from harness.backend.adapters.base import Outcome
from harness.case import ops
from harness.case.loader import load_cases
from harness.frontends import cli
from harness.numerics import dtypes
from harness.session import runner
from harness.verdict.expected import expected
from harness.verdict.status import Status

LONG = "tests/data/statistical.yaml"


class Skewed:
    """Every element off by ``share`` of its hard bound (a biased accumulation)."""
    framework, name = "numpy", "planted.skewed"
    grads = ("y", "dx", "dw")
    share = 0.8

    def version(self):
        return np.__version__

    def compute(self, case, inputs, grads):
        exp = expected(case, inputs)
        return {g: Outcome(values=exp[g].values + self.share * exp[g].bound, dtype=case.dtype)
                for g in grads}


class Rounded(Skewed):
    name, share = "planted.rounded", 0.0

    def compute(self, case, inputs, grads):
        exp = expected(case, inputs)
        return {g: Outcome(values=dtypes.round_to(exp[g].values, case.dtype), dtype=case.dtype)
                for g in grads}


def _judge(impl):
    return [v for r in runner.Session(runner.probe([impl])).judge(load_cases([LONG]))
            for v in r.verdicts]


def test_most_of_the_hard_bound_on_long_sums_passes_and_is_improbable():
    verdicts = _judge(Skewed())
    assert {v.status for v in verdicts} == {Status.PASS}
    assert all(v.stats["improbable"] > 0 for v in verdicts)
    assert all("improbable:" in v.message for v in verdicts)


def test_the_correctly_rounded_answer_is_never_improbable():
    verdicts = _judge(Rounded())
    assert {v.status for v in verdicts} == {Status.PASS}
    assert [v.stats["improbable"] for v in verdicts] == [0] * len(verdicts)


def test_the_probable_bound_never_exceeds_the_hard_one():
    for case in load_cases([LONG]):
        from harness.case.values import materialize
        for e in expected(case, materialize(case)).values():
            assert np.all(e.probable_bound <= e.bound)
            assert np.any(e.probable_bound < 0.7 * e.bound)   # long sums: tighter


def test_strict_statistical_fails_the_run(tmp_path, capsys):
    args = ["run", LONG, "--impl-module", "tests.test_statistical:Skewed", "--in-process"]
    assert cli.main(args + ["--out", str(tmp_path / "a")]) == 0
    assert "improbable" in capsys.readouterr().out
    assert cli.main(args + ["--strict-statistical", "--out", str(tmp_path / "b")]) == 1
    out = capsys.readouterr().out
    assert "exit 1: 6 passing verdicts improbable (--strict-statistical)" in out
