#!/usr/bin/env python3
"""The bundled suite run twice with a fresh JAX compilation cache: cold, then warm.

Runs ``convgrad run CASES --jax-cache DIR`` twice in a row (workers, the
default ``--jobs``), ``DIR`` a new, empty folder: the first run compiles every
JAX shape and fills it, the second finds them there. Each run is a fresh
process (imports included). Prints, for each run, the wall time, the peak
memory of the process tree (sampled) and two baselines measured in this run of
the script, right before that run:

* the frameworks' own compute: the sum over the record's verdicts of
  ``compute_s`` (each impl's framework calls for a grad, timed in the worker;
  docs/record.md), the CPU work the run exists for; ``wall / own`` is what the
  harness costs around it (imports, IPC, the oracle, judging, the report), and
  ``wall / (own / jobs)`` the same with the jobs' parallelism taken out;
* a bare ``import tensorflow, torch, jax`` in a fresh process (the floor any
  run that judges the three frameworks pays).

Then cold / warm (target, issue 13: at least 2.0 where the JAX cache applies)
and whether both runs gave the same verdicts. ``--before`` adds a third run,
warm, with ``CONVGRAD_ORACLE_THREADS=0`` (the oracle on BLAS's own threads, as
before issue 24): the suite's cost of the oracle's thread budget, as a ratio.

``--against RECORD`` also compares the verdicts (status per case, subject and
grad; timings ignored) with another run's ``results.json``: a change to the
harness must leave them as they were.

    python benchmarks/suite.py                          # cases/, 5 + 3 minutes on 2 cores
    python benchmarks/suite.py --before                 # and the oracle as before: + 3 min
    python benchmarks/suite.py --quick                  # cases/peers (40 cases), 1 minute
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import measure  # noqa: E402

TARGET = 2.0
BARE = [sys.executable, "-c", "import tensorflow, torch, jax"]
ORACLE_BEFORE = {"CONVGRAD_ORACLE_THREADS": "0"}   # harness.numerics.threads.ENV, LEGACY


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


def bare_import() -> float:
    m = measure.run(BARE)
    if m.returncode != 0:
        sys.exit(f"failed: {' '.join(BARE)}\n{m.stderr[-3000:]}")
    return m.wall_s


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--cases", default="cases", help="case files or a folder (default: cases)")
    p.add_argument("--quick", action="store_true", help="cases/peers (40 cases) only")
    p.add_argument("--jobs", type=int, help="convgrad run --jobs (default: its own, the cores)")
    p.add_argument("--before", action="store_true",
                   help="a third run, warm, with the oracle as before issue 24")
    p.add_argument("--against", metavar="RECORD", help="compare the verdicts with this record")
    p.add_argument("--keep", metavar="DIR", help="keep the runs' outputs in DIR/cold, DIR/warm")
    args = p.parse_args()
    cases = "cases/peers" if args.quick else args.cases
    jobs = args.jobs or os.cpu_count() or 1
    runs = {}
    names = ["cold", "warm"] + (["warm, oracle before"] if args.before else [])
    with tempfile.TemporaryDirectory() as tmp:
        cache, out = Path(tmp, "jax-cache"), Path(args.keep or tmp)
        for name in names:
            imports = bare_import()
            folder = out / name.replace(", ", "-").replace(" ", "-")
            cmd = [sys.executable, "-m", "harness.frontends.cli", "run", cases,
                   "--jax-cache", str(cache), "--out", str(folder)]
            cmd += ["--jobs", str(args.jobs)] if args.jobs else []
            env = {**os.environ, **ORACLE_BEFORE} if name.endswith("before") else None
            m = measure.run(cmd, env=env)
            if m.returncode not in (0, 1):
                sys.exit(f"failed: {' '.join(cmd)}\n{m.stderr[-3000:]}")
            record = json.loads((folder / "results.json").read_text())
            own = sum(v.get("compute_s") or 0.0 for v in record["verdicts"])
            backend = sum(v.get("seconds") or 0.0 for v in record["verdicts"])
            runs[name] = (m, record, own, imports)
            print(f"{name}: {m.wall_s:7.1f} s wall, own compute {own:6.1f} s (backend "
                  f"{backend:.1f} s), bare imports {imports:.1f} s, peak "
                  f"{measure.mib(m.peak_rss)} (largest process "
                  f"{measure.mib(m.largest_process)}); {len(record['cases'])} cases, "
                  f"{len(record['verdicts'])} verdicts", flush=True)
    print(f"\ncases: {cases}; {os.cpu_count()} cores, jobs {jobs}; baselines measured right "
          "before each run")
    print(f"{'run':22} {'wall s':>7} {'own s':>7} {'wall/own':>9} {'wall/(own/jobs)':>16} "
          f"{'imports s':>10} {'wall/imports':>13} {'peak':>10}")
    for name, (m, _, own, imports) in runs.items():
        own = max(own, 1e-9)
        print(f"{name:22} {m.wall_s:7.1f} {own:7.1f} {m.wall_s / own:9.2f} "
              f"{m.wall_s / (own / jobs):16.2f} {imports:10.1f} {m.wall_s / imports:13.2f} "
              f"{measure.mib(m.peak_rss):>10}")
    (cold, cold_record, *_), (warm, warm_record, *_) = runs["cold"], runs["warm"]
    ratio = cold.wall_s / warm.wall_s
    print(f"\nfirst (cold JAX cache) / second (warm) = {ratio:.2f} (target >= {TARGET}: "
          f"{'met' if ratio >= TARGET else 'MISSED'})")
    if args.before:
        before = runs["warm, oracle before"][0]
        print(f"warm, oracle's thread budget / oracle as before (CONVGRAD_ORACLE_THREADS=0) = "
              f"{warm.wall_s / before.wall_s:.2f} (below 1: the budget saves time)")
    changed = differences(verdicts(cold_record), verdicts(warm_record))
    print(f"verdicts of the two runs: {'the same' if not changed else 'DIFFERENT'}")
    print("\n".join(changed[:40]))
    if args.before:
        changed = differences(verdicts(warm_record), verdicts(runs["warm, oracle before"][1]))
        print(f"verdicts with the oracle as before: {'the same' if not changed else 'DIFFERENT'}")
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
