"""``convgrad repro``, ``convgrad shrink`` and ``convgrad fuzz``: their parsers and handlers.

Registered by :func:`add_parsers` from :mod:`harness.frontends.cli`; problems a user can
fix raise :class:`harness.session.config.UsageError` (exit 2, one line, no traceback).
"""
from __future__ import annotations

import argparse
import os
import shlex
from pathlib import Path
from typing import Sequence

from harness.safeio import outputs, printable
from harness.safeio.argtypes import bounded_int, repeat, seconds, seed
from harness.case import ops
from harness.case.loader import MAX_ID_CHARS, load_cases
from harness.render.terminal import script_name
from harness.session import selection
from harness.session.config import DEFAULT_TIMEOUT_S, RunOptions, UsageError
from harness.tools.repro import fuzz as fuzz_mod, script, shrink as shrink_mod
from harness.tools.repro import target as target_mod
from harness.tools.repro.confirm import confirmer
from harness.tools.repro.templates import NoTemplate, check_op, template, templates
from harness.verdict import known as known_mod


MAX_JOBS = 256            # --jobs of the tools (the fuzzer draws 2 x jobs cases at a time)
MAX_CASES = 10 ** 9       # fuzz --max-cases


def _usage(message: str):
    return UsageError(message)


def _is_record(paths: Sequence[str]) -> bool:
    return len(paths) == 1 and Path(paths[0]).suffix == ".json"


def _options(args) -> RunOptions:
    """The tool's run options, read as ``convgrad run`` reads them. Its worker processes are
    sized as the run sizes them (``--jobs``, default the cores: one thread pool per worker
    of cores / jobs threads), so a verdict that depends on the thread count is judged as
    the run judged it. Paths name case files, not cases to select."""
    return RunOptions.from_args(args, paths=())


def _command(argv: Sequence[str]) -> str:
    return shlex.join(argv)


# ------------------------------------------------------------------ repro

def _check_template(impl_name: str, flag: str = "--impl") -> None:
    """A usage error now, before anything is judged or written, when no script template
    writes the calls of ``impl_name`` (a plug-in impl)."""
    base = target_mod.split_impl(impl_name)[0]
    try:
        template(base)
    except NoTemplate as exc:
        raise _usage(f"{flag}: {exc}") from None


def cmd_repro(args: argparse.Namespace, argv: Sequence[str]) -> int:
    command = _command(argv)
    if args.output:   # checked before the case is judged (minutes, for a large case)
        outputs.check_file(args.output, "-o")
    options = _options(args)
    impl = options.one_impl()
    _check_template(impl.name)
    try:
        if _is_record(args.paths):
            t = target_mod.from_record(args.paths[0], args.case, impl, args.grad,
                                       command=command)
        else:
            t, _ = target_mod.from_case_file(args.paths, args.case, impl, args.grad,
                                             repeat=args.repeat, backend=options.backend([impl]),
                                             limitations=options.limitation_entries(),
                                             command=command)
    except target_mod.ReproError as exc:
        raise _usage(str(exc)) from None
    out = args.output or script_name({"case": t.case.id, "impl": t.impl, "grad": t.grad})
    try:
        script.write(t, out, "-o")
    except NoTemplate as exc:
        raise _usage(str(exc)) from None
    kind = f" ({t.kind})" if t.kind else ""
    print(printable.line(f"{t.case.id} [{t.impl}] {t.grad}: {t.status}{kind}"))
    print(printable.line(f"wrote {out}: python3 {shlex.quote(out)} exits 1 if the discrepancy "
                         "reproduces, 0 if not (needs only NumPy and the framework)"))
    return 0


# ------------------------------------------------------------------ shrink

def cmd_shrink(args: argparse.Namespace, argv: Sequence[str]) -> int:
    outputs.check_file(args.output, "-o")   # the places first: a shrink takes minutes
    if args.script:
        outputs.check_file(args.script, "--script")
    cases = selection.matching(load_cases(args.paths), args.k)
    exact = [c for c in cases if c.id == args.k]
    cases = exact or cases
    if len(cases) != 1:
        ids = ", ".join(c.id for c in cases[:8]) + (" ..." if len(cases) > 8 else "")
        raise _usage(f"shrink takes one case; {len(cases)} match"
                     + (f" -k {args.k!r}" if args.k else "") + (f": {ids}" if ids else "")
                     + " (narrow it with -k ID)")
    options = _options(args)
    impl = options.one_impl()
    if args.script:   # --script needs a template: known now, not after the shrink
        _check_template(impl.name, "--script")
        try:
            check_op(cases[0])
        except NoTemplate as exc:
            raise _usage(f"--script: {exc}") from None
    backend = options.backend([impl])

    def confirm(result, verdict):   # the worker's thread settings, known once it started
        env = target_mod.worker_threads(getattr(backend, "envs", {}).get(impl.name, {}))
        return confirmer(args.repeat, env)(result, verdict)
    suffix = "-shrunk"
    new_id = cases[0].id[:MAX_ID_CHARS - len(suffix)] + suffix
    try:
        outcome = shrink_mod.shrink(cases[0], impl, args.grad, backend=backend,
                                    time_budget=args.time, repeat=args.repeat,
                                    limitations=options.limitation_entries(),
                                    log=lambda text: print(printable.line(text), flush=True),
                                    new_id=new_id,
                                    confirm=confirm if impl.name.split("[")[0] in templates()
                                    else None)
    except shrink_mod.ShrinkError as exc:
        raise _usage(str(exc)) from None
    try:
        shrink_mod.write_outcome(outcome, args.output, args.script, command=_command(argv))
    except NoTemplate as exc:
        raise _usage(f"--script: {exc}") from None
    print(printable.line(f"wrote {args.output}" + (f" and {args.script}" if args.script
                                                    else "")))
    return 0


# ------------------------------------------------------------------ fuzz

def cmd_fuzz(args: argparse.Namespace, argv: Sequence[str]) -> int:
    run_options = _options(args)
    impls = run_options.resolved_impls
    backend = run_options.backend(impls)
    known = run_options.known_entries() if args.known else []
    options = fuzz_mod.Options(
        seconds=args.time, seed=args.seed, out=Path(args.out),
        dtypes=tuple(d for spec in (args.dtype or []) for d in spec.split(",") if d) or None,
        ops=tuple(o for spec in (args.op or []) for o in spec.split(",") if o) or None,
        shrink_seconds=args.shrink_time, max_cases=args.max_cases, repeat=args.repeat,
        jobs=args.jobs, command=_command(argv),
        cases_paths=tuple(args.cases or (["cases/"] if Path("cases").is_dir() else [])))
    try:
        report = fuzz_mod.fuzz(impls, options, backend=backend, known=known,
                               limitations=run_options.limitation_entries())
    except fuzz_mod.FuzzError as exc:
        raise _usage(str(exc)) from None
    return 1 if report.findings else 0


# ------------------------------------------------------------------ parsers

def _judging(p: argparse.ArgumentParser, jobs: bool = True) -> None:
    if jobs:
        p.add_argument("--jobs", type=bounded_int(1, MAX_JOBS, "a worker count"),
                       default=min(os.cpu_count() or 1, MAX_JOBS), metavar="N",
                       help="worker processes, as for convgrad run: each gets cores / N "
                            "threads (default: the cores)")
    p.add_argument("--repeat", type=repeat, default=1, metavar="N",
                   help="evaluate N times (a nondeterministic verdict needs N >= 2)")
    p.add_argument("--timeout", type=seconds, default=DEFAULT_TIMEOUT_S, metavar="SECONDS",
                   help="per case and impl, as for convgrad run (default: 300)")
    p.add_argument("--in-process", action="store_true",
                   help="compute in this process, no worker (no crash isolation)")
    p.add_argument("--limitations", action="append", metavar="FILE",
                   help="more documented limitations, as for convgrad run")
    p.add_argument("--impl-module", action="append", metavar="FILE.py|MODULE[:ATTR]",
                   help="the impls of a Python file or module, as for convgrad run (your "
                        "port's impls: --impl names one of them)")


def add_parsers(sub) -> None:
    rep = sub.add_parser("repro", help="write a standalone script (NumPy and the framework "
                         "only) that reproduces one verdict")
    rep.add_argument("paths", nargs="+", metavar="RECORD|CASEFILE",
                     help="a run record (results.json) holding the verdict, or case files or "
                          "directories (the case is judged first)")
    rep.add_argument("--case", required=True, metavar="ID", help="the case id (exact)")
    rep.add_argument("--impl", required=True, metavar="NAME",
                     help="one impl, with its variant, e.g. 'tf.backprop[onednn=off]'")
    rep.add_argument("--grad", choices=ops.ALL_GRADS,
                     help="which grad, first order or forward mode / second order (default: "
                          "the first that did not pass, else the first)")
    rep.add_argument("-o", "--output", metavar="FILE.py",
                     help="where the script goes (default: repro-<case>-<impl>-<grad>.py)")
    _judging(rep)
    rep.set_defaults(func=cmd_repro)

    shr = sub.add_parser("shrink", help="reduce a failing case while it keeps failing the "
                         "same way")
    shr.add_argument("paths", nargs="+", metavar="CASEFILE", help="case files or directories")
    shr.add_argument("-k", metavar="ID", help="the case (an exact id, or a pattern matching "
                     "one case)")
    shr.add_argument("--impl", required=True, metavar="NAME", help="one impl (variant included)")
    shr.add_argument("--grad", choices=ops.ALL_GRADS,
                     help="which grad (default: the first that did not pass)")
    shr.add_argument("-o", "--output", required=True, metavar="FILE.yaml",
                     help="the shrunk case")
    shr.add_argument("--script", metavar="FILE.py",
                     help="also write the standalone script of the shrunk case")
    shr.add_argument("--time", type=seconds, default=120.0, metavar="SECONDS",
                     help="time budget (default: 120); the smallest case so far is kept")
    _judging(shr)
    shr.set_defaults(func=cmd_shrink)

    fz = sub.add_parser("fuzz", help="judge random cases, shrink and report every new "
                        "discrepancy")
    fz.add_argument("--time", type=seconds, default=DEFAULT_TIMEOUT_S, metavar="SECONDS",
                    help="time budget of the whole run, shrinking included (default: 300)")
    fz.add_argument("--seed", type=seed, default=0, metavar="N",
                    help="the random seed, 0 to 2**63 - 1: the same seed generates the same "
                         "cases (default: 0)")
    fz.add_argument("--impl", action="append", metavar="NAMES",
                    help="impls (names, globs, variants) as for convgrad run (default: all)")
    fz.add_argument("--platforms", default="native", metavar="native|all|LIST",
                    help="the numerics paths each impl is fuzzed on, as convgrad run "
                         "--platforms: native (default), all (every lesser CPU class this machine "
                         "can take too), or a list such as native,cpu=avx2")
    fz.add_argument("--dtype", action="append", metavar="DTYPES",
                    help="comma-separated dtypes to generate (default: all four)")
    fz.add_argument("--op", action="append", metavar="OPS",
                    help="comma-separated case generators (default: all; see docs/repro.md)")
    fz.add_argument("--out", default="fuzz-out", metavar="DIR",
                    help="where findings go (default: fuzz-out/)")
    fz.add_argument("--shrink-time", type=seconds, default=60.0, metavar="SECONDS",
                    help="time budget of each shrink (default: 60)")
    fz.add_argument("--max-cases", type=bounded_int(1, MAX_CASES, "a case count"), default=None,
                    metavar="N",
                    help="stop after N generated cases (an exactly reproducible run)")
    fz.add_argument("--known", default=known_mod.DEFAULT_FILE, metavar="FILE",
                    help="skip discrepancies with the signature of a documented one "
                         f"(default: {known_mod.DEFAULT_FILE} if present)")
    fz.add_argument("--no-known", dest="known", action="store_const", const=None,
                    help="report documented discrepancies too")
    fz.add_argument("--cases", action="append", default=None, metavar="PATH",
                    help="where the cases of known discrepancies are (default: cases/)")
    _judging(fz)
    fz.set_defaults(func=cmd_fuzz)

