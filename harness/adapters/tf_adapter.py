"""TensorFlow: the article's backprop ops, and ``tf.GradientTape``.

``tf.backprop`` calls ``tf.compat.v1.nn.conv2d_backprop_input/_filter`` (the
article's calls; a 1-D case runs as 2-D with H = 1, as ``tf.nn.conv1d`` does)
and the raw ``Conv3DBackprop*V2`` ops, with ``y`` from the matching forward op.
``tf.tape`` differentiates ``tf.nn.convolution`` (``tf.nn.conv2d`` for 2-D
explicit pads). TF has SAME and VALID everywhere and explicit pads in 2-D only:
SAME_LOWER and explicit pads in 1-D / 3-D are emulated (pad x, then VALID).
TF filters are spatial-first (``HWIO``); an ``OIHW`` case filter is transposed.
"""
from __future__ import annotations

import contextlib
import os
import sys
import tempfile
from typing import Sequence

import numpy as np

from harness import layouts
from harness.adapters.base import (COMMON_VARIANTS, LEGACY_OPS, Configurable, NoDevice,
                                   Outcome, each_grad, failed, numpy_crop, numpy_pad, once)
from harness.case import Case
from harness.values import Inputs


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
        import tensorflow as tf
    return tf



def _explicit_tf_pads(case: Case, pads) -> list[list[int]]:
    """Explicit pads in TF's form: one pair per dimension of ``data_format``."""
    spatial = iter(pads)
    return [list(next(spatial)) if letter in "DHW" else [0, 0] for letter in case.data_format]


def _full(case: Case, values: Sequence[int]) -> list[int]:
    """Strides or dilations as TF wants them: one per dimension of ``data_format``."""
    spatial = iter(values)
    return [next(spatial) if letter in "DHW" else 1 for letter in case.data_format]


def _finish(case: Case, filt: str):
    """Converts one grad's TF tensor back to NumPy in the case's layout."""
    def finish(grad: str, t) -> Outcome:
        src = filt if grad == "dw" else case.data_format
        dst = case.layout_of(grad)
        return Outcome(values=layouts.convert(t.numpy(), src, dst), dtype=t.dtype.name)
    return finish


class _TfImpl(Configurable):
    ops = LEGACY_OPS   # the ops this adapter calls its framework for (harness.ops)
    framework = "tensorflow"
    variants = {"onednn": ("on", "off"), "threads": int, **COMMON_VARIANTS}

    def version(self) -> str:
        return _tf().__version__

    def environment(self) -> dict[str, str]:
        """Settings TensorFlow reads once, at import."""
        env = {}
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
        filt = layouts.filter_formats(case.rank)[0]
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


class TfBackprop(_TfImpl):
    name = "tf.backprop"

    def padding(self, case: Case):
        """(padding argument, emulated, recipe)."""
        if case.padding in ("SAME", "VALID"):
            return case.padding, False, f"padding='{case.padding}'"
        if case.rank != 3:
            tf_pads = _explicit_tf_pads(case, case.pads)
            return tf_pads, False, f"explicit padding={tf_pads}"
        return case.pads, True, (f"x zero-padded by {[list(p) for p in case.pads]}, "
                                 "padding='VALID', dx cropped back")

    def thunks(self, case, tf, as_tf, inputs, w, padding, emulated):
        x, dy = inputs.x, inputs.dy
        if emulated:
            x, padding = numpy_pad(x, case.data_format, padding), "VALID"
        args = dict(strides=_full(case, case.strides), padding=padding,
                    data_format=case.data_format, dilations=_full(case, case.dilations))
        if case.rank == 1:
            ops = self._as_2d(case, tf, as_tf, x, w, dy, args)
        elif case.rank == 2:
            ops = self._conv2d(tf, as_tf, x, w, dy, args)
        else:
            ops = self._conv3d(tf, as_tf, x, w, dy, args)
        if emulated:
            padded_dx = ops["dx"]
            ops["dx"] = lambda: tf.constant(numpy_crop(padded_dx().numpy(), case.data_format,
                                                       case.pads))
        return ops

    @staticmethod
    def _conv2d(tf, as_tf, x, w, dy, args):
        nn = tf.compat.v1.nn
        return {
            "y": lambda: nn.conv2d(as_tf(x), as_tf(w), **args),
            "dx": lambda: nn.conv2d_backprop_input(list(x.shape), as_tf(w), as_tf(dy), **args),
            "dw": lambda: nn.conv2d_backprop_filter(as_tf(x), list(w.shape), as_tf(dy), **args),
        }

    def _as_2d(self, case, tf, as_tf, x, w, dy, args):
        """A 1-D case as a 2-D one with H = 1, the way ``tf.nn.conv1d`` runs it."""
        h = 1 if case.data_format == "NWC" else 2
        args = dict(args, data_format="NHWC" if h == 1 else "NCHW")
        for key in ("strides", "dilations"):
            args[key] = args[key][:h] + [1] + args[key][h:]
        if isinstance(args["padding"], list):
            args["padding"] = args["padding"][:h] + [[0, 0]] + args["padding"][h:]
        ops = self._conv2d(tf, as_tf, np.expand_dims(x, h), w[None], np.expand_dims(dy, h),
                           args)
        return {g: (lambda op=op, axis=(0 if g == "dw" else h): tf.squeeze(op(), axis=axis))
                for g, op in ops.items()}

    @staticmethod
    def _conv3d(tf, as_tf, x, w, dy, args):
        ops = tf.raw_ops
        return {
            "y": lambda: tf.nn.conv3d(as_tf(x), as_tf(w), **args),
            "dx": lambda: ops.Conv3DBackpropInputV2(
                input_sizes=list(x.shape), filter=as_tf(w), out_backprop=as_tf(dy), **args),
            "dw": lambda: ops.Conv3DBackpropFilterV2(
                input=as_tf(x), filter_sizes=list(w.shape), out_backprop=as_tf(dy), **args),
        }


class TfTape(_TfImpl):
    name = "tf.tape"

    def padding(self, case: Case):
        if case.padding in ("SAME", "VALID"):
            return case.padding, False, f"padding='{case.padding}'"
        tf_pads = _explicit_tf_pads(case, case.pads)
        if case.rank == 2:
            return tf_pads, False, f"tf.nn.conv2d explicit padding={tf_pads}"
        return tf_pads, True, f"tf.pad(x, {tf_pads}) then padding='VALID'"

    def thunks(self, case, tf, as_tf, inputs, w, padding, emulated):
        args = dict(strides=case.strides, dilations=case.dilations, data_format=case.data_format)

        @once
        def forward():
            x, w_, dy = as_tf(inputs.x), as_tf(w), as_tf(inputs.dy)
            with tf.GradientTape(persistent=True) as tape:
                tape.watch([x, w_])
                if emulated:
                    y = tf.nn.convolution(tf.pad(x, padding), w_, padding="VALID", **args)
                elif isinstance(padding, list):
                    y = tf.nn.conv2d(x, w_, padding=padding, **args)
                else:
                    y = tf.nn.convolution(x, w_, padding=padding, **args)
            return tape, x, w_, dy, y

        def grad(of: int):
            tape, x, w_, dy, y = forward()
            return tape.gradient(y, (x, w_)[of], output_gradients=dy)
        return {"y": lambda: forward()[4], "dx": lambda: grad(0), "dw": lambda: grad(1)}


IMPLS = (TfBackprop(), TfTape())
