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
