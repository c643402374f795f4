"""Script templates for ``torch.autograd`` and ``torch.nn_grad`` (:mod:`harness.backend.adapters.torch_adapter`).

Torch is channels-first: the adapter transposes the case's arrays to ``NC...`` /
``OI...`` and hands them over as its ``memory`` setting says (a contiguous copy,
torch's channels_last format, or ``nhwc_view``: a channels-last array handed
over zero-copy as a permuted view); bfloat16 is staged in float32 (NumPy has
none). Padding torch cannot express is emulated with ``F.pad`` (and, for
``torch.nn.grad``, by cropping the padded ``dx``), exactly as the adapter does:
the adapter's own ``padding()`` decides.
"""
from __future__ import annotations

from harness.numerics import layouts
from harness.backend.adapters.torch_adapter import TorchAutograd, TorchNnGrad, _torch_pad_tuple
from harness.tools.repro.templates.code import (Code, Request, arrays, block, indent,
                                                  kwargs, py)

INFO = block('''
    def framework_info():
        info = [("torch", torch.__version__), ("torch git", torch.version.git_version),
                ("torch CUDA build", torch.version.cuda or "none"),
                ("CPU capability", torch.backends.cpu.get_cpu_capability()),
                ("mkldnn (oneDNN) available", torch.backends.mkldnn.is_available()),
                ("mkldnn enabled", torch.backends.mkldnn.enabled),
                ("oneDNN takes bfloat16 (probed)", torch.ops.mkldnn._is_mkldnn_bf16_supported()),
                ("oneDNN takes float16 (probed)", torch.ops.mkldnn._is_mkldnn_fp16_supported()),
                ("intra-op threads", torch.get_num_threads()),
                ("torch parallel info", torch.__config__.parallel_info().splitlines()[1:3])]
        if torch.cuda.is_available():
            info += [("GPU", torch.cuda.get_device_name()),
                     ("cuDNN", torch.backends.cudnn.version()),
                     ("cudnn.allow_tf32", torch.backends.cudnn.allow_tf32),
                     ("cuda.matmul.allow_tf32", torch.backends.cuda.matmul.allow_tf32),
                     ("cudnn.deterministic", torch.backends.cudnn.deterministic)]
        return info
''')


def _handover(req: Request, rank: int) -> tuple[str, dict[str, str]]:
    """The helper that hands an array to torch (in the case dtype, or the one ``compute``
    is given), and the layout each array is embedded in."""
    memory = req.setting("memory", "contiguous")
    device = req.setting("device", "cpu")
    data, filt = layouts.canonical_data(rank), layouts.canonical_filter(rank)
    to = f".to(device={device!r}, dtype=getattr(torch, dtype))"
    stage = (["# bfloat16 is staged in float32 (NumPy has none), then converted by torch"]
             if req.case.dtype == "bfloat16" else [])
    first = "(bfloat16 via float32)" if stage else ""
    staged = 'staged = np.ascontiguousarray(a, dtype=np.float32 if dtype == "bfloat16" else dtype)'
    if memory == "nhwc_view":
        last_data, last_filt = layouts.data_formats(rank)[0], layouts.filter_formats(rank)[0]
        body = ['"""memory=nhwc_view: a channels-last NumPy array handed over zero-copy as a',
                'permuted (channels-first) view, as TF code migrated to torch does."""', *stage,
                staged, f"return torch.from_numpy(staged).permute(*permutation){to}"]
        helper = "def handover(a, permutation, dtype=DTYPE):\n" + indent("\n".join(body)) + "\n"
        return helper, {"x": last_data, "w": last_filt, "dy": last_data,
                        "perm_data": py(layouts.permutation(last_data, data)),
                        "perm_filt": py(layouts.permutation(last_filt, filt))}
    if memory == "channels_last" and rank == 1:
        body = ["raise ValueError(\"torch's channels_last memory format exists for 2-D and \"",
                "                 \"3-D convolutions only\")   # as convgrad's adapter refuses"]
    elif memory == "channels_last":
        fmt = "torch.channels_last" if rank == 2 else "torch.channels_last_3d"
        body = ['"""memory=channels_last: torch\'s channels-last memory format."""', *stage,
                staged, f"t = torch.from_numpy(staged).contiguous(memory_format={fmt})",
                f"return t{to}"]
    else:
        body = ['"""convgrad\'s handover to torch: a C-contiguous channels-first copy'
                + (f' {first}."""' if first else '."""'), staged,
                f"return torch.from_numpy(staged){to}"]
    helper = "def handover(a, dtype=DTYPE):\n" + indent("\n".join(body)) + "\n"
    return helper, {"x": data, "w": filt, "dy": data}


def _arrays(req: Request, where: dict[str, str]) -> dict:
    return arrays(req, [(name.upper(), name, where[name], "") for name in ("x", "w", "dy")])


def _versions(req: Request) -> str:
    gpu = ""
    if req.setting("device") == "cuda":
        gpu = (' + f", {torch.cuda.get_device_name()}, cuDNN {torch.backends.cudnn.version()}, '
               'cudnn.allow_tf32 {torch.backends.cudnn.allow_tf32}"')
    probe = {"bfloat16": "bf16", "float16": "fp16"}.get(req.case.dtype)
    takes = (f"oneDNN takes {req.case.dtype} {{torch.ops.mkldnn._is_mkldnn_{probe}_supported()}}, "
             if probe else "")
    return block(f"""
        def versions():
            return (f"torch {{torch.__version__}}, ATen {{torch.backends.cpu.get_cpu_capability()}}, "
                    f"{takes}{{torch.get_num_threads()}} threads"){gpu}
    """)


def _setup(req: Request) -> str:
    lines = []
    if "threads" in req.settings:
        lines.append(f"torch.set_num_threads({int(req.settings['threads'])})   # variant threads=N")
    if req.setting("device") == "cuda" and "tf32" in req.settings:
        allow = req.settings["tf32"] == "on"
        lines += [f"torch.backends.cuda.matmul.allow_tf32 = {allow}   # variant tf32",
                  f"torch.backends.cudnn.allow_tf32 = {allow}"]
    return "\n".join(lines) + ("\n" if lines else "")


def _tensors(where: dict[str, str], grads: bool = False) -> list[str]:
    """The lines handing X, W, DY over as x, w, dy (leaves that require grad, if ``grads``)."""
    leaf = ".clone().requires_grad_(True)" if grads else ""
    if "perm_data" in where:
        lines = [f"x, w, dy = (handover(X, {where['perm_data']}, dtype), "
                 f"handover(W, {where['perm_filt']}, dtype), "
                 f"handover(DY, {where['perm_data']}, dtype))"]
        return lines + ([f"x, w, dy = (t{leaf} for t in (x, w, dy))"] if grads else [])
    if grads:
        return [f"x, w, dy = (handover(a, dtype){leaf} for a in (X, W, DY))"]
    return ["x, w, dy = handover(X, dtype), handover(W, dtype), handover(DY, dtype)"]


# The result as convgrad reads it back (detached, on the CPU), as float64: exact from any dtype.
RESULT = ".detach().double().cpu().numpy()"


def autograd(req: Request) -> Code:
    case, rank = req.case, req.case.rank
    padding, emulated, recipe = TorchAutograd().padding(case)
    helper, where = _handover(req, rank)
    conv = f"F.{case.op}"
    pad_arg = 0 if emulated else padding
    args = kwargs(stride=tuple(case.strides), padding=pad_arg, dilation=tuple(case.dilations))
    of = {"dx": "x", "dw": "w"}.get(req.grad)
    result = ("y" if req.grad == "y" else
              f"torch.autograd.grad(y, {of}, dy.detach(), retain_graph=True)[0]")
    lines = _tensors(where, grads=True)
    if emulated:
        lines.append(f"xin = F.pad(x, {py(_torch_pad_tuple(padding))})   # emulated padding: "
                     f"{recipe}")
    lines += [f"y = {conv}({'xin' if emulated else 'x'}, w, {args})", f"return {result}{RESULT}"]
    compute = "def compute(dtype=DTYPE):\n" + indent("\n".join(lines)) + "\n"
    return Code(framework="torch", pip="torch", calls=f"torch.autograd.grad of F.{case.op}"
                f" ({recipe})", imports="import torch\nimport torch.nn.functional as F\n",
                output_layout=_canonical(req.grad, rank),
                compute=compute, info=INFO, env=_env(req), setup=_setup(req),
                helpers=helper, takes_dtype=True, versions=_versions(req), **_arrays(req, where))


def nn_grad(req: Request) -> Code:
    case, rank = req.case, req.case.rank
    padding, emulated, recipe = TorchNnGrad().padding(case)
    helper, where = _handover(req, rank)
    args = kwargs(stride=tuple(case.strides), dilation=tuple(case.dilations),
                  padding=0 if emulated else padding)
    lines = _tensors(where)
    if emulated:
        lines.append(f"xin = F.pad(x, {py(_torch_pad_tuple(padding))})   # emulated padding")
    xin = "xin" if emulated else "x"
    if req.grad == "dx":
        lines.append(f"result = torch.nn.grad.{case.op}_input(tuple({xin}.shape), w, dy, {args})")
        if emulated:
            crop = ", ".join(f"{b}:{b + size}" for (b, _), size in
                             zip(padding, case.canonical_input_shape[2:]))
            lines.append(f"result = result[:, :, {crop}]   # crop the padded dx back")
    elif req.grad == "dw":
        lines.append(f"result = torch.nn.grad.{case.op}_weight({xin}, tuple(w.shape), dy, {args})")
    else:
        lines.append(f"result = F.{case.op}({xin}, w, {args})")
    lines.append(f"return result{RESULT}")
    compute = "def compute(dtype=DTYPE):\n" + indent("\n".join(lines)) + "\n"
    calls = (f"torch.nn.grad.{case.op}_input" if req.grad == "dx" else
             f"torch.nn.grad.{case.op}_weight" if req.grad == "dw" else f"F.{case.op}")
    return Code(framework="torch", pip="torch", calls=f"{calls} ({recipe})",
                imports="import torch\nimport torch.nn.functional as F\n",
                output_layout=_canonical(req.grad, rank), compute=compute, info=INFO,
                env=_env(req), setup=_setup(req), helpers=helper, takes_dtype=True, versions=_versions(req), **_arrays(req, where))


def _canonical(grad: str, rank: int) -> str:
    return layouts.canonical_filter(rank) if grad == "dw" else layouts.canonical_data(rank)


def _env(req: Request) -> list:
    return []


# The impls this module writes scripts for (harness.backend.frameworks names it).
TEMPLATES = {"torch.nn_grad": nn_grad, "torch.autograd": autograd}
