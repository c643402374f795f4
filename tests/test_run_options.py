"""One run configuration (issue 19): ``convgrad run``, the tools (repro, shrink, fuzz) and
the pytest plugin read their options through :class:`harness.session.config.RunOptions`,
so a rule holds in all of them. Planted NumPy impls, in-process: no framework import."""
from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from harness.frontends import cli
from harness.frontends.cli import parser
from harness.session.config import RunOptions, UsageError

pytest_plugins = ["pytester"]

REPO = Path(__file__).resolve().parents[1]
SAME_DX = "cases/article/3-same-dx.yaml"


def options(*argv: str) -> RunOptions:
    return RunOptions.from_args(parser().parse_args(list(argv)))


def test_an_impl_modules_impls_are_the_default_and_only_they_run():
    chosen = options("run", "--impl-module", "tests.planted:BUGS").resolved_impls
    assert [i.name for i in chosen] == ["planted.pad_before", "planted.kernel_not_flipped",
                                        "planted.dilation_ignored", "planted.stride_off_by_one",
                                        "planted.channels_transposed"]
    both = options("run", "--impl-module", "tests.planted:BUGS", "--impl", "jax.vjp,planted.pad*")
    assert [i.name for i in both.resolved_impls] == ["jax.vjp", "planted.pad_before"]


def test_every_front_end_refuses_an_impl_name_registered_twice():
    twice = options("run", "--impl-module", "tests.planted:Planted",
                    "--impl-module", "tests.planted:Planted")
    with pytest.raises(UsageError, match="impl names registered twice: planted.correct"):
        twice.resolved_impls
    shrink = options("shrink", SAME_DX, "-o", "x.yaml", "--impl", "planted.correct",
                     "--impl-module", "tests.planted:Planted", "--impl-module",
                     "tests.planted:Planted")
    with pytest.raises(UsageError, match="registered twice"):
        shrink.one_impl()


def test_a_tool_takes_exactly_one_impl_whose_settings_it_declares():
    with pytest.raises(UsageError, match=r"names 2 impls \(tf.backprop, tf.tape\)"):
        options("repro", SAME_DX, "--case", "x", "--impl", "tf.*").one_impl()
    with pytest.raises(UsageError, match="tf.tape has no setting 'evil'"):
        options("repro", SAME_DX, "--case", "x", "--impl", "tf.tape[evil=1]").one_impl()


def test_the_record_states_the_options_the_run_was_built_from():
    run = options("run", "--jobs", "2", "--repeat", "3", "--timeout", "9").record_options()
    assert run["isolation"] == "workers" and run["jobs"] == 2 and run["repeat"] == 3
    assert run["timeout_s"] == 9.0
    assert options("run", "--in-process").record_options()["jobs"] == 1


def test_repro_from_a_record_refuses_settings_the_impl_does_not_declare(tmp_path, capsys):
    """A variant's settings become code in the script: only declared ones are taken."""
    record = REPO / "tests/hostile/records/base.json"
    code = cli.main(["repro", str(record), "--case", "article/same-dx",
                     "--impl", "tf.backprop[onednn=off\nimport os]", "-o", str(tmp_path / "s.py")])
    assert code == 2 and not (tmp_path / "s.py").exists()
    assert "onednn" in capsys.readouterr().err


def test_shrink_judges_an_impl_of_an_impl_module(tmp_path, capsys):
    out = tmp_path / "shrunk.yaml"
    code = cli.main(["shrink", SAME_DX, "--impl-module", "tests.planted:BUGS",
                     "--impl", "planted.pad_before", "--in-process", "--time", "20",
                     "-o", str(out)])
    assert code == 0, capsys.readouterr().err
    assert "op:" in out.read_text()


def test_repro_of_an_impl_module_impl_says_what_to_do_instead(tmp_path, capsys):
    code = cli.main(["repro", SAME_DX, "--case", "article/same-dx", "--in-process",
                     "--impl-module", "tests.planted:BUGS", "--impl", "planted.pad_before",
                     "-o", str(tmp_path / "s.py")])
    assert code == 2
    err = capsys.readouterr().err
    assert "no script template for impl 'planted.pad_before'" in err
    assert "convgrad shrink --impl-module" in err


def test_the_pytest_plugins_impl_module_alone_runs_only_its_impls(pytester):
    """Found by a porter: ``--convgrad-impl-module`` also ran the five built-ins."""
    pytester.makeini("[pytest]\ntestpaths = tests\n")
    shutil.copytree(REPO / "cases/article", pytester.path / "cases/article")
    result = pytester.runpytest_inprocess(SAME_DX, "--collect-only", "-q",
                                          "--convgrad-impl-module", "tests.planted:Planted",
                                          "-p", "no:cacheprovider")
    ids = [line for line in result.stdout.lines if "::" in line]
    assert ids == [f"{SAME_DX}::article/same-dx[planted.correct-dx]",
                   f"{SAME_DX}::article/same-dx[claim-dx]"]


def test_an_impl_module_named_as_a_module_is_found_in_the_folder_convgrad_runs_in(tmp_path):
    """Found by a porter: the console script's sys.path holds its bin folder, not the
    folder it runs in, so ``--impl-module myport`` (not ``myport.py``) was not found."""
    import subprocess
    import sys
    script = Path(sys.executable).with_name("convgrad")
    (tmp_path / "myport.py").write_text("from tests.planted import Planted\nIMPLS = [Planted()]\n")
    shutil.copy(REPO / SAME_DX, tmp_path / "case.yaml")
    env = {"PATH": "/usr/bin:/bin", "PYTHONPATH": str(REPO)}
    done = subprocess.run([str(script), "run", "case.yaml", "--impl-module", "myport",
                           "--in-process", "--out", "out"], cwd=tmp_path, env=env,
                          capture_output=True, text=True, timeout=120)
    assert done.returncode in (0, 1), done.stderr
    assert "planted.correct" in done.stdout and "No module named" not in done.stderr
