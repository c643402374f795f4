#!/usr/bin/env python3
"""The smallest second-order error each checker catches (issue 21): convgrad's bound
against ``torch.autograd.gradgradcheck`` and ``jax.test_util.check_grads(order=2)``, on the
same float64 cases, with the same injected error.

The error: one mixed partial of the conv's backward, ``J[i, k] = d dx_i / d w_k``, scaled
by ``1 + delta``. In torch and JAX it is planted in a conv whose backward is its own
(``torch.autograd.Function`` / ``jax.custom_vjp``), as a term that is zero in value (so
the first-order grads stay right) and has the derivative ``delta * J[i, k]`` along
``w_k``: only second order sees it. gradgradcheck and check_grads are run as their users
run them (their default tolerances: atol 1e-5, rtol 1e-3; check_grads' float64 1e-5). In
convgrad the same error reaches ``ddw`` (the gradient of ``<dx, gx> + <dw, gw>`` with
respect to ``w``) as ``delta * J[i, k] * gx_i`` at ``k``, and the verdict is convgrad's
own comparison of those values with the bound. Each checker's smallest caught ``delta``
is found by bisection (in log scale, to 2 %), and printed with the ratio to convgrad's.

    python benchmarks/second_order_detection.py
"""
from __future__ import annotations

import sys
from pathlib import Path

import numpy as np

from harness.case import ops
from harness.case.loader import load_cases
from harness.case.values import materialize
from harness.verdict.expected import expected

sys.path.insert(0, str(Path(__file__).resolve().parent))
from detection import smallest  # noqa: E402  (the same bisection as the first-order one)

HIGH = 1e3   # a relative error of 1000x: beyond it nothing is being measured

CASES = ["tests/data/second_order.yaml"]
PICK = ("so/grouped-SAME", "so/grouped-VALID")


def _torch_conv(case):
    import torch   # the checker under comparison
    import torch.nn.functional as F   # noqa: N812
    pads = [p for pair in reversed(case.pads) for p in pair]
    geometry = dict(stride=case.strides, dilation=case.dilations, groups=case.conv_groups)

    def forward(x, w):
        return F.conv2d(F.pad(x, pads), w, **geometry)
    return torch, forward


def planted_torch(case, i, k, amount):
    torch, forward = _torch_conv(case)

    class Planted(torch.autograd.Function):
        @staticmethod
        def forward(ctx, x, w):
            ctx.save_for_backward(x, w)
            return forward(x, w)

        @staticmethod
        def backward(ctx, dy):
            x, w = ctx.saved_tensors
            with torch.enable_grad():   # the saved inputs: the graph reaches x and w
                y = forward(x, w)
                dx, dw = torch.autograd.grad(y, (x, w), dy, create_graph=True)
            # differentiable in (x, w, dy) through the graph above; the plant: zero in
            # value, d/dw_k = amount at dx_i
            wk = w.reshape(-1)[k]
            bump = torch.zeros_like(dx).reshape(-1)
            bump[i] = 1.0
            dx = dx + amount * (wk - wk.detach()) * bump.reshape(dx.shape)
            return dx, dw
    return torch, Planted.apply


def gradgradcheck_catches(case, t, i, k, delta, jik) -> bool:
    torch, fn = planted_torch(case, i, k, delta * jik)
    x = torch.tensor(t["x"], requires_grad=True)
    w = torch.tensor(t["w"], requires_grad=True)
    return not torch.autograd.gradgradcheck(fn, (x, w), raise_exception=False)


def check_grads_catches(case, t, i, k, delta, jik) -> bool:
    import jax   # the checker under comparison
    from jax import lax
    from jax.test_util import check_grads
    jax.config.update("jax_enable_x64", True)
    pads = [tuple(p) for p in case.pads]

    def forward(x, w):
        return lax.conv_general_dilated(x, w, case.strides, pads, rhs_dilation=case.dilations,
                                        feature_group_count=case.conv_groups)

    @jax.custom_vjp
    def conv(x, w):
        return forward(x, w)

    def fwd(x, w):
        return forward(x, w), (x, w)

    def bwd(res, dy):
        x, w = res
        _, pullback = jax.vjp(forward, x, w)
        dx, dw = pullback(dy)
        wk = w.reshape(-1)[k]
        bump = jax.numpy.zeros(dx.size).at[i].set(1.0).reshape(dx.shape)
        return dx + delta * jik * (wk - lax.stop_gradient(wk)) * bump, dw
    conv.defvjp(fwd, bwd)
    try:
        check_grads(conv, (t["x"], t["w"]), order=2, modes=("rev",))
    except AssertionError:
        return True
    return False


def convgrad_catches(case, exp, t, i, k, delta, jik) -> bool:
    ddw = ops.to_canonical(case, "ddw", exp["ddw"].values).copy()
    ddw.reshape(-1)[k] += delta * jik * t["gx"].reshape(-1)[i]
    return not exp["ddw"].compare(ops.from_canonical(case, "ddw", ddw)).passed


def main() -> int:
    rows = []
    for case in [c for c in load_cases(CASES) if c.id in PICK]:
        inputs = materialize(case)
        exp = expected(case, inputs)
        t = {n: ops.to_canonical(case, n, inputs.get(n)) for n in ops.TENSORS}
        k = int(np.argmax(np.abs(t["w"]).reshape(-1)))
        unit = np.zeros(t["w"].size)
        unit[k] = 1.0
        column = ops.evaluate(case, "dx", t["x"], unit.reshape(t["w"].shape), t["dy"])
        weight = np.abs(column.reshape(-1) * t["gx"].reshape(-1))
        i = int(np.argmax(weight))            # the entry that moves ddw_k the most
        jik = float(column.reshape(-1)[i])
        found = {
            "convgrad": smallest(lambda d: convgrad_catches(case, exp, t, i, k, d, jik),
                                 high=HIGH),
            "gradgradcheck": smallest(lambda d: gradgradcheck_catches(case, t, i, k, d, jik),
                                      low=1e-9, high=HIGH),
            "check_grads": smallest(lambda d: check_grads_catches(case, t, i, k, d, jik),
                                    low=1e-9, high=HIGH),
        }
        rows.append((case.id, found))
    print(f"{'case':22} {'convgrad':>11} {'gradgradcheck':>14} {'ratio':>10} "
          f"{'check_grads':>12} {'ratio':>10}")
    for cid, f in rows:
        c = f["convgrad"]
        print(f"{cid:22} {c:11.3g} {f['gradgradcheck']:14.3g} {f['gradgradcheck'] / c:10.3g} "
              f"{f['check_grads']:12.3g} {f['check_grads'] / c:10.3g}")
    print("\ndelta: the relative error planted in one mixed partial d dx_i / d w_k; ratio: "
          "how many times larger an error the checker needs than convgrad")
    return 0


if __name__ == "__main__":
    sys.exit(main())
