"""The upstream second-order bugs planted in real torch and JAX code
(tests/planted_second_order_frameworks.py) fail exactly where their bug changes the maths
and pass everywhere else, as the NumPy ones do (tests/test_planted_second_order.py)."""
from __future__ import annotations

import pytest

from harness.case.loader import load_cases
from harness.session import runner
from harness.verdict.status import Status
from tests import planted_second_order_frameworks as planted
from tests.conftest import FRAMEWORKS
from tests.test_planted_second_order import EXPECTED

pytestmark = pytest.mark.frameworks
# float32 and float64 (16-bit results carry the frameworks' own accumulation findings)
CASES = [c for c in load_cases(["cases/second-order", "tests/data/second_order.yaml"])
         if c.dtype in ("float32", "float64")]
FRAMEWORK = {"planted.torch_transposed_flag": "torch", "planted.torch_weight_groups": "torch",
             "planted.torch_fwd_over_rev_groups": "torch",
             "planted.jax_transposed_dilation": "jax"}


@pytest.mark.parametrize("bug", planted.BUGS, ids=lambda b: b.bug)
def test_each_bug_in_framework_code_fails_exactly_where_it_changes_the_maths(bug):
    if FRAMEWORK[bug.name] not in FRAMEWORKS:
        pytest.skip(f"{FRAMEWORK[bug.name]} not under test")
    impl = bug()
    results = runner.Session(runner.probe([impl])).judge(CASES)
    failing = {(v.case, v.grad) for r in results for v in r.verdicts
               if v.status not in (Status.PASS, Status.UNSUPPORTED)}
    expected = {(c.id, g) for c in CASES for g in c.grads if EXPECTED[bug.bug](c, g)}
    assert expected and failing == expected
