"""Third-party impls register through the `convgrad.impls` entry-point group."""
from __future__ import annotations

import pytest

from harness.backend.adapters import all_impls, select
from harness.case.loader import load_cases
from harness.frontends.cli import main
from harness.session.runner import probe, run


def _install_fake_distribution(root, group_line):
    dist = root / "convgrad_fake_plugin-1.0.dist-info"
    dist.mkdir()
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: convgrad-fake-plugin\n"
                                   "Version: 1.0\n")
    (dist / "entry_points.txt").write_text(f"[convgrad.impls]\n{group_line}\n")


def test_an_entry_point_impl_is_registered_and_judged(tmp_path, monkeypatch):
    _install_fake_distribution(tmp_path, "fake = tests.planted:KernelNotFlipped")
    monkeypatch.syspath_prepend(str(tmp_path))
    names = [i.name for i in all_impls()]
    assert names[:5] == ["tf.backprop", "tf.tape", "torch.nn_grad", "torch.autograd",
                         "jax.vjp"]
    assert "planted.kernel_not_flipped" in names
    infos = probe(select(["planted.*"]))
    results = run(load_cases(["cases/article/3-same-dx.yaml"]), infos)
    assert [v.status for v in results[0].verdicts] == ["fail"]


def test_a_plugin_that_fails_to_load_is_a_warning_and_an_unavailable_impl(tmp_path, monkeypatch,
                                                                         capsys):
    _install_fake_distribution(tmp_path, "broken = tests.no_such_module:IMPLS")
    monkeypatch.syspath_prepend(str(tmp_path))
    with pytest.warns(UserWarning, match="plug-in entry point broken .* failed to load: "
                                         "ModuleNotFoundError"):
        impls = all_impls()
    broken = [i for i in impls if i.name == "plugin.broken"]
    assert len(broken) == 1
    (info,) = probe(broken)
    assert not info.available and "ModuleNotFoundError" in info.version
    # the CLI runs the other impls and lists the broken one as unavailable, no traceback
    with pytest.warns(UserWarning):
        status = main(["run", "cases/article/1-valid-dx.yaml", "--impl", "plugin.*",
                       "--in-process", "--out", str(tmp_path / "out")])
    out = capsys.readouterr()
    assert status == 0 and "Traceback" not in out.err + out.out
    assert "skipped" in out.out


def test_without_the_plugin_it_is_absent():
    assert not any(i.name.startswith("planted.") for i in all_impls())
