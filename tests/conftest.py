"""Shared test configuration: which frameworks this run must have, and the report header.

The frameworks under test are chosen in one place, ``CONVGRAD_FRAMEWORKS``
(default: all three). A chosen framework that is missing fails loudly with the
fix; tests of frameworks not chosen (a per-framework tox env) are skipped.
"""
from __future__ import annotations

import os

import pytest

from harness.backend import platforms
from harness.backend.adapters import all_impls, is_installed
from harness.record.run_record import NUMERICS_VARIABLES

ALL_FRAMEWORKS = ("tensorflow", "torch", "jax")
FRAMEWORKS = tuple(f for f in os.environ.get("CONVGRAD_FRAMEWORKS", ",".join(ALL_FRAMEWORKS))
                   .split(",") if f)


def chosen_impl_names() -> list[str]:
    """Built-in impls whose framework this run tests."""
    return [i.name for i in all_impls() if i.framework in FRAMEWORKS]


def pytest_report_header(config):
    from importlib.metadata import PackageNotFoundError, version

    def v(dist):
        try:
            return version(dist)
        except PackageNotFoundError:
            return "not installed"
    lines = [f"convgrad frameworks under test: {', '.join(FRAMEWORKS)} (CONVGRAD_FRAMEWORKS)",
             "versions: " + ", ".join(f"{d} {v(d)}" for d in
                                      ("numpy", "tensorflow-cpu", "torch", "jax", "jaxlib"))]
    flags = {k: os.environ[k] for k in NUMERICS_VARIABLES if k in os.environ}
    lines.append(f"numerics environment: {flags or 'defaults'}")
    cpu = platforms.cpu_facts()
    lines.append(f"cpu: {cpu['class']}" + (f" capped at {cpu['effective_class']}"
                                            if cpu["onednn_isa_cap"] else "")
                 + f" ({' '.join(cpu['flags'])}); convgrad platform --probe tells the paths")
    return lines


def pytest_collection_finish(session):
    """Tests that need a framework carry the ``frameworks`` marker (the fast layer is
    ``pytest -m 'not frameworks'``); only a run that selects one needs them installed."""
    session.config.stash[NEEDS_FRAMEWORKS] = any(i.get_closest_marker("frameworks")
                                                 for i in session.items)


NEEDS_FRAMEWORKS = pytest.StashKey[bool]()


def pytest_collection_modifyitems(config, items):
    """Tests marked ``fuzz`` (a minute of ``convgrad fuzz``) run only when ``-m`` names the
    marker: the default suite stays fast and deterministic."""
    if "fuzz" in (config.getoption("markexpr") or ""):
        return
    skip = pytest.mark.skip(reason="a fuzz run: select it with pytest -m fuzz")
    for item in items:
        if item.get_closest_marker("fuzz"):
            item.add_marker(skip)


@pytest.fixture(scope="session", autouse=True)
def _chosen_frameworks_are_installed(request):
    if not request.config.stash.get(NEEDS_FRAMEWORKS, True):
        return
    missing = [f for f in FRAMEWORKS if not is_installed(f)]
    if missing:
        pytest.exit(f"CONVGRAD_FRAMEWORKS names {missing}, which are not installed: run "
                    f"pip install -c constraints.txt -e '.[all,test]' (or set "
                    f"CONVGRAD_FRAMEWORKS to what you have)", returncode=3)
