"""Keras 3: ``keras.ops.conv``, ``depthwise_conv`` and ``conv_transpose`` on each backend.

``keras.ops`` is how many teams migrate: the same model code runs on
TensorFlow, JAX or torch, and Keras translates its padding for each. The impl
``keras.ops`` has a variant per backend (``keras.ops[backend=jax]``, ...;
default ``tensorflow``), fixed through ``KERAS_BACKEND`` before Keras is
imported (a worker process of its own); ``dx`` and ``dw`` come from that
backend's autodiff. Keras knows ``valid`` and ``same`` padding only: SAME_LOWER
and explicit pads are emulated with ``keras.ops.pad`` (a crop for a
transposed conv), which the verdict says. Not in the default selection: name
it (``--impl 'keras.*'``).
"""
from __future__ import annotations

import os
from typing import Sequence

import numpy as np

from harness.numerics import dtypes, layouts
from harness.backend.adapters.tf_adapter import quiet_tensorflow_import
from harness.backend.adapters.base import (COMMON_VARIANTS, Configurable, Outcome, each_grad, failed,
                                   framework_outcome, once)
from harness.case.model import Case
from harness.case.values import Inputs

BACKENDS = ("tensorflow", "jax", "torch")


def _keras(backend: str):
    os.environ.setdefault("KERAS_BACKEND", backend)
    if backend == "tensorflow":
        with quiet_tensorflow_import():
            import keras  # loads TF (seconds), reads KERAS_BACKEND: only in a keras worker
    else:
        import keras  # loads jax or torch (seconds), reads KERAS_BACKEND: only in a keras worker
    if keras.config.backend() != backend:
        raise RuntimeError(f"Keras runs on {keras.config.backend()} in this process, not "
                           f"{backend} (KERAS_BACKEND is read at import: a worker per backend)")
    return keras


class KerasOps(Configurable):
    name = "keras.ops"
    framework = "keras"
    default = False     # not judged unless named: --impl 'keras.*'
    ops = frozenset({"conv1d", "conv2d", "conv3d", "depthwise_conv1d", "depthwise_conv2d",
                     "conv_transpose1d", "conv_transpose2d", "conv_transpose3d"})
    variants = {"backend": BACKENDS, "cpu": COMMON_VARIANTS["cpu"]}
    # Keras 3 differentiates through its backend (tf.GradientTape, torch.autograd, jax.grad:
    # the backend's own API, judged by that framework's impls); keras.ops has no jvp and no
    # gradient function of its own to judge.
    grads = ("y", "dx", "dw")
    grad_notes = {g: "Keras 3 has no autodiff API of its own: forward mode and second order "
                     "go through its backend's (tf.autodiff.ForwardAccumulator, torch.func, "
                     "jax.jvp), judged by the tf.*, torch.* and jax.* impls"
                  for g in ("jvp", "ddy", "ddx", "ddw")}

    @property
    def backend(self) -> str:
        return self.settings.get("backend", "tensorflow")

    def environment(self) -> dict[str, str]:
        env = super().environment()
        if "backend" in self.settings:
            env["KERAS_BACKEND"] = self.backend
        return env

    def version(self) -> str:
        return _keras(self.backend).__version__   # the backend is in the variant's name

    def compute(self, case: Case, inputs: Inputs, grads: Sequence[str]) -> dict[str, Outcome]:
        try:
            keras = _keras(self.backend)
        except Exception as exc:  # noqa: BLE001 - costs this case's verdicts
            return failed(grads, exc)
        try:
            forward, recipe, emulated, filt = _forward(keras, case)
        except NotImplementedError as exc:
            return failed(grads, exc)
        data_layout = case.data_format
        x = inputs.x
        w = layouts.convert(inputs.w, case.filter_format, filt)
        thunks = _autodiff(self.backend, keras, case, forward, x, w, inputs.dy)
        back = {"y": (data_layout, data_layout), "dx": (data_layout, data_layout),
                "dw": (filt, case.filter_format)}
        return each_grad(grads, thunks, lambda g, v: framework_outcome(v, *back[g]), recipe, emulated)


def _forward(keras, case: Case):
    """(f(x, w) -> y with keras.ops, recipe, emulated, the filter layout Keras takes)."""
    ops, rank = keras.ops, case.rank
    channels_first = case.data_format.index("C") == 1
    data_format = "channels_first" if channels_first else "channels_last"
    spatial = [i for i, letter in enumerate(case.data_format) if letter in "DHW"]
    native = case.padding in ("VALID", "SAME") and not (
        case.kind == "conv_transpose" and case.transposed_size
        and case.transposed_size != _keras_size(case))
    padding = case.padding.lower() if native else "valid"
    kw = dict(strides=case.strides, data_format=data_format, dilation_rate=case.dilations)

    def pad(x, pairs):
        widths = [[0, 0]] * (rank + 2)
        for dim, pair in zip(spatial, pairs):
            widths[dim] = list(pair)
        return ops.pad(x, widths)

    if case.kind == "conv_transpose":
        if case.groups > 1:
            raise NotImplementedError("keras.ops.conv_transpose has no groups argument")
        filt = layouts.filter_formats(rank)[0]          # (*k, out, in) = the forward HWIO
        if native:
            def f(x, w):
                return ops.conv_transpose(x, w, padding=padding, **kw)
            return f, f"keras.ops.conv_transpose(padding='{padding}')", False, filt

        def f(x, w):   # the full output, then the case's crop (or extension) of it
            full = ops.conv_transpose(x, w, padding="valid", **kw)
            index = [slice(None)] * (rank + 2)
            extend = []
            for dim, (before, _), size in zip(spatial, case.pads, case.transposed_sizes):
                lo = max(before, 0)
                index[dim] = slice(lo, lo + size)
                have = full.shape[dim] - lo
                extend.append((max(-before, 0), max(size - have - max(-before, 0), 0)))
            return pad(full, extend)[tuple(index)] if any(map(any, extend)) \
                else full[tuple(index)]
        return f, ("keras.ops.conv_transpose(padding='valid'), then cropped to "
                   f"pads {[list(p) for p in case.pads]}"), True, filt

    if case.kind == "depthwise":
        filt = layouts.depthwise_formats(rank)[0]        # (*k, C, M)
        call = ops.depthwise_conv
        name = "depthwise_conv"
    else:
        filt = layouts.filter_formats(rank)[0]           # (*k, C / groups, O)
        call = ops.conv
        name = "conv"
    if native:
        def f(x, w):
            return call(x, w, padding=padding, **kw)
        return f, f"keras.ops.{name}(padding='{padding}')", False, filt

    def f(x, w):
        return call(pad(x, case.pads), w, padding="valid", **kw)
    return f, (f"keras.ops.pad(x, {[list(p) for p in case.pads]}) then "
               f"keras.ops.{name}(padding='valid')"), True, filt


def _keras_size(case: Case) -> tuple[int, ...]:
    """The transposed output size Keras computes for 'same' / 'valid' (no output_padding)."""
    sizes = []
    for n, a in zip(case.canonical_input_shape[2:], case.axes):
        sizes.append(n * a.stride if case.padding == "SAME"
                     else n * a.stride + max(a.effective_kernel - a.stride, 0))
    return tuple(sizes)


def _autodiff(backend: str, keras, case: Case, forward, x, w, dy) -> dict:
    dtype = dtypes.numpy_dtype(case.dtype)
    if backend == "jax":
        import jax  # the backend's, loaded by Keras already: not in other workers
        jax.config.update("jax_enable_x64", True)

        @once
        def vjp():
            y, pullback = jax.vjp(forward, x.astype(dtype), w.astype(dtype))
            return (y, *pullback(dy.astype(dtype)))
        return {g: (lambda i=i: vjp()[i]) for i, g in enumerate(("y", "dx", "dw"))}
    if backend == "torch":
        import torch  # the backend's, loaded by Keras already: not in other workers

        def tensor(a):
            staging = np.float32 if case.dtype == "bfloat16" else None
            return torch.from_numpy(a.astype(staging or dtype)).to(getattr(torch, case.dtype))

        @once
        def forward_t():
            xt, wt = tensor(x).requires_grad_(True), tensor(w).requires_grad_(True)
            return xt, wt, forward(xt, wt)

        def grad(i):
            xt, wt, y = forward_t()
            return torch.autograd.grad(y, (xt, wt)[i], tensor(dy), retain_graph=True)[0]
        return {"y": lambda: forward_t()[2], "dx": lambda: grad(0), "dw": lambda: grad(1)}
    import tensorflow as tf  # the backend's, loaded by Keras already: not in other workers

    def constant(a):
        return tf.cast(tf.constant(a), case.dtype)

    @once
    def tape():
        xt, wt = constant(x), constant(w)
        with tf.GradientTape(persistent=True) as t:
            t.watch([xt, wt])
            y = forward(xt, wt)
        return t, xt, wt, y

    def tape_grad(i):
        t, xt, wt, y = tape()
        return t.gradient(y, (xt, wt)[i], output_gradients=constant(dy))
    return {"y": lambda: tape()[3], "dx": lambda: tape_grad(0), "dw": lambda: tape_grad(1)}


IMPLS = (KerasOps(),)
