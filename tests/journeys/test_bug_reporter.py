"""The bug reporter's journey: from a low-precision finding to a script for the upstream
tracker, as the reporter runs it (docs/repro.md, "From a failure to a bug report").

1. ``convgrad run`` shows the finding and offers the commands;
2. ``convgrad shrink ... --script`` shrinks it and writes the upstream-ready script;
3. the script runs where only NumPy and the framework can be imported: it exits 1 and
   states the error in ULPs of bfloat16 next to the witness (the framework's float32 path).

The finding is real, and the same on every x86 CPU with AVX2: torch's bfloat16 convolutions
with the paths of an AVX2 CPU (``cpu=avx2``: oneDNN capped below its bfloat16 kernels, so
torch's own kernel sums in bfloat16; AVX2-only machines take that path natively, AVX-512
ones are lowered to it). A machine that cannot take that path skips, naming why.

"Only NumPy and the framework": the script runs under ``python -I`` (no PYTHONPATH, no user
site, not the current folder on sys.path) with an import hook installed first that refuses
``harness`` (convgrad, importable here through its editable install), ``tests`` and every
module convgrad's own requirements bring (yaml, jinja2, jsonschema, ml_dtypes, packaging),
except NumPy and those the framework imports by itself (measured by importing it). A meta
path finder at the front of ``sys.meta_path`` sees every import, however made (``import``,
``importlib.import_module``, ``__import__``), before the editable install's finder or the
site-packages path finder can answer; a blocked module already loaded would slip past it, so
the hook refuses to start if one is. The hook is tested on its own first: ``import harness``
and ``import yaml`` must fail under it, ``import numpy`` must not.
"""
from __future__ import annotations

import ast
import json
import re
import subprocess
import sys
from importlib.metadata import distribution, packages_distributions
from pathlib import Path

import pytest

from harness.case.loader import load_cases
from tests.conftest import FRAMEWORKS

pytestmark = pytest.mark.frameworks

ROOT = Path(__file__).resolve().parents[2]
CASES = ROOT / "cases" / "edges" / "long-sums.yaml"
CASE = "edges/long-sums/VALID-bfloat16"
IMPL = "torch.autograd[cpu=avx2]"
FRAMEWORK = "torch"

# Run as `python -I -c BOOTSTRAP BLOCKED SCRIPT`: refuse the blocked top-level modules, then
# run SCRIPT as __main__ (its exit status is the process's; 3: a blocked module was loaded
# already, 4: the script raised, which Python would report as 1, the status of "reproduced").
BOOTSTRAP = '''\
import importlib.abc, runpy, sys
blocked = set(sys.argv[1].split(","))
loaded = sorted(blocked & {name.partition(".")[0] for name in sys.modules})
if loaded:   # a module loaded before the hook would slip past it
    print(f"bootstrap: imported before the hook: {loaded}", file=sys.stderr)
    sys.exit(3)

class OnlyNumpyAndTheFramework(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name.partition(".")[0] in blocked:
            raise ModuleNotFoundError(f"No module named {name!r} (not NumPy or the "
                                      "framework: refused for this run)", name=name)
        return None

sys.meta_path.insert(0, OnlyNumpyAndTheFramework())
sys.argv = sys.argv[2:]
try:
    runpy.run_path(sys.argv[0], run_name="__main__")
except Exception:   # an uncaught exception would exit 1, the status of "reproduced"
    import traceback
    traceback.print_exc()
    sys.exit(4)
'''


def convgrad(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    """The convgrad command, as the reporter types it."""
    entry = Path(sys.executable).with_name("convgrad")
    command = [str(entry)] if entry.exists() else [sys.executable, "-m", "harness.frontends.cli"]
    return subprocess.run([*command, *args], cwd=cwd, capture_output=True, text=True,
                          timeout=600)


def _normal(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def blocked_modules(framework: str) -> set[str]:
    """``harness``, ``tests`` and the top-level modules of convgrad's own requirements, less
    NumPy and whatever importing ``framework`` loads by itself."""
    wanted = {_normal(re.match(r"[A-Za-z0-9_.-]+", r).group(0))
              for r in distribution("convgrad").requires or () if ";" not in r}
    wanted.discard("numpy")
    brought = {module for module, dists in packages_distributions().items()
               if any(_normal(d) in wanted for d in dists)}
    probe = subprocess.run([sys.executable, "-I", "-c",
                            f"import json, sys, {framework}; "
                            "print(json.dumps(sorted({m.partition('.')[0] for m in sys.modules})))"],
                           capture_output=True, text=True, timeout=300)
    assert probe.returncode == 0, probe.stderr
    own = set(json.loads(probe.stdout.splitlines()[-1]))
    return {"harness", "tests"} | (brought - own)


def only_numpy_and(blocked: set[str], script: Path, cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-I", "-c", BOOTSTRAP, ",".join(sorted(blocked)),
                           str(script)], cwd=cwd, capture_output=True, text=True, timeout=600)


def test_the_environment_has_only_numpy_and_the_framework(tmp_path):
    if FRAMEWORK not in FRAMEWORKS:
        pytest.skip(f"{FRAMEWORK} is not among CONVGRAD_FRAMEWORKS")
    blocked = blocked_modules(FRAMEWORK)
    assert {"harness", "yaml", "jinja2"} <= blocked     # convgrad and its own requirements
    probe = tmp_path / "probe.py"
    probe.write_text("import importlib, sys\nimport numpy, " + FRAMEWORK + "\n"
                     "for name in sys.argv[1:]:\n"
                     "    try:\n        importlib.import_module(name)\n"
                     "    except ModuleNotFoundError:\n        continue\n"
                     "    sys.exit(f'{name} was importable')\n")
    done = subprocess.run([sys.executable, "-I", "-c", BOOTSTRAP, ",".join(sorted(blocked)),
                           str(probe), "harness", "harness.tools.repro", "yaml", "jinja2",
                           "tests"], cwd=tmp_path, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stdout + done.stderr


def test_a_bfloat16_finding_goes_from_a_run_to_an_upstream_ready_script(tmp_path):
    if FRAMEWORK not in FRAMEWORKS:
        pytest.skip(f"{FRAMEWORK} is not among CONVGRAD_FRAMEWORKS")
    # 1. the run shows the finding and the commands that take it further
    ran = convgrad("run", str(CASES), "-k", f"{CASE} and dx", "--impl", IMPL, "--no-known",
                   "--out", str(tmp_path / "run"), cwd=tmp_path)
    record = json.loads((tmp_path / "run" / "results.json").read_text())
    (verdict,) = [v for v in record["verdicts"] if v["grad"] == "dx"]
    platform = record["impls"][0].get("platform") or {}
    if verdict["status"] != "fail":
        pytest.skip(f"{IMPL} dx is {verdict['status']} here, not the bfloat16 finding: "
                    f"{verdict['message'][:200]} (platform {platform})")
    assert platform.get("onednn_bfloat16") == "off"    # torch's own kernel: the finding's path
    assert ran.returncode == 1, ran.stdout + ran.stderr
    assert f"FAIL {CASE} [{IMPL}] dx" in ran.stdout and "standalone script: convgrad repro" \
        in ran.stdout

    # 2. shrink it, and write the script of the smallest case that fails the same way
    small, script = tmp_path / "small.yaml", tmp_path / "report" / "repro.py"
    shrunk = convgrad("shrink", str(CASES), "-k", CASE, "--impl", IMPL, "--grad", "dx",
                      "-o", str(small), "--script", str(script), "--time", "120", cwd=tmp_path)
    assert shrunk.returncode == 0, shrunk.stdout + shrunk.stderr
    assert f"{IMPL} dx fail (rounding)" in shrunk.stdout
    assert "confirmed: its standalone script reproduces it in a fresh process" in shrunk.stdout
    (case,) = load_cases([small])
    assert case.dtype == "bfloat16" and list(case.grads) == ["dx"]
    text = script.read_text()
    assert len(text.splitlines()) < 80                 # upstream-ready: short
    assert "diagnosis" not in text and "import harness" not in text
    imports = {a.name.partition(".")[0] for n in ast.walk(ast.parse(text))
               if isinstance(n, ast.Import) for a in n.names}
    imports |= {n.module.partition(".")[0] for n in ast.walk(ast.parse(text))
                if isinstance(n, ast.ImportFrom)}
    assert imports <= {"os", "platform", "sys", "zlib", "base64", "numpy", FRAMEWORK}

    # 3. the maintainer's machine: NumPy and the framework, nothing of convgrad
    done = only_numpy_and(blocked_modules(FRAMEWORK), script, cwd=script.parent)
    out = done.stdout
    assert done.returncode == 1, out + done.stderr    # the discrepancy reproduces
    assert "REPRODUCED: elements outside the bound" in out
    assert "ULP of bfloat16" in out and "convgrad recorded: cpu " in out
    rows = {m.group(1).strip(): (float(m.group(2)), int(m.group(3))) for m in re.finditer(
        r"^  (\S.*?|  rounded to bfloat16)\s+\S+\s+([+-]\d+\.\d\d)\s+(\d+)\s+\S+$", out, re.M)}
    # the rows: the framework's bfloat16, the exact value rounded, the witness and it rounded
    got_ulps, outside = rows[f"{FRAMEWORK} bfloat16"]
    assert outside >= 1                                 # elements outside the bound, counted
    assert abs(rows["exact rounded to bfloat16"][0]) <= 0.5   # what correct rounding costs
    assert rows["rounded to bfloat16"][1] == 0         # the witness: float32, rounded once
    assert abs(got_ulps) > abs(rows["exact rounded to bfloat16"][0])   # the finding's ULPs
