"""A port of a Keras DepthwiseConv2D or Conv2DTranspose can be audited (issue 20): with
``ops=`` a port's function receives those ops' filters in its framework's own layout
(torch's grouped ``(C * M, 1, kh, kw)`` and ``(in, out, kh, kw)``, TF's and JAX's
``HWCM``), and a correct port of each passes every verdict. Found by a porter: the
``HWCM`` filter was converted as if it were ``HWIO`` (a traceback in every verdict)."""
from __future__ import annotations

import pytest

from harness.api import impl
from harness.case.loader import load_cases
from harness.session import runner
from harness.verdict.status import Status
from tests.conftest import FRAMEWORKS

pytestmark = pytest.mark.frameworks

DEPTHWISE = [c for c in load_cases(["cases/conformance/depthwise.yaml"])
             if c.rank == 2 and c.dtype in ("float32", "float64")][::3]
TRANSPOSED = [c for c in load_cases(["cases/conformance/transpose.yaml"])
              if c.op == "conv_transpose2d" and c.groups == 1
              and all(b >= 0 for b, _ in c.pads) and c.dtype in ("float32", "float64")]


def torch_depthwise(x, w, case):
    import torch.nn.functional as F   # torch only in the tests that use it
    pads = [p for pair in reversed(case.pads) for p in pair]
    assert w.shape[1] == 1 and w.shape[0] % x.shape[1] == 0, w.shape   # (C * M, 1, kh, kw)
    return F.conv2d(F.pad(x, pads), w, stride=case.strides, dilation=case.dilations,
                    groups=x.shape[1])


def jax_depthwise(x, w, case):
    from jax import lax   # jax only in the tests that use it
    h, wd, c, m = w.shape                                               # HWCM
    return lax.conv_general_dilated(x, w.reshape(h, wd, 1, c * m), case.strides,
                                    [tuple(p) for p in case.pads], rhs_dilation=case.dilations,
                                    dimension_numbers=("NHWC", "HWIO", "NHWC"),
                                    feature_group_count=c)


def torch_transposed(x, w, case):
    """The full transposed conv (``w`` is torch's ``(in, out, kh, kw)``), then y's window
    of it: ``y[j] = full[j + before]``, zeros past its end (output_padding)."""
    import torch.nn.functional as F   # torch only in the tests that use it
    from harness.backend.adapters.torch_adapter import transposed_geometry
    geometry = transposed_geometry(case)
    full = F.conv_transpose2d(x, w, stride=case.strides, dilation=case.dilations)
    extra = [max(0, g["before"] + g["size"] - n) for g, n in zip(geometry, full.shape[2:])]
    full = F.pad(full, [p for e in reversed(extra) for p in (0, e)])
    return full[(slice(None), slice(None),
                 *(slice(g["before"], g["before"] + g["size"]) for g in geometry))]


def _judge(port, cases):
    results = runner.Session(runner.probe([port])).judge(cases)
    verdicts = [v for r in results for v in r.verdicts]
    assert verdicts
    return [(v.case, v.grad, str(v.status), v.message.splitlines()[:2]) for v in verdicts
            if v.status != Status.PASS]


@pytest.mark.skipif("torch" not in FRAMEWORKS, reason="torch not under test")
def test_a_torch_depthwise_port_gets_the_grouped_weight_and_passes():
    port = impl(torch_depthwise, framework="torch", name="port.dw", ops={"depthwise_conv2d"})
    assert _judge(port, DEPTHWISE) == []


@pytest.mark.skipif("jax" not in FRAMEWORKS, reason="jax not under test")
def test_a_jax_depthwise_port_gets_hwcm_and_passes():
    port = impl(jax_depthwise, framework="jax", name="port.dw_jax", ops={"depthwise_conv2d"})
    assert _judge(port, DEPTHWISE) == []


@pytest.mark.skipif("torch" not in FRAMEWORKS, reason="torch not under test")
def test_a_torch_transposed_port_gets_its_in_out_weight_and_passes():
    port = impl(torch_transposed, framework="torch", name="port.tr", ops={"conv_transpose2d"})
    assert _judge(port, TRANSPOSED) == []
