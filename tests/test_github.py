"""``convgrad run --github`` (harness/render/github.py): annotations grouped per case-file
line, capped at what GitHub shows, the most important first; the step summary agrees.

Records are built by the real pipeline with the NumPy fake impls of tests/test_report.py
(no framework needed)."""
from __future__ import annotations

import json
import re
from urllib.parse import unquote

import pytest

from harness.render import github
from harness.verdict.testids import shown_path
from tests.test_report import FakeImpl, _spoil_last, build_record

# One matrix entry (at line 2 of its file): 3 paddings x 2 strides = 6 cases, 2 grads
# each, judged by an impl that is wrong and one that errors: 24 failing verdicts.
MATRIX = """
- matrix:
    id: m
    base:
      op: conv2d
      grads: [dx, dw]
      data_format: NHWC
      dtype: float32
      input_shape: [1, 4, 4, 1]
      filter_shape: [2, 2, 1, 1]
      x: {range: 1}
      w: {range: 1}
      dy: {range: 1}
    product:
      padding: [SAME, VALID, SAME_LOWER]
      strides: [1, 2]
"""
MATRIX_IMPLS = [FakeImpl("fake.wrong", spoil=_spoil_last),
                FakeImpl("fake.broken", error="RuntimeError: boom")]


def _case(i: int, claim: bool) -> str:
    text = (f"- id: l/c{i:02d}\n  op: conv2d\n  grads: [dx]\n  data_format: NHWC\n"
            "  padding: SAME\n  dtype: float32\n  input_shape: [1, 3, 3, 1]\n"
            "  w: [[[[3]], [[4]]], [[[5]], [[6]]]]\n  dy: {range: 1}\n")
    if claim:
        text += ("  claims:\n    - source: a blog\n"
                 "      dx: [[[[0], [0], [0]], [[0], [0], [0]], [[0], [0], [0]]]]\n")
    return text


def _fields(line: str) -> tuple[dict, str]:
    """An ``::error k=v,...::message`` line as (its properties unescaped, its message)."""
    m = re.fullmatch(r"::error(?: (?P<props>[^:]*))?::(?P<msg>.*)", line)
    assert m, line
    props = {}
    for part in (m["props"] or "").split(","):
        if part:
            key, _, value = part.partition("=")
            props[key] = unquote(value)
    return props, unquote(m["msg"])


@pytest.fixture(scope="module")
def matrix_record(tmp_path_factory) -> dict:
    return build_record(tmp_path_factory.mktemp("gh"), MATRIX, impls=MATRIX_IMPLS, known=[],
                        name="matrix.yaml")


def test_a_matrix_file_gets_one_annotation_per_line_naming_how_many_failed(matrix_record):
    record = matrix_record
    failing = [v for v in record["verdicts"] if v["status"] in ("fail", "error")]
    assert len(failing) == 24 and len({(c["file"], c["line"]) for c in record["cases"]}) == 1
    lines = github.annotations(record)
    assert len(lines) == 1, lines
    props, message = _fields(lines[0])
    case = record["cases"][0]
    assert (props["file"], props["line"]) == (shown_path(case["file"]), str(case["line"]))
    assert "and 23 more failing here" in props["title"]
    assert message.startswith("24 failing verdicts at this line (12 fail, 12 error)")
    listed = [v for v in failing if v["test"] in message]
    assert len(listed) == github.MAX_LISTED < 24
    assert message.count("reproduce: convgrad run ") == github.MAX_LISTED
    assert f"and {24 - github.MAX_LISTED} more" in message


def test_annotations_are_capped_most_important_first_and_the_rest_are_counted(tmp_path):
    # 14 cases, each on its own lines: the first four carry a wrong claim and their impl
    # verdict is made a pass, the other ten fail.
    text = "".join(_case(i, claim=i < 4) for i in range(14))
    record = build_record(tmp_path, text, impls=[FakeImpl("fake.wrong", spoil=_spoil_last)],
                          known=[], name="list.yaml")
    for v in record["verdicts"]:
        if v["case"] < "l/c04":
            v["status"] = "pass"
    assert sum(c["status"] == "wrong" for c in record["claims"]) == 4
    lines = github.annotations(record)
    assert len(lines) == github.MAX_ANNOTATIONS == 10
    shown = [_fields(line) for line in lines]
    assert all(p["title"].startswith("convgrad fail: l/c") for p, _ in shown[:-1])
    last, message = shown[-1]
    assert "file" not in last and "5 more" in last["title"]
    assert "1 fail" in message and "4 wrong" in message
    summary = github.summary_markdown(record)
    assert "5 more locations (5 failing verdicts or claims) have no annotation" in summary
    rows = [r for r in summary.splitlines() if r.startswith("| fail ") or r.startswith("| wrong ")]
    assert [r.split(" | ")[0] for r in rows] == ["| fail"] * 10 + ["| wrong"] * 4


def test_few_failures_keep_one_annotation_each_and_no_overflow_line(tmp_path):
    record = build_record(tmp_path, _case(0, claim=False) + _case(1, claim=False),
                          impls=[FakeImpl("fake.wrong", spoil=_spoil_last)], known=[])
    lines = github.annotations(record)
    assert [_fields(l)[0]["title"] for l in lines] == [
        "convgrad fail: l/c00 [fake.wrong] dx", "convgrad fail: l/c01 [fake.wrong] dx"]
    assert "have no annotation" not in github.summary_markdown(record)


def test_what_records_carry_is_escaped_as_workflow_commands_require(matrix_record):
    """%, CR and LF everywhere, and ``:`` ``,`` in properties (GitHub's workflow-command
    escaping); a terminal escape from a record is shown escaped, as everything convgrad
    prints that it did not write itself."""
    record = {**matrix_record, "cases": [{**c, "file": "a:b,c%d.yaml"}
                                         for c in matrix_record["cases"]]}
    record["verdicts"] = [{**v, "message": "x%y\r\nz", "test": "t,1:%\x1b[31m"}
                          for v in record["verdicts"]]
    line, = github.annotations(record)
    assert "\n" not in line and "\r" not in line and "\x1b" not in line
    props, message = _fields(line)
    assert "file=a%3Ab%2Cc%25d.yaml," in line and props["file"] == "a:b,c%d.yaml"
    assert "t,1:%\\x1b[31m" in message and "x%y" in message


def test_the_step_summary_carries_no_markdown_of_the_records_choosing(matrix_record):
    """A case id, impl name or message holding a newline, a heading, an image, a link, a
    tag or a table bar stays one cell of text in the step summary (issue 23)."""
    record = json.loads(json.dumps(matrix_record))
    forged = "m\n# forged heading ![x](http://evil.example/x.png) <img src=x> | cell"
    for v in record["verdicts"]:
        if v["status"] in ("fail", "error"):
            v["case"] = forged
            v["message"] = "boom\n## also forged [link](http://evil.example)"
    text = github.summary_markdown(record)
    lines = text.splitlines()
    assert [ln for ln in lines if ln.startswith("#")] == ["### convgrad"]
    assert "<img" not in text and not re.search(r"(?<!\\)[\[\]!]", text.split("\n", 2)[2])
    rows = [ln for ln in lines if ln.startswith("| ") and "forged" in ln]
    assert rows and all(re.sub(r"\\\|", "", ln).count("|") == 6 for ln in rows)
