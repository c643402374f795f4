"""The HTML report (harness/render/report.py, harness/render/svg.py): rendered from records, read back as HTML.

Records are built by the real pipeline (loader, oracle, runner, record) with
small NumPy "impls" standing in for the frameworks, so these tests need no
framework and run in a second. The page is read back with the stdlib
``html.parser`` into a tiny element tree (:func:`parse`).
"""
from __future__ import annotations

import copy
import json
import os
import re
import shutil
import time
from dataclasses import dataclass, field
from datetime import datetime, timezone
from html.parser import HTMLParser
from pathlib import Path
from typing import Callable, Optional

import numpy as np
import pytest

from harness.frontends import cli
from harness.verdict import limitations
from harness.render import report, svg
from harness.session import runner
from harness.record import run_record as record_mod
from harness.backend.adapters.base import Outcome
from harness.verdict.expected import expected
from harness.verdict.known import KnownDiscrepancy
from harness.case.loader import load_cases

# --------------------------------------------------------------------- HTML read back

VOID = {"area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta", "source",
        "track", "wbr"}


@dataclass
class Node:
    tag: str
    attrs: dict
    children: list = field(default_factory=list)
    parent: Optional["Node"] = None

    def text(self) -> str:
        return "".join(c if isinstance(c, str) else c.text() for c in self.children)

    def classes(self) -> set[str]:
        return set((self.attrs.get("class") or "").split())

    def iter(self):
        for c in self.children:
            if isinstance(c, Node):
                yield c
                yield from c.iter()

    def find_all(self, tag: str | None = None, cls: str | None = None, **attrs) -> list["Node"]:
        return [n for n in self.iter() if (tag is None or n.tag == tag)
                and (cls is None or cls in n.classes())
                and all(n.attrs.get(k.replace("_", "-")) == v for k, v in attrs.items())]

    def find(self, tag: str | None = None, cls: str | None = None, **attrs) -> "Node":
        found = self.find_all(tag, cls, **attrs)
        assert found, f"no <{tag} class={cls} {attrs}>"
        return found[0]


class _TreeBuilder(HTMLParser):
    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.root = self.current = Node("#root", {})

    def handle_starttag(self, tag, attrs):
        node = Node(tag, {k: (v if v is not None else "") for k, v in attrs}, parent=self.current)
        self.current.children.append(node)
        if tag not in VOID:
            self.current = node

    def handle_startendtag(self, tag, attrs):
        self.current.children.append(Node(tag, dict(attrs), parent=self.current))

    def handle_endtag(self, tag):
        node = self.current
        while node is not self.root and node.tag != tag:
            node = node.parent
        if node is not self.root:
            self.current = node.parent

    def handle_data(self, data):
        self.current.children.append(data)


def parse(html: str) -> Node:
    builder = _TreeBuilder()
    builder.feed(html)
    builder.close()
    return builder.root


def padding_rows(page: Node, case_id: str) -> dict[str, dict[str, Node]]:
    """{dim: {"pad-total": td, "pad-before": td, ...}} of a case's padding table."""
    section = page.find("section", id=f"case-{report.slug(case_id)}")
    table = section.find("table", cls="padding-table")
    return {tr.attrs["data-dim"]: {c: td for td in tr.find_all("td") for c in td.classes()
                                   if c.startswith("pad-")}
            for tr in table.find_all("tr") if "data-dim" in tr.attrs}


def pad_cells(page: Node, case_id: str, kind: str) -> list[tuple[int, int]]:
    """(row, col) data indices of a case's drawn cells of one kind (``cell-pad-after`` ...)."""
    section = page.find("section", id=f"case-{report.slug(case_id)}")
    svg_el = section.find("svg", cls="padded-input")
    return sorted((int(r.attrs.get("data-row", 0)), int(r.attrs["data-col"]))
                  for r in svg_el.find_all("rect", cls=kind))


# --------------------------------------------------------------------- records to render

@dataclass
class FakeImpl:
    """A NumPy impl: the oracle's answer, optionally spoiled, with a padding recipe."""

    name: str
    emulated: bool = False
    recipe: str = "padding='SAME'"
    spoil: Optional[Callable[[np.ndarray], np.ndarray]] = None
    error: str = ""
    unsupported: str = ""
    framework: str = "numpy"

    def version(self) -> str:
        return np.__version__

    def compute(self, case, inputs, grads):
        exp = expected(case, inputs)
        out = {}
        for g in grads:
            values = exp[g].values.astype(np.float32)
            if self.spoil:
                values = self.spoil(values.copy())
            out[g] = Outcome(values=values, dtype="float32", padding=self.recipe,
                             emulated=self.emulated, error=self.error,
                             unsupported=self.unsupported)
        return out


def _spoil_last(a: np.ndarray) -> np.ndarray:
    a.flat[-1] += 1.0
    return a


IMPLS = [FakeImpl("fake.native"),
         FakeImpl("fake.emulated", emulated=True,
                  recipe="x padded by F.pad(x, (0, 1, 0, 1)), padding=0, dx cropped back"),
         FakeImpl("fake.wrong", spoil=_spoil_last),
         FakeImpl("fake.broken", error="RuntimeError: boom\nTraceback line"),
         FakeImpl("fake.refuses", unsupported="NCHW is not supported on CPU")]
# The fake refusal is documented (for the "numpy" framework), so it is unsupported.
LIMITATIONS = [limitations.Limitation(
    id="fake-nchw", framework="numpy", message=re.compile("NCHW is not supported"),
    summary="the fake impl refuses NCHW", evidence="tests/test_report.py")]
KNOWN = [KnownDiscrepancy(case="t/known*", impl="fake.wrong", reason="a tracked bug",
                          evidence="x", link="javascript:alert(1)")]

CASES = """
- id: t/same
  description: SAME, 2x2 kernel over 3x3
  source: test
  op: conv2d
  grads: [dx, dw]
  data_format: NHWC
  padding: SAME
  strides: [1, 1]
  dtype: float32
  input_shape: [1, 3, 3, 1]
  x: {range: 1}
  w: [[[[3]], [[4]]], [[[5]], [[6]]]]
  dy: {range: 1}
  claims:
    - source: a blog
      dx: [[[[0], [0], [0]], [[0], [0], [0]], [[0], [0], [0]]]]
- id: t/same-lower
  description: SAME_LOWER, 2x2 kernel over 3x3
  op: conv2d
  grads: [dx]
  data_format: NHWC
  padding: SAME_LOWER
  dtype: float32
  input_shape: [1, 3, 3, 1]
  w: [[[[3]], [[4]]], [[[5]], [[6]]]]
  dy: {range: 1}
- id: t/valid
  description: VALID
  op: conv2d
  grads: [dx]
  data_format: NHWC
  padding: VALID
  dtype: float32
  input_shape: [1, 3, 3, 1]
  w: [[[[3]], [[4]]], [[[5]], [[6]]]]
  dy: {range: 1}
- id: t/known-1d
  description: 1-D, explicit pads
  op: conv1d
  grads: [dx]
  data_format: NWC
  padding: [[2, 1]]
  dtype: float32
  input_shape: [1, 5, 2]
  filter_shape: [2, 2, 3]
  w: {range: 1}
  dy: {range: 1}
- id: t/3d
  description: 3-D SAME
  op: conv3d
  grads: [dw]
  data_format: NDHWC
  padding: SAME
  dtype: float32
  input_shape: [1, 2, 3, 3, 1]
  filter_shape: [2, 2, 2, 1, 1]
  x: {range: 1}
  dy: {range: 1}
- id: t/big
  description: a large case, stored as planes
  op: conv2d
  grads: [dx]
  data_format: NHWC
  padding: SAME
  strides: [2, 2]
  dtype: float32
  input_shape: [2, 30, 30, 3]
  filter_shape: [3, 3, 3, 4]
  w: {random: normal, seed: 1}
  dy: {random: normal, seed: 2}
"""


CLAIM = ("  claims:\n    - source: a blog\n"
         "      dx: [[[[0], [0], [0]], [[0], [0], [0]], [[0], [0], [0]]]]\n")
assert CLAIM in CASES


def build_record(tmp: Path, text: str = CASES, impls=IMPLS, known=KNOWN, name="cases.yaml") -> dict:
    """A run record of the YAML cases ``text``, judged with the fake impls."""
    path = tmp / name
    path.write_text(text, encoding="utf-8")
    infos = runner.probe(impls)
    session = runner.Session(infos, known, limitations=[*limitations.default(), *LIMITATIONS])
    results = session.judge(load_cases([path]))
    return json.loads(json.dumps(record_mod.build(
        results, infos, ["convgrad", "run", str(path)], datetime.now(timezone.utc))))


@pytest.fixture(scope="module")
def record(tmp_path_factory) -> dict:
    return build_record(tmp_path_factory.mktemp("cases"))


@pytest.fixture(scope="module")
def page(record) -> Node:
    return parse(report.render(report.merge([("results.json", record)])))


# --------------------------------------------------------------------- padding

def test_same_puts_the_extra_pad_after_the_data(page):
    rows = padding_rows(page, "t/same")
    assert set(rows) == {"H", "W"}
    for cells in rows.values():
        assert (cells["pad-total"].text(), cells["pad-before"].text(),
                cells["pad-after"].text()) == ("1", "0", "1")
        assert "extra" in cells["pad-after"].classes()
        assert "extra" not in cells["pad-before"].classes()
        assert cells["pad-extra"].attrs["data-extra"] == "after"


def test_same_lower_puts_the_extra_pad_before_the_data(page):
    for cells in padding_rows(page, "t/same-lower").values():
        assert (cells["pad-total"].text(), cells["pad-before"].text(),
                cells["pad-after"].text()) == ("1", "1", "0")
        assert "extra" in cells["pad-before"].classes()
        assert cells["pad-extra"].attrs["data-extra"] == "before"


def test_the_convention_is_named(page):
    def convention(case_id):
        return page.find("section", id=f"case-{report.slug(case_id)}").find(
            "p", cls="convention").text()
    assert "AFTER the data" in convention("t/same")
    assert "BEFORE the data" in convention("t/same-lower")
    assert convention("t/valid").startswith("VALID")
    assert "explicit" in convention("t/known-1d")


def test_same_drawing_has_pad_cells_in_the_last_row_and_column(page):
    after = pad_cells(page, "t/same", "cell-pad-after")
    assert after == sorted({(r, c) for r in range(4) for c in range(4)}
                           - {(r, c) for r in range(3) for c in range(3)})
    assert pad_cells(page, "t/same", "cell-pad-before") == []
    assert len(pad_cells(page, "t/same", "cell-data")) == 9


def test_same_lower_drawing_has_pad_cells_in_the_first_row_and_column(page):
    before = pad_cells(page, "t/same-lower", "cell-pad-before")
    assert before == sorted({(r, c) for r in range(-1, 3) for c in range(-1, 3)}
                            - {(r, c) for r in range(3) for c in range(3)})
    assert pad_cells(page, "t/same-lower", "cell-pad-after") == []


def test_valid_drawing_has_no_pad_cells_and_marks_the_first_window(page):
    section = page.find("section", id="case-t-valid")
    assert pad_cells(page, "t/valid", "cell-pad-before") == []
    assert pad_cells(page, "t/valid", "cell-pad-after") == []
    window = section.find("rect", cls="window")
    assert (window.attrs["width"], window.attrs["height"]) == (str(2 * svg.CELL),) * 2


def test_one_d_and_three_d_drawings(page):
    one_d = page.find("section", id="case-t-known-1d").find_all("svg", cls="padded-input")
    assert len(one_d) == 1
    before = [int(r.attrs["data-col"]) for r in one_d[0].find_all("rect", cls="cell-pad-before")]
    after = [int(r.attrs["data-col"]) for r in one_d[0].find_all("rect", cls="cell-pad-after")]
    assert (before, after) == ([-2, -1], [5])
    three_d = page.find("section", id="case-t-3d").find_all("svg", cls="padded-input")
    assert [s.attrs["data-axes"] for s in three_d] == ["HW", "DH", "DW"]


def test_long_axes_are_drawn_with_a_gap():
    slots = svg.axis_slots({"before": 0, "size": 30, "after": 1})
    kinds = [s.kind for s in slots]
    assert kinds == ["data"] * 3 + ["gap"] + ["data"] * 3 + ["after"]
    assert (slots[3].lo, slots[3].hi) == (3, 26)


def _axis(dim="W", size=6, kernel=3, stride=2, dilation=1, before=0, after=1) -> dict:
    eff = (kernel - 1) * dilation + 1
    return {"dim": dim, "size": size, "kernel": kernel, "stride": stride, "dilation": dilation,
            "effective_kernel": eff, "before": before, "after": after,
            "total": before + after, "output": (size + before + after - eff) // stride + 1}


def _lanes(drawing) -> list[Node]:
    return parse(str(drawing)).find_all("g", cls="lane")


def _x_span(node: Node) -> tuple[float, float]:
    x = float(node.attrs["x"])
    return x, x + float(node.attrs["width"])


def test_every_window_on_the_row_is_drawn_and_the_last_lands_on_the_extra_same_pad():
    """SAME, k3, s2 over 6x6: 3 windows a row, at columns 0-2, 2-4, 4-6; column 6 is the
    extra pad after the data, and only the last window reaches it."""
    h, w = _axis("H"), _axis("W")
    ((caption, drawing),) = svg.drawings([h, w])
    assert "lanes: the 3 windows along W on output row 0 of H" in caption
    lanes = _lanes(drawing)
    assert [(g.attrs["data-out"], g.attrs["data-from"], g.attrs["data-to"]) for g in lanes] == \
        [("0", "0", "2"), ("1", "2", "4"), ("2", "4", "6")]
    tree = parse(str(drawing))
    pad_column = [r for r in tree.find_all("rect", cls="cell-pad-after")
                  if r.attrs.get("data-row") == "0"]
    assert [r.attrs["data-col"] for r in pad_column] == ["6"]
    pad_lo, pad_hi = _x_span(pad_column[0])
    spans = [_x_span(g.find("rect", cls="lane")) for g in lanes]
    assert spans[-1][0] < pad_lo and spans[-1][1] > pad_lo + (pad_hi - pad_lo) / 2
    assert all(hi < pad_lo for _, hi in spans[:-1])      # no other window reaches the pad
    assert [len(g.find_all("circle", cls="tap")) for g in lanes] == [3, 3, 3]
    # The lanes sit under the grid, one below the other, inside the SVG.
    top = [float(g.find("rect", cls="lane").attrs["y"]) for g in lanes]
    grid_bottom = max(float(r.attrs["y"]) + svg.CELL for r in tree.find_all("rect")
                      if r.attrs.get("class", "").startswith("cell-"))
    assert top == sorted(top) and top[0] > grid_bottom
    assert float(tree.find("svg").attrs["height"]) >= top[-1] + svg.LANE - 4


def test_same_lower_puts_the_first_window_on_the_extra_pad_and_one_d_has_lanes_too():
    axis = _axis(before=1, after=0)
    ((_, drawing),) = svg.drawings([axis])
    lanes = _lanes(drawing)
    assert [(g.attrs["data-from"], g.attrs["data-to"]) for g in lanes] == \
        [("-1", "1"), ("1", "3"), ("3", "5")]


def test_windows_in_hidden_cells_share_a_lane_and_every_window_is_counted():
    for axis in (_axis(size=40), _axis(size=41, kernel=4, dilation=3, stride=3, before=2, after=5),
                 _axis(size=10 ** 8, stride=1, kernel=2, after=0)):
        lanes = svg.lanes(svg.axis_slots(axis), axis)
        n = svg.window_count(axis)
        assert n == axis["output"] and lanes[0].first == 0 and lanes[-1].last == n - 1
        assert all(b.first == a.last + 1 for a, b in zip(lanes, lanes[1:]))   # none missing
        assert len(lanes) <= 40                    # bounded by the drawn cells
        last = lanes[-1]
        assert (last.lo, last.hi) == ((n - 1) * axis["stride"],
                                      (n - 1) * axis["stride"] + axis["effective_kernel"] - 1)
    drawn = _lanes(svg.padded_input([_axis(size=40)]))
    hidden = [g for g in drawn if "hidden" in g.classes()]
    assert [g.attrs["data-out"] for g in hidden] == ["2–17"] and not hidden[0].find_all("circle")


def test_dilated_taps_and_no_lanes_without_an_output():
    axis = _axis(size=7, kernel=3, dilation=2, stride=1, after=0)   # every cell drawn
    lanes = _lanes(svg.padded_input([axis]))
    assert len(lanes) == 3
    for first, lane in enumerate(lanes):
        cx = [float(c.attrs["cx"]) for c in lane.find_all("circle")]
        assert [round((x - svg.MARGIN - svg.CELL / 2) / svg.CELL) for x in cx] == \
            [first, first + 2, first + 4]
    # Over a long axis a tap in hidden cells is not drawn: only the drawn cells get dots.
    long = _lanes(svg.padded_input([{**axis, "size": 9, "output": 5}]))
    assert len(long) == 5 and len(long[0].find_all("circle")) == 2
    assert _lanes(svg.padded_input([axis], window=False)) == []
    ((_, empty),) = svg.drawings([_axis(size=2, kernel=5, after=0)])
    assert _lanes(empty) == []


# --------------------------------------------------------------------- summary and verdicts

def test_emulated_verdicts_are_marked_with_their_recipe(page, record):
    recipe = IMPLS[1].recipe
    # t/same has a failing verdict: its row, with every impl's chips, is among the problems.
    links = [a for a in page.find("section", id="problems").find("table", cls="cases")
             .find_all("a") if a.attrs.get("href") == "#v-t-same--fake.emulated--dx"]
    assert len(links) == 1 and links[0].text().endswith("~") and recipe in links[0].attrs["title"]
    row = page.find("section", id="case-t-same").find("tr", data_impl="fake.emulated")
    assert "emulated" in row.classes() and recipe in row.text()
    native = page.find("section", id="case-t-same").find("tr", data_impl="fake.native")
    assert "native" in native.classes()


def test_every_overview_link_has_a_target(page, record):
    ids = {n.attrs["id"] for n in page.iter() if "id" in n.attrs}
    hrefs = [a.attrs["href"] for a in page.find_all("a") if a.attrs.get("href", "").startswith("#")]
    assert [h for h in hrefs if h[1:] not in ids] == []
    # Every verdict that did not pass has a chip linking to it; every case is linked.
    slugs = report.case_slugs([c["id"] for c in record["cases"]])
    linked = set(hrefs)
    for v in record["verdicts"]:
        if v["status"] != "pass":
            assert f"#v-{report.verdict_slug(v, slugs[v['case']])}" in linked, v
    overview = [a.attrs["href"] for section in ("problems", "known", "unsupported", "passing")
                for a in page.find("section", id=section).find_all("a")]
    assert {f"#case-{s}" for s in slugs.values()} <= set(overview) | {
        h.split("--")[0].replace("#v-", "#case-").replace("#c-", "#case-") for h in overview}


def test_counts(page, record):
    chips = {c.attrs["data-status"]: c.text() for c in page.find_all("span", cls="chip")
             if "data-status" in c.attrs}
    assert chips["fail"] == f"{record['summary']['verdicts']['fail']} fail"
    assert chips["known"].startswith("1 ")
    assert page.find_all("script") == []


def _group_rows(page: Node, section: str) -> list[str]:
    return [tr.attrs["data-case"] for tr in page.find("section", id=section).find_all("tr")
            if "data-case" in tr.attrs]


def test_cases_are_grouped_by_outcome_problems_first(page, record):
    """Each case is in exactly one of problems / known / passing; problems come first and
    are open, everything else is collapsed."""
    main = page.find("main")
    order = [n.attrs["id"] for n in main.children if isinstance(n, Node) and "id" in n.attrs]
    assert order.index("problems") < order.index("known") < order.index("unsupported") \
        < order.index("passing") < order.index("cases")
    problems = _group_rows(page, "problems")
    # fake.wrong fails and fake.broken errors on every case but t/known-1d, where
    # fake.wrong is a known discrepancy (fake.broken still errors there).
    assert problems == [c["id"] for c in record["cases"]]
    assert page.find("section", id="problems").find_all("details") == []
    failing = [a for a in page.find("section", id="problems").find_all("a", cls="st-fail")]
    assert {a.attrs["href"] for a in failing} >= {"#v-t-same--fake.wrong--dx"}
    assert _group_rows(page, "known") == [] and _group_rows(page, "passing") == []
    for details in page.find_all("details", cls="group"):
        assert "open" not in details.attrs


def test_passing_and_known_cases_are_collapsed_with_counts(tmp_path):
    impls = [IMPLS[0], FakeImpl("fake.wrong", spoil=_spoil_last), IMPLS[4]]
    rec = build_record(tmp_path, CASES, impls=impls)
    tree = parse(report.render(rec))
    statuses = {v["case"]: set() for v in rec["verdicts"]}
    for v in rec["verdicts"]:
        statuses[v["case"]].add(v["status"])
    assert _group_rows(tree, "problems") == [c["id"] for c in rec["cases"]
                                             if "fail" in statuses[c["id"]]
                                             or c["id"] == "t/same"]   # its wrong claim
    known = tree.find("details", cls="known")
    assert [tr.attrs["data-case"] for tr in known.find_all("tr") if "data-case" in tr.attrs] \
        == ["t/known-1d"]
    assert known.attrs["data-verdicts"] == "1"
    # Nothing passes here but fake.native; make every verdict pass: one group per suite / op.
    rec = build_record(tmp_path, CASES.replace(CLAIM, ""),
                       impls=[IMPLS[0], IMPLS[4]], known=[])
    tree = parse(report.render(rec))
    assert _group_rows(tree, "problems") == [] and "None" in tree.find(
        "section", id="problems").text()
    groups = tree.find("section", id="passing").find_all("details", cls="passing")
    assert [g.attrs["data-group"] for g in groups] == [
        "passing:t/conv2d", "passing:t/conv1d", "passing:t/conv3d"]
    assert [g.attrs["data-cases"] for g in groups] == ["4", "1", "1"]
    summary = groups[0].find("summary").text()
    passes = sum(v["status"] == "pass" for v in rec["verdicts"] if v["case"] not in
                 ("t/known-1d", "t/3d"))
    assert f"{passes} pass" in summary and "unsupported" in summary


def test_a_failing_verdict_has_a_heat_map_with_its_worst_element(page):
    v = page.find("div", id="v-t-same--fake.wrong--dx")
    assert "st-fail" in v.classes()
    worst = v.find("td", cls="worst")
    assert "hx" in worst.classes()
    assert "reproduce: convgrad run" in v.text() and "-k t/same --impl fake.wrong" in v.text()
    assert "standalone script: convgrad repro" in v.text()
    assert "Mismatched elements: 1 / 9" in v.text()


def test_passing_verdicts_of_large_cases_are_one_line(page):
    v = page.find("div", id="v-t-big--fake.native--dx")
    assert v.find_all("table") == [] and "0 / 5400 mismatched" in v.text()
    failing = page.find("div", id="v-t-big--fake.wrong--dx")
    caption = failing.find("table", cls="grid").find("caption").text()
    assert "N=1" in caption and "C=2" in caption and "H 18–29 of 30" in caption


def test_errors_unsupported_and_known(page):
    assert "RuntimeError: boom" in page.find("div", id="v-t-same--fake.broken--dx").text()
    assert "NCHW is not supported" in page.find("div", id="v-t-same--fake.refuses--dx").text()
    known = page.find("div", id="v-t-known-1d--fake.wrong--dx")
    assert "st-known" in known.classes() and "a tracked bug" in known.text()
    assert not [a for a in known.find_all("a") if "javascript" in a.attrs.get("href", "")]


def test_unsupported_verdicts_are_grouped_by_documented_limitation(page, record):
    groups = page.find("section", id="unsupported").find_all("details", cls="limitation")
    assert [g.attrs["data-limitation"] for g in groups] == ["fake-nchw"]
    unsupported = [v for v in record["verdicts"] if v["status"] == "unsupported"]
    count, cases = len(unsupported), len({v["case"] for v in unsupported})
    assert count > 0 and "open" not in groups[0].attrs
    assert (groups[0].attrs["data-verdicts"], groups[0].attrs["data-cases"]) == (f"{count}",
                                                                                 f"{cases}")
    summary = groups[0].find("summary").text()
    assert f"fake-nchw: {count} verdicts in {cases} cases" in summary
    assert "fake.refuses" in summary and "the fake impl refuses NCHW" in summary
    chips = groups[0].find_all("a", cls="st-unsupported")
    assert len(chips) == count    # one per verdict, one row per case
    assert len([tr for tr in groups[0].find_all("tr")]) == cases
    refused = page.find("div", id="v-t-same--fake.refuses--dx")
    assert "documented limitation fake-nchw" in refused.text()
    assert record["summary"]["unsupported_by_limitation"] == {"fake-nchw": count}


def test_wrong_claims_are_listed_apart_at_the_top(page):
    top = page.find("section", id="wrong-claims")
    link = top.find("a")
    assert link.attrs["href"].startswith("#c-t-same--claim-dx")
    claim = page.find("div", id=link.attrs["href"][1:])
    assert "st-wrong" in claim.classes()
    assert len(claim.find_all("td", cls="differ")) == 2 * 9   # all nine differ, both grids


def test_header_records_the_environment(page, record):
    header = page.find("header").text()
    for needle in (record["environment"]["python"], record["environment"]["numpy"],
                   record["environment"]["cpu"], "cpu_count", "numerics", "convgrad run"):
        assert str(needle) in header


def test_small_tensors_show_one_grid_per_channel_pair(page):
    oracle = page.find("div", id="g-t-known-1d--dx").find("div", cls="grids")
    grids = oracle.find_all("table", cls="grid")
    assert len(grids) == 1    # 1-D NWC: channels as rows, W as columns, one grid per N
    rows = grids[0].find_all("tr")
    assert len(rows) == 1 + 2 and len(rows[1].find_all("td")) == 5


# --------------------------------------------------------------------- empty tensors

@dataclass
class InputShapedY(FakeImpl):
    """tensorflow#64396 in miniature: y comes back in x's shape, full of 7s (garbage)."""

    def compute(self, case, inputs, grads):
        out = super().compute(case, inputs, grads)
        if "y" in out:
            out["y"] = Outcome(values=np.full(case.input_shape, 7.0, np.float32), dtype="float32")
        return out


DEGENERATE = """
- id: e/valid-k3
  op: conv2d
  input_shape: [1, 2, 2, 1]
  filter_shape: [3, 3, 1, 1]
  x: {range: 1}
  w: {constant: 1}
  claims:
    - {source: by hand, y: [[]]}
- id: e/batch-0
  op: conv2d
  padding: SAME
  input_shape: [0, 4, 4, 2]
  filter_shape: [3, 3, 2, 3]
  w: {constant: 1}
- id: e/conv1d
  op: conv1d
  dilations: 3
  input_size: [3]
  kernel_size: [2]
  x: {range: 1}
  w: {constant: 1}
- id: e/conv3d
  op: conv3d
  input_size: [3, 3, 3]
  kernel_size: [2, 2, 4]
  x: {range: 1}
  w: {constant: 1}
"""


@pytest.fixture(scope="module")
def empty_record(tmp_path_factory) -> dict:
    return build_record(tmp_path_factory.mktemp("empty"), DEGENERATE, known=[],
                        impls=[FakeImpl("fake.native"), InputShapedY("fake.onednn")])


@pytest.fixture(scope="module")
def empty_page(empty_record) -> Node:
    return parse(report.render(empty_record))


def test_the_record_keeps_empty_tensors_with_their_shapes(empty_record):
    case = next(c for c in empty_record["cases"] if c["id"] == "e/valid-k3")
    assert case["output_shape"] == [1, 0, 0, 1]
    assert case["inputs"]["dy"] == {"shape": [1, 0, 0, 1], "layout": "NHWC", "data": [[]]}
    assert case["expected"]["dx"]["data"] == [[[[0.0], [0.0]], [[0.0], [0.0]]]]
    statuses = {(v["case"], v["impl"], v["grad"]): v["status"] for v in empty_record["verdicts"]}
    assert {k: s for k, s in statuses.items() if k[1] == "fake.native"} == {
        k: "pass" for k in statuses if k[1] == "fake.native"}
    # Only the outputs that are empty are errors (not this case's y): batch-0's y has x's shape (0, 4, 4, 2), not 3 channels.
    assert sorted(k for k, s in statuses.items() if s == "error") == sorted(
        (c, "fake.onednn", "y") for c in ("e/valid-k3", "e/batch-0", "e/conv1d", "e/conv3d"))
    assert [c["status"] for c in empty_record["claims"]] == ["holds"]


def test_a_wrong_shape_is_an_error_naming_both_shapes_and_shows_what_came_back(empty_page):
    v = empty_page.find("div", id="v-e-valid-k3--fake.onednn--y")
    assert "st-error" in v.classes()
    assert "shape [1, 2, 2, 1] differs from the expected [1, 0, 0, 1]" in \
        v.find("span", cls="stats").text()
    oracle, actual = v.find("div", cls="pair").find_all("div", cls="grids")
    assert oracle.find("p", cls="empty-tensor").text() == "empty tensor, shape (1, 0, 0, 1) NHWC"
    assert [td.text() for td in actual.find("table", cls="grid").find_all("td")] == ["7"] * 4
    assert v.find_all("td", cls="hx") == []        # no heat map: nothing compared per element


def test_empty_tensors_render_as_a_note_not_a_grid(empty_page):
    section = empty_page.find("section", id="case-e-valid-k3")
    y = section.find("div", id="g-e-valid-k3--y")
    assert y.find("h4").text() == "oracle (float64)"
    assert y.find("p", cls="empty-tensor").attrs["data-shape"] == "1, 0, 0, 1"
    passed = y.find("div", id="v-e-valid-k3--fake.native--y")
    assert "empty tensor, shape [1, 0, 0, 1], as expected" in passed.text()
    claim = section.find("div", cls="claim")
    assert "st-holds" in claim.classes() and len(claim.find_all("p", cls="empty-tensor")) == 2
    # dx of an empty output: zeros of x's shape, drawn as a grid.
    dx = section.find("div", id="g-e-valid-k3--dx").find("table", cls="grid")
    assert [td.text() for td in dx.find_all("td")] == ["0"] * 4
    batch = empty_page.find("section", id="case-e-batch-0")
    inputs = batch.find("details")
    assert "empty tensor, shape (0, 4, 4, 2) NHWC" in inputs.text()
    assert batch.find("p", cls="empty-tensors").text() == (
        "empty tensors (a 0 in the shape): x, dx [0, 4, 4, 2]; y, dy [0, 4, 4, 3]")


@pytest.mark.parametrize("case_id, reason", [
    ("e/valid-k3", "H: kernel extent 3 > padded input 2; W: kernel extent 3 > padded input 2"),
    ("e/conv1d", "W: kernel extent 4 > padded input 3"),
    ("e/conv3d", "W: kernel extent 4 > padded input 3"),
])
def test_an_empty_output_is_drawn_without_a_window_and_says_why(empty_page, case_id, reason):
    section = empty_page.find("section", id=f"case-{report.slug(case_id)}")
    assert "0" in [c["pad-output"].text() for c in padding_rows(empty_page, case_id).values()]
    assert section.find("p", cls="empty-output").text().startswith(
        f"empty output: the dilated kernel is larger than the padded input ({reason})")
    figures = section.find_all("figure")
    assert len(figures) == (3 if case_id == "e/conv3d" else 1)
    for figure in figures:
        assert figure.find_all("rect", cls="window") == [] and figure.find_all("circle") == []
        assert figure.find_all("rect", cls="cell-data")
        assert f"no output window fits ({reason})" in figure.find("figcaption").text()
    assert "first output window" not in section.find("ul", cls="legend").text()
    # A case whose output is not empty keeps its window.
    assert empty_page.find("section", id="case-e-batch-0").find_all("rect", cls="window")


def test_summary_and_junit_of_empty_tensors(empty_record):
    from harness.render import junit, terminal as summary
    table = summary.table(empty_record)
    assert "e/valid-k3" in table and "y:error dx:pass dw:pass" in table
    (problem,) = [p for p in summary.problems(empty_record) if "e/valid-k3" in p]
    assert "shape [1, 2, 2, 1] differs from the expected [1, 0, 0, 1]" in problem
    xml = junit.to_string(empty_record)
    assert 'message="shape [1, 2, 2, 1] differs from the expected [1, 0, 0, 1] ' in xml


# --------------------------------------------------------------------- escaping

HOSTILE = """
- id: t/<b>bold</b>
  description: <script>alert(1)</script> & <img src=x onerror="alert(2)">
  source: "</p><a href='javascript:alert(3)'>x</a>"
  op: conv2d
  grads: [dx]
  data_format: NHWC
  padding: VALID
  dtype: float32
  input_shape: [1, 3, 3, 1]
  w: [[[[3]], [[4]]], [[[5]], [[6]]]]
  dy: {range: 1}
  claims:
    - source: <script>alert(4)</script>
      dx: [[[[0], [0], [0]], [[0], [0], [0]], [[0], [0], [0]]]]
"""


def test_everything_from_a_case_file_is_escaped(tmp_path):
    rec = build_record(tmp_path, HOSTILE, impls=IMPLS[:1])
    html = report.render(rec)
    tree = parse(html)
    assert tree.find_all("script") == [] and tree.find_all("img") == []
    assert tree.find_all("b") == [] and not [a for a in tree.find_all("a")
                                             if "javascript" in a.attrs.get("href", "")]
    assert "&lt;script&gt;alert(1)&lt;/script&gt; &amp; &lt;img src=x onerror=" in html
    assert tree.find("section", id="case-t-b-bold-b").find("h2").text() == "t/<b>bold</b>"


def test_ids_that_clean_to_the_same_slug_get_distinct_anchors(tmp_path):
    text = CASES.split("- id: t/same-lower")[0].replace("  claims:\n    - source: a blog\n"
                                                       "      dx: [[[[0], [0], [0]], [[0], [0], "
                                                       "[0]], [[0], [0], [0]]]]\n", "")
    rec = build_record(tmp_path, text + text.replace("id: t/same", "id: t-same"),
                       impls=IMPLS[:1])
    tree = parse(report.render(rec))
    assert [s.attrs["data-case"] for s in tree.find_all("section", id="case-t-same")] == ["t/same"]
    assert tree.find("section", id="case-t-same-2").attrs["data-case"] == "t-same"
    assert tree.find("div", id="v-t-same-2--fake.native--dx")


# --------------------------------------------------------------------- merging and the CLI

def test_merge_concatenates_records(tmp_path, record):
    other = build_record(tmp_path, CASES.replace("id: t/", "id: u/"), impls=IMPLS[:2])
    merged = report.merge([("a.json", record), ("b.json", other)])
    assert len(merged["cases"]) == 2 * len(record["cases"])
    assert len(merged["verdicts"]) == len(record["verdicts"]) + len(other["verdicts"])
    assert merged["summary"]["verdicts"]["pass"] == \
        record["summary"]["verdicts"]["pass"] + other["summary"]["verdicts"]["pass"]
    tree = parse(report.render(merged))
    assert tree.find("section", id="case-u-same") and tree.find("section", id="case-t-same")
    assert [h.text() for h in tree.find("header").find_all("h2")] == ["Run 1: a.json",
                                                                     "Run 2: b.json"]


def test_merge_refuses_a_verdict_judged_in_two_records(record):
    with pytest.raises(report.MergeError, match=r"'t/same' \[fake.native\] dx is judged in "
                                                r"both a.json and b.json"):
        report.merge([("a.json", record), ("b.json", copy.deepcopy(record))])


def test_merge_joins_one_record_per_impl_of_the_same_cases(record):
    """One CI job per framework: the same cases, different impls, merged into one."""
    impls = [i["name"] for i in record["impls"]]
    parts = []
    for half in (impls[:2], impls[2:]):
        part = copy.deepcopy(record)
        part["verdicts"] = [v for v in part["verdicts"] if v["impl"] in half]
        part["impls"] = [i for i in part["impls"] if i["name"] in half]
        parts.append(part)
    merged = report.merge([("a.json", parts[0]), ("b.json", parts[1])])
    assert len(merged["cases"]) == len(record["cases"])
    assert sorted((v["case"], v["impl"], v["grad"]) for v in merged["verdicts"]) == sorted(
        (v["case"], v["impl"], v["grad"]) for v in record["verdicts"])
    assert len(merged["claims"]) == len(record["claims"])
    assert merged["summary"]["verdicts"] == record["summary"]["verdicts"]
    other = copy.deepcopy(parts[1])
    other["cases"][0]["strides"] = [9, 9]
    with pytest.raises(report.MergeError, match="is a different case in a.json and b.json"):
        report.merge([("a.json", parts[0]), ("b.json", other)])


def _write(path: Path, record: dict) -> str:
    record_mod.write(record, path)
    return str(path)


def test_cli_report_writes_html_and_junit(tmp_path, record, capsys):
    src = _write(tmp_path / "results.json", record)
    out, junit = tmp_path / "out" / "r.html", tmp_path / "j.xml"
    assert cli.main(["report", src, "-o", str(out), "--junit", str(junit)]) == 0
    assert out.read_text().startswith("<!DOCTYPE html>") and junit.read_text().startswith("<?xml")
    assert f"report: {out}" in capsys.readouterr().out


def _page_links(html: str, folder: Path) -> list[Path]:
    """The case-page files an overview links to, resolved against ``folder``."""
    hrefs = {a.attrs["href"].split("#")[0] for a in parse(html).find_all("a")
             if ".html#" in a.attrs.get("href", "")}
    return sorted(folder / h for h in hrefs)


def test_cli_report_of_a_large_run_writes_case_pages_and_replaces_them_whole(
        tmp_path, record, monkeypatch):
    src = _write(tmp_path / "results.json", record)
    out = tmp_path / "out" / "r.html"
    monkeypatch.setattr(report, "INLINE_BYTES", 0)       # record-sized "large"
    assert cli.main(["report", src, "-o", str(out)]) == 0
    (first,) = [d for d in (out.parent / "r-pages").iterdir() if not d.name.startswith(".")]
    links = _page_links(out.read_text(), out.parent)
    assert len(links) == len(record["cases"]) and all(p.is_file() for p in links)
    assert {p.parent for p in links} == {first}
    assert "../../r.html" in links[0].read_text()
    assert cli.main(["report", src, "-o", str(out)]) == 0
    (second,) = [d for d in (out.parent / "r-pages").iterdir() if not d.name.startswith(".")]
    assert second != first and not first.exists()       # the old render's pages are gone
    assert {p.parent for p in _page_links(out.read_text(), out.parent)} == {second}
    monkeypatch.setattr(report, "INLINE_BYTES", 10 ** 9)
    assert cli.main(["report", src, "-o", str(out)]) == 0
    assert not (out.parent / "r-pages").exists()         # one page now: no stale pages left
    assert _page_links(out.read_text(), out.parent) == []


def test_a_run_output_set_switches_its_case_pages_with_the_rest(tmp_path, record, monkeypatch):
    from harness.safeio import outputs
    out = tmp_path / "out"
    monkeypatch.setattr(report, "INLINE_BYTES", 0)
    with outputs.OutputSet(out) as place:
        place.write({outputs.RECORD: record_mod.dumps(record),
                     **report.output_files(record)}, "run-1")
    pages = out / outputs.PAGES
    assert pages.is_symlink() and os.readlink(pages) == f".convgrad/current/{outputs.PAGES}"
    links = _page_links((out / "index.html").read_text(), out)
    assert len(links) == len(record["cases"]) and all(p.is_file() for p in links)
    monkeypatch.setattr(report, "INLINE_BYTES", 10 ** 9)
    with outputs.OutputSet(out) as place:
        place.write({outputs.RECORD: record_mod.dumps(record),
                     **report.output_files(record)}, "run-2")
    assert not pages.exists() and not pages.is_symlink()   # no dangling link, no stale pages
    assert not (out / ".convgrad" / "runs" / "run-1").exists()
    shutil.rmtree(out)
    (out / outputs.PAGES).mkdir(parents=True)      # somebody's folder: refused, never replaced
    with pytest.raises(outputs.OutputError, match="report-pages is a directory that is not "
                                                  "convgrad's"):
        outputs.OutputSet(out)


HEAD = f'"schema": "{record_mod.SCHEMA}", "schema_version": {record_mod.SCHEMA_VERSION}'
REST = ('"started": "", "finished": "", "incomplete": false, "summary": {}, "environment": {}, '
        '"impls": [], "cases": [], "claims": []')


@pytest.mark.parametrize("content, message", [
    (None, "no such file or directory"),
    ("garbage{", "not a readable JSON run record: Expecting value"),
    ('{"a": 1}', 'not a convgrad run record'),
    (f'{{"schema": "{record_mod.SCHEMA}", "schema_version": 999}}', "schema version 999"),
    (f"{{{HEAD}}}", "not a valid run record: $: 'started' is a required property"),
    (f'{{{HEAD}, {REST}, "verdicts": [{{"case": "a"}}]}}',
     "not a valid run record: $.verdicts[0]: 'impl' is a required property"),
])
def test_cli_report_refuses_bad_records(tmp_path, capsys, content, message):
    path = tmp_path / "r.json"
    if content is not None:
        path.write_text(content)
    assert cli.main(["report", str(path), "-o", str(tmp_path / "o.html")]) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"error: {path}: ") and message in err and "Traceback" not in err
    assert not (tmp_path / "o.html").exists()


def test_cli_report_refuses_duplicate_case_ids(tmp_path, record, capsys):
    a, b = _write(tmp_path / "a.json", record), _write(tmp_path / "b.json", record)
    assert cli.main(["report", a, b, "-o", str(tmp_path / "o.html")]) == 2
    assert capsys.readouterr().err == (f"error: 't/same' [fake.native] dx is judged in both {a} "
                                       f"and {b}; merge records of different cases or impls\n")


# --------------------------------------------------------------------- size

def synthetic_record(base: dict, cases: int) -> dict:
    """``base``'s cases copied under new ids, three grads each: a suite-sized record."""
    rec = {**base, "cases": [], "verdicts": [], "claims": []}
    for i in range(cases):
        src = base["cases"][i % len(base["cases"])]
        new_id = f"synthetic/{i:04d}/{src['id']}"
        grad = src["grads"][0]
        rec["cases"].append({**src, "id": new_id, "grads": ["y", "dx", "dw"],
                             "expected": {g: src["expected"][grad] for g in ("y", "dx", "dw")}})
        for v in base["verdicts"]:
            if v["case"] == src["id"]:
                rec["verdicts"] += [{**v, "case": new_id, "grad": g} for g in ("y", "dx", "dw")]
        rec["claims"] += [{**c, "case": new_id} for c in base["claims"] if c["case"] == src["id"]]
    rec["summary"] = record_mod.summarize(rec["verdicts"], rec["claims"])
    return rec


def test_a_suite_sized_report_is_an_overview_with_a_page_per_case(record):
    """Every verdict of 300 cases is a problem here (a chip on the overview each): the
    overview must still stay under 625 bytes a verdict (10 MB for the bundled suite's
    16,000), with no drawing or grid on it: those are on the case pages."""
    big = synthetic_record(record, 300)
    start = time.perf_counter()
    rendered = report.build(big)
    seconds = time.perf_counter() - start
    per_verdict = len(rendered.index.encode()) / len(big["verdicts"])
    assert per_verdict < 625, per_verdict
    assert seconds < 30
    overview = parse(rendered.index)
    assert overview.find_all("svg") == [] and overview.find_all("table", cls="grid") == []
    assert overview.find_all("section", cls="case") == []
    slugs = report.case_slugs([c["id"] for c in big["cases"]])
    assert sorted(rendered.pages) == sorted(f"{s}.html" for s in slugs.values())
    # Every link of the overview into a case page names an anchor that page has.
    targets = {}
    for a in overview.find_all("a"):
        href = a.attrs.get("href", "")
        if href.startswith(f"{rendered.pages_dir}/"):
            name, anchor = href[len(rendered.pages_dir) + 1:].split("#")
            targets.setdefault(name, set()).add(anchor)
    assert len(targets) == len(big["cases"])
    for name in list(targets)[:: 37]:
        page = parse(rendered.pages[name])
        ids = {n.attrs["id"] for n in page.iter() if "id" in n.attrs}
        assert targets[name] <= ids, name
        assert page.find("p", cls="back").find("a").attrs["href"] == "../index.html"
        assert page.find_all("svg", cls="padded-input") and page.find_all("table", cls="grid")
    # A small run stays one page.
    small = report.build(record)
    assert small.pages == {} and parse(small.index).find_all("section", cls="case")


TRANSPOSED = """
- id: t/transpose-same-s2
  op: conv_transpose2d
  grads: [y]
  padding: SAME
  strides: [2, 2]
  input_size: [3, 3]
  kernel_size: [3, 3]
  x: {range: 1}
  w: {range: 1}
- id: t/transpose-crop
  op: conv_transpose2d
  grads: [y]
  data_format: NCHW
  filter_format: OIHW
  padding: [[0, -1], [0, -1]]
  strides: [3, 2]
  input_size: [3, 3]
  kernel_size: [3, 3]
  out_channels: 2
  x: {range: 1}
  w: {constant: 1}
"""


def test_a_transposed_conv_draws_its_padding_over_y_with_the_extra_side_visible(tmp_path):
    page = parse(report.render(build_record(tmp_path, TRANSPOSED)))
    # SAME, stride 2, y 6x6: the forward conv pads y by (0, 1): the extra cell after y's data.
    rows = padding_rows(page, "t/transpose-same-s2")
    assert {d: (c["pad-before"].text(), c["pad-after"].text()) for d, c in rows.items()} == \
        {"H": ("0", "1"), "W": ("0", "1")}
    assert pad_cells(page, "t/transpose-same-s2", "cell-pad-before") == []
    after = pad_cells(page, "t/transpose-same-s2", "cell-pad-after")
    assert {r for r, _ in after} | {c for _, c in after} == {6} | set(range(6))
    section = page.find("section", id=f"case-{report.slug('t/transpose-same-s2')}")
    assert "padded y (the forward conv's input)" in section.text()
    # One window per element of x (3 along W), the last one on the extra pad after y.
    lanes = section.find("svg", cls="padded-input").find_all("g", cls="lane")
    assert [(g.attrs["data-out"], g.attrs["data-to"]) for g in lanes] == \
        [("0", "2"), ("1", "4"), ("2", "6")]
    assert "input gradient of a forward convolution" in section.find("p", cls="transposed").text()
    # ONNX's output_shape case: negative pads crop y's last row and column, drawn as such.
    cropped = pad_cells(page, "t/transpose-crop", "cell-crop")
    assert cropped and {r for r, _ in cropped} | {c for _, c in cropped} >= {9, 7}
    crop_section = page.find("section", id=f"case-{report.slug('t/transpose-crop')}")
    assert "H: 0 pad before + 10 data + 1 cropped after" in crop_section.text()


def test_one_runs_header_names_its_shard_and_platform(record):
    """The run line of a one-run report: the command as typed again (shell-quoted), the
    shard from --shard=K/N and where it was judged."""
    one = copy.deepcopy(record)
    one["environment"]["command"] = ["convgrad", "run", "cases", "-k", "a and b",
                                     "--shard=2/3"]
    one["environment"]["cpu_platform"] = {"class": "avx2", "effective_class": "avx2"}
    one["environment"]["run"] = {"device": "cuda"}
    line = parse(report.render(one)).find("p", cls="run-line")
    assert line.find("code").text() == "convgrad run cases -k 'a and b' --shard=2/3"
    assert "shard 2/3" in line.text() and "platform avx2+cuda" in line.text()
