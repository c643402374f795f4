"""Forward mode and second order of the JAX and TensorFlow impls, against the oracle.

``jax.vjp``: ``jvp`` by ``jax.jvp``, ``ddy``/``ddx``/``ddw`` by ``jax.vjp`` of a function
that calls ``jax.vjp`` (``second=rev``, the default) or by ``jax.jvp`` of the first-order
pullback (``second=fwd``). ``tf.tape``: ``tf.autodiff.ForwardAccumulator`` and nested
``tf.GradientTape``s. ``tf.backprop``: the identities written with TF's ops.

A sample of the bundled suite (cases/second-order) and a few cases that take the adapters'
emulated and native explicit-padding paths (3-D, 1-D, negative pads, transposed crops)
is judged in this process: every verdict is ``pass``, ``known`` (only TensorFlow's float16
ddx / ddw, whose backprop kernels add float16 in float16 where oneDNN does not take it)
or ``unsupported`` by a documented limitation of the limitations file. Planted impls that
compute ddx as dx, ddw as dw, or jvp along tx alone must fail on exactly that grad.
"""
from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from harness.backend import variants
from harness.backend.adapters.base import grads_of
from harness.backend.adapters.jax_adapter import JaxVjp   # imports no jax until it computes
from harness.case import ops
from harness.case.loader import load_cases
from harness.session import runner
from harness.verdict import known as known_mod
from harness.verdict import limitations as limitations_mod
from tests import paths
from tests.conftest import FRAMEWORKS

pytestmark = pytest.mark.frameworks
needs_jax = pytest.mark.skipif("jax" not in FRAMEWORKS, reason="jax not under test")
needs_tf = pytest.mark.skipif("tensorflow" not in FRAMEWORKS,
                              reason="tensorflow not under test")

SUITE = "cases/second-order"
SAMPLE = [f"second-order/{name}" for name in (
    "conv2d/SAME-k3x3-s2-float32", "conv2d/VALID-k2x2-s1-float64",
    "conv2d/pad1-0_0-2-k3x3-s1-float32", "conv2d/pad1-0_0-2-k2x2-s2-float64",
    "conv2d/SAME-k3x3-d2-float32", "conv2d/VALID-k3x3-d2-float64",
    "conv2d/SAME-k2x2-g2-float32", "conv2d/pad1-0_0-2-k3x3-g2-float64",
    "conv1d-conv3d/c1-SAME", "conv1d-conv3d/c1-VALID", "conv1d-conv3d/c3-SAME",
    "conv1d-conv3d/c3-VALID", "depthwise/SAME-s2x2", "depthwise/VALID-s1x1",
    "transpose/SAME-s2-d2", "transpose/VALID-s1", "transpose/SAME-square",
    "half/float16-VALID-s1x1", "half/float16-SAME-s2x2", "half/bfloat16-SAME-s1x1")]
VALUES = "\n".join(f"      {t}: {{random: normal}}" for t in ops.TENSORS)
# explicit pads where TF emulates them (3-D, tf.nn.convolution in 1-D, transposed crops,
# negative pads) or passes them natively (1-D as 2-D, depthwise), and SAME_LOWER
PATHS = f"""\
- matrix:
    id: so-paths
    base:
      grads: [jvp, ddy, ddx, ddw]
      dtype: float32
{VALUES}
    product:
      geometry:
        - {{name: c3-pads, op: conv3d, input_shape: [1, 5, 4, 6, 2],
           filter_shape: [2, 3, 2, 2, 3], strides: [1, 2, 1],
           padding: [[1, 0], [0, 2], [1, 1]]}}
        - {{name: c1-pads, op: conv1d, input_shape: [2, 9, 3], filter_shape: [3, 3, 4],
           strides: [2], padding: [[2, 1]]}}
        - {{name: c2-negative, op: conv2d, input_shape: [1, 7, 6, 2],
           filter_shape: [3, 2, 2, 3], padding: [[-1, 2], [1, 0]]}}
        - {{name: t1-pads, op: conv_transpose1d, input_shape: [2, 5, 3],
           filter_shape: [3, 2, 3], strides: [2], padding: [[1, 2]]}}
        - {{name: t2-same-lower, op: conv_transpose2d, input_shape: [1, 4, 5, 3],
           filter_shape: [3, 3, 2, 3], strides: [2, 2], padding: SAME_LOWER}}
        - {{name: t3-pads, op: conv_transpose3d, input_shape: [1, 3, 4, 3, 2],
           filter_shape: [2, 3, 2, 3, 2], strides: [2, 1, 2],
           padding: [[1, 0], [0, 1], [1, 1]]}}
        - {{name: dw1-pads, op: depthwise_conv1d, input_shape: [2, 8, 3],
           filter_shape: [3, 3, 2], strides: [2], padding: [[1, 2]]}}
"""
# The refusals TensorFlow 2.21 states on this suite on the CPU: dilation and groups in its
# own backprop kernels (float64, explicit pads), ddw's Conv2DBackpropFilter included.
TF_LIMITATIONS = {"tf-cpu-dilation", "tf-cpu-grouped-conv-gradient",
                  "tf-cpu-grouped-conv-filter-gradient-ddw"}


@pytest.fixture(scope="module")
def cases(tmp_path_factory):
    suite = {c.id: c for c in load_cases([SUITE])}
    path = tmp_path_factory.mktemp("second-order") / "paths.yaml"
    path.write_text(PATHS)
    extra = load_cases([str(path)])
    assert len(extra) == 7 and all(c.grads == ops.SECOND_ORDER for c in extra)
    return [suite[i] for i in SAMPLE] + extra


def _jax_fwd():
    """``jax.vjp[second=fwd]`` as the adapter computes it."""
    return _named(JaxVjp().with_settings({"second": "fwd"}), "jax.vjp[second=fwd]")


def _tf_impls():
    from harness.backend.adapters.tf_adapter import TfBackprop, TfTape
    return [TfBackprop(), TfTape()]


def _named(impl, name):
    """A configured impl (``with_settings``) named as its variant is."""
    impl.name = name
    return impl


def _judge(cases, impls):
    known = known_mod.load_known(known_mod.DEFAULT_FILE)
    results = runner.run(cases, runner.probe(impls), known)
    return [v for r in results for v in r.verdicts]


def _documented() -> set[str]:
    return {e.id for e in limitations_mod.default()}


def _bad(verdicts):
    """Verdicts that are neither pass, known, nor unsupported by a documented limitation."""
    return [(v.case, v.impl, v.grad, str(v.status), v.message[:200]) for v in verdicts
            if not (v.status in ("pass", "known") or (
                v.status == "unsupported" and v.limitation
                and v.limitation["id"] in _documented()))]


@needs_jax
def test_jax_passes_every_second_order_grad_both_ways(cases):
    # JAX compiles every new shape (seconds a case on 2 cores): forward over reverse
    # judges every other case of the sample
    verdicts = _judge(cases, [JaxVjp()]) + _judge(cases[::2], [_jax_fwd()])
    assert len(verdicts) == 4 * (len(cases) + len(cases[::2]))
    assert _bad(verdicts) == []
    assert [(v.case, v.impl, v.grad, str(v.status)) for v in verdicts
            if v.status != "pass"] == []


@needs_tf
def test_tensorflow_second_order_is_pass_known_or_documented(cases):
    verdicts = _judge(cases, _tf_impls())
    assert len(verdicts) == 2 * 4 * len(cases)
    assert _bad(verdicts) == []
    # ForwardAccumulator takes every conv op today (tensorflow#53793 said Conv2D once had
    # no forward-mode rule): jvp is never refused, and every grad is computed
    # (a documented refusal of the op itself on TF's own kernels aside: stride with dilation)
    assert [(v.case, v.impl) for v in verdicts if v.grad == "jvp" and (
        v.status not in ("pass", "unsupported")
        or (v.limitation or {}).get("id", "").startswith("no-"))] == []
    unsupported = {v.limitation["id"] for v in verdicts if v.status == "unsupported"}
    own_kernels = paths.sums_in_16_bits("tensorflow", "bfloat16")   # oneDNN off here
    assert unsupported == TF_LIMITATIONS if not own_kernels else unsupported >= TF_LIMITATIONS
    # only the 16-bit backprop kernels (ddx: Conv2DBackpropInput, ddw: -Filter) are known,
    # in the dtypes where TensorFlow's own kernels take them (oneDNN does not)
    dtype = {c.id: c.dtype for c in cases}
    known = {(v.case, v.impl, v.grad) for v in verdicts if v.status == "known"}
    assert all(paths.sums_in_16_bits("tensorflow", dtype[c]) and g in ("ddx", "ddw")
               for c, _, g in known)
    half = [v for v in verdicts if dtype[v.case] == "float16" and v.grad in ("ddx", "ddw")]
    sixteen = paths.sums_in_16_bits("tensorflow", "float16")
    assert len(half) == 8 and {str(v.status) for v in half} == \
        ({"known"} if sixteen else {"pass"})
    # everything on the emulated / explicit-padding paths passes
    assert {str(v.status) for v in verdicts if v.case.startswith("so-paths/")} == {"pass"}


@needs_jax
def test_the_second_fwd_variant_computes_every_grad(cases):
    impl = variants.resolve(["jax.vjp[second=fwd]"], registry=[JaxVjp()])[0]
    assert grads_of(impl, cases[0]) == ops.SECOND_ORDER
    verdicts = _judge(cases[:3], [impl])
    assert {str(v.status) for v in verdicts} == {"pass"}


def test_second_is_a_setting_of_jax_vjp_with_rev_first():
    assert JaxVjp.variants["second"] == ("rev", "fwd")
    assert JaxVjp.grads == ops.ALL_GRADS


# --- planted mistakes: each must cost exactly its own grad -------------------------------

class DdxAsDx:
    """ddx returned as the first-order dx: w where gw belongs."""
    wrong = "ddx"

    def compute(self, case, inputs, grads):
        out = super().compute(case, inputs, tuple(dict.fromkeys([*grads, "dx"])))
        out["ddx"] = dataclasses.replace(out["dx"])
        return {g: out[g] for g in grads}


class DdwAsDw:
    """ddw returned as the first-order dw: x where gx belongs."""
    wrong = "ddw"

    def compute(self, case, inputs, grads):
        out = super().compute(case, inputs, tuple(dict.fromkeys([*grads, "dw"])))
        out["ddw"] = dataclasses.replace(out["dw"])
        return {g: out[g] for g in grads}


class JvpAlongTxOnly:
    """Forward mode that leaves out the filter's tangent (B(tx, w) alone)."""
    wrong = "jvp"

    def compute(self, case, inputs, grads):
        return super().compute(case, dataclasses.replace(inputs, tw=np.zeros_like(inputs.w)),
                               grads)


MISTAKES = (DdxAsDx, DdwAsDw, JvpAlongTxOnly)
PLANT_ON = ["second-order/conv2d/SAME-k3x3-s2-float32", "second-order/depthwise/SAME-s2x2",
            "second-order/transpose/VALID-s1"]


def _planted(bases, settings=None):
    out = []
    for base in bases:
        for mistake in MISTAKES:
            name = f"planted.{mistake.__name__}.{base.__name__}" + (".fwd" if settings else "")
            impl = type(name, (mistake, base), {"name": name})()
            out.append(impl.with_settings(settings) if settings else impl)
    return out


def _check_planted(impls):
    suite = {c.id: c for c in load_cases([SUITE])}
    verdicts = _judge([suite[i] for i in PLANT_ON], impls)
    by_impl = {i.name: type(i).wrong for i in impls}
    assert len(verdicts) == 4 * len(PLANT_ON) * len(impls)
    for v in verdicts:
        want = "fail" if v.grad == by_impl[v.impl] else "pass"
        assert v.status == want, (v.case, v.impl, v.grad, str(v.status), v.message[:200])


@needs_jax
def test_planted_jax_mistakes_fail_on_their_grad_only():
    _check_planted(_planted([JaxVjp]) + _planted([JaxVjp], {"second": "fwd"}))


@needs_tf
def test_planted_tensorflow_mistakes_fail_on_their_grad_only():
    from harness.backend.adapters.tf_adapter import TfBackprop, TfTape
    _check_planted(_planted([TfBackprop, TfTape]))


def test_the_planted_mistakes_change_the_maths():
    """On the planted cases, the oracle's ddx differs from its dx and ddw from its dw, so
    the planted verdicts above say something."""
    from harness.case.values import materialize
    from harness.verdict.expected import expected
    suite = {c.id: c for c in load_cases([SUITE])}
    for case_id in PLANT_ON:
        case = dataclasses.replace(suite[case_id], grads=ops.ALL_GRADS)
        exp = expected(case, materialize(case))
        assert not np.allclose(exp["ddx"].values, exp["dx"].values), case_id
        assert not np.allclose(exp["ddw"].values, exp["dw"].values), case_id
