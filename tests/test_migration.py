"""The migration audit end to end: a user's torch port judged through harness.backend.port,
diagnosed, and fixed by exactly the fix the diagnosis prints."""
from __future__ import annotations

import ast
import re

import pytest

from harness.session import runner
from harness.case.loader import load_cases
from harness.backend.port import module_impls
from harness.verdict.status import Status
from tests.conftest import FRAMEWORKS

pytestmark = [pytest.mark.frameworks,
              pytest.mark.skipif("torch" not in FRAMEWORKS, reason="torch not under test")]

# TensorFlow SAME with stride 2: the 2-D conformance cases a TF model's strided layers meet
CASES = [c for c in load_cases(["cases/conformance/conv2d.yaml"])
         if c.padding == "SAME" and c.strides == (2, 2)]


def test_the_symmetric_port_is_diagnosed_and_its_printed_fix_makes_every_verdict_pass():
    from tests.ports import torch_same_port as port

    symmetric, fixed = module_impls("tests.ports.torch_same_port")
    results = runner.Session(runner.probe([symmetric])).judge(CASES)
    verdicts = [v for r in results for v in r.verdicts]
    failing = [v for v in verdicts if v.status != Status.PASS]
    # k // 2 is right wherever SAME's total pad is even: one shape can bless the port
    assert failing and len(failing) < len(verdicts)
    for v in failing:
        # wrong values, or (where k // 2 changes y's size) a y of the wrong shape, and then
        # dx and dw that cannot exist, said in one line: those carry no values to diagnose
        assert v.status in (Status.FAIL, Status.ERROR), (v.case, v.grad, v.status, v.message)
        if v.actual is None:
            assert v.status == Status.ERROR and "PortShapeError" in v.message
            assert "Traceback" not in v.message and "harness/" not in v.message
            assert any(u.case == v.case and u.diagnosis for u in failing)
            continue
        named = {d["mistake"]: d for d in v.diagnosis if d["explains"]}
        assert "symmetric-padding" in named, (v.case, v.grad, v.diagnosis)
        fix = named["symmetric-padding"]["fix"]
        pad = re.search(r"F\.pad\(x, (\([-\d, ]+\))\) and padding=0", fix)
        same = re.search(r"use padding=(\([\d, ]+\))", fix)   # symmetric after all
        assert pad or same, fix
        port.FIXES[v.case] = (ast.literal_eval(pad.group(1)) if pad else
                              tuple(p for v in reversed(ast.literal_eval(same.group(1)))
                                    for p in (v, v)))
    for case in CASES:      # where the port was right, the fix must keep it right
        port.FIXES.setdefault(case.id, tuple(p for pair in reversed(case.pads) for p in pair))
    fixed_results = runner.Session(runner.probe([fixed])).judge(CASES)
    assert [(v.case, v.grad, v.status) for r in fixed_results for v in r.verdicts
            if v.status != Status.PASS] == []
