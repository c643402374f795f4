#!/usr/bin/env python3
"""The article run against a bare import of the three frameworks, side by side.

Times, alternating over ``--rounds`` on this machine: ``python -c "import tensorflow,
torch, jax"`` (the floor any run that judges all three pays), ``convgrad run
cases/article`` with workers (the default) and with ``--in-process``. Prints the
medians and the ratios to the bare import. Target (issue 13): workers <= 1.15x.

    python benchmarks/startup.py [--rounds 5]
"""
from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import measure  # noqa: E402

TARGET = 1.15
BARE = [sys.executable, "-c", "import tensorflow, torch, jax"]


def timed(cmd: list[str]) -> float:
    run = measure.run(cmd)
    if run.returncode not in (0, 1):
        sys.exit(f"failed: {' '.join(cmd)}\n{run.stderr[-2000:]}")
    return run.wall_s


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--rounds", type=int, default=5)
    args = p.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        run = [sys.executable, "-m", "harness.frontends.cli", "run", "cases/article", "--no-jax-cache"]
        modes = {"bare import": BARE,
                 "article, workers": run + ["--out", f"{tmp}/w"],
                 "article, in-process": run + ["--in-process", "--out", f"{tmp}/i"]}
        times: dict[str, list[float]] = {m: [] for m in modes}
        for r in range(args.rounds):
            order = list(modes) if r % 2 == 0 else list(reversed(modes))
            for mode in order:
                times[mode].append(timed(modes[mode]))
    base = statistics.median(times["bare import"])
    for mode, values in times.items():
        median = statistics.median(values)
        print(f"{mode:22} median {median:6.2f} s  ratio {median / base:5.2f}  "
              f"({', '.join(f'{v:.2f}' for v in values)})")
    ratio = statistics.median(times["article, workers"]) / base
    print(f"article with workers / bare import = {ratio:.2f} (target <= {TARGET}: "
          f"{'met' if ratio <= TARGET else 'MISSED'})")
    return 0 if ratio <= TARGET else 1


if __name__ == "__main__":
    sys.exit(main())
