"""Standalone scripts with the real frameworks: each generated script is run in a
subprocess (with ``harness`` made unimportable, so a script that needed convgrad would
fail) and its exit status checked: 0 for a verdict that passed, 1 for one that failed or
errored; its raw result must equal the adapter's bit for bit.
"""
from __future__ import annotations

import dataclasses

import ast
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from harness.frontends import cli
from harness.numerics import layouts
from harness.backend import variants
from harness.case.loader import load_cases
from harness.tools.repro import script, target, upstream
from harness.tools.repro.judge import Judge, default_backend
from harness.tools.repro.templates import template
from harness.tools.repro.templates.code import Request
from tests import paths
from tests.conftest import FRAMEWORKS

pytestmark = pytest.mark.frameworks
ROOT = Path(__file__).resolve().parent.parent
# tensorflow.python.util: TensorFlow's own module with IsMklEnabled (whether oneDNN is on
# here), which has no public API; still only NumPy and the framework.
ALLOWED_IMPORTS = {"os", "sys", "re", "platform", "base64", "zlib", "signal", "subprocess",
                   "numpy", "tensorflow", "tensorflow.python.util", "torch",
                   "torch.nn.functional", "jax", "jax.numpy", "jaxlib"}
EMULATED = """\
id: s/emulated
op: conv2d
grads: [y, dx, dw]
in_channels: 2
out_channels: 3
input_size: [5, 4]
kernel_size: [2, 3]
strides: [2, 1]
padding: SAME_LOWER
x: {random: normal}
w: {random: normal}
dy: {random: normal}
"""
TF_ONEDNN = ROOT / "cases/upstream/tf-onednn-output-width-1.yaml"
TORCH_F16_VIEW = ROOT / "cases/regressions/torch-f16-nhwc-view-cout1.yaml"


def needs(framework: str) -> None:
    if framework not in FRAMEWORKS:
        pytest.skip(f"{framework} is not among CONVGRAD_FRAMEWORKS")


def run_script(path: Path, tmp_path: Path, **env) -> subprocess.CompletedProcess:
    """Run a script as a user would, with a ``harness`` package that cannot be imported
    first on the path: the script must not need convgrad."""
    blocker = tmp_path / "blocker" / "harness"
    blocker.mkdir(parents=True, exist_ok=True)
    (blocker / "__init__.py").write_text("raise ImportError('a standalone script imported "
                                         "convgrad')\n")
    environment = {**os.environ, "PYTHONPATH": str(blocker.parent), **env}
    return subprocess.run([sys.executable, str(path)], capture_output=True, text=True,
                          env=environment, cwd=tmp_path, timeout=300)


def imports_of(path: Path) -> set[str]:
    tree = ast.parse(path.read_text())
    names = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names |= {a.name for a in node.names}
        elif isinstance(node, ast.ImportFrom):
            names.add(node.module)
    return names


def judged(case_file: Path, impl_spec: str, grad: str):
    (case,) = load_cases([case_file])
    impl = variants.resolve([impl_spec])[0]
    with Judge([impl], backend=default_backend()) as judge:
        result = judge.one(case, impl.name)
    return result, next(v for v in result.verdicts if v.grad == grad)


@pytest.mark.parametrize("impl,grad", [
    ("tf.backprop", "dx"), ("tf.tape", "dw"), ("torch.nn_grad", "dx"),
    ("torch.autograd[memory=nhwc_view]", "dw"), ("jax.vjp", "y")])
def test_a_passing_verdicts_script_exits_0_with_the_adapters_very_result(tmp_path, impl, grad):
    needs(variants.resolve([impl])[0].framework)
    case_file = tmp_path / "case.yaml"
    case_file.write_text(EMULATED)
    result, v = judged(case_file, impl, grad)
    assert str(v.status) == "pass"
    t = target.from_result(result, v)
    path = tmp_path / "repro.py"
    script.write(t, str(path))
    assert imports_of(path) <= ALLOWED_IMPORTS
    saved = tmp_path / "result.npy"
    done = run_script(path, tmp_path, CONVGRAD_REPRO_SAVE=str(saved))
    assert done.returncode == 0, done.stdout + done.stderr
    assert "NOT REPRODUCED: every element within its bound" in done.stdout
    code = template(t.base)(Request(t.base, t.settings, t.case, t.inputs, t.grad))
    mine = layouts.convert(np.asarray(v.actual, dtype=np.float64), t.case.layout_of(grad),
                           code.output_layout)
    assert np.array_equal(np.load(saved), mine)   # the same calls, bit for bit


def test_a_failing_verdicts_full_script_exits_1_and_shows_the_mismatch(tmp_path, monkeypatch):
    """A verdict made to fail by a wrong expectation: the full script's verdict machinery
    (the one a fail gets where the upstream-ready form cannot compute the case), with no
    dependence on any live framework bug."""
    needs("torch")
    case_file = tmp_path / "case.yaml"
    case_file.write_text(EMULATED)
    result, v = judged(case_file, "torch.autograd", "dx")
    t = target.from_result(result, v)
    wrong = t.expected.values.copy()
    wrong.flat[3] += 1.0
    t.expected = dataclasses.replace(t.expected, values=wrong)
    t.status, t.kind = "fail", "gross"
    monkeypatch.setattr(upstream, "applies", lambda t, code: False)
    path = tmp_path / "repro.py"
    script.write(t, str(path))
    done = run_script(path, tmp_path)
    assert done.returncode == 1, done.stdout + done.stderr
    assert "dx (NCHW): 1 of 40 elements outside the bound" in done.stdout
    assert "REPRODUCED: elements outside the bound" in done.stdout
    assert "torch " in done.stdout and "numpy " in done.stdout and "CPU capability" in done.stdout


def run_module(path: Path, tmp_path: Path, expression: str) -> np.ndarray:
    """``expression`` evaluated in the script's namespace (its module-level code run, main()
    not), in a fresh process that cannot import convgrad."""
    out = tmp_path / "value.npy"
    code = ("import runpy, sys, numpy as np; g = runpy.run_path(sys.argv[1], run_name='repro'); "
            f"np.save(sys.argv[2], eval({expression!r}, g))")
    blocker = tmp_path / "blocker"
    run_script(path, tmp_path)   # makes the blocker
    done = subprocess.run([sys.executable, "-c", code, str(path), str(out)], cwd=tmp_path,
                          capture_output=True, text=True, timeout=300,
                          env={**os.environ, "PYTHONPATH": str(blocker)})
    assert done.returncode == 0, done.stdout + done.stderr
    return np.load(out)


def test_an_upstream_script_of_a_fail_that_does_not_show_exits_0(tmp_path):
    """A fail whose values are right after all: the upstream-ready script computes the same
    result as the adapter, bit for bit, judges it within the bound, and says so."""
    needs("torch")
    case_file = tmp_path / "case.yaml"
    case_file.write_text(EMULATED)
    result, v = judged(case_file, "torch.autograd", "dw")
    t = target.from_result(result, v)
    t.status, t.kind = "fail", "rounding"        # as if it had failed
    path = tmp_path / "repro.py"
    text = script.write(t, str(path))
    assert "def oracle(" in text and "EXPECTED" not in text
    done = run_script(path, tmp_path)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "NOT REPRODUCED" in done.stdout and "ULP of float32" in done.stdout
    assert "torch float64" in done.stdout     # the witness: the same calls in float64
    mine = layouts.convert(np.asarray(v.actual, dtype=np.float64), t.case.layout_of("dw"),
                           "OIHW")
    assert np.array_equal(run_module(path, tmp_path, "compute()"), mine)


LONG_SUMS = ROOT / "cases/edges/long-sums.yaml"
HALF = ROOT / "cases/conformance/half.yaml"


@pytest.mark.parametrize("case_file,case_id,impl", [
    (LONG_SUMS, "edges/long-sums/VALID-bfloat16", "torch.autograd[cpu=avx2]"),
    (HALF, "conformance/half/SAME_LOWER-s1x1-bfloat16", "tf.backprop")])
def test_a_live_bfloat16_findings_upstream_ready_script(tmp_path, case_file, case_id, impl):
    """A real bfloat16 finding (torch's own bfloat16 kernels, taken on every CPU with
    cpu=avx2; TensorFlow's own with explicit pads): its script is under 80 lines, needs no
    convgrad, regenerates the seeded inputs (its check passes, or it would exit 2), counts the
    elements outside the bound as convgrad did, and shows the ULPs and the witness."""
    chosen = variants.resolve([impl])[0]
    needs(chosen.framework)
    case = next(c for c in load_cases([case_file]) if c.id == case_id)
    with Judge([chosen], backend=default_backend()) as judge:
        info = judge.info(chosen.name)
        if not info.available:
            pytest.skip(f"{impl}: {info.version}")
        result = judge.one(case, chosen.name)
    v = next(v for v in result.verdicts if v.grad == "dx")
    if str(v.status) != "fail":
        pytest.skip(f"{impl} dx is {v.status} here (platform: {info.platform})")
    t = target.from_result(result, v, platform=info.platform)
    path = tmp_path / "repro.py"
    text = script.write(t, str(path))
    assert len(text.splitlines()) < 80 and "diagnosis" not in text
    assert imports_of(path) <= ALLOWED_IMPORTS and "default_rng(" in text
    done = run_script(path, tmp_path)
    assert done.returncode == 1, done.stdout + done.stderr
    out = done.stdout
    assert f"  {chosen.framework} bfloat16 " in out and "ULP of bfloat16" in out
    row = next(line for line in out.splitlines() if line.startswith(f"  {chosen.framework} bfloat16"))
    assert int(row.split()[-2]) == v.stats["mismatched"]   # outside the bound, as convgrad said
    assert "exact rounded to bfloat16" in out and "  rounded to bfloat16" in out
    assert "convgrad recorded: cpu " in out and "REPRODUCED: elements outside the bound" in out
    witness = next(line for line in out.splitlines() if line.startswith("    rounded to bfloat16"))
    assert int(witness.split()[-2]) == 0     # the float32 path, rounded once: within the bound


def test_the_live_tf_onednn_bug_reproduces_standalone_and_not_without_onednn(tmp_path):
    """The bug lives in oneDNN's AVX-512 kernels: forced on (onednn=on, whatever this CPU's
    default), it reproduces where oneDNN dispatches them; with oneDNN off it does not."""
    needs("tensorflow")
    paths.needs_avx512_onednn()
    for impl, expected in (("tf.backprop[onednn=on]", 1), ("tf.backprop[onednn=off]", 0)):
        out = tmp_path / f"{expected}.py"
        assert cli.main(["repro", str(TF_ONEDNN), "--case", "upstream/tf-onednn-output-width-1",
                         "--impl", impl, "--grad", "y", "-o", str(out)]) == 0
        text = out.read_text()
        value = "0" if "onednn=off" in impl else "1"
        assert (f"os.environ['TF_ENABLE_ONEDNN_OPTS'] = '{value}'" in text      # full script
                or f"'TF_ENABLE_ONEDNN_OPTS': '{value}'" in text)               # upstream-ready
        assert text.index("TF_ENABLE_ONEDNN_OPTS") < text.index("import tensorflow")
        done = run_script(out, tmp_path)
        assert done.returncode == expected, done.stdout + done.stderr


def test_an_errors_script_reproduces_the_exception(tmp_path):
    needs("torch")
    out = tmp_path / "err.py"
    assert cli.main(["repro", str(TORCH_F16_VIEW), "--case", "regressions/torch-f16-nhwc-view-cout1",
                     "--impl", "torch.autograd[memory=nhwc_view]", "--grad", "dw",
                     "-o", str(out)]) == 0
    text = out.read_text()
    assert ".permute(" in text and "RECORDED = {'status': 'error'" in text
    done = run_script(out, tmp_path)
    assert done.returncode == 1, done.stdout + done.stderr
    assert "grad_weight must be contiguous" in done.stdout
    assert "REPRODUCED: the exception convgrad recorded" in done.stdout


def test_repro_from_a_run_record(tmp_path, capsys):
    needs("jax")
    case_file = tmp_path / "case.yaml"
    case_file.write_text(EMULATED)
    out = tmp_path / "run"
    assert cli.main(["run", str(case_file), "--impl", "jax.vjp", "--out", str(out),
                     "--repeat", "2"]) == 0
    script_file = tmp_path / "from-record.py"
    assert cli.main(["repro", str(out / "results.json"), "--case", "s/emulated", "--impl",
                     "jax.vjp", "-o", str(script_file)]) == 0
    text = script_file.read_text()
    assert "RUNS = 2" in text and "GRAD = 'y'" in text   # --repeat kept; first grad
    done = run_script(script_file, tmp_path)
    assert done.returncode == 0 and "1 bitwise-distinct result(s) in 2 runs" in done.stdout
    # a case file edited since the run is refused, not reproduced wrongly
    case_file.write_text(EMULATED.replace("{random: normal}\nw", "{random: uniform}\nw"))
    assert cli.main(["repro", str(out / "results.json"), "--case", "s/emulated", "--impl",
                     "jax.vjp", "-o", str(script_file)]) == 2
    assert "no longer has the x" in capsys.readouterr().err


def test_repro_usage_errors(tmp_path, capsys):
    case_file = tmp_path / "case.yaml"
    case_file.write_text(EMULATED)
    assert cli.main(["repro", str(case_file), "--case", "s/nope", "--impl", "jax.vjp"]) == 2
    assert "no case with id 's/nope'" in capsys.readouterr().err
    assert cli.main(["repro", str(case_file), "--case", "s/emulated", "--impl", "torch.*"]) == 2
    assert "name exactly one" in capsys.readouterr().err


def test_shrink_command_on_the_live_tf_bug(tmp_path, capsys):
    needs("tensorflow")
    paths.needs_avx512_onednn()   # where the bug lives (forced on below)
    big = tmp_path / "big.yaml"
    big.write_text("""\
id: s/tf-big
op: conv2d
grads: [y]
batch: 4
in_channels: 1
out_channels: 8
input_size: [6, 6]
kernel_size: [2, 3]
strides: [1, 4]
x: {random: normal}
w: {random: normal}
""")
    out, py = tmp_path / "small.yaml", tmp_path / "small.py"
    assert cli.main(["shrink", str(big), "--impl", "tf.backprop[onednn=on]", "-o", str(out),
                     "--script", str(py), "--time", "90"]) == 0
    printed = capsys.readouterr().out
    assert "kept: batch 4 -> " in printed and "tf.backprop[onednn=on] y fail (gross)" in printed
    (small,) = load_cases([out])
    assert small.output_shape[2] == 1 and np.prod(small.input_shape) <= 12
    done = run_script(py, tmp_path)
    assert done.returncode == 1, done.stdout + done.stderr
