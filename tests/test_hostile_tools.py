"""The tools' hostile corpus (issue 23): what a hostile record, case file, values.npz,
plug-in, user module, pattern, model file or output place can do to ``convgrad repro``,
``shrink``, ``fuzz``, ``cases-from``, ``diff``, ``report``, ``merge``, the ``--impl-module``
and ``--limitations`` options of every command, and the pytest plug-in.

Each :class:`~tests.hostile_tools.runner.Attempt` names the command, the exit statuses it
may end with (a refusal is status 2 and an ``error:`` line; a judged run 0 or 1) and what
it writes (scripts, case files, files that must stay as they were); the shared runner
(tests/hostile_tools/runner.py) runs it in a sandbox beside a folder of sentinels and
classifies the outcome: TRACEBACK, TIMEOUT, CRASH, BAD_EXIT, OUTSIDE_CHANGED, CLOBBERED,
INJECTED, LEFTOVER_PROCESS, RAW_CONTROL, UNLOADABLE_OUTPUT, LEAKED, MEMORY. Every
injection payload creates a marker file (``{marker}``); every generated script is
compiled and run. An attempt passes when no class applies.

The framework-free attempts run in parallel (three at a time: an attempt that hangs
mostly sleeps) in one module-scoped fixture, the runner's own classification tested
first (``test_the_runner_classifies_what_it_is_shown``); the ``cases-from`` attempts
that load TensorFlow or torch are marked ``frameworks``. Inputs are made at test time
(tests/hostile_tools/makers.py); ``repro``, ``shrink`` and ``fuzz`` write their scripts
with a NumPy framework registered for the attempt (tests/hostile_tools/toyfw.py), so that
the scripts run, for real, in a fraction of a second.
"""
from __future__ import annotations

import os
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pytest

from tests.hostile_tools import makers as mk
from tests.hostile_tools.impls import install
from tests.hostile_tools.runner import Attempt, Ctx, Result, run_attempt, summary

OK, REFUSED, JUDGED = frozenset({0, 2}), frozenset({2}), frozenset({0, 1})
ANY = frozenset({0, 1, 2})
REC = "{sb}/reports/results.json"
SAME = "article/same-dx"
DX = "{sb}/cases/article/3-same-dx.yaml"
FRAMEWORK_MEMORY = 16 << 30                     # TensorFlow and JAX reserve address space
HANG_S = 15.0                                   # attempts that hang when the defect is there


def code(text: str) -> str:
    """``text`` with CODE as Python that creates the attempt's marker file (the runner
    fills in ``{marker}``: a path in the attempt's sandbox)."""
    return text.replace("CODE", "open('{marker}', 'w').close()")


# --------------------------------------------------------------------- repro: records

def repro(id, setup, *, case=mk.TOY_ID, impl="toy.numpy", exits=OK, out="{sb}/r.py",
          scripts=None, record=REC, launcher="toy", **kw) -> Attempt:
    """``convgrad repro RECORD``: by default of the toy run's record (its scripts need only
    NumPy: they run for real)."""
    argv = ["repro", record, "--case", case, "--impl", impl] + (["-o", out] if out else [])
    return Attempt(f"repro-record/{id}", "repro (record)", argv, exits, setup,
                   launcher=launcher, scripts=scripts if scripts is not None else
                   ((out,) if out else ("{sb}/repro-*.py",)), **kw)


def rec(**kw):
    return mk.toy_record(**kw)


def file_is(value):
    return rec(change=mk.set_case_file(value))


def run_is(**values):
    return rec(change=mk.set_run(**values))


def framework_record(id, impl, framework, *, exits=OK, **kw) -> Attempt:
    """A record of a built-in impl (base.json renamed): its script's framework is blocked
    (TensorFlow, torch) or real (JAX)."""
    return repro(id, mk.repro_record(impl, framework, **kw), case=SAME, impl=impl,
                 launcher="cli", exits=exits)


def _outside_first(r):
    """A second entry of the same case id before the real one, its file outside."""
    r["cases"].insert(0, {**r["cases"][0], "file": "../../outside/case.yaml"})


def _platform(r):
    r["impls"][0]["platform"] = {"framework": code('numpy"""\nCODE\n"""'),
                                 "variables": {"XLA_FLAGS": "\x1b[31m\x00\ud800"}}


def _started(r):
    r["started"] = code('2026"""\n\x00CODE #\\')


REPRO_RECORDS = [
    repro("control", rec()),
    repro("control-fail-reproduces", rec(), impl="toybug.pad_before",
          script_exits=frozenset({1})),
    repro("control-jax", mk.repro_record(), case=SAME, impl="jax.vjp", launcher="cli"),
    repro("file-etc-passwd", file_is("/etc/passwd"), exits=REFUSED),
    repro("file-dotdot-outside", mk.both(file_is("../../outside/case.yaml"), mk.outside_case),
          exits=REFUSED),
    repro("file-absolute-outside", mk.both(file_is("{out}/case.yaml"), mk.outside_case),
          exits=REFUSED),
    repro("file-symlink-out-of-tree",
          mk.both(file_is("cases/link.yaml"), mk.outside_case,
                  mk.symlink("{sb}/cases/link.yaml", "{out}/case.yaml")), exits=REFUSED),
    repro("file-dev-zero", file_is("/dev/zero"), exits=REFUSED),
    repro("file-proc-environ", file_is("/proc/self/environ"), exits=REFUSED),
    repro("file-fifo", mk.both(file_is("cases/fifo.yaml"), mk.fifo("{sb}/cases/fifo.yaml")),
          exits=REFUSED, timeout=HANG_S),
    repro("file-empty", file_is(""), exits=REFUSED),
    repro("file-with-nul", file_is("cases/toy.yaml\x00.txt"), exits=REFUSED),
    repro("file-name-too-long", file_is("cases/" + "a" * 5000 + ".yaml"), exits=REFUSED),
    repro("file-a-directory", file_is("cases"), exits=REFUSED),
    repro("file-duplicate-id-outside-first", mk.both(rec(change=_outside_first),
                                                     mk.outside_case), exits=REFUSED),
    repro("run-repeat-minus-3", run_is(repeat=-3)),
    repro("run-repeat-1e15", run_is(repeat=10 ** 15), script_timeout=HANG_S),
    repro("run-repeat-code-string", run_is(repeat=code("1');CODE;('"))),
    repro("run-repeat-nan", run_is(repeat=float("nan"))),
    repro("run-nested-junk", rec(change=lambda r: r["environment"].__setitem__(
        "run", {"repeat": {"a": [1, {"b": 2}]}, "isolation": ["workers"]})), exits=REFUSED),
    repro("run-threads-code", run_is(isolation="workers",
                                     threads_per_worker=code("1'\nCODE\n'"))),
    repro("run-threads-1e15", run_is(isolation="workers", threads_per_worker=10 ** 15)),
    repro("message-nul", rec(message="mismatch \x00 here")),
    repro("message-lone-surrogate", rec(message="mismatch \ud800 here")),
    repro("message-triple-quote-code", rec(message=code('x"""\nCODE\n"""'))),
    repro("message-backslash-triple-quote", rec(message=code('x\\"""\nCODE #\\'))),
    repro("message-single-triple-quote", rec(message=code("x'''\nCODE\n'''"))),
    repro("message-escapes-and-bidi", rec(message="\x1b[2J\x1b]0;pwned\x07 \u202eevil \x9b1m")),
    repro("message-crlf-code", rec(message=code("line\r\nCODE\r\n#"))),
    repro("error-exception-code", rec(status="error",
                                      message=code('RuntimeError: x"""\nCODE\n"""'))),
    repro("error-exception-nul", rec(status="error", message="RuntimeError: \x00\ud800")),
    repro("case-id-escape", rec(case_id="hostile/\x1b[31mred"), case="hostile/\x1b[31mred"),
    repro("case-id-bidi", rec(case_id="hostile/\u202eevil"), case="hostile/\u202eevil"),
    repro("case-id-triple-quotes", rec(case_id='hostile/a"""b'), case='hostile/a"""b'),
    repro("case-id-single-triple-quotes", rec(case_id="hostile/a'''b"),
          case="hostile/a'''b"),
    repro("case-id-backslashes", rec(case_id="hostile/a\\\\b\\"), case="hostile/a\\\\b\\"),
    repro("case-id-c1-and-del", rec(case_id="hostile/a\x7f\x9bb"), case="hostile/a\x7f\x9bb"),
    repro("case-id-shell-default-name", rec(case_id="hostile/x';touch${IFS}{marker};'"),
          case="hostile/x';touch${IFS}{marker};'", out=""),
    repro("case-id-dotdot-default-name", rec(case_id="../../outside/pwn"),
          case="../../outside/pwn", out=""),
    repro("case-id-long-utf8-default-name", rec(case_id="tools/" + "é" * 190),
          case="tools/" + "é" * 190, out=""),
    repro("platform-code-and-escapes", rec(change=_platform)),
    repro("started-code-and-nul", rec(change=_started)),
    repro("record-name-newline-quotes", rec(name='{sb}/reports/a\n"""b.json'),
          record='{sb}/reports/a\n"""b.json'),
    repro("variant-the-impl-lacks", rec(), impl=code("toy.numpy[x=CODE]"), exits=REFUSED),
    framework_record("tf-variant-newline-code", code("tf.backprop[onednn=off\nCODE]"),
                     "tensorflow", exits=REFUSED),
    framework_record("tf-variant-quote-code", code("tf.backprop[onednn=off'+CODE+']"),
                     "tensorflow", exits=REFUSED),
    framework_record("jax-variant-comment-code", code("jax.vjp[x64=off#\nCODE]"), "jax",
                     exits=REFUSED),
    framework_record("torch-threads-superscript", "torch.autograd[threads=²]", "torch"),
    framework_record("torch-threads-huge", "torch.autograd[threads=99999999999999999999]",
                     "torch"),
    framework_record("tf-onednn-off-code-message", "tf.backprop[onednn=off]", "tensorflow",
                     message=code('"""\nCODE\n"""')),
    framework_record("torch-memory-view-escape-message", "torch.autograd[memory=nhwc_view]",
                     "torch", message="\x1b]0;pwned\x07\x00"),
]


# --------------------------------------------------------------------- repro: case files

def toy_repro(id, setup, *, case="tools/same-y", impl="toy.numpy", exits=OK, out="{sb}/r.py",
              script_exits=frozenset({0}), **kw) -> Attempt:
    argv = ["repro", "{sb}/toy.yaml", "--case", case, "--impl", impl, "--jobs", "1"]
    argv += ["-o", out] if out else []
    return Attempt(f"repro-case/{id}", "repro (case file)", argv, exits, setup,
                   launcher="toy", scripts=(out,) if out else ("{sb}/repro-*.py",),
                   script_exits=script_exits, **kw)


def toy(case_id="tools/same-y", **fields):
    return lambda ctx: mk.toy_case(ctx, case_id, **fields)


LONG_ID = "tools/" + "é" * 190

REPRO_CASES = [
    toy_repro("control", toy()),
    toy_repro("control-fail-reproduces", toy(), impl="toybug.pad_before",
              script_exits=frozenset({1})),
    toy_repro("case-id-escape", toy("tools/\x1b[31mred"), case="tools/\x1b[31mred"),
    toy_repro("case-id-bidi-default-name", toy("tools/\u202eyp.exe"), case="tools/\u202eyp.exe",
              out=""),
    toy_repro("case-id-triple-quotes", toy('tools/a"""b'), case='tools/a"""b'),
    toy_repro("case-id-long-utf8-default-name", toy(LONG_ID), case=LONG_ID, out=""),
    toy_repro("source-code-and-nul", toy(source=code('x\x00"""\nCODE\n"""'),
                                         description="\x1b[31m\ud800")),
    toy_repro("case-ids-listed-with-nul", toy("tools/a\x00\x1b[31mb"), case="tools/a",
              exits=REFUSED),
    toy_repro("case-not-found-escape", toy(), case="tools/\x1b]0;pwned\x07", exits=REFUSED),
    toy_repro("plugin-without-template", toy(), impl="planted.correct", exits=REFUSED),
]


# --------------------------------------------------------------------- output places

def places(surface: str, make, *, kind: str = "file", fsize: int = 16, ext: str = ".py",
           existing: str = "", more: bool = False, **kw) -> list[Attempt]:
    """An attempt per hostile output place: ``make(id, target, setup, **kw)`` builds one
    attempt writing ``target``. ``kind`` "file" (an option naming a file) or "dir" (a
    folder the tool writes into: ``existing`` is the file it writes there); ``more``: a
    read-only mount and a dangling link too."""
    f = f"{{sb}}/out{ext}"
    long = "{sb}/" + "a" * 256 + ext
    out: list[Attempt] = []

    def add(id, target, setup=None, **extra):   # no exits: the maker's own default
        out.append(make(f"{surface}/{id}", target, setup, **{**kw, **extra}))
    if kind == "file":
        add("a-directory", "{sb}/adir", mk.folder("{sb}/adir"), exits=REFUSED)
        add("dev-full", "/dev/full", exits=REFUSED)
        add("under-a-file", f"{{sb}}/afile/out{ext}", mk.file("{sb}/afile", "x"),
            exits=REFUSED)
        add("name-256-bytes", long, exits=REFUSED)
        add("in-proc", f"/proc/hostile-tools/out{ext}", exits=REFUSED)
        if more:
            add("read-only-mount", f"{{sb}}/ro/out{ext}", exits=REFUSED, mount="ro")
            add("dangling-symlink-out", f, mk.symlink(f, "{out}/new" + ext))
        add("symlink-to-sentinel", f, mk.symlink(f, "{out}/sentinel.py"))
        add("existing-file-disk-quota", f, mk.file(f, "KEEP: the previous output\n"),
            exits=REFUSED, fsize=fsize, keep=(f,))
        add("name-with-escapes", f"{{sb}}/\x1b]0;pwned\x07\x1b[31mout{ext}")
    else:
        inner = f"{{sb}}/adir/{existing}"
        add("a-regular-file", "{sb}/afile", mk.file("{sb}/afile", "x"), exits=REFUSED)
        add("dev-full", "/dev/full", exits=REFUSED)
        add("under-a-file", "{sb}/afile/adir", mk.file("{sb}/afile", "x"), exits=REFUSED)
        add("name-256-bytes", "{sb}/" + "a" * 256, exits=REFUSED)
        add("in-proc", "/proc/hostile-tools", exits=REFUSED)
        if more:
            add("read-only-mount", "{sb}/ro/adir", exits=REFUSED, mount="ro")
        add("planted-symlink-inside", "{sb}/adir",
            mk.symlink(inner, "{out}/sentinel.py"))
        add("existing-file-disk-quota", "{sb}/adir",
            mk.file(inner, "KEEP: the previous output\n"), exits=REFUSED, fsize=fsize,
            keep=(inner,))
        add("name-with-escapes", "{sb}/\x1b]0;pwned\x07\x1b[31madir")
    return out


def _repro_to(id, target, setup, **kw):
    a = repro("x", mk.both(rec(), setup), out=target, **kw)   # the toy run's record
    a.id, a.surface = id, "output place"
    a.scripts = ()
    return a


def _shrink_to(id, target, setup, **kw):
    return Attempt(id, "output place", ["shrink", DX, "--impl-module", "tests.planted:BUGS",
                                        "--impl", "planted.pad_before", "-o", target,
                                        "--time", "10", "--in-process"],
                   kw.pop("exits", OK), mk.both(mk.article, setup), **kw)


def _script_to(id, target, setup, **kw):
    return Attempt(id, "output place", ["shrink", "{sb}/toy.yaml", "--impl",
                                        "toybug.pad_before", "-o", "{sb}/small.yaml",
                                        "--script", target, "--time", "10", "--in-process"],
                   kw.pop("exits", OK), mk.both(toy(), setup), launcher="toy", **kw)


FUZZ_BASE = ["fuzz", "--impl-module", "tests.planted:BUGS", "--impl", "planted.pad_before",
             "--max-cases", "2", "--seed", "1", "--in-process", "--time", "20",
             "--shrink-time", "3", "--no-known"]


def _fuzz_to(id, target, setup, **kw):
    return Attempt(id, "output place", FUZZ_BASE + ["--out", target], kw.pop("exits", ANY),
                   setup, **kw)


def _diff_to(option):
    def make(id, target, setup, **kw):
        return Attempt(id, "output place", ["diff", "{sb}/old/results.json",
                                            "{sb}/new/results.json", option, target],
                       kw.pop("exits", ANY), mk.both(mk.diff_pair(), setup), **kw)
    return make


BASE_RECORD = "{repo}/tests/hostile/records/base.json"


def _merge_to(id, target, setup, **kw):
    return Attempt(id, "output place", ["merge", BASE_RECORD, "-o", target],
                   kw.pop("exits", OK), setup, **kw)


def _report_to(id, target, setup, **kw):
    return Attempt(id, "output place", ["report", BASE_RECORD, "-o", target],
                   kw.pop("exits", OK), setup, **kw)


def _cases_from_to(id, target, setup, **kw):
    return Attempt(id, "output place", ["cases-from", "{sb}/hostile_torch_models.py:plain",
                                        "-o", target, "--input-shape", "1,3,8,8"],
                   kw.pop("exits", OK), mk.both(mk.module("hostile_torch_models"), setup),
                   frameworks=True, timeout=90, memory=FRAMEWORK_MEMORY, **kw)


OUTPUT_PLACES = (
    places("repro-o", _repro_to, more=True)
    + places("shrink-o", _shrink_to, ext=".yaml")
    + places("shrink-script", _script_to)
    + places("fuzz-out", _fuzz_to, kind="dir", existing="01-planted.pad_before-y.yaml")
    + places("diff-markdown", _diff_to("--markdown"), ext=".md")
    + places("diff-html", _diff_to("--html"), ext=".html")
    + places("merge-o", _merge_to, ext=".json")
    + places("report-o", _report_to, ext=".html", more=True)
)
CASES_FROM_PLACES = places("cases-from-o", _cases_from_to, kind="dir",
                           existing="Sequential.yaml")


# --------------------------------------------------------------------- shrink

def shrink(id, impl, *, case=DX, k=SAME, setup=mk.article, exits=OK, extra=(),
           launcher="cli", script=False, **kw) -> Attempt:
    argv = ["shrink", case, "-k", k, "--impl", impl, "-o", "{sb}/small.yaml", "--time", "10",
            *extra]
    if script:
        argv += ["--script", "{sb}/small.py"]
    if "--jobs" not in extra:
        argv.append("--in-process")
    return Attempt(f"shrink/{id}", "shrink", argv, exits, setup, launcher=launcher,
                   yamls=("{sb}/small.yaml",), scripts=("{sb}/small.py",) if script else (),
                   **kw)


BUGS = ("--impl-module", "tests.planted:BUGS")
SHRINK = [
    shrink("control-toy-with-script", "toybug.pad_before", case="{sb}/toy.yaml",
           k="tools/same-y", setup=toy(), launcher="toy", script=True,
           script_exits=frozenset({1})),
    shrink("plugin-script-without-template", "planted.pad_before", extra=BUGS, script=True),
    shrink("ansi-framework-message", "hostile.ansi_message"),
    shrink("yaml-in-message", "tools.yaml_message"),
    shrink("code-in-message", "tools.code_message"),
    shrink("nul-in-message", "tools.nul_message"),
    shrink("surrogate-in-message", "tools.surrogate_message"),
    shrink("case-id-escape", "toybug.pad_before", case="{sb}/toy.yaml",
           k="tools/\x1b[31mred", setup=toy("tools/\x1b[31mred"), launcher="toy", script=True,
           script_exits=frozenset({1})),
    shrink("case-id-at-the-length-limit", "toybug.pad_before", case="{sb}/toy.yaml",
           k="tools/" + "x" * 194, setup=toy("tools/" + "x" * 194), launcher="toy"),
    shrink("source-nul-and-code", "toybug.pad_before", case="{sb}/toy.yaml", k="tools/same-y",
           setup=toy(source=code('\x00"""\nCODE\n"""'), description="\ud800\x1b[31m"),
           launcher="toy", script=True, script_exits=frozenset({1})),
    shrink("not-failing", "planted.correct", exits=REFUSED),
    shrink("k-escape-matches-nothing", "planted.correct", k="\x1b]0;pwned\x07*", exits=REFUSED),
    shrink("forks-then-crashes", "hostile.forks_then_crashes",
           extra=("--jobs", "1", "--timeout", "5", "--time", "4")),
    shrink("forks-then-hangs", "hostile.forks_then_hangs",
           extra=("--jobs", "1", "--timeout", "2", "--time", "4"), timeout=60),
]


# --------------------------------------------------------------------- fuzz

def fuzz(id, argv, *, exits=JUDGED, launcher="cli", scripts=("{sb}/fz/*.py",),
         **kw) -> Attempt:
    return Attempt(f"fuzz/{id}", "fuzz", argv + ["--out", "{sb}/fz"], exits, kw.pop("setup",
                   None), launcher=launcher, yamls=("{sb}/fz/*.yaml",), scripts=scripts, **kw)


def fuzz_impl(impl: str, *extra: str) -> list[str]:
    return ["fuzz", "--impl", impl, "--max-cases", "2", "--seed", "1", "--in-process",
            "--time", "20", "--shrink-time", "3", "--no-known", *extra]


def seed(value: str) -> list[str]:
    argv = list(FUZZ_BASE)
    argv[argv.index("--seed") + 1] = value
    return argv


FUZZ = [
    fuzz("control", FUZZ_BASE),
    fuzz("seed-minus-1", seed("-1"), exits=ANY),
    fuzz("seed-250-digits", seed("9" * 250), exits=ANY),
    fuzz("seed-2-to-the-64", seed(str(2 ** 64)), exits=ANY),
    fuzz("seed-not-a-number", seed("1e3\x1b[31m"), exits=REFUSED),
    fuzz("toy-scripts-reproduce", fuzz_impl("toybug.pad_before", "--dtype", "float32"),
         launcher="toy", script_exits=frozenset({1})),
    fuzz("ansi-framework-message", fuzz_impl("hostile.ansi_message")),
    fuzz("yaml-in-message", fuzz_impl("tools.yaml_message")),
    fuzz("code-in-message", fuzz_impl("tools.code_message")),
    fuzz("nul-in-message", fuzz_impl("tools.nul_message")),
    fuzz("surrogate-in-message", fuzz_impl("tools.surrogate_message")),
    fuzz("op-with-escapes", FUZZ_BASE + ["--op", "conv\x1b]0;pwned\x07"], exits=REFUSED),
    fuzz("dtype-with-escapes", FUZZ_BASE + ["--dtype", "float32\x1b[2J"], exits=REFUSED),
    fuzz("known-cases-etc-passwd", FUZZ_BASE[:-1] + ["--cases", "/etc/passwd"], exits=ANY),
    fuzz("known-cases-python-tag", FUZZ_BASE[:-1] + ["--cases", "{sb}/kc"], exits=ANY,
         setup=mk.file("{sb}/kc/tag.yaml", "id: hostile/tag\nop: !!python/object/apply:"
                                           "os.system ['touch {marker}']\n")),
    fuzz("planted-links-in-out", FUZZ_BASE, setup=mk.both(
        mk.symlink("{sb}/fz/01-planted.pad_before-y.yaml", "{out}/sentinel.txt"),
        mk.symlink("{sb}/fz/01-planted.pad_before-y.original.yaml", "{out}/sentinel.py"),
        mk.symlink("{sb}/fz/findings.json", "{out}/sentinel.txt")), exits=ANY),
    fuzz("forks-then-hangs", ["fuzz", "--impl", "hostile.forks_then_hangs", "--max-cases", "1",
                              "--seed", "1", "--jobs", "1", "--timeout", "2", "--time", "8",
                              "--shrink-time", "2", "--no-known"], exits=ANY, timeout=60),
]


# --------------------------------------------------------------------- diff and values.npz

def diff(id, setup, *, exits=JUDGED, extra=(), old="{sb}/old/results.json",
         new="{sb}/new/results.json", **kw) -> Attempt:
    return Attempt(f"diff/{id}", "diff", ["diff", old, new, *extra], exits, setup, **kw)


def members(fn):
    return mk.diff_pair(mk.values_members(fn))


def _values(array):
    return members(lambda ctx, run_id: {"run_id.npy": mk.npy_bytes(np.array(run_id)),
                                        "v0.npy": mk.npy_bytes(array)})


def _bomb(ctx, path, run_id):
    mk.zip_bomb(path, {"run_id.npy": mk.npy_bytes(np.array(run_id))},
                mk.npy_header("<f8", (100_000_000,)), 800_000_000)


def _many(ctx, path, run_id):
    mk.many_members(path, mk.good_values(run_id), 200_000)


def _truncated(ctx, path, run_id):
    mk.npz(path, mk.good_values(run_id), compress=True)
    data = path.read_bytes()
    path.write_bytes(data[:len(data) // 2])


def _run_id_bomb(ctx, path, run_id):
    """run_id.npy: a 100-million-character string (400 MB of zeros), deflated."""
    mk.zip_bomb(path, {"v0.npy": mk.npy_bytes(np.zeros((1, 3, 3, 1)))},
                mk.npy_header("<U100000000", ()), 400_000_000, name="run_id.npy")


def _duplicates(ctx, path, run_id):
    """Two members named v0.npy: numbers, then strings (a reader finds the second)."""
    import warnings
    import zipfile
    with warnings.catch_warnings(), zipfile.ZipFile(path, "w") as z:
        warnings.simplefilter("ignore")
        for name, data in mk.good_values(run_id).items():
            z.writestr(name, data)
        z.writestr("v0.npy", mk.npy_bytes(np.array(["x"] * 9).reshape(1, 3, 3, 1)))


def _npy_renamed(ctx, path, run_id):
    path.write_bytes(mk.npy_bytes(np.arange(9.0)))


def _id_markdown(r):
    for c in r["cases"] + r["verdicts"] + r["claims"]:
        key = "id" if "axes" in c else "case"
        if c[key] == "article/valid-dx":
            c[key] = ("article/valid-dx\n### INJECTED heading\nINJECTED forged line\n"
                      "<img src=x onerror=alert(1)>\x1b[31m")


def _impl_markup(r):
    for v in r["verdicts"]:
        if v["impl"] == "planted.correct":
            v["impl"] = "planted.correct<script>alert(1)</script>|`x`\n# INJECTED"
            v["status"] = "fail"


DIFF = [
    diff("control", mk.diff_pair()),
    diff("values-string-array", _values(np.array(["1.0", "x"] * 4 + ["y"]).reshape(1, 3, 3, 1))),
    diff("values-object-array-pickle", members(lambda ctx, run_id: {
        "run_id.npy": mk.npy_bytes(np.array(run_id)),
        "v0.npy": mk.pickled_object_array(ctx.marker)})),
    diff("values-run-id-pickle", members(lambda ctx, run_id: {
        "run_id.npy": mk.pickled_object_array(ctx.marker),
        "v0.npy": mk.npy_bytes(np.zeros((1, 3, 3, 1)))})),
    diff("values-plain-npy-renamed", mk.diff_pair(_npy_renamed)),
    diff("values-header-claims-1e12", members(lambda ctx, run_id: {
        "run_id.npy": mk.npy_bytes(np.array(run_id)),
        "v0.npy": mk.npy_header("<f8", (10 ** 12,)) + bytes(64)})),
    diff("values-zip-bomb-800MB", mk.diff_pair(_bomb), memory=3 << 30, rss_mib=400,
         timeout=60),
    diff("values-200000-members", mk.diff_pair(_many), max_seconds=10.0, timeout=30),
    diff("values-truncated-zip", mk.diff_pair(_truncated)),
    diff("values-run-id-400MB-string", mk.diff_pair(_run_id_bomb), memory=3 << 30,
         rss_mib=400, timeout=60),
    diff("values-structured-dtype", _values(np.zeros((1, 3, 3, 1), dtype=[("a", "<f8"),
                                                                          ("b", "<i4")]))),
    diff("values-datetime", _values(np.zeros((1, 3, 3, 1), dtype="datetime64[s]"))),
    diff("values-duplicate-members", mk.diff_pair(_duplicates)),
    diff("values-complex", _values(np.full((1, 3, 3, 1), 1 + 2j))),
    diff("values-big-endian-fortran", _values(np.asfortranarray(
        np.arange(9, dtype=">f8").reshape(1, 3, 3, 1)))),
    diff("values-empty-file", mk.diff_pair(lambda ctx, path, run_id: path.write_bytes(b""))),
    diff("values-link-to-secret", mk.diff_pair(
        lambda ctx, path, run_id: os.symlink(ctx.out / "secret.env", path))),
    diff("values-fifo", mk.diff_pair(lambda ctx, path, run_id: os.mkfifo(path)),
         timeout=HANG_S),
    diff("ids-forge-markdown-and-terminal", mk.diff_pair(change_new=_id_markdown),
         extra=("--markdown", "{sb}/d.md", "--html", "{sb}/d.html"),
         forbid=(("{sb}/d.md", r"(?m)^\s*#+ INJECTED"), ("{sb}/d.md", r"<img"),
                 ("{sb}/d.html", r"<img src=x"), ("stdout", r"(?m)^\s*(#+ )?INJECTED"))),
    diff("impl-markup", mk.diff_pair(change_new=_impl_markup),
         extra=("--markdown", "{sb}/d.md", "--html", "{sb}/d.html"),
         forbid=(("{sb}/d.md", r"<script>"), ("{sb}/d.md", r"(?m)^\s*# INJECTED"),
                 ("{sb}/d.html", r"<script>alert"))),
    diff("hostile-record-control-chars", None, old="{repo}/tests/hostile/records/base.json",
         new="{repo}/tests/hostile/records/control-chars.json"),
    diff("github-summary-dev-full", mk.diff_pair(), exits=ANY,
         env={"GITHUB_ACTIONS": "true", "GITHUB_STEP_SUMMARY": "/dev/full"}),
    diff("github-summary-a-directory", mk.diff_pair(), exits=ANY,
         env={"GITHUB_ACTIONS": "true", "GITHUB_STEP_SUMMARY": "{sb}"}),
    diff("github-summary-under-a-file", mk.both(mk.diff_pair(), mk.file("{sb}/afile", "x")),
         exits=ANY, env={"GITHUB_ACTIONS": "true", "GITHUB_STEP_SUMMARY": "{sb}/afile/s.md"}),
]


# --------------------------------------------------------------------- report pages

TOKEN = "20260101T000000-abcdef"


def report(id, setup, *, exits=OK, **kw) -> Attempt:
    return Attempt(f"report/{id}", "report", ["report", "{sb}/big.json", "-o", "{sb}/X.html"],
                   exits, setup, **kw)


def big(ids=None, count=60):   # 240 cases: a page each
    return lambda ctx: mk.write_json(ctx, "big.json", mk.many_cases(count, ids))


def _small(ctx):
    mk.write_json(ctx, "big.json", mk.BASE)


def _one_page_per_case(ctx: Ctx, result: Result):
    """Every case its own page: no two page names equal but for letter case (a
    case-insensitive disk), none written over another."""
    pages = [p for p in (ctx.sb / "X-pages").rglob("*.html")] if (ctx.sb / "X-pages").is_dir() \
        else []
    names = [str(p.relative_to(ctx.sb)).casefold() for p in pages]
    clashes = sorted({n for n in names if names.count(n) > 1})
    defects = [("CLOBBERED", f"page names equal but for case: {clashes[0]}")] if clashes else []
    if result.proc and result.proc.status == 0 and len(pages) < 240:
        defects.append(("CLOBBERED", f"{len(pages)} pages for 240 cases: pages overwrote "
                                     "each other"))
    return defects


def _pairs_by_case(k: int, cid: str) -> str:
    """Copy k of a case: odd k upper-cases the id of k - 1, so pairs differ only in case."""
    return f"{cid}-{k - 1}".upper() if k % 2 else f"{cid}-{k}"


REPORT = [
    report("control-with-pages", big()),
    report("pages-folder-link-out", mk.both(big(), mk.symlink("{sb}/X-pages", "{out}/pages"))),
    report("pages-folder-link-out-small", mk.both(_small,
                                                  mk.symlink("{sb}/X-pages", "{out}/pages"))),
    report("pages-lock-link-out", mk.both(_small, mk.symlink("{sb}/X-pages/.lock",
                                                             "{out}/sentinel.txt"))),
    report("planted-token-link-out", mk.both(_small, mk.symlink(
        f"{{sb}}/X-pages/{TOKEN}", f"{{out}}/pages/{TOKEN}"))),
    report("pages-folder-is-a-file", mk.both(_small, mk.file("{sb}/X-pages", "x"))),
    report("ids-differ-only-in-case", big(_pairs_by_case), checks=(_one_page_per_case,)),
    report("ids-climb-out", big(lambda k, cid: f"../../../outside/pages/{TOKEN}/{cid}-{k}")),
    report("ids-same-slug", big(lambda k, cid: f"{cid}/{k - 1}" if k % 2 else f"{cid}-{k}"),
           checks=(_one_page_per_case,)),
]


# --------------------------------------------------------------------- user code

RUN_DX = ["run", DX, "--out", "{sb}/o", "--jobs", "1", "--timeout", "3"]


def user_module(id, name, argv, *, exits=REFUSED, extra_setup=None, **kw) -> Attempt:
    surface = "impl-module"
    return Attempt(f"impl-module/{id}", surface, argv, exits,
                   mk.both(mk.article, mk.module(name), extra_setup), **kw)


def run_with(name, *more):
    return RUN_DX + ["--impl-module", f"{{sb}}/{name}.py", *more]


IMPL_MODULES = [
    user_module("run-sys-exit-0", "hostile_exit0", run_with("hostile_exit0")),
    user_module("run-sys-exit-1", "hostile_exit1", run_with("hostile_exit1")),
    user_module("run-sys-exit-3", "hostile_exit3", run_with("hostile_exit3")),
    user_module("run-raises-at-import", "hostile_raises", run_with("hostile_raises")),
    user_module("run-keyboard-interrupt-at-import", "hostile_keyboard",
                run_with("hostile_keyboard")),
    user_module("run-hangs-at-import", "hostile_hangs", run_with("hostile_hangs"),
                timeout=HANG_S),
    user_module("run-name-raises", "hostile_attr_name", run_with("hostile_attr_name")),
    user_module("run-framework-raises", "hostile_attr_framework",
                run_with("hostile_attr_framework"), exits=frozenset({1, 2})),
    user_module("run-getattr-raises", "hostile_attr_getattr", run_with("hostile_attr_getattr"),
                exits=frozenset({1, 2})),
    user_module("run-ops-raise-version-exits", "hostile_attr_ops",
                run_with("hostile_attr_ops"), exits=frozenset({1, 2})),
    user_module("run-impls-iteration-raises", "hostile_impls_list_raises",
                run_with("hostile_impls_list_raises")),
    user_module("repro-sys-exit-0", "hostile_exit0",
                ["repro", DX, "--case", SAME, "--impl", "x", "--impl-module",
                 "{sb}/hostile_exit0.py", "-o", "{sb}/r.py"]),
    user_module("repro-getattr-raises", "hostile_attr_getattr",
                ["repro", DX, "--case", SAME, "--impl", "mod.bad_getattr", "--impl-module",
                 "{sb}/hostile_attr_getattr.py", "-o", "{sb}/r.py"]),
    user_module("shrink-sys-exit-3", "hostile_exit3",
                ["shrink", DX, "--impl", "x", "--impl-module", "{sb}/hostile_exit3.py", "-o",
                 "{sb}/small.yaml", "--time", "5"]),
    user_module("fuzz-sys-exit-0", "hostile_exit0",
                ["fuzz", "--impl", "x", "--impl-module", "{sb}/hostile_exit0.py",
                 "--max-cases", "1", "--out", "{sb}/fz"]),
    user_module("fuzz-hangs-at-import", "hostile_hangs",
                ["fuzz", "--impl", "x", "--impl-module", "{sb}/hostile_hangs.py",
                 "--max-cases", "1", "--out", "{sb}/fz", "--timeout", "3"], timeout=HANG_S),
    user_module("cases-from-sys-exit-0", "hostile_exit0",
                ["cases-from", "{sb}/hostile_exit0.py:model", "-o", "{sb}/cf"]),
    user_module("cases-from-raises", "hostile_raises",
                ["cases-from", "{sb}/hostile_raises.py:model", "-o", "{sb}/cf"]),
    user_module("cases-from-not-a-model", "hostile_not_a_model",
                ["cases-from", "{sb}/hostile_not_a_model.py:model", "-o", "{sb}/cf"]),
    user_module("cases-from-factory-not-a-model", "hostile_not_a_model",
                ["cases-from", "{sb}/hostile_not_a_model.py:factory", "-o", "{sb}/cf"]),
    user_module("cases-from-keras-fifo", "hostile_exit0",
                ["cases-from", "{sb}/m.keras", "-o", "{sb}/cf"],
                extra_setup=mk.fifo("{sb}/m.keras"), timeout=HANG_S),
]


# --------------------------------------------------------------------- patterns

def limited(id, pattern, impl, argv=None, *, exits=frozenset({1, 2}), **kw) -> Attempt:
    argv = argv or ["run", DX, "--impl", impl, "--out", "{sb}/o", "--jobs", "1",
                    "--timeout", "5"]
    return Attempt(f"limitations/{id}", "limitations", argv + ["--limitations",
                                                                "{sb}/limits.yaml"],
                   exits, mk.both(mk.article, mk.limitations(pattern)),
                   timeout=kw.pop("timeout", HANG_S), **kw)


ALIAS_BOMB = (mk.REPO / "tests" / "hostile" / "cases" / "alias-bomb.yaml").read_text()
PYTHON_TAG = "- id: x\n  framework: !!python/object/apply:os.system ['touch {marker}']\n"


def yaml_file(id, option, text, argv=None, *, exits=REFUSED, **kw) -> Attempt:
    """A --limitations or --known file that is hostile YAML (the case loader's rules hold
    for every YAML convgrad reads)."""
    argv = argv or ["run", DX, "--impl", "planted.correct", "--out", "{sb}/o", "--jobs", "1"]
    return Attempt(f"limitations/{id}", "limitations", argv + [option, "{sb}/f.yaml"], exits,
                   mk.both(mk.article, mk.file("{sb}/f.yaml", text)), **kw)


LIMITATIONS = [
    yaml_file("limitations-alias-bomb", "--limitations", ALIAS_BOMB, rss_mib=500),
    yaml_file("limitations-python-tag", "--limitations", PYTHON_TAG),
    yaml_file("limitations-when-not-a-mapping", "--limitations",
              "- id: x\n  framework: numpy\n  message: a\n  when: [1, 2]\n"),
    yaml_file("limitations-message-a-mapping", "--limitations",
              "- id: x\n  framework: numpy\n  message: {a: 1}\n"),
    yaml_file("known-alias-bomb", "--known", ALIAS_BOMB, rss_mib=500),
    yaml_file("known-python-tag", "--known", PYTHON_TAG.replace("framework", "case")),
    yaml_file("fuzz-known-python-tag", "--known", PYTHON_TAG.replace("framework", "case"),
              FUZZ_BASE[:-1]),

    limited("run-nested-plus", "(a+)+$", "tools.redos_a"),
    limited("run-nested-plus-in-process", "(a+)+$", "tools.redos_a",
            ["run", DX, "--impl", "tools.redos_a", "--out", "{sb}/o", "--in-process",
             "--timeout", "5"]),
    limited("run-x-plus-x-plus", "(x+x+)+y", "tools.redos_x"),
    limited("run-backreference", r"(a*)*\1b", "tools.redos_a"),
    limited("run-invalid-pattern", "(unclosed[", "tools.redos_a", exits=REFUSED),
    limited("run-megabyte-pattern", "a" * (1 << 20), "tools.redos_a"),
    limited("run-repetition-bomb", "(?:(?:a{1000}){1000}){1000}$", "tools.redos_a"),
    limited("repro-nested-plus", "(a+)+$", "tools.redos_a",
            ["repro", DX, "--case", SAME, "--impl", "tools.redos_a", "--jobs", "1",
             "--timeout", "5", "-o", "{sb}/r.py"], exits=REFUSED),
    limited("shrink-nested-plus", "(a+)+$", "tools.redos_a",
            ["shrink", DX, "--impl", "tools.redos_a", "-o", "{sb}/small.yaml", "--time", "5",
             "--jobs", "1", "--timeout", "5"], exits=OK),
    limited("fuzz-nested-plus", "(a+)+$", "tools.redos_a",
            ["fuzz", "--impl", "tools.redos_a", "--max-cases", "1", "--jobs", "1",
             "--timeout", "5", "--time", "10", "--shrink-time", "2", "--no-known", "--out",
             "{sb}/fz"], exits=ANY),
]


# --------------------------------------------------------------------- pytest plug-in

def pytest_attempt(id, extra, *, setup=None, exits=frozenset({2, 4}), expect="", **kw):
    argv = ["-p", "no:cacheprovider", "-c", "{sb}/pytest.ini", "--rootdir", "{sb}", "-q",
            "--color=no", "{sb}/cases/article", "--convgrad-impl", "planted.correct",
            "--convgrad-in-process", *extra]
    return Attempt(f"pytest/{id}", "pytest plug-in", argv, exits,
                   mk.both(mk.article, mk.file("{sb}/pytest.ini", "[pytest]\n"), setup),
                   launcher="pytest", expect=expect, **kw)


PYTEST = [
    pytest_attempt("control", [], exits=frozenset({1})),     # the article's wrong claim
    pytest_attempt("convgrad-out-names-a-file", ["--convgrad-out", "{sb}/afile"],
                   setup=mk.file("{sb}/afile", "KEEP\n"), expect="convgrad-out",
                   keep=("{sb}/afile",)),
    pytest_attempt("convgrad-out-dev-full", ["--convgrad-out", "/dev/full"],
                   expect="convgrad-out"),
    pytest_attempt("impl-module-sys-exit-0", ["--convgrad-impl-module",
                                              "{sb}/hostile_exit0.py"],
                   setup=mk.module("hostile_exit0"), expect="impl-module"),
    pytest_attempt("impl-module-raises", ["--convgrad-impl-module", "{sb}/hostile_raises.py"],
                   setup=mk.module("hostile_raises"), expect="impl-module"),
    pytest_attempt("limitations-nested-plus", ["--convgrad-impl", "tools.redos_a",
                                               "--convgrad-limitations", "{sb}/limits.yaml",
                                               "--convgrad-timeout", "5"],
                   setup=mk.limitations("(a+)+$"), exits=frozenset({1, 2, 4}),
                   timeout=HANG_S),
]


# --------------------------------------------------------------------- cases-from (frameworks)

def cases_from(id, model, *, setup=None, shape="1,3,8,8", exits=REFUSED, **kw) -> Attempt:
    argv = ["cases-from", model, "-o", "{sb}/cf"] + ([f"--input-shape={shape}"] if shape else [])
    kw.setdefault("memory", FRAMEWORK_MEMORY)
    return Attempt(f"cases-from/{id}", "cases-from", argv, exits,
                   mk.both(mk.module("hostile_torch_models"), setup),
                   yamls=("{sb}/cf/*.yaml",), frameworks=True, timeout=90, **kw)


TORCH = "{sb}/hostile_torch_models.py:"
KERAS_FILE = "{sb}/m.keras"


def _keras_lambda(ctx: Ctx) -> None:
    mk.keras_file(ctx, "lambda", ctx.sb / "m.keras")


def _keras_newline(ctx: Ctx) -> None:
    mk.keras_file(ctx, "newline", ctx.sb / "m.keras")


CASES_FROM = [
    cases_from("control-torch", TORCH + "plain", exits=frozenset({0})),
    cases_from("corrupt-keras", KERAS_FILE, setup=mk.file(KERAS_FILE, os.urandom(4096)),
               shape=""),
    cases_from("empty-keras", KERAS_FILE, setup=mk.file(KERAS_FILE, b""), shape=""),
    cases_from("zip-without-config-keras", KERAS_FILE, setup=lambda ctx: mk.npz(
        ctx.sb / "m.keras", {"other.txt": b"x"}), shape=""),
    cases_from("lambda-layer-keras", KERAS_FILE, setup=_keras_lambda, shape=""),
    cases_from("layer-name-newline-keras", KERAS_FILE, setup=_keras_newline, shape="",
               exits=OK),
    cases_from("corrupt-h5", "{sb}/m.h5", setup=mk.file("{sb}/m.h5", os.urandom(4096)),
               shape=""),
    cases_from("torch-newline-names", TORCH + "newline_names", exits=OK),
    cases_from("torch-escape-names", TORCH + "escape_names", exits=OK),
    cases_from("torch-forward-raises", TORCH + "raises_forward"),
    cases_from("torch-300-char-name", TORCH + "long_name", exits=OK),
    cases_from("input-shape-letters", TORCH + "plain", shape="1,a,8,8"),
    cases_from("input-shape-negative", TORCH + "plain", shape="-1,3,8,8"),
    cases_from("input-shape-zero", TORCH + "plain", shape="0,3,8,8", exits=OK),
    cases_from("input-shape-wrong-rank", TORCH + "plain", shape="1,3,8"),
    cases_from("input-shape-huge", TORCH + "plain", shape="99999999999,3,8,8", rss_mib=2048),
    cases_from("input-shape-2-to-the-31", TORCH + "plain", shape="1,3,46341,46341",
               rss_mib=2048),
    cases_from("input-shape-arabic-digits", TORCH + "plain", shape="١,3,٨,٨", exits=OK),
]


# --------------------------------------------------------------------- the runner itself

def selftest(id, code_text, classes, **kw) -> tuple[Attempt, frozenset]:
    kw.setdefault("exits", frozenset({0}))
    return Attempt(f"runner/{id}", "runner", [code_text], launcher="python", **kw), \
        frozenset(classes)


SELF_TESTS = [
    selftest("clean", "print('fine')", ()),
    selftest("refusal-with-error-line", "import sys; print('error: no', file=sys.stderr); "
             "sys.exit(2)", (), exits=REFUSED),
    selftest("refusal-without-error-line", "import sys; sys.exit(2)", {"BAD_EXIT"},
             exits=REFUSED),
    selftest("exit-not-allowed", "import sys; sys.exit(1)", {"BAD_EXIT"}),
    selftest("traceback", "raise ValueError('planted')", {"TRACEBACK", "BAD_EXIT"}),
    selftest("internal-error-line", "import sys; print('error: internal error: KeyError: 1', "
             "file=sys.stderr); sys.exit(2)", {"TRACEBACK"}, exits=REFUSED),
    selftest("timeout", "import time; time.sleep(60)", {"TIMEOUT"}, timeout=2),
    selftest("slow", "import time; time.sleep(1.5)", {"TIMEOUT"}, max_seconds=1),
    selftest("crash", "import os; os.kill(os.getpid(), 9)", {"CRASH"}),
    selftest("marker", "open('{marker}', 'w').close()", {"INJECTED"}),
    selftest("marker-by-touch", "import os; os.system('touch {sb}/PWNED-too')", {"INJECTED"}),
    selftest("outside-written", "open('{out}/sentinel.txt', 'a').write('x')",
             {"OUTSIDE_CHANGED"}),
    selftest("outside-chmod", "import os; os.chmod('{out}/sentinel.py', 0o755)",
             {"OUTSIDE_CHANGED"}),
    selftest("outside-created", "open('{out}/pages/new.html', 'w').close()",
             {"OUTSIDE_CHANGED"}),
    selftest("outside-removed", f"import shutil; shutil.rmtree('{{out}}/pages/{TOKEN}')",
             {"OUTSIDE_CHANGED"}),
    selftest("daemon-left-behind", "import subprocess; subprocess.Popen(['sleep', '60'], "
             "start_new_session=True)", {"LEFTOVER_PROCESS"}),
    selftest("child-left-behind", "import subprocess; subprocess.Popen(['sleep', '60'])",
             {"LEFTOVER_PROCESS"}),
    selftest("raw-escape", "print('\\x1b[31mred')", {"RAW_CONTROL"}),
    selftest("raw-bidi", "import sys; print('\\u202e', file=sys.stderr)", {"RAW_CONTROL"}),
    selftest("escaped-is-fine", "print(repr('\\x1b[31m'))", ()),
    selftest("secret-printed", "print(open('{out}/sentinel.txt').read())", {"LEAKED"}),
    selftest("secret-written", "import shutil; shutil.copy('{out}/secret.env', '{sb}/x')",
             {"LEAKED"}),
    selftest("clobbered", "open('{sb}/keep.txt', 'w').write('gone')", {"CLOBBERED"},
             setup=mk.file("{sb}/keep.txt", "KEEP\n"), keep=("{sb}/keep.txt",)),
    selftest("memory", "b = bytearray(300 << 20); b[::4096] = b'x' * len(b[::4096]); "
             "import time; time.sleep(0.2)",   # held past a poll of the runner's
             {"MEMORY"}, rss_mib=150),
    selftest("disk-quota", "with open('{sb}/big', 'w') as f: f.write('x' * 100)",
             {"TRACEBACK", "BAD_EXIT"}, fsize=16),
    selftest("yaml-unloadable", "open('{sb}/x.yaml', 'w').write('id: a\\x1b\\n')",
             {"UNLOADABLE_OUTPUT"}, yamls=("{sb}/x.yaml",)),
    selftest("yaml-injected-case", "open('{sb}/x.yaml', 'w').write("
             "'- id: injected-case\\n  op: conv1d\\n  grads: [y]\\n  input_size: [4]\\n"
             "  kernel_size: [2]\\n"
             "  x: {random: normal}\\n  w: {random: normal}\\n')",
             {"INJECTED"}, yamls=("{sb}/x.yaml",)),
    selftest("script-syntax", "open('{sb}/s.py', 'w').write('def (:')", {"UNLOADABLE_OUTPUT"},
             scripts=("{sb}/s.py",)),
    selftest("script-nul", "open('{sb}/s.py', 'w').write('x = 1\\x00')",
             {"UNLOADABLE_OUTPUT", "RAW_CONTROL"}, scripts=("{sb}/s.py",)),
    selftest("script-injects", "open('{sb}/s.py', 'w').write(\"open('{marker}', 'w')\")",
             {"INJECTED"}, scripts=("{sb}/s.py",)),
    selftest("script-exit-1", "open('{sb}/s.py', 'w').write('raise SystemExit(1)')",
             {"BAD_EXIT"}, scripts=("{sb}/s.py",)),
    selftest("script-framework-blocked", "open('{sb}/s.py', 'w').write("
             "'import sys\\ntry:\\n    import tensorflow\\nexcept ImportError:\\n"
             "    sys.exit(2)\\nsys.exit(0)')", (), scripts=("{sb}/s.py",)),
    selftest("forbidden-markup", "open('{sb}/d.md', 'w').write('# INJECTED')", {"INJECTED"},
             forbid=(("{sb}/d.md", r"(?m)^# INJECTED"),)),
]


def test_the_runner_classifies_what_it_is_shown(tmp_path, plugins):
    """Each planted misbehaviour is classified as itself, and nothing else is: the corpus's
    verdicts are the runner's, so the runner is tested first."""
    def one(i):
        attempt, expected = SELF_TESTS[i]
        result = run_attempt(attempt, tmp_path / str(i), plugins, tmp_path)
        return "" if set(result.classes()) == expected else \
            f"{attempt.id}: expected {sorted(expected)}, got {result.defects}"
    with ThreadPoolExecutor(max_workers=3) as pool:
        wrong = [w for w in pool.map(one, range(len(SELF_TESTS))) if w]
    assert not wrong, "\n".join(wrong)


# --------------------------------------------------------------------- the corpus

CORPUS = (REPRO_RECORDS + REPRO_CASES + OUTPUT_PLACES + SHRINK + FUZZ + DIFF + REPORT
          + IMPL_MODULES + LIMITATIONS + PYTEST)
FRAMEWORK_CORPUS = CASES_FROM + CASES_FROM_PLACES


def test_the_corpus_is_large_and_covers_every_surface():
    ids = [a.id for a in CORPUS + FRAMEWORK_CORPUS]
    assert len(ids) == len(set(ids)) and len(ids) >= 110
    surfaces = {a.surface for a in CORPUS + FRAMEWORK_CORPUS}
    assert {"repro (record)", "repro (case file)", "shrink", "fuzz", "diff", "report",
            "impl-module", "limitations", "pytest plug-in", "output place",
            "cases-from"} <= surfaces
    assert not [a.id for a in CORPUS if a.frameworks]


@pytest.fixture(scope="module")
def plugins(tmp_path_factory) -> Path:
    return install(tmp_path_factory.mktemp("tools-plugins") / "dist")


@pytest.fixture(scope="module")
def assets(tmp_path_factory, plugins) -> Path:
    """What several attempts start from: a real record of the toy frameworks' run."""
    folder = tmp_path_factory.mktemp("tools-assets")
    mk.make_assets(folder, plugins)
    return folder


def _run_all(attempts, request, tmp_path_factory, plugins, assets, workers: int = 3) -> dict:
    """Every selected attempt, three at a time (an attempt that hangs mostly sleeps), the
    ones that may hang first."""
    chosen = {item.callspec.params["attempt"].id for item in request.session.items
              if item.module is request.module and hasattr(item, "callspec")
              and "attempt" in item.callspec.params}
    todo = sorted((a for a in attempts if a.id in chosen), key=lambda a: -a.timeout)
    base = tmp_path_factory.mktemp("hostile-tools")
    started = time.monotonic()

    def one(i_attempt):
        i, attempt = i_attempt
        return attempt.id, run_attempt(attempt, base / f"{i:03d}", plugins, assets)
    with ThreadPoolExecutor(max_workers=workers) as pool:
        results = dict(pool.map(one, enumerate(todo)))
    results["__seconds__"] = time.monotonic() - started
    return results


@pytest.fixture(scope="module")
def outcomes(request, tmp_path_factory, plugins, assets) -> dict:
    return _run_all(CORPUS, request, tmp_path_factory, plugins, assets)


@pytest.fixture(scope="module")
def framework_outcomes(request, tmp_path_factory, plugins, assets) -> dict:
    return _run_all(FRAMEWORK_CORPUS, request, tmp_path_factory, plugins, assets)


def _judge(result: Result) -> None:
    if result.skipped:
        pytest.skip(result.skipped)
    assert not result.defects, summary(result)


@pytest.mark.parametrize("attempt", CORPUS, ids=str)
def test_hostile_tool_input(attempt: Attempt, outcomes):
    _judge(outcomes[attempt.id])


@pytest.mark.frameworks
@pytest.mark.parametrize("attempt", FRAMEWORK_CORPUS, ids=str)
def test_hostile_model_input(attempt: Attempt, framework_outcomes):
    pytest.importorskip("torch")
    _judge(framework_outcomes[attempt.id])
