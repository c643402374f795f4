"""The probed platform against the frameworks themselves (issue 18): the facts a record
holds are what a bare probe of each framework says, natively and on a lowered path, and
the paths a machine can take are judged with the same entries."""
from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from harness.backend import platforms
from harness.frontends.cli import main
from tests.conftest import FRAMEWORKS

pytestmark = pytest.mark.frameworks

# What each framework says of itself, with nothing of convgrad's imported.
BARE = {
    "tensorflow": (
        "import tensorflow as tf\n"
        "from tensorflow.python.util import _pywrap_util_port as p\n"
        "print(json.dumps({'version': tf.__version__,"
        " 'onednn': 'on' if p.IsMklEnabled() else 'off'}))"),
    "torch": (
        "import torch\n"
        "print(json.dumps({'version': str(torch.__version__),"
        " 'cpu_capability': torch.backends.cpu.get_cpu_capability(),"
        " 'bf16': bool(torch.ops.mkldnn._is_mkldnn_bf16_supported()),"
        " 'fp16': bool(torch.ops.mkldnn._is_mkldnn_fp16_supported())}))"),
    "jax": (
        "import jax\n"
        "print(json.dumps({'version': jax.__version__, 'platform': jax.default_backend()}))"),
}
IMPL = {"tensorflow": "tf.tape", "torch": "torch.autograd", "jax": "jax.vjp"}


def bare_probe(framework: str, env: dict[str, str]) -> dict:
    done = subprocess.run([sys.executable, "-c", "import json\n" + BARE[framework]],
                          env={**os.environ, **env, "TF_CPP_MIN_LOG_LEVEL": "3"},
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout.strip().splitlines()[-1])


@pytest.fixture(scope="module")
def record(tmp_path_factory):
    """One article case judged on every path this machine can take, through workers."""
    out = tmp_path_factory.mktemp("platforms")
    impls = ",".join(IMPL[f] for f in FRAMEWORKS)
    assert main(["run", "cases/article/1-valid-dx.yaml", "--impl", impls, "--platforms", "all",
                 "--out", str(out), "--no-jax-cache"]) == 0
    return json.loads((out / "results.json").read_text())


@pytest.mark.parametrize("framework", FRAMEWORKS)
def test_the_recorded_facts_are_what_a_bare_probe_says(record, framework):
    paths = [{}] + [{"cpu": c} for c in platforms.emulations_here()]
    for path in paths:
        name = IMPL[framework] + (f"[cpu={path['cpu']}]" if path else "")
        entry = next(i for i in record["impls"] if i["name"] == name)
        facts = entry["platform"]
        env = platforms.emulation_environment(path["cpu"]) if path else {}
        bare = bare_probe(framework, env)
        assert facts["version"] == bare["version"], name
        assert facts["cpu"]["class"] == platforms.cpu_facts()["class"]
        assert facts["cpu"]["onednn_isa_cap"] == (env.get("ONEDNN_MAX_CPU_ISA")
                                                  or os.environ.get("ONEDNN_MAX_CPU_ISA"))
        if framework == "tensorflow":
            assert facts["onednn"] == bare["onednn"], name
            if path:   # every emulated class is one where TF's oneDNN is off by default
                assert facts["onednn"] == "off" and facts["onednn_bfloat16"] == "off"
        elif framework == "torch":
            assert facts["cpu_capability"] == bare["cpu_capability"], name
            assert (facts["onednn_bfloat16"] == "on") == bare["bf16"], name
            assert (facts["onednn_float16"] == "on") == bare["fp16"], name
            if path.get("cpu") == "avx2":   # oneDNN capped at AVX2 takes no bfloat16
                assert facts["onednn_bfloat16"] == "off" and facts["cpu_capability"] == "AVX2"
        else:
            assert facts["platform"] == bare["platform"], name


def test_the_record_run_and_report_carry_the_platform(record, tmp_path):
    assert record["environment"]["cpu_platform"]["class"] == platforms.cpu_facts()["class"]
    assert all(i.get("platform") for i in record["impls"] if i["available"])
    from harness.render import report
    html = report.output_files(record)["index.html"]
    assert 'id="platforms"' in html
    for impl in record["impls"]:
        assert impl["name"] in html


@pytest.mark.skipif("tensorflow" not in FRAMEWORKS, reason="TensorFlow is not under test")
def test_a_record_from_a_lower_platform_diffs_by_its_facts(tmp_path, capsys):
    """Two runs of the TF conv3d regression: natively and under cpu=avx2's variables (as an
    AVX2 runner runs it). diff names the facts that differ behind each changed verdict."""
    case = "cases/regressions/tf-conv3d-same-stride-larger-than-kernel.yaml"
    here, there = tmp_path / "here", tmp_path / "there"
    env = {**os.environ, **platforms.emulation_environment("avx2")}
    for out, environ in ((here, os.environ), (there, env)):
        done = subprocess.run([sys.executable, "-m", "harness.frontends.cli", "run", case, "--impl",
                               "tf.tape", "--out", str(out)], env=environ, capture_output=True,
                              text=True, timeout=600)
        assert done.returncode == 0, done.stdout + done.stderr
    capsys.readouterr()
    main(["diff", str(here / "results.json"), str(there / "results.json")])
    text = capsys.readouterr().out
    native_onednn = json.loads((here / "results.json").read_text())["impls"][0]["platform"]
    assert "platform of tf.tape differs:" in text
    if native_onednn["onednn"] == "on":   # an AVX2 machine runs both the same way
        assert "status  regressions/tf-conv3d-same-stride-larger-than-kernel [tf.tape] y: " \
               "pass -> known" in text
        assert "where onednn on -> off" in text


@pytest.mark.skipif("tensorflow" not in FRAMEWORKS, reason="TensorFlow is not under test")
def test_tensorflows_conv3d_without_groups_is_a_documented_limitation_on_every_path(tmp_path):
    """Found by convgrad fuzz on every tf.* path: TF's Conv3D ops take no groups (oneDNN and
    its own kernels refuse in different words); both are the documented limitation."""
    case = tmp_path / "g3.yaml"
    case.write_text("id: g/conv3d-groups\nop: conv3d\ngrads: [y, dx, dw]\n"
                    "groups: 2\ninput_shape: [1, 1, 1, 1, 2]\nfilter_shape: [1, 1, 1, 1, 2]\n"
                    "x: {constant: 1}\nw: {constant: 1}\ndy: {constant: 1}\n")
    out = tmp_path / "out"
    assert main(["run", str(case), "--impl", "tf.*", "--platforms", "all",
                 "--out", str(out)]) == 0
    record = json.loads((out / "results.json").read_text())
    assert {(v["status"], (v["limitation"] or {}).get("id")) for v in record["verdicts"]} \
        == {("unsupported", "tf-conv3d-no-groups")}
    assert len(record["verdicts"]) == 3 * 2 * (1 + len(platforms.emulations_here()))
