"""Bug reproduction without frameworks: exact literals, case specs, signatures, the
commands offered with a failure, shrinking planted bugs, the fuzzer's case space and loop.

Everything here runs on planted impls (tests/planted.py) in process: the fast layer.
"""
from __future__ import annotations

import json
import math
import shlex
from pathlib import Path

import numpy as np
import pytest

from harness.session import runner
from harness.case.loader import load_cases
from harness.tools.repro import fuzz, literals, shrink, space
from harness.tools.repro.signature import Signature, error_kind, masked
from harness.tools.repro.spec import from_case, only_grad
from harness.render.terminal import repro_command, run_options, script_command
from harness.case.values import materialize
from tests import planted

LARGE = """\
id: big/{name}
op: conv2d
grads: [y, dx, dw]
data_format: NHWC
batch: 3
in_channels: 8
out_channels: 6
input_size: [17, 16]
kernel_size: [4, 3]
strides: {strides}
dilations: {dilations}
padding: SAME
x: {{random: normal}}
w: {{random: normal}}
dy: {{random: normal}}
"""


def load_one(tmp_path: Path, text: str, name: str = "case.yaml"):
    path = tmp_path / name
    path.write_text(text)
    (case,) = load_cases([path])
    return case


# ------------------------------------------------------------------ literals

@pytest.mark.parametrize("values", [
    np.array([1.0, -0.0, 0.1, 1e-300, -2.5e300, np.nan, np.inf, -np.inf]),
    np.arange(24, dtype=np.float64).reshape(2, 3, 4) / 7,
    np.random.default_rng(0).standard_normal((5, 7, 11)).astype(np.float32).astype(np.float64),
    np.random.default_rng(1).standard_normal((9, 40)),
    np.zeros((0, 3)),
])
def test_literals_read_back_bit_for_bit(values):
    namespace = {"np": np, "base64": __import__("base64"), "zlib": __import__("zlib")}
    exec(literals.DECODER, namespace)
    back = eval(literals.literal(values), namespace)
    assert back.dtype == np.float64 and back.shape == values.shape
    assert np.array_equal(back.view(np.uint64), values.view(np.uint64))


def test_large_arrays_are_packed_in_float32_when_exact():
    exact = np.random.default_rng(0).standard_normal(1000).astype(np.float32).astype(np.float64)
    assert '"<f4"' in literals.literal(exact)
    assert '"<f8"' in literals.literal(exact + 1e-12)


# ------------------------------------------------------------------ specs

def test_a_spec_gives_back_the_same_case(tmp_path):
    case = load_one(tmp_path, """\
id: t/spec
op: conv2d
grads: [dx, dw]
data_format: NCHW
filter_format: OIHW
input_shape: [2, 3, 5, 4]
filter_shape: [2, 3, 2, 3]
strides: [2, 1]
dilations: [1, 2]
padding: [[1, 0], [2, 1]]
dtype: bfloat16
x: {random: normal}
w: {random: uniform, low: -2, high: 2}
dy: {range: 1}
""")
    again = from_case(case).to_case()
    assert (again.input_shape, again.filter_shape, again.padding, again.strides,
            again.dilations, again.dtype, again.data_format, again.filter_format) == \
        (case.input_shape, case.filter_shape, case.padding, case.strides, case.dilations,
         case.dtype, case.data_format, case.filter_format)
    for name in ("x", "w", "dy"):
        assert np.array_equal(getattr(materialize(again), name), getattr(materialize(case), name))
    # written as YAML and read back by the loader: the same values again
    path = tmp_path / "back.yaml"
    path.write_text(from_case(case).replace(id="t/other-id").yaml_text("a header"))
    (loaded,) = load_cases([path])
    assert np.array_equal(materialize(loaded).x, materialize(case).x)   # seeds were pinned
    assert path.read_text().startswith("# a header\n")


def test_only_grad_drops_the_values_it_does_not_use(tmp_path):
    case = load_one(tmp_path, LARGE.format(name="g", strides=1, dilations=1))
    s = only_grad(from_case(case), "dx")
    assert s.grads == ("dx",) and s.x is None and s.w is not None and s.dy is not None
    assert s.to_case().grads == ("dx",)


# ------------------------------------------------------------------ signatures

def test_error_kinds_mask_what_changes_while_a_case_shrinks():
    assert error_kind("worker killed by SIGABRT\nlast lines ...") == "crash:SIGABRT"
    assert error_kind("worker exited with status 3") == "exit:3"
    assert error_kind("timeout: no answer within 300 s (worker killed)") == "timeout"
    assert error_kind("jax.vjp returned dx of shape [1, 2]; the case's dx has shape [3]") \
        == "shape"
    a = error_kind("InvalidArgumentError: Computed input depth 3 doesn't match 2 at 0x7f3a")
    b = error_kind("InvalidArgumentError: Computed input depth 8 doesn't match 4 at 0x5e11")
    assert a == b == "exception:InvalidArgumentError: Computed input depth # doesn't match # at #"
    assert masked("a  b\n c 12") == "a b c #"
    assert str(Signature("tf.tape", "dx", "fail", "gross")) == "tf.tape dx fail (gross)"
    assert Signature("t", "y", "fail", "gross").family == \
        Signature("t", "y", "fail", "nonfinite").family != \
        Signature("t", "y", "fail", "rounding").family


# ------------------------------------------------------------------ commands offered

RECORD = {"environment": {"command": ["convgrad", "run", "cases/", "--repeat", "3",
                                      "--no-known", "--limitations=extra lim.yaml",
                                      "--timeout", "20"],
                          "run": {"repeat": 3, "timeout_s": 20.0, "isolation": "workers"}}}
VERDICT = {"case": "a b/c'd", "impl": "torch.autograd[memory=nhwc_view]", "grad": "dw"}


def test_the_rerun_command_is_shell_quoted_and_keeps_what_the_verdict_depended_on():
    command = repro_command(VERDICT, "my cases/x.yaml", run_options(RECORD))
    assert shlex.split(command) == [
        "convgrad", "run", "my cases/x.yaml", "-k", "a b/c'd", "--impl",
        "torch.autograd[memory=nhwc_view]", "--repeat", "3", "--no-known", "--limitations",
        "extra lim.yaml", "--timeout", "20"]


def test_the_script_command_names_one_verdict_and_a_safe_file():
    command = script_command(VERDICT, "my cases/x.yaml", run_options(RECORD))
    words = shlex.split(command)
    assert words[:9] == ["convgrad", "repro", "my cases/x.yaml", "--case", "a b/c'd",
                         "--impl", "torch.autograd[memory=nhwc_view]", "--grad", "dw"]
    assert "--repeat" in words and "--no-known" not in words   # known plays no part in a script
    out = words[words.index("-o") + 1]
    assert out.endswith(".py") and " " not in out and "/" not in out and "'" not in out


def test_a_default_run_adds_no_options():
    options = run_options({"environment": {"command": ["convgrad", "run"],
                                           "run": {"repeat": 1, "timeout_s": 300.0}}})
    assert repro_command(VERDICT, "c.yaml", options).endswith(
        "--impl 'torch.autograd[memory=nhwc_view]'")


# ------------------------------------------------------------------ shrinking planted bugs

BUG_CASES = {   # each bug, and a large case it fails on
    planted.PadBeforeInsteadOfAfter: dict(strides=1, dilations=1),
    planted.KernelNotFlipped: dict(strides=2, dilations=1),
    planted.DilationIgnored: dict(strides=1, dilations=2),
    planted.StrideOffByOne: dict(strides=2, dilations=1),
    planted.ChannelsTransposed: dict(strides=1, dilations=1),
}


@pytest.mark.parametrize("bug", list(BUG_CASES), ids=lambda b: b.name)
def test_a_planted_bug_shrinks_to_a_few_dozen_elements_failing_the_same_way(tmp_path, bug):
    case = load_one(tmp_path, LARGE.format(name=bug.name, **BUG_CASES[bug]))
    before = {name: math.prod(case.shape_of(name)) for name in ("x", "w", "dy")}
    outcome = shrink.shrink(case, bug(), backend=runner.InProcess(), time_budget=60)
    after = outcome.elements()
    assert min(before.values()) > 200 and max(after.values()) <= 36, after
    assert outcome.signature.status in ("fail", "error") and outcome.complete
    # the shrunk case, written and loaded again, still fails the same way
    path = tmp_path / "shrunk.yaml"
    shrink.write_outcome(outcome, str(path))
    (again,) = load_cases([path])
    result = runner.Session([runner.ImplInfo(bug(), True, "planted")], known=()).judge([again])[0]
    v = next(v for v in result.verdicts if v.grad == outcome.signature.grad)
    from harness.tools.repro.signature import signature
    assert signature(result, v) == outcome.signature
    assert "Shrunk by convgrad shrink" in path.read_text()


def test_shrinking_is_deterministic(tmp_path):
    case = load_one(tmp_path, LARGE.format(name="det", strides=2, dilations=1))
    runs = [shrink.shrink(case, planted.KernelNotFlipped(), backend=runner.InProcess())
            for _ in range(2)]
    assert runs[0].steps == runs[1].steps and runs[0].spec.yaml_text() == runs[1].spec.yaml_text()


def test_a_passing_case_is_not_shrunk(tmp_path):
    case = load_one(tmp_path, LARGE.format(name="ok", strides=1, dilations=1))
    with pytest.raises(shrink.ShrinkError, match="is pass"):
        shrink.shrink(case, planted.Planted(), backend=runner.InProcess())


def test_a_shrink_out_of_time_keeps_the_smallest_case_so_far(tmp_path):
    case = load_one(tmp_path, LARGE.format(name="time", strides=2, dilations=1))
    outcome = shrink.shrink(case, planted.KernelNotFlipped(), backend=runner.InProcess(),
                            time_budget=1e-9)
    assert not outcome.complete and outcome.signature.status == "fail"


# ------------------------------------------------------------------ the case space

def test_the_same_seed_draws_the_same_cases():
    draw = lambda seed: [space.draw(np.random.default_rng(seed), f"f/{i}")[0].yaml_text()  # noqa
                         for i in range(5)]
    assert draw(4) == draw(4) and draw(4) != draw(5)


def test_the_space_covers_the_case_format():
    rng = np.random.default_rng(0)
    specs = [space.draw(rng, f"f/{i}")[0] for i in range(300)]
    seen = lambda f: {f(s) for s in specs}  # noqa: E731
    assert seen(lambda s: s.rank) == {1, 2, 3}
    assert seen(lambda s: s.padding if isinstance(s.padding, str) else "explicit") == \
        {"VALID", "SAME", "SAME_LOWER", "explicit"}
    assert seen(lambda s: s.dtype) == set(space.DTYPES)
    assert seen(lambda s: (s.channels_last, s.filter_spatial_first)) == \
        {(a, b) for a in (True, False) for b in (True, False)}
    assert 1 in seen(lambda s: s.in_channels) and max(seen(lambda s: s.out_channels)) >= 32
    assert max(seen(lambda s: max(s.strides))) >= 3 and max(seen(lambda s: max(s.dilations))) >= 2
    assert any(k > n for s in specs for k, n in zip(s.kernel, s.sizes))   # kernel > input
    assert any(isinstance(s.x, np.ndarray) for s in specs)                 # wide dynamic range


def test_wide_range_values_span_many_binades_and_fit_the_dtype():
    for dtype in space.DTYPES:
        v = space.wide_range(np.random.default_rng(0), dtype, (4000,))
        exponents = np.log2(np.abs(v))
        assert exponents.max() - exponents.min() > 8 and np.all(np.isfinite(v))


# ------------------------------------------------------------------ the fuzz loop

def test_fuzz_finds_shrinks_and_writes_a_planted_bug(tmp_path):
    options = fuzz.Options(seconds=120, seed=1, out=tmp_path / "out", max_cases=12,
                           shrink_seconds=30)
    report = fuzz.fuzz([planted.KernelNotFlipped()], options, backend=runner.InProcess())
    assert report.cases == 12 and report.findings
    found = json.loads((tmp_path / "out" / "findings.json").read_text())
    assert {tuple(sorted(f)) for f in found} and all(
        {"case", "impl", "grad", "status", "case_file", "script"} <= set(f) for f in found)
    first = found[0]
    assert first["impl"] == "planted.kernel_not_flipped" and first["status"] in ("fail", "error")
    (case,) = load_cases([first["case_file"]])
    assert case.id == first["case"] and max(first["elements"].values()) <= 36
    assert Path(first["original_file"]).is_file()
    # no standalone script for an impl convgrad has no template of: said so in the file
    assert "no standalone script" in Path(first["script"]).read_text()
    # one finding per signature; later hits are counted
    assert len({(f["impl"], f["grad"], f["status"], f["kind"]) for f in found}) == len(found)


def test_fuzz_is_reproducible_from_its_seed(tmp_path):
    def run(out):
        options = fuzz.Options(seconds=120, seed=7, out=out, max_cases=8, shrink_seconds=30)
        fuzz.fuzz([planted.PadBeforeInsteadOfAfter()], options, backend=runner.InProcess())
        return [(f["case"], f["impl"], f["grad"], f["hits"], f["summary"])
                for f in json.loads((out / "findings.json").read_text())]
    assert run(tmp_path / "a") == run(tmp_path / "b")


def test_fuzz_skips_documented_discrepancies_by_signature(tmp_path):
    cases = tmp_path / "cases"
    cases.mkdir()
    (cases / "k.yaml").write_text(LARGE.format(name="known", strides=2, dilations=1))
    known = tmp_path / "known.yaml"
    known.write_text("- case: big/known\n  impl: planted.kernel_not_flipped\n  reason: r\n"
                     "  evidence: e\n")
    from harness.verdict.known import load_known
    options = fuzz.Options(seconds=120, seed=1, out=tmp_path / "out", max_cases=12,
                           shrink_seconds=30, cases_paths=[str(cases)])
    report = fuzz.fuzz([planted.KernelNotFlipped()], options, backend=runner.InProcess(),
                       known=load_known(known))
    assert report.known and all("planted.kernel_not_flipped dx fail (gross)" != str(f.signature)
                                for f in report.findings)


def test_fuzz_refuses_an_unknown_generator(tmp_path):
    options = fuzz.Options(seconds=1, out=tmp_path, ops=["conv9"])
    with pytest.raises(fuzz.FuzzError, match="unknown generator"):
        fuzz.fuzz([planted.Planted()], options, backend=runner.InProcess())


def test_fuzz_command_usage_errors(capsys):
    from harness.frontends import cli
    assert cli.main(["fuzz", "--time", "1", "--op", "conv9", "--out", "unused"]) == 2
    assert "unknown generator(s) conv9" in capsys.readouterr().err
    assert cli.main(["fuzz", "--time", "1", "--dtype", "float8", "--out", "unused"]) == 2
    assert "--dtype: unknown float8" in capsys.readouterr().err


# ------------------------------------------------------------------ scripts, without running them

SCRIPT_IMPORTS = {"os", "sys", "re", "platform", "base64", "zlib", "signal", "subprocess",
                  "numpy", "tensorflow", "torch", "torch.nn.functional", "jax", "jax.numpy",
                  "jaxlib"}
DIAGNOSIS = ("diagnosis: none of the known porting mistakes tried (kernel-flipped) explains it")


@pytest.mark.parametrize("impl", ["tf.backprop", "tf.tape[onednn=off]", "torch.nn_grad",
                                  "torch.autograd[memory=nhwc_view]",
                                  "torch.autograd[memory=channels_last,threads=2]",
                                  "jax.vjp[x64=off]"])
@pytest.mark.parametrize("status", ["error", "fail", "nondeterministic"])
def test_every_template_renders_a_script_that_needs_no_convgrad(tmp_path, impl, status):
    import ast

    from harness.verdict.expected import expected
    from harness.tools.repro import script
    from harness.tools.repro.target import split_impl
    case = load_one(tmp_path, LARGE.format(name="t", strides=2, dilations=1)
                    .replace("SAME", "SAME_LOWER"))
    inputs = materialize(case)
    base, settings = split_impl(impl)
    weird = 'ValueError: a """ quote \\ and a backslash'
    t = script.Target(case=case, inputs=inputs, expected=expected(case, inputs)["dx"],
                      impl=impl, base=base, settings=settings, grad="dx", status=status,
                      kind={"error": "crash:SIGABRT", "fail": "gross"}.get(status, ""),
                      message=weird + "\n" + DIAGNOSIS,
                      worker_env={"OMP_NUM_THREADS": "1", "XLA_FLAGS": "x"},
                      platform={"version": "9.9", "cpu": {"class": "avx2"}, "onednn": "off"})
    text = script.render(t)
    tree = ast.parse(text)          # compiles, whatever the message holds
    doc = ast.get_docstring(tree)
    if status == "fail":            # upstream-ready: the script says what it finds itself
        assert weird not in text and "def oracle(" in text
        # the witness computes in float64: none where JAX runs without x64
        assert ("witness" in text) == (impl != "jax.vjp[x64=off]")
    else:
        assert doc.count(weird) == 1 and "Recorded on: cpu avx2 | oneDNN off" in doc
    assert "diagnosis" not in text  # a framework's bug: nothing about porting mistakes
    imports = {a.name for n in ast.walk(tree) if isinstance(n, ast.Import) for a in n.names}
    assert imports <= SCRIPT_IMPORTS and "harness" not in text.split('"""', 2)[2]
    assert ("def watch()" in text) == (status == "error")     # a crash is watched from a child
    before_import = text.split("\ntry:\n")[0]                 # set before the framework loads
    assert ("XLA_FLAGS" in before_import) == impl.startswith("jax")
    assert ("OMP_NUM_THREADS" in before_import)
    # seeded inputs are regenerated, never embedded (the case is 3 x 17 x 16 x 8 and more);
    # only the full script embeds the oracle's values and bound
    assert "default_rng(" in text and not any(f"{name} = unpack(" in text
                                               for name in ("x", "w", "dy", "X", "W", "DY"))
    assert ("EXPECTED = unpack(" in text) == (status != "fail")
    assert status != "fail" or len(text.splitlines()) < 90


# ------------------------------------------------------------------ regenerated inputs

GENERATED = """\
id: gen/{name}
op: conv2d
grads: [y, dx, dw]
data_format: {data}
filter_format: {filt}
dtype: {dtype}
batch: 2
in_channels: 3
out_channels: 4
input_size: [5, 6]
kernel_size: [2, 3]
padding: {padding}
x: {x}
w: {w}
dy: {dy}
"""
VALUES = {
    "normal": "{random: normal}",
    "scaled": "{random: normal, seed: 7, scale: 0.001}",
    "uniform": "{random: uniform, seed: 3, low: -2, high: 5.5}",
    "integers": "{random: integers, low: -4, high: 4}",
    "range": "{range: -7}",
    "constant": "{constant: 0.1}",
}


def _exec_inputs(case, inputs, sources=None):
    """The script's rnd, the regenerated tensors and their check, run with NumPy alone."""
    import sys
    import zlib

    from harness.tools.repro import regenerate
    text, _, held = regenerate.script_inputs(case, inputs, sources or {}, "the framework")
    namespace = {"np": np, "zlib": zlib, "sys": sys, "DTYPE": case.dtype}
    exec(text, namespace)           # exits 2 if its own check fails
    return namespace, held


@pytest.mark.parametrize("dtype", ["float64", "float32", "float16", "bfloat16"])
@pytest.mark.parametrize("values", list(VALUES))
def test_regenerated_inputs_equal_convgrads_bit_for_bit(tmp_path, dtype, values):
    case = load_one(tmp_path, GENERATED.format(
        name=values, data="NCHW" if values == "range" else "NHWC",
        filt="OIHW" if values == "uniform" else "HWIO", dtype=dtype, padding="SAME",
        x=VALUES[values], w=VALUES["normal"] if values == "range" else VALUES[values],
        dy=VALUES[values]))
    inputs = materialize(case)
    namespace, held = _exec_inputs(case, inputs)
    for name in ("x", "w", "dy"):
        got = namespace[held[name]]
        assert got.shape == getattr(inputs, name).shape
        assert np.array_equal(got, getattr(inputs, name)) and \
            np.array_equal(np.signbit(got), np.signbit(getattr(inputs, name)))


def test_explicit_values_stay_embedded_and_arrays_move_to_the_templates_layouts(tmp_path):
    case = load_one(tmp_path, GENERATED.format(
        name="explicit", data="NHWC", filt="HWIO", dtype="bfloat16", padding="VALID",
        x=VALUES["normal"], w=VALUES["normal"], dy=VALUES["normal"]).replace(
        "w: {random: normal}", "w: " + str(np.arange(72).reshape(2, 3, 3, 4).tolist())))
    inputs = materialize(case)
    sources = {"X": ("x", "NCHW"), "W": ("w", "HWIO"), "DY": ("dy", "NCHW")}
    namespace, held = _exec_inputs(case, inputs, sources)
    assert held == {"x": "x", "w": "W", "dy": "dy"}      # W is laid out as the case: no copy
    assert np.array_equal(namespace["X"], inputs.x.transpose(0, 3, 1, 2))
    assert np.array_equal(namespace["W"], inputs.w)
    from harness.tools.repro import regenerate
    text, _, _ = regenerate.script_inputs(case, inputs, sources, "torch")
    assert "W = np.array([" in text and "default_rng" in text   # given values embedded


def test_a_numpy_that_generates_other_values_makes_the_script_exit_2(tmp_path):
    case = load_one(tmp_path, GENERATED.format(
        name="other", data="NHWC", filt="HWIO", dtype="float32", padding="VALID",
        x=VALUES["normal"], w=VALUES["normal"], dy=VALUES["normal"]))
    inputs = materialize(case)
    changed = type(inputs)(x=inputs.x + 1.0, w=inputs.w, dy=inputs.dy)
    with pytest.raises(SystemExit) as stop:
        _exec_inputs(case, changed)
    assert stop.value.code == 2


def test_bfloat16_rounding_in_numpy_alone_is_correct_and_matches_ml_dtypes_for_inputs():
    import math
    import zlib

    import ml_dtypes

    from harness.numerics import dtypes
    from harness.tools.repro import regenerate
    namespace = {"np": np, "zlib": zlib, "DTYPE": "bfloat16"}
    exec(regenerate.round_source("bfloat16"), namespace)
    rnd = namespace["rnd"]
    rng = np.random.default_rng(5)
    a = rng.standard_normal(100_000) * 10.0 ** rng.integers(-40, 38, 100_000)
    a = np.concatenate([a, [1 + 2 ** -8 + 2 ** -30, -(1 + 2 ** -8 + 2 ** -30), 1 + 2 ** -8,
                            3e38, 1e-39, 1e-45, 0.0, -0.0, np.inf, -np.inf]])
    # inputs: as convgrad rounds them (ml_dtypes, through float32)
    assert np.array_equal(rnd(a.astype(np.float32)), dtypes.round_to(a, "bfloat16"))
    # the expected value: correctly rounded (ml_dtypes rounds twice: 1 + 2**-8 + 2**-30 -> 1)
    r = rnd(a)
    assert r[-10] == 1 + 2 ** -7 and r[-9] == -(1 + 2 ** -7) and r[-8] == 1.0
    below = a.astype(ml_dtypes.bfloat16).astype(np.float64)
    for value, got, near in zip(a[:2000], r[:2000], below[:2000]):
        if math.isfinite(value) and abs(value) < 3e38:
            up = np.nextafter(np.array(near, dtype=ml_dtypes.bfloat16),
                              np.array(np.inf if value > near else -np.inf,
                                       dtype=ml_dtypes.bfloat16)).astype(np.float64)
            best = min((near, float(up)), key=lambda c: abs(c - value))
            assert abs(got - value) <= abs(best - value)


# ------------------------------------------------------------------ the upstream-ready form

def _upstream_judging(text: str, namespace: dict) -> tuple[np.ndarray, np.ndarray]:
    """The exact values and the bound as the script computes them: its oracle and the lines
    of its main() that compute them, run on the script's own inputs."""
    import textwrap

    start = text.index("def oracle(")
    exec(text[start:text.index("\ndef main", start)], namespace)
    body = text[text.index("def main():"):].splitlines()
    lines = [line for line in body if line.lstrip().startswith(("c = [", "exact, mag, n", "acc =",
                                                                "bound ="))]
    exec(textwrap.dedent("\n".join(lines)), namespace)
    return namespace["exact"], namespace["bound"]


@pytest.mark.parametrize("grad", ["y", "dx", "dw"])
@pytest.mark.parametrize("impl,dtype,padding", [
    ("torch.autograd", "bfloat16", "SAME"), ("tf.backprop", "float16", "SAME_LOWER"),
    ("jax.vjp", "float32", "[[1, 2], [0, 3]]"), ("torch.nn_grad", "float64", "VALID"),
    ("torch.autograd[memory=nhwc_view]", "bfloat16", "SAME_LOWER")])
def test_the_upstream_scripts_oracle_and_bound_are_convgrads(tmp_path, grad, impl, dtype,
                                                             padding):
    """The script computes the exact values and convgrad's bound itself (float64 NumPy, a
    tap at a time): they agree with convgrad's oracle and bound to float64 rounding."""
    import zlib

    from harness.verdict.expected import expected
    from harness.tools.repro import script, upstream
    from harness.tools.repro.target import split_impl
    from harness.tools.repro.templates import template
    from harness.tools.repro.templates.code import Request
    case = load_one(tmp_path, LARGE.format(name="u", strides=[2, 1], dilations=[1, 2])
                    .replace("SAME", padding).replace("data_format: NHWC",
                                                      f"data_format: NHWC\ndtype: {dtype}"))
    inputs = materialize(case)
    base, settings = split_impl(impl)
    t = script.Target(case=case, inputs=inputs, expected=expected(case, inputs)[grad],
                      impl=impl, base=base, settings=settings, grad=grad, status="fail",
                      kind="rounding", message="Mismatched elements: 1 / 2\n" + DIAGNOSIS)
    code = template(base)(Request(base, settings, case, inputs, grad))
    assert upstream.applies(t, code)
    text = script.render(t)
    assert "diagnosis" not in text and "import harness" not in text
    namespace = {"np": np, "zlib": zlib, "sys": __import__("sys")}
    constants = next(line for line in text.splitlines() if line.startswith("DTYPE, STRIDES"))
    exec(constants, namespace)
    exec(text[text.index("def rnd("):text.index("\ndef ", text.index("if [zlib.crc32"))],
         namespace)
    exact, bound = _upstream_judging(text, namespace)
    mine = expected(case, inputs)[grad]
    from harness.numerics import layouts
    want = lambda a: layouts.convert(a, case.layout_of(grad), code.output_layout)  # noqa: E731
    assert exact.shape == want(mine.values).shape
    # both are float64 sums of the same products, in other orders: within the oracle's own
    # error term of the bound (n * u64 * M)
    slack = 2 * want(np.broadcast_to(mine.terms, mine.values.shape)) * 2.0 ** -53 \
        * want(mine.magnitude)
    assert np.all(np.abs(exact - want(mine.values)) <= slack)
    np.testing.assert_allclose(bound, want(mine.bound), rtol=1e-12)


def test_other_statuses_and_uncomputable_cases_keep_the_full_script(tmp_path):
    from harness.verdict.expected import expected
    from harness.tools.repro import script
    case = load_one(tmp_path, LARGE.format(name="k", strides=1, dilations=1))
    inputs = materialize(case)
    exp = expected(case, inputs)["dx"]

    def render(status, **changes):
        t = script.Target(case=case, inputs=inputs, expected=exp, impl="torch.autograd",
                          base="torch.autograd", settings={}, grad="dx", status=status,
                          kind="rounding" if status == "fail" else "")
        for key, value in changes.items():
            setattr(t, key, value)
        return script.render(t)
    assert "def oracle(" in render("fail")
    for status in ("pass", "error", "nondeterministic", "unsupported"):
        text = render(status)
        assert "def oracle(" not in text and "EXPECTED = " in text and "default_rng(" in text
    nan = np.array(exp.values)
    nan.flat[0] = np.nan                      # an infinite or NaN expected value: embedded
    import dataclasses
    assert "def oracle(" not in render("fail", expected=dataclasses.replace(exp, values=nan))
