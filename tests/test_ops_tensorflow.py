"""TensorFlow's two impls on the op registry's conformance cases: grouped, depthwise and
transposed convolutions (cases/conformance/grouped.yaml, depthwise.yaml, transpose.yaml).

Judged in this process (TensorFlow's default settings: oneDNN on where the platform has
it), with the project's known discrepancies and documented limitations. A planted impl
that passes SAME where a transposed conv's case says SAME_LOWER must be caught.
"""
from __future__ import annotations

import os
import platform
from collections import Counter

import pytest

from harness.verdict import known as known_mod
from harness.backend.adapters.tf_adapter import TfBackprop, TfTape
from harness.case.loader import load_cases
from harness.session.runner import probe, run

from tests.conftest import FRAMEWORKS


def _onednn_on() -> bool:
    """TensorFlow's default on Linux x86-64 (unless TF_ENABLE_ONEDNN_OPTS=0): what the
    verdicts below are about (oneDNN off is the [onednn=off] variants' business, in
    worker processes, judged by the CLI)."""
    return (os.environ.get("TF_ENABLE_ONEDNN_OPTS", "1") != "0"
            and platform.machine().lower() in ("x86_64", "amd64"))


pytestmark = [pytest.mark.frameworks,
              pytest.mark.skipif("tensorflow" not in FRAMEWORKS,
                                 reason="tensorflow not under test")]
needs_onednn = pytest.mark.skipif(not _onednn_on(),
                                  reason="these verdicts are TensorFlow's with oneDNN on")

FILES = ["cases/conformance/grouped.yaml", "cases/conformance/depthwise.yaml",
         "cases/conformance/transpose.yaml"]
NEW_OPS = load_cases(FILES)
IMPLS = ("tf.backprop", "tf.tape")
# The refusals TensorFlow states for these ops on the CPU (harness/data/limitations.yaml).
LIMITATIONS = {"tf-cpu-channels-first", "tf-cpu-dilation", "tf-cpu-grouped-conv-gradient",
               "tf-cpu-grouped-conv-filter-gradient", "tf-cpu-depthwise-equal-strides"}


@pytest.fixture(scope="module")
def verdicts():
    """{(case, impl, grad): verdict} of both TF impls on all 394 cases (about 15 s)."""
    infos = probe([TfBackprop(), TfTape()])
    assert all(i.available for i in infos), [i.version for i in infos]
    results = run(NEW_OPS, infos, known_mod.load_known(known_mod.DEFAULT_FILE))
    return {(v.case, v.impl, v.grad): v for r in results for v in r.verdicts}


def test_the_new_op_cases_are_all_there():
    assert len(NEW_OPS) == 394
    assert {c.op for c in NEW_OPS} == {"conv1d", "conv2d", "depthwise_conv1d",
                                       "depthwise_conv2d", "conv_transpose1d",
                                       "conv_transpose2d", "conv_transpose3d"}


@needs_onednn
def test_every_verdict_is_pass_known_or_a_documented_refusal(verdicts):
    assert len(verdicts) == len(IMPLS) * sum(len(c.grads) for c in NEW_OPS)
    bad = [(k, v.status, v.message[:200]) for k, v in verdicts.items()
           if v.status not in ("pass", "unsupported", "known")]
    assert bad == []
    refusals = [v for v in verdicts.values() if v.status == "unsupported"]
    assert {v.limitation["id"] for v in refusals} <= LIMITATIONS
    # Known: TF's half-precision accumulation, and the depthwise backprop ops that
    # ignore dilations (docs/repro/tf_depthwise_backprop_ignores_dilations.py).
    known = [k for k, v in verdicts.items() if v.status == "known"]
    assert all(c.startswith("conformance/half-ops/") or
               (c.startswith("conformance/depthwise2d-dilated/") and i == "tf.backprop"
                and g != "y") for c, i, g in known), known
    counts = Counter(v.status for v in verdicts.values())
    assert counts["pass"] > 0.75 * len(verdicts), counts


@needs_onednn
def test_what_tensorflow_computes_natively_passes(verdicts):
    """SAME and VALID (oneDNN on), and channels-last explicit pads where the API takes
    them, pass for every op in float32: refusals are confined to the documented paths."""
    for case in NEW_OPS:
        if case.dtype != "float32" or case.padding not in ("SAME", "VALID"):
            continue
        if "depthwise2d-dilated" in case.id:
            continue   # tf.backprop: the dilation bug (known); tf.tape passes, below
        for impl in IMPLS:
            for g in case.grads:
                v = verdicts[(case.id, impl, g)]
                assert v.status == "pass", (case.id, impl, g, v.status, v.message[:200])


@needs_onednn
def test_padding_is_native_where_tensorflow_takes_it_and_emulated_elsewhere(verdicts):
    def v(case, impl, grad="y"):
        return verdicts[(case, impl, grad)]
    lower2d = "conformance/transpose2d/SAME_LOWER-s2x2-k2x2-g1-3to2-nhwc"
    assert v(lower2d, "tf.backprop").padding.startswith("explicit padding=")
    assert v(lower2d, "tf.tape").padding.startswith("tf.nn.conv_transpose explicit padding=")
    assert not v(lower2d, "tf.backprop").emulated and v(lower2d, "tf.backprop").status == "pass"
    # conv1d_transpose and conv3d_transpose take SAME / VALID only: a crop of the full output.
    for case, impls in (("conformance/transpose1d/SAME_LOWER-s2-k4", ("tf.tape",)),
                        ("conformance/transpose3d/SAME_LOWER-NDHWC", IMPLS)):
        for impl in impls:
            for g in ("y", "dx", "dw"):
                assert v(case, impl, g).emulated and v(case, impl, g).status == "pass"
            assert v(case, impl).padding.startswith("full padding='VALID' output")
    # tf.backprop runs a 1-D transposed conv as 2-D (H = 1) with TF's explicit pads.
    assert not v("conformance/transpose1d/SAME_LOWER-s2-k4", "tf.backprop").emulated
    # The depthwise ops take explicit pads; a 1-D case takes W's stride in H too, as
    # Keras' DepthwiseConv1D does, so TF's equal-strides check is never met.
    for impl in IMPLS:
        for g in ("y", "dx", "dw"):
            d1 = v("conformance/depthwise1d/m2-SAME_LOWER-s2", impl, g)
            assert not d1.emulated and d1.status == "pass", (impl, g, d1.message)


@needs_onednn
def test_the_depthwise_backprop_dilation_bug_is_seen_and_the_tape_is_right(verdicts):
    dilated = [c for c in NEW_OPS if c.id.startswith("conformance/depthwise2d-dilated/")]
    assert len(dilated) == 8
    for case in dilated:
        for g in ("dx", "dw"):
            v = verdicts[(case.id, "tf.backprop", g)]
            assert v.status == "known", (case.id, g, v.status)
            if case.padding == "SAME":   # computed, wrong: the undilated gradient
                assert v.stats["mismatched"] > 0, (case.id, g, v.stats)
        assert verdicts[(case.id, "tf.backprop", "y")].status == "pass"
        for g in case.grads:
            assert verdicts[(case.id, "tf.tape", g)].status == "pass", (case.id, g)


# --- a planted mistake: SAME where a transposed conv's case says SAME_LOWER -------------

class _SameLowerAsSame:
    """A transposed conv whose SAME_LOWER case is handed to TensorFlow as SAME: the odd pad
    goes after the data instead of before (the mix-up TF's own padding names invite)."""

    def padding(self, case):
        if case.kind == "conv_transpose" and case.padding == "SAME_LOWER":
            return "SAME", False, "padding='SAME'"
        return super().padding(case)


class PlantedBackprop(_SameLowerAsSame, TfBackprop):
    name = "planted.tf_backprop_same_lower_as_same"


class PlantedTape(_SameLowerAsSame, TfTape):
    name = "planted.tf_tape_same_lower_as_same"


@needs_onednn
def test_a_same_lower_same_swap_in_a_transposed_conv_fails():
    cases = [c for c in NEW_OPS if c.kind == "conv_transpose" and c.padding == "SAME_LOWER"
             and c.dtype == "float32"]
    lopsided = {c.id for c in cases if any(a.before != a.after for a in c.axes)}
    assert len(cases) > len(lopsided) >= 16
    infos = probe([PlantedBackprop(), PlantedTape()])
    verdicts = [v for r in run(cases, infos) for v in r.verdicts]
    assert len(verdicts) == 2 * 3 * len(cases)
    for v in verdicts:
        if v.case in lopsided:   # every grad is off by the misplaced pad
            assert v.status == "fail", (v.case, v.impl, v.grad, v.status, v.message[:200])
        else:                    # an even total pad: SAME_LOWER is SAME, nothing to catch
            assert v.status == "pass", (v.case, v.impl, v.grad, v.status, v.message[:200])


def test_the_onednn_off_variants_in_workers():
    """TF_ENABLE_ONEDNN_OPTS=0 is read at import: the variants run in worker processes.
    Every 6th new-op case: pass, known or a documented refusal (oneDNN off refuses
    channels-first, grouped gradients and unequal depthwise strides everywhere)."""
    from harness.backend import variants
    from harness.backend.worker import WorkerPool

    sample = NEW_OPS[::6]
    pool = WorkerPool(jobs=1, timeout=120)
    try:
        infos = pool.probe(variants.resolve(["tf.backprop[onednn=off]",
                                             "tf.tape[onednn=off,threads=1]"]))
        results = run(sample, infos, known_mod.load_known(known_mod.DEFAULT_FILE),
                      backend=pool)
    finally:
        pool.close()
    verdicts = [v for r in results for v in r.verdicts]
    assert len(verdicts) == 2 * sum(len(c.grads) for c in sample)
    assert [(v.case, v.impl, v.grad, v.status, v.message[:200]) for v in verdicts
            if v.status not in ("pass", "unsupported", "known")] == []
    assert {v.limitation["id"] for v in verdicts if v.status == "unsupported"} <= LIMITATIONS
    assert sum(v.status == "pass" for v in verdicts) > 0.3 * len(verdicts)
