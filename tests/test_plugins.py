"""Third-party impls register through the `convgrad.impls` entry-point group."""
from __future__ import annotations

import sys

from harness.adapters import all_impls, select
from harness.loader import load_cases
from harness.runner import probe, run


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




def test_without_the_plugin_it_is_absent():
    assert not any(i.name.startswith("planted.") for i in all_impls())
