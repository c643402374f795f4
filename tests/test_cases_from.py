"""`convgrad cases-from`: every conv layer of a real model becomes a case with its geometry."""
from __future__ import annotations

import pytest

from harness.tools import cases_from
from harness.frontends.cli import main
from harness.case.loader import load_cases
from tests.conftest import FRAMEWORKS

pytestmark = pytest.mark.frameworks


@pytest.mark.skipif("torch" not in FRAMEWORKS, reason="torch not under test")
def test_a_torch_module_gives_a_case_per_conv_with_the_traced_shapes(tmp_path, capsys):
    import torch

    model = cases_from.load("tests.models.small:torch_model")
    seen = {}
    for name, m in model.named_modules():
        if isinstance(m, (torch.nn.Conv2d, torch.nn.ConvTranspose2d)):
            m.register_forward_hook(lambda mod, a, out, name=name: seen.__setitem__(
                name, (tuple(a[0].shape), tuple(out.shape))))
    model(torch.zeros(1, 3, 16, 16))
    assert main(["cases-from", "tests.models.small:torch_model", "-o", str(tmp_path),
                 "--input-shape", "1,3,16,16"]) == 0
    cases = {c.id.rsplit("/", 1)[1]: c for c in load_cases([str(tmp_path)])}
    assert set(cases) == set(seen) and len(cases) == 4
    for name, (shape_in, shape_out) in seen.items():
        assert cases[name].input_shape == shape_in
        assert cases[name].output_shape == shape_out, name     # the geometry translated right
    assert cases["2"].groups == 4 and cases["4"].groups == 8
    assert cases["6"].op == "conv_transpose2d"
    assert "4 cases from the conv layers" in capsys.readouterr().out


@pytest.mark.skipif("tensorflow" not in FRAMEWORKS, reason="tensorflow not under test")
def test_a_keras_model_gives_a_case_per_conv_layer_and_separable_parts(tmp_path):
    model = cases_from.load("tests.models.small:keras_model")
    out = cases_from.write(model, tmp_path)
    cases = {"/".join(c.id.rsplit("/", 2)[-2:]) if c.id.endswith(("/depthwise", "/pointwise"))
             else c.id.rsplit("/", 1)[-1]: c for c in load_cases([str(out)])}
    layers = {layer.name: layer for layer in model.layers}
    assert len(cases) == 6
    for key, case in cases.items():
        name = key.split("/")[0]
        layer = layers[name]
        if key.endswith("/depthwise"):
            assert case.op == "depthwise_conv2d"
            continue
        expected = tuple(layer.output.shape)
        assert case.output_shape == (1, *expected[1:]), (key, case.output_shape, expected)
    kinds = sorted(c.op for c in cases.values())
    assert kinds == ["conv2d", "conv2d", "conv2d", "conv_transpose2d", "depthwise_conv2d",
                     "depthwise_conv2d"]


def test_a_model_that_is_not_there_is_a_usage_error(tmp_path, capsys):
    assert main(["cases-from", "tests.models.small:nothing", "-o", str(tmp_path)]) == 2
    assert "AttributeError" in capsys.readouterr().err
    assert main(["cases-from", str(tmp_path / "m.keras"), "-o", str(tmp_path)]) == 2
    assert "no such model file" in capsys.readouterr().err


@pytest.mark.skipif("torch" not in FRAMEWORKS, reason="torch not under test")
def test_a_module_in_the_current_folder_is_found_as_python_m_finds_it(tmp_path):
    """Issue 20: `cases-from mymodel:build` failed unless the module was importable some
    other way: the console script's sys.path has its bin folder, not the cwd."""
    import os
    import subprocess
    import sys

    (tmp_path / "mymodel_cwd.py").write_text(
        "import torch\n\ndef build():\n    return torch.nn.Conv2d(3, 4, 3, stride=2)\n")
    convgrad = os.path.join(os.path.dirname(sys.executable), "convgrad")
    done = subprocess.run([convgrad, "cases-from", "mymodel_cwd:build", "-o", "out",
                           "--input-shape", "1,3,9,9"], cwd=tmp_path, capture_output=True,
                          text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    (case,) = load_cases([str(tmp_path / "out")])
    assert case.input_shape == (1, 3, 9, 9) and case.strides == (2, 2)
