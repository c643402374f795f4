"""The case suites convgrad ships (``cases/`` in the repository, ``harness.suites`` when
installed), addressable by name: ``convgrad run --suite article``."""
from __future__ import annotations

from importlib import resources
from pathlib import Path

DESCRIPTIONS = {
    "article": "the blog article's four examples (example 3 printed the wrong tensor)",
    "conformance": "the conformance matrices: every padding, stride, dilation, layout, dtype "
                   "and op",
    "peers": "published test vectors of other projects (ONNX, ONNX Runtime, TensorFlow/XLA)",
    "degenerate": "empty outputs, a batch of 0, zero channels",
    "edges": "subnormal and overflowing results, long half-precision sums",
    "regressions": "framework bugs found here, as cases",
    "upstream": "upstream conv-gradient bug reports that run on a CPU",
    "gpu": "channel-heavy cases where TF32 shows (skipped without a GPU)",
    "second-order": "forward mode (jvp) and double backward (ddy, ddx, ddw) of every op",
}


def root() -> Path:
    """Where the suites are: the package data when installed, else ./cases of a checkout."""
    return Path(str(resources.files("harness.suites")))


def names() -> list[str]:
    here = root()
    return sorted(p.name for p in here.iterdir() if p.is_dir() and not p.name.startswith(
        ("_", ".")) and any(p.glob("*.y*ml")))


def path(name: str) -> Path:
    """The folder of suite ``name``; ``KeyError`` with the names there are."""
    if name not in names():
        raise KeyError(f"no suite {name!r}; the suites: {', '.join(names())}")
    return root() / name
