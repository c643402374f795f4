"""The HTML report in a real browser: headless Chromium driven with plain subprocess.

``--dump-dom`` gives the DOM after the page loaded (and after any script that
could have run), ``--screenshot`` a PNG. Skipped when no Chromium is installed
(Debian: ``apt-get install chromium``); nothing here installs anything.

Run as a script to refresh the screenshots in ``docs/img/``::

    .venv/bin/python tests/test_report_browser.py
"""
from __future__ import annotations

import json
import os
import shutil
import struct
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Optional

import pytest

ROOT = Path(__file__).resolve().parents[1]
if __name__ == "__main__":
    sys.path.insert(0, str(ROOT))   # run as a script: make ``tests`` importable

from harness import cli  # noqa: E402
from harness import record as record_mod  # noqa: E402
from harness.report import slug  # noqa: E402
from tests.test_report import (FakeImpl, build_record, pad_cells, padding_rows,  # noqa: E402
                               parse)
FLAGS = ("--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync",
         "--hide-scrollbars", "--mute-audio")
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
    hide = (f"header,#summary,#wrong-claims,#cases>h2,section.case:not(#case-{case_slug})"
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
    rows = article_dom.find("table", cls="matrix").find("tbody").find_all("tr")
    assert [r.attrs["data-case"] for r in rows] == ["article/valid-dx", "article/valid-dw",
                                                   "article/same-dx", "article/same-dw"]
    wrong = article_dom.find("section", id="wrong-claims").find_all("li")
    assert len(wrong) == 1 and wrong[0].text().startswith("article/same-dx dx")
    assert article_dom.find("title").text() == TITLE


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
