"""``convgrad fuzz``: random cases until the time is up; every new discrepancy shrunk.

The loop draws cases from :mod:`harness.tools.repro.space` (the seed fixes the
sequence), judges them with every impl on worker processes, and for each
``fail``, ``error`` or ``nondeterministic`` verdict computes its
:class:`~harness.tools.repro.signature.Signature`. A signature seen before (up to
its family: garbage that is huge in one process and NaN in another is one
finding) is a *hit* of that finding; a signature of a documented discrepancy (one of
``known-discrepancies.yaml``, whose bundled cases are judged at the start to
learn their signatures) is skipped and counted; a new one is shrunk
(:mod:`harness.tools.repro.shrink`, trying the shrunk cases of earlier findings
first: one bug often fails several impls and grads) and written out: the
shrunk case, the case as first drawn, a standalone script, and a line of
``findings.json``.
"""
from __future__ import annotations

import fnmatch
import json
import re
import sys
import shlex
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Optional, Sequence, TextIO

import numpy as np

from harness.case.loader import LoadErrors, load_cases
from harness.render.terminal import script_command
from harness.safeio import outputs, printable
from harness.session import runner
from harness.tools.repro import script as script_mod, shrink as shrink_mod, space
from harness.tools.repro import target as target_mod
from harness.tools.repro.confirm import confirmer
from harness.tools.repro.judge import Judge
from harness.tools.repro.templates import NoTemplate, templates
from harness.tools.repro.signature import Signature, signature
from harness.tools.repro.spec import CaseSpec, NEEDS, only_grad

DISCREPANCIES = ("fail", "error", "nondeterministic")
MIN_SHRINK_S = 15.0


class FuzzError(Exception):
    pass


@dataclass
class Options:
    seconds: float
    seed: int = 0
    out: Path = Path("fuzz-out")
    dtypes: Optional[Sequence[str]] = None
    ops: Optional[Sequence[str]] = None
    shrink_seconds: float = 60.0
    max_cases: Optional[int] = None
    repeat: int = 1
    jobs: int = 1
    cases_paths: Sequence[str] = ()
    command: str = ""


@dataclass
class Finding:
    number: int
    signature: Signature
    first_case: str
    spec: CaseSpec                   # shrunk
    case_file: str
    script: str
    original_file: str
    hits: int = 1
    steps: list = field(default_factory=list)
    shrink_seconds: float = 0.0
    shrink_complete: bool = True
    message: str = ""
    consensus: bool = False          # every impl fuzzed failed this case and grad too
    confirmed: Optional[bool] = None  # the script reproduces it in a fresh process

    def to_dict(self) -> dict:
        return {"case": self.spec.id, "impl": self.signature.impl, "grad": self.signature.grad,
                "status": self.signature.status, "kind": self.signature.kind,
                "case_file": self.case_file, "script": self.script,
                "original_case": self.first_case, "original_file": self.original_file,
                "hits": self.hits,
                "elements": {t: self.spec.elements(t) for t in self.spec.present()},
                "summary": self.spec.summary(), "shrink_steps": self.steps,
                "shrink_seconds": round(self.shrink_seconds, 1),
                "shrink_complete": self.shrink_complete, "every_impl_failed": self.consensus,
                "reproduces_standalone": self.confirmed,
                "message": self.message}

    def line(self) -> str:
        names = self.spec.present()
        sizes = "/".join(str(self.spec.elements(t)) for t in names)
        note = (" (every impl failed it: suspect the case, the oracle or the bound before "
                "the frameworks)" if self.consensus else "")
        if self.confirmed is False:
            note += " (its script does NOT reproduce it in a fresh process)"
        return printable.line(f"#{self.number} {self.signature}: {self.spec.summary()} "
                              f"[{'/'.join(names)} elements {sizes}], {self.hits} hit(s)"
                              f"{note} -> {self.case_file}, {self.script}")


@dataclass
class Report:
    findings: list[Finding] = field(default_factory=list)
    cases: int = 0
    verdicts: Counter = field(default_factory=Counter)
    known: Counter = field(default_factory=Counter)       # signature text -> hits
    seconds: float = 0.0


# ------------------------------------------------------------------ known signatures

def known_signatures(judge: Judge, entries: Sequence, paths: Sequence[str],
                     log) -> dict[tuple, object]:
    """The signature families of the documented discrepancies among the impls fuzzed:
    each entry's bundled cases (under ``paths``) judged once, raw (no known applied)."""
    names = [i.impl.name for i in judge.infos if i.available]
    relevant = [(e, [n for n in names if e.impl and (fnmatch.fnmatchcase(n, e.impl) or
                                                      fnmatch.fnmatchcase(n.split("[")[0],
                                                                          e.impl))])
                for e in entries]
    relevant = [(e, ns) for e, ns in relevant if ns]
    if not relevant or not paths:
        return {}
    try:
        cases = load_cases(paths)
    except LoadErrors as exc:
        raise FuzzError(f"cannot load the cases of the known discrepancies: {exc}") from None
    found: dict[tuple, object] = {}
    for entry, impls in relevant:
        mine = [c for c in cases if fnmatch.fnmatchcase(c.id, entry.case)]
        for result in (judge.results(mine, impls) if mine else ()):
            for v in result.verdicts:
                info = judge.info(v.impl)
                if str(v.status) in DISCREPANCIES and entry.matches(
                        result.case.id, v.grad, impl=v.impl, version=info.version,
                        facts=runner.verdict_facts(result.case, info, v.grad, v.emulated)):
                    found.setdefault(signature(result, v).family, entry)
    if found:
        log(f"known: {len(found)} signature(s) of documented discrepancies will be skipped")
    return found


# ------------------------------------------------------------------ progress

class Progress:
    def __init__(self, seconds: float, stream: TextIO = sys.stderr):
        self.start, self.seconds, self.stream = time.monotonic(), seconds, stream
        self.tty = stream.isatty()
        self.last = 0.0

    def left(self) -> float:
        return max(0.0, self.seconds - (time.monotonic() - self.start))

    def show(self, report: Report, doing: str = "", force: bool = False) -> None:
        now = time.monotonic() - self.start
        text = printable.line(
            f"[fuzz] {report.cases} cases, {sum(report.verdicts.values())} verdicts, "
            f"{len(report.findings)} finding(s), {sum(report.known.values())} known hit(s); "
            f"{self.left():.0f} s left{'; ' + doing if doing else ''}")
        if self.tty:
            self.stream.write("\r\033[K" + text[:150])
            self.stream.flush()
        elif force or now - self.last >= 30:
            self.stream.write(text + "\n")
            self.stream.flush()
            self.last = now

    def line(self, text: str) -> None:
        """One line of ``text`` (a framework's message, a case id: escaped)."""
        if self.tty:
            self.stream.write("\r\033[K")   # convgrad's own: clears the progress line
        print(printable.line(text), file=self.stream, flush=True)


# ------------------------------------------------------------------ the loop

def _slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9._=-]+", "_", text).strip("_")


def _related(findings: Sequence[Finding], grad: str) -> list[CaseSpec]:
    """Earlier findings' shrunk cases, made to compute ``grad`` (values it needs but the
    finding did not use become small integers)."""
    out = []
    for f in findings:
        s = only_grad(f.spec.replace(grads=tuple(dict.fromkeys(f.spec.grads + (grad,)))), grad)
        fill = {t: {"random": "integers", "low": -3, "high": 3, "seed": 7}
                for t in NEEDS[grad] if getattr(s, t) is None}
        out.append(s.replace(**fill))
    return out


WHAT = "fuzz --out"   # the output place, in an error


def _write_findings(out: Path, findings: Sequence[Finding]) -> None:
    """``findings.json``, replaced atomically (a reader sees the old list or the new one;
    JSON escapes whatever the messages held)."""
    outputs.write_output(out / "findings.json",
                         json.dumps([f.to_dict() for f in findings], indent=2) + "\n", WHAT)


def _new_finding(judge, result, v, sig, report, options, progress, deadline,
                 limitations) -> Finding:
    number = len(report.findings) + 1
    stem = f"{number:02d}-{_slug(sig.impl)[:60]}-{sig.grad}"   # a file name, part of an id
    out = options.out
    original_file = str(out / f"{stem}.original.yaml")
    original = shrink_mod.spec_mod.from_case(result.case)
    outputs.write_output(original_file, original.yaml_text(
        f"A case convgrad fuzz (seed {options.seed}) drew, as drawn: {sig}"), WHAT)
    budget = min(options.shrink_seconds, max(deadline - time.monotonic(), MIN_SHRINK_S))
    progress.line(f"new discrepancy {sig} on {result.case.id}: shrinking "
                  f"(up to {budget:.0f} s)")
    case_file, script_file = str(out / f"{stem}.yaml"), str(out / f"{stem}.py")
    info = judge.info(v.impl)
    impl, probed = info.impl, dict(info.platform or {})
    new_id = f"fuzz/{options.seed}/{stem}"
    env = target_mod.worker_threads(getattr(judge.session.backend, "envs", {}).get(v.impl, {}))
    confirm = confirmer(options.repeat, env) if v.impl.split("[")[0] in templates() else None
    try:
        outcome = shrink_mod.shrink(result.case, impl, v.grad, judge=judge,
                                    time_budget=budget, repeat=options.repeat,
                                    first=(result, v), start=_related(report.findings, v.grad),
                                    new_id=new_id, log=lambda text: None, confirm=confirm)
    except shrink_mod.ShrinkError as exc:
        progress.line(f"  not shrunk ({exc}): the case as drawn is the finding")
        spec = original.replace(id=new_id)
        outputs.write_output(case_file, spec.yaml_text(
            f"convgrad fuzz: {sig} (not shrunk: {exc})"), WHAT)
        _script_of(result, v, options, case_file, script_file, sig, env, probed)
        return Finding(number, sig, result.case.id, spec, case_file, script_file,
                       original_file, message=v.message)
    shrink_mod.write_outcome(outcome, case_file, None,
                             command=f"convgrad shrink {original_file} --impl {v.impl} "
                                     f"--grad {v.grad}", what=WHAT)
    _script_of(outcome.result, outcome.verdict, options, case_file, script_file, sig, env,
               probed)
    return Finding(number, sig, result.case.id, outcome.spec, case_file, script_file,
                   original_file, steps=outcome.steps, shrink_seconds=outcome.seconds,
                   shrink_complete=outcome.complete, message=outcome.verdict.message,
                   confirmed=outcome.confirmed)


def _script_of(result, v, options, case_file, script_file, sig, worker_env=None,
               platform=None) -> None:
    command = script_command({"case": result.case.id, "impl": v.impl, "grad": v.grad},
                             case_file, {"repeat": options.repeat})
    command = command.rsplit(" -o ", 1)[0] + " -o " + shlex.quote(script_file)
    t = target_mod.from_result(result, v, runs=options.repeat, worker_env=worker_env,
                               origin=f"found by convgrad fuzz --seed {options.seed}",
                               command=command, platform=platform)
    try:
        script_mod.write(t, script_file, WHAT)
    except NoTemplate as exc:
        outputs.write_output(script_file, f"# no standalone script: {printable.comment(exc)}\n",
                             WHAT)


def fuzz(impls: Sequence, options: Options, *, backend=None, known: Sequence = (),
         limitations=None, stream: TextIO = sys.stderr) -> Report:
    """Run the fuzzer (see the module docstring); returns what it found."""
    started = time.monotonic()
    deadline = started + options.seconds
    out = options.out
    progress = Progress(options.seconds, stream)
    report = Report()
    if options.ops:
        unknown = [o for o in options.ops if o not in space.GENERATORS]
        if unknown:
            raise FuzzError(f"--op: unknown generator(s) {', '.join(unknown)}; known: "
                            f"{', '.join(space.GENERATORS)}")
    if options.dtypes:
        unknown = [d for d in options.dtypes if d not in space.DTYPES]
        if unknown:
            raise FuzzError(f"--dtype: unknown {', '.join(unknown)}; known: "
                            f"{', '.join(space.DTYPES)}")
    outputs.check_dir(out, "--out")   # before any case is judged
    judge = Judge(impls, backend=backend, repeat=options.repeat, limitations=limitations)
    try:
        available = [i.impl.name for i in judge.infos if i.available]
        for info in judge.unavailable():
            progress.line(f"skipping {info.impl.name}: {info.version}")
        if not available:
            raise FuzzError("no impl to fuzz is available here")
        known_sigs = known_signatures(judge, known, options.cases_paths, progress.line)
        progress.line(f"fuzzing {', '.join(available)} for {options.seconds:g} s "
                      f"(seed {options.seed}) -> {out}")
        rng = np.random.default_rng(options.seed)
        findings: dict[tuple, Finding] = {}
        batch = max(4, 2 * options.jobs)
        while time.monotonic() < deadline and (options.max_cases is None or
                                               report.cases < options.max_cases):
            count = batch if options.max_cases is None else \
                min(batch, options.max_cases - report.cases)
            drawn = [space.draw(rng, f"fuzz/{options.seed}/{report.cases + i}", options.ops,
                                options.dtypes)[1] for i in range(count)]
            results = list(judge.results(drawn, available))
            report.cases += len(drawn)
            for result in results:
                failing = Counter(v.grad for v in result.verdicts
                                  if str(v.status) in DISCREPANCIES)
                for v in result.verdicts:
                    report.verdicts[str(v.status)] += 1
                    if str(v.status) not in DISCREPANCIES:
                        continue
                    sig = signature(result, v)
                    if sig.family in known_sigs:
                        report.known[str(sig)] += 1
                        continue
                    if sig.family in findings:
                        findings[sig.family].hits += 1
                        continue
                    progress.show(report, f"shrinking {sig}", force=True)
                    finding = _new_finding(judge, result, v, sig, report, options, progress,
                                           deadline, limitations)
                    finding.consensus = failing[v.grad] == len(available) > 1
                    findings[sig.family] = finding
                    report.findings.append(finding)
                    progress.line("  " + finding.line())
                    _write_findings(out, report.findings)
            progress.show(report)
        _write_findings(out, report.findings)
    finally:
        judge.close()
    report.seconds = time.monotonic() - started
    progress.line("")
    print(_summary(report, options), flush=True)   # the result, on stdout (escaped)
    return report


def _summary(report: Report, options: Options) -> str:
    statuses = ", ".join(f"{n} {s}" for s, n in sorted(report.verdicts.items()))
    lines = [f"convgrad fuzz: {report.cases} cases, {statuses or 'no verdicts'} in "
             f"{report.seconds:.0f} s (seed {options.seed})"]
    for text, hits in sorted(report.known.items()):
        lines.append(f"known (skipped): {text}: {hits} hit(s)")
    lines += [f.line() for f in report.findings]
    lines.append(f"{len(report.findings)} finding(s); {options.out / 'findings.json'}")
    return "\n".join(map(printable.line, lines))   # each line one line, escaped
