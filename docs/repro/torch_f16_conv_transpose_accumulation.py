"""Standalone reproduction: torch's CPU float16 transposed convolution adds its kernel
taps together in float16 (y), and its weight gradient adds the batch items in
float16 (dw); the input gradient (a forward conv) is accumulated in float32.

An element that sums n products, accumulated in float32 and rounded once to
float16, is within  n * 2**-24 * M + 2**-11 * |exact| + 2**-25  of the exact
value (M: the sum of |products|). This prints max |err| / that bound (> 1: not
accumulated in float32), the share of elements that differ from the float32
computation rounded once, and whether y is bitwise torch.nn.grad.conv2d_input's
result (the same col2im path as conv2d's float16 dx, a known discrepancy).

A 1x1 kernel has one tap and batch 1 one item: those rows match float32
rounded once exactly; 5x5 taps and 3 batch items do not. The same shows for
grouped and depthwise F.conv2d's dx and dw (printed last: the share of
elements that differ from float32 rounded once). Exit 1 when it reproduces.

    python torch_f16_conv_transpose_accumulation.py
"""
import sys

import numpy as np
import torch

F = torch.nn.functional
C_IN, C_OUT, H = 38, 37, 8


def oracle(x, w, dy):
    """F.conv_transpose2d (stride 1, no padding) and its gradients, float64."""
    n, _, h, wd = x.shape
    k = w.shape[2]
    y = np.zeros((n, w.shape[1], h + k - 1, wd + k - 1))
    dx, dw = np.zeros(x.shape), np.zeros(w.shape)
    for a in range(k):
        for b in range(k):
            y[:, :, a:a + h, b:b + wd] += np.einsum("nohw,oi->nihw", x, w[:, :, a, b])
            window = dy[:, :, a:a + h, b:b + wd]
            dx += np.einsum("nihw,oi->nohw", window, w[:, :, a, b])
            dw[:, :, a, b] = np.einsum("nihw,nohw->oi", window, x)
    return {"y": y, "dx": dx, "dw": dw}


def main():
    print(f"torch {torch.__version__}, numpy {np.__version__}, CPU; max |err| / "
          "float32-accumulation bound, [share of elements != float32 rounded once]")
    rng = np.random.default_rng(0)
    worst = 0.0
    for kernel, batch in ((1, 1), (1, 3), (5, 1), (5, 3)):
        x = rng.standard_normal((batch, C_IN, H, H)).astype(np.float16)
        w = rng.standard_normal((C_IN, C_OUT, kernel, kernel)).astype(np.float16)
        dy = rng.standard_normal((batch, C_OUT, H + kernel - 1, H + kernel - 1)) \
            .astype(np.float16)
        got, f32 = {}, {}
        for dtype, out in ((np.float16, got), (np.float32, f32)):
            X = torch.from_numpy(x.astype(dtype)).requires_grad_(True)
            W = torch.from_numpy(w.astype(dtype)).requires_grad_(True)
            y = F.conv_transpose2d(X, W)
            dx, dw = torch.autograd.grad(y, (X, W), torch.from_numpy(dy.astype(dtype)))
            out.update(y=y.detach(), dx=dx, dw=dw)
        same_as_input_grad = torch.equal(
            got["y"], torch.nn.grad.conv2d_input(got["y"].shape, torch.from_numpy(w),
                                                 torch.from_numpy(x)))
        args = [a.astype(np.float64) for a in (x, w, dy)]
        exact = oracle(*args)
        magnitude = oracle(*(np.abs(a) for a in args))
        terms = oracle(*(np.ones_like(a) for a in args))
        cells = []
        for g in ("y", "dx", "dw"):
            value = got[g].double().numpy()
            bound = terms[g] * 2.0 ** -24 * magnitude[g] + 2.0 ** -11 * np.abs(exact[g]) \
                + 2.0 ** -25
            ratio = float(np.max(np.abs(value - exact[g]) / bound))
            differs = float(np.mean(got[g].numpy() != f32[g].half().numpy()))
            worst = max(worst, ratio)
            cells.append(f"{g} {ratio:6.3g} [{differs:.2f}]")
        print(f"  {kernel}x{kernel} kernel, batch {batch}:  " + "   ".join(cells)
              + f"   y bitwise conv2d_input: {same_as_input_grad}")
    print("grouped (groups=2) and depthwise (groups=C, multiplier 2) F.conv2d, float16: "
          "share of dx / dw elements != float32 rounded once")
    for groups, c_in, c_out in ((2, 38, 36), (38, 38, 76)):
        for kernel, batch in ((1, 1), (5, 3)):
            x = rng.standard_normal((batch, c_in, H, H)).astype(np.float16)
            w = rng.standard_normal((c_out, c_in // groups, kernel, kernel)).astype(np.float16)
            dy = rng.standard_normal((batch, c_out, H - kernel + 1, H - kernel + 1)) \
                .astype(np.float16)
            grads = []
            for dtype in (np.float16, np.float32):
                X = torch.from_numpy(x.astype(dtype)).requires_grad_(True)
                W = torch.from_numpy(w.astype(dtype)).requires_grad_(True)
                y = F.conv2d(X, W, groups=groups)
                grads.append(torch.autograd.grad(y, (X, W), torch.from_numpy(dy.astype(dtype))))
            differs = [float(np.mean(a.numpy() != b.half().numpy())) for a, b in zip(*grads)]
            print(f"  groups={groups:2d} {kernel}x{kernel} kernel, batch {batch}:  "
                  f"dx [{differs[0]:.2f}]   dw [{differs[1]:.2f}]")
    reproduced = worst > 1
    print("REPRODUCED: float16 sums not accumulated in float32" if reproduced
          else "not reproduced: every result within the float32-accumulation bound")
    return 1 if reproduced else 0


if __name__ == "__main__":
    sys.exit(main())
