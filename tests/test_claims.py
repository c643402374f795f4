"""Source claims judged against the oracle, at the precision the source printed them.

No framework is needed: a claim is judged against the oracle alone.
"""
from __future__ import annotations

import dataclasses

import pytest

from harness.verdict.expected import expected
from harness.case.loader import load_cases
from harness.session.runner import judge_claims
from harness.case.values import materialize

ORT = "cases/peers/onnxruntime-convtranspose-2d.yaml"


def _judge(case):
    return judge_claims(case, expected(case, materialize(case)))


def test_the_article_claims_keep_their_statuses():
    """Examples 1, 2 and 4 hold exactly; example 3 printed the wrong tensor."""
    status = {c.id: [v.status for v in _judge(c)] for c in load_cases(["cases/article"])}
    assert status == {"article/valid-dx": ["holds"], "article/valid-dw": ["holds"],
                      "article/same-dx": ["wrong"], "article/same-dw": ["holds"]}
    wrong = _judge(load_cases(["cases/article/3-same-dx.yaml"])[0])[0]
    assert wrong.stats["mismatched"] == 4 and wrong.stats["worst_expected"] == 13.0
    assert wrong.message.splitlines()[:3] == [
        "Mismatched elements: 4 / 9 (44.4%)",
        "Greatest absolute difference: 9 at index (0, 0, 2, 0)",
        "Greatest relative difference: 9 at index (0, 2, 0, 0)"]


def test_article_claims_are_judged_exactly():
    for case in load_cases(["cases/article"]):
        assert all(c.decimals is None and c.rtol == c.atol == 0 for c in case.claims)
        holds = [v for v in _judge(case) if v.status == "holds"]
        assert all(v.stats["error_ratio"] == 0 for v in holds)


def test_a_vector_printed_to_8_decimals_holds_with_decimals_8():
    case = load_cases([ORT])[0]
    assert case.claims[0].decimals == 8
    [verdict] = _judge(case)
    assert verdict.status == "holds", verdict.message
    assert 0.1 < verdict.stats["error_ratio"] <= 1     # the printing is what it allows for


def test_the_same_vector_without_decimals_is_wrong():
    """Its printing error (up to 5e-9) exceeds the float32 bound at some elements:
    judged as if computed, the claim fails; the precision key is what makes it hold."""
    case = load_cases([ORT])[0]
    bare = dataclasses.replace(case, claims=tuple(dataclasses.replace(c, decimals=None)
                                                  for c in case.claims))
    assert [v.status for v in _judge(bare)] == ["wrong"]
    fewer = dataclasses.replace(case, claims=tuple(dataclasses.replace(c, decimals=9)
                                                   for c in case.claims))
    assert [v.status for v in _judge(fewer)] == ["wrong"]


@pytest.mark.parametrize("keys, ok", [
    ("decimals: 2", True), ("decimals: 0", True), ("rtol: 0.01", True),
    ("atol: 0.5\n    rtol: 0", True), ("decimals: 3", False), ("rtol: 0.001", False),
])
def test_claim_keys_widen_the_bound_as_stated(tmp_path, keys, ok):
    """y = 7 * 0.333... = 2.333...; claimed 2.33 (printed to 2 decimals): off by 0.0033."""
    path = tmp_path / "case.yaml"
    path.write_text(f"""\
id: printed
op: conv1d
grads: [y]
dtype: float64
x: [[[7.0]]]
w: [[[0.3333333333333333]]]
claims:
  - source: printed to two decimals
    {keys}
    y: [[[2.33]]]
""")
    case = load_cases([str(path)])[0]
    assert (_judge(case)[0].status == "holds") is ok
