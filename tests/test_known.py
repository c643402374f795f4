"""Known discrepancies (harness/verdict/known.py) and the project's own known-discrepancies.yaml."""
from __future__ import annotations

from pathlib import Path

import pytest

from harness.verdict.known import KnownDiscrepancy, find, load_known
from harness.safeio.yaml_source import SourceError

REPO = Path(__file__).resolve().parents[1]


def entry(**kw) -> KnownDiscrepancy:
    return KnownDiscrepancy(**{"case": "c/*", "reason": "r", "evidence": "e", **kw})


def test_a_bare_impl_name_covers_its_variants_unless_excepted():
    onednn = entry(impl="tf.*", except_impl="*onednn=off*")
    assert onednn.matches("c/1", "y", impl="tf.tape")
    assert onednn.matches("c/1", "y", impl="tf.tape[threads=1]")
    assert onednn.matches("c/1", "y", impl="tf.backprop[onednn=on]")
    assert not onednn.matches("c/1", "y", impl="tf.tape[onednn=off]")
    assert not onednn.matches("c/1", "y", impl="tf.backprop[onednn=off,threads=1]")
    assert entry(impl="tf.*").matches("c/1", "y", impl="tf.tape[onednn=off]")


def test_except_impl_needs_impl(tmp_path):
    path = tmp_path / "known.yaml"
    path.write_text("- case: a\n  claim: b\n  except_impl: c\n  reason: r\n  evidence: e\n")
    with pytest.raises(SourceError, match="'except_impl' narrows 'impl'; give 'impl' too"):
        load_known(path)


@pytest.mark.parametrize("grad", ["[ddx, ddw]", "dX", "ddz"])
def test_a_grad_the_runner_never_judges_is_refused(tmp_path, grad):
    """Found by the clean sweep: ``grad: [ddx, ddw]`` loaded as the text "['ddx', 'ddw']"
    and matched nothing, so its failures stayed failures with no word why."""
    path = tmp_path / "known.yaml"
    path.write_text(f"- case: a\n  impl: b\n  grad: {grad}\n  reason: r\n  evidence: e\n")
    with pytest.raises(SourceError, match=r"known.yaml:3: entry 0: grad .* is not one of y, dx"):
        load_known(path)


def test_intermittent_is_a_yaml_boolean(tmp_path):
    path = tmp_path / "known.yaml"
    path.write_text("- case: a\n  impl: b\n  intermittent: true\n  reason: r\n  evidence: e\n"
                    "- case: a\n  impl: c\n  reason: r\n  evidence: e\n")
    flaky, steady = load_known(path)
    assert flaky.intermittent is True and flaky.to_dict()["intermittent"] is True
    assert steady.intermittent is None and "intermittent" not in steady.to_dict()
    path.write_text("- case: a\n  impl: b\n  reason: r\n  evidence: e\n  intermittent: sometimes\n")
    with pytest.raises(SourceError, match="'intermittent' is true or false, got 'sometimes'") as err:
        load_known(path)
    assert err.value.line == 5


def test_a_pass_under_an_intermittent_entry_is_expected_not_stale():
    from harness.session.runner import Verdict, apply_known
    from harness.verdict.status import Status

    def passed() -> Verdict:
        return Verdict("c/1", "tf.tape", "dw", Status.PASS, message="ok")

    flagged = apply_known(passed(), entry(impl="tf.*"))
    assert flagged.status is Status.PASS and "may be out of date" in flagged.message
    expected = apply_known(passed(), entry(impl="tf.*", intermittent=True))
    assert expected.status is Status.PASS and "may be out of date" not in expected.message
    assert "intermittent" in expected.message and expected.known["intermittent"] is True
    failed = Verdict("c/1", "tf.tape", "dw", Status.FAIL, message="bad")
    assert apply_known(failed, entry(impl="tf.*", intermittent=True)).status is Status.KNOWN


ENTRIES = load_known(REPO / "harness" / "data" / "known-discrepancies.yaml")


# The path each verdict below took, as its worker's probe reports it (harness.backend.platforms):
# "tf.*[onednn=off]" stands for TensorFlow with oneDNN off, which is how every
# AVX2-only CPU runs it by default; the entries match on these facts, not the name.
ONEDNN = {"onednn": "on", "onednn_dtype": "on"}
OWN_KERNELS = {"onednn": "off", "onednn_dtype": "off"}


def _path_of(impl: str) -> dict:
    if impl.startswith("tf."):
        return OWN_KERNELS if "onednn=off" in impl else ONEDNN
    return {}


@pytest.mark.parametrize("case, impl, grad, version, bug", [
    # tensorflow#64396: oneDNN only, forward only, the versions it was seen in
    ("degenerate/empty-output/valid-k3-over-2x2", "tf.tape", "y", "2.21.0", "64396"),
    ("degenerate/empty-output/conv3d", "tf.backprop", "y", "2.21.0", "64396"),
    ("degenerate/batch-0", "tf.backprop", "y", "2.21.0", "64396"),
    ("degenerate/empty-output/valid-k3-over-2x2", "tf.tape[onednn=off]", "y", "2.21.0", None),
    ("degenerate/empty-output/valid-k3-over-2x2", "tf.tape", "dx", "2.21.0", None),
    ("degenerate/empty-output/valid-k3-over-2x2", "tf.tape", "y", "2.22.0", None),
    ("degenerate/empty-output/conv1d-dilated", "tf.tape", "dw", "2.21.0", "64396"),
    ("degenerate/empty-output/conv1d-dilated", "tf.backprop", "dw", "2.21.0", None),
    # the stock kernels' uninitialized dw: oneDNN off, or explicit padding
    ("degenerate/empty-output/conv3d", "tf.backprop[onednn=off]", "dw", "2.21.0",
     "uninitialized"),
    ("degenerate/empty-output/conv3d", "tf.backprop", "dw", "2.21.0", None),
    ("degenerate/empty-output/larger-than-padded-input", "tf.tape", "dw", "2.21.0",
     "uninitialized"),
    ("degenerate/batch-0", "tf.tape[onednn=off]", "dw", "2.21.0", None),
    # ... and its crash with a stride (an error verdict, not uninitialized memory)
    ("degenerate/strided-empty-output/larger-than-padded-input-dw", "tf.backprop[onednn=off]",
     "dw", "2.21.0", "SIGSEGV"),
    ("degenerate/strided-empty-output/larger-than-padded-input-dw", "tf.tape", "dw", "2.21.0",
     "SIGSEGV"),
    # torch with no input channels
    ("degenerate/channels/in-0", "torch.nn_grad", "y", "2.13.0+cpu", "56998"),
    ("degenerate/channels/in-0", "torch.autograd", "dx", "2.13.0+cpu", "56998"),
    ("degenerate/channels/in-0", "torch.nn_grad", "dx", "2.13.0+cpu", None),
    ("degenerate/channels/out-0", "torch.nn_grad", "y", "2.13.0+cpu", None),
    ("degenerate/channels/in-0", "jax.vjp", "y", "0.10.2", None),
])
def test_the_degenerate_entries_cover_exactly_the_reproduced_bugs(case, impl, grad, version,
                                                                 bug):
    found = find(ENTRIES, case, grad, impl=impl, version=version, facts=_path_of(impl))
    if bug is None:
        assert found is None, found
    else:
        assert found is not None and bug in (found.link or "") + found.reason
        assert found.evidence.startswith("docs/repro/")
        script = found.evidence.split()[0].rstrip(",;:")
        assert (REPO / script).is_file(), script


def test_when_matches_the_probed_path_not_the_variant_name(tmp_path):
    """An entry for TensorFlow's own bfloat16 kernel holds wherever that kernel ran: on an
    AVX2 runner's default tf.tape as on an AVX-512 machine's tf.tape[onednn=off]."""
    path = tmp_path / "known.yaml"
    path.write_text("- case: c/*\n  impl: tf.*\n  when: {onednn_dtype: off}\n"
                    "  reason: r\n  evidence: e\n")
    own, = load_known(path)
    assert own.when == {"onednn_dtype": ("off",)}      # YAML's bare off read as the fact
    assert own.matches("c/1", "dx", impl="tf.tape", facts={"onednn_dtype": "off"})
    assert own.matches("c/1", "dx", impl="tf.tape[onednn=off]", facts={"onednn_dtype": "off"})
    assert not own.matches("c/1", "dx", impl="tf.tape[onednn=off]",
                           facts={"onednn_dtype": "on"})
    assert not own.matches("c/1", "dx", impl="tf.tape")          # no probe: no match
    assert own.to_dict()["when"] == {"onednn_dtype": ["off"]}


@pytest.mark.parametrize("text, message", [
    ("  when: {onednn: maybe}\n", "when: onednn is on or off, got 'maybe'"),
    ("  when: {cpu_colour: avx2}\n", "when: unknown fact 'cpu_colour'"),
    ("  when: [onednn]\n", "'when' must be a mapping"),
])
def test_a_bad_when_is_named_with_its_line(tmp_path, text, message):
    path = tmp_path / "known.yaml"
    path.write_text("- case: c/*\n  impl: tf.*\n" + text + "  reason: r\n  evidence: e\n")
    with pytest.raises(SourceError, match=message) as err:
        load_known(path)
    assert err.value.line == 3


def test_a_claim_entry_has_no_path(tmp_path):
    path = tmp_path / "known.yaml"
    path.write_text("- case: c/*\n  claim: a\n  when: {onednn: on}\n  reason: r\n  evidence: e\n")
    with pytest.raises(SourceError, match="a claim has none"):
        load_known(path)


def test_no_bundled_entry_matches_a_variant_spelling():
    """Issue 18: the bundled entries say where they hold with facts; a glob on a variant's
    settings (``*onednn=off*``) misses the machines whose default IS that path."""
    for e in ENTRIES:
        for glob in (e.impl, e.except_impl):
            assert not glob or "=" not in glob, (e.line, glob)


@pytest.mark.parametrize("case, impl, grad, facts, reason", [
    # torch's own bfloat16 kernels (an AVX2 CPU, or cpu=avx2): 16-bit accumulation
    ("conformance/half/SAME-s1x1-bfloat16", "torch.autograd", "dx",
     {"onednn": "on", "onednn_dtype": "off"}, "bfloat16"),
    ("conformance/half/SAME-s1x1-bfloat16", "torch.autograd", "dx",
     {"onednn": "on", "onednn_dtype": "on"}, None),
    # a transposed conv's dx is a forward conv: it passes on every path
    ("conformance/half-ops/transpose-SAME-s1x1-float16", "torch.nn_grad", "dx",
     {"onednn": "on", "onednn_dtype": "off"}, None),
    # TensorFlow's own conv3d kernel (the AVX2 default for float32)
    ("regressions/tf-conv3d-same-stride-larger-than-kernel", "tf.tape", "y", OWN_KERNELS,
     "offset"),
    ("regressions/tf-conv3d-same-stride-larger-than-kernel", "tf.tape", "y", ONEDNN, None),
    # oneDNN's bfloat16 bugs: on every CPU where oneDNN takes bfloat16, or only where it
    # runs the CPU's own bfloat16 instructions (found on AVX512_BF16, passing on Ice Lake)
    ("regressions/tf-bf16-conv3d-dw-output-height-1", "tf.tape", "dw",
     {**ONEDNN, "cpu_class": "avx512_vnni"}, "wrong"),
    ("regressions/tf-bf16-conv3d-dw-output-height-1", "tf.tape", "dw", OWN_KERNELS, None),
    ("regressions/tf-bf16-onednn-output-width-1", "tf.tape", "y",
     {**ONEDNN, "cpu_class": "avx512_vnni"}, None),
    ("regressions/tf-bf16-onednn-output-width-1", "tf.tape", "y",
     {**ONEDNN, "cpu_class": "avx512_bf16"}, "bfloat16"),
    # oneDNN's bugs do not follow TensorFlow onto its own kernels
    ("upstream/tf-onednn-output-width-1", "tf.backprop", "y", OWN_KERNELS, None),
    ("upstream/tf-onednn-output-width-1", "tf.backprop", "y",
     {**ONEDNN, "cpu_class": "avx512_vnni"}, "garbage"),
    # ... and it lives in oneDNN's AVX-512 kernels: capped at AVX2 (VNNI) it is not there
    ("upstream/tf-onednn-output-width-1", "tf.backprop", "y",
     {**ONEDNN, "cpu_class": "avx2_vnni"}, None),
])
def test_the_platform_entries_follow_the_path(case, impl, grad, facts, reason):
    from harness.case.model import Case  # noqa: F401 - the kind fact comes from the case's op

    kind = "conv_transpose" if "transpose" in case else "conv"
    version = "2.13.0+cpu" if impl.startswith("torch") else "2.21.0"
    found = find(ENTRIES, case, grad, impl=impl, version=version, facts={**facts, "kind": kind})
    if reason is None:
        assert found is None, found
    else:
        assert found is not None and reason in found.reason


def test_every_bundled_framework_entry_states_the_platforms_it_holds_on():
    """Issue 18: an entry says on which machines its reproduction ran, so a reader on
    another CPU class knows whether it was ever tried there."""
    missing = [e.line for e in ENTRIES if e.impl and not (e.platforms or "").strip()]
    assert not missing, missing
