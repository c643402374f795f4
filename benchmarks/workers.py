#!/usr/bin/env python3
"""Wall time of a suite run in-process (serial) versus in worker processes (--jobs N).

Both runs happen here, back to back, alternating the order over --rounds, so
the ratio compares like with like on a shared, noisy machine. The target of
the isolation issue: workers may not be more than 10 % slower than
in-process, i.e. ratio (workers / in-process) <= 1.10. Exit status 1 if the
median ratio misses the target.

    python benchmarks/workers.py                    # conformance suite, --jobs 2, 1 round
    python benchmarks/workers.py --rounds 3 --cases cases/article
"""
from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import measure  # noqa: E402

TARGET = 1.10


def timed_run(extra: list[str], cases: str) -> float:
    with tempfile.TemporaryDirectory() as out:
        cmd = [sys.executable, "-m", "harness.frontends.cli", "run", cases, "--out", out, *extra]
        run = measure.run(cmd)
    if run.returncode not in (0, 1):
        sys.exit(f"benchmark run failed ({' '.join(cmd)}):\n{run.stderr[-2000:]}")
    return run.wall_s


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--cases", default="cases/conformance")
    p.add_argument("--jobs", type=int, default=2)
    p.add_argument("--rounds", type=int, default=1)
    args = p.parse_args()
    modes = {"in-process": ["--in-process"], f"workers --jobs {args.jobs}":
             ["--jobs", str(args.jobs)]}
    times: dict[str, list[float]] = {m: [] for m in modes}
    for r in range(args.rounds):
        order = list(modes) if r % 2 == 0 else list(reversed(modes))
        for mode in order:
            times[mode].append(timed_run(modes[mode], args.cases))
            print(f"round {r + 1}: {mode:18} {times[mode][-1]:7.1f} s", flush=True)
    base, workers = (statistics.median(t) for t in times.values())
    ratio = workers / base
    print(f"\ncases: {args.cases}  (machine: {Path('/proc/cpuinfo').exists() and 'linux'}, "
          f"rounds: {args.rounds})")
    print(f"in-process serial : {base:7.1f} s   (baseline, 1.00)")
    print(f"workers --jobs {args.jobs}  : {workers:7.1f} s   ratio {ratio:.2f} "
          f"(target <= {TARGET:.2f}: {'met' if ratio <= TARGET else 'MISSED'})")
    return 0 if ratio <= TARGET else 1


if __name__ == "__main__":
    sys.exit(main())
