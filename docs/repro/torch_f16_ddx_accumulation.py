"""Standalone: torch's CPU half-precision second-order ddx (the gradient w.r.t. x of
<dx, gx> + <dw, gw>, which is dx(dy, w := gw): the conv's input gradient with gw as
the filter) adds the kernel taps in the 16-bit type, by every torch route: double
backward (torch.autograd.grad with create_graph), torch.func reverse-over-reverse,
torch.func forward-over-reverse, and torch.nn.grad.conv2d_input by hand.

An element that sums n products, accumulated in float32 and rounded once to the
16-bit type (unit roundoff u, underflow eta), is within
n * 2**-24 * M + u * |exact| + eta  of the exact value (M: the sum of |products|).
Printed: max |err| / that bound (> 1: not accumulated in float32), the share of
elements that differ from the same computation in float32 rounded once, and
whether all routes agree bitwise. A 1x1 kernel (one tap) gives float32 rounded
once; 3x3 and 5x5 do not; grouped (groups=2) and depthwise (groups=C, multiplier
2) convs likewise.

    python torch_f16_ddx_accumulation.py [float16|bfloat16]
    # bfloat16 without oneDNN, as on an AVX2-only CPU:
    ONEDNN_MAX_CPU_ISA=AVX2 ATEN_CPU_CAPABILITY=avx2 python torch_f16_ddx_accumulation.py bfloat16
"""
import sys

import numpy as np
import torch

F = torch.nn.functional
ROUNDING = {"float16": (2.0 ** -11, 2.0 ** -25), "bfloat16": (2.0 ** -8, 2.0 ** -134)}


def dx_reference(dy, w, x_shape, groups=1):
    """conv2d input gradient (stride 1, no padding, groups), float64: dx[n,c,i+a,j+b] +=
    sum_o dy[n,o,i,j] * w[o,c,a,b] over the output channels o of c's group."""
    dx = np.zeros(x_shape)
    _, _, h, wd = dy.shape
    og, cg = w.shape[0] // groups, x_shape[1] // groups
    for g in range(groups):
        for a in range(w.shape[2]):
            for b in range(w.shape[3]):
                dx[:, g * cg:(g + 1) * cg, a:a + h, b:b + wd] += np.einsum(
                    "nohw,oc->nchw", dy[:, g * og:(g + 1) * og], w[g * og:(g + 1) * og, :, a, b])
    return dx


def routes(x, w, dy, gx, gw, groups):
    conv = lambda x, w: F.conv2d(x, w, groups=groups)
    out = {}
    X, W, DY = (t.clone().requires_grad_(True) for t in (x, w, dy))
    dx, dw = torch.autograd.grad(conv(X, W), (X, W), DY, create_graph=True)
    out["double backward"] = torch.autograd.grad((dx, dw), X, (gx, gw))[0]

    def first(dy, x, w):
        return torch.func.vjp(conv, x, w)[1](dy)
    out["func rev-over-rev"] = torch.func.vjp(first, dy, x, w)[1]((gx, gw))[1]
    out["func fwd-over-rev"] = torch.func.jvp(lambda x, w: first(dy, x, w), (x, w),
                                              (gx, gw))[1][0]
    out["nn.grad.conv2d_input"] = torch.nn.grad.conv2d_input(x.shape, gw, dy, groups=groups)
    return out


def main(dtype_name="float16"):
    dtype = getattr(torch, dtype_name)
    u, eta = ROUNDING[dtype_name]
    print(f"{dtype_name}: torch {torch.__version__}, numpy {np.__version__}, "
          f"cpu capability {torch.backends.cpu.get_cpu_capability()}, oneDNN "
          f"float16 {torch.ops.mkldnn._is_mkldnn_fp16_supported()}, "
          f"bfloat16 {torch.ops.mkldnn._is_mkldnn_bf16_supported()}")
    rng = np.random.default_rng(0)
    worst = 0.0
    for kernel, groups, c, o in ((1, 1, 16, 8), (3, 1, 16, 8), (5, 1, 16, 8),
                                 (3, 2, 16, 8), (3, 16, 16, 32), (1, 16, 16, 32)):
        n, h = 1, 10
        shapes = dict(x=(n, c, h, h), w=(o, c // groups, kernel, kernel),
                      dy=(n, o, h - kernel + 1, h - kernel + 1))
        shapes.update(gx=shapes["x"], gw=shapes["w"])
        a = {k: torch.from_numpy(rng.standard_normal(s)).to(dtype) for k, s in shapes.items()}
        got = routes(*(a[k] for k in ("x", "w", "dy", "gx", "gw")), groups)
        f32 = torch.nn.grad.conv2d_input(shapes["x"], a["gw"].float(), a["dy"].float(),
                                         groups=groups).to(dtype)
        dy64, gw64 = a["dy"].double().numpy(), a["gw"].double().numpy()
        exact = dx_reference(dy64, gw64, shapes["x"], groups)
        magnitude = dx_reference(np.abs(dy64), np.abs(gw64), shapes["x"], groups)
        terms = dx_reference(np.ones_like(dy64), np.ones_like(gw64), shapes["x"], groups)
        bound = terms * 2.0 ** -24 * magnitude + u * np.abs(exact) + eta
        first = next(iter(got.values()))
        print(f"{kernel}x{kernel} kernel, {c} -> {o} channels, groups={groups}: "
              f"all routes bitwise equal: {all(torch.equal(first, v) for v in got.values())}")
        for name, value in got.items():
            ratio = float(np.max(np.abs(value.double().numpy() - exact) / bound))
            differs = float((value != f32).double().mean())
            worst = max(worst, ratio)
            print(f"  {name:22s} ddx max|err|/bound {ratio:7.2f}   "
                  f"share != float32 rounded once {differs:.2f}")
        ratio32 = float(np.max(np.abs(f32.double().numpy() - exact) / bound))
        print(f"  {'float32, rounded once':22s} ddx max|err|/bound {ratio32:7.2f}")
    return 1 if worst > 1 else 0


if __name__ == "__main__":
    sys.exit(main(*sys.argv[1:2]))
