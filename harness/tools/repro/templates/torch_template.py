"""Script templates for ``torch.autograd`` and ``torch.nn_grad`` (:mod:`harness.backend.adapters.torch_adapter`).

Torch is channels-first: the adapter transposes the case's arrays to ``NC...`` /
``OI...`` and hands them over as its ``memory`` setting says (a contiguous copy,
torch's channels_last format, or ``nhwc_view``: a channels-last array handed
over zero-copy as a permuted view); bfloat16 is staged in float32 (NumPy has
none). Padding torch cannot express is emulated with ``F.pad`` (and, for
``torch.nn.grad``, by cropping the padded ``dx``), exactly as the adapter does:
the adapter's own ``padding()`` decides.

Forward mode and second order, as the adapter takes them: ``torch.autograd`` by its
setting ``second`` (``autograd``: ``torch.autograd.forward_ad`` dual tensors for ``jvp``,
double backward, ``torch.autograd.grad`` of the first backward taken with
``create_graph=True``, for ``ddy``, ``ddx``, ``ddw``; ``func``: ``torch.func.jvp``, and
``torch.func.vjp`` of the first-order ``torch.func.vjp``; ``fwd_over_rev``:
``torch.func.jvp`` of the first-order vjp along ``(gx, gw)``); ``torch.nn_grad`` writes the
bilinear identities with ``torch.nn.grad.conv*_input/_weight`` (``ddx = dx(dy, w := gw)``,
``ddw = dw(x := gx, dy)``, ``jvp = y(tx, w) + y(x, tw)``, ``ddy = y(gx, w) + y(x, gw)``,
each term in the case dtype). Tangents are handed over as the tensor they go with.
"""
from __future__ import annotations

from harness.numerics import layouts
from harness.case import ops
from harness.backend.adapters.torch_adapter import (TorchAutograd, TorchNnGrad, _negated,
                                                    _torch_pad_tuple)
from harness.tools.repro.templates.code import (MEANING, Code, Request, arrays, block,
                                                  identity_tangents, indent, kwargs, py,
                                                  tangents)

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


def _arrays(req: Request, where: dict[str, str], extra: tuple[str, ...] = ()) -> dict:
    """X, W, DY and the tangents ``extra`` (each laid out as the tensor it goes with)."""
    return arrays(req, [(name.upper(), name, where[ops.base_tensor(name)], "")
                        for name in ("x", "w", "dy", *extra)])


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


def _tensors(where: dict[str, str], grads: bool = False,
             names: tuple[str, ...] = ("x", "w", "dy")) -> list[str]:
    """The lines handing X, W, DY over as x, w, dy (leaves that require grad, if ``grads``);
    other ``names`` (tangents) handed over the same way, each as the tensor it goes with."""
    if names != ("x", "w", "dy"):
        if "perm_data" in where:
            perm = {"x": where["perm_data"], "w": where["perm_filt"], "dy": where["perm_data"]}
            values = [f"handover({n.upper()}, {perm[ops.base_tensor(n)]}, dtype)" for n in names]
        else:
            values = [f"handover({n.upper()}, dtype)" for n in names]
        return [f"{', '.join(names)} = {', '.join(values)}"]
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
    args = kwargs(stride=tuple(case.strides), padding=pad_arg, dilation=tuple(case.dilations),
                  **_groups(case))
    if req.grad in ops.SECOND_ORDER:
        return _autograd_second(req, padding, emulated, recipe, helper, where, args)
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


def _groups(case) -> dict:
    """``groups=G`` where the conv is grouped (the adapter passes it always; 1 is the default)."""
    return {"groups": case.conv_groups} if case.conv_groups != 1 else {}


def _forward_def(case, padding, emulated: bool, recipe: str, args: str) -> list[str]:
    """``def forward(x, w)``: the adapter's forward call (its ``forward_fn``)."""
    body = [f"return F.{case.op}(x, w, {args})"]
    if emulated:
        body = [f"xin = F.pad(x, {py(_torch_pad_tuple(padding))})   # emulated padding: "
                f"{recipe}", f"return F.{case.op}(xin, w, {args})"]
    return ["def forward(x, w):", *("    " + line for line in body)]


# How torch.autograd takes each forward-mode / second-order grad, by its setting ``second``
# (the adapter's second_order_thunks): (the lines after forward() and the handover, what the
# header says the calls are).
SECOND_CALLS = {
    ("autograd", "jvp"): ([
        "forward_ad = torch.autograd.forward_ad   # forward mode: dual tensors (x, tx), (w, tw)",
        "with forward_ad.dual_level():",
        "    out = forward(forward_ad.make_dual(x, tx), forward_ad.make_dual(w, tw))",
        "    tangent = forward_ad.unpack_dual(out).tangent",
        "result = torch.zeros_like(out) if tangent is None else tangent"],
        "torch.autograd.forward_ad (dual tensors) through {conv}"),
    ("autograd", "double"): ([
        "# double backward: the first backward with create_graph=True, then the gradient of",
        "# <dx, gx> + <dw, gw> (grad_outputs (gx, gw)) with respect to {of}",
        "x, w, dy = (t.clone().requires_grad_(True) for t in (x, w, dy))",
        "dx, dw = torch.autograd.grad(forward(x, w), (x, w), dy, create_graph=True)",
        "result = torch.autograd.grad((dx, dw), {of}, (gx, gw), retain_graph=True)[0]"],
        "double backward: torch.autograd.grad of torch.autograd.grad(create_graph=True) "
        "of {conv}"),
    ("func", "jvp"): ([
        "result = torch.func.jvp(forward, (x, w), (tx, tw))[1]   # forward mode"],
        "torch.func.jvp of {conv}"),
    ("func", "double"): ([
        "def first_vjp(dy, x, w):   # torch.func's first-order (dx, dw)",
        "    _, pullback = torch.func.vjp(forward, x, w)",
        "    return pullback(dy)",
        "",
        "# reverse over reverse: the vjp of (dx, dw) with cotangents (gx, gw): (ddy, ddx, ddw)",
        "_, pullback2 = torch.func.vjp(first_vjp, dy, x, w)",
        "result = pullback2((gx, gw))[{index}]"],
        "torch.func.vjp of torch.func.vjp of {conv} (reverse over reverse)"),
    ("fwd_over_rev", "jvp"): ([
        "result = torch.func.jvp(forward, (x, w), (tx, tw))[1]   # forward mode"],
        "torch.func.jvp of {conv}"),
    ("fwd_over_rev", "ddy"): ([
        "result = torch.func.jvp(forward, (x, w), (gx, gw))[1]   # the jvp of y along (gx, gw)"],
        "torch.func.jvp of {conv} along (gx, gw)"),
    ("fwd_over_rev", "double"): ([
        "def first_vjp(dy, x, w):   # torch.func's first-order (dx, dw)",
        "    _, pullback = torch.func.vjp(forward, x, w)",
        "    return pullback(dy)",
        "",
        "# forward over reverse: the jvp of (dx, dw) along (gx, gw), dy fixed",
        "result = torch.func.jvp(lambda x, w: first_vjp(dy, x, w), (x, w), (gx, gw))[1][{index}]"],
        "torch.func.jvp of torch.func.vjp of {conv} (forward over reverse)"),
}


def _autograd_second(req: Request, padding, emulated: bool, recipe: str, helper: str,
                     where: dict, args: str) -> Code:
    """``compute()`` of ``jvp``, ``ddy``, ``ddx`` or ``ddw`` as ``torch.autograd`` takes it."""
    case, grad = req.case, req.grad
    mode = req.setting("second", "autograd")
    key = (mode, grad if (mode, grad) in SECOND_CALLS else
           ("jvp" if grad == "jvp" else "double"))
    calls, what = SECOND_CALLS[key]
    index = {"autograd": {"ddy": "dy", "ddx": "x", "ddw": "w"},
             "func": {"ddy": 0, "ddx": 1, "ddw": 2},
             "fwd_over_rev": {"ddx": 0, "ddw": 1}}[mode].get(grad, "")
    conv = f"F.{case.op}"
    calls = [line.format(of=index, index=index) for line in calls]
    lines = [*_tensors(where), *_tensors(where, names=tangents(grad)), "",
             *_forward_def(case, padding, emulated, recipe, args), "", *calls,
             f"return result{RESULT}"]
    compute = "def compute(dtype=DTYPE):\n" + indent("\n".join(lines)) + "\n"
    return Code(framework="torch", pip="torch",
                calls=f"{what.format(conv=conv)} ({recipe}; second={mode}); {grad} is "
                      f"{MEANING[grad]}",
                imports="import torch\nimport torch.nn.functional as F\n",
                output_layout=_canonical(grad, case.rank), compute=compute, info=INFO,
                env=_env(req), setup=_setup(req), helpers=helper, takes_dtype=True,
                versions=_versions(req), **_arrays(req, where, tangents(grad)))


def _nn_grad_second(req: Request, padding, emulated: bool, recipe: str, helper: str,
                    where: dict, args: str) -> Code:
    """The bilinear identities over ``torch.nn.grad``'s first-order functions, each term in
    the case dtype (the adapter's ``functions`` and ``second_order_thunks``)."""
    case, grad, rank = req.case, req.grad, req.case.rank
    pads = _torch_pad_tuple(padding) if emulated else None
    padded = (lambda v: f"F.pad({v}, {py(pads)})") if emulated else (lambda v: v)
    defs = {
        "y": ["def y_of(x, w):   # the forward conv",
              f"    return F.{case.op}({padded('x')}, w, {args})"],
        "dx": ["def dx_of(shape, w, dy):   # the forward conv's input gradient over shape"
               + (", padded then cropped back" if emulated else ""),
               *(["    shape = (*shape[:2], *(n + b + a for n, (b, a) in zip(shape[2:], "
                  f"{py([tuple(p) for p in padding])})))"] if emulated else []),
               f"    result = torch.nn.grad.{case.op}_input(shape, w, dy, {args})",
               (f"    return F.pad(result, {py(_torch_pad_tuple(_negated(padding)))})"
                "   # crop the padded dx back" if emulated else "    return result")],
        "dw": ["def dw_of(x, w, dy):   # the forward conv's filter gradient",
               f"    return torch.nn.grad.{case.op}_weight({padded('x')}, tuple(w.shape), "
               f"dy, {args})"],
    }
    call = {"y": "y_of({x}, {w})", "dx": "dx_of(tuple({x}.shape), {w}, {dy})",
            "dw": "dw_of({x}, {w}, {dy})"}
    terms, used = [], []
    for base, swap in ops.SECOND_ORDER_TERMS[grad]:
        names = {t: swap.get(t, t) for t in ("x", "w", "dy")}
        terms.append(call[base].format(**names))
        if base not in used:
            used.append(base)
    lines = [*_tensors(where), *_tensors(where, names=identity_tangents(grad)), ""]
    for base in used:
        lines += [*defs[base], ""]
    lines += [f"result = {' + '.join(terms)}   # {grad} = {MEANING[grad].rsplit(': ', 1)[1]}",
              f"return result{RESULT}"]
    compute = "def compute(dtype=DTYPE):\n" + indent("\n".join(lines)) + "\n"
    functions = {"y": f"F.{case.op}", "dx": f"torch.nn.grad.{case.op}_input",
                 "dw": f"torch.nn.grad.{case.op}_weight"}
    return Code(framework="torch", pip="torch",
                calls=f"{' and '.join(functions[b] for b in used)} ({recipe}); {grad} is "
                      f"{MEANING[grad]}, written by hand",
                imports="import torch\nimport torch.nn.functional as F\n",
                output_layout=_canonical(grad, rank), compute=compute, info=INFO,
                env=_env(req), setup=_setup(req), helpers=helper, takes_dtype=True,
                versions=_versions(req), **_arrays(req, where, identity_tangents(grad)))


def nn_grad(req: Request) -> Code:
    case, rank = req.case, req.case.rank
    padding, emulated, recipe = TorchNnGrad().padding(case)
    helper, where = _handover(req, rank)
    args = kwargs(stride=tuple(case.strides), dilation=tuple(case.dilations),
                  padding=0 if emulated else padding, **_groups(case))
    if req.grad in ops.SECOND_ORDER:
        return _nn_grad_second(req, padding, emulated, recipe, helper, where, args)
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
    return (layouts.canonical_filter(rank) if ops.base_tensor(grad) == "w"
            else layouts.canonical_data(rank))


def _env(req: Request) -> list:
    return []


# The impls this module writes scripts for (harness.backend.frameworks names it).
TEMPLATES = {"torch.nn_grad": nn_grad, "torch.autograd": autograd}
