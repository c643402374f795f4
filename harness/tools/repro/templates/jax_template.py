"""Script template for ``jax.vjp`` (:mod:`harness.backend.adapters.jax_adapter`).

JAX takes the case's own layouts as dimension numbers and every padding mode
natively, so the script calls ``jax.vjp`` of ``jax.lax.conv_general_dilated``
with the case as written; x64 is on unless the variant says ``x64=off``, and
``tf32`` picks the conv precision, as in the adapter.

Forward mode and second order as the adapter takes them: ``jvp`` by ``jax.jvp`` of the
forward along ``(tx, tw)``; ``ddy``, ``ddx``, ``ddw`` by ``jax.vjp`` of a function that
calls ``jax.vjp`` (reverse over reverse, cotangents ``(gx, gw)``), or with ``second=fwd``
by ``jax.jvp`` of the first-order pullback along ``(gx, gw)`` with ``dy`` fixed (and
``ddy`` by ``jax.jvp`` of the forward along ``(gx, gw)``).
"""
from __future__ import annotations

from harness.case import ops
from harness.tools.repro.templates.code import (MEANING, Code, Request, arrays, block, indent,
                                                  py, tangents)

INFO = block('''
    def framework_info():
        import jaxlib
        return [("jax", jax.__version__), ("jaxlib", jaxlib.__version__),
                ("backend", jax.default_backend()), ("devices", [str(d) for d in jax.devices()]),
                ("jax_enable_x64", jax.config.read("jax_enable_x64")),
                ("XLA_FLAGS", os.environ.get("XLA_FLAGS", "unset"))]
''')

VERSIONS = block('''
    def versions():
        import jaxlib
        return (f"jax {jax.__version__}, jaxlib {jaxlib.__version__}, backend "
                f"{jax.default_backend()}, x64 {jax.config.read('jax_enable_x64')}, XLA_FLAGS "
                f"{os.environ.get('XLA_FLAGS', 'unset')}")
''')


def vjp(req: Request) -> Code:
    case = req.case
    x64 = req.setting("x64", "on") == "on"
    padding = case.padding if isinstance(case.padding, str) else [tuple(p) for p in case.padding]
    precision = {"off": "jax.lax.Precision.HIGHEST",
                 "on": "jax.lax.Precision.DEFAULT"}.get(req.setting("tf32"), "None")
    device = 'jax.devices("gpu")[0]' if req.setting("device") == "cuda" else "None"
    numbers = (case.data_format, case.filter_format, case.data_format)
    groups = (f",\n    feature_group_count={case.conv_groups}" if case.conv_groups != 1 else "")
    lines = ['dtype = jnp.bfloat16 if dtype == "bfloat16" else np.dtype(dtype)',
             f"device = {device}",
             "put = lambda a: jax.device_put(a.astype(dtype), device)",
             "",
             "def forward(x, w):",
             indent("return jax.lax.conv_general_dilated(\n"
                    f"    x, w, window_strides={py(tuple(case.strides))}, padding={py(padding)},\n"
                    f"    rhs_dilation={py(tuple(case.dilations))}, precision={precision},\n"
                    f"    dimension_numbers={py(numbers)}{groups})"),
             ""]
    calls = f"jax.vjp of jax.lax.conv_general_dilated (padding={padding!r})"
    if req.grad in ops.SECOND_ORDER:
        more, calls = _second(req.grad, req.setting("second", "rev"), padding)
        lines += more
    else:
        index = {"y": 0, "dx": 1, "dw": 2}[req.grad]
        lines += ["y, pullback = jax.vjp(forward, put(X), put(W))",
                  "results = (y, *pullback(put(DY)))",
                  f"return np.asarray(results[{index}]).astype(np.float64)   # {req.grad}"]
    compute = "def compute(dtype=DTYPE):\n" + indent("\n".join(lines)) + "\n"
    return Code(framework="jax", pip="jax", imports="import jax\nimport jax.numpy as jnp\n",
                calls=calls,
                output_layout=case.layout_of(req.grad), compute=compute, info=INFO,
                setup=f'jax.config.update("jax_enable_x64", {x64})'
                      f"   # convgrad: x64 {'on' if x64 else 'off (variant)'}\n",
                takes_dtype=True, versions=VERSIONS,
                **arrays(req, [(name.upper(), name, case.layout_of(name), "")
                               for name in ("x", "w", "dy", *tangents(req.grad))]))


def _second(grad: str, mode: str, padding) -> tuple[list[str], str]:
    """The lines after ``forward`` computing ``grad`` (forward mode or second order) as the
    adapter does with its setting ``second`` (rev, default, or fwd); what the calls are."""
    conv = f"jax.lax.conv_general_dilated (padding={padding!r})"
    meaning = f"; {grad} is {MEANING[grad]}"
    done = f"return np.asarray(result).astype(np.float64)   # {grad}"
    if grad == "jvp":
        return (["result = jax.jvp(forward, (put(X), put(W)), (put(TX), put(TW)))[1]"
                 "   # forward mode", done], f"jax.jvp of {conv}{meaning}")
    pullback = ["def pullback(x, w, dy):   # the first-order (dx, dw): what a user "
                "differentiates again", "    return jax.vjp(forward, x, w)[1](dy)", ""]
    if mode == "fwd" and grad == "ddy":
        return (["result = jax.jvp(forward, (put(X), put(W)), (put(GX), put(GW)))[1]"
                 "   # the jvp of y along (gx, gw)", done],
                f"jax.jvp of {conv} along (gx, gw) (second=fwd){meaning}")
    if mode == "fwd":
        return ([*pullback, "dy = put(DY)   # forward over reverse: the jvp of (dx, dw) along "
                 "(gx, gw), dy fixed",
                 "ddx, ddw = jax.jvp(lambda x, w: pullback(x, w, dy), (put(X), put(W)), "
                 "(put(GX), put(GW)))[1]", f"result = {grad}", done],
                f"jax.jvp of jax.vjp of {conv} (forward over reverse, second=fwd){meaning}")
    return ([*pullback, "# reverse over reverse: the vjp of (dx, dw) with cotangents (gx, gw)",
             "_, back = jax.vjp(pullback, put(X), put(W), put(DY))",
             "ddx, ddw, ddy = back((put(GX), put(GW)))", f"result = {grad}", done],
            f"jax.vjp of jax.vjp of {conv} (reverse over reverse){meaning}")


# The impls this module writes scripts for (harness.backend.frameworks names it).
TEMPLATES = {"jax.vjp": vjp}
