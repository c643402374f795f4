"""Journey: a team porting a TF model to PyTorch audits its conv, as docs/migration.md says.

The whole job through the real ``convgrad`` console script, from a folder of the team's
own: the port (TensorFlow's SAME written as torch's ``padding=k // 2``, the classic) is
judged on the strided and even-kernel SAME cases a TF model meets; the run fails, and
says ONCE which mistake explains every failing verdict, with the rule that fixes it as
torch code. The code printed is then pasted, as it is, into the port's function: the
fixed port passes every verdict. Each step fails the test if it breaks: no diagnosis,
a diagnosis repeated per verdict, a rule that is not code, or code that does not fix it.
"""
from __future__ import annotations

import re
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from tests.conftest import FRAMEWORKS

pytestmark = [pytest.mark.frameworks,
              pytest.mark.skipif("torch" not in FRAMEWORKS, reason="torch not under test")]

REPO = Path(__file__).resolve().parents[2]
CASES = str(REPO / "cases/conformance/conv2d.yaml")
SELECT = "SAME and not SAME_LOWER and (s2x2 or k2x2 or k4x4)"

PORT = '''
import torch.nn.functional as F
from harness.api import impl


def conv(x, w, case):     # TF's SAME, as the team first wrote it
    return F.conv2d(x, w, stride=case.strides, dilation=case.dilations,
                    padding=tuple(k // 2 for k in w.shape[2:]))


IMPLS = [impl(conv, framework="torch", name="team.conv")]
'''


def convgrad(folder: Path, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "harness.frontends.cli", "run", CASES,
                           "-k", SELECT, "--impl-module", "port.py", "--jobs", "1",
                           "--out", "reports", "--no-jax-cache", *args],
                          cwd=folder, capture_output=True, text=True, timeout=600)


def printed_fix(stdout: str) -> list[str]:
    """The code lines under ``the fix, in torch:`` of the one DIAGNOSIS block."""
    block = stdout.split("DIAGNOSIS team.conv", 1)[1].split("\n\n", 1)[0]
    lines = block.split("the fix, in torch:\n", 1)[1].splitlines()
    code = [line[4:] for line in lines if line.startswith("    ")]
    return [line for line in code if not line.startswith("TensorFlow's")]


def test_the_porter_is_told_the_rule_once_and_the_printed_code_fixes_the_port(tmp_path):
    (tmp_path / "port.py").write_text(PORT)
    first = convgrad(tmp_path)
    assert first.returncode == 1, first.stdout[-3000:] + first.stderr[-3000:]
    out = first.stdout
    failing = len(re.findall(r"^(FAIL|ERROR) ", out, re.MULTILINE))
    hidden = re.search(r"\.\.\. and (\d+) more", out)
    assert failing + (int(hidden.group(1)) if hidden else 0) >= 10
    # said once for the impl, not once per verdict
    assert out.count("DIAGNOSIS team.conv") == 1 and out.count("the fix, in torch:") == 1
    head = re.search(r"DIAGNOSIS team\.conv \(torch\): (\S+) explains all (\d+)", out)
    assert head and head.group(1) == "symmetric-padding", out[-4000:]
    assert "Traceback" not in out and "harness/backend/port.py" not in out
    code = printed_fix(out)
    assert any(line.startswith("def same_pads") for line in code), code
    assert code[-1].startswith("y = F.conv2d("), code

    # the team pastes the printed code into its function, as it is
    body = textwrap.indent("\n".join(code), "    ")
    (tmp_path / "port.py").write_text(
        "import torch.nn.functional as F\nfrom harness.api import impl\n\n\n"
        "def conv(x, w, case):\n    stride, dilation = case.strides, case.dilations\n"
        f"{body}\n    return y\n\n\n"
        "IMPLS = [impl(conv, framework='torch', name='team.conv')]\n")
    fixed = convgrad(tmp_path)
    assert fixed.returncode == 0, fixed.stdout[-3000:] + fixed.stderr[-3000:]
    assert "DIAGNOSIS" not in fixed.stdout
    counts = re.search(r"^verdicts: (\d+) pass$", fixed.stdout, re.MULTILINE)
    assert counts and int(counts.group(1)) >= 3 * 10, fixed.stdout[-2000:]
