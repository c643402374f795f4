"""im2col conv2d (F.unfold + einsum), the port used for the quantised backend
where the kernels are applied as one matmul per group."""
import torch
import torch.nn.functional as F

from harness.api import impl


def im2col_conv2d(x, w, case):
    (pt, pb), (pl, pr) = case.pads
    n = x.shape[0]
    out_ch, cin_g, kh, kw = w.shape
    g = case.groups
    xp = F.pad(x, (pl, pr, pt, pb))
    cols = F.unfold(xp, kernel_size=(kh, kw), dilation=tuple(case.dilations),
                    stride=tuple(case.strides))                      # N, C*kh*kw, L
    oh = (xp.shape[2] - (kh - 1) * case.dilations[0] - 1) // case.strides[0] + 1
    ow = (xp.shape[3] - (kw - 1) * case.dilations[1] - 1) // case.strides[1] + 1
    # a convolution slides the kernel rotated by 180 degrees
    kernel = torch.flip(w, dims=(2, 3))
    cols = cols.view(n, g, cin_g * kh * kw, oh * ow)
    kmat = kernel.reshape(g, out_ch // g, cin_g * kh * kw)
    y = torch.einsum("gok,ngkl->ngol", kmat, cols)
    return y.reshape(n, out_ch, oh, ow)


IMPLS = [impl(im2col_conv2d, framework="torch", name="apart2.q14", ops={"conv2d"})]
