"""The HTML report in a real browser: headless Chromium driven with plain subprocess.

``--dump-dom`` gives the DOM after the page loaded (and after any script that
could have run), ``--screenshot`` a PNG. Skipped when no Chromium is installed
(Debian: ``apt-get install chromium``); nothing here installs anything.

The large-report tests drive Chromium over the DevTools protocol (``tests/cdp.py``):
open the overview, measure it, click a link or a group and read what loaded.

Run as a script to refresh the screenshots in ``docs/img/`` (the suite-scale ones
from a full run's record, ``convgrad run cases/ --out /tmp/rep-full``)::

    .venv/bin/python tests/test_report_browser.py [/tmp/rep-full/results.json]
"""
from __future__ import annotations

import dataclasses
import json
import os
import shutil
import struct
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Optional

import pytest

ROOT = Path(__file__).resolve().parents[1]
if __name__ == "__main__":
    sys.path.insert(0, str(ROOT))   # run as a script: make ``tests`` importable

from harness.frontends import cli  # noqa: E402
from harness.render import report
from harness.record import run_record as record_mod  # noqa: E402
from harness.render.report import slug  # noqa: E402
from tests.cdp import FLAGS, Browser  # noqa: E402
from tests.test_report import (CASES, CLAIM, IMPLS, FakeImpl, _spoil_last,  # noqa: E402
                               build_record, pad_cells, padding_rows, parse)
TITLE = "convgrad report"


def find_chromium() -> Optional[str]:
    if os.access("/usr/bin/chromium", os.X_OK):
        return "/usr/bin/chromium"
    return next(filter(None, map(shutil.which, ("chromium", "chromium-browser",
                                                "google-chrome"))), None)


CHROMIUM = find_chromium()
pytestmark = pytest.mark.skipif(
    CHROMIUM is None, reason="no Chromium found (/usr/bin/chromium, or chromium, "
                             "chromium-browser, google-chrome on PATH); on Debian: "
                             "apt-get install chromium")


def chromium(args: list[str], profile: Path) -> subprocess.CompletedProcess:
    cmd = [CHROMIUM, *FLAGS, f"--user-data-dir={profile}", *args]
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, f"{' '.join(cmd)}\n{done.stderr[-2000:]}"
    return done


def dump_dom(page: Path, profile: Path) -> str:
    return chromium(["--dump-dom", page.resolve().as_uri()], profile).stdout


def screenshot(page: Path, png: Path, profile: Path, size: tuple[int, int] = (1400, 2000)) -> None:
    chromium([f"--screenshot={png}", f"--window-size={size[0]},{size[1]}",
              page.resolve().as_uri()], profile)


def png_size(png: Path) -> tuple[int, int]:
    data = png.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n", f"{png} is not a PNG"
    return struct.unpack(">II", data[16:24])


def only_case(page: Path, case_slug: str, dest: Path) -> Path:
    """A copy of the report showing one case section (a screenshot cannot scroll to it)."""
    hide = (f"header,main>section[id]:not(#cases),#cases>h2,section.case:not(#case-{case_slug})"
            "{display:none}section.case{border:0;margin:0}")
    dest.write_text(page.read_text(encoding="utf-8").replace("</style>", hide + "</style>", 1),
                    encoding="utf-8")
    return dest


def doc_screenshots(report: Path, out: Path, profile: Path) -> list[Path]:
    """The screenshots of docs/report.md: the summary, and article/same-dx with its drawing."""
    out.mkdir(parents=True, exist_ok=True)
    summary, same_dx = out / "report-summary.png", out / "report-same-dx.png"
    screenshot(report, summary, profile, (1400, 1150))
    section = only_case(report, "article-same-dx", profile.parent / "same-dx.html")
    screenshot(section, same_dx, profile, (1400, 1500))
    return [summary, same_dx]


@pytest.fixture(scope="module")
def article(tmp_path_factory) -> Path:
    """The report that ``convgrad run cases/article`` writes (real frameworks, where installed)."""
    out = tmp_path_factory.mktemp("article")
    assert cli.main(["run", str(ROOT / "cases" / "article"), "--out", str(out)]) in (0, 1)
    return out / "index.html"


@pytest.fixture(scope="module")
def article_dom(article, tmp_path_factory) -> object:
    return parse(dump_dom(article, tmp_path_factory.mktemp("profile")))


def test_screenshots_of_the_article_report(article, tmp_path):
    pngs = doc_screenshots(article, tmp_path / "img", tmp_path / "profile")
    assert [png_size(p) for p in pngs] == [(1400, 1150), (1400, 1500)]
    assert all(p.stat().st_size > 20_000 for p in pngs)   # a blank page compresses to ~5 KB


@pytest.mark.parametrize("case_id", ["article/same-dx", "article/same-dw"])
def test_same_padding_goes_after_the_data(article_dom, case_id):
    rows = padding_rows(article_dom, case_id)
    assert {dim: (c["pad-total"].text(), c["pad-before"].text(), c["pad-after"].text())
            for dim, c in rows.items()} == {"H": ("1", "0", "1"), "W": ("1", "0", "1")}
    assert all("extra" in c["pad-after"].classes() for c in rows.values())
    last_row_and_column = sorted({(r, c) for r in range(4) for c in range(4) if 3 in (r, c)})
    assert pad_cells(article_dom, case_id, "cell-pad-after") == last_row_and_column
    assert pad_cells(article_dom, case_id, "cell-pad-before") == []
    assert pad_cells(article_dom, case_id, "cell-data") == [(r, c) for r in range(3)
                                                              for c in range(3)]


@pytest.mark.parametrize("case_id", ["article/valid-dx", "article/valid-dw"])
def test_valid_padding_has_no_pad_cells(article_dom, case_id):
    rows = padding_rows(article_dom, case_id)
    assert {c["pad-total"].text() for c in rows.values()} == {"0"}
    for kind in ("cell-pad-before", "cell-pad-after", "cell-pad-mixed"):
        assert pad_cells(article_dom, case_id, kind) == []
    assert len(pad_cells(article_dom, case_id, "cell-data")) == 9


def test_article_summary_and_wrong_claim(article_dom):
    def rows(section):
        return [r.attrs["data-case"] for r in article_dom.find("section", id=section)
                .find_all("tr") if "data-case" in r.attrs]
    assert rows("problems") == ["article/same-dx"]          # its wrong claim
    assert rows("passing") == ["article/valid-dx", "article/valid-dw", "article/same-dw"]
    # A small run is one page: every case section is on it, in the record's order.
    assert [s.attrs["data-case"] for s in article_dom.find_all("section", cls="case")] == [
        "article/valid-dx", "article/valid-dw", "article/same-dx", "article/same-dw"]
    wrong = article_dom.find("section", id="wrong-claims").find_all("li")
    assert len(wrong) == 1 and wrong[0].text().startswith("article/same-dx dx")
    assert article_dom.find("title").text() == TITLE


# --------------------------------------------------------------------- a large report

@dataclass
class PlantedImpl(FakeImpl):
    """Right everywhere but on one case, where its last element is off by one."""

    target: str = ""

    def compute(self, case, inputs, grads):
        out = super().compute(case, inputs, grads)
        if case.id == self.target:
            out = {g: dataclasses.replace(o, values=_spoil_last(o.values.copy()))
                   for g, o in out.items()}
        return out


PLANTED = "s/valid-23"
COPIES = 40


@pytest.fixture(scope="module")
def large(tmp_path_factory) -> Path:
    """A report split into an overview and case pages: 46 cases, one planted failure among
    passes, unsupported verdicts of a documented limitation."""
    tmp = tmp_path_factory.mktemp("large")
    valid = CASES[CASES.index("- id: t/valid"):CASES.index("- id: t/known-1d")]
    text = CASES.replace(CLAIM, "") + "".join(valid.replace("id: t/valid", f"id: s/valid-{i:02d}")
                                              for i in range(COPIES))
    impls = [IMPLS[0], IMPLS[4], PlantedImpl("fake.planted", target=PLANTED)]
    rec = build_record(tmp, text, impls=impls, known=[])
    record_mod.write(rec, tmp / "results.json")
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(report, "INLINE_BYTES", 0)   # 46 small cases: make it split as a suite is
        assert cli.main(["report", str(tmp / "results.json"), "-o", str(tmp / "index.html")]) == 0
    return tmp / "index.html"


@pytest.fixture
def browser():
    with Browser(CHROMIUM, size=(1400, 1000)) as b:
        yield b


def test_the_first_screen_shows_the_problems_first(large, browser):
    seconds = browser.open(large.as_uri())
    assert seconds < 2 and browser.first_screen()["load"] < 2
    chip = f"#problems a.st-fail[href*='{slug(PLANTED)}']"
    assert browser.js(f"document.querySelectorAll(\"{chip}\").length") == 1   # its dx
    # On the first screen, without scrolling, and before any other group.
    bottom = browser.js(f"document.querySelector(\"{chip}\").getBoundingClientRect().bottom")
    assert 0 < bottom < browser.js("innerHeight")
    order = browser.js("[...document.querySelectorAll('main > section[data-group]')]"
                       ".map(s => s.id)")
    assert order == ["problems", "known", "unsupported", "passing"]
    assert browser.js("[...document.querySelectorAll('#problems tr[data-case]')]"
                      ".map(r => r.dataset.case)") == [PLANTED]
    # Passes are collapsed: counted per suite and op, their rows not laid out.
    groups = browser.js("[...document.querySelectorAll('#passing details')].map(d => "
                        "[d.dataset.group, d.dataset.cases, d.open])")
    assert groups == [["passing:t/conv2d", "4", False], ["passing:t/conv1d", "1", False],
                      ["passing:t/conv3d", "1", False], ["passing:s/conv2d", f"{COPIES - 1}",
                                                         False]]
    assert browser.js("document.querySelector('#passing tr').checkVisibility()") is False


def test_an_unsupported_group_names_its_limitation_counts_and_opens(large, browser):
    browser.open(large.as_uri())
    group = "#unsupported details[data-limitation='fake-nchw']"
    summary = browser.js(f"document.querySelector(\"{group} summary\").innerText")
    rec = record_mod.read(large.parent / "results.json")
    refused = [v for v in rec["verdicts"] if v["status"] == "unsupported"]
    cases = len({v["case"] for v in refused})
    assert cases == COPIES + 6 and len(refused) == cases + 1   # t/same refuses dx and dw
    assert summary.startswith(f"fake-nchw: {len(refused)} verdicts in {cases} cases")
    assert "fake.refuses" in summary and "the fake impl refuses NCHW" in summary
    rows = f"[...document.querySelectorAll(\"{group} tr\")].map(r => r.checkVisibility())"
    assert browser.js(rows) == [False] * cases          # collapsed: nothing shown
    browser.click(f"{group} summary", edge=True)
    assert browser.js(f"document.querySelector(\"{group}\").open") is True
    assert browser.js(rows) == [True] * cases


def test_a_case_page_loads_only_when_its_link_is_followed(large, browser):
    browser.open(large.as_uri())
    loaded = "performance.getEntriesByType('resource').map(r => r.name)"
    assert browser.js(loaded) == []
    assert browser.js("document.querySelectorAll('svg, table.grid, section.case').length") == 0
    browser.click(f"#problems a.st-fail[href*='{slug(PLANTED)}']")
    browser.wait_event("Page.loadEventFired")
    href = browser.js("location.href")
    assert "/index-pages/" in href and href.split("#")[0].endswith(f"/{slug(PLANTED)}.html")
    target = browser.js("document.getElementById(location.hash.slice(1)).className")
    assert target == "verdict st-fail"
    assert browser.js("document.querySelectorAll('svg.padded-input g.lane').length") == 2
    assert browser.js("document.querySelectorAll('td.hx').length") >= 1
    browser.click("p.back a")
    browser.wait_event("Page.loadEventFired")
    assert browser.js("location.href") == large.as_uri()


def test_every_window_on_a_stride_2_same_row_and_the_last_on_the_extra_pad(large, browser):
    """t/big: SAME, 3x3 kernel, stride 2 over 30x30: 15 windows a row, total pad 1, after
    the data; laid out by the browser, the last lane reaches over the pad column."""
    browser.open(large.as_uri())
    browser.click("#passing details[data-group='passing:t/conv2d'] summary", edge=True)
    browser.click("#passing a[href*='t-big.html']")
    browser.wait_event("Page.loadEventFired")
    lanes = browser.js("[...document.querySelectorAll('svg.padded-input g.lane')].map(g => "
                       "[g.dataset.out, g.dataset.to, g.querySelector('rect.lane')"
                       ".getBoundingClientRect().right])")
    outs = [o for o, _, _ in lanes]
    assert outs[0] == "0" and outs[-1] == "14" and any("–" in o for o in outs)
    assert lanes[-1][1] == "30"       # the last window ends on data index 30: the pad
    pad = browser.js("(() => { const r = document.querySelector('svg.padded-input "
                     "rect.cell-pad-after[data-row=\"0\"]').getBoundingClientRect();"
                     "return [r.left, r.right]; })()")
    assert lanes[-1][2] > (pad[0] + pad[1]) / 2
    assert all(right < pad[0] for _, _, right in lanes[:-1])


SUITE_SHOTS = ("report-suite-overview.png", "report-suite-unsupported.png",
               "report-windows-same-s2.png")


def suite_screenshots(index: Path, out: Path, drawn_case: str,
                      limitation: Optional[str] = None) -> list[Path]:
    """The suite-scale screenshots of docs/report.md, from a split report ``index``: the
    overview's first screen, a limitation's group expanded (the largest unless named), and
    ``drawn_case``'s padding drawing with its window lanes."""
    out.mkdir(parents=True, exist_ok=True)
    overview, group, windows = (out / name for name in SUITE_SHOTS)
    with Browser(CHROMIUM, size=(1400, 1000)) as b:
        b.open(index.as_uri())
        b.screenshot(overview)
        sel = (f"#unsupported details[data-limitation='{limitation}']" if limitation
               else "#unsupported details.limitation")
        b.click(f"{sel} summary", edge=True)
        b.js(f"document.querySelector(\"{sel}\").scrollIntoView()")
        b.screenshot(group)
        link = f"a[href*='/{slug(drawn_case)}.html']"
        b.js(f"(() => {{ const d = document.querySelector(\"{link}\").closest('details');"
             "if (d) d.open = true; })()")   # its group, collapsed
        b.click(link)
        b.wait_event("Page.loadEventFired")
        b.js("document.querySelector('div.drawings').scrollIntoView()")
        b.call("Emulation.setDeviceMetricsOverride", {"width": 1000, "height": 700,
                                                      "deviceScaleFactor": 1, "mobile": False},
               session=True)
        b.screenshot(windows)
    return [overview, group, windows]


def test_suite_screenshots(large, tmp_path):
    pngs = suite_screenshots(large, tmp_path / "img", "t/big")
    assert [png_size(p) for p in pngs] == [(1400, 1000), (1400, 1000), (1000, 700)]
    assert all(p.stat().st_size > 20_000 for p in pngs)   # a blank page compresses to ~5 KB


HOSTILE_DESCRIPTION = ("<img src=x onerror=\"document.title='pwned'\">"
                       "<script>document.title='pwned'</script>")


def test_no_script_from_a_case_runs(tmp_path):
    text = (ROOT / "cases" / "article" / "3-same-dx.yaml").read_text(encoding="utf-8")
    text = text.replace("id: article/same-dx", "id: article/<b>same</b>-dx")
    text = "\n".join(f"description: {json.dumps(HOSTILE_DESCRIPTION)}"   # JSON is YAML
                     if line.startswith("description:")
                     else line for line in text.splitlines())
    record = build_record(tmp_path, text, impls=[FakeImpl("fake.native")], known=[])
    record_mod.write(record, tmp_path / "results.json")
    page = tmp_path / "index.html"
    assert cli.main(["report", str(tmp_path / "results.json"), "-o", str(page)]) == 0
    dom = parse(dump_dom(page, tmp_path / "profile"))
    assert dom.find("title").text() == TITLE
    assert dom.find_all("script") == [] and dom.find_all("img") == [] and dom.find_all("b") == []
    section = dom.find("section", id=f"case-{slug('article/<b>same</b>-dx')}")
    assert section.find("p", cls="desc").text() == HOSTILE_DESCRIPTION
    assert section.find("h2").text() == "article/<b>same</b>-dx"


if __name__ == "__main__":
    if CHROMIUM is None:
        sys.exit("no Chromium found: apt-get install chromium")
    os.chdir(ROOT)   # relative paths in the report's commands, as a user would type them
    with tempfile.TemporaryDirectory() as tmp:
        cli.main(["run", "cases/article", "--out", tmp])
        for png in doc_screenshots(Path(tmp) / "index.html", ROOT / "docs" / "img",
                                   Path(tmp) / "profile"):
            print(f"wrote {png.relative_to(ROOT)}")
        if len(sys.argv) > 1:   # a full run's record: the suite-scale screenshots
            cli.main(["report", sys.argv[1], "-o", f"{tmp}/suite/index.html"])
            for png in suite_screenshots(Path(tmp) / "suite" / "index.html",
                                         ROOT / "docs" / "img",
                                         "conformance/conv2d/SAME-k3x3-s2x2-in8x6-NHWC",
                                         "tf-cpu-dilation"):
                print(f"wrote {png.relative_to(ROOT)}")
