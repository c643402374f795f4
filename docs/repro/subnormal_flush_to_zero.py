"""Standalone reproduction: TensorFlow and JAX flush subnormal float32 and bfloat16
results to zero on the CPU, and so does torch's bfloat16 convolution.

y = x * w with x = 1e-20 and w = 1e-19 (one product): the exact 1e-39 is subnormal
in float32 and bfloat16 alike (below 2**-126 = 1.18e-38) and representable in both.
IEEE arithmetic gives about 1e-39 (convgrad allows half the subnormal spacing of
error); flush-to-zero gives 0. Printed: the conv result and, for comparison, the
elementwise product in the same framework and dtype.

    python subnormal_flush_to_zero.py torch|tf|jax
"""
import sys

import numpy as np

x, w = 1e-20, 1e-19


def torch_y(dtype):
    import torch
    t = getattr(torch, dtype)
    X = torch.full((1, 1, 1, 1), x, dtype=torch.float32).to(t)
    W = torch.full((1, 1, 1, 1), w, dtype=torch.float32).to(t)
    mul = (X * W).float().item()
    return torch.nn.functional.conv2d(X, W).float().item(), mul, f"torch {torch.__version__}"


def tf_y(dtype):
    import tensorflow as tf
    t = getattr(tf, dtype)
    X = tf.cast(tf.fill((1, 1, 1, 1), x), t)
    W = tf.cast(tf.fill((1, 1, 1, 1), w), t)
    mul = float(tf.cast(X * W, tf.float32).numpy().item())
    return (float(tf.cast(tf.nn.conv2d(X, W, 1, "VALID"), tf.float32).numpy().item()), mul,
            f"tensorflow {tf.__version__}")


def jax_y(dtype):
    import jax
    import jax.numpy as jnp
    t = getattr(jnp, dtype)
    X = jnp.full((1, 1, 1, 1), x, t)
    W = jnp.full((1, 1, 1, 1), w, t)
    mul = float((X * W).astype(jnp.float32)[0, 0, 0, 0])
    y = jax.lax.conv_general_dilated(X, W, (1, 1), "VALID")
    return float(y.astype(jnp.float32)[0, 0, 0, 0]), mul, f"jax {jax.__version__}"


f = {"torch": torch_y, "tf": tf_y, "jax": jax_y}[sys.argv[1]]
for dtype in ("float32", "bfloat16"):
    conv, mul, version = f(dtype)
    print(f"{version:18s} {dtype:8s}: conv y = {conv!r:24s} elementwise x*w = {mul!r:24s}"
          f" (numpy float32: {float(np.float32(x) * np.float32(w))!r})")
