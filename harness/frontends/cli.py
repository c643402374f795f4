"""``convgrad``: the command line.

Exit status: 0 all verdicts pass (or are unsupported / skipped / known) and
no source claim is wrong; 1 a verdict failed or errored, or a claim is wrong;
2 bad input or usage, or outputs that could not be written; 3 an internal error
(a bug in convgrad: one line naming the exception, ``CONVGRAD_DEBUG=1`` shows the
traceback). Bad input never prints a traceback, and nothing from a case file, a
record or a plug-in reaches the terminal unescaped
(:mod:`harness.safeio.printable`). A closed stdout (``convgrad list | head -1``)
ends the output, not the command: the exit status is what it would have been.
"""
from __future__ import annotations

import argparse
import dataclasses
import itertools
import json
import os
import shlex
import shutil
import signal
import sys
import time
import warnings
from datetime import datetime, timezone
from pathlib import Path
from typing import Sequence

from harness import __version__
from harness.backend import platforms, variants
from harness.case import suites as bundled
from harness.record import diff, merge
from harness.render import diff_views, github, junit as junit_mod, report
from harness.tools import cases_from
from harness.tools.repro.commands import add_parsers
from harness.verdict import known as known_mod
from harness.verdict.status import FAILING
from harness.safeio import outputs
from harness.safeio import printable
from harness.record import run_record as record_mod
from harness.session import selection
from harness.safeio.argtypes import bounded_int, positive_float, repeat, seconds
from harness.backend.adapters import ImplError, UnknownImpl, all_impls, is_installed, select
from harness.case.loader import LoadErrors, load_cases
from harness.session.config import DEFAULT_TIMEOUT_S, RunOptions, UsageError, make_backend
from harness.render.terminal import print_summary
from harness.session.runner import Session, probe
from harness.backend.variants import VariantError
from harness.safeio.yaml_source import SourceError

EXIT_OK, EXIT_FAILED, EXIT_USAGE, EXIT_INTERNAL, EXIT_INTERRUPTED = 0, 1, 2, 3, 130


class Progress:
    """``[i/n] rate, time left, case`` on a terminal (cut to its width); on a pipe a line
    every 10 % once past two seconds."""

    def __init__(self, total: int, stream=sys.stderr):
        self.total, self.stream, self.start = total, stream, time.monotonic()
        self.tty = stream.isatty()
        self.next_line = 0.0

    def status(self, done: int, elapsed: float) -> str:
        """``[done/total] 3.1 cases/s, 0:42 left``: the rate so far and the time to go."""
        rate = done / elapsed if elapsed > 0 else 0.0
        left = (self.total - done) / rate if rate > 0 else 0.0
        return (f"[{done}/{self.total}] {rate:.1f} cases/s, "
                f"{int(left // 60)}:{int(left % 60):02d} left")

    def __call__(self, i: int, case) -> None:
        elapsed = time.monotonic() - self.start
        if self.tty and elapsed > 0.5:
            width = shutil.get_terminal_size((100, 20)).columns - 1
            text = printable.line(f"{self.status(i + 1, elapsed)}  {case.id}")[:width]
            self._write(f"\r\033[K{text}")
        elif not self.tty and elapsed > 2.0 and i / max(self.total, 1) >= self.next_line:
            self._write(printable.line(f"{self.status(i + 1, elapsed)}, {elapsed:.0f}s "
                                       f"{case.id}") + "\n")
            self.next_line = i / max(self.total, 1) + 0.1

    def _write(self, text: str) -> None:
        """Progress is a courtesy: a closed or failing stream silences it, not the run."""
        if self.stream is None:
            return
        try:
            self.stream.write(text)
            self.stream.flush()
        except (OSError, ValueError):
            self.stream = None

    def done(self) -> None:
        if self.tty:
            self._write("\r\033[K")


def _judge(session, cases, infos, chosen) -> tuple[list, bool]:
    """Results in case order; on Ctrl-C (or SIGTERM) the ones judged so far, incomplete."""
    results, progress = [], Progress(len(cases))
    try:
        for i, result in enumerate(_judge_chosen(session, cases, infos, chosen)):
            results.append(result)
            progress(i, result.case)
        return results, False
    except KeyboardInterrupt:
        return results, True
    finally:
        progress.done()


def _judge_chosen(session, cases, infos, chosen):
    """Each case judged by the impls with a test ``-k`` chose in it, keeping only the
    chosen verdicts and claims (all of them without ``-k``)."""
    if chosen is None:
        yield from session.judge_iter(cases, infos)
        return
    impls = [i.impl for i in infos]
    # consecutive cases that need the same impls are judged together (workers stay busy)
    for needed, group in itertools.groupby(
            cases, key=lambda c: frozenset(selection.impls_chosen(c, impls, chosen))):
        for r in session.judge_iter(list(group), [i for i in infos if i.impl.name in needed]):
            keep = chosen[r.case.id]
            yield dataclasses.replace(r, verdicts=[v for v in r.verdicts if v.test in keep],
                                      claims=[c for c in r.claims if c.test in keep])


def print_platforms(infos, stream) -> None:
    """The run's first lines: the numerics path each framework's process probed (impls
    with the same path on one line)."""
    lines: dict[str, list[str]] = {}
    for info in infos:
        if info.available and (info.platform or {}).get("framework"):
            lines.setdefault(platforms.summary(info.platform), []).append(info.impl.name)
    for text, names in lines.items():
        say(f"platform: {', '.join(names)}: {text}", stream)


def _raise_interrupt(signum, frame):
    raise KeyboardInterrupt


def cmd_run(args: argparse.Namespace, argv: Sequence[str]) -> int:
    started = datetime.now(timezone.utc)
    options = RunOptions.from_args(args)
    impls = options.resolved_impls
    cases, chosen = options.select_cases(impls)
    if not cases:
        if args.shard:
            say(f"shard {args.shard} holds none of these cases", sys.stderr)
            return EXIT_OK
        raise UsageError(f"no verdict or claim matches -k {args.k!r}" if args.k else
                         f"no cases found in {' '.join(options.case_paths())}")
    if chosen is not None:   # only impls with a chosen verdict are probed (imported)
        needed = set().union(*(selection.impls_chosen(c, impls, chosen) for c in cases))
        impls = [i for i in impls if i.name in needed]
    use_jax_cache(None if args.no_jax_cache else args.jax_cache)
    known = options.known_entries()
    limitations = options.limitation_entries()
    backend = options.backend(impls)
    # The output place is checked and locked before anything is judged.
    with outputs.OutputSet(args.out, args.junit) as place:
        session = Session(known=known, backend=backend, repeat=options.repeat,
                          limitations=limitations)
        previous = signal.signal(signal.SIGTERM, _raise_interrupt)
        try:
            session.prefetch(cases[0])          # its oracle runs while the workers import
            infos = session.probe(impls)
            print_platforms(infos, sys.stderr)
            results, incomplete = _judge(session, cases, infos, chosen)
        finally:
            session.close()
            signal.signal(signal.SIGTERM, previous)
        return _deliver(args, argv, place, started, cases, results, infos, incomplete,
                        options.record_options())


def _deliver(args, argv, place: outputs.OutputSet, started, cases, results, infos,
             incomplete: bool, options: dict) -> int:
    """Write the run's outputs (as one set), then print its summary."""
    record = record_mod.build(results, infos, argv, started, incomplete=incomplete,
                              options=options)
    out = Path(args.out)
    if incomplete:
        path = place.write_incomplete(record_mod.dumps(record))
        say(f"interrupted after {len(results)} of {len(cases)} cases: what was judged is in "
            f"{path}; {out / outputs.RECORD} and the report are untouched", sys.stderr)
        return EXIT_INTERRUPTED
    failure = None
    try:
        place.write(rendered(record, args.junit is not None, results), record["run_id"])
    except outputs.OutputError as exc:
        failure = exc
    improbable = getattr(args, "strict_statistical", False) and record["summary"].get("improbable")
    status = EXIT_FAILED if failing(record) or improbable else EXIT_OK
    try:
        print_summary(record, sys.stdout, color=use_color(sys.stdout),
                      strict_statistical=bool(getattr(args, "strict_statistical", False)))
        if github.enabled(args.github):
            github.publish(record, sys.stdout)
        if failure is None:
            print(printable.line(f"record: {out / outputs.RECORD}") + "\n"
                  + printable.line(f"report: {out / outputs.REPORT}"))
        sys.stdout.flush()
    except BrokenPipeError:
        _silence_stdout()
    if failure is not None:
        raise failure
    return status


def rendered(record: dict, junit: bool, results=None) -> dict[str, str | bytes]:
    """The texts of a run's output set: record, report and (if asked for) JUnit XML."""
    texts = {outputs.RECORD: record_mod.dumps(record), **report.output_files(record)}
    if results is not None:
        texts[outputs.VALUES] = record_mod.values_npz(results, record)
    if junit:
        texts[outputs.JUNIT] = junit_mod.to_string(record)
    return texts


def failing(record: dict) -> bool:
    """Whether a record has a verdict or claim whose status fails a run."""
    return any(e["status"] in FAILING for e in record["verdicts"] + record["claims"])


def cmd_report(args: argparse.Namespace, argv: Sequence[str]) -> int:
    html = outputs.check_file(args.output, "-o")
    junit_path = outputs.check_file(args.junit, "--junit") if args.junit else None
    record = report.load(args.paths)
    folder = outputs.pages_dir(html)
    rendered = report.build(record, pages_dir=folder, index_name=html.name)
    try:
        outputs.write_report(html, rendered.index, rendered.pages, folder)
    except OSError as exc:
        raise outputs.OutputError(f"{html}: could not write: {exc.strerror or exc}") from None
    if junit_path:
        outputs.write_output(junit_path, junit_mod.to_string(record), "--junit")
    say(f"report: {args.output}" + (f"\njunit: {args.junit}" if args.junit else ""))
    return EXIT_OK


def cmd_merge(args: argparse.Namespace, argv: Sequence[str]) -> int:
    output = outputs.check_file(args.output, "-o")
    merged = merge.load(args.paths, allow_mismatch=args.allow_mismatch,
                        by_platform=args.by_platform)
    outputs.write_output(output, record_mod.dumps(merged), "-o")
    counts = merged["summary"]["verdicts"]
    say(f"merged {len(args.paths)} records ({len(merged['cases'])} cases, "
        f"{sum(counts.values())} verdicts) into {args.output}")
    return EXIT_OK


def cmd_list(args: argparse.Namespace, argv: Sequence[str]) -> int:
    if args.suites:
        for name in bundled.names():
            count = len(load_cases([str(bundled.path(name))]))
            say(f"{name:12} {count:5} cases  {bundled.DESCRIPTIONS.get(name, '')}")
        return EXIT_OK
    impls = select(variants.split_specs(args.impl)) if args.impl else all_impls()
    options = RunOptions.from_args(args)
    cases = options.select_cases(impls)[0] if (args.paths or args.suite) else []
    for case in cases:
        pads = "VALID" if case.padding == "VALID" else case.pads
        say(f"{case.id}  {case.op} {case.dtype} {case.data_format} padding={case.padding_name}"
            f" pads={pads} strides={list(case.strides)} grads={','.join(case.grads)}")
    if cases:
        say(f"{len(cases)} cases\n")
    for info in probe(impls):
        state = f"available  {info.version}" if info.available else f"unavailable  {info.version}"
        say(f"{info.impl.name:16} {info.impl.framework:11} {state}")
        say(f"{'':16} variants: {variants.describe(info.impl) or 'none'}")
    return EXIT_OK


def cmd_platform(args: argparse.Namespace, argv: Sequence[str]) -> int:
    """This machine's numerics platform: its CPU class, the lesser classes it can take, and
    (with --probe) each installed framework's path, probed in a worker process as a run
    does; ``--env CLASS`` prints the shell assignments that take that class's paths."""
    if args.env:
        try:
            env = platforms.emulation_environment(args.env)
        except platforms.EmulationError as exc:
            raise UsageError(str(exc)) from None
        for key, value in env.items():
            print(f"export {key}={shlex.quote(value)}")
        return EXIT_OK
    cpu = platforms.cpu_facts()
    out: dict = {"cpu": cpu, "can_emulate": platforms.emulations_here()}
    if args.probe:
        pool = make_backend(jobs=1, timeout=args.timeout)
        try:
            impls = [i for i in variants.resolve(None, paths=variants.parse_paths(args.platforms))
                     if is_installed(i.framework)]
            infos = pool.probe(impls)
        finally:
            pool.close()
        out["impls"] = {i.impl.name: i.platform for i in infos if i.available}
    if args.json:
        print(json.dumps(out, indent=1))
        return EXIT_OK
    say(f"cpu: {cpu['model']} ({cpu['vendor'] or 'unknown vendor'}"
        f"{', virtual' if cpu['hypervisor'] else ''})")
    say(f"class: {cpu['class']}" + (f", oneDNN capped at {cpu['effective_class']} "
                                    f"(ONEDNN_MAX_CPU_ISA={cpu['onednn_isa_cap']})"
                                    if cpu["onednn_isa_cap"] else ""))
    say(f"flags: {' '.join(cpu['flags']) or 'none of AVX and above'}")
    say(f"can take the paths of: {', '.join(out['can_emulate']) or 'no lesser class'} "
        "(cpu=CLASS, run --platforms all)")
    for name, platform in (out.get("impls") or {}).items():
        say(f"{name}: {platforms.summary(platform)}")
    return EXIT_OK


def cmd_diff(args: argparse.Namespace, argv: Sequence[str]) -> int:
    """Two records compared. A ``values.npz`` beside either that is not one of its record
    (refused by :mod:`harness.record.values_file`) costs its element-by-element comparison,
    with one warning line, not the diff (docs/record.md)."""
    for flag, path in (("--markdown", args.markdown), ("--html", args.html)):
        if path:   # checked before any work: a bad place is exit 2, not a lost diff
            outputs.check_file(path, flag)
    old, new = record_mod.read(args.old), record_mod.read(args.new)
    old_values, old_problem = record_mod.values_beside(args.old, old)
    new_values, new_problem = record_mod.values_beside(args.new, new)
    for problem in filter(None, (old_problem, new_problem)):
        say(f"warning: {printable.line(problem)}; compared without its values",
            stream=sys.stderr)
    result = diff.diff(old, new, factor=args.factor, old_name=args.old, new_name=args.new,
                       old_values=old_values, new_values=new_values)
    say(diff_views.text(result))
    if args.markdown:
        outputs.write_output(args.markdown, diff_views.markdown(result), "--markdown")
    if args.html:
        outputs.write_output(args.html, diff_views.html(result), "--html")
    return EXIT_FAILED if result.worse else EXIT_OK


def cmd_cases_from(args: argparse.Namespace, argv: Sequence[str]) -> int:
    try:
        shape = cases_from.parse_input_shape(args.input_shape) if args.input_shape else None
        out = cases_from.write(args.model, args.output, shape)
    except cases_from.ModelError as exc:
        raise UsageError(str(exc)) from None
    count = len(load_cases([str(out)]))
    say(f"{count} cases from the conv layers of {printable.line(args.model)} -> "
        f"{printable.line(out)}\njudge them: convgrad run {printable.line(shlex.quote(str(out)))}")
    return EXIT_OK


def say(text: str, stream=None) -> None:
    """Print a line of text that may hold what a user, a file or a plug-in wrote: escaped."""
    print(printable.block(text), file=stream or sys.stdout)


def _silence_stdout() -> None:
    """After the reader of stdout went away: send the rest (and the exit flush) nowhere."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        os.close(devnull)
    except (OSError, ValueError):
        pass


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="convgrad", description=(
        "Cross-validate convolution gradients (y, dx, dw) of TensorFlow, PyTorch and JAX "
        "against a float64 NumPy oracle."))
    p.add_argument("--version", action="version", version=f"convgrad {__version__}")
    sub = p.add_subparsers(dest="command", required=True)
    run = sub.add_parser("run", help="judge cases with impls; write the run record")
    run.add_argument("paths", nargs="*", default=[], help="case files or directories "
                     "(default: every bundled suite, as --suite names them)")
    run.add_argument("--suite", action="append", metavar="NAME",
                     help="a bundled suite by name (convgrad list --suites): article, "
                          "conformance, peers, degenerate, edges, regressions, upstream, gpu")
    run.add_argument("--impl-module", action="append", metavar="FILE.py|MODULE[:ATTR]",
                     help="also judge the impls of a Python file or module (ATTR, default "
                          "IMPLS: an impl, a class, or a list); without --impl only these "
                          "run. harness.backend.port.impl turns your conv function into one")
    run.add_argument("--impl", action="append", metavar="NAMES",
                     help="comma-separated impl names or globs, e.g. 'tf.*,jax.vjp' "
                          "(default: all)")
    run.add_argument("-k", metavar="EXPRESSION", help="only the verdicts and claims whose "
                     "test name (case[impl-grad], case[claim-grad]) matches, as pytest -k "
                     "reads it: words (substrings in any case, * and ? allowed) with and / "
                     "or / not / parentheses, e.g. 'same and not dw'")
    run.add_argument("--out", default="reports", metavar="DIR",
                     help="where results.json and index.html go (default: reports/)")
    run.add_argument("--known", default=known_mod.DEFAULT_FILE, metavar="FILE",
                     help="known-discrepancies file (default: the one convgrad ships, "
                          "harness/data/known-discrepancies.yaml)")
    run.add_argument("--no-known", dest="known", action="store_const", const=None,
                     help="ignore known discrepancies: show them as fail")
    run.add_argument("--limitations", action="append", metavar="FILE",
                     help="also treat the refusals documented in FILE as 'unsupported' (the "
                          "format of harness/data/limitations.yaml); any other exception a "
                          "framework raises is an error")
    run.add_argument("--junit", metavar="FILE", help="also write JUnit XML to FILE")
    run.add_argument("--github", action="store_true",
                     help="GitHub Actions: error annotations and a step summary "
                          "(automatic where GITHUB_ACTIONS=true)")
    run.add_argument("--jax-cache", metavar="DIR", default=str(JAX_CACHE_DEFAULT),
                     help="JAX's persistent compilation cache (default: %(default)s; CI can "
                          "cache this folder); a second run skips JAX's compilations")
    run.add_argument("--no-jax-cache", action="store_true",
                     help="compile every JAX shape afresh")
    run.add_argument("--jobs", type=bounded_int(1, 256, "a worker count"), default=os.cpu_count() or 1, metavar="N",
                     help="worker processes computing at once (default: the machine's cores)")
    run.add_argument("--timeout", type=seconds, default=DEFAULT_TIMEOUT_S, metavar="SECONDS",
                     help="per case and impl; a worker past it is killed and the verdict is "
                          "an error (default: 300)")
    run.add_argument("--max-memory", type=bounded_int(1, 1 << 40, "MiB"), default=None, metavar="MIB",
                     help="kill a worker whose resident memory exceeds this (default: none)")
    run.add_argument("--in-process", action="store_true",
                     help="compute in this process, no workers (no crash isolation)")
    run.add_argument("--repeat", type=repeat, default=1, metavar="N",
                     help="evaluate each verdict N times; bitwise-different results are "
                          "'nondeterministic'")
    run.add_argument("--device", choices=("cpu", "cuda"), default="cpu",
                     help="where the frameworks compute (cuda: skipped without a GPU)")
    run.add_argument("--tf32", choices=("on", "off"), default=None,
                     help="allow TF32 for float32 on NVIDIA GPUs (default: each framework's)")
    run.add_argument("--platforms", default="native", metavar="native|all|LIST",
                     help="the numerics paths to judge each impl on: native (default: as "
                          "this machine runs it), all (that, and each lesser CPU class this "
                          "machine can take: cpu=avx512, cpu=avx2; see docs/platforms.md), "
                          "or a list such as native,cpu=avx2")
    run.add_argument("--strict-statistical", action="store_true",
                     help="exit 1 also where a passing verdict is improbable: within the error "
                          "bound but beyond the statistical line (docs/cases.md, How a verdict "
                          "is judged)")
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
    mrg.add_argument("--by-platform", action="store_true",
                     help="records of the same cases from different machines (a runner matrix "
                          "over CPU classes and GPUs): name each impl for its record's "
                          "platform (tf.tape@avx2), one column per impl and platform")
    mrg.set_defaults(func=cmd_merge)
    df = sub.add_parser("diff", help="what changed between two run records (exit 1 if "
                        "anything got worse)")
    df.add_argument("old", metavar="OLD.json")
    df.add_argument("new", metavar="NEW.json")
    df.add_argument("--factor", type=positive_float, default=4.0, metavar="F",
                    help="report error ratios that moved by more than this factor (default 4)")
    df.add_argument("--markdown", metavar="FILE", help="also write the diff as Markdown (a CI "
                    "step summary: >> $GITHUB_STEP_SUMMARY)")
    df.add_argument("--html", metavar="FILE", help="also write the diff as an HTML page")
    df.set_defaults(func=cmd_diff)
    cf = sub.add_parser("cases-from", help="write a case per conv layer of a Keras model or "
                        "a torch module (docs/migration.md)")
    cf.add_argument("model", metavar="MODEL", help="a .keras file, or module:attribute naming "
                    "a Keras model, a torch nn.Module, or a function returning one")
    cf.add_argument("-o", "--output", required=True, metavar="DIR", help="where MODEL.yaml goes")
    cf.add_argument("--input-shape", metavar="N,H,W,C", help="trace the model at this input "
                    "shape (Keras: channels-last; torch: N,C,H,W); needed where the model's "
                    "own input size is not fixed")
    cf.set_defaults(func=cmd_cases_from)
    plat = sub.add_parser("platform", help="this machine's numerics platform: CPU class, the "
                          "lesser classes it can take, each framework's probed path")
    plat.add_argument("--probe", action="store_true",
                      help="also import each installed framework in a worker and print its "
                           "path (oneDNN, per-dtype routing, ATen, XLA)")
    plat.add_argument("--platforms", default="native", metavar="native|all|LIST",
                      help="with --probe: the paths to probe, as run --platforms")
    plat.add_argument("--env", metavar="CLASS", help="print the shell exports that take the "
                      "paths of CLASS (avx2, avx512) on this machine, e.g. for a test run")
    plat.add_argument("--json", action="store_true", help="print it as JSON")
    plat.add_argument("--timeout", type=seconds, default=DEFAULT_TIMEOUT_S, metavar="SECONDS",
                      help=argparse.SUPPRESS)
    plat.set_defaults(func=cmd_platform)
    lst = sub.add_parser("list", help="list cases and impls (with availability and versions)")
    lst.add_argument("paths", nargs="*", help="case files or directories")
    lst.add_argument("--suite", action="append", metavar="NAME", help="a bundled suite")
    lst.add_argument("--suites", action="store_true", help="list the bundled suites")
    lst.add_argument("--impl", action="append", metavar="NAMES")
    lst.add_argument("-k", metavar="EXPRESSION", help="only cases with a verdict (of the "
                     "impls listed) or claim whose test name matches, as for run")
    lst.set_defaults(func=cmd_list)
    add_parsers(sub)   # repro, shrink, fuzz
    return p


JAX_CACHE_DEFAULT = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / \
    "convgrad" / "jax"


def use_jax_cache(directory: str | None) -> None:
    """JAX's persistent compilation cache for this run and its workers (set before any
    import of JAX): a shape compiled once is not compiled again, in this run or the next.
    Every compilation is kept (JAX's defaults skip those under a second, which is all of
    ours). A cache the user configured through JAX_* variables is left alone."""
    if directory is None or "JAX_COMPILATION_CACHE_DIR" in os.environ:
        return
    os.environ["JAX_COMPILATION_CACHE_DIR"] = str(directory)
    os.environ.setdefault("JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS", "0")
    os.environ.setdefault("JAX_PERSISTENT_CACHE_MIN_ENTRY_SIZE_BYTES", "0")


def use_color(stream) -> bool:
    """Colour on a terminal, unless NO_COLOR is set (https://no-color.org)."""
    return stream.isatty() and not os.environ.get("NO_COLOR")


def _warning_line(message, category, filename, lineno, line=None) -> str:
    """Warnings (a plug-in that failed to load, say) as one line, not a source excerpt."""
    return f"warning: {message}\n"


def _error(text: object) -> None:
    """One line on stderr (escaped); a closed stderr is no reason for a traceback."""
    try:
        print(f"error: {printable.line(text)}", file=sys.stderr)
    except (OSError, ValueError):
        pass


def main(argv: Sequence[str] | None = None) -> int:
    warnings.formatwarning = _warning_line
    argv = list(sys.argv[1:] if argv is None else argv)
    args = parser().parse_args(argv)
    try:
        return args.func(args, ["convgrad", *argv])
    except LoadErrors as exc:
        for error in exc.errors:
            _error(error)
    except (SourceError, UsageError, UnknownImpl, ImplError, VariantError,
            record_mod.RecordError, outputs.OutputError) as exc:
        _error(exc)
    except BrokenPipeError:   # the reader of stdout is gone (convgrad list | head -1)
        _silence_stdout()
        return EXIT_OK
    except KeyboardInterrupt:
        try:
            print("interrupted", file=sys.stderr)
        except (OSError, ValueError):
            pass
        return 130
    except Exception as exc:  # noqa: BLE001 - the last line of defence: a bug of convgrad's
        if os.environ.get("CONVGRAD_DEBUG", "") not in ("", "0"):
            raise
        try:
            message = printable.excerpt(exc, 500)
        except Exception:  # noqa: BLE001 - a message that cannot be read: the type says it
            message = "(no readable message)"
        _error(f"internal error: {type(exc).__name__}: {message} (a bug in convgrad; "
               "CONVGRAD_DEBUG=1 shows the traceback)")
        return EXIT_INTERNAL
    return EXIT_USAGE


if __name__ == "__main__":
    sys.exit(main())
