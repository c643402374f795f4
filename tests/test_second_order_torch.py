"""torch's forward mode and second order (issue 21) against the float64 oracle.

The real ``torch.nn_grad`` (the identities written by hand) and ``torch.autograd`` in
each of its ``second`` settings (``autograd``: forward-AD dual tensors and double
backward; ``func``: ``torch.func.jvp`` and reverse-over-reverse ``torch.func.vjp``;
``fwd_over_rev``: ``torch.func.jvp`` of the first-order vjp) judge the second-order
suite (``cases/second-order``) in-process: every verdict is ``pass`` or ``known`` (torch's
half-precision input gradient, which ddx is, adding its kernel taps in 16 bits where
oneDNN does not take the dtype: known-discrepancies.yaml).

Planted impls subclass the real adapters and compute one second-order grad the wrong
way (``ddx`` as ``dx``, ``ddw`` as ``dw``, ``ddy`` or ``jvp`` without its ``w`` term): the
suite must fail exactly that grad on every case of a sample, and pass the others.
"""
from __future__ import annotations

import pytest

from harness.backend import variants
from harness.backend.adapters.base import grads_of
from harness.backend.adapters.torch_adapter import IMPLS, TorchAutograd, TorchNnGrad
from harness.case import ops
from harness.case.loader import load_cases
from harness.case.values import materialize
from harness.session import runner
from harness.verdict import known as known_mod
from tests import paths
from tests.conftest import FRAMEWORKS

pytestmark = [pytest.mark.frameworks,
              pytest.mark.skipif("torch" not in FRAMEWORKS, reason="torch not under test")]

CASES = load_cases(["cases/second-order"])
SPECS = ["torch.*", "torch.autograd[second=func]", "torch.autograd[second=fwd_over_rev]"]
NAMES = ["torch.nn_grad", "torch.autograd", "torch.autograd[second=func]",
         "torch.autograd[second=fwd_over_rev]"]
# the memory formats, on the 2-D cases (channels_last has no 1-D form)
MEMORY_SPECS = ["torch.nn_grad[memory=channels_last]",
                "torch.autograd[memory=nhwc_view,second=func]",
                "torch.autograd[memory=channels_last,second=fwd_over_rev]"]
TWO_D = [c for c in CASES if c.rank == 2][::5]


def _verdicts(cases, impls):
    known = known_mod.load_known(known_mod.DEFAULT_FILE)
    return [v for r in runner.run(cases, runner.probe(impls), known) for v in r.verdicts]


@pytest.fixture(scope="module")
def real():
    impls = variants.resolve(SPECS, registry=IMPLS)
    assert [i.name for i in impls] == NAMES
    return _verdicts(CASES, impls)


def test_the_second_setting_is_declared_and_validated():
    assert "second=autograd|func|fwd_over_rev" in variants.describe(TorchAutograd())
    with pytest.raises(variants.VariantError, match="expected one of autograd, func"):
        variants.make(TorchAutograd(), {"second": "double"})
    with pytest.raises(variants.VariantError, match="no setting 'second'"):
        variants.make(TorchNnGrad(), {"second": "func"})


def test_each_variant_is_handed_the_second_order_grads():
    """The runner asks the impl it judges (a Variant, for a spec with settings) which grads
    it computes: every torch spec of the suite must be handed all of them."""
    case = CASES[0]
    for impl in variants.resolve(SPECS + MEMORY_SPECS, registry=IMPLS):
        assert grads_of(impl, case) == ops.SECOND_ORDER, impl.name


def test_every_second_order_verdict_passes_or_is_torchs_16_bit_input_gradient(real):
    assert len(real) == len(NAMES) * len(CASES) * len(ops.SECOND_ORDER)
    by_impl = {name: [v for v in real if v.impl == name] for name in NAMES}
    assert all(len(vs) == len(CASES) * 4 for vs in by_impl.values())
    bad = [(v.case, v.impl, v.grad, v.status, v.message[:200]) for v in real
           if v.status not in ("pass", "known")]
    assert bad == []
    sixteen = {d for d in ("float16", "bfloat16") if paths.sums_in_16_bits("torch", d)}
    known = {(v.case, v.grad) for v in real if v.status == "known"}
    dtype = {c.id: c.dtype for c in CASES}
    assert all(g == "ddx" and dtype[case] in sixteen for case, g in known), known
    # the known ones are the same for every route: one kernel (the 16-bit input gradient)
    for name in NAMES:
        assert {(v.case, v.grad) for v in by_impl[name] if v.status == "known"} == known
    assert {case for case, _ in known} == {c.id for c in CASES if c.dtype in sixteen}


def test_the_memory_formats_carry_the_tangents_too():
    impls = variants.resolve(MEMORY_SPECS, registry=IMPLS)
    verdicts = _verdicts(TWO_D, impls)
    assert len(verdicts) == len(impls) * len(TWO_D) * 4
    assert [(v.case, v.impl, v.grad, v.status) for v in verdicts
            if v.status not in ("pass", "known")] == []


# --- the route each setting takes ---------------------------------------------------------

@pytest.mark.parametrize("broken, failing", [
    ("jvp", {"autograd": set(), "func": {"jvp"},
             "fwd_over_rev": {"jvp", "ddy", "ddx", "ddw"}}),
    ("vjp", {"autograd": set(), "func": {"ddy", "ddx", "ddw"},
             "fwd_over_rev": {"ddx", "ddw"}}),
])
def test_each_setting_takes_its_own_route_one_grad_per_thunk(monkeypatch, broken, failing):
    """With ``torch.func.jvp`` (or ``vjp``) broken, exactly the grads whose route the setting
    says goes through it fail; the others still come back (each grad its own thunk)."""
    import torch

    def boom(*args, **kwargs):
        raise RuntimeError(f"torch.func.{broken} called")
    case = next(c for c in CASES if c.dtype == "float32")
    inputs = materialize(case)
    monkeypatch.setattr(torch.func, broken, boom)
    for second, expected in failing.items():
        impl = TorchAutograd().with_settings({"second": second})
        outcomes = impl.compute(case, inputs, ops.SECOND_ORDER)
        errors = {g for g, o in outcomes.items() if o.error}
        assert errors == expected, second
        assert all(f"torch.func.{broken} called" in outcomes[g].error for g in errors)
        assert all(outcomes[g].values is not None for g in set(ops.SECOND_ORDER) - errors)


# --- planted mistakes ---------------------------------------------------------------------

class _Planted:
    """One second-order grad computed from the first-order thunks with the wrong tensors."""
    wrong: str = ""
    # the first-order grad and the tensors it is (wrongly) computed from
    recipe: tuple = ()

    def second_order_thunks(self, case, tensor, padding, emulated):
        thunks = dict(super().second_order_thunks(case, tensor, padding, emulated))
        base, names = self.recipe
        first = self.thunks(case, lambda: tuple(tensor(n) for n in names), padding, emulated)
        thunks[self.wrong] = first[base]
        return thunks


class DdxAsDx(_Planted):   # the first-order dx: dx(dy, w), not dx(dy, gw)
    wrong, recipe = "ddx", ("dx", ("x", "w", "dy"))


class DdwAsDw(_Planted):   # dw(x, dy), not dw(gx, dy)
    wrong, recipe = "ddw", ("dw", ("x", "w", "dy"))


class DdyWithoutGw(_Planted):   # B(gx, w) alone: the B(x, gw) term forgotten
    wrong, recipe = "ddy", ("y", ("gx", "w", "dy"))


class JvpWithoutTw(_Planted):   # B(tx, w) alone: the weights' tangent forgotten
    wrong, recipe = "jvp", ("y", ("tx", "w", "dy"))


MISTAKES = (DdxAsDx, DdwAsDw, DdyWithoutGw, JvpWithoutTw)
# float32 / float64 only: a 16-bit ddx is a known discrepancy here, which would read a
# planted ddx as known; every op kind and geometry is in the sample
SAMPLE = [c for c in CASES if c.dtype in ("float32", "float64")][::4]


def _planted(mistake, adapter):
    name = f"planted.{mistake.__name__}_{adapter.name}"
    return type(name, (mistake, adapter), {"name": name})()


@pytest.mark.parametrize("mistake", MISTAKES, ids=lambda m: m.__name__)
def test_a_second_order_grad_computed_the_wrong_way_fails_exactly_there(mistake):
    assert {c.kind for c in SAMPLE} == set(ops.KINDS) and len(SAMPLE) >= 12
    impls = [_planted(mistake, TorchNnGrad),
             _planted(mistake, TorchAutograd).with_settings({"second": "func"})]
    verdicts = _verdicts(SAMPLE, impls)
    assert len(verdicts) == 2 * len(SAMPLE) * 4
    wrong = [v for v in verdicts if v.grad == mistake.wrong]
    assert [(v.case, v.impl, v.status) for v in wrong if v.status != "fail"] == []
    assert [(v.case, v.impl, v.grad, v.status) for v in verdicts
            if v.grad != mistake.wrong and v.status != "pass"] == []
