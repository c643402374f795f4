"""convgrad cases as pytest items: the work behind :mod:`harness.frontends.pytest_plugin`.

A case file is a :class:`CaseFile`; it yields one :class:`VerdictItem` per case,
impl and grad, and one :class:`ClaimItem` per source claim. Items of a case
share one run of it (:meth:`RunState.result`): the first item to run judges
the case for every impl that has a selected item, the rest look their verdict
up. Verdicts become outcomes here; nothing in the runner knows about pytest.
"""
from __future__ import annotations

import dataclasses
import os
import re
import shlex
from collections import defaultdict
from datetime import datetime, timezone
from pathlib import Path
from typing import Iterator, Optional

from importlib.metadata import packages_distributions, version

import pytest

from harness.record import merge
from harness.record import run_record as record_mod
from harness.record.run_record import NUMERICS_VARIABLES
from harness.render import report
from harness.safeio import outputs
from harness.verdict import known as known_mod
from harness.session import runner, selection
from harness.verdict import testids
from harness.case.model import Case, Claim
from harness.case.loader import CaseError, LoadErrors, load_cases
from harness.session.config import RunOptions, UsageError
from harness.frontends.pytest_shared import MARKERS, STATE
from harness.verdict.status import Status
from harness.render.terminal import repro_command, script_command
from harness.safeio.yaml_source import SourceError, load as load_yaml

# A line that starts a case or a matrix: how a file that does not parse still says
# it is meant as a case file.
CASE_KEY_LINE = re.compile(r"^[ -]*(op|matrix)\s*:", re.MULTILINE)


def looks_like_case_file(path: Path) -> bool:
    """A mapping with ``op:`` or ``matrix:``, alone or in a top-level list; if the file
    does not parse (or is too large to), a line in its first 64 KiB that starts with one
    of those keys. Only regular files are opened."""
    try:
        document = load_yaml(path)
    except SourceError:
        try:
            if not path.is_file():
                return False
            with open(path, "rb") as f:
                head = f.read(1 << 16)
        except OSError:
            return False
        return bool(CASE_KEY_LINE.search(head.decode("utf-8", "replace")))
    entries = document if isinstance(document, list) else [document]
    return any(isinstance(e, dict) and ("op" in e or "matrix" in e) for e in entries)


class OptionError(Exception):
    """A convgrad option pytest was given is unusable; the message says which and why."""


class VerdictFailed(Exception):
    """A failing verdict or wrong claim; ``str`` is the whole report (no traceback)."""


def _shown(path: Path) -> str:
    """``path`` as the user would type it here: relative when below the current directory."""
    try:
        return str(Path(path).relative_to(Path.cwd()))
    except ValueError:
        return str(path)


class RunState:
    """One pytest process's convgrad run: options, impls, probe, judged cases, record."""

    def __init__(self, config: pytest.Config):
        self.config, self.here = config, config.invocation_params.dir
        self.started = datetime.now(timezone.utc)
        self._options: Optional[RunOptions] = None
        self._impls: Optional[list] = None
        self._known: Optional[list] = None
        self.known_path: Optional[str] = None
        self._backend = None
        self._session: Optional[runner.Session] = None
        self.infos: dict[str, runner.ImplInfo] = {}
        self.results: dict[tuple[str, str], runner.CaseResult] = {}
        self.needed: Optional[dict[tuple[str, str], set]] = None
        self.case_ids: dict[str, str] = {}
        self.markers = set(MARKERS)
        self.worker_records: list[tuple[str, dict]] = []
        self.written = ""
        self.write_failed = False      # the record and report could not be written

    # -------------------------------------------------------------- options
    def options(self) -> RunOptions:
        """The run's :class:`harness.session.config.RunOptions`, read from pytest's options
        (files relative to the directory pytest was started in)."""
        if self._options is None:
            get = self.config.getoption
            given = get("convgrad_known")
            path = (self.here / given) if given else Path(known_mod.DEFAULT_FILE)
            self.known_path = _shown(path) if path.exists() else None
            self._options = RunOptions(
                impls=tuple(get("convgrad_impl") or ()),
                impl_modules=tuple(get("convgrad_impl_module") or ()),
                known=str(path), limitations=tuple(str(self.here / p) for p in
                                                   get("convgrad_limitations") or ()),
                in_process=bool(get("convgrad_in_process")), jobs=1,
                timeout=get("convgrad_timeout"), flag_prefix="convgrad-")
        return self._options

    def prepare(self) -> None:
        """Resolve impls and load known discrepancies; :class:`OptionError` if unusable."""
        self.impls(), self.known_entries(), self.session()

    def prepare_or_usage_error(self) -> None:
        try:
            self.prepare()
        except OptionError as exc:
            raise pytest.UsageError(str(exc)) from None

    def impls(self) -> list:
        if self._impls is None:
            try:
                self.options().registry     # its own errors name --convgrad-impl-module
            except UsageError as exc:
                raise OptionError(str(exc)) from None
            try:
                self._impls = self.options().resolved_impls
            except UsageError as exc:
                raise OptionError(f"--convgrad-impl: {exc}") from None
        return self._impls

    def known_entries(self) -> list:
        if self._known is None:
            try:
                self._known = self.options().known_entries(default_path=known_mod.DEFAULT_FILE)
            except (UsageError, SourceError) as exc:
                raise OptionError(f"--convgrad-known: {exc}") from None
        return self._known

    def known_entry(self, case: Case, grad: str, impl=None,
                    claim: Optional[str] = None) -> Optional[known_mod.KnownDiscrepancy]:
        """The entry the runner will apply (a version range needs the impl's probed version)."""
        for e in self.known_entries():
            if impl is None:
                if e.matches(case.id, grad, claim=claim):
                    return e
            elif dataclasses.replace(e, when={}).matches(case.id, grad, impl=impl.name):
                # a version range and the facts of a path need the impl's probe
                info = self.infos_for({impl.name})[0]
                if e.matches(case.id, grad, impl=impl.name, version=info.version,
                             facts=runner.verdict_facts(case, info, grad)):
                    return e
        return None

    # -------------------------------------------------------------- running
    def session(self) -> runner.Session:
        """The run's :class:`harness.session.runner.Session` (the one ``convgrad run`` uses)."""
        if self._session is None:
            try:
                entries = self.options().limitation_entries()
            except (UsageError, SourceError) as exc:
                raise OptionError(f"--convgrad-limitations: {exc}") from None
            self._session = runner.Session(known=self.known_entries(), backend=self.backend(),
                                           limitations=entries)
        return self._session

    def backend(self):
        if self._backend is None:
            try:
                self._backend = self.options().backend(self.impls())
            except UsageError as exc:
                raise OptionError(str(exc)) from None
        return self._backend

    def infos_for(self, names: set) -> list[runner.ImplInfo]:
        """Availability and version of the named impls, each probed once per process."""
        todo = [i for i in self.impls() if i.name in names and i.name not in self.infos]
        for info in self.session().probe(todo):
            self.infos[info.impl.name] = info
        return [self.infos[i.name] for i in self.impls() if i.name in names]

    def note_items(self, items) -> None:
        """Which impls each case must run: those with a selected item."""
        self.needed = defaultdict(set)
        for item in items:
            if isinstance(item, VerdictItem):
                self.needed[item.key].add(item.impl.name)

    def result(self, case: Case) -> runner.CaseResult:
        """The case judged for every needed impl, computed by the first item that asks."""
        key = (case.file, case.id)
        if key not in self.results:
            names = (self.needed.get(key, set()) if self.needed is not None
                     else {i.name for i in self.impls()})
            self.results[key] = next(self.session().judge_iter([case], self.infos_for(names)))
        return self.results[key]

    def register_ids(self, cases: list[Case]) -> list[str]:
        """Errors for ids already defined in another file (the loader checks one file)."""
        errors = []
        for case in cases:
            where = f"{case.file}:{case.line}"
            first = self.case_ids.setdefault(case.id, where)
            if first != where:
                errors.append(str(CaseError(case.file, case.line, case.id, "id",
                                            f"duplicate id, first defined at {first}")))
        return errors

    def close(self) -> None:
        if self._session is not None:
            self._session.close()
        elif self._backend is not None:
            self._backend.close()

    # -------------------------------------------------------------- reporting
    def header_lines(self) -> list[str]:
        try:
            impls, known = self.impls(), self.known_entries()
        except OptionError as exc:
            return [f"convgrad: {exc}"]
        dists = packages_distributions()
        installed = [f"{d} {version(d)}" for f in sorted({i.framework for i in impls})
                     for d in sorted(set(dists.get(f, [])))]
        flags = {k: os.environ[k] for k in NUMERICS_VARIABLES if k in os.environ}
        return [f"convgrad {version('convgrad')}: impls {', '.join(i.name for i in impls)}",
                f"convgrad frameworks installed: {', '.join(installed) or 'none'}",
                "convgrad known discrepancies: " + (f"{self.known_path} ({len(known)} "
                                                    f"entr{'y' if len(known) == 1 else 'ies'})"
                                                    if self.known_path else "none"),
                f"convgrad numerics environment: {flags or 'defaults'}"]

    def probe_lines(self) -> list[str]:
        names = set().union(*self.needed.values()) if self.needed else set()
        if not names:
            return []
        return ["convgrad probe: " + ", ".join(
            f"{i.impl.name} {i.version}" if i.available else f"{i.impl.name} unavailable "
            f"({i.version})" for i in self.infos_for(names))]

    def record(self, interrupted: bool = False) -> dict:
        options = self.options().record_options()
        order = {impl.name: n for n, impl in enumerate(self._impls or [])}
        infos = sorted(self.infos.values(), key=lambda i: order.get(i.impl.name, 0))
        return record_mod.build(list(self.results.values()), infos,
                                ["pytest", *self.config.invocation_params.args], self.started,
                                incomplete=interrupted, options=options)

    def write_outputs(self, records: list[tuple[str, dict]], interrupted: bool) -> None:
        """``results.json`` and ``index.html`` as one set (:mod:`harness.safeio.outputs`), or
        ``results.incomplete.json`` if interrupted."""
        out = self.here / self.config.getoption("convgrad_out")
        records = sorted(records) if records else [("pytest", self.record(interrupted))]
        record = records[0][1] if len(records) == 1 else merge_records(records)
        record.setdefault("run_id", record_mod.new_run_id(self.started))
        try:
            with outputs.OutputSet(out) as place:
                if interrupted:
                    path = place.write_incomplete(record_mod.dumps(record))
                    self.written = f"interrupted: record {path}"
                    return
                place.write({outputs.RECORD: record_mod.dumps(record),
                             **report.output_files(record)}, record["run_id"])
        except outputs.OutputError as exc:
            self.written, self.write_failed = f"error: {exc}", True
            return
        self.written = f"record {out / outputs.RECORD}, report {out / outputs.REPORT}"


def merge_records(records: list[tuple[str, dict]]) -> dict:
    """xdist workers' records as one; a case two workers both judged is kept once."""
    seen, parts = set(), []
    for name, rec in records:
        fresh = {c["id"] for c in rec["cases"]} - seen
        seen |= fresh
        parts.append((f"xdist worker {name}", {
            **rec, "cases": [c for c in rec["cases"] if c["id"] in fresh],
            "verdicts": [v for v in rec["verdicts"] if v["case"] in fresh],
            "claims": [c for c in rec["claims"] if c["case"] in fresh]}))
    return merge.merge(parts)


# ------------------------------------------------------------------ collection

class CaseFile(pytest.File):
    """A YAML case file; a problem in it is a collection error of loader lines."""

    def collect(self) -> Iterator[pytest.Item]:
        state = run_state(self.config)
        try:
            state.prepare()
            cases = load_cases([_shown(self.path)])
        except OptionError as exc:
            raise self.CollectError(str(exc)) from None
        except LoadErrors as exc:
            raise self.CollectError("\n".join(str(e) for e in exc.errors)) from None
        duplicates = state.register_ids(cases)
        if duplicates:
            raise self.CollectError("\n".join(duplicates))
        for case in cases:
            yield from self._verdict_items(state, case)
            yield from self._claim_items(state, case)

    def _verdict_items(self, state: RunState, case: Case) -> Iterator[pytest.Item]:
        for impl in state.impls():
            for grad in case.grads:
                item = VerdictItem.from_parent(
                    self, name=testids.verdict_name(case.id, impl.name, grad), case=case,
                    impl=impl, grad=grad)
                _mark(item, state, case, selection.markers(case, grad, impl),
                      state.known_entry(case, grad, impl=impl))
                yield item

    def _claim_items(self, state: RunState, case: Case) -> Iterator[pytest.Item]:
        position = 0
        for i, claim in enumerate(case.claims):
            for grad in claim.values:
                item = ClaimItem.from_parent(self, name=testids.claim_name(case.id, i, grad),
                                             case=case, claim=claim, grad=grad,
                                             position=position)
                _mark(item, state, case, selection.markers(case, grad, None),
                      state.known_entry(case, grad, claim=claim.source))
                position += 1
                yield item


def _mark(item: pytest.Item, state: RunState, case: Case, names: list[str],
          entry: Optional[known_mod.KnownDiscrepancy]) -> None:
    for name in names:
        if name not in state.markers:   # an impl plug-in's framework
            state.config.addinivalue_line("markers", f"{name}: convgrad: {name}")
            state.markers.add(name)
        item.add_marker(name)
    item.add_marker(pytest.mark.xdist_group(case.id))
    if entry:
        if entry.intermittent:    # shows in some runs only: an XPASS is no news
            item.add_marker(pytest.mark.xfail(strict=False, reason=(
                f"known intermittent discrepancy ({state.known_path}:{entry.line}): "
                f"{entry.reason}")))
            return
        item.add_marker(pytest.mark.xfail(strict=True, reason=(
            f"known discrepancy ({state.known_path}:{entry.line}): {entry.reason} -- "
            "an XPASS means it no longer happens: remove or narrow that entry")))


# ------------------------------------------------------------------ items

class CaseItem(pytest.Item):
    def __init__(self, *, case: Case, grad: str, **kwargs):
        super().__init__(**kwargs)
        self.case, self.grad = case, grad

    @property
    def key(self) -> tuple[str, str]:
        return self.case.file, self.case.id

    def repr_failure(self, excinfo, style=None):
        if isinstance(excinfo.value, VerdictFailed):
            return str(excinfo.value)
        return super().repr_failure(excinfo, style)

    def reportinfo(self):
        return self.path, max(self.case.line - 1, 0), self.name


def _report(title: str, message: str, reproduce: str, script: str = "") -> str:
    lines = [message.strip(), f"reproduce: {reproduce}"]
    if script:
        lines.append(f"standalone script: {script}")
    return f"{title}:\n  " + "\n".join(lines).replace("\n", "\n  ")


class VerdictItem(CaseItem):
    """One impl's verdict on one grad of one case."""

    def __init__(self, *, impl, **kwargs):
        super().__init__(**kwargs)
        self.impl = impl

    def runtest(self) -> None:
        result = run_state(self.config).result(self.case)
        v = next((v for v in result.verdicts
                  if v.impl == self.impl.name and v.grad == self.grad), None)
        if v is None:
            raise RuntimeError(f"{self.impl.name} was not run on {self.case.id}")
        if v.status in (Status.UNSUPPORTED, Status.SKIPPED):
            why = f" ({v.limitation['id']})" if v.limitation else ""
            raise pytest.skip.Exception(f"{v.status}{why}: {v.message}",
                                        _use_item_location=True)
        if v.status != Status.PASS:
            status = ("FAIL (a known discrepancy)" if v.status == Status.KNOWN
                      else v.status.upper())
            notes = "".join(f"\nnote: {n}" for n in v.notes)
            state = run_state(self.config)
            options = {"known": state.known_path or known_mod.DEFAULT_FILE,
                       "limitations": self.config.getoption("convgrad_limitations") or [],
                       "in_process": self.config.getoption("convgrad_in_process")}
            raise VerdictFailed(_report(f"{status} {v.case} [{v.impl}] {v.grad}",
                                        v.message + notes,
                                        repro_command(v.to_dict(), self.case.file, options),
                                        script_command(v.to_dict(), self.case.file, options,
                                                       self.case.kind)))


class ClaimItem(CaseItem):
    """One grad a source claims for a case, judged against the oracle."""

    def __init__(self, *, claim: Claim, position: int, **kwargs):
        super().__init__(**kwargs)
        self.claim, self.position = claim, position

    def runtest(self) -> None:
        c = run_state(self.config).result(self.case).claims[self.position]
        if c.status != Status.HOLDS:
            status = ("WRONG CLAIM (a known discrepancy)" if c.status == Status.KNOWN
                      else "WRONG CLAIM")
            raise VerdictFailed(_report(f"{status} {c.case} {c.grad} ({c.source})", c.message,
                                        shlex.join(["convgrad", "run", self.case.file,
                                                    "-k", c.case])))


def run_state(config: pytest.Config) -> "RunState":
    """The one :class:`RunState` of a pytest run."""
    if STATE not in config.stash:
        config.stash[STATE] = RunState(config)
    return config.stash[STATE]
