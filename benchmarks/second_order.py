#!/usr/bin/env python3
"""The cost of forward mode and second order: the second-order suite judged for its
second-order grads (jvp, ddy, ddx, ddw) and, on the very same cases, for the first-order
ones (y, dx, dw), with the same impls and a warm JAX compilation cache (a first,
unmeasured run of each fills it). Prints each run's wall time, the frameworks' own
compute (the sum of the record's ``compute_s``), then the ratios second / first, per run
and per verdict (4 grads against 3), measured in the same run of this script. No verdict
may error. (The first-order copy's 16-bit dx/dw fail where the frameworks accumulate in
16 bits: the known entries name those findings by the bundled cases' ids, not these.)

    python benchmarks/second_order.py                 # cases/second-order, a few minutes
    python benchmarks/second_order.py --impl 'torch.*'
    python benchmarks/second_order.py --quick         # torch's impls, no warm-up: 1-2 min
"""
from __future__ import annotations

import argparse
import json
import re
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import measure  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
SUITE = REPO / "cases" / "second-order" / "second-order.yaml"


def first_order_copy(folder: Path) -> Path:
    """The suite with its grads line set to the first-order grads (same cases, same ids)."""
    text = SUITE.read_text()
    out = folder / "first-order.yaml"
    out.write_text(re.sub(r"grads: \[jvp, ddy, ddx, ddw\]", "grads: [y, dx, dw]", text))
    return out


def judge(cases: Path, impls: list[str], cache: Path, out: Path) -> tuple[float, dict]:
    cmd = [sys.executable, "-m", "harness.frontends.cli", "run", str(cases), "--jobs", "1",
           "--jax-cache", str(cache), "--out", str(out)]
    for spec in impls:
        cmd += ["--impl", spec]
    m = measure.run(cmd)
    if m.returncode not in (0, 1):
        sys.exit(f"failed: {' '.join(cmd)}\n{m.stderr[-3000:]}")
    return m.wall_s, json.loads((out / "results.json").read_text())


def summary(record: dict) -> dict:
    verdicts = record["verdicts"]
    statuses: dict[str, int] = {}
    for v in verdicts:
        statuses[v["status"]] = statuses.get(v["status"], 0) + 1
    judged = [v for v in verdicts if v["status"] in ("pass", "fail", "known")]
    compute = sum(v.get("compute_s") or 0.0 for v in verdicts)
    return {"verdicts": len(verdicts), "judged": len(judged), "statuses": statuses,
            "compute_s": compute}


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--impl", action="append", default=None,
                   help="impls as for convgrad run (default: every default impl)")
    p.add_argument("--quick", action="store_true",
                   help="torch's impls only, no warm-up runs (torch compiles nothing)")
    args = p.parse_args()
    impls = args.impl or (["torch.*"] if args.quick else [])
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        first = first_order_copy(folder)
        cache = folder / "jax-cache"
        for cases in () if args.quick else (first, SUITE):   # fill the JAX cache:
            judge(cases, impls, cache, folder / "warm")        # compilation is not the work
        rows = {}
        for name, cases in (("first order (y, dx, dw)", first),
                            ("second order (jvp, ddy, ddx, ddw)", SUITE)):
            wall, record = judge(cases, impls, cache, folder / name.split()[0])
            rows[name] = (wall, summary(record))
    bad = {n: s["statuses"] for n, (_, s) in rows.items()
           if set(s["statuses"]) & {"error", "nondeterministic"}}
    print(f"{'run':36} {'wall s':>8} {'verdicts':>9} {'compute s':>10} {'per verdict ms':>15}")
    for name, (wall, s) in rows.items():
        per = 1000 * s["compute_s"] / max(s["verdicts"], 1)
        print(f"{name:36} {wall:8.1f} {s['verdicts']:9d} {s['compute_s']:10.2f} {per:15.2f}")
    (w1, s1), (w2, s2) = rows.values()
    print(f"\nimpls: {', '.join(impls) or 'the default ones'}; the first-order run is the "
          "baseline, on the same cases, measured in this run")
    print(f"second / first: wall {w2 / w1:.2f}x, frameworks' compute "
          f"{s2['compute_s'] / max(s1['compute_s'], 1e-9):.2f}x, compute per verdict "
          f"{(s2['compute_s'] / s2['verdicts']) / (s1['compute_s'] / s1['verdicts']):.2f}x")
    for name, (_, s) in rows.items():
        print(f"{name}: {s['statuses']}")
    if bad:
        print(f"runs with errors: {bad}")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
