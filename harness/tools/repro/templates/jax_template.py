"""Script template for ``jax.vjp`` (:mod:`harness.backend.adapters.jax_adapter`).

JAX takes the case's own layouts as dimension numbers and every padding mode
natively, so the script calls ``jax.vjp`` of ``jax.lax.conv_general_dilated``
with the case as written; x64 is on unless the variant says ``x64=off``, and
``tf32`` picks the conv precision, as in the adapter.
"""
from __future__ import annotations

from harness.tools.repro.templates.code import Code, Request, arrays, block, indent, py

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
    index = {"y": 0, "dx": 1, "dw": 2}[req.grad]
    lines = ['dtype = jnp.bfloat16 if dtype == "bfloat16" else np.dtype(dtype)',
             f"device = {device}",
             "put = lambda a: jax.device_put(a.astype(dtype), device)",
             "",
             "def forward(x, w):",
             indent("return jax.lax.conv_general_dilated(\n"
                    f"    x, w, window_strides={py(tuple(case.strides))}, padding={py(padding)},\n"
                    f"    rhs_dilation={py(tuple(case.dilations))}, precision={precision},\n"
                    f"    dimension_numbers={py(numbers)})"),
             "",
             "y, pullback = jax.vjp(forward, put(X), put(W))",
             "results = (y, *pullback(put(DY)))",
             f"return np.asarray(results[{index}]).astype(np.float64)   # {req.grad}"]
    compute = "def compute(dtype=DTYPE):\n" + indent("\n".join(lines)) + "\n"
    return Code(framework="jax", pip="jax", imports="import jax\nimport jax.numpy as jnp\n",
                calls=f"jax.vjp of jax.lax.conv_general_dilated (padding={padding!r})",
                output_layout=case.layout_of(req.grad), compute=compute, info=INFO,
                setup=f'jax.config.update("jax_enable_x64", {x64})'
                      f"   # convgrad: x64 {'on' if x64 else 'off (variant)'}\n",
                takes_dtype=True, versions=VERSIONS,
                **arrays(req, [(name.upper(), name, case.layout_of(name), "")
                               for name in ("x", "w", "dy")]))


# The impls this module writes scripts for (harness.backend.frameworks names it).
TEMPLATES = {"jax.vjp": vjp}
