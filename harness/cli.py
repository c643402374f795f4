"""``convgrad``: the command line.

Exit status: 0 all verdicts pass (or are unsupported / skipped / known) and
no source claim is wrong; 1 a verdict failed or errored, or a claim is wrong;
2 bad input or usage. Bad input never prints a traceback.
"""
from __future__ import annotations

import argparse
import fnmatch
import sys
import time
from datetime import datetime, timezone
from pathlib import Path
from typing import Sequence

from harness import known as known_mod
from harness import record as record_mod
from harness.adapters import UnknownImpl, all_impls, select
from harness.loader import LoadErrors, load_cases
from harness.summary import print_summary
from harness.yaml_source import SourceError

EXIT_OK, EXIT_FAILED, EXIT_USAGE = 0, 1, 2


class UsageError(Exception):
    pass


def _split(values: Sequence[str] | None) -> list[str] | None:
    if not values:
        return None
    return [n.strip() for v in values for n in v.split(",") if n.strip()]


def filter_cases(cases: list, pattern: str | None) -> list:
    """``-k``: a glob (``*``, ``?``, ``[``) on the id, else a substring of it."""
    if not pattern:
        return cases
    if any(ch in pattern for ch in "*?["):
        return [c for c in cases if fnmatch.fnmatchcase(c.id, pattern)]
    return [c for c in cases if pattern in c.id]


class Progress:
    """``[i/n] case`` on a terminal; on a pipe a line every 10 % once past two seconds."""

    def __init__(self, total: int, stream=sys.stderr):
        self.total, self.stream, self.start = total, stream, time.monotonic()
        self.tty = stream.isatty()
        self.next_line = 0.0

    def __call__(self, i: int, case) -> None:
        elapsed = time.monotonic() - self.start
        if self.tty and elapsed > 0.5:
            text = f"[{i + 1}/{self.total}] {case.id}"[:100]
            self.stream.write(f"\r\033[K{text}")
            self.stream.flush()
        elif not self.tty and elapsed > 2.0 and i / max(self.total, 1) >= self.next_line:
            self.stream.write(f"[{i + 1}/{self.total}] {elapsed:.0f}s {case.id}\n")
            self.next_line = i / max(self.total, 1) + 0.1

    def done(self) -> None:
        if self.tty:
            self.stream.write("\r\033[K")


def _load_known(path: str | None, explicit: bool) -> list:
    if path is None:
        return []
    if not Path(path).exists():
        if explicit:
            raise UsageError(f"{path}: no such known-discrepancies file")
        return []
    return known_mod.load_known(path)


def cmd_run(args: argparse.Namespace, argv: Sequence[str]) -> int:
    from harness import runner  # imports NumPy-side modules only; frameworks load lazily

    started = datetime.now(timezone.utc)
    cases = filter_cases(load_cases(args.paths), args.k)
    if not cases:
        raise UsageError(f"no case matches -k {args.k!r}" if args.k else
                         f"no cases found in {' '.join(args.paths)}")
    known = _load_known(args.known, args.known != known_mod.DEFAULT_FILE)
    impls = runner.probe(select(_split(args.impl)))
    progress = Progress(len(cases))
    results = runner.run(cases, impls, known, progress=progress)
    progress.done()
    record = record_mod.build(results, impls, argv, started)
    out = Path(args.out)
    record_mod.write(record, out / "results.json")
    print_summary(record, sys.stdout, color=sys.stdout.isatty())
    print(f"record: {out / 'results.json'}")
    bad = record["summary"]["verdicts"]
    return EXIT_FAILED if bad["fail"] or bad["error"] or record["summary"]["claims"]["wrong"] \
        else EXIT_OK


def cmd_list(args: argparse.Namespace, argv: Sequence[str]) -> int:
    from harness.runner import probe

    cases = filter_cases(load_cases(args.paths), args.k) if args.paths else []
    for case in cases:
        pads = "VALID" if case.padding == "VALID" else case.pads
        print(f"{case.id}  {case.op} {case.dtype} {case.data_format} padding={case.padding_name}"
              f" pads={pads} strides={list(case.strides)} grads={','.join(case.grads)}")
    if cases:
        print(f"{len(cases)} cases\n")
    impls = select(_split(args.impl)) if args.impl else all_impls()
    for info in probe(impls):
        state = f"available  {info.version}" if info.available else f"unavailable  {info.version}"
        print(f"{info.impl.name:16} {info.impl.framework:11} {state}")
    return EXIT_OK


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="convgrad", description=(
        "Cross-validate convolution gradients (y, dx, dw) of TensorFlow, PyTorch and JAX "
        "against a float64 NumPy oracle."))
    sub = p.add_subparsers(dest="command", required=True)
    run = sub.add_parser("run", help="judge cases with impls; write the run record")
    run.add_argument("paths", nargs="*", default=["cases/"], help="case files or directories "
                     "(default: cases/)")
    run.add_argument("--impl", action="append", metavar="NAMES",
                     help="comma-separated impl names or globs, e.g. 'tf.*,jax.vjp' "
                          "(default: all)")
    run.add_argument("-k", metavar="PATTERN", help="only cases whose id contains PATTERN "
                     "(or matches it as a glob)")
    run.add_argument("--out", default="reports", metavar="DIR",
                     help="where results.json goes (default: reports/)")
    run.add_argument("--known", default=known_mod.DEFAULT_FILE, metavar="FILE",
                     help=f"known-discrepancies file (default: {known_mod.DEFAULT_FILE} "
                          "if present)")
    run.add_argument("--no-known", dest="known", action="store_const", const=None,
                     help="ignore known discrepancies: show them as fail")
    run.set_defaults(func=cmd_run)
    lst = sub.add_parser("list", help="list cases and impls (with availability and versions)")
    lst.add_argument("paths", nargs="*", help="case files or directories")
    lst.add_argument("--impl", action="append", metavar="NAMES")
    lst.add_argument("-k", metavar="PATTERN")
    lst.set_defaults(func=cmd_list)
    return p


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    args = parser().parse_args(argv)
    try:
        return args.func(args, ["convgrad", *argv])
    except LoadErrors as exc:
        for error in exc.errors:
            print(f"error: {error}", file=sys.stderr)
    except (SourceError, UsageError, UnknownImpl, record_mod.RecordError) as exc:
        print(f"error: {exc}", file=sys.stderr)
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    return EXIT_USAGE


if __name__ == "__main__":
    sys.exit(main())
