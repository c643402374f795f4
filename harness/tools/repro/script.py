"""Standalone reproduction scripts: one impl, one grad, one case, no convgrad.

:func:`render` writes a Python script that imports only NumPy and the impl's
framework. It sets the variant's environment before the import, embeds the
inputs exactly as the impl handed them over (:mod:`harness.tools.repro.literals`),
makes the adapter's framework calls (:mod:`harness.tools.repro.templates`), and
compares the result with the exact values and the per-element bound convgrad
computed (embedded, never re-derived, so the script judges as this convgrad
did). It prints the versions and numerics flags an upstream bug report asks
for, then the mismatch or the exception, and exits

* 1: the recorded discrepancy reproduces (values outside the bound for a
  ``fail``; the same exception for an ``error``; bitwise-different results
  for ``nondeterministic``; the same signal for a crash; for a verdict that
  passed: any of these),
* 0: it does not,
* 2: it cannot run here (the framework is not installed, say).

Seeded inputs are regenerated, not embedded (:mod:`harness.tools.repro.regenerate`).
A value discrepancy (``fail``) of a plain convolution gets the upstream-ready
form instead (:mod:`harness.tools.repro.upstream`): the oracle and the bound
computed in the script, errors in ULPs of the case dtype, and a witness in a
wider type; under 80 lines for a bfloat16 finding.
"""
from __future__ import annotations

import importlib
import textwrap
from dataclasses import dataclass, field

from harness import __version__
from harness.numerics import layouts
from harness.backend import frameworks, platforms, variants
from harness.safeio import argtypes, outputs, printable
from harness.case.model import Case
from harness.verdict.expected import Expected
from harness.record.run_record import NUMERICS_VARIABLES
from harness.tools.repro import literals, regenerate, upstream
from harness.tools.repro.templates import NoTemplate, check_op, template
from harness.tools.repro.templates.code import Code, Request, py
from harness.case.values import Inputs


MAX_THREADS = 4096   # a threads=N setting a script takes


@dataclass
class Target:
    """One verdict to reproduce: what the impl got, what it should have got, what happened."""

    case: Case
    inputs: Inputs
    expected: Expected             # of ``grad``, laid out as the case
    impl: str                      # full name, variant included: "tf.tape[onednn=off]"
    base: str                      # "tf.tape"
    settings: dict                 # {"onednn": "off"}
    grad: str
    status: str                    # the verdict's own status (a known one resolved)
    kind: str = ""                 # see harness.tools.repro.signature
    message: str = ""
    exception: str = ""            # "Type: message" of an error's exception
    runs: int = 1                  # evaluations (--repeat)
    worker_env: dict = field(default_factory=dict)   # thread pools of the worker process
    origin: str = ""               # where the verdict comes from, for the header
    command: str = ""              # the convgrad command that writes this script
    platform: dict = field(default_factory=dict)   # what the impl's process probed
    #                                                (harness.backend.platforms.probe_impl)


class BadTarget(NoTemplate):
    """A target no script is written for: a setting its impl does not declare, a run
    count out of bounds (what would become code, checked before it does)."""


def _declared(base: str) -> dict:
    """The variants the built-in impl ``base`` declares (``{}``: none, or not built in)."""
    for module in frameworks.adapter_modules():
        for impl in importlib.import_module(module).IMPLS:
            if impl.name == base:
                return variants.declared(impl)
    return {}


def check_target(t: Target) -> None:
    """:class:`BadTarget` unless every value of ``t`` that becomes code is one convgrad
    could have recorded: each variant setting one the impl declares (a number of threads
    1 to :data:`MAX_THREADS`), the run count 1 to
    :data:`~harness.safeio.argtypes.MAX_REPEAT`, the worker's thread variables printable
    ASCII (``os.environ`` takes no NUL, no lone surrogate). Settings reach the script as
    literals, comments and calls (``torch.set_num_threads(N)``); a record or a caller may
    hold anything."""
    if isinstance(t.runs, bool) or not isinstance(t.runs, int) or \
            not 1 <= t.runs <= argtypes.MAX_REPEAT:
        raise BadTarget(f"{printable.excerpt(t.impl)}: {printable.excerpt(t.runs, 30)} "
                        f"evaluations; a script makes 1 to {argtypes.MAX_REPEAT}")
    for key, value in t.worker_env.items():   # set in os.environ before the import
        if not all(isinstance(x, str) and x.isascii() and x.isprintable() and len(x) <= 1000
                   for x in (key, value)):
            raise BadTarget(f"{printable.excerpt(t.impl)}: the worker's thread setting "
                            f"{printable.excerpt(key, 40)}={printable.excerpt(value, 40)} is "
                            "not printable ASCII; no script is written for it")
    allowed = _declared(t.base)
    for key, value in t.settings.items():
        choices = allowed.get(key) if isinstance(key, str) else None
        if choices is int:
            ok = isinstance(value, str) and value.isascii() and value.isdigit() and \
                len(value) <= 6 and 1 <= int(value) <= MAX_THREADS
            expected = f"an integer from 1 to {MAX_THREADS}"
        else:
            ok = choices is not None and value in choices
            expected = ("one of " + ", ".join(choices)) if choices else "none declared"
        if not ok:
            raise BadTarget(f"{printable.excerpt(t.impl)}: setting "
                            f"{printable.excerpt(key, 40)}={printable.excerpt(value, 40)} is not "
                            f"one {printable.excerpt(t.base, 60)} declares "
                            f"({printable.excerpt(key, 40)}: {expected}); no script is "
                            "written for it")


def message_lines(t: Target, limit: int = 8) -> list[str]:
    """The first lines of the verdict's message, without its diagnosis: every script is
    of a framework's own calls, and a diagnosis names porting mistakes."""
    lines = [line for line in t.message.strip().splitlines()
             if not line.strip().startswith("diagnosis:")]
    return lines[:limit]


def _header(t: Target, code: Code) -> str:
    case = t.case
    first = "\n".join("    " + line for line in message_lines(t))
    pads = "VALID (no padding)" if case.padding == "VALID" else (
        f"{case.padding_name} -> pads {[tuple(p) for p in case.pads]} per spatial dim "
        "(before, after)")
    groups = f", groups {case.groups}" if case.groups != 1 else ""
    what = textwrap.fill(
        f"The case: {case.op} {case.dtype}, x {list(case.input_shape)} ({case.data_format}), "
        f"w {list(case.filter_shape)} ({case.filter_format}), strides {list(case.strides)}, "
        f"dilations {list(case.dilations)}, padding {pads}{groups}. The calls: {code.calls}.",
        88)
    text = f'''\
#!/usr/bin/env python3
"""Standalone reproduction: {t.impl} {t.grad} of convgrad case {case.id}.

convgrad {__version__} judged it: {t.status}{f" ({t.kind})" if t.kind else ""}; {t.origin}
{first}

{what}
The expected values come from convgrad's float64 NumPy oracle; an element passes
when |got - expected| <= its bound (convgrad's error analysis for {case.dtype}).

Needs only NumPy and {code.framework} (pip install numpy {code.pip}), not convgrad.
Exit status: 1 the discrepancy reproduces, 0 it does not, 2 it cannot run here.
'''
    if t.platform:
        text += f"Recorded on: {platforms.summary(t.platform)}\n"
    if t.command:
        text += f"Regenerate: {t.command}\n"
    head, body = text.split('"""', 1)
    return head + '"""' + docstring_safe(body) + '"""\n'


def docstring_safe(text: str) -> str:
    """``text`` for the body of a ``\"\"\"`` docstring, whatever it holds (messages, ids, a
    record's fields are arbitrary): every line escaped as :func:`harness.safeio.printable.line`
    escapes it (NUL, ESC, lone surrogates, U+2028 and every other character Python source
    or a terminal takes badly), then backslashes doubled and triple quotes broken, so it
    can neither end the docstring nor start an escape."""
    text = "\n".join(printable.line(part) for part in text.split("\n"))
    return text.replace("\\", "\\\\").replace('"""', '\\"\\"\\"')


def _environment_parts(t: Target, code: Code) -> tuple[list, list, dict]:
    """(forced, quiet, threads): the variables set before the import, with why; the ones
    only defaulted (log levels); the worker's thread pools."""
    env = list(code.env)
    if t.settings.get("cpu"):   # the paths of a lesser CPU, as the variant took them
        taken = {k for k, _, _ in env}
        env = [(k, v, f"variant cpu={t.settings['cpu']}: the paths of an "
                      f"{t.settings['cpu']} CPU (docs/platforms.md)")
               for k, v in platforms.EMULATIONS[t.settings["cpu"]].items()
               if k not in taken and k in frameworks.path_variables(code.framework)] + env
    forced = [(k, v, why) for k, v, why in env if k != "TF_CPP_MIN_LOG_LEVEL"]
    quiet = [(k, v, why) for k, v, why in env if k == "TF_CPP_MIN_LOG_LEVEL"]
    others = frameworks.own_variables() - frameworks.own_variables(code.framework)
    relevant = {k: v for k, v in t.worker_env.items() if k not in others}
    return forced, quiet, relevant


def environment(t: Target, code: Code) -> list[tuple[str, list, str]]:
    """The variables grouped for the upstream-ready script: (what sets them, [(name, value)],
    "set" or "default"): the variant's ("variant cpu=avx2"), the worker's thread pools, and
    the ones only defaulted (log levels)."""
    forced, quiet, threads = _environment_parts(t, code)
    groups: dict[str, list] = {}
    for k, v, why in forced:
        groups.setdefault(why.split(":")[0], []).append((k, v))
    out = [(label, values, "set") for label, values in groups.items()]
    if threads:
        out.append(("convgrad's worker's thread pools", sorted(threads.items()), "set"))
    return out + [(why, [(k, v)], "default") for k, v, why in quiet]


def _environment(t: Target, code: Code) -> str:
    lines = ["import os", ""]
    forced, quiet, relevant = _environment_parts(t, code)
    if forced:
        lines.append("# Settings the framework reads once, at import: set before importing it.")
        lines += [f"os.environ[{k!r}] = {v!r}   # {printable.comment(why)}"
                  for k, v, why in forced]
    lines += [f"os.environ.setdefault({k!r}, {v!r})   # {printable.comment(why)}"
              for k, v, why in quiet]
    if relevant:
        lines.append("# Thread pools as convgrad's worker process had them: some bugs show with one")
        lines.append("# thread count only (change these to explore).")
        lines += [f"os.environ[{k!r}] = {v!r}" for k, v in sorted(relevant.items())]
    return "\n".join(lines) + "\n"


def _imports(code: Code, decoder: bool, check: bool = False) -> str:
    std = ["platform", "re", "sys"] + (["base64"] if decoder else []) + \
        (["zlib"] if decoder or check else [])
    lines = [f"import {m}" for m in sorted(std)] + ["", "import numpy as np", "", "try:"]
    lines += ["    " + line for line in code.imports.strip().splitlines()]
    lines += ["except ImportError as exc:",
              f'    print(f"cannot run: {{exc}} (pip install numpy {code.pip})")',
              "    sys.exit(2)"]
    return "\n".join(lines) + "\n"


def regenerates(t: Target, code: Code) -> bool:
    """Whether the script regenerates the inputs (some come from generators, and the
    template says where each of its arrays comes from) rather than embedding them."""
    tensors = regenerate.TENSORS + tuple(tensor for tensor, _ in code.sources.values()
                                         if tensor in regenerate.TANGENTS)
    return regenerate.regenerable(t.case, tensors) and \
        set(code.sources) >= {n for n, _, _ in code.arrays}


def _inputs(t: Target, code: Code) -> tuple[list[str], bool]:
    """The lines defining the arrays compute() reads, and whether they need the decoder."""
    case = t.case
    if not regenerates(t, code):
        lines = [f"# The inputs exactly as convgrad handed them to {code.framework}: float64 "
                 f"values already rounded to {case.dtype}."]
        lines += [f"{name} = {literals.literal(values)}   # {note}"
                  for name, values, note in code.arrays]
        return lines, literals.needs_decoder([a for _, a, _ in code.arrays])
    source, decoder, _ = regenerate.script_inputs(case, t.inputs, code.sources,
                                                  code.framework)
    lines = [f"# The inputs as convgrad generated them (seeded NumPy generators, in the case's "
             f"layouts), rounded to {case.dtype}",
             "# and checked against what convgrad computed with; then as "
             f"{code.framework} gets them.", "", source.rstrip("\n")]
    return lines, decoder


def _data(t: Target, code: Code, inputs: list[str]) -> str:
    case = t.case
    out_layout = code.output_layout
    expected = layouts.convert(t.expected.values, case.layout_of(t.grad), out_layout)
    bound = layouts.convert(t.expected.bound, case.layout_of(t.grad), out_layout)
    lines = [f"CASE = {case.id!r}", f"IMPL = {t.impl!r}", f"GRAD = {t.grad!r}",
             f"LAYOUT = {out_layout!r}   # of the result compute() returns",
             f"RECORDED = {py({'status': t.status, 'kind': t.kind, 'exception': t.exception})}",
             f"RUNS = {int(t.runs)}   # evaluations (convgrad --repeat)",
             f"DTYPE = {case.dtype!r}", "", *inputs]
    lines += ["", f"# The exact {t.grad} (float64 oracle) and the bound of each element, laid "
                  f"out {out_layout}.",
              f"EXPECTED = {literals.literal(expected)}",
              f"BOUND = {literals.literal(bound)}"]
    return "\n".join(lines) + "\n"


COMMON = '''\
FLAGS = {flags}


CPU_FLAGS = {cpu_flags}


def cpu():
    """(model name, the ISA flags that decide the frameworks' numerics paths)."""
    model, flags = platform.processor() or platform.machine(), []
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    model = line.split(":", 1)[1].strip()
                elif line.startswith("flags"):
                    present = set(line.split(":", 1)[1].split())
                    flags = [f for f in CPU_FLAGS if f in present]
                    break
    except OSError:
        pass
    return model, flags


def print_environment():
    model, flags = cpu()
    rows = [("python", sys.version.split()[0]), ("platform", platform.platform()),
            ("cpu", f"{{model}} ({{os.cpu_count()}} cores)"),
            ("cpu ISA flags", " ".join(flags) or "none of AVX2 and above"),
            ("numpy", np.__version__)]
    try:
        rows += framework_info()
    except Exception as exc:  # noqa: BLE001 - versions are help, not the point
        rows.append(("framework info", f"unavailable: {{exc}}"))
    rows += [(name, os.environ.get(name, "unset")) for name in FLAGS]
    width = max(len(k) for k, _ in rows)
    for key, value in rows:
        print(f"{{key:<{{width}}}}  {{shown(value)}}")


def shown(text):
    """Text from the record or a framework, safe on any terminal and any stdout encoding:
    every non-printable character (ESC, NUL, a lone surrogate, a line break) escaped."""
    return "".join(c if c.isprintable() else repr(c)[1:-1] for c in str(text))


def describe(exc):
    """``Type: message`` (its first lines), as convgrad records an exception."""
    text = re.sub(r"\\{{\\{{function_node [^}}]*\\}}\\}}\\s*", "", str(exc)).strip().splitlines()
    first = " ".join(line.strip() for line in text[:3])[:500]
    return f"{{type(exc).__name__}}: {{first}}" if first else type(exc).__name__


def same_exception(a, b):
    normal = lambda s: " ".join(re.sub(r"0x[0-9a-fA-F]+", "0x?", s).split())  # noqa: E731
    return normal(a) == normal(b)


def outside_bound(got):
    """|got - expected| per element and where it exceeds the bound (NaN must meet NaN,
    an infinity the same infinity)."""
    with np.errstate(all="ignore"):
        err = np.abs(got - EXPECTED)
        agree = (np.isnan(got) & np.isnan(EXPECTED)) | (np.isinf(EXPECTED) & (got == EXPECTED))
        err = np.where(agree, 0.0, err)
        err = np.where(np.isnan(err), np.inf, err)
        return err, err > BOUND


def report_values(got):
    """Print the comparison; True when some element is outside its bound."""
    if got.shape != EXPECTED.shape:
        print(f"{{GRAD}} has shape {{list(got.shape)}}; expected {{list(EXPECTED.shape)}}")
        return True
    err, bad = outside_bound(got)
    count = int(np.count_nonzero(bad))
    if EXPECTED.size:
        with np.errstate(all="ignore"):
            ratio = np.where(err == 0, 0.0, err / BOUND)
        worst = np.unravel_index(int(np.nanargmax(np.where(np.isnan(ratio), np.inf, ratio))),
                                 EXPECTED.shape)
        print(f"{{GRAD}} ({{LAYOUT}}): {{count}} of {{EXPECTED.size}} elements outside the bound; "
              f"worst at index {{tuple(int(i) for i in worst)}}: expected "
              f"{{float(EXPECTED[worst])!r}}, got {{float(got[worst])!r}}, "
              f"|err| {{float(err[worst]):.6g}}, bound {{float(BOUND[worst]):.3g}}")
    if EXPECTED.size <= 64:
        np.set_printoptions(precision=8, suppress=False, linewidth=100)
        shape = tuple(n for n in EXPECTED.shape if n != 1) or (EXPECTED.size,)
        print(f"expected (reshaped to {{list(shape)}}):",
              np.array2string(EXPECTED.reshape(shape), prefix="  "))
        print(f"got      (reshaped to {{list(shape)}}):",
              np.array2string(got.reshape(shape), prefix="  "))
    return count > 0


def distinct(results):
    kinds = []
    for r in results:
        if not any(r.shape == k.shape and np.array_equal(r, k, equal_nan=True) for k in kinds):
            kinds.append(r)
    return len(kinds)


def main():
    print(shown(f"convgrad case {{CASE}}: {{IMPL}} {{GRAD}} (convgrad recorded: "
                f"{{RECORDED['status']}})"))
    print_environment()
    print()
    results = []
    for _ in range(RUNS):
        try:
            results.append(np.asarray(compute()).astype(np.float64))
        except Exception as exc:  # noqa: BLE001 - the exception may be the discrepancy
            text = describe(exc)
            print(shown(f"{{IMPL}} raised {{text}}"))
            if RECORDED["exception"] and same_exception(text, RECORDED["exception"]):
                print("REPRODUCED: the exception convgrad recorded")
                return 1
            if RECORDED["status"] == "pass":
                print("REPRODUCED a discrepancy: convgrad recorded a pass, this is an exception")
                return 1
            print(shown("NOT REPRODUCED: convgrad recorded "
                        + (f"a different exception: {{RECORDED['exception']}}"
                           if RECORDED["exception"]
                           else f"{{RECORDED['status']}} {{RECORDED['kind']}}".strip())))
            return 0
    if os.environ.get("CONVGRAD_REPRO_SAVE"):   # for convgrad's own tests: the raw result
        np.save(os.environ["CONVGRAD_REPRO_SAVE"], results[0])
    if RECORDED["exception"]:
        report_values(results[0])
        print(shown(f"NOT REPRODUCED: no exception (convgrad recorded "
                    f"{{RECORDED['exception']}})"))
        return 0
    bad = report_values(results[0])
    kinds = distinct(results)
    if RUNS > 1:
        spread = max((float(np.nanmax(np.abs(r - results[0]))) if r.size else 0.0)
                     for r in results)
        print(f"{{kinds}} bitwise-distinct result(s) in {{RUNS}} runs; largest spread {{spread:.6g}}")
    wanted = RECORDED["status"]
    if wanted == "nondeterministic":
        reproduced = kinds > 1
    elif wanted == "error":   # a result of the wrong shape
        reproduced = results[0].shape != EXPECTED.shape
    else:                     # fail (or a pass, where any discrepancy counts)
        reproduced = bad or (wanted == "pass" and kinds > 1)
    if wanted == "nondeterministic":
        what = "results differ between runs" if kinds > 1 else "every run gave the same result"
    elif wanted == "error":
        what = ("a result of the wrong shape" if reproduced
                else "a result of the right shape, no exception")
    elif bad:
        what = "elements outside the bound"
    else:
        what = ("results differ between runs" if kinds > 1
                else "every element within its bound")
    print(("REPRODUCED: " if reproduced else "NOT REPRODUCED: ") + what)
    return 1 if reproduced else 0
'''

WATCH = '''

def watch():
    """convgrad's worker process died on this verdict: run the calls in a child process
    and see how it ends."""
    import signal
    import subprocess
    env = dict(os.environ, CONVGRAD_REPRO_CHILD="1")
    try:
        proc = subprocess.run([sys.executable, os.path.abspath(__file__)], env=env,
                              timeout={timeout})
    except subprocess.TimeoutExpired:
        print("the computation did not finish within {timeout} s")
        return 1 if RECORDED["kind"] == "timeout" else 0
    if proc.returncode < 0:
        name = signal.Signals(-proc.returncode).name
        print(f"the computation was killed by {{name}}")
        return 1 if RECORDED["kind"] in (f"crash:{{name}}", "crash") else 0
    if RECORDED["kind"] == f"exit:{{proc.returncode}}":
        return 1
    print(shown(f"the child exited with status {{proc.returncode}}: NOT REPRODUCED "
                f"(convgrad recorded {{RECORDED['kind']}})"))
    return 0
'''


def render(t: Target) -> str:
    """The script's source: the upstream-ready form for a value discrepancy it can compute
    (:func:`harness.tools.repro.upstream.applies`), else the full one.
    :class:`~harness.tools.repro.templates.NoTemplate` where no template writes the calls."""
    check_op(t.case)
    make = template(t.base)
    check_target(t)
    code = make(Request(t.base, dict(t.settings), t.case, t.inputs, t.grad))
    if upstream.applies(t, code):
        return upstream.render(t, code, environment(t, code))
    inputs, decoder = _inputs(t, code)
    decoder = decoder or literals.needs_decoder([t.expected.values])
    crash = t.status == "error" and t.kind.split(":")[0] in ("crash", "exit", "timeout")
    parts = [_header(t, code), _environment(t, code),
             _imports(code, decoder, check=regenerates(t, code))]
    if code.setup:
        parts.append(code.setup)
    if decoder:
        parts.append(literals.DECODER)
    parts.append(_data(t, code, inputs))
    if code.helpers:
        parts.append(code.helpers)
    parts += [code.compute, code.info,
              COMMON.format(flags=py(list(NUMERICS_VARIABLES)),
                            cpu_flags=py(list(platforms.CPU_FLAGS)))]
    main = "sys.exit(main())"
    if crash:
        parts.append(WATCH.format(timeout=600))
        main = ('sys.exit(watch() if os.environ.get("CONVGRAD_REPRO_CHILD") != "1" '
                "else main())")
    parts.append(f'\nif __name__ == "__main__":\n    {main}\n')
    return "\n\n".join(p.rstrip("\n") + "\n" for p in parts)


def write(t: Target, path: str, what: str = "-o") -> str:
    """Render the script of ``t`` and write it to ``path`` (executable), through the one
    checked, atomic writer (:func:`harness.safeio.outputs.write_output`: never through a
    link, an existing file left as it was on failure); ``what`` names the place in an
    error (``-o``, ``--script``)."""
    text = render(t)
    outputs.write_output(path, text, what, executable=True)
    return text
