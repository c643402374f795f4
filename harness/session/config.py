"""What every front end (``convgrad run``, the repro tools, the pytest plugin) builds a run
from, in one place: the error for a bad option, the known-discrepancy and limitation
files, the backend, and the defaults they share. Below the front ends and the tools, so
that none of them imports another."""
from __future__ import annotations

import argparse
import functools
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Optional, Sequence

from harness.backend import variants
from harness.backend.adapters import ImplError, UnknownImpl, all_impls
from harness.backend.port import ImplModuleError, all_module_impls
from harness.case import suites as bundled
from harness.case.loader import load_cases
from harness.numerics import threads
from harness.session import runner, selection
from harness.verdict import known as known_mod
from harness.verdict import limitations as limitations_mod

DEFAULT_TIMEOUT_S = 300.0    # per case and impl: a worker past it is killed


class UsageError(Exception):
    """A bad option or input file: one line on stderr, exit status 2, no traceback."""


def load_known(path: str | None, explicit: bool) -> list:
    """The entries of a known-discrepancies file (none for ``None``); a file named on the
    command line must exist, the shipped default may be missing (a trimmed install)."""
    if path is None:
        return []
    if not Path(path).exists():
        if explicit:
            raise UsageError(f"{path}: no such known-discrepancies file")
        return []
    return known_mod.load_known(path)


def load_limitations(extra: Sequence[str] | None) -> list:
    """The shipped documented limitations, then those of each ``--limitations`` file."""
    entries = list(limitations_mod.default())
    for path in extra or ():
        if not Path(path).exists():
            raise UsageError(f"{path}: no such limitations file")
        entries += limitations_mod.load_limitations(path)
    return entries


def make_backend(*, in_process: bool = False, jobs: int = 1,
                 timeout: float = DEFAULT_TIMEOUT_S, max_memory_mib: Optional[int] = None,
                 impls: Sequence = (), in_process_flag: str = "--in-process"):
    """Where the impls compute: worker processes (crash, hang and memory isolation), or this
    process (``in_process``), which cannot take settings read at a framework's import."""
    if in_process:
        needs_env = [i.name for i in impls if variants.environment(i)]
        if needs_env:
            raise UsageError(f"{', '.join(needs_env)}: settings read at framework import need "
                             f"worker processes; drop {in_process_flag}")
        return runner.InProcess()
    from harness.backend.worker import WorkerPool   # subprocess machinery: only when used
    return WorkerPool(jobs=jobs, timeout=timeout,
                      max_rss=max_memory_mib << 20 if max_memory_mib else None)


@dataclass(frozen=True)
class RunOptions:
    """One run's configuration, as every front end reads it: which impls (``--impl``,
    ``--impl-module``, ``--platforms``, ``--device``, ``--tf32``), which cases (paths,
    ``--suite``, ``-k``, ``--shard``), which known discrepancies and limitations, and where
    the impls compute (``--in-process``, ``--jobs``, ``--timeout``, ``--max-memory``,
    ``--repeat``). ``convgrad run``, the tools and the pytest plugin each build one and
    ask it for the rest, so a rule (an impl module's impls run by default, a name
    registered twice is refused) holds for all of them. ``flag_prefix`` spells the options
    in messages as the front end does (the plugin's are ``--convgrad-...``)."""

    impls: tuple[str, ...] = ()              # --impl specs; empty: the default impls
    impl_modules: tuple[str, ...] = ()
    platforms: Optional[str] = None
    device: str = "cpu"
    tf32: Optional[str] = None
    paths: tuple[str, ...] = ()
    suites: tuple[str, ...] = ()
    k: Optional[str] = None
    shard: Optional[str] = None
    known: Optional[str] = known_mod.DEFAULT_FILE     # None: no known discrepancies
    limitations: tuple[str, ...] = ()
    in_process: bool = False
    jobs: int = 1
    timeout: float = DEFAULT_TIMEOUT_S
    max_memory_mib: Optional[int] = None
    repeat: int = 1
    flag_prefix: str = ""

    @classmethod
    def from_args(cls, args: argparse.Namespace, **overrides) -> "RunOptions":
        """The options of a parsed command line; those a command does not have keep their
        defaults."""
        def get(name, default=None):
            value = getattr(args, name, default)
            return default if value is None else value

        impls = get("impl", ())
        fields = dict(
            impls=tuple([impls] if isinstance(impls, str) else impls),
            impl_modules=tuple(get("impl_module", ())), platforms=get("platforms"),
            device=get("device", "cpu"), tf32=get("tf32"), paths=tuple(get("paths", ())),
            suites=tuple(get("suite", ())), k=get("k"), shard=get("shard"),
            known=getattr(args, "known", known_mod.DEFAULT_FILE),
            limitations=tuple(get("limitations", ())), in_process=get("in_process", False),
            jobs=get("jobs", 1), timeout=get("timeout", DEFAULT_TIMEOUT_S),
            max_memory_mib=get("max_memory"), repeat=get("repeat", 1))
        return cls(**{**fields, **overrides})

    def flag(self, name: str) -> str:
        return f"--{self.flag_prefix}{name}"

    # ------------------------------------------------------------------ impls
    @functools.cached_property
    def module_impls(self) -> list:
        """The impls of the ``--impl-module`` files and modules, in the order named; each
        module's import is bounded by ``--timeout``."""
        try:
            return all_module_impls(self.impl_modules, self.timeout)
        except ImplModuleError as exc:
            raise UsageError(str(exc).replace("--impl-module", self.flag("impl-module"))) \
                from None

    @functools.cached_property
    def registry(self) -> list:
        """Every impl this run may name: the built-ins, plug-ins, then the module impls."""
        try:
            registry = all_impls() + self.module_impls
        except ImplError as exc:
            raise UsageError(str(exc)) from None
        names = [i.name for i in registry]
        twice = sorted({n for n in names if names.count(n) > 1})
        if twice:
            raise UsageError(f"impl names registered twice: {', '.join(twice)}")
        return registry

    @functools.cached_property
    def resolved_impls(self) -> list:
        """The impls to judge: those ``--impl`` names (globs, variants; without it, an impl
        module's impls, else every default impl), with ``--device`` / ``--tf32`` applied,
        once per ``--platforms`` path."""
        run_wide = {k: v for k, v in (("device", self.device), ("tf32", self.tf32))
                    if v and not (k == "device" and v == "cpu")}
        specs = variants.split_specs(list(self.impls)) or \
            ([i.name for i in self.module_impls] or None)
        try:
            paths = variants.parse_paths(self.platforms)
            return variants.resolve(specs, self.registry, run_wide=run_wide, paths=paths)
        except (UnknownImpl, variants.VariantError, ImplError) as exc:
            raise UsageError(str(exc)) from None

    def one_impl(self):
        """The one impl a tool (repro, shrink) works with."""
        impls = self.resolved_impls
        if len(impls) != 1:
            raise UsageError(f"{self.flag('impl')} {','.join(self.impls)!r} names {len(impls)} "
                             f"impls ({', '.join(i.name for i in impls)}); name exactly one")
        return impls[0]

    # ------------------------------------------------------------------ judging
    def known_entries(self, default_path: str = known_mod.DEFAULT_FILE) -> list:
        """The known discrepancies (none for ``known=None``); a file other than the shipped
        one must exist."""
        return load_known(self.known, self.known != default_path)

    def limitation_entries(self) -> list:
        return load_limitations(self.limitations)

    def backend(self, impls: Sequence = ()):
        return make_backend(in_process=self.in_process, jobs=self.jobs, timeout=self.timeout,
                            max_memory_mib=self.max_memory_mib, impls=impls,
                            in_process_flag=self.flag("in-process"))

    def record_options(self) -> dict:
        """How the run computed, as its record states it."""
        return {"isolation": "in-process" if self.in_process else "workers",
                "jobs": 1 if self.in_process else self.jobs,
                "threads_per_worker": None if self.in_process else
                max(1, (os.cpu_count() or 1) // self.jobs), "timeout_s": self.timeout,
                "repeat": self.repeat, "device": self.device, "tf32": self.tf32 or "default",
                # the oracle's threads beside the workers (harness.numerics.threads; 0:
                # BLAS's own, CONVGRAD_ORACLE_THREADS=0)
                "oracle_threads": threads.recorded(1, threads.cores()) if self.in_process
                else threads.recorded(self.jobs, max(1, (os.cpu_count() or 1) // self.jobs))}

    # ------------------------------------------------------------------ cases
    def case_paths(self) -> list[str]:
        """The paths to judge: the files and folders named, plus each ``--suite``; with
        neither, every bundled suite."""
        paths = list(self.paths)
        for name in self.suites or (() if paths else bundled.names()):
            try:
                paths.append(str(bundled.path(name)))
            except KeyError as exc:
                raise UsageError(exc.args[0]) from None
        return paths

    def select_cases(self, impls: Sequence = ()) -> tuple:
        """The cases of :meth:`case_paths` kept by ``--shard`` and ``-k``, and the test names
        ``-k`` chose in each (``None``: all). ``-k`` matches the verdicts of ``impls`` and
        the claims by their keywords (test name, file, folders, markers), as ``pytest -k``
        does."""
        cases = load_cases(self.case_paths())
        if self.shard:
            try:
                k, n = selection.parse_shard(self.shard)
            except ValueError as exc:
                raise UsageError(str(exc)) from None
            cases = selection.shard(cases, k, n)
        try:
            chosen = selection.choose_tests(cases, impls, self.k)
        except selection.ExpressionError as exc:
            raise UsageError(str(exc)) from None
        if chosen is not None:
            cases = [c for c in cases if c.id in chosen]
        return cases, chosen
