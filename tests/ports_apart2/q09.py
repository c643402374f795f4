"""2-D conv on a memory-constrained target, written as row-wise 1-D convs.

Each output row is the sum over kernel rows of a 1-D conv of one (padded)
input row with one kernel row, which keeps the working set to a single row.
"""
import torch
import torch.nn.functional as F

from harness.api import impl


def rowwise_conv2d(x, w, case):
    (pt, pb), (pl, pr) = case.pads
    (sh, sw), (dh, dw) = case.strides, case.dilations
    xp = F.pad(x, (pl, pr, pt, pb))
    kh = w.shape[2]
    rows_out = xp.shape[2] - (kh - 1) * dh
    rows = []
    for r in range(rows_out):
        acc = None
        for i in range(kh):
            part = F.conv1d(xp[:, :, r + i * dh, :], w[:, :, i, :], stride=sw, dilation=dw,
                            groups=case.groups)
            acc = part if acc is None else acc + part
        rows.append(acc)
    return torch.stack(rows, dim=2)


IMPLS = [impl(rowwise_conv2d, framework="torch", name="apart2.q09", ops={"conv2d"})]
