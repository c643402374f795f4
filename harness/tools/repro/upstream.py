"""The upstream-ready script of a value discrepancy: short, and it argues the bug.

A framework maintainer reading "expected -0.0342559814453125, got -0.03515625,
bound 0.000134" for a bfloat16 result learns little: the expected value is not
a bfloat16, the bound is convgrad's, and nothing shows that the framework could
have done better. For a ``fail`` the script therefore

* regenerates seeded inputs with NumPy (:mod:`harness.tools.repro.regenerate`) and
  computes the exact values and convgrad's bound itself, in float64 NumPy (one
  ``einsum`` per kernel tap: :data:`ORACLE`; the bound of
  :mod:`harness.numerics.compare`), so nothing large is embedded: a bfloat16
  finding on a 38 -> 37 channel case is under 80 lines;
* prints, at the element furthest outside its bound, the exact value, the
  framework's value, the exact value correctly rounded to the case dtype, and
  each one's error in ULPs of the case dtype there, and the bound in ULPs; and
  for each, over the whole tensor, how many elements are outside the bound and
  the worst ``|err| / bound``;
* prints a *witness*: the same calls on the same inputs in a wider type (the
  half types in float32, float32 in float64), and that result rounded to the
  case dtype, so the report shows the framework's own wider path, rounded once,
  within the bound where its low-precision path is not;
* prints the versions and path facts probed at run time (``versions()`` of the
  template) and the platform convgrad recorded
  (:func:`harness.backend.platforms.summary`), and nothing about porting
  mistakes (convgrad's diagnosis is for ports, not for a framework's bug).

It exits 1 when some element is outside the bound, 0 when none is, 2 when it
cannot run (no framework, a NumPy that regenerates other inputs, or an exception:
its traceback says which; an uncaught exception would exit 1, "reproduced").
:func:`applies` says when this form is used: a ``fail`` of a plain convolution
(no groups, no cropping pads, finite values) whose template computes in any
dtype; every other verdict keeps the full script of :mod:`harness.tools.repro.script`.

A forward-mode or second-order grad (``jvp``, ``ddy``, ``ddx``, ``ddw``) is a sum of
first-order convolutions with the tangents swapped in
(:data:`harness.case.ops.SECOND_ORDER_TERMS`): the script computes each term with the
first-order oracle (``oracle_dx(x, gw, dy)`` for ``ddx``) and the bound of
:func:`harness.verdict.expected.expected_second_order` (each term within its
accumulation error and, where there are two, rounded to the case dtype before they are
added; then the final rounding).
"""
from __future__ import annotations

import math
import textwrap

import numpy as np

from harness import __version__
from harness.backend import platforms
from harness.case import ops
from harness.numerics import dtypes, layouts
from harness.safeio import printable
from harness.tools.repro import literals, regenerate
from harness.tools.repro.templates.code import MEANING, Code, py

# Bits of the significand (the implicit one included) and the smallest normal exponent.
FORMATS = {"float64": (53, -1022), "float32": (24, -126), "float16": (11, -14),
           "bfloat16": (8, -126)}
# The wider type the witness computes in: the half types accumulate in float32 by design.
WITNESS = {"bfloat16": "float32", "float16": "float32", "float32": "float64"}

# The window of kernel tap k over the padded input, for every output position.
WINDOW = '''\
        at = (..., *(slice(d * j, d * j + s * (m - 1) + 1, s)
                     for j, s, d, m in zip(k, STRIDES, DILATIONS, dy.shape[2:])))'''

ORACLE = {
    "y": '''\
def oracle(x, w, dy):
    """y, float64, channels-first: the convolution (a cross-correlation), tap by tap."""
    xp, out = np.pad(x, [(0, 0), (0, 0), *PADS]), np.zeros(dy.shape)
    for k in np.ndindex(*w.shape[2:]):
{window}
        out += np.einsum("nc...,oc->no...", xp[at], w[(..., *k)], optimize=True)
    return out
''',
    "dx": '''\
def oracle(x, w, dy):
    """dx, float64, channels-first: the convolution's adjoint, tap by tap, padded then cropped."""
    out = np.zeros(np.pad(x, [(0, 0), (0, 0), *PADS]).shape)
    for k in np.ndindex(*w.shape[2:]):
{window}
        out[at] += np.einsum("no...,oc->nc...", dy, w[(..., *k)], optimize=True)
    return out[(..., *(slice(b, b + n) for (b, _), n in zip(PADS, x.shape[2:])))]
''',
    "dw": '''\
def oracle(x, w, dy):
    """dw, float64, channels-first: per kernel tap, input window times dy, summed."""
    xp, out = np.pad(x, [(0, 0), (0, 0), *PADS]), np.zeros(w.shape)
    for k in np.ndindex(*w.shape[2:]):
{window}
        out[(..., *k)] = np.einsum("nc...,no...->oc", xp[at], dy, optimize=True)
    return out
''',
}

MAIN_HEAD = '''\
def main():
    print(f"python {{platform.python_version()}}, numpy {{np.__version__}}, {{platform.platform()}}")
    print(versions() + "\\nconvgrad recorded: " + {recorded!r})
'''

EXACT = '''\
    c = [{cx}, {cw}, {cdy}]   # channels-first
    exact, mag, n = (oracle(*v){pout} for v in (c, map(abs, c), map(np.ones_like, c)))
    # summed in {acc} in any order: n - 1 additions, each partial sum at most (mag + |exact|) / 2
    acc = ({u_acc} + 2.0**-53) * (np.maximum(n - 1, 0) * (mag + abs(exact)) / 2 + mag) + n * {eta_acc}
{final}'''

# The first-order bound's last line (compare.sum_bound): a sum accumulated in the output dtype
# ends in its rounding; one accumulated in float32 for a 16-bit dtype is rounded once more.
FINAL = {
    True: "    bound = acc   # in any order: convgrad's bound\n",
    False: "    bound = acc + {u_out} * (abs(exact) + acc) + {eta_out}   # then rounded once: "
           "convgrad's bound\n",
}

# A forward-mode or second-order grad: a sum of first-order convs, the tangents swapped in.
EXACT_TERMS = '''\
    c = {{{tensors}}}   # channels-first
    exact = slack = 0.0   # {grad} = {formula}: each term a conv
    for oracle, names in {terms}:
        v = [c[name] for name in names]
        t, mag, n = (oracle(*a){pout} for a in (v, map(abs, v), map(np.ones_like, v)))
        acc = n * {u_acc} * mag + n * {eta_acc} + n * 2.0**-53 * mag   # accumulated in {acc}{rounded}
        exact, slack = exact + t, slack + acc
    bound = slack + {u_out} * (abs(exact) + slack) + {eta_out}   # then rounded once: convgrad's bound
'''

ROUNDED = ''',
        acc = acc + {u_out} * (abs(t) + acc) + {eta_out}   # each term rounded to {dtype}, then added'''

MAIN = '''\
    got = np.asarray(compute(), dtype=np.float64)
{witness}\
    ratio = lambda a: np.nan_to_num(abs(a - exact) / bound, nan=np.inf)   # > 1: outside
    at = np.unravel_index(np.argmax(ratio(got)), exact.shape)
    ulp = np.ldexp(1.0, max(np.frexp(exact[at] or {tiny})[1] - 1, {emin}) - {bits1})   # {dtype}'s, at exact
    print(f"{grad} {{list(exact.shape)}} ({layout}), its worst element {{[int(i) for i in at]}}: exact "
          f"{{float(exact[at])!r}}, bound {{bound[at]:.3g}} = {{bound[at] / ulp:.2f}} ULP of {dtype}")
    print(f"  {{'':<28}}{{'there':<24}}{{'ULPs':>8}}  outside the bound  worst |err| / bound")
    for label, a in {rows}:
        print(f"  {{label:<28}}{{float(a[at])!r:<24}}{{(a[at] - exact[at]) / ulp:>+8.2f}}  "
              f"{{int((ratio(a) > 1).sum()):>17}}  {{ratio(a).max():.3g}}")
    print("REPRODUCED: elements outside the bound" if (ratio(got) > 1).any() else "NOT REPRODUCED")
    return int((ratio(got) > 1).any())
'''

WITNESS_LINES = '''\
    wide = np.asarray(compute({wide!r}), dtype=np.float64)   # witness: same calls, in {wide}
'''


def witness(t, code: Code) -> str:
    """The wider dtype the witness computes in ('' when there is none: float64, JAX without x64)."""
    wide = WITNESS.get(t.case.dtype, "")
    if wide == "float64" and code.framework == "jax" and t.settings.get("x64") == "off":
        return ""
    return wide


def applies(t, code: Code) -> bool:
    """Whether the verdict gets the upstream-ready script: a value discrepancy of a plain
    convolution the in-script oracle computes (a first-order grad, or a sum of them: forward
    mode and second order), from a template that computes in any dtype."""
    case, expected = t.case, t.expected
    tensors = set(regenerate.TENSORS) | {tensor for tensor, _ in code.sources.values()}
    return (t.status == "fail" and (t.grad in ORACLE or t.grad in ops.SECOND_ORDER_TERMS)
            and code.takes_dtype and bool(code.versions)
            and set(code.sources) >= {name for name, _, _ in code.arrays}
            and case.kind == "conv" and case.groups == 1 and case.dtype in FORMATS
            and all(b >= 0 and a >= 0 for b, a in case.pads)
            and all(np.isfinite(t.inputs.get(n)).all() for n in tensors)
            and expected.may_overflow is None and bool(np.isfinite(expected.values).all()))


def _power(value: float) -> str:
    """``2.0**-24`` for a power of two (the unit roundoffs and subnormal halves), else repr."""
    exponent = math.log2(value)
    return f"2.0**{int(exponent)}" if exponent == int(exponent) else repr(value)


def _header(t, code: Code) -> str:
    case, model = t.case, t.expected.model
    pads = "VALID" if case.padding == "VALID" else (
        f"{case.padding_name}, pads {[tuple(p) for p in case.pads]} (before, after)")
    version = t.platform.get("version")
    title = (f"{code.framework}{' ' + version if version else ''}: {case.dtype} {t.grad} of "
             f"{code.calls.split(' (')[0]} misses the bound of {model.accumulate} accumulation.")
    meaning = (f"{t.grad} is {MEANING[t.grad]}. " if t.grad in MEANING else "")
    facts = (meaning + f"{case.op}: x {list(case.input_shape)} ({case.data_format}), w "
             f"{list(case.filter_shape)} ({case.filter_format}), strides {list(case.strides)}, "
             f"dilations {list(case.dilations)}, padding {pads}"
             + ("; seeded NumPy inputs" if regenerate.regenerable(
                 case, regenerate.TENSORS + regenerate.TANGENTS) else "")
             + f". Found by convgrad {__version__} (case {case.id}, {t.impl} {t.grad}: "
             + t.status + (f", {t.kind}" if t.kind else "") + "). Exit 1: reproduces, 0: "
             "does not, 2: cannot run here.")
    text = (" ".join(title.split()) + "\n\n"
            + textwrap.fill(facts, 96, break_on_hyphens=False, break_long_words=False))
    text = "\n".join(printable.line(part) for part in text.split("\n"))   # as script's
    text = text.replace("\\", "\\\\").replace('"""', '\\"\\"\\"')         # docstring_safe
    return f'#!/usr/bin/env python3\n"""{text}\n"""\n'


def _environment(groups) -> list[str]:
    """The variables set before the framework is imported, in one ``update`` (what sets them
    in its comment), and the ones only defaulted (:func:`harness.tools.repro.script.environment`)."""
    lines = []
    forced = [(k, v) for _, values, how in groups if how == "set" for k, v in values]
    if forced:
        why = "; ".join(label for label, _, how in groups if how == "set")
        lines.append("os.environ.update({" + _wrap([f"{k!r}: {v!r}" for k, v in forced], 19,
                                                   98)[1:-1] + "})")
        lines[-1] += f"   # read at import: {printable.comment(why)}"
    lines += [f"os.environ.setdefault({k!r}, {v!r})   # {printable.comment(why)}"
              for why, values, how in groups if how == "default" for k, v in values]
    return lines


def _wrap(items: list[str], indent: int, width: int) -> str:
    """``(a, b, ...)`` broken between items, continuation lines indented ``indent``."""
    lines, line = [], "("
    for i, item in enumerate(items):
        piece = item + (", " if i < len(items) - 1 else ")")
        if len(line) + len(piece.rstrip()) > width - indent and line.strip("("):
            lines.append(line.rstrip())
            line = ""
        line += piece
    lines.append(line)
    return ("\n" + " " * indent).join(lines)


def _top(t, code: Code, groups, decoder: bool) -> str:
    """Imports, the environment, the constants."""
    case = t.case
    std = ["os", "platform", "sys", "zlib"] + (["base64"] if decoder else [])
    lines = [f"import {', '.join(sorted(std))}", *_environment(groups),
             "sys.excepthook = lambda *e: (sys.__excepthook__(*e), sys.stdout.flush(), os._exit(2))"
             "   # an exception: 2, not 1",
             "try:", "    import numpy as np",
             *("    " + line for line in code.imports.strip().splitlines()),
             "except ImportError as exc:   # exit 2: cannot run here",
             f'    sys.exit(print(f"cannot run: {{exc}} (pip install numpy {code.pip})") or 2)']
    if code.setup:
        lines.append(code.setup.rstrip("\n"))
    lines += [f"DTYPE, STRIDES, DILATIONS, PADS = {case.dtype!r}, {py(tuple(case.strides))}, "
              f"{py(tuple(case.dilations))}, {py(tuple(tuple(p) for p in case.pads))}"]
    return "\n".join(lines) + "\n"


def render(t, code: Code, environment) -> str:
    """The script's source (``environment``: :func:`harness.tools.repro.script.environment`)."""
    case, model = t.case, t.expected.model
    wide = witness(t, code)
    inputs, decoder, held = regenerate.script_inputs(case, t.inputs, code.sources,
                                                     code.framework)
    tensors = tuple(held)   # x, w, dy and the tangents the calls take
    canonical = {name: (layouts.canonical_filter(case.rank) if ops.base_tensor(name) == "w"
                        else layouts.canonical_data(case.rank)) for name in (*tensors, t.grad)}
    moved = {name: held[name] + regenerate.transposed(case.layout_of(name), canonical[name])
             for name in tensors}
    rows = [(f"{code.framework} {case.dtype}", "got"),
            (f"exact rounded to {case.dtype}", "rnd(exact)")]
    if wide:
        rows += [(f"{code.framework} {wide}", "wide"), (f"  rounded to {case.dtype}", "rnd(wide)")]
    listed = _wrap([f"({label!r}, {expr})" for label, expr in rows], 21, 96)
    bits, emin = FORMATS[case.dtype]
    same = {code.sources[n][0]: n for n in code.sources
            if code.sources[n][1] == canonical[code.sources[n][0]]}
    second = t.grad in ops.SECOND_ORDER_TERMS
    parts = ops.SECOND_ORDER_TERMS.get(t.grad, ())
    terms = [(f"oracle_{base}", tuple(swap.get(n, n) for n in ("x", "w", "dy")))
             for base, swap in parts]
    channels_first = {n: same.get(n, moved[n]) for n in tensors}
    exact = (EXACT_TERMS if second else EXACT).replace(
        "{rounded}", ROUNDED if len(parts) > 1 else "").replace(
        "{final}", FINAL[model.accumulate == model.output])
    main = (MAIN_HEAD + exact + MAIN).format(
        tensors=", ".join(f"{n!r}: {channels_first[n]}" for n in tensors
                          if any(n in names for _, names in terms)),
        terms="(" + ", ".join(f"({f}, {names!r})" for f, names in terms)
              + ("," if len(terms) == 1 else "") + ")",
        formula=MEANING.get(t.grad, "").rsplit(": ", 1)[-1],
        cx=channels_first["x"], cw=channels_first["w"], cdy=channels_first["dy"],
        grad=t.grad, dtype=case.dtype, tiny=_power(2.0 ** emin), emin=emin, bits1=bits - 1,
        recorded=printable.line(platforms.summary(t.platform)) if t.platform else "not probed",
        pout=regenerate.transposed(canonical[t.grad], code.output_layout),
        layout=code.output_layout,
        u_acc=_power(dtypes.UNIT_ROUNDOFF[model.accumulate]),
        eta_acc=_power(dtypes.UNDERFLOW[model.accumulate]),
        u_out=_power(dtypes.UNIT_ROUNDOFF[model.output]),
        eta_out=_power(dtypes.UNDERFLOW[model.output]), acc=model.accumulate,
        rows=listed, witness=WITNESS_LINES.format(wide=wide) if wide else "")
    framework = "".join(p.strip("\n").replace("\n\n\n", "\n") + "\n"
                        for p in (code.helpers, code.compute, code.versions) if p)
    if second:   # the first-order oracles its terms take, one each
        bases = dict.fromkeys(base for base, _ in parts)
        oracles = "\n".join(ORACLE[base].format(window=WINDOW).replace(
            "def oracle(", f"def oracle_{base}(") for base in bases)
    else:
        oracles = ORACLE[t.grad].format(window=WINDOW)
    return "\n".join([_header(t, code), _top(t, code, environment, decoder),
                      *([literals.DECODER] if decoder else []), inputs, framework,
                      oracles, main,
                      'if __name__ == "__main__":\n    sys.exit(main())\n'])
