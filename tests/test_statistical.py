"""The statistical line (issue 22): an error within the hard bound but beyond the
probabilistic one (harness.numerics.compare.probable_bound) passes, marked improbable;
``--strict-statistical`` fails the run on it. The oracle's own result, correctly rounded,
is never marked; an error of 0.8 of the hard bound on a long sum always is."""
from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import numpy as np
import pytest

from harness.backend.adapters.base import Outcome
from harness.case import ops
from harness.case.loader import load_cases
from harness.case.values import materialize
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
    """Below it, and well below on long sums: in float64 half of the hard bound is the
    oracle's own float64 error, which the line keeps deterministic."""
    for case in load_cases([LONG]):
        for e in expected(case, materialize(case)).values():
            assert np.all(e.probable_bound <= e.bound)
            tighter = 0.7 if case.dtype == "float32" else 0.8
            assert np.any(e.probable_bound < tighter * e.bound)


def test_strict_statistical_fails_the_run(tmp_path, capsys):
    args = ["run", LONG, "--impl-module", "tests.test_statistical:Skewed", "--in-process"]
    assert cli.main(args + ["--out", str(tmp_path / "a")]) == 0
    assert "improbable" in capsys.readouterr().out
    assert cli.main(args + ["--strict-statistical", "--out", str(tmp_path / "b")]) == 1
    out = capsys.readouterr().out
    assert "exit 1: 6 passing verdicts improbable (--strict-statistical)" in out


# ------------------------------------------------------------------ benchmarks/sweep.py

SWEEP_SCRIPT = Path(__file__).resolve().parents[1] / "benchmarks" / "sweep.py"


@pytest.fixture(scope="module")
def sweep():
    """benchmarks/sweep.py as a module (no framework is imported by its pieces)."""
    name = "sweep_benchmark"
    spec = importlib.util.spec_from_file_location(name, SWEEP_SCRIPT)
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    try:
        spec.loader.exec_module(module)
        yield module
    finally:
        sys.modules.pop(name, None)


def test_the_sweep_reads_paths_and_data_kinds_from_names(sweep):
    assert sweep.path_of("tf.tape") == "native"
    assert sweep.path_of("tf.tape[cpu=avx2]") == "cpu=avx2"
    assert sweep.path_of("torch.autograd[threads=1,cpu=avx512]") == "cpu=avx512"
    assert sweep.data_of("sweep/conv2d/VALID-k2x2-s1x1-d1x1-float16-nhwc-zm") == "zm"
    assert sweep.data_of("sweep/conv1d/SAME-k3-s2-d1-bfloat16-ncw-pos") == "pos"
    assert sweep.data_of("conformance/half/SAME-s1x1-float16") == "other"


def test_the_sweep_suite_is_large_and_labelled(sweep):
    cases = load_cases([sweep.SWEEP])
    assert len(cases) >= 2000
    assert {sweep.data_of(c.id) for c in cases} == {"zm", "pos"}
    assert {c.dtype for c in cases} == set(sweep.DTYPES)
    assert {c.op for c in cases} >= {"conv1d", "conv2d", "conv3d", "depthwise_conv2d",
                                     "conv_transpose2d"}


def test_the_sweep_tally_counts_verdicts_judged_on_values(sweep):
    def verdict(case, impl, status, improbable=0):
        stats = {"error_ratio": 0.5, "improbable": improbable} if status != "unsupported" \
            else None
        return {"case": case, "impl": impl, "status": status, "stats": stats, "grad": "y"}
    record = {"cases": [{"id": "s/a-float32-zm", "dtype": "float32"},
                        {"id": "s/b-float16-pos", "dtype": "float16"}],
              "verdicts": [verdict("s/a-float32-zm", "jax.vjp", "pass", improbable=2),
                           verdict("s/a-float32-zm", "jax.vjp[cpu=avx2]", "pass"),
                           verdict("s/b-float16-pos", "tf.tape", "known"),
                           verdict("s/b-float16-pos", "tf.tape", "unsupported")]}
    rows = sweep.tally(record)
    native = rows["native"]
    assert native[("all",)]["judged"] == 2 and native[("all",)]["unsupported"] == 1
    assert native[("dtype", "float32")]["improbable"] == 1
    assert native[("data", "pos")]["known"] == 1
    assert rows["cpu=avx2"][("all",)]["judged"] == 1
    text = "\n".join(sweep.table(rows))
    assert "path native" in text and "path cpu=avx2" in text and "100.000%" in text
