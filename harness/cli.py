"""``convgrad``: the command line.

Exit status: 0 all verdicts pass (or are unsupported / skipped / known) and
no source claim is wrong; 1 a verdict failed or errored, or a claim is wrong;
2 bad input or usage. Bad input never prints a traceback.
"""
from __future__ import annotations

import argparse
import os
import signal
import sys
import time
from datetime import datetime, timezone
from pathlib import Path
from typing import Sequence

from harness import known as known_mod
from harness import record as record_mod
from harness import selection
from harness.argtypes import positive_float, positive_int
from harness.adapters import UnknownImpl, all_impls, select
from harness.loader import LoadErrors, load_cases
from harness.summary import print_summary
from harness.variants import VariantError
from harness.yaml_source import SourceError

EXIT_OK, EXIT_FAILED, EXIT_USAGE, EXIT_INTERRUPTED = 0, 1, 2, 130


class UsageError(Exception):
    pass


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


def load_limitations(extra: Sequence[str] | None) -> list:
    """The shipped documented limitations, then those of each ``--limitations`` file."""
    from harness import limitations

    entries = list(limitations.default())
    for path in extra or ():
        if not Path(path).is_file():
            raise UsageError(f"{path}: no such limitations file")
        entries += limitations.load_limitations(path)
    return entries


def select_cases(args: argparse.Namespace) -> list:
    """The cases of ``paths``, kept by ``-k`` and ``--shard``."""
    cases = selection.matching(load_cases(args.paths), args.k)
    if getattr(args, "shard", None):
        try:
            k, n = selection.parse_shard(args.shard)
        except ValueError as exc:
            raise UsageError(str(exc)) from None
        cases = selection.shard(cases, k, n)
    return cases


def resolve_impls(args: argparse.Namespace) -> list:
    """The impls of ``--impl`` (globs and variants) with ``--device`` / ``--tf32`` applied."""
    from harness import variants

    run_wide = {k: v for k, v in (("device", args.device), ("tf32", args.tf32))
                if v and not (k == "device" and v == "cpu")}
    return variants.resolve(args.impl, run_wide=run_wide)


def _backend(args: argparse.Namespace, impls: list):
    from harness import runner, variants
    from harness.worker import WorkerPool

    if args.in_process:
        needs_env = [i.name for i in impls if variants.environment(i)]
        if needs_env:
            raise UsageError(f"{', '.join(needs_env)}: settings read at framework import need "
                             "worker processes; drop --in-process")
        return runner.InProcess()
    max_rss = args.max_memory << 20 if args.max_memory else None
    return WorkerPool(jobs=args.jobs, timeout=args.timeout, max_rss=max_rss)


def _judge(session, cases) -> tuple[list, bool]:
    """Results in case order; on Ctrl-C (or SIGTERM) the ones judged so far, incomplete."""
    results, progress = [], Progress(len(cases))
    try:
        for i, result in enumerate(session.judge_iter(cases)):
            results.append(result)
            progress(i, result.case)
        return results, False
    except KeyboardInterrupt:
        return results, True
    finally:
        progress.done()


def _raise_interrupt(signum, frame):
    raise KeyboardInterrupt


def cmd_run(args: argparse.Namespace, argv: Sequence[str]) -> int:
    started = datetime.now(timezone.utc)
    cases = select_cases(args)
    if not cases:
        if args.shard:
            print(f"shard {args.shard} holds none of these cases", file=sys.stderr)
            return EXIT_OK
        raise UsageError(f"no case matches -k {args.k!r}" if args.k else
                         f"no cases found in {' '.join(args.paths)}")
    from harness.runner import Session

    known = _load_known(args.known, args.known != known_mod.DEFAULT_FILE)
    limitations = load_limitations(args.limitations)
    impls = resolve_impls(args)
    session = Session(known=known, backend=_backend(args, impls), repeat=args.repeat,
                      limitations=limitations)
    previous = signal.signal(signal.SIGTERM, _raise_interrupt)
    try:
        infos = session.probe(impls)
        results, incomplete = _judge(session, cases)
    finally:
        session.close()
        signal.signal(signal.SIGTERM, previous)
    options = {"isolation": "in-process" if args.in_process else "workers",
               "jobs": 1 if args.in_process else args.jobs,
               "threads_per_worker": None if args.in_process else
               max(1, (os.cpu_count() or 1) // args.jobs), "timeout_s": args.timeout,
               "repeat": args.repeat, "device": args.device, "tf32": args.tf32 or "default"}
    record = record_mod.build(results, infos, argv, started, incomplete=incomplete,
                              options=options)
    out = Path(args.out)
    if incomplete:
        record_mod.write(record, out / "results.incomplete.json")
        print(f"interrupted after {len(results)} of {len(cases)} cases: what was judged is in "
              f"{out / 'results.incomplete.json'}; {out / 'results.json'} and the report are "
              "untouched", file=sys.stderr)
        return EXIT_INTERRUPTED
    record_mod.write(record, out / "results.json")
    _write_outputs(record, out / "index.html", args.junit)
    print_summary(record, sys.stdout, color=sys.stdout.isatty())
    print(f"record: {out / 'results.json'}\nreport: {out / 'index.html'}")
    return EXIT_FAILED if failing(record) else EXIT_OK


def failing(record: dict) -> bool:
    """Whether a record has a verdict or claim whose status fails a run."""
    from harness.status import FAILING

    return any(e["status"] in FAILING for e in record["verdicts"] + record["claims"])


def _write_outputs(record: dict, html: Path, junit_path: str | None) -> None:
    """The HTML report and, if asked for, the JUnit XML of a record (each written atomically)."""
    from harness import junit, report

    record_mod.write_atomic(html, report.render(record))
    if junit_path:
        record_mod.write_atomic(junit_path, junit.to_string(record))


def cmd_report(args: argparse.Namespace, argv: Sequence[str]) -> int:
    from harness import report

    record = report.load(args.paths)
    _write_outputs(record, Path(args.output), args.junit)
    print(f"report: {args.output}" + (f"\njunit: {args.junit}" if args.junit else ""))
    return EXIT_OK


def cmd_merge(args: argparse.Namespace, argv: Sequence[str]) -> int:
    from harness import merge

    merged = merge.load(args.paths, allow_mismatch=args.allow_mismatch)
    record_mod.write(merged, args.output)
    counts = merged["summary"]["verdicts"]
    print(f"merged {len(args.paths)} records ({len(merged['cases'])} cases, "
          f"{sum(counts.values())} verdicts) into {args.output}")
    return EXIT_OK


def cmd_list(args: argparse.Namespace, argv: Sequence[str]) -> int:
    from harness.runner import probe

    cases = select_cases(args) if args.paths else []
    for case in cases:
        pads = "VALID" if case.padding == "VALID" else case.pads
        print(f"{case.id}  {case.op} {case.dtype} {case.data_format} padding={case.padding_name}"
              f" pads={pads} strides={list(case.strides)} grads={','.join(case.grads)}")
    if cases:
        print(f"{len(cases)} cases\n")
    from harness import variants

    impls = select(variants.split_specs(args.impl)) if args.impl else all_impls()
    for info in probe(impls):
        state = f"available  {info.version}" if info.available else f"unavailable  {info.version}"
        print(f"{info.impl.name:16} {info.impl.framework:11} {state}")
        print(f"{'':16} variants: {variants.describe(info.impl) or 'none'}")
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
                     help="where results.json and index.html go (default: reports/)")
    run.add_argument("--known", default=known_mod.DEFAULT_FILE, metavar="FILE",
                     help=f"known-discrepancies file (default: {known_mod.DEFAULT_FILE} "
                          "if present)")
    run.add_argument("--no-known", dest="known", action="store_const", const=None,
                     help="ignore known discrepancies: show them as fail")
    run.add_argument("--limitations", action="append", metavar="FILE",
                     help="also treat the refusals documented in FILE as 'unsupported' (the "
                          "format of harness/data/limitations.yaml); any other exception a "
                          "framework raises is an error")
    run.add_argument("--junit", metavar="FILE", help="also write JUnit XML to FILE")
    run.add_argument("--jobs", type=positive_int, default=os.cpu_count() or 1, metavar="N",
                     help="worker processes computing at once (default: the machine's cores)")
    run.add_argument("--timeout", type=positive_float, default=300.0, metavar="SECONDS",
                     help="per case and impl; a worker past it is killed and the verdict is "
                          "an error (default: 300)")
    run.add_argument("--max-memory", type=positive_int, default=None, metavar="MIB",
                     help="kill a worker whose resident memory exceeds this (default: none)")
    run.add_argument("--in-process", action="store_true",
                     help="compute in this process, no workers (no crash isolation)")
    run.add_argument("--repeat", type=positive_int, default=1, metavar="N",
                     help="evaluate each verdict N times; bitwise-different results are "
                          "'nondeterministic'")
    run.add_argument("--device", choices=("cpu", "cuda"), default="cpu",
                     help="where the frameworks compute (cuda: skipped without a GPU)")
    run.add_argument("--tf32", choices=("on", "off"), default=None,
                     help="allow TF32 for float32 on NVIDIA GPUs (default: each framework's)")
    run.add_argument("--shard", metavar="K/N", help="run only shard K of N (a stable split "
                     "by case id, for N CI machines; join the records with 'convgrad merge')")
    run.set_defaults(func=cmd_run)
    rep = sub.add_parser("report", help="render saved run records as one HTML report")
    rep.add_argument("paths", nargs="+", metavar="RECORD",
                     help="results.json files; several are merged (their case ids must differ)")
    rep.add_argument("-o", "--output", default="reports/index.html", metavar="FILE",
                     help="where the HTML goes (default: reports/index.html)")
    rep.add_argument("--junit", metavar="FILE", help="also write JUnit XML to FILE")
    rep.set_defaults(func=cmd_report)
    mrg = sub.add_parser("merge", help="join run records (e.g. of shards) into one")
    mrg.add_argument("paths", nargs="+", metavar="RECORD", help="results.json files")
    mrg.add_argument("-o", "--output", required=True, metavar="FILE", help="the merged record")
    mrg.add_argument("--allow-mismatch", action="store_true",
                     help="merge records from different environments (framework versions, "
                          "numerics flags, device) anyway")
    mrg.set_defaults(func=cmd_merge)
    lst = sub.add_parser("list", help="list cases and impls (with availability and versions)")
    lst.add_argument("paths", nargs="*", help="case files or directories")
    lst.add_argument("--impl", action="append", metavar="NAMES")
    lst.add_argument("-k", metavar="PATTERN")
    lst.set_defaults(func=cmd_list)
    from harness.repro.commands import add_parsers   # repro, shrink, fuzz
    add_parsers(sub)
    return p


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    args = parser().parse_args(argv)
    try:
        return args.func(args, ["convgrad", *argv])
    except LoadErrors as exc:
        for error in exc.errors:
            print(f"error: {error}", file=sys.stderr)
    except (SourceError, UsageError, UnknownImpl, VariantError, record_mod.RecordError) as exc:
        print(f"error: {exc}", file=sys.stderr)
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    return EXIT_USAGE


if __name__ == "__main__":
    sys.exit(main())
