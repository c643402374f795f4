"""What a wheel carries: every package and data file of harness/, and the bundled suites.

pyproject.toml lists the packages by hand (the suites install from cases/ as
harness.suites), so a new subpackage is easy to forget: a wheel without
``harness.tools.repro`` installed fine and then failed on every command, since the CLI
imports it to build its parser.
"""
from __future__ import annotations

import fnmatch
import re
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SETUPTOOLS = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]


def _matches(path: str, pattern: str) -> bool:
    """setuptools' package-data glob: ``*`` stays within one directory level."""
    return re.match(fnmatch.translate(pattern).replace(".*", "[^/]*"), path) is not None


def _source_packages() -> set[str]:
    return {".".join(init.parent.relative_to(ROOT).parts)
            for init in (ROOT / "harness").rglob("__init__.py")
            if "__pycache__" not in init.parts}


def test_every_package_under_harness_is_in_the_wheel():
    missing = _source_packages() - set(SETUPTOOLS["packages"])
    assert not missing, f"pyproject.toml [tool.setuptools] packages lacks {sorted(missing)}"


def test_every_data_file_under_harness_is_package_data():
    globs = SETUPTOOLS["package-data"]
    packages = sorted(_source_packages(), key=len, reverse=True)
    unshipped = []
    for path in (ROOT / "harness").rglob("*"):
        if path.is_dir() or path.suffix in (".py", ".pyc") or "__pycache__" in path.parts:
            continue
        relative = path.relative_to(ROOT)
        package = next(p for p in packages if relative.parts[:len(p.split("."))] ==
                       tuple(p.split(".")))
        inside = "/".join(relative.parts[len(package.split(".")):])
        if not any(_matches(inside, g) for g in globs.get(package, [])):
            unshipped.append(str(relative))
    assert not unshipped, f"not package data, so not in the wheel: {unshipped}"


def test_every_bundled_suite_file_is_package_data():
    globs = SETUPTOOLS["package-data"]["harness.suites"]
    assert SETUPTOOLS["package-dir"]["harness.suites"] == "cases"
    files = [p.relative_to(ROOT / "cases").as_posix() for p in (ROOT / "cases").rglob("*")
             if p.is_file() and p.suffix in (".yaml", ".yml")]
    assert files
    unshipped = [f for f in files if not any(_matches(f, g) for g in globs)]
    assert not unshipped, f"case files the wheel would not carry: {unshipped}"
