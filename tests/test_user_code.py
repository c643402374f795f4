"""User code (``--impl-module`` files, plug-ins, models for cases-from) and user patterns
(``--limitations``) cost one clear error line, never the run (issue 23).

Most tests here are framework-free: planted NumPy impls, in-process runs. The
hanging, aborting and catastrophic-pattern cases run the console script in a
subprocess with a deadline, so that a regression fails the test instead of
hanging or killing the test run. The cases-from tests with real Keras models are
marked ``frameworks``.
"""
from __future__ import annotations

import itertools
import os
import re
import shutil
import subprocess
import sys
import textwrap
import time
import zipfile
from pathlib import Path

import pytest
import re2

from harness.backend import adapters
from harness.backend.adapters import UnloadableImpl, all_impls
from harness.backend.port import ImplModuleError, module_impls
from harness.case.loader import load_cases
from harness.frontends import cli
from harness.frontends.cli import main
from harness.tools import cases_from
from harness.verdict import known as known_mod
from harness.verdict import limitations as limitations_mod
from harness.safeio.yaml_source import SourceError
from harness.session.selection import expression
from tests.conftest import FRAMEWORKS

pytest_plugins = ["pytester"]

REPO = Path(__file__).resolve().parents[1]
CONVGRAD = str(Path(sys.executable).with_name("convgrad"))
VALID_DX = str(REPO / "cases/article/1-valid-dx.yaml")
SAME_DX = "cases/article/3-same-dx.yaml"
LEAN = ("-p", "no:cacheprovider", "-p", "no:hypothesispytest")
_names = itertools.count()


def _module(tmp_path: Path, body: str) -> Path:
    """A fresh ``--impl-module`` file (a name of its own: modules are cached by name)."""
    path = tmp_path / f"user_code_{os.getpid()}_{next(_names)}.py"
    path.write_text(textwrap.dedent(body))
    return path


def _convgrad(*args: str, cwd: Path, timeout: float = 120) -> subprocess.CompletedProcess:
    """The console script, with a deadline: a hang fails the test instead of hanging it."""
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    return subprocess.run([CONVGRAD, *args], cwd=cwd, env=env, capture_output=True,
                          text=True, timeout=timeout)


def _one_error_line(err: str, start: str = "error: ") -> str:
    lines = [line for line in err.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith(start), err
    assert "Traceback" not in err
    return lines[0]


# ------------------------------------------------------------------ --impl-module exits

EXITS = {
    "sys.exit": "import sys\nsys.exit(7)\n",
    "SystemExit text": "raise SystemExit('bye')\n",
    "KeyboardInterrupt": "raise KeyboardInterrupt\n",
    "GeneratorExit": "raise GeneratorExit\n",
    "BaseException": "class Mine(BaseException):\n    pass\nraise Mine('mine')\n",
    "in IMPLS' class": ("import sys\nclass Impl:\n    def __init__(self):\n"
                        "        sys.exit(3)\nIMPLS = Impl\n"),
}


@pytest.mark.parametrize("body", EXITS.values(), ids=EXITS.keys())
def test_an_impl_module_that_exits_is_one_error_line_not_the_end_of_convgrad(tmp_path, capsys,
                                                                             body):
    port = _module(tmp_path, body)
    status = main(["run", VALID_DX, "--impl-module", str(port), "--in-process",
                   "--out", str(tmp_path / "out")])
    line = _one_error_line(capsys.readouterr().err)
    assert status == 2
    assert line.startswith(f"error: --impl-module {port}: ")
    assert not (tmp_path / "out" / "results.json").exists()


@pytest.mark.parametrize("command", ["repro", "shrink", "fuzz", "list-of-run-options"])
def test_the_tools_take_an_exiting_impl_module_as_a_usage_error(tmp_path, capsys, command):
    port = _module(tmp_path, "raise SystemExit(5)\n")
    args = {"repro": ["repro", VALID_DX, "--case", "article/valid-dx", "--impl", "x.y",
                      "-o", str(tmp_path / "s.py")],
            "shrink": ["shrink", VALID_DX, "--impl", "x.y", "-o", str(tmp_path / "s.yaml")],
            "fuzz": ["fuzz", "--time", "5", "--out", str(tmp_path / "fz")],
            "list-of-run-options": ["run", VALID_DX, "--impl", "x.*",
                                    "--out", str(tmp_path / "out")]}[command]
    status = main([*args, "--impl-module", str(port), "--in-process"])
    line = _one_error_line(capsys.readouterr().err)
    assert status == 2 and "SystemExit: 5" in line


def test_a_ctrl_c_during_the_import_is_still_an_interruption(tmp_path, capsys):
    """A KeyboardInterrupt the module raises is its error; one the user pressed (SIGINT
    while it imports) interrupts convgrad as anywhere else."""
    port = _module(tmp_path, "import os, signal, time\nos.kill(os.getpid(), signal.SIGINT)\n"
                             "time.sleep(5)\n")
    status = main(["run", VALID_DX, "--impl-module", str(port), "--in-process",
                   "--out", str(tmp_path / "out")])
    assert status == 130 and "interrupted" in capsys.readouterr().err


@pytest.mark.parametrize("name", ["x" * 300 + ".py", "folder.py"])
def test_an_impl_module_path_that_is_no_file_is_one_line(tmp_path, capsys, name):
    (tmp_path / "folder.py").mkdir()
    status = main(["run", VALID_DX, "--impl-module", str(tmp_path / name), "--in-process",
                   "--out", str(tmp_path / "out")])
    line = _one_error_line(capsys.readouterr().err)
    assert status == 2 and line.startswith(f"error: --impl-module {tmp_path / name}: ")


def test_an_impl_module_that_hangs_costs_its_timeout(tmp_path):
    port = _module(tmp_path, "import time\ntime.sleep(1000)\n")
    done = _convgrad("run", VALID_DX, "--impl-module", str(port), "--in-process",
                     "--timeout", "2", "--out", "out", cwd=tmp_path, timeout=90)
    line = _one_error_line(done.stderr)
    assert done.returncode == 2 and "did not finish within 2 s" in line


def test_an_impl_module_that_swallows_the_timeout_is_given_up_on(tmp_path):
    port = _module(tmp_path, """\
        import time
        while True:
            try:
                time.sleep(1000)
            except BaseException:
                pass
        """)
    done = _convgrad("run", VALID_DX, "--impl-module", str(port), "--in-process",
                     "--timeout", "1", "--out", "out", cwd=tmp_path, timeout=90)
    line = _one_error_line(done.stderr)
    assert done.returncode == 2 and "convgrad gives up" in line


def test_the_import_bound_leaves_an_outer_timer_running(tmp_path):
    """A timer someone else armed (pytest-timeout's) is restored with its time left."""
    import signal

    fired = []
    old = signal.signal(signal.SIGALRM, lambda *a: fired.append(1))
    try:
        signal.setitimer(signal.ITIMER_REAL, 30)
        module_impls(str(_module(tmp_path, "from tests.planted import Planted\n"
                                           "IMPLS = [Planted()]\n")))
        left = signal.getitimer(signal.ITIMER_REAL)[0]
        assert 20 < left <= 30 and signal.getsignal(signal.SIGALRM) is not None
        assert signal.getsignal(signal.SIGINT) is signal.default_int_handler
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, old)
    assert not fired


# ------------------------------------------------------------------ attributes that raise

def _attribute_module(tmp_path: Path, attr: str, raise_: str) -> Path:
    name = "" if attr == "name" else '    name = "uc.raising"\n'
    if attr in ("environment", "version", "with_settings", "__eq__", "__hash__",
                "__reduce__", "__reduce_ex__"):
        member = f"    def {attr}(self, *args):\n        {raise_}\n"
    else:
        member = f"    @property\n    def {attr}(self):\n        {raise_}\n"
    extra = ('    variants = {"mode": ("a", "b")}\n' if attr == "with_settings" else "")
    return _module(tmp_path, "from tests.planted import Planted\n\n\n"
                             f"class Raising(Planted):\n{name}{extra}{member}\n\n"
                             "IMPLS = [Raising()]\n")


@pytest.mark.parametrize("raise_", ["raise SystemExit(3)", "raise RuntimeError('boom')",
                                    "raise KeyboardInterrupt"])
@pytest.mark.parametrize("attr", ["name", "framework", "ops", "grads", "variants", "settings",
                                  "op_notes", "grad_notes", "default", "environment"])
def test_an_impl_whose_attribute_raises_is_one_line_naming_the_attribute(tmp_path, capsys,
                                                                         attr, raise_):
    port = _attribute_module(tmp_path, attr, raise_)
    status = main(["run", VALID_DX, "--impl-module", str(port), "--in-process",
                   "--out", str(tmp_path / "out")])
    line = _one_error_line(capsys.readouterr().err)
    assert status == 2 and line.startswith(f"error: --impl-module {port}: impl")
    assert repr(attr) in line or f"{attr}()" in line, line
    assert raise_.split()[1].split("(")[0] in line


@pytest.mark.parametrize("attr", ["version", "__eq__", "__hash__"])
def test_an_impl_whose_method_exits_costs_its_verdicts_only(tmp_path, capsys, attr):
    """version() is asked where the impl computes; equality is the snapshot's identity."""
    port = _attribute_module(tmp_path, attr, "raise SystemExit(3)")
    status = main(["run", VALID_DX, "--impl-module", str(port), "--impl", "uc.*",
                   "--in-process", "--out", str(tmp_path / "out")])
    out, err = capsys.readouterr()
    assert "Traceback" not in out + err
    if attr == "version":
        assert status == 0 and "skipped" in out    # unavailable, with the reason
    else:
        assert status == 0 and "1 pass" in out


@pytest.mark.parametrize("raise_", [
    "raise GeneratorExit", "raise type('Mine', (BaseException,), {})('mine')",
    "raise type('Mute', (Exception,), {'__str__': lambda self: 1 / 0})()"],
    ids=["GeneratorExit", "BaseException", "unprintable"])
def test_an_impl_whose_compute_exits_in_process_costs_its_verdicts(tmp_path, capsys, raise_):
    port = _module(tmp_path, "from tests.planted import Planted\n\n\nclass C(Planted):\n"
                             "    name = 'uc.compute'\n\n    def compute(self, *args):\n"
                             f"        {raise_}\n\n\nIMPLS = [C()]\n")
    status = main(["run", VALID_DX, "--impl-module", str(port), "--in-process",
                   "--out", str(tmp_path / "out")])
    out, err = capsys.readouterr()
    assert status == 1 and "1 error" in out and "Traceback" not in err


def test_an_impl_whose_pickling_exits_is_unavailable_in_workers(tmp_path, capsys):
    port = _attribute_module(tmp_path, "__reduce_ex__", "raise SystemExit(3)")
    status = main(["run", VALID_DX, "--impl-module", str(port), "--out", str(tmp_path / "out")])
    out, err = capsys.readouterr()
    assert status == 0 and "Traceback" not in out + err
    assert "skipped" in out


def test_an_impl_whose_with_settings_exits_is_a_usage_error(tmp_path, capsys):
    port = _attribute_module(tmp_path, "with_settings", "raise SystemExit(3)")
    status = main(["run", VALID_DX, "--impl-module", str(port), "--impl", "uc.raising[mode=a]",
                   "--in-process", "--out", str(tmp_path / "out")])
    line = _one_error_line(capsys.readouterr().err)
    assert status == 2 and "with_settings({'mode': 'a'}) raised SystemExit: 3" in line


@pytest.mark.parametrize("body, problem", [
    ("class I:\n    name = 'a b'\n    framework = 'numpy'\n"
     "    def version(self): return '1'\n    def compute(self, *a): return {}\n", "name"),
    ("class I:\n    name = 'a\\x1b[31m'\n    framework = 'numpy'\n"
     "    def version(self): return '1'\n    def compute(self, *a): return {}\n", "name"),
    ("class I:\n    name = 'a.b'\n    framework = 'numpy; rm -rf'\n"
     "    def version(self): return '1'\n    def compute(self, *a): return {}\n", "framework"),
    ("class I:\n    name = 'a.b'\n    framework = 'numpy'\n    ops = 'conv2d'\n"
     "    def version(self): return '1'\n    def compute(self, *a): return {}\n", "ops"),
    ("class I:\n    name = 'a.b'\n    framework = 'numpy'\n", "not an impl"),
])
def test_an_impl_with_unusable_attributes_is_refused_at_load(tmp_path, body, problem):
    with pytest.raises(ImplModuleError) as refused:
        module_impls(str(_module(tmp_path, body + "IMPLS = [I()]\n")))
    assert problem in str(refused.value) and "\x1b" not in str(refused.value)


def test_module_impls_are_snapshots_read_once(tmp_path):
    port = _module(tmp_path, """\
        from tests.planted import Planted
        READS = []

        class Counted(Planted):
            @property
            def name(self):
                READS.append("name")
                return "uc.counted"

        IMPLS = [Counted()]
        """)
    (impl,) = module_impls(str(port))
    user_module = sys.modules[port.stem]
    reads = len(user_module.READS)
    assert impl.name == "uc.counted" and impl.framework == "numpy"
    assert [impl.name for _ in range(5)] and len(user_module.READS) == reads == 1
    assert impl.ops == frozenset({"conv1d", "conv2d", "conv3d"})


# ------------------------------------------------------------------ plug-ins

def _install_distribution(root: Path, lines: list[str]) -> None:
    dist = root / f"convgrad_user_code_{next(_names)}-1.0.dist-info"
    dist.mkdir()
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: convgrad-user-code\n"
                                   "Version: 1.0\n")
    (dist / "entry_points.txt").write_text("[convgrad.impls]\n" + "\n".join(lines) + "\n")


def test_a_plugin_that_exits_or_raises_on_an_attribute_is_an_unavailable_impl(tmp_path,
                                                                            monkeypatch,
                                                                            capsys):
    exits = f"uc_plugin_exits_{next(_names)}"
    raising = f"uc_plugin_raising_{next(_names)}"
    (tmp_path / f"{exits}.py").write_text("import sys\nsys.exit(4)\n")
    (tmp_path / f"{raising}.py").write_text(
        "from tests.planted import Planted\n\nclass P(Planted):\n    name = 'uc.plugin'\n"
        "    @property\n    def grads(self):\n        raise SystemExit(6)\n\nIMPLS = [P()]\n")
    _install_distribution(tmp_path, [f"exits = {exits}:IMPLS", f"raising = {raising}:IMPLS"])
    monkeypatch.syspath_prepend(str(tmp_path))
    with pytest.warns(UserWarning) as caught:
        impls = all_impls()
    broken = {i.name: i.reason for i in impls if isinstance(i, UnloadableImpl)}
    assert "SystemExit: 4" in broken["plugin.exits"]
    assert "reading its 'grads' raised SystemExit: 6" in broken["plugin.raising"]
    assert len([w for w in caught if "failed to load" in str(w.message)]) == 2
    with pytest.warns(UserWarning):
        assert main(["list", "--impl", "plugin.*"]) == 0
    out = capsys.readouterr().out
    assert "plugin.exits" in out and "unavailable" in out
    with pytest.warns(UserWarning):
        status = main(["run", VALID_DX, "--impl", "plugin.*", "--in-process",
                       "--out", str(tmp_path / "out")])
    out, err = capsys.readouterr()
    assert status == 0 and "skipped" in out and "Traceback" not in out + err


def test_a_plugin_that_hangs_is_loaded_once_within_the_limit(tmp_path, monkeypatch):
    hangs = f"uc_plugin_hangs_{next(_names)}"
    (tmp_path / f"{hangs}.py").write_text("import time\ntime.sleep(1000)\n")
    _install_distribution(tmp_path, [f"hangs = {hangs}:IMPLS"])
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.setattr(adapters, "LOAD_LIMIT_S", 1.0)
    with pytest.warns(UserWarning, match="did not finish within 1 s"):
        all_impls()
    with pytest.warns(UserWarning, match="did not finish within 1 s"):
        all_impls()    # not imported (and waited for) again


# ------------------------------------------------------------------ the pytest plugin

@pytest.fixture
def project(pytester: pytest.Pytester) -> pytest.Pytester:
    pytester.makeini("[pytest]\ntestpaths = tests\n")
    shutil.copytree(REPO / "cases/article", pytester.path / "cases/article")
    return pytester


@pytest.mark.parametrize("body", [EXITS["sys.exit"], EXITS["KeyboardInterrupt"],
                                  "from tests.planted import Planted\nclass P(Planted):\n"
                                  "    @property\n    def name(self):\n"
                                  "        raise SystemExit(2)\nIMPLS = [P()]\n"],
                         ids=["sys.exit", "KeyboardInterrupt", "raising name"])
def test_the_pytest_plugin_takes_an_exiting_impl_module_as_a_usage_error(project, body):
    port = _module(project.path, body)
    result = project.runpytest_inprocess(SAME_DX, "--convgrad-impl-module", port.name,
                                         "--convgrad-in-process", *LEAN)
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    err = result.stderr.str()
    assert "INTERNALERROR" not in err + result.stdout.str()
    assert f"--convgrad-impl-module {port.name}: " in err


def test_the_pytest_plugin_refuses_an_out_that_is_a_file_before_any_test_runs(project):
    (project.path / "taken").write_text("not a directory\n")
    result = project.runpytest_inprocess(SAME_DX, "--convgrad-out", "taken",
                                         "--convgrad-impl-module", "tests.planted:Planted",
                                         "--convgrad-in-process", *LEAN)
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    assert "--convgrad-out" in result.stderr.str() and "not a directory" in result.stderr.str()
    assert (project.path / "taken").read_text() == "not a directory\n"
    assert "passed" not in result.stdout.str()


def test_the_pytest_plugin_refuses_a_missing_limitations_file(project):
    result = project.runpytest_inprocess(SAME_DX, "--convgrad-limitations", "nope.yaml",
                                         "--convgrad-impl-module", "tests.planted:Planted",
                                         "--convgrad-in-process", *LEAN)
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    assert "--convgrad-limitations nope.yaml: no such file" in result.stderr.str()


def test_the_pytest_plugin_fails_a_run_whose_record_could_not_be_written(project,
                                                                        monkeypatch):
    from harness.safeio import outputs

    def refuse(self, *args, **kwargs):
        raise outputs.OutputError("disk full")
    monkeypatch.setattr(outputs.OutputSet, "write", refuse)
    result = project.runpytest_inprocess("cases/article/1-valid-dx.yaml", "--convgrad-out", "out",
                                         "--convgrad-impl-module", "tests.planted:Planted",
                                         "--convgrad-in-process", *LEAN)
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    assert "convgrad: error: disk full" in result.stdout.str()


# ------------------------------------------------------------------ patterns

REFUSER = """\
from harness.api import Outcome
from tests.planted import Planted


class Refuser(Planted):
    name = "uc.refuser"

    def compute(self, case, inputs, grads):
        return {g: Outcome(unsupported="a" * 60 + "!") for g in grads}


IMPLS = [Refuser()]
"""


def _limitations(tmp_path: Path, message: str, framework: str = "numpy") -> Path:
    path = tmp_path / "limits.yaml"
    path.write_text(f"- id: user-limit\n  framework: {framework}\n  message: '{message}'\n"
                    "  summary: s\n  evidence: e\n")
    return path


def test_a_catastrophic_limitation_pattern_does_not_hang_the_run(tmp_path):
    """``(a+)+$`` against sixty a's and a '!' is 2**60 steps for a backtracking engine."""
    port = _module(tmp_path, REFUSER)
    done = _convgrad("run", VALID_DX, "--impl-module", str(port), "--in-process",
                     "--limitations", str(_limitations(tmp_path, "(a+)+$")),
                     "--out", "out", cwd=tmp_path, timeout=90)
    assert done.returncode == 1, done.stderr     # an error: the pattern does not match
    assert "no documented limitation of numpy covers" in done.stdout


def test_a_linear_pattern_still_documents_the_refusal(tmp_path, capsys):
    port = _module(tmp_path, REFUSER)
    status = main(["run", VALID_DX, "--impl-module", str(port), "--in-process",
                   "--limitations", str(_limitations(tmp_path, "^Refused|a{60}!$")),
                   "--out", str(tmp_path / "out")])
    assert status == 0 and "unsupported" in capsys.readouterr().out


@pytest.mark.parametrize("message, problem", [
    (r"(a)\1", "invalid escape sequence"),                  # a backreference
    ("(?=only) supports", "invalid perl operator"),         # lookahead
    ("(?<!no) NHWC", "invalid perl operator"),              # lookbehind
    ("a++", "bad repetition operator"),                      # possessive
    ("x" * 1001, "at most 1000"),
])
def test_a_pattern_re2_cannot_match_in_linear_time_is_refused_at_load(tmp_path, capsys,
                                                                       message, problem):
    path = _limitations(tmp_path, message)
    status = main(["run", VALID_DX, "--impl", "jax.vjp", "--in-process",
                   "--limitations", str(path), "--out", str(tmp_path / "out")])
    line = _one_error_line(capsys.readouterr().err)
    assert status == 2 and line.startswith(f"error: {path}:3: entry 0 (user-limit): message ")
    assert problem in line and not (tmp_path / "out").exists()


def _quoted(text: str) -> list[str]:
    return re.findall(r'"([^"]+)"', text)


# Refusals of the bundled limitations whose evidence does not quote them: the framework's
# (or the impl's own) words, as a verdict's message carries them.
REFUSALS = {
    "tf-convolution-stride-with-dilation": "ValueError: `strides > 1` not supported in "
    "conjunction with `dilation_rate > 1`. Received: strides=[2, 2] and dilation_rate=[2, 2]",
    "torch-channels-last-rank": "ValueError: channels_last memory format exists for 2-D and "
    "3-D convolutions only",
    "keras-conv-transpose-groups": "NotImplementedError: keras.ops.conv_transpose has no "
    "groups argument",
}


@pytest.mark.parametrize("entry", limitations_mod.default(), ids=lambda e: e.id)
def test_the_bundled_limitations_match_under_re2_as_under_python(entry):
    """Each bundled pattern (now RE2) matches the refusals its evidence quotes, and RE2
    and Python's re agree on them and on near misses."""
    python = re.compile(entry.message.pattern)
    assert isinstance(entry.message, type(re2.compile("x")))
    refusals = _quoted(entry.evidence) + [REFUSALS.get(entry.id, entry.evidence)]
    samples = refusals + [entry.summary, entry.evidence, "ValueError: " + entry.evidence.lower(),
                          *(t[:-3] for t in refusals), *(t.upper() for t in refusals)]
    for text in samples:
        assert bool(entry.message.search(text)) == bool(python.search(text)), text
    # a refusal it documents is found, a lone surrogate in the message notwithstanding
    text = next(t for t in refusals if python.search(t))
    facts = {k: v[0] for k, v in entry.when.items()}
    assert limitations_mod.find([entry], entry.framework, f"\udcff{text}\udcff", facts) is entry


def test_a_known_glob_is_bounded_and_matched_without_backtracking(tmp_path):
    path = tmp_path / "known.yaml"
    path.write_text(f"- case: '{'*a' * 600}'\n  impl: x\n  reason: r\n  evidence: e\n")
    with pytest.raises(SourceError, match="at most 1000"):
        known_mod.load_known(path)
    path.write_text(f"- case: '{'*a' * 50}*b'\n  impl: x\n  reason: r\n  evidence: e\n")
    (entry,) = known_mod.load_known(path)
    assert not entry.matches("a" * 100_000, "dx", impl="x")   # at once, not 100000**50


# ------------------------------------------------------------------ cases-from

@pytest.mark.parametrize("shape", ["-1,3,8,8", "0,3,8,8", "1,3,0,8",
                                   "100000,100000,100000,3", ",".join(["1"] * 100),
                                   "1,3,8,8a", "\uff11,3,8,8", "1,,8,8", "1_0,3,8,8", " "])
def test_cases_from_refuses_a_bad_input_shape_before_loading(tmp_path, capsys, shape):
    marker = tmp_path / "loaded"
    model = tmp_path / f"uc_model_{next(_names)}.py"
    model.write_text(f"open({str(marker)!r}, 'w').close()\ndef build():\n    return None\n")
    status = main(["cases-from", f"{model}:build", "-o", str(tmp_path / "out"),
                   f"--input-shape={shape}"])
    line = _one_error_line(capsys.readouterr().err)
    assert status == 2 and line.startswith("error: --input-shape ")
    assert not marker.exists()


@pytest.mark.parametrize("name, content, problem", [
    ("empty.keras", b"", "is empty"),
    ("text.keras", b"not a model\n", "is not a .keras file"),
    ("garbage.h5", b"\x00" * 4096, "is not an HDF5 file"),
])
def test_cases_from_refuses_a_file_that_is_no_model_in_one_line(tmp_path, capsys, name,
                                                                content, problem):
    (tmp_path / name).write_bytes(content)
    status = main(["cases-from", str(tmp_path / name), "-o", str(tmp_path / "out")])
    line = _one_error_line(capsys.readouterr().err)
    assert status == 2 and problem in line
    assert not any((tmp_path / "out").glob("*.yaml"))


def test_cases_from_checks_its_output_place_before_loading_the_model(tmp_path, capsys):
    marker = tmp_path / "loaded"
    model = tmp_path / f"uc_model_{next(_names)}.py"
    model.write_text(f"open({str(marker)!r}, 'w').close()\ndef build():\n    return None\n")
    (tmp_path / "file").write_text("x")
    status = main(["cases-from", f"{model}:build", "-o", str(tmp_path / "file")])
    line = _one_error_line(capsys.readouterr().err)
    assert status == 2 and "not a directory" in line and not marker.exists()


@pytest.mark.parametrize("body, problem", [
    ("import sys\nsys.exit(3)\n", "SystemExit: 3"),
    ("raise KeyboardInterrupt\n", "KeyboardInterrupt"),
    ("def build():\n    return 42\n", "int is neither a Keras model nor a torch nn.Module"),
])
def test_cases_from_a_module_that_exits_is_one_line(tmp_path, capsys, body, problem):
    model = tmp_path / f"uc_model_{next(_names)}.py"
    model.write_text(body)
    status = main(["cases-from", f"{model}:build", "-o", str(tmp_path / "out")])
    line = _one_error_line(capsys.readouterr().err)
    assert status == 2 and problem in line


def test_cases_from_without_room_for_its_temporary_files_is_one_line(tmp_path, capsys,
                                                                    monkeypatch):
    def full(*args, **kwargs):
        raise OSError(28, "No space left on device")
    monkeypatch.setattr(cases_from.tempfile, "mkdtemp", full)
    model = tmp_path / f"uc_model_{next(_names)}.py"
    model.write_text("def build():\n    return None\n")
    status = main(["cases-from", f"{model}:build", "-o", str(tmp_path / "out")])
    line = _one_error_line(capsys.readouterr().err)
    assert status == 2 and "No space left on device" in line


def test_cases_from_a_module_that_aborts_or_hangs_costs_one_line(tmp_path):
    aborts = tmp_path / "uc_model_aborts.py"
    aborts.write_text("import os\nos.abort()\n")
    done = _convgrad("cases-from", f"{aborts}:build", "-o", "out", cwd=tmp_path)
    line = _one_error_line(done.stderr)
    assert done.returncode == 2 and "killed by SIGABRT" in line
    hangs = tmp_path / "uc_model_hangs.py"
    hangs.write_text("import subprocess, time\nsubprocess.Popen(['sleep', '313.7'])\n"
                     "time.sleep(1000)\n")
    with pytest.raises(cases_from.ModelError, match="took longer than 3 s"):
        cases_from.write(f"{hangs}:build", tmp_path / "out", limit_s=3)
    left = subprocess.run(["pgrep", "-f", "sleep 313.7"], capture_output=True, text=True)
    assert left.stdout.strip() == "", "a process the model started outlived it"


def _save(model, path: Path) -> Path:
    model.save(path)
    return path


@pytest.fixture(scope="module")
def keras():
    if "tensorflow" not in FRAMEWORKS:
        pytest.skip("tensorflow not under test")
    from harness.backend.adapters.tf_adapter import quiet_tensorflow_import

    with quiet_tensorflow_import():
        import keras as keras_module   # TensorFlow: seconds, for these tests only
    return keras_module


@pytest.mark.frameworks
def test_cases_from_a_keras_layer_name_cannot_add_cases(tmp_path, keras, capsys):
    """A layer's name is the model file's choice: a newline in it must not start YAML."""
    evil = "x\n- id: injected\n  op: conv2d\n  input_shape: [1, 3, 3, 1]\n#"
    inputs = keras.Input((3, 8, 8))
    h = keras.layers.Conv2D(2, 3, data_format="channels_first", name=evil)(inputs)
    h = keras.layers.Permute((2, 3, 1))(h)
    h = keras.layers.Conv2D(2, 3, name="plain\u202econv")(h)
    path = _save(keras.Model(inputs, h, name="evil\nname"), tmp_path / "evil.keras")
    assert main(["cases-from", str(path), "-o", str(tmp_path / "out")]) == 0
    (written,) = (tmp_path / "out").glob("*.yaml")
    text = written.read_text()
    assert "\x1b" not in text and "\u202e" not in text
    cases = load_cases([str(written)])
    assert len(cases) == 1 and "injected" not in [c.id for c in cases][0]
    assert [line for line in text.splitlines() if line.startswith("- id:")] == \
        [f"- id: {cases[0].id}"]
    assert "1 cases from the conv layers" in capsys.readouterr().out


@pytest.mark.frameworks
def test_cases_from_a_lambda_layer_is_refused_not_run(tmp_path, keras, capsys):
    inputs = keras.Input((4, 4, 1))
    h = keras.layers.Lambda(lambda t: t * 2)(inputs)
    h = keras.layers.Conv2D(1, 3)(h)
    path = _save(keras.Model(inputs, h), tmp_path / "lambda.keras")
    assert main(["cases-from", str(path), "-o", str(tmp_path / "out")]) == 2
    line = _one_error_line(capsys.readouterr().err)
    assert "Keras cannot load it" in line and "safe_mode" in line


@pytest.mark.frameworks
def test_cases_from_a_corrupt_keras_file_or_a_forward_that_raises_is_one_line(tmp_path,
                                                                                keras,
                                                                                capsys):
    inputs = keras.Input((8, 8, 3))
    path = _save(keras.Model(inputs, keras.layers.Conv2D(2, 3)(inputs)), tmp_path / "m.keras")
    truncated = tmp_path / "truncated.keras"
    truncated.write_bytes(path.read_bytes()[:200])
    assert zipfile.is_zipfile(path)
    assert main(["cases-from", str(truncated), "-o", str(tmp_path / "out")]) == 2
    assert "Keras cannot load it" in _one_error_line(capsys.readouterr().err)
    # the model expects rank 4: the forward pass at rank 3 raises inside Keras
    assert main(["cases-from", str(path), "-o", str(tmp_path / "out"),
                 "--input-shape", "1,8,8"]) == 2
    assert "forward pass at input shape [1, 8, 8] raised" in \
        _one_error_line(capsys.readouterr().err)
    assert not any((tmp_path / "out").glob("*.yaml"))
    # and the model itself still makes a case that loads
    assert main(["cases-from", str(path), "-o", str(tmp_path / "out")]) == 0
    (written,) = (tmp_path / "out").glob("*.yaml")
    assert len(load_cases([str(written)])) == 1


# ------------------------------------------------------------------ the last line

def test_an_unexpected_exception_is_one_line_naming_it_as_internal(monkeypatch, capsys):
    def broken(args, argv):
        raise RuntimeError("boom \x1b[31mred")
    monkeypatch.setattr(cli, "cmd_list", broken)
    monkeypatch.delenv("CONVGRAD_DEBUG", raising=False)
    assert main(["list"]) == cli.EXIT_INTERNAL == 3
    line = _one_error_line(capsys.readouterr().err)
    assert line == ("error: internal error: RuntimeError: boom \\x1b[31mred (a bug in "
                    "convgrad; CONVGRAD_DEBUG=1 shows the traceback)")
    monkeypatch.setenv("CONVGRAD_DEBUG", "1")
    with pytest.raises(RuntimeError, match="boom"):
        main(["list"])


def test_a_k_word_cannot_hang_the_selection():
    """``-k`` words are matched by RE2 (harness.safeio.patterns): a word that makes a
    backtracking engine take exponential time selects in linear time."""
    matches = expression("*a" * 40 + "*b")
    started = time.monotonic()
    assert not matches(["a" * 200 + "c"])
    assert time.monotonic() - started < 5
    assert expression("SAME and not dw")(["article/same-dx", "dx"])
