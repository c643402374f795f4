"""Script templates for ``tf.backprop`` and ``tf.tape`` (:mod:`harness.backend.adapters.tf_adapter`).

The adapter hands TF float64 arrays already rounded to the case dtype and casts
them (``tf.cast(tf.constant(a), dtype)``, exact); the filter goes over
spatial-first (``HWIO``). ``tf.backprop`` calls the article's
``tf.compat.v1.nn.conv2d_backprop_input/_filter`` (1-D as 2-D with H = 1, as
``tf.nn.conv1d`` does; 3-D through the raw ``Conv3DBackprop*V2`` ops, explicit
3-D pads emulated by padding ``x`` and cropping ``dx``); ``tf.tape``
differentiates ``tf.nn.convolution`` (``tf.nn.conv2d`` for explicit 2-D pads,
``tf.pad`` then VALID elsewhere). The adapter's own ``padding()`` decides.
"""
from __future__ import annotations

import re

from harness.numerics import layouts
from harness.backend.adapters.tf_adapter import TfBackprop, TfTape, _full
from harness.tools.repro.templates.code import Code, Request, arrays, block, indent, py

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


def _arrays(req: Request, filt: str) -> dict:
    data = req.case.data_format
    return arrays(req, [("X", "x", data, ""),
                        ("W", "w", filt, f"w, laid out {filt} (TF filters are spatial-first)"),
                        ("DY", "dy", data, "")])


def _code(req: Request, calls: str, body: list[str]) -> Code:
    filt = layouts.filter_formats(req.case.rank)[0]
    body = [re.sub(r"\bas_tf\((\w+)\)", r"as_tf(\1, dtype)", line) for line in body]
    compute = ("def compute(dtype=DTYPE):\n" + indent(f"with tf.device({_device(req)!r}):\n"
                                                      + indent("\n".join(body))) + "\n")
    return Code(framework="tensorflow", pip="tensorflow-cpu", calls=calls,
                imports="import tensorflow as tf\n",
                output_layout=filt if req.grad == "dw" else req.case.data_format,
                compute=compute, info=INFO, env=_env(req), setup=_setup(req),
                helpers=HANDOVER, takes_dtype=True, versions=VERSIONS, **_arrays(req, filt))


def backprop(req: Request) -> Code:
    case = req.case
    padding, emulated, recipe = TfBackprop().padding(case)
    lines = ["x, w, dy = X, W, DY"]
    if emulated:
        spatial = iter(padding)
        widths = [tuple(next(spatial)) if letter in "DHW" else (0, 0)
                  for letter in case.data_format]
        lines.append(f"x = np.pad(x, {py(widths)})   # emulated padding: {recipe}")
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
        squeeze = 0 if req.grad == "dw" else h
    args = (f"strides={py(strides)}, padding={py(padding)}, data_format={data_format!r}, "
            f"dilations={py(dilations)}")
    if case.rank in (1, 2):
        call = {"y": f"tf.compat.v1.nn.conv2d(as_tf(x), as_tf(w), {args})",
                "dx": f"tf.compat.v1.nn.conv2d_backprop_input(list(x.shape), as_tf(w), "
                      f"as_tf(dy), {args})",
                "dw": f"tf.compat.v1.nn.conv2d_backprop_filter(as_tf(x), list(w.shape), "
                      f"as_tf(dy), {args})"}[req.grad]
    else:
        call = {"y": f"tf.nn.conv3d(as_tf(x), as_tf(w), {args})",
                "dx": f"tf.raw_ops.Conv3DBackpropInputV2(input_sizes=list(x.shape), "
                      f"filter=as_tf(w), out_backprop=as_tf(dy), {args})",
                "dw": f"tf.raw_ops.Conv3DBackpropFilterV2(input=as_tf(x), "
                      f"filter_sizes=list(w.shape), out_backprop=as_tf(dy), {args})"}[req.grad]
    lines.append(f"result = {call}")
    if squeeze is not None:
        lines.append(f"result = tf.squeeze(result, axis={squeeze})")
    if emulated and req.grad == "dx":
        crop = ", ".join(f"{b}:{b + n}" if letter in "DHW" else ":"
                         for letter, (b, n) in zip(case.data_format, _crops(case)))
        lines.append(f"result = tf.constant(result.numpy()[{crop}])   # crop the padded dx back")
    lines.append("return result.numpy()")
    name = call.split("(")[0]
    return _code(req, f"{name} ({recipe})", lines)


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
        forward = f"tf.nn.convolution(tf.pad(x, {py(padding)}), w, padding='VALID', {args})"
    elif isinstance(padding, list):
        forward = f"tf.nn.conv2d(x, w, padding={py(padding)}, {args})"
    else:
        forward = f"tf.nn.convolution(x, w, padding={padding!r}, {args})"
    result = {"y": "y", "dx": "tape.gradient(y, x, output_gradients=dy)",
              "dw": "tape.gradient(y, w, output_gradients=dy)"}[req.grad]
    lines = ["x, w, dy = as_tf(X), as_tf(W), as_tf(DY)",
             "with tf.GradientTape(persistent=True) as tape:",
             "    tape.watch([x, w])",
             f"    y = {forward}",
             f"return {result}.numpy()"]
    return _code(req, f"tf.GradientTape around {forward.split('(')[0]} ({recipe})", lines)


# The impls this module writes scripts for (harness.backend.frameworks names it).
TEMPLATES = {"tf.backprop": backprop, "tf.tape": tape}
