"""The op registry: one place per op that says what it is and how the oracle computes it.

Every op is a convolution seen from one side:

* ``conv{1,2,3}d``: the (grouped) cross-correlation ``y = conv(x, w)``;
* ``depthwise_conv{1,2}d``: a grouped conv with one group per input channel and
  a channel multiplier ``M`` (output channel ``c * M + m``), its filter laid out
  as TensorFlow's ``HWCM`` (letters ``C`` and ``M``);
* ``conv_transpose{1,2,3}d``: the transposed convolution
  ``y = conv_transpose(x, w)``, which *is* the input gradient of a forward conv:
  its ``y`` is that conv's ``dx`` with ``x`` in the role of ``dy``. Its filter is
  the forward conv's filter (``O`` = the transposed conv's input channels, ``I``
  = its output channels per group), its padding the forward conv's padding over
  the transposed conv's *output* (so ``SAME`` puts the odd pad after, and an
  explicit ``[before, after]`` crops the full output as ONNX and torch do).

Adding an op touches this registry, the oracle and the adapters that implement
it; nothing else asks which op a case is beyond :attr:`Op.kind`.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from harness.numerics import layouts, oracle

GRADS = ("y", "dx", "dw")
# Second order and forward mode (every op is bilinear in (x, w): y = B(x, w)):
#   jvp = B(tx, w) + B(x, tw)              forward mode along the tangents (tx, tw)
#   ddy = B(gx, w) + B(x, gw)              d<dx, gx> + <dw, gw> / d dy
#   ddx = dx(dy, w := gw)                  ... / d x
#   ddw = dw(x := gx, dy)                  ... / d w
# ddx and ddw are also forward-over-reverse: the jvp of (dx, dw) along (gx, gw).
SECOND_ORDER = ("jvp", "ddy", "ddx", "ddw")
ALL_GRADS = GRADS + SECOND_ORDER
TENSORS = ("x", "w", "dy", "tx", "tw", "gx", "gw")
# the tensor each grad has the shape and layout of
SHAPE_OF = {"y": "dy", "dx": "x", "dw": "w", "jvp": "dy", "ddy": "dy", "ddx": "x", "ddw": "w",
            "tx": "x", "tw": "w", "gx": "x", "gw": "w"}
# a second-order grad as a sum of first-order ones with some tensors swapped in
SECOND_ORDER_TERMS = {
    "jvp": (("y", {"x": "tx"}), ("y", {"w": "tw"})),
    "ddy": (("y", {"x": "gx"}), ("y", {"w": "gw"})),
    "ddx": (("dx", {"w": "gw"}),),
    "ddw": (("dw", {"x": "gx"}),),
}
KINDS = ("conv", "depthwise", "conv_transpose")


def base_tensor(name: str) -> str:
    """``x``, ``w`` or ``dy``: the tensor ``name`` (a grad or a tangent) is shaped and laid
    out as."""
    return SHAPE_OF.get(name, name)


def tensors_needed(grad: str) -> tuple[str, ...]:
    """The tensors a grad's value depends on."""
    first = {"y": ("x", "w"), "dx": ("w", "dy"), "dw": ("x", "dy")}
    if grad in first:
        return first[grad]
    out: list[str] = []
    for base, swap in SECOND_ORDER_TERMS[grad]:
        out += [swap.get(t, t) for t in first[base] if swap.get(t, t) not in out]
    return tuple(out)


@dataclass(frozen=True)
class Op:
    name: str
    kind: str           # conv | depthwise | conv_transpose
    rank: int           # spatial dims
    grads: tuple[str, ...] = ALL_GRADS

    @property
    def markers(self) -> tuple[str, ...]:
        return (f"op_{self.name}", f"kind_{self.kind}")

    @property
    def filter_letters(self) -> str:
        """The non-spatial letters of its filter layouts."""
        return "CM" if self.kind == "depthwise" else "OI"


def _ops() -> dict[str, Op]:
    ops = [Op(f"conv{rank}d", "conv", rank) for rank in (1, 2, 3)]
    ops += [Op(f"depthwise_conv{rank}d", "depthwise", rank) for rank in (1, 2)]
    ops += [Op(f"conv_transpose{rank}d", "conv_transpose", rank) for rank in (1, 2, 3)]
    return {op.name: op for op in ops}


OPS: dict[str, Op] = _ops()


def get(name: str) -> Op:
    return OPS[name]


# --------------------------------------------------------------- tensors of a case

def canonical_layout(case, tensor: str) -> str:
    """The channels-first layout a tensor of ``case`` takes for the oracle (``NCHW``, or the
    filter's ``OIHW``; a depthwise filter's ``CMHW`` before it is reshaped)."""
    if base_tensor(tensor) == "w":
        if case.kind == "depthwise":
            return layouts.depthwise_canonical(case.rank)
        return layouts.canonical_filter(case.rank)
    return layouts.canonical_data(case.rank)


def to_canonical(case, tensor: str, a: np.ndarray) -> np.ndarray:
    """``a`` (laid out as the case says) channels-first, a depthwise filter as the grouped
    conv's ``(C * M, 1, *kernel)`` (output channel ``c * M + m``)."""
    a = layouts.convert(a, case.layout_of(tensor), canonical_layout(case, tensor))
    if base_tensor(tensor) == "w" and case.kind == "depthwise":
        c, m, *kernel = a.shape
        a = a.reshape(c * m, 1, *kernel)
    return a


def from_canonical(case, tensor: str, a: np.ndarray) -> np.ndarray:
    """Inverse of :func:`to_canonical`."""
    if base_tensor(tensor) == "w" and case.kind == "depthwise":
        c, m, *kernel = layouts.shape_in(case.filter_shape, case.filter_format,
                                         layouts.depthwise_canonical(case.rank))
        a = a.reshape(c, m, *kernel)
    return layouts.convert(a, canonical_layout(case, tensor), case.layout_of(tensor))


def evaluate(case, grad: str, x: np.ndarray, w: np.ndarray, dy: np.ndarray, *,
             strides=None, pads=None, dilations=None, groups=None) -> np.ndarray:
    """One grad of ``case`` from the float64 oracle, all tensors channels-first.

    ``conv`` / ``depthwise``: ``y = conv(x, w)``, ``dx = conv_dx(dy, w)``,
    ``dw = conv_dw(x, dy)`` (:mod:`harness.numerics.oracle`, with the case's groups).
    ``conv_transpose`` is the adjoint of the forward conv ``A`` over y's shape
    (``A(u) = conv(u, w)``): ``y = A^T x = conv_dx(x, w)``, ``dx = A dy =
    conv(dy, w)``, and ``dw[o, i, k] = sum_{n,p} dy_pad[n, i, s*p + d*k] * x[n, o, p]
    = conv_dw(dy, x)``. Geometry may be overridden (planted bugs do).
    """
    geometry = dict(strides=case.strides if strides is None else strides,
                    pads=case.pads if pads is None else pads,
                    dilations=case.dilations if dilations is None else dilations,
                    groups=case.conv_groups if groups is None else groups)
    filter_shape = case.canonical_filter_shape
    if case.kind == "conv_transpose":
        if grad == "y":
            return oracle.conv_dx(x, w, input_shape=case.canonical_output_shape, **geometry)
        if grad == "dx":
            return oracle.conv(dy, w, **geometry)
        return oracle.conv_dw(dy, x, filter_shape=filter_shape, **geometry)
    if grad == "y":
        return oracle.conv(x, w, **geometry)
    if grad == "dx":
        return oracle.conv_dx(dy, w, input_shape=case.canonical_input_shape, **geometry)
    return oracle.conv_dw(x, dy, filter_shape=filter_shape, **geometry)


def terms(case, grad: str) -> np.ndarray:
    """How many products each element of ``grad`` sums (the bound's ``n``), channels-first,
    from the geometry alone: :func:`evaluate` on all-ones inputs, without computing it.
    A second-order grad sums the products of each of its terms."""
    if grad in SECOND_ORDER_TERMS:
        return sum(terms(case, base) for base, _ in SECOND_ORDER_TERMS[grad])
    forward_in, _ = case.forward_shapes
    geometry = dict(strides=case.strides, pads=case.pads, dilations=case.dilations,
                    groups=case.conv_groups)
    forward_grad = grad
    if case.kind == "conv_transpose":   # y = conv_dx(x), dx = conv(dy), dw = conv_dw(dy, x)
        forward_grad = {"y": "dx", "dx": "y", "dw": "dw"}[grad]
    return oracle.terms(forward_grad, forward_in, case.canonical_filter_shape, **geometry)

