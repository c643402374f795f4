#!/usr/bin/env python3
"""The cost of judging a suite under every numerics path this machine can take.

Runs ``convgrad run CASES --platforms native`` and ``--platforms all`` (the native
path and every lesser CPU class this machine can take: on an AVX-512 VNNI
machine ``cpu=avx512`` and ``cpu=avx2``), both with the same warm JAX
compilation cache (a first, unmeasured run fills it, so neither pays JAX's
compilations and the ratio is the work's), and prints each run's wall time,
peak memory of the process tree and the frameworks' own compute (the sum of
the record's ``compute_s``), then all / native: the cost of the platform
matrix as a ratio to one path, measured in the same run of this script.

It also checks what the matrix is for: every verdict of the native run keeps
its status in the ``--platforms all`` run, and no verdict there fails or
errors (each path's discrepancies are known entries that match its facts).

    python benchmarks/platforms.py                       # cases/, about 6 minutes
    python benchmarks/platforms.py --cases cases/conformance/half.yaml
    python benchmarks/platforms.py --quick               # cases/peers, 2 minutes
"""
from __future__ import annotations

import argparse
import collections
import json
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import measure  # noqa: E402


def _run(cases: str, platforms: str, cache: Path, out: Path) -> tuple[measure.Measured, dict]:
    cmd = [sys.executable, "-m", "harness.frontends.cli", "run", cases, "--platforms", platforms,
           "--jax-cache", str(cache), "--out", str(out)]
    m = measure.run(cmd)
    if m.returncode not in (0, 1):
        sys.exit(f"failed: {' '.join(cmd)}\n{m.stderr[-3000:]}")
    return m, json.loads((out / "results.json").read_text())


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--cases", default="cases", help="case files or a folder (default: cases)")
    p.add_argument("--quick", action="store_true", help="cases/peers (40 cases) only")
    p.add_argument("--keep", metavar="DIR", help="keep the runs' outputs in DIR")
    args = p.parse_args()
    if args.quick:
        args.cases = "cases/peers"
    with tempfile.TemporaryDirectory() as tmp:
        cache, out = Path(tmp, "jax-cache"), Path(args.keep or tmp)
        _run(args.cases, "all", cache, out / "warmup")          # fills the JAX cache
        results = {}
        for name in ("native", "all"):
            m, record = _run(args.cases, name, cache, out / name)
            own = sum(v.get("compute_s") or 0.0 for v in record["verdicts"])
            counts = collections.Counter(v["status"] for v in record["verdicts"])
            results[name] = (m, record, own)
            print(f"--platforms {name:6}: {m.wall_s:7.1f} s wall, own compute {own:6.1f} s, "
                  f"peak {measure.mib(m.peak_rss)}; {len(record['impls'])} impls, "
                  f"{len(record['verdicts'])} verdicts: "
                  + ", ".join(f"{n} {s}" for s, n in counts.most_common()), flush=True)
    (native, native_rec, native_own), (full, full_rec, full_own) = results["native"], results["all"]
    paths = sorted({i["name"].partition("[")[2].rstrip("]") or "native"
                    for i in full_rec["impls"]})
    print(f"\ncases: {args.cases}; paths judged by --platforms all: {', '.join(paths)}")
    print(f"{'run':18} {'wall s':>7} {'own compute s':>14} {'verdicts':>9} {'peak':>10}")
    for name, (m, record, own) in results.items():
        print(f"--platforms {name:6} {m.wall_s:7.1f} {own:14.1f} {len(record['verdicts']):9d} "
              f"{measure.mib(m.peak_rss):>10}")
    n_full, n_native = len(full_rec["verdicts"]), max(len(native_rec["verdicts"]), 1)
    print(f"all / native (the baseline, one path, measured in this run): wall "
          f"{full.wall_s / native.wall_s:.2f}x, own compute "
          f"{full_own / max(native_own, 1e-9):.2f}x, verdicts {n_full / n_native:.2f}x, "
          f"wall per verdict {(full.wall_s / max(n_full, 1)) / (native.wall_s / n_native):.2f}x, "
          f"peak memory {full.peak_rss / max(native.peak_rss, 1):.2f}x")
    before = {(v["case"], v["impl"], v["grad"]): v["status"] for v in native_rec["verdicts"]}
    after = {(v["case"], v["impl"], v["grad"]): v["status"] for v in full_rec["verdicts"]}
    moved = [k for k in before if after.get(k) != before[k]]
    failing = [k for k, s in after.items() if s in ("fail", "error", "nondeterministic")]
    print(f"native verdicts whose status moved in the --platforms all run: {len(moved)}")
    for k in moved[:20]:
        print(f"  {' '.join(k)}: {before[k]} -> {after.get(k)}")
    print(f"failing verdicts on any path: {len(failing)}")
    for k in failing[:20]:
        print(f"  {' '.join(k)}: {after[k]}")
    return 1 if failing else 0


if __name__ == "__main__":
    sys.exit(main())
