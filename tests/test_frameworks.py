"""The real TensorFlow, PyTorch and JAX through the harness: verdicts that must hold."""
from __future__ import annotations

import os
import platform
import re

import pytest

from harness.verdict import known as known_mod
from harness.backend.adapters import select
from harness.case.loader import load_cases
from harness.session.runner import probe, run

from tests.conftest import FRAMEWORKS, chosen_impl_names

IMPL_NAMES = chosen_impl_names()

pytestmark = pytest.mark.frameworks


@pytest.fixture(scope="module")
def impls():
    infos = probe(select(IMPL_NAMES))
    missing = [i.impl.name for i in infos if not i.available]
    assert not missing, f"frameworks missing: {missing}: pip install -e '.[all,test]'"
    return infos


@pytest.fixture(scope="module")
def article(impls):
    return {r.case.id: r for r in run(load_cases(["cases/article"]), impls)}


def test_every_impl_passes_every_article_example(article):
    verdicts = [v for r in article.values() for v in r.verdicts]
    assert len(verdicts) == 4 * len(IMPL_NAMES) > 0
    assert [(v.case, v.impl, v.status) for v in verdicts if v.status != "pass"] == []


def test_article_claims_1_2_4_hold_and_3_is_wrong(article):
    status = {r.case.id: [c.status for c in r.claims] for r in article.values()}
    assert status == {"article/valid-dx": ["holds"], "article/valid-dw": ["holds"],
                      "article/same-dx": ["wrong"], "article/same-dw": ["holds"]}
    wrong = article["article/same-dx"].claims[0]
    # The article printed example 1's tensor: right where no pad cell is involved.
    assert wrong.stats["mismatched"] == 4 and wrong.stats["worst_expected"] == 13.0


@pytest.mark.skipif("torch" not in FRAMEWORKS, reason="torch not under test")
def test_torch_emulates_asymmetric_same_and_says_how(article):
    v = next(v for v in article["article/same-dx"].verdicts if v.impl == "torch.nn_grad")
    assert v.emulated and "F.pad(x, (0, 1, 0, 1))" in v.padding
    native = next(v for v in article["article/same-dx"].verdicts if v.impl == "torch.autograd")
    assert not native.emulated and native.padding == "padding='same'"
    assert all(not v.emulated for r in article.values() for v in r.verdicts
               if v.impl in ("jax.vjp", "tf.backprop", "tf.tape"))


SAMPLE = load_cases(["cases/conformance"])[::7]


def test_no_false_alarm_on_a_conformance_sample(impls):
    """Every verdict passes, is a refusal listed above, or is an investigated known
    discrepancy (known-discrepancies.yaml: half-precision accumulation on the CPU, and
    TensorFlow's depthwise backprop ops, which ignore dilations)."""
    results = run(SAMPLE, impls, known_mod.load_known(known_mod.DEFAULT_FILE))
    verdicts = [v for r in results for v in r.verdicts]
    bad = [(v.case, v.impl, v.grad, v.status, v.message[:200]) for v in verdicts
           if v.status not in ("pass", "unsupported", "known")]
    assert bad == []
    # every refusal is a documented limitation (harness/data/limitations.yaml)
    assert [(v.case, v.impl, v.message) for v in verdicts
            if v.status == "unsupported" and not v.limitation] == []
    assert all(v.case.endswith("float16") or (v.impl.startswith("tf.backprop") and
               v.case.startswith("conformance/depthwise2d-dilated/"))
               for v in verdicts if v.status == "known")
    # TensorFlow's own CPU kernels refuse grouped gradients and unequal depthwise
    # strides (documented limitations): with the op registry's cases its share of
    # passes is 78% (TF 2.21), the others' higher.
    assert sum(v.status == "pass" for v in verdicts) > 0.75 * len(verdicts)


def test_float64_is_computed_in_float64(impls):
    cases = [c for c in SAMPLE if c.dtype == "float64"] or \
        load_cases(["cases/conformance/float64.yaml"])[:1]
    for r in run(cases[:2], impls):
        for v in r.verdicts:
            if v.status == "pass":
                assert v.dtype == "float64", (v.impl, v.dtype)


# --- degenerate shapes (cases/degenerate): what each framework does with them ---------------

DEGENERATE = load_cases(["cases/degenerate"])
CASES = {c.id: c for c in DEGENERATE}
EMPTY_OUTPUT = [c.id for c in DEGENERATE if c.id.startswith("degenerate/empty-output/")]
# TensorFlow's Conv2DBackpropFilter crashes the process on this one
# (docs/repro/tf_conv_backprop_filter_empty_output_segfault.py): never in-process.
TF_CRASHES = "degenerate/strided-empty-output/larger-than-padded-input-dw"
# TensorFlow refuses a kernel that overhangs the input by more than the stride.
TF_REFUSES = {"degenerate/empty-output/kernel-5x5-over-2x2": "Computed output size would be "
                                                             "negative: -2"}
# TensorFlow's stock backprop-filter kernel returns uninitialized memory for an empty output
# (docs/repro/tf_conv_backprop_filter_empty_output_uninitialized.py): such dw verdicts
# pass or fail by chance, so no test asserts on them.
INTERMITTENT_DW = {"degenerate/empty-output/larger-than-padded-input"}
TORCH_REFUSES_EMPTY_OUTPUT = "Kernel size can't be greater than actual input size"
TORCH_REFUSES_NO_OUTPUT_CHANNEL = "expected weight to be at least 1 at dimension 0"


def _onednn_on() -> bool:
    """TensorFlow's default on Linux x86-64 (unless TF_ENABLE_ONEDNN_OPTS=0)."""
    return (os.environ.get("TF_ENABLE_ONEDNN_OPTS", "1") != "0"
            and platform.machine().lower() in ("x86_64", "amd64"))


@pytest.fixture(scope="module")
def degenerate(impls):
    """{(case, impl, grad): verdict} of the built-in impls in this process (known
    discrepancies NOT applied); TensorFlow skips the case that crashes it."""
    tf_impls = [i for i in impls if i.impl.framework == "tensorflow"]
    others = [i for i in impls if i.impl.framework != "tensorflow"]
    results = run(DEGENERATE, others) + run([c for c in DEGENERATE if c.id != TF_CRASHES],
                                            tf_impls)
    return {(v.case, v.impl, v.grad): v for r in results for v in r.verdicts}


def _where(verdicts, impl, status=None, cases=None):
    return sorted((c, g) for (c, i, g), v in verdicts.items() if i == impl
                  and (status is None or v.status == status) and (cases is None or c in cases))


@pytest.mark.frameworks
@pytest.mark.skipif("jax" not in FRAMEWORKS, reason="jax not under test")
def test_jax_passes_every_degenerate_case(degenerate):
    verdicts = {k: v for k, v in degenerate.items() if k[1] == "jax.vjp"}
    assert len(verdicts) == sum(len(c.grads) for c in DEGENERATE) > 0
    assert [(k, v.status, v.message) for k, v in verdicts.items() if v.status != "pass"] == []
    y = degenerate[("degenerate/empty-output/valid-k3-over-2x2", "jax.vjp", "y")]
    assert y.message == "empty tensor, shape [1, 0, 0, 1], as expected"


@pytest.mark.frameworks
@pytest.mark.skipif("tensorflow" not in FRAMEWORKS, reason="tensorflow not under test")
@pytest.mark.skipif(not _onednn_on(), reason="oneDNN is off: tensorflow#64396 is oneDNN's")
@pytest.mark.parametrize("impl", ["tf.backprop", "tf.tape"])
def test_tensorflow_onednn_returns_the_input_shape_for_an_empty_output(degenerate, impl):
    """tensorflow#64396: y comes back in x's shape; dx of an empty output is right (zeros)."""
    computed = [c for c in EMPTY_OUTPUT if c not in TF_REFUSES]
    for case_id in computed + ["degenerate/batch-0"]:
        case = CASES[case_id]
        if "y" not in case.grads:
            continue
        v = degenerate[(case_id, impl, "y")]
        assert v.status == "error", (case_id, v.status, v.message)   # not this case's y
        assert v.message.startswith(f"shape {list(case.input_shape)} differs from the "
                                    f"expected {list(case.output_shape)}"), v.message
    two_and_three_d = [c for c in computed if "conv1d" not in c]
    passed = [(c, g) for c, g in _where(degenerate, impl, "pass", two_and_three_d)
              if (c, g) not in {(i, "dw") for i in INTERMITTENT_DW}]
    assert passed == sorted([(c, "dx") for c in two_and_three_d]
                            + [(c, "dw") for c in two_and_three_d if "dw" in CASES[c].grads
                               and c not in INTERMITTENT_DW])


@pytest.mark.frameworks
@pytest.mark.skipif("tensorflow" not in FRAMEWORKS, reason="tensorflow not under test")
def test_tensorflow_refuses_what_it_does_not_compute(degenerate):
    for impl in ("tf.backprop", "tf.tape"):
        for case_id, refusal in TF_REFUSES.items():
            v = degenerate[(case_id, impl, "y")]
            assert v.status != "pass" and refusal in v.message, (impl, v.status, v.message)
        v = degenerate[("degenerate/channels/in-0", impl, "y")]
        assert v.status != "pass" and re.search(
            r"filter must not have zero elements|filter depth must be stricly positive",
            v.message), (impl, v.status, v.message)


@pytest.mark.frameworks
@pytest.mark.skipif("tensorflow" not in FRAMEWORKS, reason="tensorflow not under test")
def test_tensorflow_in_workers_without_onednn_and_its_crash():
    """The issue's workaround (a setting read at import: a worker), and the backprop-filter
    crash, which a worker turns into an error verdict instead of the end of the run."""
    from harness.backend import variants
    from harness.backend.worker import WorkerPool

    computed = [CASES[c] for c in EMPTY_OUTPUT + ["degenerate/batch-0"] if c not in TF_REFUSES]
    pool = WorkerPool(jobs=1, timeout=120)
    try:
        off, = pool.probe(variants.resolve(["tf.tape[onednn=off]"]))
        verdicts = [v for r in run(computed, [off], backend=pool) for v in r.verdicts]
        default, = pool.probe(variants.resolve(["tf.backprop"]))
        (crash,) = run([CASES[TF_CRASHES]], [default], backend=pool)[0].verdicts
    finally:
        pool.close()
    y = {v.case: (v.status, v.message) for v in verdicts if v.grad == "y"}
    assert len(y) == len([c for c in computed if "y" in c.grads]) > 0
    assert {c: s for c, (s, _) in y.items() if s != "pass"} == {}
    assert y["degenerate/empty-output/valid-k3-over-2x2"][1] == \
        "empty tensor, shape [1, 0, 0, 1], as expected"
    assert all(v.status == "pass" for v in verdicts if v.grad == "dx")
    assert (crash.grad, crash.status, crash.message) == ("dw", "error", "worker killed by SIGSEGV")


@pytest.mark.frameworks
@pytest.mark.skipif("torch" not in FRAMEWORKS, reason="torch not under test")
@pytest.mark.parametrize("impl", ["torch.nn_grad", "torch.autograd"])
def test_torch_on_degenerate_shapes(degenerate, impl):
    # An empty output is refused, with torch's own words, never computed wrongly.
    refused = [(c, g) for (c, i, g), v in degenerate.items()
               if i == impl and c in EMPTY_OUTPUT + [TF_CRASHES]]
    assert len(refused) > len(EMPTY_OUTPUT)
    for c, g in refused:
        v = degenerate[(c, impl, g)]
        assert v.status in ("unsupported", "error") and TORCH_REFUSES_EMPTY_OUTPUT in v.message, \
            (c, g, v.status, v.message)
    # A batch of 0 works.
    assert _where(degenerate, impl, "pass", ["degenerate/batch-0"]) == [
        ("degenerate/batch-0", g) for g in ("dw", "dx", "y")]
    # No output channel: refused.
    out0 = degenerate[("degenerate/channels/out-0", impl, "y")]
    assert out0.status != "pass" and TORCH_REFUSES_NO_OUTPUT_CHANNEL in out0.message
    # No input channel: y has 0 output channels instead of 3 zeros (pytorch#56998).
    y = degenerate[("degenerate/channels/in-0", impl, "y")]
    assert y.status == "error" and y.message.startswith(
        "shape [1, 2, 2, 0] differs from the expected [1, 2, 2, 3]")
    if impl == "torch.nn_grad":   # its dx and dw do not go through that forward
        assert _where(degenerate, impl, "pass", ["degenerate/channels/in-0"]) == [
            ("degenerate/channels/in-0", "dw"), ("degenerate/channels/in-0", "dx")]


def test_the_live_bug_corpus_is_pass_unsupported_or_known_and_no_entry_is_stale(tmp_path):
    """cases/upstream and cases/regressions hold the catalog's reports and the live bugs
    found here: with the pinned frameworks every verdict is pass, a documented limitation
    or a known discrepancy, and no known entry matches a verdict that passes (a merge once
    changed the float16 bound under an upstream case whose id no entry reached: 8 fails).
    Through the CLI's isolated workers: some of these bugs abort the process."""
    import json

    from harness.frontends.cli import main

    status = main(["run", "cases/upstream", "cases/regressions", "--impl", ",".join(IMPL_NAMES),
                   "--platforms", "all",   # every path this machine can take (issue 18)
                   "--out", str(tmp_path), "--no-jax-cache"])
    record = json.loads((tmp_path / "results.json").read_text())
    bad = [(v["case"], v["impl"], v["grad"], v["status"]) for v in record["verdicts"]
           if v["status"] not in ("pass", "unsupported", "known")]
    assert not bad, bad
    stale = [(v["case"], v["impl"], v["grad"]) for v in record["verdicts"]
             if v["status"] == "pass" and v["known"] is not None
             and not v["known"].get("intermittent")]
    assert not stale, stale
    assert status == 0 and record["summary"]["verdicts"]["known"] > 0
