"""The real TensorFlow, PyTorch and JAX through the harness: verdicts that must hold."""
from __future__ import annotations

import re

import pytest

from harness import known as known_mod
from harness.adapters import select
from harness.loader import load_cases
from harness.runner import probe, run

from tests.conftest import FRAMEWORKS, chosen_impl_names

IMPL_NAMES = chosen_impl_names()

# What the frameworks are allowed to refuse here (CPU builds); any other refusal
# would be an adapter bug hiding behind 'unsupported'.
KNOWN_REFUSALS = [
    r"only supports NHWC",
    r"only supports the NHWC tensor format on the CPU",
    r"do not yet support dilation rates larger than 1",
    r"`strides > 1` not supported in conjunction with `dilation_rate > 1`",
]


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
    discrepancy (known-discrepancies.yaml: half-precision accumulation on the CPU)."""
    results = run(SAMPLE, impls, known_mod.load_known(known_mod.DEFAULT_FILE))
    verdicts = [v for r in results for v in r.verdicts]
    bad = [(v.case, v.impl, v.grad, v.status, v.message[:200]) for v in verdicts
           if v.status not in ("pass", "unsupported", "known")]
    assert bad == []
    assert all(v.case.endswith("float16") for v in verdicts if v.status == "known")
    unexplained = [(v.case, v.impl, v.message) for v in verdicts if v.status == "unsupported"
                   and not any(re.search(p, v.message) for p in KNOWN_REFUSALS)]
    assert unexplained == []
    assert sum(v.status == "pass" for v in verdicts) > 0.8 * len(verdicts)


def test_float64_is_computed_in_float64(impls):
    cases = [c for c in SAMPLE if c.dtype == "float64"] or \
        load_cases(["cases/conformance/float64.yaml"])[:1]
    for r in run(cases[:2], impls):
        for v in r.verdicts:
            if v.status == "pass":
                assert v.dtype == "float64", (v.impl, v.dtype)
