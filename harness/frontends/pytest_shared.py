"""What the pytest plugin and its items share, below both: the marks convgrad gives its
items (``-m dtype_bfloat16``: declared by the plugin, set by the items) and the stash key
of the run's state (made by the items, looked at by the plugin's hooks)."""
from __future__ import annotations

import pytest

from harness.backend import frameworks

STATE = pytest.StashKey["object"]()   # a harness.frontends.pytest_items.RunState, made on first use

MARKERS = {
    **{f"op_{op}": f"a {op} case" for op in ("conv1d", "conv2d", "conv3d")},
    **{f"padding_{p}": f"a case with {p.upper()} padding"
       for p in ("valid", "same", "same_lower", "explicit")},
    **{f"dtype_{d}": f"a {d} case" for d in ("float64", "float32", "float16", "bfloat16")},
    **{f"grad_{g}": f"the {g} verdict of a case" for g in ("y", "dx", "dw")},
    **{f"impl_{f}": f"a verdict of a {f} impl" for f in frameworks.modules()},
    "claim": "a value a source claims (the case's claims: list)",
}
