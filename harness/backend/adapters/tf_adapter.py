"""TensorFlow: the article's backprop ops, and ``tf.GradientTape``, for every op.

``tf.backprop`` calls TF's gradient ops directly, with ``y`` from the matching
forward op:

* conv (grouped or not: the filter has ``C / groups`` input channels):
  ``tf.compat.v1.nn.conv2d`` and ``conv2d_backprop_input/_filter`` (the article's
  calls; a 1-D case runs as 2-D with H = 1, as ``tf.nn.conv1d`` does), in 3-D
  ``tf.nn.conv3d`` and the raw ``Conv3DBackprop*V2`` ops;
* depthwise: ``tf.nn.depthwise_conv2d`` and
  ``tf.compat.v1.nn.depthwise_conv2d_native_backprop_input/_filter`` (1-D as 2-D
  with H = 1, as Keras' ``DepthwiseConv1D`` does);
* conv_transpose, the input gradient of a forward conv: ``y`` from
  ``tf.nn.conv2d_transpose`` / ``tf.nn.conv3d_transpose`` with the case's ``y``
  shape as ``output_shape`` (1-D as 2-D with H = 1), ``dx`` from the forward conv
  of ``dy`` (``tf.compat.v1.nn.conv2d`` / ``tf.nn.conv3d``), ``dw`` from
  ``conv2d_backprop_filter`` / ``Conv3DBackpropFilterV2`` with ``dy`` in the
  forward conv's input role and ``x`` as its output gradient.

``tf.tape`` differentiates the forward op with ``tf.GradientTape``:
``tf.nn.convolution`` (``tf.nn.conv2d`` for 2-D explicit pads) with a grouped
filter, ``tf.nn.depthwise_conv2d`` (1-D through ``expand_dims``) and
``tf.nn.conv_transpose`` with ``output_shape``.

Padding: TF's SAME and VALID are the case's SAME and VALID for every op (for a
transposed conv, with ``output_shape`` given, over its output). Explicit pads
(how SAME_LOWER is passed) are native where the API takes them: the 2-D ops
(and the 1-D ones run as 2-D), ``tf.nn.depthwise_conv2d`` and its backprop ops;
elsewhere (3-D, ``conv1d_transpose``, ``tf.nn.convolution`` in 1-D) and for
negative pads (TF refuses them) they are emulated: a forward conv pads its
input and runs VALID (its input gradient cropped back); a transposed conv
computes the full VALID output, ``(in - 1) * s + (k - 1) * d + 1`` long, and
crops it (a negative pad there adds zeros), its ``dx`` / ``dw`` padding ``dy``.
TF filters are spatial-first (``HWIO``, depthwise ``HWCM``); a case filter in
another layout is transposed. A transposed conv's ``HWIO`` filter is exactly
``conv2d_transpose``'s ``[h, w, out_channels, in_channels]``.

Forward mode and second order (:data:`harness.case.ops.SECOND_ORDER`): ``tf.tape``
takes ``jvp`` with ``tf.autodiff.ForwardAccumulator`` along ``(tx, tw)`` and ``ddy``,
``ddx``, ``ddw`` with two nested ``tf.GradientTape`` contexts (the outer one watching
``x``, ``w``, ``dy``; the inner one giving ``dx``, ``dw`` with ``output_gradients=dy``;
the outer gradient of ``reduce_sum(dx * gx) + reduce_sum(dw * gw)``). ``tf.backprop`` writes the
identities with the ops above, the tangents swapped in as a user would:
``jvp = y(tx, w) + y(x, tw)``, ``ddy = y(gx, w) + y(x, gw)``, ``ddx = dx(dy, w := gw)``
(``conv2d_backprop_input(x.shape, gw, dy)``), ``ddw = dw(x := gx, dy)``
(``conv2d_backprop_filter(gx, w.shape, dy)``), with the same padding, ranks and
transposed-conv roles as the first-order ops. Tangents are laid out and cast as the
tensor they go with.
"""
from __future__ import annotations

import contextlib
import os
import sys
import tempfile
from typing import Sequence

import numpy as np

from harness.numerics import layouts
from harness.case import ops as op_registry
from harness.backend import platforms
from harness.backend.adapters.base import (COMMON_VARIANTS, Configurable, NoDevice, Outcome,
                                   each_grad, failed, once)
from harness.backend.adapters.idioms import Idioms
from harness.case.model import Case
from harness.case.values import Inputs


# Lines TensorFlow's C++ side prints at import, before its log level applies.
_IMPORT_NOISE = ("WARNING: All log messages before absl", "I0000 ", "W0000 ",
                 "oneDNN custom operations", "cpu_feature_guard", "To enable the following",
                 "rebuild TensorFlow", "E0000 ")


@contextlib.contextmanager
def quiet_tensorflow_import():
    """Keep the lines TensorFlow's C++ side prints at import (before its log level applies)
    off the terminal; anything else written to stderr meanwhile still reaches the user."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")  # keep C++ info logs off the terminal
    with tempfile.TemporaryFile("w+b") as captured:
        saved = os.dup(2)
        os.dup2(captured.fileno(), 2)
        try:
            yield
        finally:
            os.dup2(saved, 2)
            os.close(saved)
            captured.seek(0)
            for line in captured.read().decode(errors="replace").splitlines():
                if line.strip() and not any(n in line for n in _IMPORT_NOISE):
                    print(line, file=sys.stderr)


def _tf():
    if "tensorflow" in sys.modules:
        return sys.modules["tensorflow"]
    with quiet_tensorflow_import():
        # TensorFlow costs seconds at import: only in a worker that runs a TF impl
        import tensorflow as tf
    return tf


# ------------------------------------------------------------------ shapes and pads

def _explicit_tf_pads(case: Case, pads) -> list[list[int]]:
    """Explicit pads in TF's form: one pair per dimension of ``data_format``."""
    spatial = iter(pads)
    return [list(next(spatial)) if letter in "DHW" else [0, 0] for letter in case.data_format]


def _full(case: Case, values: Sequence[int]) -> list[int]:
    """Strides or dilations as TF wants them: one per dimension of ``data_format``."""
    spatial = iter(values)
    return [next(spatial) if letter in "DHW" else 1 for letter in case.data_format]


def _filter_layout(case: Case) -> str:
    """TF's filter layout for the case's op: ``HWIO``, or depthwise ``HWCM``."""
    if case.kind == "depthwise":
        return layouts.depthwise_formats(case.rank)[0]
    return layouts.filter_formats(case.rank)[0]


def _nonnegative(pads) -> bool:
    return all(v >= 0 for pair in pads for v in pair)


def _window_widths(ndim: int, layout: str, pads):
    """(slices, pad widths) that grow each spatial side of a tensor by ``before`` /
    ``after`` zeros, a negative value cropping that many elements instead."""
    crops, widths = [slice(None)] * ndim, [[0, 0] for _ in range(ndim)]
    for dim, (before, after) in zip(layouts.spatial_dims(layout), pads):
        crops[dim] = slice(max(-before, 0), after if after < 0 else None)
        widths[dim] = [max(before, 0), max(after, 0)]
    return tuple(crops), widths


def _window_np(a: np.ndarray, layout: str, pads) -> np.ndarray:
    """``a`` zero-padded by ``pads`` per spatial side (a negative pad crops)."""
    crops, widths = _window_widths(a.ndim, layout, pads)
    return np.pad(a[crops], widths)


def _window_tf(tf, t, layout: str, pads):
    """:func:`_window_np` in TF ops (differentiable, for the tape)."""
    crops, widths = _window_widths(len(t.shape), layout, pads)
    return tf.pad(t[crops], widths)


def _negated(pads):
    return [(-before, -after) for before, after in pads]


def _transposed_full(case: Case):
    """A transposed conv computed VALID: ``(y shape of that full output, pads that
    crop it to the case's y)``. The full output is ``(in - 1) * s + (k - 1) * d + 1``
    long; the case's ``y[i]`` is ``full[i + before]`` (zero outside it)."""
    sizes, crop = [], []
    for n, axis in zip(case.canonical_input_shape[2:], case.axes):
        full = (n - 1) * axis.stride + axis.effective_kernel
        sizes.append(full)
        crop.append((-axis.before, axis.size - full + axis.before))
    shape = list(case.output_shape)
    for dim, size in zip(layouts.spatial_dims(case.data_format), sizes):
        shape[dim] = size
    return shape, crop


def _emulation_recipe(case: Case, tape: bool = False) -> str:
    pads = [list(p) for p in case.pads]
    if case.kind == "conv_transpose":
        shape, crop = _transposed_full(case)
        full = [shape[d] for d in layouts.spatial_dims(case.data_format)]
        cropped = (f"full padding='VALID' output of spatial size {full} cropped by "
                   f"{[[-b, -a] for b, a in crop]} to y (a negative crop adds zeros)")
        if tape:
            return cropped + " (tf.pad and slicing, differentiated by the tape)"
        return cropped + f"; dx and dw: dy zero-padded by {pads}, padding='VALID'"
    crops = "" if _nonnegative(case.pads) else " (a negative pad crops)"
    if tape:
        return (f"tf.pad(x, {_explicit_tf_pads(case, case.pads)}){crops} then "
                "padding='VALID'")
    return f"x zero-padded by {pads}{crops}, padding='VALID', dx cropped back"


def _tf_layout(case: Case, inputs: Inputs, name: str) -> np.ndarray:
    """One of the case's tensors (a tangent too: :meth:`Inputs.get`), a filter in TF's
    layout (:func:`_filter_layout`)."""
    a = inputs.get(name)
    if op_registry.base_tensor(name) == "w":
        a = layouts.convert(a, case.filter_format, _filter_layout(case))
    return a


def _finish(case: Case, filt: str):
    """Converts one grad's TF tensor back to NumPy in the case's layout."""
    def finish(grad: str, t) -> Outcome:
        src = filt if op_registry.base_tensor(grad) == "w" else case.data_format
        dst = case.layout_of(grad)
        return Outcome(values=layouts.convert(t.numpy(), src, dst), dtype=t.dtype.name)
    return finish


class _TfImpl(Configurable):
    ops = frozenset(op_registry.OPS)   # the ops this adapter calls its framework for
    op_notes: dict = {}                # every op of the registry has a TF API
    grads = op_registry.ALL_GRADS      # first order, forward mode and second order
    framework = "tensorflow"
    variants = {"onednn": ("on", "off"), "threads": int, **COMMON_VARIANTS}

    def version(self) -> str:
        return _tf().__version__

    def environment(self) -> dict[str, str]:
        """Settings TensorFlow reads once, at import (``onednn=`` over ``cpu=``'s default)."""
        env = super().environment()
        if "onednn" in self.settings:
            env["TF_ENABLE_ONEDNN_OPTS"] = "1" if self.settings["onednn"] == "on" else "0"
        return env

    def _device(self, tf) -> str:
        if self.settings.get("device", "cpu") == "cpu":
            return "/CPU:0"
        if not tf.config.list_physical_devices("GPU"):
            raise NoDevice("TensorFlow sees no GPU here (a CPU build, or no CUDA device)")
        if "tf32" in self.settings:
            tf.config.experimental.enable_tensor_float_32_execution(self.settings["tf32"] == "on")
        return "/GPU:0"

    def compute(self, case: Case, inputs: Inputs, grads: Sequence[str]) -> dict[str, Outcome]:
        tf = _tf()
        padding, emulated, recipe = self.padding(case)
        try:
            _set_threads(tf, self.settings.get("threads"))
            device = self._device(tf)
        except Exception as exc:  # noqa: BLE001 - costs this case's verdicts only
            return failed(grads, exc, recipe, emulated)
        filt = _filter_layout(case)
        as_tf = lambda a: tf.cast(tf.constant(a), case.dtype)  # noqa: E731 - exact: pre-rounded
        w = layouts.convert(inputs.w, case.filter_format, filt)
        with tf.device(device):
            thunks = self.thunks(case, tf, as_tf, inputs, w, padding, emulated)
            return each_grad(grads, thunks, _finish(case, filt), recipe, emulated)


def _set_threads(tf, threads: str | None) -> None:
    """TF's thread pools can be sized only before its runtime starts (a fresh worker)."""
    if threads and tf.config.threading.get_intra_op_parallelism_threads() != int(threads):
        tf.config.threading.set_intra_op_parallelism_threads(int(threads))
        tf.config.threading.set_inter_op_parallelism_threads(int(threads))


def _spatial(layout: str, full: Sequence[int]) -> list[int]:
    """The spatial entries of a per-dimension list (D, H, W order)."""
    return [full[i] for i in layouts.spatial_dims(layout)]


class TfBackprop(_TfImpl):
    name = "tf.backprop"

    def padding(self, case: Case):
        """(padding argument, emulated, recipe)."""
        if case.padding in ("SAME", "VALID"):
            return case.padding, False, f"padding='{case.padding}'"
        if case.rank != 3 and _nonnegative(case.pads):
            tf_pads = _explicit_tf_pads(case, case.pads)
            return tf_pads, False, f"explicit padding={tf_pads}"
        return case.pads, True, _emulation_recipe(case)

    def thunks(self, case, tf, as_tf, inputs, w, padding, emulated):
        """The first-order ops, and forward mode and second order by the identities a user
        writes with them (harness.case.ops.SECOND_ORDER_TERMS): ``jvp = y(tx, w) + y(x, tw)``,
        ``ddy = y(gx, w) + y(x, gw)``, ``ddx = dx(dy, w := gw)``, ``ddw = dw(x := gx, dy)``."""
        t = {name: _tf_layout(case, inputs, name) for name in ("tx", "tw", "gx", "gw")}
        x, dy = inputs.x, inputs.dy

        def first(x=x, w=w, dy=dy):
            return self._first_order(case, tf, as_tf, x, w, dy, padding, emulated)
        ops = first()
        ops["jvp"] = lambda: first(x=t["tx"])["y"]() + first(w=t["tw"])["y"]()
        ops["ddy"] = lambda: first(x=t["gx"])["y"]() + first(w=t["gw"])["y"]()
        ops["ddx"] = lambda: first(w=t["gw"])["dx"]()
        ops["ddw"] = lambda: first(x=t["gx"])["dw"]()
        return ops

    def _first_order(self, case, tf, as_tf, x, w, dy, padding, emulated):
        """y, dx and dw of ``(x, w, dy)`` (NumPy, w in TF's layout) as thunks."""
        fmt = case.data_format
        y_shape = list(case.output_shape)
        transposed = case.kind == "conv_transpose"
        if emulated:
            if transposed:   # the forward conv's input is dy (and y)
                dy = _window_np(dy, fmt, case.pads)
                y_shape, crop = _transposed_full(case)
            else:
                x = _window_np(x, fmt, case.pads)
            padding = "VALID"
        args = dict(strides=_full(case, case.strides), padding=padding, data_format=fmt,
                    dilations=_full(case, case.dilations))
        make = {"conv": self._conv2d, "depthwise": self._depthwise2d,
                "conv_transpose": self._transpose2d}[case.kind]
        if case.rank == 1:
            ops = self._as_2d(case, tf, as_tf, x, w, dy, args, y_shape, make)
        elif case.rank == 2:
            ops = make(tf, as_tf, x, w, dy, args, y_shape)
        else:
            ops = (self._transpose3d if transposed else self._conv3d)(tf, as_tf, x, w, dy,
                                                                      args, y_shape)
        if emulated:
            grad, pads = ("y", crop) if transposed else ("dx", _negated(case.pads))
            padded = ops[grad]
            ops[grad] = lambda: tf.constant(_window_np(padded().numpy(), fmt, pads))
        return ops

    @staticmethod
    def _conv2d(tf, as_tf, x, w, dy, args, y_shape):
        nn = tf.compat.v1.nn
        return {
            "y": lambda: nn.conv2d(as_tf(x), as_tf(w), **args),
            "dx": lambda: nn.conv2d_backprop_input(list(x.shape), as_tf(w), as_tf(dy), **args),
            "dw": lambda: nn.conv2d_backprop_filter(as_tf(x), list(w.shape), as_tf(dy), **args),
        }

    @staticmethod
    def _depthwise2d(tf, as_tf, x, w, dy, args, y_shape):
        nn = tf.compat.v1.nn
        rate = _spatial(args["data_format"], args["dilations"])
        forward = dict(args, dilations=rate)   # tf.nn.depthwise_conv2d takes the rate per axis
        return {
            "y": lambda: tf.nn.depthwise_conv2d(as_tf(x), as_tf(w), **forward),
            "dx": lambda: nn.depthwise_conv2d_native_backprop_input(
                list(x.shape), as_tf(w), as_tf(dy), **args),
            "dw": lambda: nn.depthwise_conv2d_native_backprop_filter(
                as_tf(x), list(w.shape), as_tf(dy), **args),
        }

    @staticmethod
    def _transpose2d(tf, as_tf, x, w, dy, args, y_shape):
        """y = A^T x (conv2d_transpose); dx = A dy (the forward conv of dy); dw: the forward
        conv's filter gradient with dy as its input and x as its output gradient."""
        nn = tf.compat.v1.nn
        return {
            "y": lambda: tf.nn.conv2d_transpose(as_tf(x), as_tf(w), y_shape, **args),
            "dx": lambda: nn.conv2d(as_tf(dy), as_tf(w), **args),
            "dw": lambda: nn.conv2d_backprop_filter(as_tf(dy), list(w.shape), as_tf(x), **args),
        }

    def _as_2d(self, case, tf, as_tf, x, w, dy, args, y_shape, make):
        """A 1-D case as a 2-D one with H = 1, the way ``tf.nn.conv1d`` (and
        ``conv1d_transpose``, Keras' ``DepthwiseConv1D``) run it."""
        h = 1 if case.data_format == "NWC" else 2
        args = dict(args, data_format="NHWC" if h == 1 else "NCHW")
        # H = 1 gives one output row whatever H's stride; a depthwise conv takes W's there,
        # as Keras does (TF's depthwise kernels want equal strides in H and W).
        stride_h = case.strides[0] if case.kind == "depthwise" else 1
        for key, value in (("strides", stride_h), ("dilations", 1)):
            args[key] = args[key][:h] + [value] + args[key][h:]
        if isinstance(args["padding"], list):
            args["padding"] = args["padding"][:h] + [[0, 0]] + args["padding"][h:]
        ops = make(tf, as_tf, np.expand_dims(x, h), w[None], np.expand_dims(dy, h), args,
                   y_shape[:h] + [1] + y_shape[h:])
        return {g: (lambda op=op, axis=(0 if g == "dw" else h): tf.squeeze(op(), axis=axis))
                for g, op in ops.items()}

    @staticmethod
    def _conv3d(tf, as_tf, x, w, dy, args, y_shape):
        ops = tf.raw_ops
        return {
            "y": lambda: tf.nn.conv3d(as_tf(x), as_tf(w), **args),
            "dx": lambda: ops.Conv3DBackpropInputV2(
                input_sizes=list(x.shape), filter=as_tf(w), out_backprop=as_tf(dy), **args),
            "dw": lambda: ops.Conv3DBackpropFilterV2(
                input=as_tf(x), filter_sizes=list(w.shape), out_backprop=as_tf(dy), **args),
        }

    @staticmethod
    def _transpose3d(tf, as_tf, x, w, dy, args, y_shape):
        return {
            "y": lambda: tf.nn.conv3d_transpose(as_tf(x), as_tf(w), y_shape, **args),
            "dx": lambda: tf.nn.conv3d(as_tf(dy), as_tf(w), **args),
            "dw": lambda: tf.raw_ops.Conv3DBackpropFilterV2(
                input=as_tf(dy), filter_sizes=list(w.shape), out_backprop=as_tf(x), **args),
        }


class TfTape(_TfImpl):
    name = "tf.tape"

    def padding(self, case: Case):
        if case.padding in ("SAME", "VALID"):
            return case.padding, False, f"padding='{case.padding}'"
        tf_pads = _explicit_tf_pads(case, case.pads)
        if _nonnegative(case.pads):
            if case.kind == "depthwise":
                return tf_pads, False, f"tf.nn.depthwise_conv2d explicit padding={tf_pads}"
            if case.rank == 2:
                api = "tf.nn.conv_transpose" if case.kind == "conv_transpose" else "tf.nn.conv2d"
                return tf_pads, False, f"{api} explicit padding={tf_pads}"
        return case.pads, True, _emulation_recipe(case, tape=True)

    def thunks(self, case, tf, as_tf, inputs, w, padding, emulated):
        forward_op = {"conv": self._conv, "depthwise": self._depthwise,
                      "conv_transpose": self._conv_transpose}[case.kind]

        def tensor(name):
            return as_tf(w if name == "w" else _tf_layout(case, inputs, name))

        def forward_of(x, w_):
            return forward_op(case, tf, x, w_, padding, emulated)

        @once
        def forward():
            x, w_, dy = tensor("x"), tensor("w"), tensor("dy")
            with tf.GradientTape(persistent=True) as tape:
                tape.watch([x, w_])
                y = forward_of(x, w_)
            return tape, x, w_, dy, y

        def grad(of: int):
            tape, x, w_, dy, y = forward()
            return tape.gradient(y, (x, w_)[of], output_gradients=dy)

        def jvp():   # forward mode along (tx, tw)
            x, w_ = tensor("x"), tensor("w")
            with tf.autodiff.ForwardAccumulator((x, w_), (tensor("tx"), tensor("tw"))) as acc:
                y = forward_of(x, w_)
            return acc.jvp(y)

        @once
        def second():
            """Double backward: the outer tape's gradient of <dx, gx> + <dw, gw>, dx and dw
            from an inner tape with output_gradients=dy."""
            x, w_, dy, gx, gw = (tensor(n) for n in ("x", "w", "dy", "gx", "gw"))
            with tf.GradientTape() as outer:
                outer.watch([x, w_, dy])
                with tf.GradientTape() as inner:
                    inner.watch([x, w_])
                    y = forward_of(x, w_)
                dx, dw = inner.gradient(y, (x, w_), output_gradients=dy)
                total = tf.reduce_sum(dx * gx) + tf.reduce_sum(dw * gw)
            return dict(zip(("ddy", "ddx", "ddw"), outer.gradient(total, (dy, x, w_))))

        thunks = {"y": lambda: forward()[4], "dx": lambda: grad(0), "dw": lambda: grad(1),
                  "jvp": jvp}
        thunks.update({g: (lambda g=g: second()[g]) for g in ("ddy", "ddx", "ddw")})
        return thunks

    @staticmethod
    def _conv(case, tf, x, w, padding, emulated):
        args = dict(strides=case.strides, dilations=case.dilations,
                    data_format=case.data_format)
        if emulated:
            return tf.nn.convolution(_window_tf(tf, x, case.data_format, padding), w,
                                     padding="VALID", **args)
        if isinstance(padding, list):
            return tf.nn.conv2d(x, w, padding=padding, **args)
        return tf.nn.convolution(x, w, padding=padding, **args)

    @staticmethod
    def _depthwise(case, tf, x, w, padding, emulated):
        fmt = case.data_format
        if emulated:
            x, padding = _window_tf(tf, x, fmt, padding), "VALID"
        strides, rate = _full(case, case.strides), list(case.dilations)
        if case.rank == 1:   # as Keras' DepthwiseConv1D: H = 1, with W's stride (one row)
            h = 1 if fmt == "NWC" else 2
            x, w = tf.expand_dims(x, h), tf.expand_dims(w, 0)
            strides, rate = strides[:h] + [case.strides[0]] + strides[h:], [1] + rate
            if isinstance(padding, list):
                padding = padding[:h] + [[0, 0]] + padding[h:]
            y = tf.nn.depthwise_conv2d(x, w, strides=strides, padding=padding,
                                       data_format="NHWC" if h == 1 else "NCHW",
                                       dilations=rate)
            return tf.squeeze(y, axis=h)
        return tf.nn.depthwise_conv2d(x, w, strides=strides, padding=padding, data_format=fmt,
                                      dilations=rate)

    @staticmethod
    def _conv_transpose(case, tf, x, w, padding, emulated):
        shape = list(case.output_shape)
        if emulated:
            shape, crop = _transposed_full(case)
        y = tf.nn.conv_transpose(x, w, shape, strides=list(case.strides),
                                 padding="VALID" if emulated else padding,
                                 data_format=case.data_format, dilations=list(case.dilations))
        return _window_tf(tf, y, case.data_format, crop) if emulated else y


IMPLS = (TfBackprop(), TfTape())


class TfIdioms(Idioms):
    """Fixes as ``tf.nn`` arguments."""

    def padding(self, case: Case) -> str:
        if case.padding in ("SAME", "VALID"):
            return f"use padding='{case.padding}'"
        return ("pad explicitly: tf.pad(x, [[0, 0], " + ", ".join(
            f"[{b}, {a}]" for b, a in case.pads) + ", [0, 0]]) then padding='VALID'")

    def padding_rule(self, case: Case) -> str:
        if case.padding == "SAME":
            return "pass padding='SAME': TensorFlow's own rule (the odd pad after the data)"
        if case.padding == "SAME_LOWER":
            return ("TensorFlow has no SAME_LOWER: tf.pad x by SAME's total with the larger "
                    "half BEFORE the data, then padding='VALID'")
        return super().padding_rule(case)

    def strides(self, case: Case) -> str:
        return f"strides={_full(case, case.strides)}"

    def dilation(self, case: Case) -> str:
        return f"dilations={_full(case, case.dilations)}"

    def data_layout(self, case: Case) -> str:
        return "tf.transpose(x, " + str(list(layouts.permutation(
            case.data_format, layouts.canonical_data(case.rank)))) + ")"

    def filter_layout(self, case: Case) -> str:
        native = _filter_layout(case)
        return ("tf.transpose(w, " + str(list(layouts.permutation(case.filter_format, native)))
                + f") gives {native}")


IDIOMS = TfIdioms()


class TfPort:
    """A user's TensorFlow conv function: y by calling it, dx and dw by a ``GradientTape``."""

    layout = "channels_last"

    def thunks(self, call, case: Case, a: dict) -> dict:
        tf = _tf()

        def tensor(name):
            return tf.cast(tf.constant(a[name]), case.dtype)

        @once
        def forward():
            x, w = tensor("x"), tensor("w")
            with tf.GradientTape(persistent=True) as tape:
                tape.watch([x, w])
                y = call(x, w, case)
            return tape, x, w, y

        def grad(i):
            tape, x, w, y = forward()
            return tape.gradient(y, (x, w)[i], output_gradients=tensor("dy"))
        return {"y": lambda: forward()[3], "dx": lambda: grad(0), "dw": lambda: grad(1)}


PORT = TfPort()


def probe_platform(cpu: dict) -> dict:
    """This process's numerics path in the framework (imported already): what
    :func:`harness.backend.platforms.probe` records beside the CPU."""
    tf = sys.modules["tensorflow"]
    # TF's own module: loaded by the impl already, never by this module's import
    from tensorflow.python.util import _pywrap_util_port as port   # noqa: PLC0415
    onednn = bool(port.IsMklEnabled())
    flags = set(cpu["flags"])
    # IsDataTypeSupportedByOneDNNOnThisCPU (tensorflow/core/util/util.cc) reads cpuid
    # itself, not the oneDNN cap; it has no Python binding, so its rule is applied here.
    bf16 = "avx512f" in flags or "avx_ne_convert" in flags
    f16 = ("avx512bw" in flags and ("avx512_fp16" in flags or "amx_fp16" in flags)) \
        or "avx_ne_convert" in flags
    out = {"version": tf.__version__, "onednn": platforms.on(onednn),
           "onednn_bfloat16": platforms.on(onednn and bf16), "onednn_float16": platforms.on(onednn and f16),
           "onednn_version": None, "gpus": []}
    try:
        gpus = tf.config.list_physical_devices("GPU")
        out["gpus"] = [g.name for g in gpus]
        if gpus:
            info = tf.sysconfig.get_build_info()
            out["cuda"], out["cudnn"] = info.get("cuda_version"), info.get("cudnn_version")
            out["tf32"] = platforms.on(tf.config.experimental.tensor_float_32_execution_enabled())
    except Exception as exc:  # noqa: BLE001 - a probe never costs the run
        out["gpus"] = [f"probe failed: {type(exc).__name__}"]
    return out
