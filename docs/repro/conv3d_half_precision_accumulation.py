"""Standalone reproduction (issue 22's sweep): in which dtype do TensorFlow and torch
accumulate float16 and bfloat16 *3-D* convolutions on the CPU?

docs/repro/half_precision_accumulation.py shows it for conv2d (TensorFlow's backprop,
torch's col2im and batch sums); benchmarks/sweep/ found the 3-D ops failing the same way.
A gradient element is a sum of n products. Accumulated in float32 and rounded once to the
16-bit type (convgrad's model, and what JAX does), the result is within

    n * 2**-24 * M  +  u * |exact|  +  eta          (u: 2**-11 float16, 2**-8 bfloat16)

of the exact value (M: the sum of |products|; eta: half the subnormal spacing). This
prints max |err| / that bound per gradient: above 1 the framework did not accumulate in
float32. The same ratio against the bound for accumulation in the 16-bit type itself (u
in place of 2**-24) is printed next to it, and the share of elements that differ from
the float32 result rounded once.

Inputs: batch 2, 16 -> 8 channels, 8x8x8, 3x3x3 kernel, stride 1, standard normal values
rounded to the dtype; VALID and SAME (a 1-element border), channels-last for TensorFlow
(NDHWC / DHWIO), channels-first for torch. Only NumPy, ml_dtypes and the framework.

    python conv3d_half_precision_accumulation.py tf|torch|jax        # exit 1: reproduced, 0: not
    TF_ENABLE_ONEDNN_OPTS=0 python conv3d_half_precision_accumulation.py tf      # TF's own bfloat16 kernels
    ONEDNN_MAX_CPU_ISA=AVX2 ATEN_CPU_CAPABILITY=avx2 python conv3d_half_precision_accumulation.py torch
"""
import os
import sys

import ml_dtypes
import numpy as np
from numpy.lib.stride_tricks import sliding_window_view as windows

N, C, O, S, K = 2, 16, 8, 8, 3        # NCDHW / OIDHW
U = {"float16": 2.0 ** -11, "bfloat16": 2.0 ** -8}
ETA = {"float16": 2.0 ** -25, "bfloat16": 2.0 ** -134}
NP_DTYPE = {"float16": np.float16, "bfloat16": ml_dtypes.bfloat16}
AXES = (2, 3, 4)


def inputs(dtype, pad):
    rng = np.random.default_rng(0)
    out = S + 2 * pad - K + 1
    shapes = [(N, C, S, S, S), (O, C, K, K, K), (N, O, out, out, out)]
    return [rng.standard_normal(s).astype(NP_DTYPE[dtype]).astype(np.float64) for s in shapes]


def oracle(x, w, dy, pad):
    """y, dx, dw in float64 (channels-first; ``pad`` zeros on every side)."""
    border = ((0, 0), (0, 0)) + ((pad, pad),) * 3
    xp = np.pad(x, border)
    y = np.einsum("ncijkabe,ocabe->noijk", windows(xp, (K,) * 3, axis=AXES), w)
    dyp = np.pad(dy, ((0, 0), (0, 0)) + ((K - 1, K - 1),) * 3)
    dxp = np.einsum("noijkabe,ocabe->ncijk", windows(dyp, (K,) * 3, axis=AXES),
                    w[:, :, ::-1, ::-1, ::-1])
    dx = dxp[:, :, pad:pad + S, pad:pad + S, pad:pad + S]
    dw = np.einsum("ncabeijk,noijk->ocabe", windows(xp, dy.shape[2:], axis=AXES), dy)
    return {"y": y, "dx": dx, "dw": dw}


def torch_grads(x, w, dy, dtype, padding):
    import torch   # the framework under test, imported only when asked for
    t = getattr(torch, dtype)
    X, W, DY = (torch.from_numpy(a.astype(np.float32)).to(t) for a in (x, w, dy))
    X.requires_grad_(True)
    W.requires_grad_(True)
    y = torch.nn.functional.conv3d(X, W, padding={"VALID": 0, "SAME": "same"}[padding])
    dx, dw = torch.autograd.grad(y, (X, W), DY)
    return {k: v.detach().float().double().numpy() for k, v in dict(y=y, dx=dx, dw=dw).items()}


def tf_grads(x, w, dy, dtype, padding):
    import tensorflow as tf   # the framework under test, imported only when asked for
    t = getattr(tf, dtype)
    X = tf.cast(tf.constant(x.transpose(0, 2, 3, 4, 1)), t)
    W = tf.cast(tf.constant(w.transpose(2, 3, 4, 1, 0)), t)
    DY = tf.cast(tf.constant(dy.transpose(0, 2, 3, 4, 1)), t)
    with tf.GradientTape() as tape:
        tape.watch([X, W])
        y = tf.nn.conv3d(X, W, [1, 1, 1, 1, 1], padding)
    dx, dw = tape.gradient(y, [X, W], output_gradients=DY)
    back = {"y": (0, 4, 1, 2, 3), "dx": (0, 4, 1, 2, 3), "dw": (4, 3, 0, 1, 2)}
    return {k: tf.cast(v, tf.float64).numpy().transpose(back[k])
            for k, v in dict(y=y, dx=dx, dw=dw).items()}


def jax_grads(x, w, dy, dtype, padding):
    import jax   # the framework under test, imported only when asked for
    import jax.numpy as jnp
    conv = lambda a, b: jax.lax.conv_general_dilated(a, b, (1, 1, 1), padding)  # noqa: E731
    X, W, DY = (jnp.asarray(a, getattr(jnp, dtype)) for a in (x, w, dy))
    y, vjp = jax.vjp(conv, X, W)
    dx, dw = vjp(DY)
    return {k: np.asarray(v.astype(jnp.float32), np.float64)
            for k, v in dict(y=y, dx=dx, dw=dw).items()}


def main(name):
    compute = {"torch": torch_grads, "tf": tf_grads, "jax": jax_grads}[name]
    module = {"torch": "torch", "tf": "tensorflow", "jax": "jax"}[name]
    variables = {k: os.environ[k] for k in ("TF_ENABLE_ONEDNN_OPTS", "ONEDNN_MAX_CPU_ISA",
                                            "ATEN_CPU_CAPABILITY") if k in os.environ}
    print(f"{module} {__import__(module).__version__} numpy {np.__version__} CPU {variables}")
    print("max |err| / bound with float32 accumulation (> 1: not float32)  "
          "[/ bound with 16-bit accumulation]  (share of elements != float32 rounded once)")
    worst = 0.0
    for dtype in ("float16", "bfloat16"):
        for padding in ("VALID", "SAME"):
            pad = 0 if padding == "VALID" else K // 2
            x, w, dy = inputs(dtype, pad)
            got = compute(x, w, dy, dtype, padding)
            exact = oracle(x, w, dy, pad)
            magnitude = oracle(abs(x), abs(w), abs(dy), pad)
            terms = oracle(np.ones_like(x), np.ones_like(w), np.ones_like(dy), pad)
            cells = []
            for g in ("y", "dx", "dw"):
                err = np.abs(got[g] - exact[g])
                tail = U[dtype] * np.abs(exact[g]) + ETA[dtype]
                f32 = terms[g] * 2.0 ** -24 * magnitude[g] + tail
                own = terms[g] * U[dtype] * magnitude[g] + tail
                once = exact[g].astype(np.float32).astype(NP_DTYPE[dtype]).astype(np.float64)
                differ = np.mean(got[g] != once)
                worst = max(worst, float(np.max(err / f32)))
                cells.append(f"{g} {np.max(err / f32):7.3g} [{np.max(err / own):.2g}] "
                             f"({differ:.0%})")
            print(f"  {dtype:8s} {padding:6s}  " + "   ".join(cells))
    print("reproduced: not accumulated in float32" if worst > 1 else
          "not reproduced: every result within the float32-accumulation bound")
    return 1 if worst > 1 else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1]))
