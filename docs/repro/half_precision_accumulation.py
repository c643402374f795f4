"""Standalone reproduction: in which dtype do the frameworks accumulate float16 and
bfloat16 convolution gradients on the CPU?

A gradient element is a sum of n products. Accumulated in float32 and rounded
once to the 16-bit type (what convgrad's bound model assumes, and what JAX
does), the result is within

    n * 2**-24 * M  +  u * |exact|  +  eta          (u: 2**-11 float16, 2**-8 bfloat16)

of the exact value (M: the sum of |products|; eta: half the subnormal spacing).
This prints max |err| / that bound per gradient: above 1 the framework did not
accumulate in float32. The same ratio against the bound for accumulation in the
16-bit type itself (u in place of 2**-24) is printed next to it.

Inputs: batch 3, 38 -> 37 channels, 14x14, 5x5 kernel, stride 1, standard
normal values rounded to the dtype; padding VALID, SAME, and the same 2-pixel
border given as explicit pads (which sends TensorFlow down another kernel).

    python half_precision_accumulation.py torch|tf|jax
"""
import sys

import ml_dtypes
import numpy as np
from numpy.lib.stride_tricks import sliding_window_view as windows

N, C, O, H, K, P = 3, 38, 37, 14, 5, 2        # NCHW / OIHW; P: the SAME / explicit border
U = {"float16": 2.0 ** -11, "bfloat16": 2.0 ** -8}
ETA = {"float16": 2.0 ** -25, "bfloat16": 2.0 ** -134}
NP_DTYPE = {"float16": np.float16, "bfloat16": ml_dtypes.bfloat16}


def inputs(dtype, pad):
    rng = np.random.default_rng(0)
    out = H + 2 * pad - K + 1
    shapes = [(N, C, H, H), (O, C, K, K), (N, O, out, out)]
    return [rng.standard_normal(s).astype(NP_DTYPE[dtype]).astype(np.float64) for s in shapes]


def oracle(x, w, dy, pad):
    """y, dx, dw in float64 (channels-first; ``pad`` zeros on every side)."""
    xp = np.pad(x, ((0, 0), (0, 0), (pad, pad), (pad, pad)))
    y = np.einsum("ncijab,ocab->noij", windows(xp, (K, K), axis=(2, 3)), w)
    dyp = np.pad(dy, ((0, 0), (0, 0), (K - 1, K - 1), (K - 1, K - 1)))
    dxp = np.einsum("noijab,ocab->ncij", windows(dyp, (K, K), axis=(2, 3)), w[:, :, ::-1, ::-1])
    dx = dxp[:, :, pad:pad + H, pad:pad + H]
    dw = np.einsum("ncabij,noij->ocab", windows(xp, dy.shape[2:], axis=(2, 3)), dy)
    return {"y": y, "dx": dx, "dw": dw}


def torch_grads(x, w, dy, dtype, padding):
    import torch
    t = getattr(torch, dtype)
    X, W, DY = (torch.from_numpy(a.astype(np.float32)).to(t) for a in (x, w, dy))
    pad = {"VALID": 0, "SAME": "same", "explicit": P}[padding]
    X.requires_grad_(True)
    W.requires_grad_(True)
    y = torch.nn.functional.conv2d(X, W, padding=pad)
    dx, dw = torch.autograd.grad(y, (X, W), DY)
    return {k: v.detach().float().double().numpy() for k, v in dict(y=y, dx=dx, dw=dw).items()}


def tf_grads(x, w, dy, dtype, padding):
    import tensorflow as tf
    t = getattr(tf, dtype)
    X = tf.cast(tf.constant(x.transpose(0, 2, 3, 1)), t)
    W = tf.cast(tf.constant(w.transpose(2, 3, 1, 0)), t)
    DY = tf.cast(tf.constant(dy.transpose(0, 2, 3, 1)), t)
    pad = {"VALID": "VALID", "SAME": "SAME",
           "explicit": [[0, 0], [P, P], [P, P], [0, 0]]}[padding]
    with tf.GradientTape() as tape:
        tape.watch([X, W])
        y = tf.nn.conv2d(X, W, 1, pad)
    dx, dw = tape.gradient(y, [X, W], output_gradients=DY)
    back = {"y": (0, 3, 1, 2), "dx": (0, 3, 1, 2), "dw": (3, 2, 0, 1)}
    return {k: tf.cast(v, tf.float64).numpy().transpose(back[k])
            for k, v in dict(y=y, dx=dx, dw=dw).items()}


def jax_grads(x, w, dy, dtype, padding):
    import jax
    import jax.numpy as jnp
    pad = {"VALID": "VALID", "SAME": "SAME", "explicit": ((P, P), (P, P))}[padding]
    conv = lambda a, b: jax.lax.conv_general_dilated(a, b, (1, 1), pad)  # noqa: E731
    X, W, DY = (jnp.asarray(a, getattr(jnp, dtype)) for a in (x, w, dy))
    y, vjp = jax.vjp(conv, X, W)
    dx, dw = vjp(DY)
    return {k: np.asarray(v.astype(jnp.float32), np.float64)
            for k, v in dict(y=y, dx=dx, dw=dw).items()}


def version(name):
    module = {"torch": "torch", "tf": "tensorflow", "jax": "jax"}[name]
    return f"{module} {__import__(module).__version__}"


def main(name):
    compute = {"torch": torch_grads, "tf": tf_grads, "jax": jax_grads}[name]
    print(version(name), "CPU; max |err| / bound with float32 accumulation "
          "(> 1: not float32)  [/ bound with 16-bit accumulation]")
    for dtype in ("float16", "bfloat16"):
        for padding in ("VALID", "SAME", "explicit"):
            pad = 0 if padding == "VALID" else P
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
                cells.append(f"{g} {np.max(err / f32):7.3g} [{np.max(err / own):.2g}]")
            print(f"  {dtype:8s} {padding:8s}  " + "   ".join(cells))


if __name__ == "__main__":
    main(sys.argv[1])
