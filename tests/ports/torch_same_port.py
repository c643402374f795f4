"""A torch port of TensorFlow's SAME convolution, as teams write it: symmetric padding.

``symmetric`` is the classic wrong port (``padding=k // 2`` on every side);
``fixed`` applies the pads the diagnosis prints, read from FIXES (filled by the test).
"""
import torch.nn.functional as F

from harness.api import impl

FIXES: dict = {}   # case id -> the F.pad tuple the diagnosis printed


def symmetric(x, w, case):
    pads = tuple(k // 2 for k in w.shape[2:])
    return F.conv2d(x, w, stride=case.strides, padding=pads, dilation=case.dilations)


def fixed(x, w, case):
    return F.conv2d(F.pad(x, FIXES[case.id]), w, stride=case.strides, padding=0,
                    dilation=case.dilations)


IMPLS = [impl(symmetric, framework="torch", name="port.symmetric"),
         impl(fixed, framework="torch", name="port.fixed")]
