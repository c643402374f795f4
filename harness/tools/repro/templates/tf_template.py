"""Script templates for ``tf.backprop`` and ``tf.tape`` (:mod:`harness.backend.adapters.tf_adapter`).

The adapter hands TF float64 arrays already rounded to the case dtype and casts
them (``tf.cast(tf.constant(a), dtype)``, exact); the filter goes over
spatial-first (``HWIO``). ``tf.backprop`` calls the article's
``tf.compat.v1.nn.conv2d_backprop_input/_filter`` (1-D as 2-D with H = 1, as
``tf.nn.conv1d`` does; 3-D through the raw ``Conv3DBackprop*V2`` ops, explicit
3-D pads emulated by padding ``x`` and cropping ``dx``); ``tf.tape``
differentiates ``tf.nn.convolution`` (``tf.nn.conv2d`` for explicit 2-D pads,
``tf.pad`` then VALID elsewhere). The adapter's own ``padding()`` decides.

Forward mode and second order as the adapter takes them: ``tf.tape`` by
``tf.autodiff.ForwardAccumulator`` along ``(tx, tw)`` (``jvp``) and two nested
``tf.GradientTape`` contexts (``ddy``, ``ddx``, ``ddw``: the outer gradient of
``reduce_sum(dx * gx) + reduce_sum(dw * gw)``); ``tf.backprop`` by the bilinear identities
over the ops above, the tangents swapped in (``ddx = dx(dy, w := gw)``: the backprop-input
op with ``gw`` as the filter; ``ddw = dw(x := gx, dy)``; ``jvp = y(tx, w) + y(x, tw)``;
``ddy = y(gx, w) + y(x, gw)``, added in the case dtype).
"""
from __future__ import annotations

import re

from harness.numerics import layouts
from harness.case import ops
from harness.backend.adapters.tf_adapter import (TfBackprop, TfTape, _full, _negated,
                                                 _nonnegative, _window_widths)
from harness.tools.repro.templates.code import (MEANING, Code, Request, arrays, block,
                                                  identity_tangents, indent, py, tangents)

INFO = block('''
    def framework_info():
        build = tf.sysconfig.get_build_info()
        info = [("tensorflow", tf.version.VERSION), ("tensorflow git", tf.version.GIT_VERSION),
                ("oneDNN (IsMklEnabled, probed)", onednn_enabled()),
                ("intra-op threads", tf.config.threading.get_intra_op_parallelism_threads()),
                ("inter-op threads", tf.config.threading.get_inter_op_parallelism_threads()),
                ("TF32 execution", tf.config.experimental.tensor_float_32_execution_enabled()),
                ("CUDA build", build.get("cuda_version", "none")),
                ("GPUs", [d.name for d in tf.config.list_physical_devices("GPU")])]
        return info


    def onednn_enabled():
        """Whether this TensorFlow uses oneDNN here: on by default only where cpuid shows
        AVX512_VNNI, AVX512_BF16, AVX_VNNI or AMX; TF_ENABLE_ONEDNN_OPTS overrides."""
        try:
            from tensorflow.python.util import _pywrap_util_port
            return bool(_pywrap_util_port.IsMklEnabled())
        except ImportError as exc:
            return f"unknown ({exc})"
''')

HANDOVER = block('''
    def as_tf(a, dtype=DTYPE):
        """convgrad's handover to TF: float64 values already in the case dtype, cast (exact)."""
        return tf.cast(tf.constant(a), dtype)
''')

VERSIONS = block('''
    def versions():   # IsMklEnabled: whether this TensorFlow uses oneDNN here (no public API)
        from tensorflow.python.util import _pywrap_util_port as port
        return (f"tensorflow {tf.version.VERSION} ({tf.version.GIT_VERSION}), oneDNN on: "
                f"{port.IsMklEnabled()}, {tf.config.threading.get_intra_op_parallelism_threads()} threads")
''')


def _env(req: Request) -> list:
    env = []
    if "onednn" in req.settings:
        env.append(("TF_ENABLE_ONEDNN_OPTS", "1" if req.settings["onednn"] == "on" else "0",
                    f"variant onednn={req.settings['onednn']}: read once, at import"))
    env.append(("TF_CPP_MIN_LOG_LEVEL", "2", "as convgrad imports TF: no C++ info logs"))
    return env


def _setup(req: Request) -> str:
    lines = []
    if "threads" in req.settings:
        n = int(req.settings["threads"])
        lines += [f"tf.config.threading.set_intra_op_parallelism_threads({n})   # variant threads",
                  f"tf.config.threading.set_inter_op_parallelism_threads({n})"]
    if req.setting("device") == "cuda" and "tf32" in req.settings:
        lines.append("tf.config.experimental.enable_tensor_float_32_execution("
                     f"{req.settings['tf32'] == 'on'})   # variant tf32")
    return "\n".join(lines) + ("\n" if lines else "")


def _device(req: Request) -> str:
    return "/GPU:0" if req.setting("device") == "cuda" else "/CPU:0"


def _arrays(req: Request, filt: str, extra: tuple[str, ...] = ()) -> dict:
    """X, W, DY and the tangents ``extra``, each laid out as the tensor it goes with (a
    filter spatial-first)."""
    data = req.case.data_format
    return arrays(req, [("X", "x", data, ""),
                        ("W", "w", filt, f"w, laid out {filt} (TF filters are spatial-first)"),
                        ("DY", "dy", data, "")]
                  + [(t.upper(), t, filt if ops.base_tensor(t) == "w" else data,
                      f"{t}, laid out {filt} (as w)" if ops.base_tensor(t) == "w" else "")
                     for t in extra])


def _code(req: Request, calls: str, body: list[str], extra: tuple[str, ...] = ()) -> Code:
    filt = layouts.filter_formats(req.case.rank)[0]
    body = [re.sub(r"\bas_tf\((\w+)\)", r"as_tf(\1, dtype)", line) for line in body]
    compute = ("def compute(dtype=DTYPE):\n" + indent(f"with tf.device({_device(req)!r}):\n"
                                                      + indent("\n".join(body))) + "\n")
    return Code(framework="tensorflow", pip="tensorflow-cpu", calls=calls,
                imports="import tensorflow as tf\n",
                output_layout=filt if ops.base_tensor(req.grad) == "w" else req.case.data_format,
                compute=compute, info=INFO, env=_env(req), setup=_setup(req),
                helpers=HANDOVER, takes_dtype=True, versions=VERSIONS,
                **_arrays(req, filt, extra))


def _window(case, name: str, pads, pad: str = "np.pad") -> str:
    """``name`` zero-padded by ``pads`` per spatial side, a negative pad cropping (the
    adapter's ``_window_np`` / ``_window_tf``), as an expression."""
    crops, widths = _window_widths(len(case.data_format), case.data_format, pads)
    if all(c == slice(None) for c in crops):
        return f"{pad}({name}, {py(widths)})"
    text = ", ".join(":" if c == slice(None) else
                     f"{'' if c.start is None else c.start}:{'' if c.stop is None else c.stop}"
                     for c in crops)
    return f"{pad}({name}[{text}], {py(widths)})"


def backprop(req: Request) -> Code:
    if req.grad in ops.SECOND_ORDER:
        return _backprop_second(req)
    case = req.case
    padding, emulated, recipe = TfBackprop().padding(case)
    body, name = _backprop_body(req, req.grad, padding, emulated, recipe)
    return _code(req, f"{name} ({recipe})", ["x, w, dy = X, W, DY", *body,
                                               "return result.numpy()"])


def _backprop_second(req: Request) -> Code:
    """The identities over the first-order ops, one nested function per op, the tangents
    swapped in as the adapter does (its ``thunks``)."""
    case, grad = req.case, req.grad
    padding, emulated, recipe = TfBackprop().padding(case)
    lines, terms, names, defined = [], [], [], set()
    for base, swap in ops.SECOND_ORDER_TERMS[grad]:
        if base not in defined:
            body, name = _backprop_body(req, base, padding, emulated, recipe)
            lines += [f"def {base}_of(x, w, dy):   # {name}", *("    " + b for b in body),
                      "    return result", ""]
            defined.add(base)
            names.append(name)
        terms.append(f"{base}_of(" + ", ".join(swap.get(t, t).upper() for t in ("x", "w", "dy"))
                     + ")")
    lines += [f"result = {' + '.join(terms)}   # {grad} = {MEANING[grad].rsplit(': ', 1)[1]}",
              "return result.numpy()"]
    return _code(req, f"{' and '.join(names)} ({recipe}); {grad} is {MEANING[grad]}, written "
                      "by hand", lines, identity_tangents(grad))


def _backprop_body(req: Request, grad: str, padding, emulated: bool,
                   recipe: str) -> tuple[list[str], str]:
    """The lines computing first-order ``grad`` as ``result`` from NumPy ``x``, ``w``, ``dy``
    (the adapter's ``_first_order``), and the op's name."""
    case = req.case
    lines = []
    if emulated:
        lines.append(f"x = {_window(case, 'x', padding)}   # emulated padding: {recipe}")
        padding = "VALID"
    strides, dilations = _full(case, case.strides), _full(case, case.dilations)
    data_format = case.data_format
    squeeze = None
    if case.rank == 1:
        h = 1 if case.data_format == "NWC" else 2
        data_format = "NHWC" if h == 1 else "NCHW"
        strides, dilations = strides[:h] + [1] + strides[h:], dilations[:h] + [1] + dilations[h:]
        if isinstance(padding, list):
            padding = padding[:h] + [[0, 0]] + padding[h:]
        lines.append(f"x, w, dy = np.expand_dims(x, {h}), w[None], np.expand_dims(dy, {h})"
                     "   # 1-D as 2-D with H = 1, as tf.nn.conv1d does")
        squeeze = 0 if grad == "dw" else h
    args = (f"strides={py(strides)}, padding={py(padding)}, data_format={data_format!r}, "
            f"dilations={py(dilations)}")
    if case.rank in (1, 2):
        call = {"y": f"tf.compat.v1.nn.conv2d(as_tf(x), as_tf(w), {args})",
                "dx": f"tf.compat.v1.nn.conv2d_backprop_input(list(x.shape), as_tf(w), "
                      f"as_tf(dy), {args})",
                "dw": f"tf.compat.v1.nn.conv2d_backprop_filter(as_tf(x), list(w.shape), "
                      f"as_tf(dy), {args})"}[grad]
    else:
        call = {"y": f"tf.nn.conv3d(as_tf(x), as_tf(w), {args})",
                "dx": f"tf.raw_ops.Conv3DBackpropInputV2(input_sizes=list(x.shape), "
                      f"filter=as_tf(w), out_backprop=as_tf(dy), {args})",
                "dw": f"tf.raw_ops.Conv3DBackpropFilterV2(input=as_tf(x), "
                      f"filter_sizes=list(w.shape), out_backprop=as_tf(dy), {args})"}[grad]
    lines.append(f"result = {call}")
    if squeeze is not None:
        lines.append(f"result = tf.squeeze(result, axis={squeeze})")
    if emulated and grad == "dx":
        if _nonnegative(case.pads):
            crop = ", ".join(f"{b}:{b + n}" if letter in "DHW" else ":"
                             for letter, (b, n) in zip(case.data_format, _crops(case)))
            lines.append(f"result = tf.constant(result.numpy()[{crop}])   # crop the padded "
                         "dx back")
        else:   # a negative pad cropped x: zeros where dx's rows were cut
            lines.append(f"result = tf.constant("
                         f"{_window(case, 'result.numpy()', _negated(case.pads))})"
                         "   # the padded dx back to x's shape")
    return lines, call.split("(")[0]


def _crops(case):
    """(before, size) per dimension of data_format (non-spatial: (0, size))."""
    pads = iter(case.pads)
    out = []
    for letter, size in zip(case.data_format, case.input_shape):
        out.append((next(pads)[0], size) if letter in "DHW" else (0, size))
    return out


def tape(req: Request) -> Code:
    case = req.case
    padding, emulated, recipe = TfTape().padding(case)
    args = (f"strides={py(tuple(case.strides))}, dilations={py(tuple(case.dilations))}, "
            f"data_format={case.data_format!r}")
    if emulated:
        forward = (f"tf.nn.convolution({_window(case, 'x', padding, 'tf.pad')}, w, "
                   f"padding='VALID', {args})")
    elif isinstance(padding, list):
        forward = f"tf.nn.conv2d(x, w, padding={py(padding)}, {args})"
    else:
        forward = f"tf.nn.convolution(x, w, padding={padding!r}, {args})"
    if req.grad in ops.SECOND_ORDER:
        return _tape_second(req, forward, recipe)
    result = {"y": "y", "dx": "tape.gradient(y, x, output_gradients=dy)",
              "dw": "tape.gradient(y, w, output_gradients=dy)"}[req.grad]
    lines = ["x, w, dy = as_tf(X), as_tf(W), as_tf(DY)",
             "with tf.GradientTape(persistent=True) as tape:",
             "    tape.watch([x, w])",
             f"    y = {forward}",
             f"return {result}.numpy()"]
    return _code(req, f"tf.GradientTape around {forward.split('(')[0]} ({recipe})", lines)


def _tape_second(req: Request, forward: str, recipe: str) -> Code:
    """Forward mode by ``tf.autodiff.ForwardAccumulator``, double backward by nested tapes
    (the adapter's ``jvp`` and ``second``)."""
    grad = req.grad
    op = forward.split("(")[0]
    if grad == "jvp":
        lines = ["x, w, tx, tw = as_tf(X), as_tf(W), as_tf(TX), as_tf(TW)",
                 "with tf.autodiff.ForwardAccumulator((x, w), (tx, tw)) as acc:   # forward mode",
                 f"    y = {forward}",
                 "return acc.jvp(y).numpy()"]
        calls = f"tf.autodiff.ForwardAccumulator around {op}"
    else:
        lines = ["x, w, dy, gx, gw = as_tf(X), as_tf(W), as_tf(DY), as_tf(GX), as_tf(GW)",
                 "# double backward: the outer tape's gradient of <dx, gx> + <dw, gw>, dx and dw",
                 "# from an inner tape with output_gradients=dy",
                 "with tf.GradientTape() as outer:",
                 "    outer.watch([x, w, dy])",
                 "    with tf.GradientTape() as inner:",
                 "        inner.watch([x, w])",
                 f"        y = {forward}",
                 "    dx, dw = inner.gradient(y, (x, w), output_gradients=dy)",
                 "    total = tf.reduce_sum(dx * gx) + tf.reduce_sum(dw * gw)",
                 "ddy, ddx, ddw = outer.gradient(total, (dy, x, w))",
                 f"return {grad}.numpy()"]
        calls = f"nested tf.GradientTape around {op} (double backward)"
    return _code(req, f"{calls} ({recipe}); {grad} is {MEANING[grad]}", lines,
                 tangents(grad))


# The impls this module writes scripts for (harness.backend.frameworks names it).
TEMPLATES = {"tf.backprop": backprop, "tf.tape": tape}
