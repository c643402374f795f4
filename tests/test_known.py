"""Known discrepancies (harness/known.py) and the project's own known-discrepancies.yaml."""
from __future__ import annotations

from pathlib import Path

import pytest

from harness.known import KnownDiscrepancy, find, load_known
from harness.yaml_source import SourceError

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
    from harness.runner import Verdict, apply_known
    from harness.status import Status

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
    found = find(ENTRIES, case, grad, impl=impl, version=version)
    if bug is None:
        assert found is None, found
    else:
        assert found is not None and bug in (found.link or "") + found.reason
        assert found.evidence.startswith("docs/repro/")
        script = found.evidence.split()[0].rstrip(",;:")
        assert (REPO / script).is_file(), script
