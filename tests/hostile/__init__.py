"""The hostile-input corpus of tests/test_hostile.py: case files (cases/), run records
(records/), hostile plug-ins (impls.py), and the throw-away distribution that installs
them through the ``convgrad.impls`` entry-point group."""
from __future__ import annotations

from pathlib import Path


def install_plugins(root: Path, extra: tuple[str, ...] = ()) -> Path:
    """A distribution under ``root`` registering planted.correct and every hostile impl
    (plus the ``extra`` entry-point lines); put ``root`` on PYTHONPATH to install it."""
    from tests.hostile.impls import impl_classes

    points = ["planted = tests.planted:Planted"] + [
        f"{c.__name__.lower()} = tests.hostile.impls:{c.__name__}" for c in impl_classes()]
    dist = root / "convgrad_hostile-1.0.dist-info"
    dist.mkdir(parents=True)
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: convgrad-hostile\n"
                                   "Version: 1.0\n")
    (dist / "entry_points.txt").write_text("\n".join(["[convgrad.impls]", *points, *extra])
                                           + "\n")
    return root
