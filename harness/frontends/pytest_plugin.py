"""The ``pytest11`` plugin: ``pytest cases/`` runs convgrad cases as test items.

This module registers options, markers and hooks, and imports nothing heavier
than pytest: it is loaded by every pytest run in an environment where convgrad
is installed. The work (case files, items, the shared run, the record) lives
in :mod:`harness.frontends.pytest_items`. Usage and the collection rule: ``docs/pytest.md``.
"""
from __future__ import annotations

import glob
import json
import os
from pathlib import Path

import pytest

from harness.safeio import outputs, printable
from harness.safeio.argtypes import positive_float
from harness.frontends.pytest_shared import MARKERS, STATE
from harness.session.config import DEFAULT_TIMEOUT_S

YAML_SUFFIXES = (".yaml", ".yml")


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("convgrad", "convgrad: convolution gradient cases (docs/pytest.md)")
    group.addoption("--convgrad", action="store_true",
                    help="collect every YAML case file pytest reaches (by default only "
                         "those under paths named on the command line, outside testpaths)")
    group.addoption("--convgrad-impl", action="append", dest="convgrad_impl", metavar="NAMES",
                    help="impls to judge, as for 'convgrad run': names, globs, variants "
                         "(e.g. 'tf.*,jax.vjp', 'tf.tape[onednn=off]'); default all")
    group.addoption("--convgrad-out", metavar="DIR",
                    help="write DIR/results.json and DIR/index.html after the session")
    group.addoption("--convgrad-known", metavar="FILE",
                    help="known-discrepancies file (default: the one convgrad ships); "
                         "matching verdicts are strict xfails")
    group.addoption("--convgrad-limitations", action="append", metavar="FILE",
                    help="also treat the refusals documented in FILE as unsupported (skips); "
                         "any other framework exception is an error")
    group.addoption("--convgrad-in-process", action="store_true",
                    help="compute in the pytest process, no worker processes (faster, "
                         "no crash isolation)")
    group.addoption("--convgrad-timeout", type=positive_float, default=DEFAULT_TIMEOUT_S,
                    metavar="SECONDS", help="per case and impl in a worker (default: 300)")
    group.addoption("--convgrad-impl-module", action="append", default=[],
                    metavar="MODULE[:ATTR]", help="also register the impls of MODULE.ATTR "
                    "(default ATTR: IMPLS): an impl, an impl class, or a list of either")
    parser.addini("convgrad_paths", type="paths", default=[],
                  help="directories whose YAML case files are always collected")


class Scope:
    """Which YAML files convgrad considers (docs/pytest.md, "What is collected")."""

    def __init__(self, config: pytest.Config):
        self.everywhere = config.getoption("convgrad")
        self.always = [Path(os.path.abspath(p)) for p in config.getini("convgrad_paths")]
        root = config.rootpath
        self.testpaths = [Path(os.path.abspath(p)) for t in config.getini("testpaths")
                          for p in glob.glob(str(root / t), recursive=True)]
        named = config.args if config.args_source == pytest.Config.ArgsSource.ARGS else []
        here = config.invocation_params.dir
        self.named = [Path(os.path.abspath(here / a.split("::")[0])) for a in named]

    def covers(self, path: Path) -> bool:
        if self.everywhere or any(_within(path, p) for p in self.always) or path in self.named:
            return True
        if any(_within(path, t) for t in self.testpaths):
            return False
        return any(_within(path, p) for p in self.named)

    @property
    def active(self) -> bool:
        """Whether this run may collect cases at all (for the report header)."""
        return bool(self.everywhere or self.always or any(
            p.suffix in YAML_SUFFIXES or (p.is_dir() and not any(
                _within(p, t) for t in self.testpaths)) for p in self.named))


def _within(path: Path, folder: Path) -> bool:
    return path == folder or folder in path.parents


SCOPE = pytest.StashKey[Scope]()


def run_state(config: pytest.Config):
    # pytest loads this plugin in every project where convgrad is installed: the harness
    # itself is imported only once a run asks for convgrad's items.
    from harness.frontends.pytest_items import run_state as state

    return state(config)


def pytest_configure(config: pytest.Config) -> None:
    for name, text in MARKERS.items():
        config.addinivalue_line("markers", f"{name}: convgrad: {text}")
    if not config.pluginmanager.hasplugin("xdist"):
        config.addinivalue_line("markers", "xdist_group(name): convgrad: items of one case")
    config.stash[SCOPE] = scope = Scope(config)
    check_places(config)
    explicit = (config.getoption("convgrad_impl") or config.getoption("convgrad_known")
                or config.getoption("convgrad_impl_module")
                or config.getoption("convgrad_limitations"))
    if scope.active and explicit:
        run_state(config).prepare_or_usage_error()


def check_places(config: pytest.Config) -> None:
    """The places the options name, checked before any test runs (a usage error, exit 4):
    ``--convgrad-out`` must be a directory convgrad can write into (created if missing, as
    ``convgrad run --out``), not a file, where the record would silently not be written;
    ``--convgrad-known`` and ``--convgrad-limitations`` files must exist."""
    here = config.invocation_params.dir
    out = config.getoption("convgrad_out")
    if out is not None and not config.option.collectonly:
        try:
            outputs.check_dir(here / out, "--convgrad-out")
        except outputs.OutputError as exc:
            raise pytest.UsageError(str(exc)) from None
    for option, given in (("known", [config.getoption("convgrad_known")]),
                          ("limitations", config.getoption("convgrad_limitations") or [])):
        for name in given:
            if name is not None and not (here / name).exists():
                raise pytest.UsageError(printable.line(
                    f"--convgrad-{option} {name}: no such file"))


def pytest_collect_file(file_path: Path, parent: pytest.Collector):
    if file_path.suffix in YAML_SUFFIXES and parent.config.stash[SCOPE].covers(file_path):
        # the items module loads the harness (NumPy, the loader): only for a YAML file in
        # scope, never in a pytest run that has no convgrad cases
        from harness.frontends.pytest_items import CaseFile, looks_like_case_file

        if looks_like_case_file(file_path):
            return CaseFile.from_parent(parent, path=file_path)
    return None


def pytest_report_header(config: pytest.Config) -> list[str]:
    if not config.stash[SCOPE].active:
        return []
    return run_state(config).header_lines()


@pytest.hookimpl(tryfirst=True)
def pytest_collection_finish(session: pytest.Session) -> None:
    if STATE in session.config.stash:
        session.config.stash[STATE].note_items(session.items)


def pytest_report_collectionfinish(config: pytest.Config, items) -> list[str]:
    """Impl versions from the probe, once collection says which impls will run."""
    if STATE not in config.stash or config.option.collectonly or hasattr(config, "workerinput"):
        return []
    return config.stash[STATE].probe_lines()


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    config = session.config
    if (STATE not in config.stash or not config.getoption("convgrad_out")
            or config.option.collectonly):
        return
    state = config.stash[STATE]
    interrupted = exitstatus == pytest.ExitCode.INTERRUPTED
    if hasattr(config, "workerinput"):      # an xdist worker: the controller writes
        if state.results:
            config.workeroutput["convgrad_record"] = json.dumps(state.record(interrupted))
    elif config.pluginmanager.hasplugin("dsession"):   # the xdist controller
        state.write_outputs(state.worker_records, interrupted)
    else:
        state.write_outputs([("pytest", state.record(interrupted))] if state.results else [],
                            interrupted)
    if state.write_failed and session.exitstatus in (pytest.ExitCode.OK,
                                                     pytest.ExitCode.NO_TESTS_COLLECTED):
        # the record the run promised is not there: not a green run (the terminal summary
        # says why); a run that failed already keeps its status
        session.exitstatus = pytest.ExitCode.USAGE_ERROR


@pytest.hookimpl(optionalhook=True)
def pytest_testnodedown(node, error) -> None:
    """xdist controller: keep each worker's record for the merged one."""
    record = getattr(node, "workeroutput", {}).get("convgrad_record")
    if record:
        run_state(node.config).worker_records.append((node.gateway.id, json.loads(record)))


def pytest_terminal_summary(terminalreporter, config: pytest.Config) -> None:
    if STATE in config.stash and config.stash[STATE].written:
        terminalreporter.write_line("convgrad: " + config.stash[STATE].written)


def pytest_unconfigure(config: pytest.Config) -> None:
    if STATE in config.stash:
        config.stash[STATE].close()
