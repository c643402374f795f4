#!/usr/bin/env python3
"""One ResNet-sized case judged by all five impls, against what the frameworks cost alone.

The case (issue 13): conv2d 8x56x56x64 -> 64, 3x3, SAME, float32, grads y, dx
and dw, random values from a seed, written to a temporary case file. Measured
in this run, alternating over ``--rounds`` on this machine (medians):

* **imports**: ``python -c "import tensorflow, torch, jax"`` (what any run that
  judges all three frameworks pays, as ``benchmarks/startup.py`` measures it);
* **own compute**: each framework, in a fresh process of its own, making the
  very calls its impls make (``tf.backprop``, ``tf.tape``, ``torch.nn_grad``,
  ``torch.autograd``, ``jax.vjp``: same APIs, layouts and dtypes, results back
  to NumPy) on the case's values. The baseline is each impl's **first** call,
  one-time dispatch and compilation included (the harness pays exactly that:
  each case is one call), with the frameworks' default thread counts; the
  warm (second) call is printed beside it;
* **convgrad run** of the case file with workers (the default) and
  ``--in-process``, JAX's compilation cache off in both: wall time and peak
  memory (the whole process tree's resident size, sampled).

Prints ``ratio = run wall / (imports + own compute)`` (target, issue 13: at
most 2.0 for the default run) and the peak memory as a multiple of the case's
largest tensor (x, as float64: 12.3 MiB) and of a bare import's.

``--against CHECKOUT`` times the same two runs of another checkout of
convgrad too (say ``git worktree add /tmp/before main``), in the same rounds:
a change's effect, measured on the same machine at the same time.

    python benchmarks/resnet_case.py [--rounds 3] [--against CHECKOUT]
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import measure  # noqa: E402

TARGET = 2.0
CASE = """\
id: bench/resnet-3x3
description: a ResNet 3x3 layer (8x56x56x64 -> 64, SAME, float32), issue 13
op: conv2d
grads: [y, dx, dw]
dtype: float32
padding: SAME
batch: 8
in_channels: 64
out_channels: 64
input_size: [56, 56]
kernel_size: [3, 3]
x: {random: normal, seed: 1}
w: {random: normal, seed: 2}
dy: {random: normal, seed: 3}
"""
IMPORTS = [sys.executable, "-c", "import tensorflow, torch, jax"]
IMPLS = {"tensorflow": ("tf.backprop", "tf.tape"), "torch": ("torch.nn_grad", "torch.autograd"),
         "jax": ("jax.vjp",)}


# ------------------------------------------------------------ own compute (a child process)

def _inputs(case_file: str):
    """The case's x, w, dy as the harness materializes them (float64, NHWC / HWIO)."""
    from harness.case.loader import load_cases
    from harness.case.values import materialize
    [case] = load_cases([case_file])
    return materialize(case)


def _tensorflow(x, w, dy):
    from harness.backend.adapters.tf_adapter import quiet_tensorflow_import
    with quiet_tensorflow_import():
        import tensorflow as tf
    nn = tf.compat.v1.nn
    as_tf = lambda a: tf.cast(tf.constant(a), "float32")  # noqa: E731 - as the adapter
    args = dict(strides=[1, 1, 1, 1], padding="SAME", data_format="NHWC",
                dilations=[1, 1, 1, 1])

    def backprop():
        return (nn.conv2d(as_tf(x), as_tf(w), **args).numpy(),
                nn.conv2d_backprop_input(list(x.shape), as_tf(w), as_tf(dy), **args).numpy(),
                nn.conv2d_backprop_filter(as_tf(x), list(w.shape), as_tf(dy), **args).numpy())

    def tape():
        xt, wt, dyt = as_tf(x), as_tf(w), as_tf(dy)
        with tf.GradientTape(persistent=True) as g:
            g.watch([xt, wt])
            y = tf.nn.convolution(xt, wt, padding="SAME", strides=[1, 1], dilations=[1, 1],
                                  data_format="NHWC")
        return (y.numpy(), g.gradient(y, xt, output_gradients=dyt).numpy(),
                g.gradient(y, wt, output_gradients=dyt).numpy())
    return {"tf.backprop": backprop, "tf.tape": tape}


def _torch(x, w, dy):
    import numpy as np
    import torch
    F = torch.nn.functional
    nchw = lambda a: torch.from_numpy(np.ascontiguousarray(  # noqa: E731 - as the adapter
        a.transpose(0, 3, 1, 2), dtype=np.float32))
    oihw = lambda a: torch.from_numpy(np.ascontiguousarray(  # noqa: E731
        a.transpose(3, 2, 0, 1), dtype=np.float32))
    back = lambda t: t.detach().numpy().transpose(0, 2, 3, 1)  # noqa: E731
    args = dict(stride=(1, 1), dilation=(1, 1), groups=1, padding=(1, 1))

    def nn_grad():
        xt, wt, dyt = nchw(x), oihw(w), nchw(dy)
        return (back(F.conv2d(xt, wt, **args)),
                back(torch.nn.grad.conv2d_input(tuple(xt.shape), wt, dyt, **args)),
                torch.nn.grad.conv2d_weight(xt, tuple(wt.shape), dyt, **args).numpy())

    def autograd():
        xt, wt, dyt = (t.clone().requires_grad_(True) for t in (nchw(x), oihw(w), nchw(dy)))
        y = F.conv2d(xt, wt, stride=(1, 1), padding="same", dilation=(1, 1), groups=1)
        return (back(y), back(torch.autograd.grad(y, xt, dyt.detach(), retain_graph=True)[0]),
                torch.autograd.grad(y, wt, dyt.detach(), retain_graph=True)[0].numpy())
    return {"torch.nn_grad": nn_grad, "torch.autograd": autograd}


def _jax(x, w, dy):
    import jax
    import numpy as np
    jax.config.update("jax_enable_x64", True)   # as the adapter
    put = lambda a: jax.device_put(a.astype(np.float32))  # noqa: E731

    def vjp():
        forward = lambda a, b: jax.lax.conv_general_dilated(  # noqa: E731
            a, b, window_strides=(1, 1), padding="SAME", rhs_dilation=(1, 1),
            dimension_numbers=("NHWC", "HWIO", "NHWC"), feature_group_count=1)
        y, pullback = jax.vjp(forward, put(x), put(w))
        dx, dw = pullback(put(dy))
        return np.asarray(y), np.asarray(dx), np.asarray(dw)
    return {"jax.vjp": vjp}


def own_compute(framework: str, case_file: str) -> dict:
    """In this process: import ``framework``, then time each of its impls' first and second
    call (y, dx and dw, back to NumPy)."""
    inputs = _inputs(case_file)
    start = time.perf_counter()
    calls = {"tensorflow": _tensorflow, "torch": _torch, "jax": _jax}[framework](
        inputs.x, inputs.w, inputs.dy)
    out = {"import_s": time.perf_counter() - start}
    for name, call in calls.items():
        times = []
        for _ in range(2):
            start = time.perf_counter()
            call()
            times.append(time.perf_counter() - start)
        out[name] = {"first_s": times[0], "warm_s": times[1]}
    return out


# ------------------------------------------------------------ the benchmark

def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--rounds", type=int, default=3)
    p.add_argument("--against", metavar="CHECKOUT",
                   help="also time the runs of another checkout of convgrad (the code "
                        "before a change, say), alternating with this one's")
    p.add_argument("--own", help=argparse.SUPPRESS)   # child: FRAMEWORK:CASE_FILE
    args = p.parse_args()
    if args.own:   # the harness of this checkout, as `python -m harness.frontends.cli` run here finds it
        sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
        framework, case_file = args.own.split(":", 1)
        print(json.dumps(own_compute(framework, case_file)))
        return 0
    with tempfile.TemporaryDirectory() as tmp:
        case_file = Path(tmp, "resnet.yaml")
        case_file.write_text(CASE)
        run = [sys.executable, "-m", "harness.frontends.cli", "run", str(case_file), "--no-jax-cache"]
        modes = {"imports": IMPORTS,
                 **{f"own {fw}": [sys.executable, __file__, "--own", f"{fw}:{case_file}"]
                    for fw in IMPLS},
                 "run, workers": run + ["--out", f"{tmp}/w"],
                 "run, in-process": run + ["--in-process", "--out", f"{tmp}/i"]}
        where = {}
        if args.against:
            checkout = str(Path(args.against).resolve())
            for mode in ("run, workers", "run, in-process"):
                modes[f"{mode} (against)"] = modes[mode][:-1] + [modes[mode][-1] + "-against"]
                where[f"{mode} (against)"] = checkout
        results: dict[str, list[measure.Measured]] = {m: [] for m in modes}
        for r in range(args.rounds):
            for mode in (list(modes) if r % 2 == 0 else list(reversed(modes))):
                env = cwd = None
                if mode in where:
                    cwd, env = where[mode], {**os.environ, "PYTHONPATH": where[mode]}
                m = measure.run(modes[mode], env=env, cwd=cwd)
                if m.returncode not in (0, 1):
                    sys.exit(f"failed: {' '.join(modes[mode])}\n{m.stderr[-3000:]}")
                results[mode].append(m)
                print(f"round {r + 1}: {mode:26} {m.wall_s:6.2f} s  {measure.mib(m.peak_rss)}",
                      flush=True)
    return report(results)


def _median(values) -> float:
    return statistics.median(values)


def report(results: dict) -> int:
    imports = _median(m.wall_s for m in results["imports"])
    import_rss = _median(m.peak_rss for m in results["imports"])
    print(f"\nimports (tensorflow, torch, jax in one process): {imports:.2f} s, "
          f"{measure.mib(import_rss)}")
    own_first = own_warm = 0.0
    print("own compute, y + dx + dw back to NumPy, frameworks' default threads "
          "(median first call / warm call):")
    for fw, impls in IMPLS.items():
        reports = [json.loads(m.stdout) for m in results[f"own {fw}"]]
        for impl in impls:
            first = _median(r[impl]["first_s"] for r in reports)
            warm = _median(r[impl]["warm_s"] for r in reports)
            own_first, own_warm = own_first + first, own_warm + warm
            print(f"  {impl:15} {first:6.3f} s / {warm:6.3f} s")
    print(f"  {'all five':15} {own_first:6.3f} s / {own_warm:6.3f} s")
    baseline = imports + own_first
    largest = 8 * 56 * 56 * 64 * 8   # x (and dx, y, dy) as float64
    print(f"baseline = imports + own compute (first calls) = {baseline:.2f} s\n")
    ratio = None
    for mode in [m for m in results if m.startswith("run, ")]:
        wall = _median(m.wall_s for m in results[mode])
        peak = _median(m.peak_rss for m in results[mode])
        biggest = _median(m.largest_process for m in results[mode])
        r = wall / baseline
        ratio = r if ratio is None else ratio
        print(f"{mode:26} {wall:6.2f} s  ratio {r:5.2f}  peak {measure.mib(peak)} "
              f"({peak / largest:.0f}x the largest tensor, {peak / import_rss:.2f}x a bare "
              f"import; largest process {measure.mib(biggest)})  "
              f"[{', '.join(f'{m.wall_s:.2f}' for m in results[mode])}]")
    print(f"\nrun with workers / (imports + own compute) = {ratio:.2f} (target <= {TARGET}: "
          f"{'met' if ratio <= TARGET else 'MISSED'})")
    return 0 if ratio <= TARGET else 1


if __name__ == "__main__":
    sys.exit(main())
