#!/usr/bin/env python3
"""The bundled suite run twice with a fresh JAX compilation cache: cold, then warm.

Runs ``convgrad run CASES --jax-cache DIR`` twice in a row (workers, the
default ``--jobs``), ``DIR`` a new, empty folder: the first run compiles every
JAX shape and fills it, the second finds them there. Prints, for each run, the
wall time, the peak memory of the process tree (sampled) and the frameworks'
own compute time: the sum over the record's verdicts of ``compute_s`` (each
impl's framework calls for a grad, measured in the adapter; docs/record.md),
against which the wall time is a ratio. Then first / second (target, issue 13:
at least 2.0 where the JAX cache applies) and whether both runs gave the same
verdicts.

``--against RECORD`` also compares the verdicts (status per case, subject and
grad; timings ignored) with another run's ``results.json``: a change to the
harness must leave them as they were.

    python benchmarks/suite.py                          # cases/, 2-5 minutes a run
    python benchmarks/suite.py --cases cases/article    # a quick subset
"""
from __future__ import annotations

import argparse
import json
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import measure  # noqa: E402

TARGET = 2.0


def verdicts(record: dict) -> dict[tuple, str]:
    """(kind, case, subject, grad) -> status, for every verdict and claim."""
    out = {("impl", v["case"], v["impl"], v["grad"]): v["status"] for v in record["verdicts"]}
    out.update({("claim", c["case"], c["source"], c["grad"]): c["status"]
                for c in record["claims"]})
    return out


def differences(a: dict, b: dict) -> list[str]:
    lines = []
    for key in sorted(set(a) | set(b)):
        if a.get(key) != b.get(key):
            lines.append(f"  {' '.join(key)}: {a.get(key, 'absent')} -> {b.get(key, 'absent')}")
    return lines


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--cases", default="cases", help="case files or a folder (default: cases)")
    p.add_argument("--against", metavar="RECORD", help="compare the verdicts with this record")
    p.add_argument("--keep", metavar="DIR", help="keep both runs' outputs in DIR/cold, DIR/warm")
    args = p.parse_args()
    runs = {}
    with tempfile.TemporaryDirectory() as tmp:
        cache, out = Path(tmp, "jax-cache"), Path(args.keep or tmp)
        for name in ("cold", "warm"):
            cmd = [sys.executable, "-m", "harness.frontends.cli", "run", args.cases,
                   "--jax-cache", str(cache), "--out", str(out / name)]
            m = measure.run(cmd)
            if m.returncode not in (0, 1):
                sys.exit(f"failed: {' '.join(cmd)}\n{m.stderr[-3000:]}")
            record = json.loads((out / name / "results.json").read_text())
            own = sum(v.get("compute_s") or 0.0 for v in record["verdicts"])
            backend = sum(v.get("seconds") or 0.0 for v in record["verdicts"])
            runs[name] = (m, record, own)
            print(f"{name}: {m.wall_s:7.1f} s wall, own compute {own:6.1f} s (backend "
                  f"{backend:.1f} s), wall / own compute {m.wall_s / own:5.2f}, peak "
                  f"{measure.mib(m.peak_rss)} (largest process "
                  f"{measure.mib(m.largest_process)}); {len(record['cases'])} cases, "
                  f"{len(record['verdicts'])} verdicts", flush=True)
    (cold, cold_record, _), (warm, warm_record, _) = runs["cold"], runs["warm"]
    ratio = cold.wall_s / warm.wall_s
    print(f"\ncases: {args.cases}; jobs: the machine's cores")
    print(f"first (cold JAX cache) / second (warm) = {ratio:.2f} (target >= {TARGET}: "
          f"{'met' if ratio >= TARGET else 'MISSED'})")
    changed = differences(verdicts(cold_record), verdicts(warm_record))
    print(f"verdicts of the two runs: {'the same' if not changed else 'DIFFERENT'}")
    print("\n".join(changed[:40]))
    if args.against:
        other = json.loads(Path(args.against).read_text())
        changed = differences(verdicts(other), verdicts(cold_record))
        print(f"verdicts against {args.against}: "
              f"{'the same' if not changed else f'{len(changed)} DIFFERENT'} "
              f"({len(verdicts(other))} there, {len(verdicts(cold_record))} here)")
        print("\n".join(changed[:40]))
    return 0 if ratio >= TARGET else 1


if __name__ == "__main__":
    sys.exit(main())
