"""Reproducing, shrinking and fuzzing forward-mode and second-order grads (issue 21):
``jvp``, ``ddy``, ``ddx``, ``ddw`` with their tangents ``tx``, ``tw`` and cotangents ``gx``,
``gw`` (docs/repro.md).

The fast layer (no framework): case specs carry the tangents; the shrinker keeps a planted
second-order bug (tests/planted_second_order.py) failing the same way and writes a case
convgrad accepts; the fuzzer draws second-order cases and finds the planted bugs; every
template writes the calls its adapter makes for each second-order setting, and the
upstream-ready form computes convgrad's oracle and bound (a sum of first-order terms).

With the frameworks: each script's ``compute()`` gives the adapter's very result, bit for
bit, for every built-in impl and its ``second=`` settings; the real findings of
``cases/second-order`` (16-bit accumulation in float16 ddx / ddw) reproduce standalone,
with only NumPy and the framework importable (exit 1), and passing verdicts do not (exit 0).
"""
from __future__ import annotations

import ast
import functools
import json
import sys
import textwrap
import zlib
from pathlib import Path

import numpy as np
import pytest

from harness.backend import variants
from harness.case import ops
from harness.case.loader import load_cases
from harness.case.values import materialize
from harness.frontends import cli
from harness.numerics import layouts
from harness.session import runner
from harness.tools.repro import regenerate, script, shrink, space, target, upstream
from harness.tools.repro.judge import Judge
from harness.tools.repro.signature import signature
from harness.tools.repro.spec import NEEDS, from_case, only_grad
from harness.tools.repro.templates import NoTemplate, template
from harness.tools.repro.templates.code import Request
from harness.verdict.expected import expected
from tests import planted_second_order
from tests.journeys.test_bug_reporter import blocked_modules, only_numpy_and
from tests.test_repro_scripts import ALLOWED_IMPORTS, imports_of, needs, run_script

ROOT = Path(__file__).resolve().parent.parent
SECOND_ORDER_CASES = "cases/second-order"

CASE = """\
id: s2/{name}
op: {op}
grads: [jvp, ddy, ddx, ddw]
data_format: {data}
filter_format: {filt}
dtype: {dtype}
input_shape: {input_shape}
filter_shape: {filter_shape}
strides: {strides}
dilations: {dilations}
padding: {padding}
groups: {groups}
x: {{random: normal}}
w: {{random: normal}}
dy: {{random: normal}}
tx: {{random: normal}}
tw: {{random: uniform, low: -2, high: 2}}
gx: {{random: normal, scale: 0.5}}
gw: {{random: integers, low: -3, high: 3}}
"""
GEOMETRIES = {   # conv2d unless said otherwise
    # SAME_LOWER with a stride: torch emulates the padding (F.pad, a cropped dx)
    "lower-s2": dict(padding="SAME_LOWER", strides=[2, 1]),
    # grouped, explicit pads (no dilation: TF's grouped CPU kernels refuse it)
    "grouped": dict(groups=2, padding="[[1, 0], [0, 2]]", input_shape=[2, 7, 6, 4],
                    filter_shape=[3, 2, 2, 6]),
    # channels first, dilated, VALID
    "nchw": dict(data="NCHW", filt="OIHW", dilations=[1, 2], padding="VALID",
                 input_shape=[2, 4, 7, 6], filter_shape=[6, 4, 3, 2]),
    # 1-D explicit pads: TF's tape pads x itself (tf.nn.convolution takes none in 1-D)
    "conv1d": dict(op="conv1d", data="NWC", filt="WIO", input_shape=[2, 9, 3],
                   filter_shape=[3, 3, 4], strides=[2], dilations=[1], padding="[[1, 2]]"),
    # 3-D explicit pads: emulated by tf.backprop and tf.tape
    "conv3d": dict(op="conv3d", data="NDHWC", filt="DHWIO", input_shape=[1, 5, 4, 6, 2],
                   filter_shape=[2, 3, 2, 2, 3], strides=[1, 2, 1], dilations=[1, 1, 1],
                   padding="[[1, 0], [0, 1], [1, 1]]"),
}
DEFAULTS = dict(op="conv2d", data="NHWC", filt="HWIO", dtype="float32",
                input_shape=[2, 7, 6, 4], filter_shape=[3, 2, 4, 6], strides=[1, 1],
                dilations=[1, 1], padding="SAME", groups=1)
SECOND_IMPLS = ["torch.nn_grad", "torch.autograd", "torch.autograd[second=func]",
                "torch.autograd[second=fwd_over_rev]", "torch.autograd[memory=nhwc_view]",
                "jax.vjp", "jax.vjp[second=fwd]", "tf.tape", "tf.backprop"]


def case_text(name: str, **changes) -> str:
    values = {**DEFAULTS, **GEOMETRIES.get(name, {}), **changes}
    return CASE.format(name=name, **values)


def load_text(tmp_path: Path, text: str):
    path = tmp_path / "case.yaml"
    path.write_text(text)
    return load_cases([path])


def load_one(tmp_path: Path, name: str, **changes):
    (case,) = load_text(tmp_path, case_text(name, **changes))
    return case


def make_target(case, impl: str, grad: str, status: str = "pass") -> script.Target:
    inputs = materialize(case)
    base, settings = target.split_impl(impl)
    return script.Target(case=case, inputs=inputs, expected=expected(case, inputs)[grad],
                         impl=impl, base=base, settings=settings, grad=grad, status=status,
                         kind="rounding" if status == "fail" else "")


# ------------------------------------------------------------------ case specs

def test_a_spec_carries_the_tangents_and_gives_back_the_same_case(tmp_path):
    case = load_one(tmp_path, "lower-s2", data="NCHW", input_shape=[2, 4, 7, 6],
                    dtype="bfloat16")
    spec = from_case(case)
    assert all(isinstance(getattr(spec, t), dict) and "seed" in getattr(spec, t)
               for t in ("tx", "tw", "gx", "gw"))       # seeds pinned: a new id keeps them
    assert spec.canonical_shape("gw") == spec.canonical_shape("w")
    assert spec.present() == ops.TENSORS
    path = tmp_path / "back.yaml"
    path.write_text(spec.replace(id="s2/other-id").yaml_text("header"))
    (again,) = load_cases([path])
    assert again.grads == case.grads
    for name in ops.TENSORS:
        assert np.array_equal(materialize(again).get(name), materialize(case).get(name))
    assert NEEDS == {g: ops.tensors_needed(g) for g in ops.ALL_GRADS}
    small = only_grad(spec, "ddx")          # ddx = dx(dy, w := gw): dy and gw only
    assert small.needed() == ("dy", "gw") and small.present() == ("x", "w", "dy", "gw")
    assert small.x is None and small.tx is None and small.gx is None
    loaded = small.to_case()
    assert loaded.grads == ("ddx",) and loaded.gx is None
    assert np.array_equal(materialize(loaded).gw, materialize(case).gw)


# ------------------------------------------------------------------ shrinking

@pytest.mark.parametrize("bug,grad", [
    (planted_second_order.FwdOverRevGroups, "ddx"),
    (planted_second_order.WeightGradGroups, "ddw"),
    (planted_second_order.NoForwardMode, "jvp")])
def test_a_second_order_failure_shrinks_and_keeps_failing_the_same_way(tmp_path, bug, grad):
    case = load_one(tmp_path, "grouped", input_shape=[3, 9, 8, 8], filter_shape=[3, 3, 4, 8],
                    groups=2)
    outcome = shrink.shrink(case, bug(), grad, backend=runner.InProcess(), time_budget=60)
    assert outcome.signature.grad == grad and outcome.complete
    assert outcome.signature.status == ("error" if grad == "jvp" else "fail")
    assert outcome.steps[0] == "only " + grad
    assert set(outcome.elements()) == {"x", "w", "dy", *ops.tensors_needed(grad)}
    assert max(outcome.elements().values()) <= 8, outcome.elements()
    path = tmp_path / "shrunk.yaml"
    shrink.write_outcome(outcome, str(path))
    (again,) = load_cases([path])           # a case convgrad accepts
    assert again.grads == (grad,)
    assert all(getattr(again, t) is not None for t in ops.tensors_needed(grad))
    result = runner.Session([runner.ImplInfo(bug(), True, "planted")], known=()).judge([again])[0]
    v = next(v for v in result.verdicts if v.grad == grad)
    assert signature(result, v) == outcome.signature
    # the correct implementation passes the shrunk case: it is the bug, not the case
    fine = runner.Session([runner.ImplInfo(planted_second_order.Correct(), True, "planted")],
                          known=()).judge([again])[0]
    assert all(str(v.status) == "pass" for v in fine.verdicts)


# ------------------------------------------------------------------ the fuzzer

def test_a_share_of_the_fuzzers_cases_ask_for_second_order():
    rng = np.random.default_rng(0)
    specs = [space.draw(rng, f"f/{i}")[0] for i in range(300)]
    second = [s for s in specs if s.grads == ops.ALL_GRADS]
    assert all(s.grads in (ops.GRADS, ops.ALL_GRADS) for s in specs)
    assert 0.15 < len(second) / len(specs) < 0.45
    assert all(all(getattr(s, t) is not None for t in ("tx", "tw", "gx", "gw")) for s in second)
    assert all(s.tx is None for s in specs if s not in second)
    assert {s.rank for s in second} == {1, 2, 3} and any(s.groups > 1 for s in second)
    assert any(isinstance(s.gx, np.ndarray) for s in second)     # wide range tangents too
    # every drawn case is one the loader accepts, within what the bound models
    case = second[0].to_case()
    assert space.representable(case) and set(case.grads) == set(ops.ALL_GRADS)
    assert space.products("ddx") == [("gw", "dy")]
    assert space.products("jvp") == [("tx", "w"), ("x", "tw")]


def test_fuzz_finds_the_planted_second_order_bugs(tmp_path, monkeypatch, capsys):
    """The command of docs/repro.md: 40 cases of seed 1 find every planted second-order bug
    the conv generator can reach (the transposed-conv ones need a generator of their own)."""
    monkeypatch.chdir(ROOT)                 # --impl-module MODULE: found where convgrad runs
    out = tmp_path / "fuzz"
    status = cli.main(["fuzz", "--impl-module", "tests.planted_second_order:BUGS",
                       "--max-cases", "40", "--seed", "1", "--in-process", "--out", str(out),
                       "--shrink-time", "30"])
    assert status == 1
    found = json.loads((out / "findings.json").read_text())
    pairs = {(f["impl"], f["grad"]) for f in found}
    assert {("planted2.fwd_over_rev_groups", "ddx"), ("planted2.fwd_over_rev_groups", "ddw"),
            ("planted2.weight_groups", "ddw"), ("planted2.no_forward_mode", "jvp")} <= pairs
    assert not any(f["impl"] in ("planted2.transposed_flag", "planted2.transposed_dilation")
                   for f in found)          # no conv_transpose drawn: nothing to find there
    bugs = {cls.name: cls for cls in planted_second_order.BUGS}
    for f in found:
        (case,) = load_cases([f["case_file"]])
        assert case.id == f["case"] and case.grads == (f["grad"],)
        assert set(f["elements"]) >= set(ops.tensors_needed(f["grad"]))
        result = runner.Session([runner.ImplInfo(bugs[f["impl"]](), True, "planted")],
                                known=()).judge([case])[0]
        v = next(v for v in result.verdicts if v.grad == f["grad"])
        assert (str(v.status), signature(result, v).kind) == (f["status"], f["kind"])
    assert "planted2.fwd_over_rev_groups ddx fail (gross)" in capsys.readouterr().out


# ------------------------------------------------------------------ scripts, without running them

# What each impl's script must call for each grad (its adapter's calls, by setting).
CALLS = {
    ("torch.nn_grad", "jvp"): ["y_of(tx, w) + y_of(x, tw)"],
    ("torch.nn_grad", "ddy"): ["y_of(gx, w) + y_of(x, gw)"],
    ("torch.nn_grad", "ddx"): ["torch.nn.grad.conv2d_input(", "dx_of(tuple(x.shape), gw, dy)"],
    ("torch.nn_grad", "ddw"): ["torch.nn.grad.conv2d_weight(", "dw_of(gx, w, dy)"],
    ("torch.autograd", "jvp"): ["forward_ad.make_dual(x, tx)", "unpack_dual(out).tangent"],
    ("torch.autograd", "ddx"): ["create_graph=True", "torch.autograd.grad((dx, dw), x, (gx, gw)"],
    ("torch.autograd[second=func]", "jvp"): ["torch.func.jvp(forward, (x, w), (tx, tw))"],
    ("torch.autograd[second=func]", "ddw"): ["torch.func.vjp(first_vjp, dy, x, w)",
                                             "pullback2((gx, gw))[2]"],
    ("torch.autograd[second=fwd_over_rev]", "ddy"): ["torch.func.jvp(forward, (x, w), (gx, gw))"],
    ("torch.autograd[second=fwd_over_rev]", "ddx"): [
        "first_vjp(dy, x, w), (x, w), (gx, gw))[1][0]"],
    ("jax.vjp", "jvp"): ["jax.jvp(forward, (put(X), put(W)), (put(TX), put(TW)))"],
    ("jax.vjp", "ddy"): ["jax.vjp(pullback, put(X), put(W), put(DY))", "result = ddy"],
    ("jax.vjp[second=fwd]", "ddx"): ["jax.jvp(lambda x, w: pullback(x, w, dy)", "result = ddx"],
    ("jax.vjp[second=fwd]", "ddy"): ["jax.jvp(forward, (put(X), put(W)), (put(GX), put(GW)))"],
    ("tf.tape", "jvp"): ["tf.autodiff.ForwardAccumulator((x, w), (tx, tw))", "acc.jvp(y)"],
    ("tf.tape", "ddw"): ["outer.gradient(total, (dy, x, w))", "return ddw.numpy()"],
    ("tf.backprop", "jvp"): ["y_of(TX, W, DY) + y_of(X, TW, DY)"],
    ("tf.backprop", "ddx"): ["conv2d_backprop_input(", "dx_of(X, GW, DY)"],
    ("tf.backprop", "ddw"): ["conv2d_backprop_filter(", "dw_of(GX, W, DY)"],
}


@pytest.mark.parametrize("impl", SECOND_IMPLS)
@pytest.mark.parametrize("grad", ops.SECOND_ORDER)
def test_every_template_writes_its_adapters_second_order_calls(tmp_path, impl, grad):
    case = load_one(tmp_path, "lower-s2", dtype="float16")
    for status in ("pass", "fail"):     # the full script, and the upstream-ready one
        t = make_target(case, impl, grad, status)
        text = script.render(t)
        tree = ast.parse(text)
        imports = {a.name for n in ast.walk(tree) if isinstance(n, ast.Import) for a in n.names}
        assert imports <= ALLOWED_IMPORTS and "import harness" not in text
        for snippet in CALLS.get((impl, grad), []):
            assert snippet in text, (snippet, text[text.index("def compute"):][:3000])
        code = template(t.base)(Request(t.base, t.settings, case, t.inputs, grad))
        handed = {name for name, _, _ in code.arrays}
        pair = {"TX", "TW"} if grad == "jvp" else {"GX", "GW"}
        if impl in ("torch.nn_grad", "tf.backprop"):      # the identity reads what it needs
            pair = {t.upper() for t in ops.tensors_needed(grad) if t in ("tx", "tw", "gx", "gw")}
        assert handed == {"X", "W", "DY"} | pair
        assert "default_rng(" in text    # every tangent regenerated from its seed
        assert (status == "fail") == ("oracle_" in text)
        if status == "pass":
            assert f"GRAD = {grad!r}" in text and "EXPECTED = " in text


def test_no_script_for_an_op_no_template_writes(tmp_path):
    (case,) = load_text(tmp_path, """\
id: s2/depthwise
op: depthwise_conv2d
grads: [ddx]
input_shape: [1, 5, 5, 3]
filter_shape: [3, 3, 3, 2]
dy: {random: normal}
gw: {random: normal}
""")
    with pytest.raises(NoTemplate, match="no script template for depthwise_conv2d"):
        script.render(make_target(case, "torch.autograd", "ddx"))


@pytest.mark.parametrize("dtype", ["float32", "bfloat16"])
def test_regenerated_tangents_equal_convgrads_bit_for_bit(tmp_path, dtype):
    (case,) = load_text(tmp_path, case_text("lower-s2", dtype=dtype).replace(
        "gx: {random: normal, scale: 0.5}\n", "").replace("ddy, ddx, ddw", "ddx").replace(
        "tw: {random: uniform, low: -2, high: 2}",
        "tw: " + str((np.arange(144).reshape(3, 2, 4, 6) % 5 - 2).tolist())))
    inputs = materialize(case)
    sources = {"X": ("x", "NCHW"), "W": ("w", "OIHW"), "DY": ("dy", "NCHW"),
               "TW": ("tw", "OIHW"), "GX": ("gx", "NCHW"), "GW": ("gw", "HWIO")}
    text, _, held = regenerate.script_inputs(case, inputs, sources, "torch")
    assert held["gw"] == "GW" and "np.zeros((2, 7, 6, 4))   # NHWC: not in the case" in text
    assert "TW = np.array(" not in text and "tw = np.array(" in text   # given: embedded
    namespace = {"np": np, "zlib": zlib, "sys": sys, "DTYPE": case.dtype}
    exec(text, namespace)               # its CRC check would exit 2
    for name, (tensor, layout) in sources.items():
        want = layouts.convert(inputs.get(tensor), case.layout_of(tensor), layout)
        assert np.array_equal(namespace[name], want), name


# ------------------------------------------------------------------ the upstream-ready form

def _upstream_judging(text: str, namespace: dict) -> tuple[np.ndarray, np.ndarray]:
    """The exact values and the bound as the script computes them: its oracles and the lines
    of main() before it calls the framework, on the script's own inputs."""
    start = text.index("def oracle")
    exec(text[start:text.index("\ndef main", start)], namespace)
    body = text[text.index("def main():"):]
    lines = body[body.index("    c = "):body.index("    got = ")]
    exec(textwrap.dedent(lines), namespace)
    return namespace["exact"], namespace["bound"]


@pytest.mark.parametrize("grad", ops.SECOND_ORDER)
@pytest.mark.parametrize("impl,dtype,name", [
    ("torch.nn_grad", "float16", "lower-s2"), ("tf.tape", "bfloat16", "nchw"),
    ("jax.vjp[second=fwd]", "float32", "conv1d"), ("torch.autograd", "float64", "conv3d")])
def test_the_upstream_scripts_second_order_oracle_and_bound_are_convgrads(tmp_path, grad,
                                                                          impl, dtype, name):
    """A sum of first-order terms (tangents swapped in), each within its accumulation error
    and rounded to the case dtype before they are added: convgrad's expected_second_order."""
    case = load_one(tmp_path, name, dtype=dtype)
    t = make_target(case, impl, grad, "fail")
    code = template(t.base)(Request(t.base, t.settings, case, t.inputs, grad))
    assert upstream.applies(t, code)
    text = script.render(t)
    assert f"{grad} is " in text.split('"""')[1] and "EXPECTED" not in text
    namespace = {"np": np, "zlib": zlib, "sys": sys}
    exec(next(line for line in text.splitlines() if line.startswith("DTYPE, STRIDES")),
         namespace)
    exec(text[text.index("def rnd("):text.index("\ndef ", text.index("if [zlib.crc32"))],
         namespace)
    exact, bound = _upstream_judging(text, namespace)
    mine = t.expected
    want = lambda a: layouts.convert(a, case.layout_of(grad), code.output_layout)  # noqa: E731
    assert exact.shape == want(mine.values).shape
    slack = 4 * want(np.broadcast_to(mine.terms, mine.values.shape)) * 2.0 ** -53 \
        * want(mine.magnitude)
    assert np.all(np.abs(exact - want(mine.values)) <= slack)
    np.testing.assert_allclose(bound, want(mine.bound), rtol=1e-12)


# ------------------------------------------------------------------ with the frameworks

def _frameworks(impl: str) -> str:
    return variants.resolve([impl])[0].framework


@functools.lru_cache(maxsize=None)
def _blocked(framework: str) -> frozenset:
    """What a maintainer's machine lacks: convgrad and its own requirements (less NumPy and
    what the framework imports by itself; the bug reporter's journey)."""
    return frozenset(blocked_modules(framework))


@pytest.mark.frameworks
@pytest.mark.parametrize("impl", SECOND_IMPLS)
def test_second_order_scripts_compute_the_adapters_very_result(tmp_path, impl):
    """compute() of each script (its module-level code run, main() not) equals the adapter's
    result bit for bit: the same calls, on the same tangents, in the same dtype."""
    needs(_frameworks(impl))
    # TensorFlow has no grouped gradients on a CPU (a documented refusal); 3-D explicit pads
    # are what it emulates
    names = ["lower-s2", "nchw", "conv1d"] + (["conv3d"] if impl.startswith("tf.")
                                             else ["grouped"])
    text = "".join(case_text(n, dtype="bfloat16" if n == "lower-s2" else "float32")
                   .replace("id: ", "- id: ", 1).replace("\n", "\n  ").rstrip() + "\n"
                   for n in names)
    cases = load_text(tmp_path, text)
    chosen = variants.resolve([impl])[0]
    compared = refused = 0
    with Judge([chosen], backend=runner.InProcess()) as judge:
        for case in cases:
            result = judge.one(case, chosen.name)
            for v in result.verdicts:
                if str(v.status) == "unsupported" and v.limitation:
                    refused += 1   # a documented refusal of the path (TF's NCHW, oneDNN off)
                    continue
                # pass or fail (TensorFlow's bfloat16 ddx sums in 16 bits): values either way
                assert str(v.status) in ("pass", "fail") and v.actual is not None, \
                    (case.id, v.grad, v.message)
                t = target.from_result(result, v)
                namespace = {"__name__": "repro", "__file__": str(tmp_path / "repro.py")}
                exec(compile(script.render(t), "repro.py", "exec"), namespace)
                got = namespace["compute"]()
                code = template(t.base)(Request(t.base, t.settings, case, t.inputs, v.grad))
                mine = layouts.convert(np.asarray(v.actual, dtype=np.float64),
                                       case.layout_of(v.grad), code.output_layout)
                assert got.shape == mine.shape and np.array_equal(got, mine), (case.id, v.grad)
                compared += 1
    assert compared + refused == 4 * len(names) and compared >= 4 * (len(names) - 1)


# The real findings (docs/repro.md): torch.nn.grad's float16 ddx, TensorFlow's float16
# ddx / ddw sum in 16 bits here (known discrepancies: --no-known shows them); JAX passes.
FINDINGS = [
    ("torch.nn_grad", "second-order/half/float16-VALID-s1x1", "ddx", "fail"),
    ("torch.nn_grad", "second-order/half/float16-VALID-s1x1", "ddy", "pass"),
    ("torch.nn_grad", "second-order/conv2d/SAME-k3x3-s2-float32", "ddy", "pass"),
    ("tf.tape", "second-order/half/float16-SAME-s2x2", "ddw", "fail"),
    ("tf.backprop", "second-order/half/float16-SAME-s2x2", "ddx", "fail"),
    ("jax.vjp", "second-order/half/float16-VALID-s1x1", "ddx", "pass"),
    ("torch.autograd[second=fwd_over_rev]", "second-order/conv2d/SAME-k2x2-g2-float32", "ddw",
     "pass"),
]


@pytest.mark.frameworks
@pytest.mark.parametrize("impl,case_id,grad,status", FINDINGS)
def test_a_real_second_order_verdicts_script_exits_as_it_reproduces(tmp_path, monkeypatch, impl,
                                                                  case_id, grad, status):
    """convgrad run, then convgrad repro from its record, then the script where only NumPy
    and the framework can be imported: exit 1 for a fail (the discrepancy reproduces), 0 for
    a pass."""
    framework = _frameworks(impl)
    needs(framework)
    monkeypatch.chdir(ROOT)                 # the record names the case file relative to here
    out = tmp_path / "run"
    cli.main(["run", SECOND_ORDER_CASES, "-k", case_id, "--impl", impl, "--no-known",
              "--in-process", "--out", str(out)])
    record = json.loads((out / "results.json").read_text())
    recorded = next(v["status"] for v in record["verdicts"]
                    if v["case"] == case_id and v["grad"] == grad)
    if recorded != status:
        pytest.skip(f"{impl} {grad} of {case_id} is {recorded} here, not {status}")
    path = tmp_path / "repro.py"
    assert cli.main(["repro", str(out / "results.json"), "--case", case_id, "--impl", impl,
                     "--grad", grad, "-o", str(path)]) == 0
    assert imports_of(path) <= ALLOWED_IMPORTS
    done = only_numpy_and(set(_blocked(framework)), path, tmp_path)
    assert done.returncode == (1 if status == "fail" else 0), done.stdout + done.stderr
    if status == "fail":                    # the upstream-ready form: ULPs and the witness
        assert "REPRODUCED: elements outside the bound" in done.stdout
        assert "ULP of float16" in done.stdout and "float32" in done.stdout
    else:
        assert "NOT REPRODUCED" in done.stdout


@pytest.mark.frameworks
def test_shrinking_a_real_second_order_finding(tmp_path, monkeypatch, capsys):
    """torch.nn.grad's float16 ddx: shrunk to a handful of elements that fail the same way,
    a case convgrad accepts, and a script that reproduces it in a fresh process."""
    needs("torch")
    monkeypatch.chdir(ROOT)
    case_id = "second-order/half/float16-VALID-s1x1"
    small, py = tmp_path / "small.yaml", tmp_path / "small.py"
    status = cli.main(["shrink", SECOND_ORDER_CASES, "-k", case_id, "--impl", "torch.nn_grad",
                       "--grad", "ddx", "-o", str(small), "--script", str(py), "--time", "120",
                       "--jobs", "1"])
    printed = capsys.readouterr()
    if status == 2 and "only a fail" in printed.err:
        pytest.skip("torch.nn_grad float16 ddx passes here")
    assert status == 0, printed.err
    assert "torch.nn_grad ddx fail (rounding)" in printed.out and "kept: only ddx" in printed.out
    (case,) = load_cases([small])
    assert case.grads == ("ddx",) and case.gw is not None and case.dy is not None
    assert "confirmed: its standalone script reproduces it" in small.read_text()
    done = run_script(py, tmp_path)
    assert done.returncode == 1, done.stdout + done.stderr
    out = tmp_path / "again"
    assert cli.main(["run", str(small), "--impl", "torch.nn_grad", "--no-known", "--in-process",
                     "--out", str(out)]) == 1   # convgrad accepts it, and it still fails
