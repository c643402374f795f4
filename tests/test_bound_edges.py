"""The bound at the edges of the number line and on long half-precision sums.

* float16 results in the subnormal range and past the largest finite value
  (``cases/edges/float16-edges.yaml``): correct impls pass, an impl returning
  the unrounded finite value where the correctly rounded result is inf fails.
* long bfloat16 sums (``cases/edges/long-sums.yaml``, 38 -> 37 channels, 5x5
  kernel, batch 3, SAME: every element sums 333 to 950 products, so n * u >= 1
  in bfloat16): a bound that assumed bfloat16 accumulation would pass a flipped
  kernel, a reshaped dx and a one-batch-item dw; the float32 accumulator model
  fails them, and an impl that really accumulates in bfloat16 fails with a
  message that says so.

Tests marked ``frameworks`` run TensorFlow, PyTorch and JAX.
"""
from __future__ import annotations

import json

import numpy as np
import pytest

from harness.verdict import known as known_mod
from harness.backend import platforms
from harness.backend.adapters import select
from harness.frontends.cli import main
from harness.numerics.compare import BoundModel
from harness.verdict.expected import expected
from harness.case.loader import load_cases
from harness.session.runner import InProcess, run
from harness.case.values import materialize
from tests import paths, planted
from tests.conftest import chosen_impl_names

EDGES = "cases/edges/float16-edges.yaml"
LONG = "cases/edges/long-sums.yaml"
OVERFLOW = {"edges/float16/overflow-y", "edges/float16/overflow-dx", "edges/float16/overflow-dw"}


def _verdicts(cases, impls, known=()):
    """{(case, impl, grad): verdict}, computed in this process."""
    results = run(cases, InProcess().probe(impls), known)
    return {(v.case, v.impl, v.grad): v for r in results for v in r.verdicts}


# ---------------------------------------------------------------- float16 edges

def test_the_edge_cases_reach_the_edges():
    """Some results subnormal, some rounding to inf, some next to the threshold."""
    cases = load_cases([EDGES])
    values = np.concatenate([e.values.ravel() for c in cases
                             for e in expected(c, materialize(c)).values()])
    finite = values[np.isfinite(values) & (values != 0)]
    assert np.sum(np.abs(finite) < 2.0 ** -14) >= 10           # float16 subnormals
    assert np.sum(values == np.inf) >= 3 and np.sum(values == -np.inf) >= 2
    exp = expected(cases[2], materialize(cases[2]))["y"]
    assert exp.may_overflow is not None and exp.may_overflow.sum() == 2   # exactly 65520


def test_correctly_rounded_edges_pass():
    verdicts = _verdicts(load_cases([EDGES]), [planted.Planted()])
    assert {k: v.status for k, v in verdicts.items() if v.status != "pass"} == {}


def test_the_unrounded_finite_value_where_inf_is_right_fails():
    verdicts = _verdicts(load_cases([EDGES]), [planted.Unrounded()])
    failed = {case for (case, _, _), v in verdicts.items() if v.status == "fail"}
    assert failed == OVERFLOW
    v = verdicts[("edges/float16/overflow-dw", "planted.unrounded", "dw")]
    assert "expected inf, got 70000.0" in v.message
    assert not v.stats["storage_fits"]         # an overflow is not an accumulation error


@pytest.mark.frameworks
def test_real_frameworks_pass_the_float16_edges(tmp_path):
    impls = ",".join(chosen_impl_names())
    code = main(["run", EDGES, "--in-process", "--impl", impls, "--out", str(tmp_path)])
    record = json.loads((tmp_path / "results.json").read_text())
    statuses = {(v["case"], v["impl"], v["grad"]): v["status"] for v in record["verdicts"]}
    assert {k: s for k, s in statuses.items() if s != "pass"} == {} and code == 0
    assert {i for _, i, _ in statuses} == set(chosen_impl_names())
    infinite = [v for v in record["verdicts"] if v["stats"]["worst_expected"] in ("inf", "-inf")]
    assert infinite == []     # infinities matched exactly: never the worst element


# ---------------------------------------------------------------- long bfloat16 sums

@pytest.fixture(scope="module")
def bf16_case():
    case = next(c for c in load_cases([LONG]) if c.id == "edges/long-sums/SAME-bfloat16")
    assert case.canonical_input_shape[:2] == (3, 38) and case.canonical_filter_shape[:2] == (37, 38)
    return case


BUGGY = {planted.KernelNotFlipped: "dx", planted.DxLayoutByReshape: "dx",
         planted.DwFromFirstBatchItem: "dw"}


@pytest.fixture(scope="module")
def bf16_verdicts(bf16_case):
    impls = [planted.Planted(), planted.AccumulateInStorage(), *(b() for b in BUGGY)]
    return _verdicts([bf16_case], impls)


def test_the_correct_impl_passes_long_bfloat16_sums(bf16_verdicts):
    assert {g: v.status for (_, i, g), v in bf16_verdicts.items()
            if i == "planted.correct"} == {"y": "pass", "dx": "pass", "dw": "pass"}
    v = bf16_verdicts[("edges/long-sums/SAME-bfloat16", "planted.correct", "dx")]
    assert v.stats["bound_model"] == {"accumulate": "float32", "output": "bfloat16"}
    assert v.stats["vacuous"] is False


@pytest.mark.parametrize("bug", BUGGY, ids=lambda b: b.name)
def test_classic_mistakes_fail_on_long_bfloat16_sums(bug, bf16_verdicts):
    v = bf16_verdicts[("edges/long-sums/SAME-bfloat16", bug.name, BUGGY[bug])]
    assert v.status == "fail" and v.stats["mismatched"] > v.stats["total"] / 2


def test_a_bfloat16_accumulation_bound_would_be_vacuous_and_miss_them(bf16_case):
    """Why the accumulator matters: with bfloat16 accumulation modelled (n * u >= 1)
    the bound exceeds |exact| nearly everywhere, and the same three bugs pass."""
    storage = BoundModel.for_dtype("bfloat16", "storage")
    exp = expected(bf16_case, materialize(bf16_case), model=storage)
    for bug, grad in BUGGY.items():
        outcome = bug().compute(bf16_case, materialize(bf16_case), [grad])[grad]
        c = exp[grad].compare(outcome.values)
        assert c.passed and c.vacuous, bug.name
        assert "warning: the bound is vacuous" in c.message


def test_bfloat16_accumulation_fails_and_the_message_names_it(bf16_verdicts):
    for grad in ("y", "dx", "dw"):
        v = bf16_verdicts[("edges/long-sums/SAME-bfloat16", "planted.accumulate_in_storage",
                           grad)]
        assert v.status == "fail", grad
        assert v.stats["storage_fits"] is True
        assert ("the error fits accumulation in bfloat16, not the float32 accumulation the "
                "model assumes") in v.message


@pytest.mark.frameworks
def test_real_frameworks_pass_long_bfloat16_sums_where_they_sum_in_float32():
    """Where oneDNN takes bfloat16 (or with JAX) long bfloat16 sums pass; where a framework
    runs them on its own kernels (an AVX2 CPU, oneDNN off) dx and dw are accumulated in
    bfloat16: known, and the verdict says the error fits that; y passes everywhere."""
    cases = [c for c in load_cases([LONG]) if c.dtype == "bfloat16"]
    known = known_mod.load_known(known_mod.DEFAULT_FILE)
    verdicts = _verdicts(cases, select(chosen_impl_names()), known)
    for (case, impl, grad), v in verdicts.items():
        framework = {"tf": "tensorflow", "torch": "torch"}.get(impl.split(".")[0], "jax")
        if grad != "y" and paths.sums_in_16_bits(framework, "bfloat16"):
            assert v.status == "known", (case, impl, grad, v.status, v.message)
            assert "the error fits accumulation in bfloat16" in v.message
        else:
            assert v.status == "pass", (case, impl, grad, v.status, v.stats.get("error_ratio"))
            assert "out of date" not in v.message, (case, impl, grad, v.message)


@pytest.mark.frameworks
def test_float16_long_sums_fail_only_where_a_known_discrepancy_says_so():
    """TensorFlow and torch accumulate some float16 gradients in float16 on the CPU
    (docs/repro/half_precision_accumulation.py): known; JAX, and every y, pass."""
    cases = [c for c in load_cases([LONG]) if c.dtype == "float16"]
    known = known_mod.load_known(known_mod.DEFAULT_FILE)
    verdicts = _verdicts(cases, select(chosen_impl_names()), known)
    for (case, impl, grad), v in verdicts.items():
        if impl.startswith("jax.") or grad == "y":
            assert v.status == "pass", (case, impl, grad, v.message)
        else:
            assert v.status == "known", (case, impl, grad, v.status)
            assert "the error fits accumulation in float16" in v.message


@pytest.mark.frameworks
def test_subnormal_float32_and_bfloat16_results_are_flushed_where_known():
    """TF and XLA flush subnormal results to zero on the CPU, and so does torch's bfloat16
    convolution where oneDNN computes it with the CPU's bfloat16 instructions (AVX512_BF16's
    VDPBF16PS treats denormals as zero; docs/repro/subnormal_flush_to_zero.py); torch
    float32, and bfloat16 elsewhere, keep them. The correctly rounded result passes, so
    the bound is not what fails; and where a path keeps them no entry is left stale."""
    cases = load_cases(["cases/edges/subnormal-float32-bfloat16.yaml"])
    assert {v.status for v in _verdicts(cases, [planted.Planted()]).values()} == {"pass"}
    known = known_mod.load_known(known_mod.DEFAULT_FILE)
    impls = select(chosen_impl_names())
    torch_bf16 = [platforms.verdict_facts(i.platform, "bfloat16")
                  for i in InProcess().probe(impls) if i.impl.framework == "torch"]
    native_bf16 = any(f["onednn_dtype"] == "on" and f["cpu_class"] in ("avx512_bf16", "amx")
                      for f in torch_bf16)
    verdicts = _verdicts(cases, impls, known)
    for (case, impl, grad), v in verdicts.items():
        flushes = not impl.startswith("torch.") or (case.endswith("bfloat16") and native_bf16)
        assert v.status == ("known" if flushes else "pass"), (case, impl, grad, v.message)
        assert "out of date" not in v.message, (case, impl, grad, v.message)
        if flushes:
            assert v.stats["worst_actual"] == 0.0
