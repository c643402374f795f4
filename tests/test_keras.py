"""Keras 3 (keras.ops) on each backend: the same cases, no unexplained discrepancy."""
from __future__ import annotations

import pytest

from harness.verdict import known as known_mod
from harness.session import runner
from harness.backend import variants
from harness.case.loader import load_cases
from harness.backend.worker import WorkerPool
from tests.conftest import FRAMEWORKS

pytestmark = [pytest.mark.frameworks,
              pytest.mark.skipif(not {"tensorflow", "torch", "jax"} <= set(FRAMEWORKS),
                                 reason="Keras on every backend needs all three frameworks")]

PICK = ("SAME-k3x3-s2x2-in8x6-NHWC", "SAME_LOWER-k2x2-s2x2-in7x7-NCHW",
        "transpose2d/SAME-s2x2-k3x3-g1-3to2-nhwc", "transpose2d/pad1-1_0-1-s3x2-k2x2-g1-3to2-nchw",
        "depthwise2d/m2-SAME-s2x2-k3x3-NHWC", "half-ops/depthwise-SAME-s2x2-float16")


def test_keras_ops_on_each_backend_agrees_with_the_oracle_or_is_documented():
    cases = [c for c in load_cases(["cases/article", "cases/conformance"])
             if c.id.startswith("article/") or c.id.endswith(PICK)]
    assert len(cases) >= 8
    impls = variants.resolve([f"keras.ops[backend={b}]" for b in ("tensorflow", "jax", "torch")])
    pool = WorkerPool(jobs=1, timeout=300)
    session = runner.Session(known=known_mod.load_known(known_mod.DEFAULT_FILE), backend=pool)
    try:
        infos = session.probe(impls)
        assert all(i.available for i in infos), [(i.impl.name, i.version) for i in infos]
        verdicts = [v for r in session.judge(cases) for v in r.verdicts]
    finally:
        session.close()
    bad = [(v.case, v.impl, v.grad, v.status, v.message[:200]) for v in verdicts
           if v.status not in ("pass", "known", "unsupported")]
    assert bad == []
    assert all(v.limitation for v in verdicts if v.status == "unsupported")
    jax = [v for v in verdicts if "jax" in v.impl]
    assert {v.status for v in jax} == {"pass"}       # JAX as Keras's backend: all right
