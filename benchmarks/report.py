#!/usr/bin/env python3
"""The report of a saved run: its size, and how long headless Chromium takes to show it.

Renders ``RESULTS`` (a run's ``results.json``) the way ``convgrad report`` does,
into a temporary folder, and prints:

* the render time in Python, the overview's size (``index.html``, MB) and the
  case pages' count and total size;
* the first screen in headless Chromium, measured over the DevTools protocol
  (``tests/cdp.py``), alternating over ``--rounds`` with a baseline page in the
  same browser (a bare ``<p>`` page from the same disk): per load, the wall time
  from the navigation command to the load event, and the browser's own clock
  (Performance API, from navigation start): first contentful paint and the end of
  the load event. The page has no script and no resource to wait for, so the
  load event means everything on the first screen has been parsed, styled and
  laid out. Each load is a fresh navigation in one warm browser, so Chromium's
  start-up (about a second on this machine, the same for every page) is not
  counted; ``ratio`` is the median against the baseline page's.

Targets (issue 14): the overview under 10 MB, its first screen under 2 s.

    python benchmarks/report.py /tmp/rep-full/results.json [--rounds 5]
"""
from __future__ import annotations

import argparse
import os
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from harness.safeio import outputs  # noqa: E402
from harness.record import run_record as record
from harness.render import report
from tests.cdp import Browser  # noqa: E402

TARGET_MB, TARGET_S = 10.0, 2.0


def find_chromium() -> str:
    for candidate in ("/usr/bin/chromium", *filter(None, map(shutil.which, (
            "chromium", "chromium-browser", "google-chrome")))):
        if os.access(candidate, os.X_OK):
            return candidate
    sys.exit("no Chromium found (Debian: apt-get install chromium)")


def load(browser: Browser, page: Path) -> dict:
    wall = browser.open(page.as_uri())
    for _ in range(200):   # loadEventEnd is set once the load handlers returned; the paint
        timing = browser.first_screen()   # entry once the frame is presented
        if timing["load"] and timing["first_contentful_paint"] is not None:
            break
        time.sleep(0.01)
    else:
        sys.exit(f"{page}: no load end or first paint reported: {timing}")
    return {"wall": wall, **timing}


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("results", type=Path, help="a run's results.json")
    p.add_argument("--rounds", type=int, default=5)
    args = p.parse_args()
    rec = record.read(args.results)
    with tempfile.TemporaryDirectory() as tmp:
        index = Path(tmp) / "index.html"
        start = time.perf_counter()
        folder = outputs.pages_dir(index)
        rendered = report.build(rec, pages_dir=folder, index_name=index.name)
        outputs.write_report(index, rendered.index, rendered.pages, folder)
        render_s = time.perf_counter() - start
        size_mb = index.stat().st_size / 1e6
        pages_mb = sum(len(t.encode()) for t in rendered.pages.values()) / 1e6
        baseline = Path(tmp) / "baseline.html"
        baseline.write_text("<!DOCTYPE html><title>baseline</title><p>baseline</p>")
        runs: dict[str, list[dict]] = {"baseline": [], "report": []}
        with Browser(find_chromium(), size=(1400, 1000)) as browser:
            load(browser, baseline)      # warm the browser once, not measured
            for _ in range(args.rounds):
                runs["baseline"].append(load(browser, baseline))
                runs["report"].append(load(browser, index))
    print(f"record: {args.results} ({len(rec['cases'])} cases, {len(rec['verdicts'])} verdicts)")
    print(f"render: {render_s:.1f} s; overview index.html {size_mb:.2f} MB "
          f"(target < {TARGET_MB:g} MB); {len(rendered.pages)} case pages, {pages_mb:.1f} MB")
    print(f"Chromium, median of {args.rounds} loads (seconds; wall: navigate to load event, "
          "fcp / load: the browser's clock from navigation start):")
    med = {}
    for name, rows in runs.items():
        med[name] = {k: statistics.median(r[k] for r in rows)
                     for k in ("wall", "first_contentful_paint", "load")}
        m = med[name]
        print(f"  {name:8}  wall {m['wall']:.3f}  fcp {m['first_contentful_paint']:.3f}  "
              f"load {m['load']:.3f}   (wall range {min(r['wall'] for r in rows):.3f}"
              f"-{max(r['wall'] for r in rows):.3f})")
    ratio = med["report"]["wall"] / med["baseline"]["wall"]
    print(f"report / baseline (wall): {ratio:.1f}x; first screen {med['report']['wall']:.2f} s "
          f"(target < {TARGET_S:g} s)")
    ok = size_mb < TARGET_MB and med["report"]["wall"] < TARGET_S
    print("within the targets" if ok else "OVER a target")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
