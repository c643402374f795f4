"""torch and JAX on grouped, depthwise and transposed convolutions.

The real ``torch.nn_grad``, ``torch.autograd`` and ``jax.vjp`` judge the new-op
conformance cases (``cases/conformance/{grouped,depthwise,transpose}.yaml``)
in-process: every verdict is ``pass``, ``known`` (an investigated discrepancy:
torch's float16 accumulation) or a documented ``unsupported``.

Planted impls subclass the real adapters and make one porting mistake each:
they must be caught (``fail`` or ``error``, never ``unsupported``) on exactly
the cases where the mistake changes the maths, which the oracle decides
(:func:`harness.case.ops.evaluate` under the mistaken geometry or tensors), and
pass everywhere else.
"""
from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from harness.verdict import known as known_mod
from harness.numerics import layouts
from harness.case import ops
from harness.session import runner
from harness.backend.adapters.jax_adapter import JaxVjp
from harness.backend.adapters.torch_adapter import TorchAutograd, TorchNnGrad
from harness.case.loader import load_cases
from harness.case.values import Inputs, materialize
from tests.conftest import FRAMEWORKS
from tests import paths

pytestmark = [pytest.mark.frameworks,
              pytest.mark.skipif(not {"torch", "jax"} <= set(FRAMEWORKS),
                                 reason="torch and JAX not both under test")]

FILES = ["cases/conformance/grouped.yaml", "cases/conformance/depthwise.yaml",
         "cases/conformance/transpose.yaml"]
CASES = load_cases(FILES)
# JAX compiles every new shape (about 0.4 s a case on 2 cores): it judges a sample that
# keeps the half-precision cases in float16; torch judges them all.
JAX_SAMPLE = [c for i, c in enumerate(CASES) if i % 8 == 0 or c.dtype == "float16"]


def _by_key(results):
    out = {}
    for result in results:
        for v in result.verdicts:
            out.setdefault((v.impl, v.case), []).append(v)
    return out


# --- the real impls ------------------------------------------------------------------------

@pytest.fixture(scope="module")
def real():
    known = known_mod.load_known(known_mod.DEFAULT_FILE)
    torch_infos = runner.probe([TorchNnGrad(), TorchAutograd()])
    results = runner.run(CASES, torch_infos, known) + \
        runner.run(JAX_SAMPLE, runner.probe([JaxVjp()]), known)
    return [v for r in results for v in r.verdicts]


def test_every_new_op_case_is_pass_known_or_documented(real):
    assert len(real) == 3 * 2 * len(CASES) + 3 * len(JAX_SAMPLE)
    bad = [(v.case, v.impl, v.grad, v.status, v.message[:200]) for v in real
           if v.status not in ("pass", "known", "unsupported")]
    assert bad == []
    assert [(v.case, v.impl) for v in real if v.status == "unsupported"
            and not (v.limitation and v.limitation["id"] in _documented())] == []


def test_only_torchs_16_bit_sums_are_known_and_jax_passes_everything(real):
    """torch's own kernels add half precision in 16 bits: float16 here, and bfloat16 too
    where oneDNN does not take it (an AVX2 CPU); nothing else is known."""
    sixteen = [d for d in ("float16", "bfloat16") if paths.sums_in_16_bits("torch", d)]
    known = {(v.case, v.impl, v.grad) for v in real if v.status == "known"}
    assert known and all(case.endswith(tuple(f"-{d}" for d in sixteen))
                         and impl.startswith("torch.") for case, impl, _ in known)
    # the transposed conv's y is torch's input-gradient path: its float16 taps entry
    assert {g for case, _, g in known if "/transpose-" in case} == {"y", "dw"}
    assert {v.status for v in real if v.impl == "jax.vjp"} == {"pass"}


def _case(kind, rank=2, dtype="float32", **facts):
    """The first case of a kind with the given facts (ids depend on label rules: not used)."""
    def fact(case, key):
        if key == "multiplier":
            return case.canonical_filter_shape[0] // case.canonical_input_shape[1]
        return getattr(case, key)
    return next(c for c in CASES if c.kind == kind and c.rank == rank and c.dtype == dtype
                and all(fact(c, k) == v for k, v in facts.items()))


def test_torch_transposed_padding_is_native_where_torch_can_say_it(real):
    by = {(v.case, v.impl, v.grad): v for v in real}
    geometry = dict(strides=(2, 2), groups=1, data_format="NCHW")
    valid, lower, same = (_case("conv_transpose", padding=mode, **geometry,
                                canonical_filter_shape=(3, 2, 3, 3)).id
                          for mode in ("VALID", "SAME_LOWER", "SAME"))
    assert not by[(valid, "torch.autograd", "y")].emulated
    # SAME_LOWER, 3 taps, stride 2: pads (1, 0), so padding=1 and output_padding=1
    v = by[(lower, "torch.autograd", "y")]
    assert not v.emulated and v.padding.endswith("(padding=(1, 1), output_padding=(1, 1))")
    # SAME puts the odd pad after: torch's padding cannot crop unevenly, so it is emulated
    v = by[(same, "torch.autograd", "y")]
    assert v.emulated and "F.pad(y, (0, -1, 0, -1))" in v.padding and v.status == "pass"
    nn_grad = by[(same, "torch.nn_grad", "y")]
    assert "conv2d_input" in nn_grad.padding and nn_grad.status == "pass"


def _documented():
    from harness.verdict import limitations
    return {entry.id for entry in limitations.default()}


# --- planted mistakes in the real adapters -------------------------------------------------

def _group0(case, a: np.ndarray, layout: str) -> np.ndarray:
    """``a`` with every group's channels replaced by group 0's."""
    groups = case.conv_groups
    axis = layout.index("C")
    per = a.shape[axis] // groups
    first = np.take(a, range(per), axis=axis)
    return np.concatenate([first] * groups, axis=axis)


class GroupsIgnoredInDw:
    """dw of every group computed from group 0's channels of the forward conv's input
    (``x``; for a transposed conv ``dy``): the groups' split forgotten in dw."""

    @staticmethod
    def mistaken_inputs(case, inputs: Inputs) -> Inputs:
        if case.conv_groups == 1:
            return inputs
        if case.kind == "conv_transpose":
            return dataclasses.replace(inputs, dy=_group0(case, inputs.dy, case.data_format))
        return dataclasses.replace(inputs, x=_group0(case, inputs.x, case.data_format))

    def compute(self, case, inputs, grads):
        out = {}
        others = [g for g in grads if g != "dw"]
        if others:
            out.update(super().compute(case, inputs, others))
        if "dw" in grads:
            out.update(super().compute(case, self.mistaken_inputs(case, inputs), ["dw"]))
        return out


def _mis_order(case, w: np.ndarray, inverse: bool = False) -> np.ndarray:
    """The HWCM filter whose correct flattening (``c * M + m``) is the mistaken one's
    (``m * C + c``), or (``inverse``) back."""
    canonical = layouts.depthwise_canonical(case.rank)
    cm = layouts.convert(w, case.filter_format, canonical)
    c, m, *kernel = cm.shape
    if inverse:   # a dw in the right order, read as the mistaken flattening
        out = cm.reshape(c * m, *kernel).reshape(m, c, *kernel).swapaxes(0, 1)
    else:         # flat[m * C + c] = w[c, m], then read as c' * M + m'
        out = cm.swapaxes(0, 1).reshape(c * m, *kernel).reshape(c, m, *kernel)
    return layouts.convert(np.ascontiguousarray(out), canonical, case.filter_format)


class DepthwiseMultiplierOrder:
    """A depthwise filter flattened as output channel ``m * C + c`` (reshaping an (M, C)
    view) instead of TensorFlow's ``c * M + m``, and dw flattened back the same way."""

    def compute(self, case, inputs, grads):
        if case.kind != "depthwise":
            return super().compute(case, inputs, grads)
        out = super().compute(case, dataclasses.replace(inputs, w=_mis_order(case, inputs.w)),
                              grads)
        if "dw" in out and out["dw"].values is not None:
            out["dw"].values = _mis_order(case, np.asarray(out["dw"].values), inverse=True)
        return out


def _swapped_same(case):
    swap = {"SAME": "SAME_LOWER", "SAME_LOWER": "SAME"}
    if case.kind == "conv_transpose" and case.padding in swap:
        return dataclasses.replace(case, padding=swap[case.padding])
    return case


class TransposedSameSwapped:
    """A transposed conv with SAME and SAME_LOWER swapped (the odd pad of the forward
    conv on the wrong side, as onnxruntime had it before 1.13)."""

    def compute(self, case, inputs, grads):
        return super().compute(_swapped_same(case), inputs, grads)


def _planted(mistake, adapter, name):
    return type(name, (mistake, adapter), {"name": f"planted.{name}"})


PLANTED = {
    GroupsIgnoredInDw: [_planted(GroupsIgnoredInDw, TorchNnGrad, "nn_grad_groups_ignored_in_dw"),
                        _planted(GroupsIgnoredInDw, JaxVjp, "jax_groups_ignored_in_dw")],
    DepthwiseMultiplierOrder: [
        _planted(DepthwiseMultiplierOrder, TorchAutograd, "autograd_multiplier_order"),
        _planted(DepthwiseMultiplierOrder, JaxVjp, "jax_multiplier_order")],
    TransposedSameSwapped: [
        _planted(TransposedSameSwapped, TorchAutograd, "autograd_transposed_same_swapped"),
        _planted(TransposedSameSwapped, JaxVjp, "jax_transposed_same_swapped")],
}
# torch 2.13 accumulates float16 backward in float16 (known-discrepancies.yaml): a planted
# torch impl would fail there whatever its mistake, so it is judged without them.
# not the dtypes torch adds in 16 bits here (tests/paths.py): a known discrepancy of torch's
# own kernels, which would read as a false alarm of the planted impls built on them
TORCH_CASES = [c for c in CASES if not paths.sums_in_16_bits("torch", c.dtype)]
RELEVANT = {GroupsIgnoredInDw: lambda c: c.conv_groups > 1,
            DepthwiseMultiplierOrder: lambda c: c.kind == "depthwise",
            TransposedSameSwapped: lambda c: (c.kind == "conv_transpose"
                                              and c.padding in ("SAME", "SAME_LOWER"))}


def _cases_for(mistake, impl) -> list:
    """The cases a planted impl runs: those the mistake can touch (torch: every one, or
    every other for the groups, which touch most cases; JAX, which compiles every new
    shape: a few beyond the ones the real jax.vjp already compiled) and a few others."""
    pool = CASES if issubclass(impl, JaxVjp) else TORCH_CASES
    relevant = [c for c in pool if RELEVANT[mistake](c)]
    others = [c for c in pool if not RELEVANT[mistake](c)]
    if issubclass(impl, JaxVjp):
        compiled = [c for c in JAX_SAMPLE if c in relevant]
        extra = [c for c in relevant[::12 if mistake is GroupsIgnoredInDw else 4]
                 if c not in compiled]
        return compiled + extra + [c for c in JAX_SAMPLE if c in others][::4]
    return (relevant[::2] if mistake is GroupsIgnoredInDw else relevant) + others[::10]


def changes_the_maths(mistake, case) -> bool:
    """Whether the oracle's exact answer under the mistake differs from the right one."""
    inputs = materialize(case)
    canonical = {n: ops.to_canonical(case, n, getattr(inputs, n)) for n in ("x", "w", "dy")}
    for g in case.grads:
        right = ops.evaluate(case, g, canonical["x"], canonical["w"], canonical["dy"])
        if mistake is GroupsIgnoredInDw:
            if g != "dw":
                continue
            wrong_in = GroupsIgnoredInDw.mistaken_inputs(case, inputs)
            wrong = ops.evaluate(case, g, *(ops.to_canonical(case, n, getattr(wrong_in, n))
                                            for n in ("x", "w", "dy")))
        elif mistake is DepthwiseMultiplierOrder:
            if case.kind != "depthwise":
                continue
            w = ops.to_canonical(case, "w", _mis_order(case, inputs.w))
            wrong = ops.evaluate(case, g, canonical["x"], w, canonical["dy"])
            if g == "dw":   # compared in the case's layout, read back the mistaken way
                right = ops.from_canonical(case, g, right)
                wrong = _mis_order(case, ops.from_canonical(case, g, wrong), inverse=True)
        else:
            wrong = ops.evaluate(case, g, canonical["x"], canonical["w"], canonical["dy"],
                                 pads=_swapped_same(case).pads)
        if wrong.shape != right.shape or not np.allclose(wrong, right, rtol=0, atol=1e-9):
            return True
    return False


@pytest.fixture(scope="module")
def planted_verdicts():
    by_key = {}
    for impls in PLANTED.values():
        for impl in impls:
            by_key.update(_by_key(runner.run(_cases_for(PLANTED_OF[impl], impl),
                                             runner.probe([impl()]))))
    return by_key


PLANTED_OF = {impl: mistake for mistake, impls in PLANTED.items() for impl in impls}


@pytest.mark.parametrize("impl", list(PLANTED_OF), ids=lambda i: i.name)
def test_planted_mistake_is_caught_exactly_where_it_changes_the_maths(impl, planted_verdicts):
    mistake = PLANTED_OF[impl]
    cases = _cases_for(mistake, impl)
    affected = [c for c in cases if changes_the_maths(mistake, c)]
    assert len(affected) >= 10, "the sample hardly exercises this mistake"
    assert len(affected) < len(cases), "no case where the mistake is harmless"
    missed, false_alarms, hidden = [], [], []
    for case in cases:
        statuses = {str(v.status) for v in planted_verdicts[(impl.name, case.id)]}
        hidden += [case.id] if "unsupported" in statuses else []
        if case in affected and statuses == {"pass"}:
            missed.append(case.id)
        if case not in affected and statuses != {"pass"}:
            false_alarms.append((case.id, statuses))
    assert hidden == [] and missed == [] and false_alarms == []


def test_the_mistakes_are_harmless_exactly_where_expected():
    """Sanity of the oracle's decision: groups of 1, a multiplier of 1, and an even total
    pad leave the maths alone; the other settings change it."""
    transposed = dict(padding="SAME", strides=(2, 2), data_format="NHWC")
    assert not changes_the_maths(GroupsIgnoredInDw,
                                 _case("conv_transpose", groups=1, **transposed))
    assert changes_the_maths(GroupsIgnoredInDw, _case("conv_transpose", groups=2, **transposed))
    assert changes_the_maths(GroupsIgnoredInDw, _case("conv", groups=2))
    assert not changes_the_maths(DepthwiseMultiplierOrder, _case("depthwise", multiplier=1))
    assert changes_the_maths(DepthwiseMultiplierOrder, _case("depthwise", multiplier=2))
    # y of 4 x 3 times stride 2 under a 3x3 kernel: total pad 1 (odd); stride 1: 2 (even)
    kernel = dict(canonical_filter_shape=(3, 2, 3, 3), groups=1)
    assert changes_the_maths(TransposedSameSwapped,
                             _case("conv_transpose", padding="SAME", strides=(2, 2), **kernel))
    assert not changes_the_maths(TransposedSameSwapped,
                                 _case("conv_transpose", padding="SAME", strides=(1, 1),
                                       **kernel))


# --- geometry the conformance matrices leave out --------------------------------------------

EXTRA = """
- matrix:
    id: extra/negative-pads
    base:
      input_size: [6, 5]
      kernel_size: [2, 3]
      x: {random: normal}
      w: {random: normal}
      dy: {random: normal}
    product:
      padding: [[[-1, -1], [1, 1]], [[-1, 0], [0, 2]], [[2, -1], [1, 1]]]
      kind:
        - {name: grouped, op: conv2d, groups: 2, in_channels: 2, out_channels: 4}
        - {name: depthwise, op: depthwise_conv2d, in_channels: 2, channel_multiplier: 3,
           data_format: NCHW}
        - {name: transposed, op: conv_transpose2d, groups: 2, in_channels: 4,
           out_channels: 2, strides: [2, 1]}
- matrix:
    id: extra/filter-orders
    base:
      op: conv_transpose2d
      groups: 2
      in_channels: 4
      out_channels: 6
      input_size: [3, 4]
      kernel_size: [3, 2]
      strides: [2, 2]
      padding: SAME
      x: {random: normal}
      w: {random: normal}
      dy: {random: normal}
    product:
      filter_format: [IOHW, OHWI, HWOI]
- matrix:
    id: extra/depthwise-filter-orders
    base:
      op: depthwise_conv2d
      in_channels: 3
      channel_multiplier: 2
      input_size: [5, 6]
      kernel_size: [2, 3]
      padding: SAME_LOWER
      strides: [2, 2]
      x: {random: normal}
      w: {random: normal}
      dy: {random: normal}
    product:
      filter_format: [CMHW, HWMC, MCHW]
- matrix:
    id: extra/transpose1d-output-padding
    base:
      op: conv_transpose1d
      in_channels: 2
      out_channels: 3
      input_size: [4]
      kernel_size: [3]
      strides: [3]
      dilations: [2]
      x: {random: normal}
      w: {random: normal}
      dy: {random: normal}
    product:
      padding: [[[1, 1]], [[0, 2]], [[2, 0]]]
      output_padding: [[0], [2]]
"""


def test_negative_pads_filter_orders_and_output_padding_pass_everywhere(tmp_path):
    """Crops (negative pads), every filter letter order and output_padding up to
    max(stride, dilation) - 1, through every impl and torch memory format."""
    from harness.backend import variants

    path = tmp_path / "extra.yaml"
    path.write_text(EXTRA)
    cases = load_cases([str(path)])
    assert len(cases) == 9 + 3 + 3 + 6
    impls = [TorchNnGrad(), TorchAutograd(), JaxVjp(),
             variants.make(TorchAutograd(), {"memory": "nhwc_view"}),
             variants.make(TorchAutograd(), {"memory": "channels_last"})]
    results = runner.run(cases, runner.probe(impls))
    verdicts = [v for r in results for v in r.verdicts]
    assert len(verdicts) == 3 * len(impls) * len(cases)
    # channels_last has no 1-D format: the documented limitation, nothing else
    refused = {(v.case, v.impl, v.limitation["id"]) for v in verdicts
               if v.status == "unsupported"}
    assert refused == {(c.id, "torch.autograd[memory=channels_last]", "torch-channels-last-rank")
                       for c in cases if c.rank == 1}
    assert [(v.case, v.impl, v.grad, v.message[:200]) for v in verdicts
            if v.status not in ("pass", "unsupported")] == []
    # torch's padding=p, output_padding=op crops p before and p - op after: [1, 1] and
    # [1, 1] + 2, [0, 2] + 2 (= nothing cropped) and [2, 0] (p = 2, op = 2 < max(3, 2)) say
    # it natively; [0, 2], and [2, 0] + 2 (op = 4) are emulated
    by_id = {c.id: c for c in cases}
    native = {(by_id[v.case].pads[0], by_id[v.case].output_padding[0]) for v in verdicts
              if v.impl == "torch.autograd" and v.case.startswith("extra/transpose1d")
              and not v.emulated}
    assert native == {((1, 1), 0), ((1, 1), 2), ((0, 2), 2), ((2, 0), 0)}


def test_jax_drops_its_compiled_executables_every_so_many_cases(monkeypatch):
    """JAX keeps every compiled executable (about 4.5 MiB a shape): the adapter clears them
    every CLEAR_EVERY cases, and verdicts after a clear are as right as before."""
    import jax

    from harness.backend.adapters import jax_adapter

    cleared = []
    real_clear = jax.clear_caches
    monkeypatch.setattr(jax, "clear_caches", lambda: cleared.append(1) or real_clear())
    monkeypatch.setattr(jax_adapter, "CLEAR_EVERY", 2)
    monkeypatch.setattr(jax_adapter, "_cases_since_clear", 0)
    cases = JAX_SAMPLE[:5]
    session = runner.Session(runner.probe([JaxVjp()]))
    results = session.judge(cases)
    assert len(cleared) == 2                      # after the 2nd and the 4th case
    assert all(v.status.value in ("pass", "known") for r in results for v in r.verdicts)
