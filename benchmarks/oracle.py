#!/usr/bin/env python3
"""The oracle against the float64 GEMM of the same shape, measured in the same process.

For each layer shape the reference is the im2col product ``(N*out, C*k) @ (C*k, O)``
on ready-made operands (what a convolution costs at best on this machine); the
oracle's ``y``, ``dx`` and ``dw`` (everything included: layout, padding, blocks)
are timed against it over ``--repeat`` alternating rounds. Each round times a
GEMM right before each grad, and the figure is the median of those paired
ratios (this machine's speed drifts by 2x from minute to minute; best-of times
are printed too). Also: the bound's product counts
(from the geometry) against the oracle on ones, and the oracle's peak memory
(tracemalloc) as a multiple of its largest operand. Target (issue 13):
oracle/GEMM >= 0.8 for y, dx and dw on the ResNet layer.

This one reuses the same arrays round after round, on a quiet machine: the
oracle's speed per layer shape. What a user gets (fresh inputs every round,
the worst round, framework workers computing beside it, the oracle before and
after its thread budget) is ``benchmarks/oracle_load.py``. ``--threads N``
sets the oracle's budget (default: every core, as when no worker computes;
``0``: BLAS's own threads, as before issue 24).

    python benchmarks/oracle.py [--repeat 5] [--layers resnet3x3,conv1x1,stem7x7] [--threads N]
"""
from __future__ import annotations

import argparse
import math
import statistics
import sys
import time
import tracemalloc
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from harness.numerics import oracle, oracle_gemm, threads  # noqa: E402

LAYERS = {   # (N, C, H, W), (O, k, k), stride, SAME pads
    "resnet3x3": ((8, 64, 56, 56), (64, 3, 3), 1, [(1, 1), (1, 1)]),
    "conv1x1": ((8, 256, 28, 28), (256, 1, 1), 1, [(0, 0), (0, 0)]),
    "stem7x7": ((4, 3, 224, 224), (64, 7, 7), 2, [(2, 3), (2, 3)]),
}


def best(fn, repeat: int) -> float:
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return min(times)


def layer(name: str, repeat: int) -> None:
    (n, c, h, w), (o, kh, kw), s, pads = LAYERS[name]
    rng = np.random.default_rng(0)
    x, wt = rng.standard_normal((n, c, h, w)), rng.standard_normal((o, c, kh, kw))
    geometry = dict(strides=(s, s), pads=pads, dilations=(1, 1))
    y = oracle.conv(x, wt, **geometry)
    dy = rng.standard_normal(y.shape)
    rows, k = math.prod(y.shape[:1] + y.shape[2:]), c * kh * kw
    a, b = rng.standard_normal((rows, k)), rng.standard_normal((k, o))
    runs = {"gemm": lambda: a @ b,
            "y": lambda: oracle.conv(x, wt, **geometry),
            "dx": lambda: oracle.conv_dx(dy, wt, input_shape=x.shape, **geometry),
            "dw": lambda: oracle.conv_dw(x, dy, filter_shape=wt.shape, **geometry),
            "n (counts)": lambda: np.asarray(oracle.terms("y", x.shape, wt.shape, **geometry)),
            "n (oracle on ones)": lambda: oracle.conv(np.ones_like(x), np.ones_like(wt),
                                                      **geometry)}
    times = {key: math.inf for key in runs}
    paired = {key: [] for key in ("y", "dx", "dw")}
    for _ in range(repeat):            # alternate, so drift on a shared machine hits all
        for key, fn in runs.items():
            elapsed = best(fn, 1)
            times[key] = min(times[key], elapsed)
            if key in paired:          # against a GEMM timed just before it
                paired[key].append(best(runs["gemm"], 1) / elapsed)
    largest = max(x.nbytes, dy.nbytes, y.nbytes)
    blocks = max(threads.current(), 1)          # a block buffer per thread
    block = oracle_gemm.BLOCK * 8 * blocks
    path = ("im2col GEMMs, columns clipped from x" if c >= oracle_gemm.CLIP_CHANNELS
            else "im2col GEMMs, columns from a padded copy")
    peaks = {}
    for key in ("y", "dx", "dw"):
        tracemalloc.start()
        runs[key]()
        peaks[key] = tracemalloc.get_traced_memory()[1] / largest
        tracemalloc.stop()
    print(f"{name}: x {x.shape}, w {wt.shape}, stride {s}; GEMM ({rows} x {k}) @ ({k} x {o}) "
          f"best {times['gemm'] * 1e3:.1f} ms; oracle path: {path}, {threads.current()} "
          f"thread(s); memory target 2 x the largest operand + {blocks} block(s) of "
          f"{oracle_gemm.BLOCK * 8 / 2**20:.0f} MiB = {2 + block / largest:.2f} x")
    for key in ("y", "dx", "dw"):
        ratios = sorted(paired[key])
        print(f"  {key:2}: {times[key] * 1e3:8.1f} ms   GEMM/oracle = {statistics.median(ratios):.2f} "
              f"(median of {len(ratios)} paired rounds, {ratios[0]:.2f}-{ratios[-1]:.2f}; best "
              f"times {times['gemm'] / times[key]:.2f})   peak memory {peaks[key]:.2f} x the "
              f"largest operand")
    print(f"  bound's n: counts {times['n (counts)'] * 1e3:.2f} ms vs the oracle on ones "
          f"{times['n (oracle on ones)'] * 1e3:.1f} ms")


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--repeat", type=int, default=5)
    p.add_argument("--layers", default=",".join(LAYERS))
    p.add_argument("--threads", type=int, help="the oracle's thread budget (default: the cores)")
    args = p.parse_args()
    with threads.budget(args.threads):
        for name in args.layers.split(","):
            layer(name, args.repeat)


if __name__ == "__main__":
    main()
