"""The hostile-input corpus (issue 12): what a hostile user, plug-in, worker or disk can hand
convgrad, each input with the outcome it must have.

Every entry runs ``python -m harness.frontends.cli`` in a subprocess bounded in time (``TIMEOUT_S``)
and in memory (``RLIMIT_AS`` of ``MEMORY``, inherited by its workers) and must end in one
of two ways, never in a traceback:

* ``refused``: exit 2 and one line on stderr, ``error: ...`` (argparse's refusals add its
  usage line), nothing on stdout;
* ``judged``: a run that finishes (exit 0 or 1), a complete record that the published schema
  accepts, a report that carries the same run id, the hostile impl's verdicts all
  ``error`` saying what went wrong (or ``pass`` / ``skipped`` where the attack must not
  matter), ``planted.correct`` beside it passing;
* ``rendered``: ``convgrad report`` / ``merge`` of a hostile record, exit 0, bounded output.

Nothing printed may carry a raw control or bidi character. Hostile plug-ins
(tests/hostile/impls.py) are installed through the ``convgrad.impls`` entry-point group
of a throw-away distribution; case files and records are in tests/hostile/cases and
tests/hostile/records (made by records/make.py); inputs that cannot live in git (FIFOs,
links, a 200 MB file, read-only or full file systems) are made by each entry's setup.
No framework is needed.
"""
from __future__ import annotations

import fcntl
import os
import re
import shutil
import stat
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Optional

import pytest

from harness.backend import procs
from harness.record import run_record as record_mod
from tests.hostile import install_plugins

REPO = Path(__file__).resolve().parents[1]
HOSTILE = REPO / "tests" / "hostile"
CASES, RECORDS = HOSTILE / "cases", HOSTILE / "records"
ARTICLE_DX = "cases/article/1-valid-dx.yaml"
TIMEOUT_S = 60
MEMORY = 1 << 30
SECRET = "s3cr3t-do-not-print-7f3a"
RAW_CONTROL = re.compile("[\x00-\x08\x0b-\x1f\x7f\u202a-\u202e\u2066-\u2069]")
RUN_ID = re.compile(r'<meta name="convgrad-run-id" content="([^"]+)">')


# The CLI under RLIMIT_AS, set in the child itself (a preexec_fn would fork this
# process, threads and all).
BOUNDED_CLI = ("import resource, runpy, sys; "
               f"resource.setrlimit(resource.RLIMIT_AS, ({MEMORY}, {MEMORY})); "
               "sys.argv[0] = 'convgrad'; runpy.run_module('harness.frontends.cli', run_name='__main__')")


@pytest.fixture(scope="module")
def plugins(tmp_path_factory) -> dict[str, Path]:
    """Throw-away distributions: ``hostile`` registers planted.correct and every hostile
    impl; ``broken`` adds a plug-in whose module does not exist."""
    root = tmp_path_factory.mktemp("plugins")
    return {"hostile": install_plugins(root / "hostile"),
            "broken": install_plugins(root / "broken",
                                      ("broken = tests.hostile.no_such_module:Impl",))}


def convgrad(argv: list[str], plugins: Path, tmp: Path, timeout: float = TIMEOUT_S,
             **popen) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": f"{plugins}{os.pathsep}{REPO}",
           "OPENBLAS_NUM_THREADS": "1", "HOSTILE_PIDS": str(tmp / "pids"),
           "CONVGRAD_TEST_SECRET": SECRET}
    return subprocess.run([sys.executable, "-c", BOUNDED_CLI, *argv], cwd=REPO, env=env,
                          capture_output=True, text=True, errors="surrogateescape",
                          timeout=timeout, **popen)


# --------------------------------------------------------------------- the table

@dataclass
class Entry:
    id: str
    category: str
    argv: list[str]                       # {tmp} is the entry's own temporary directory
    outcome: str                          # refused | judged | rendered
    expect: str = ""                      # refused: the error line; judged: the message
    exit: Optional[int] = None
    impl: str = ""                        # judged: the hostile impl
    status: str = "error"                 # judged: the status of every one of its verdicts
    setup: Optional[Callable[[Path], None]] = None
    plugins: str = "hostile"              # which throw-away distribution is installed
    check: Optional[Callable[[Path, subprocess.CompletedProcess], None]] = None
    needs_root: bool = False
    quiet: bool = True                    # refused: nothing on stdout
    timeout: float = TIMEOUT_S

    def __str__(self) -> str:
        return self.id


def refused(id, category, argv, expect, **kw) -> Entry:
    return Entry(id, category, argv, "refused", expect, exit=2, **kw)


def judged(id, category, impl, expect, *, status="error", exit=None, case=ARTICLE_DX,
           extra=(), **kw) -> Entry:
    argv = ["run", case, "--impl", f"{impl},planted.correct", "--out", "{tmp}/out",
            "--jobs", "2", *extra]
    return Entry(id, category, argv, "judged", expect, impl=impl, status=status,
                 exit=exit if exit is not None else (0 if status in ("pass", "skipped") else 1),
                 **kw)


def report_of(name: str, expect: str = "", outcome: str = "refused", **kw) -> Entry:
    argv = ["report", str(RECORDS / name), "-o", "{tmp}/report.html"]
    if outcome == "refused":
        return refused(f"record/{name}", "record", argv, expect, **kw)
    return Entry(f"record/{name}", "record", argv, "rendered", expect, exit=0, **kw)


# -- setups: inputs that cannot be kept in git

def _fifo(name):
    def setup(tmp):
        (tmp / name).parent.mkdir(parents=True, exist_ok=True)
        os.mkfifo(tmp / name)
    return setup


def _sparse(name, size):
    def setup(tmp):
        with open(tmp / name, "wb") as f:
            f.truncate(size)
    return setup


def _link(name, target):
    def setup(tmp):
        (tmp / name).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(REPO / ARTICLE_DX, (tmp / name).parent / "ok.yaml")
        os.symlink(str(target).format(tmp=tmp), tmp / name)
    return setup


def _env_file(tmp):
    (tmp / ".env").write_text(f"SECRET_KEY={SECRET}\n")
    _link("cases/env.yaml", "{tmp}/.env")(tmp)


# The rest of a valid conv1d case: a file that is hostile in one key has no other problem.
SHAPES_1D = ("input_size: [4]\nkernel_size: [2]\nx: {random: normal}\nw: {random: normal}\n"
             "dy: {random: normal}\n")


def _file(name, text=""):
    def setup(tmp):
        (tmp / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp / name).write_text(text)
    return setup


def _mount(options):
    def setup(tmp):
        (tmp / "mnt").mkdir()
        done = subprocess.run(["mount", "-t", "tmpfs", "-o", options, "tmpfs",
                               str(tmp / "mnt")], capture_output=True)
        if done.returncode:
            pytest.skip(f"cannot mount a tmpfs here: {done.stderr.decode().strip()}")
    return setup


_HELD: dict[Path, int] = {}


def _locked(tmp):
    """Another run holds the output directory's lock (an flock, as a run takes it)."""
    (tmp / "out" / ".convgrad").mkdir(parents=True)
    fd = os.open(tmp / "out" / ".convgrad" / "lock", os.O_RDWR | os.O_CREAT)
    fcntl.flock(fd, fcntl.LOCK_EX)
    os.write(fd, b"4242\n")
    _HELD[tmp] = fd


def _unlock(tmp, done):
    os.close(_HELD.pop(tmp))
    assert not (tmp / "out" / "results.json").exists()


def _no_secret(tmp, done):
    assert SECRET not in done.stdout + done.stderr


def _no_passwd(tmp, done):
    assert "root:" not in done.stdout + done.stderr


def _pids_dead(tmp, done):
    pids = [int(p) for p in (tmp / "pids").read_text().split()]
    assert len(pids) >= 4
    deadline = time.monotonic() + 5
    while any(procs.alive(p) for p in pids) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not [p for p in pids if procs.alive(p)], "a process started by the run outlived it"


def _no_marker(tmp, done):
    assert not Path("/tmp/convgrad-pwned").exists()


def _rescued(tmp, done):
    kept = re.search(r"they are kept in (\S+?)/? \(", done.stderr).group(1)
    record = record_mod.read(Path(kept) / "results.json")
    assert RUN_ID.search((Path(kept) / "index.html").read_text()).group(1) == record["run_id"]
    assert not list((tmp / "mnt" / ".convgrad" / "runs").glob("*"))   # no half-written set
    shutil.rmtree(kept)


def _device_kept(path):
    def check(tmp, done):
        assert stat.S_ISCHR(os.stat(path).st_mode)
    return check


def _repro_is_quoted(tmp, done):
    """Paste the reproduce line into a shell whose convgrad only prints its arguments."""
    line = next(ln for ln in done.stdout.splitlines() if "reproduce:" in ln)
    command = line.split("reproduce: ", 1)[1]
    shell = subprocess.run(["bash", "-c", 'convgrad() { printf "%s\\n" "$@"; }\n' + command],
                           capture_output=True, text=True, cwd=tmp, timeout=10)
    args = shell.stdout.split("\n")
    assert args[:3] == ["run", str(CASES / "shell-id.yaml"), "-k"] and args[3] == "hostile/x';touch${IFS}/tmp/convgrad-pwned;echo${IFS}'"
    assert not Path("/tmp/convgrad-pwned").exists()


def _merged_reads_back(tmp, done):
    merged = record_mod.read(tmp / "merged.json")
    stats = [v["stats"] for v in merged["verdicts"] if v["stats"]]
    values = {value for s in stats for value in s.values() if isinstance(value, str)}
    assert {"nan", "inf", "-inf"} <= values


def _html_bounded(tmp, done):
    assert (tmp / "report.html").stat().st_size < 2 << 20


CASE_FILES = [
    refused("case/hundred-matrices", "case file", ["run", str(CASES / "hundred-matrices.yaml")],
            r"hundred-matrices.yaml:12: the file expands to more than 10000 cases"),
    refused("case/padded-input-astronomical", "case file",
            ["run", str(CASES / "padded-input-astronomical.yaml")],
            r"padding: the input padded by .* has 37778938618357005418504 elements; the "
            r"limit is 16777216"),
    refused("case/same-huge-dilation", "case file",
            ["run", str(CASES / "same-huge-dilation.yaml")], r"the input padded by"),
    refused("case/taps-2-24", "case file", ["run", str(CASES / "taps-2-24.yaml")],
            r"needs 824658886656 multiply-adds of oracle work"),
    refused("case/taps-conv1d", "case file", ["run", str(CASES / "taps-conv1d.yaml")],
            r"multiply-adds of oracle work"),
    refused("case/macs-2-32", "case file", ["run", str(CASES / "macs-2-32.yaml")],
            r"needs 3624321024 multiply-adds of oracle work"),
    refused("case/deep-nesting", "case file", ["run", str(CASES / "deep-nesting.yaml")],
            r"nesting deeper than 64 levels"),
    refused("case/alias-bomb", "case file", ["run", str(CASES / "alias-bomb.yaml")],
            r"alias \*a is not allowed"),
    refused("case/python-tag", "case file", ["run", str(CASES / "python-tag.yaml")],
            r"tag '!!python/object/apply:os.system' is not allowed", check=_no_marker),
    refused("case/huge-integer", "case file", ["run", str(CASES / "huge-integer.yaml")],
            r"cannot read '9{27}\.\.\.': Exceeds the limit"),
    refused("case/huge-float", "case file", ["run", str(CASES / "huge-float.yaml")],
            r"x.constant: expected a number"),
    refused("case/control-char", "case file", ["run", str(CASES / "control-char.yaml")],
            r"character U\+0007 is not allowed"),
    refused("case/not-utf8", "case file", ["run", str(CASES / "not-utf8.yaml")],
            r"not UTF-8 \(byte 0x80 at offset 0\)"),
    refused("case/nul-byte", "case file", ["run", str(CASES / "nul-byte.yaml")],
            r"character U\+0000 is not allowed"),
    refused("case/100KB-id", "case file", ["run", "{tmp}/id.yaml"],
            r"^error: .*id.yaml:1: case '(x){197}\.\.\.': id: 'x{56}\.\.\. is 100000 "
            r"characters long; the limit is 200$",
            setup=_file("id.yaml", "id: " + "x" * 100_000 + "\nop: conv1d\n" + SHAPES_1D)),
    refused("case/100KB-key", "case file", ["run", "{tmp}/key.yaml"],
            r"^error: .*key.yaml:3: case 'k': (y){197}\.\.\.: unknown key; known keys: .{0,400}$",
            setup=_file("key.yaml", "id: k\nop: conv1d\n? " + "y" * 100_000 + "\n: 1\n"
                        + SHAPES_1D)),
    refused("case/dev-urandom", "case file", ["run", "/dev/urandom"],
            r"/dev/urandom:0: is a character device, not a case file"),
    refused("case/dev-zero", "case file", ["run", "/dev/zero"], r"is a character device"),
    refused("case/known-file-dev-zero", "case file",
            ["run", ARTICLE_DX, "--known", "/dev/zero"],
            r"/dev/zero:0: is a character device, not a known-discrepancies file"),
    refused("case/limitations-file-fifo", "case file",
            ["run", ARTICLE_DX, "--limitations", "{tmp}/limits.yaml"],
            r"limits.yaml:0: is a FIFO \(named pipe\), not a limitations file",
            setup=_fifo("limits.yaml"), timeout=20),
    refused("case/dev-null", "case file", ["run", "/dev/null"], r"is a character device"),
    refused("case/fifo", "case file", ["run", "{tmp}/fifo.yaml"],
            r"fifo.yaml:0: is a FIFO \(named pipe\), not a case file", setup=_fifo("fifo.yaml"),
            timeout=20),
    refused("case/fifo-in-tree", "case file", ["run", "{tmp}/cases"],
            r"cases/a.yaml:0: is a FIFO", setup=_fifo("cases/a.yaml"), timeout=20),
    refused("case/200MB", "case file", ["run", "{tmp}/big.yaml"],
            r"file is 209715200 bytes; case files are limited to 8388608",
            setup=_sparse("big.yaml", 200 << 20)),
    refused("case/8MiB-plus-1", "case file", ["run", "{tmp}/big.yaml"],
            r"file is 8388609 bytes", setup=_sparse("big.yaml", (8 << 20) + 1)),
    refused("case/symlink-loop", "case file", ["run", "{tmp}/loop"],
            r"loop:0: cannot read: Too many levels of symbolic links",
            setup=_link("loop", "{tmp}/loop")),
    refused("case/link-to-etc-passwd", "case file", ["run", "{tmp}/cases"],
            r"cases/passwd.yaml:0: a symbolic link to a file outside .*/cases \(not followed",
            setup=_link("cases/passwd.yaml", "/etc/passwd"), check=_no_passwd),
    refused("case/link-to-dotenv", "case file", ["run", "{tmp}/cases"],
            r"cases/env.yaml:0: a symbolic link to a file outside", setup=_env_file,
            check=_no_secret),
    refused("case/link-to-etc-dir", "case file", ["run", "{tmp}/cases"],
            r"cases/etc:0: a symbolic link to a directory outside", setup=_link("cases/etc",
                                                                              "/etc")),
    refused("case/dangling-link", "case file", ["run", "{tmp}/cases"],
            r"cases/gone.yaml:0: a symbolic link that leads nowhere",
            setup=_link("cases/gone.yaml", "{tmp}/nothing")),
    refused("case/proc-environ", "case file", ["run", "/proc/self/environ"],
            r"/proc/self/environ:1: invalid YAML: character U\+0000", check=_no_secret),
    refused("case/directory-named-yaml-in-tree", "case file", ["run", "{tmp}/cases"],
            r"no cases found", setup=lambda tmp: (tmp / "cases" / "d.yaml").mkdir(parents=True)),
    judged("case/link-loop-in-tree-not-followed", "case file", "hostile.prints_to_stdout", "",
           status="pass", case="{tmp}/cases", setup=_link("cases/loop", "{tmp}/cases")),
    judged("case/link-inside-tree-followed", "case file", "hostile.prints_to_stdout", "",
           status="pass", case="{tmp}/cases", setup=_link("cases/again.yml", "{tmp}/cases/ok.yaml")),
]

TERMINAL = [
    judged("terminal/ansi-case-id", "terminal", "hostile.returns_string", "returned str",
           case=str(CASES / "ansi-id.yaml")),
    judged("terminal/ansi-source-and-claim", "terminal", "hostile.returns_string",
           "returned str", case=str(CASES / "ansi-source.yaml"),
           check=lambda tmp, done: re.search(r"WRONG CLAIM .*\\x1b\[31mred", done.stdout)),
    judged("terminal/shell-injection-case-id", "terminal", "hostile.returns_string",
           "returned str", case=str(CASES / "shell-id.yaml"), check=_repro_is_quoted),
    judged("terminal/ansi-framework-message", "terminal", "hostile.ansi_message",
           r"RuntimeError: \x1b\[2J\x1b\]0;pwned\x07 \u202eevil"),
]

RECORD_FILES = [
    report_of("truncated.json", r"not a readable JSON run record: Unterminated string"),
    report_of("empty.json", r"not a readable JSON run record: Expecting value"),
    report_of("binary.json", r"not UTF-8 \(byte 0x80 at offset 128\)"),
    report_of("utf16.json", r"not UTF-8 \(byte 0xff at offset 0\)"),
    report_of("json-list.json", r"not a convgrad run record"),
    report_of("not-a-record.json", r"not a convgrad run record"),
    report_of("deep-list.json", r"its JSON nests 100000 levels deep; a run record nests at "
                                r"most 32"),
    report_of("deep-object.json", r"its JSON nests 5000 levels deep"),
    report_of("deep-environment.json", r"not a valid run record: \$\.environment\.extra"),
    report_of("huge-integer.json", r"Exceeds the limit \(4300 digits\)"),
    report_of("huge-integer-shape.json", r"\$\.cases\[0\]\.inputs\.x\.shape\[0\]: "
                                         r"18446744073709551616 is greater than the maximum"),
    report_of("negative-size.json", r"\$\.cases\[0\]\.axes\[0\]\.size: -5 is less than"),
    report_of("schema-version-string.json", r'"schema_version" is the string "1", not an '
                                            r"integer; this convgrad reads run records of "
                                            r"schema version 2"),
    report_of("schema-version-bool.json", r'"schema_version" is the boolean true'),
    report_of("schema-version-1.json", r"run record schema version 1; this convgrad reads "
                                       r"version 2"),
    report_of("wrong-verdicts-type.json", r"\$\.verdicts: .* is not of type 'array'"),
    report_of("wrong-status.json", r"\$\.verdicts\[0\]\.status: 'owned' is not one of"),
    report_of("wrong-size-type.json", r"\$\.cases\[0\]\.axes\[0\]\.size: 'big' is not of "
                                      r"type 'integer'"),
    report_of("wrong-message-type.json", r"\$\.verdicts\[0\]\.message: .* is not of type"),
    report_of("wrong-impls-type.json", r"\$\.impls: 'tf\.backprop' is not of type 'array'"),
    report_of("claimed-shape-1e8.json", outcome="rendered", check=_html_bounded),
    report_of("axes-1e15.json", outcome="rendered", check=_html_bounded),
    report_of("plane-mismatch.json", outcome="rendered", check=_html_bounded),
    report_of("ragged-data.json", outcome="rendered", check=_html_bounded),
    report_of("control-chars.json", outcome="rendered", check=lambda tmp, done: (
        "<script>alert" not in (tmp / "report.html").read_text())),
    report_of("lone-surrogate.json", outcome="rendered"),
    report_of("nan-tokens.json", outcome="rendered"),
    report_of("no-run-id.json", outcome="rendered"),
    report_of("base.json", outcome="rendered"),
    Entry("record/nan-tokens-merged-and-read-back", "record",
          ["merge", str(RECORDS / "nan-tokens.json"), "-o", "{tmp}/merged.json"], "rendered",
          exit=0, check=_merged_reads_back),
    refused("record/merge-duplicate-escaped", "record",
            ["merge", str(RECORDS / "control-chars.json"), str(RECORDS / "base.json"),
             "-o", "{tmp}/m.json"], r"'article/valid-dw' \[.*\] \w+ is judged in both"),
    refused("record/dev-urandom", "record", ["report", "/dev/urandom", "-o", "{tmp}/r.html"],
            r"/dev/urandom: is a character device, not a run record"),
    refused("record/fifo", "record", ["report", "{tmp}/r.json", "-o", "{tmp}/r.html"],
            r"is a FIFO \(named pipe\), not a run record", setup=_fifo("r.json"), timeout=20),
    refused("record/directory", "record", ["report", "{tmp}", "-o", "{tmp}/r.html"],
            r"is a directory, not a run record"),
    refused("record/200MB", "record", ["report", "{tmp}/r.json", "-o", "{tmp}/r.html"],
            r"file is 209715200 bytes; run records are limited to 134217728",
            setup=_sparse("r.json", 200 << 20)),
    refused("record/missing", "record", ["merge", "{tmp}/nope.json", "-o", "{tmp}/m.json"],
            r"nope.json: no such file or directory"),
]

WORKERS = [
    judged("worker/garbage-bytes", "worker", "hostile.garbage",
           r"not a reply: its header announces 75225379655\d+ bytes; a reply to this request "
           r"is at most \d+ \(worker killed\)"),
    judged("worker/garbage-after-a-header", "worker", "hostile.garbage_framed",
           r"not a reply: UnpicklingError"),
    judged("worker/header-2-60", "worker", "hostile.huge_header",
           r"its header announces 1152921504606846976 bytes"),
    judged("worker/truncated-reply", "worker", "hostile.truncated",
           r"worker exited with status 0"),
    judged("worker/trickling-reply", "worker", "hostile.trickle",
           r"timeout: no answer within 3 s \(worker killed\)", extra=["--timeout", "3"]),
    judged("worker/wrong-shape-reply", "worker", "hostile.wrong_shape_reply",
           r"not a reply: a run is not a mapping|expected 1 run\(s\) of outcomes"),
    judged("worker/wrong-kind-reply", "worker", "hostile.wrong_kind_reply",
           r"not a reply: a reply of kind 'hello'"),
    judged("worker/not-a-pair-reply", "worker", "hostile.not_a_pair_reply",
           r"not a reply: a dict instead of a \(kind, payload\) pair"),
    judged("worker/bad-outcome-fields", "worker", "hostile.bad_fields_reply",
           r"the outcome of dx: its error is not text"),
    judged("worker/code-in-reply", "worker", "hostile.code_in_reply",
           r"a reply may not hold posix\.system", check=_no_marker),
    judged("worker/allocating-reply", "worker", "hostile.allocating_reply",
           r"a reply may not hold builtins\.bytearray"),
    judged("worker/preallocated-array", "worker", "hostile.preallocated_array",
           r"an array preallocated with a shape"),
    judged("worker/closes-reply-pipe", "worker", "hostile.closes_reply_pipe",
           r"closed its reply pipe \(worker killed\)"),
    judged("worker/values-far-too-large", "worker", "hostile.huge_values",
           r"its header announces 80000\d+ bytes"),
    judged("worker/exits-0", "worker", "hostile.exits_zero", r"worker exited with status 0"),
    judged("worker/sigkill", "worker", "hostile.kills_itself", r"worker killed by SIGKILL"),
    judged("worker/segfault", "worker", "hostile.segfaults", r"worker killed by SIGSEGV"),
    judged("worker/keyboard-interrupt", "worker", "hostile.keyboard_interrupt",
           r"worker killed by SIGINT|worker exited"),
    judged("worker/300MB-stderr", "worker", "hostile.floods_stderr",
           r"worker killed by SIGABRT\nlast lines of its stderr:\n(.|\n)*the very last line"),
    judged("worker/prints-to-stdout", "worker", "hostile.prints_to_stdout", "",
           status="pass"),
    judged("worker/forks", "worker", "hostile.forks", "", status="pass", check=_pids_dead),
    judged("worker/forks-then-crashes", "worker", "hostile.forks_then_crashes",
           r"worker killed by SIGABRT", check=_pids_dead),
    judged("worker/forks-then-hangs", "worker", "hostile.forks_then_hangs",
           r"timeout: no answer within 3 s", extra=["--timeout", "3"], check=_pids_dead),
]

PLUGINS = [
    judged("plugin/system-exit", "plug-in", "hostile.system_exit",
           r"SystemExit: planted exit"),
    judged("plugin/system-exit-in-process", "plug-in", "hostile.system_exit",
           r"SystemExit: planted exit", extra=["--in-process"]),
    judged("plugin/returns-complex", "plug-in", "hostile.returns_complex",
           r"values are complex \(complex128\)"),
    judged("plugin/returns-objects", "plug-in", "hostile.returns_objects",
           r"a object instead of an Outcome"),
    judged("plugin/returns-string", "plug-in", "hostile.returns_string",
           r"compute\(\) returned str, not a mapping"),
    judged("plugin/returns-string-in-process", "plug-in", "hostile.returns_string",
           r"compute\(\) returned str", extra=["--in-process"]),
    judged("plugin/note-without-text", "plug-in", "hostile.unprintable_note",
           r"RuntimeError: no text for you"),
    judged("plugin/version-raises", "plug-in", "hostile.version_raises",
           r"failed to import: RuntimeError: \x1b\[31mno version", status="skipped"),
    judged("plugin/module-missing", "plug-in", "plugin.broken",
           r"plug-in entry point broken = tests\.hostile\.no_such_module:Impl failed to load: "
           r"ModuleNotFoundError", status="skipped", plugins="broken"),
]

OUTPUT_PLACES = [
    refused("out/regular-file", "output place", ["run", ARTICLE_DX, "--out", "{tmp}/f"],
            r"--out .*/f: is a regular file, not a directory", setup=_file("f")),
    refused("out/under-a-file", "output place", ["run", ARTICLE_DX, "--out", "{tmp}/f/out"],
            r"--out .*/f/out: cannot create the directory: Not a directory",
            setup=_file("f")),
    refused("out/in-proc", "output place", ["run", ARTICLE_DX, "--out", "/proc/convgrad-out"],
            r"--out /proc/convgrad-out: cannot create the directory"),
    refused("out/dev-null", "output place", ["run", ARTICLE_DX, "--out", "/dev/null"],
            r"--out /dev/null: is a character device, not a directory"),
    refused("out/link-to-a-file", "output place", ["run", ARTICLE_DX, "--out", "{tmp}/l"],
            r"is a regular file, not a directory", setup=_link("l", REPO / ARTICLE_DX)),
    refused("out/dangling-link", "output place", ["run", ARTICLE_DX, "--out", "{tmp}/l"],
            r"--out .*/l: cannot create the directory: File exists",
            setup=_link("l", "{tmp}/nowhere")),
    refused("out/read-only", "output place", ["run", ARTICLE_DX, "--out", "{tmp}/mnt/out"],
            r"--out .*/mnt/out: cannot create the directory: Read-only file system",
            setup=_mount("ro,size=64k"), needs_root=True),
    refused("out/locked-by-another-run", "output place",
            ["run", ARTICLE_DX, "--out", "{tmp}/out"],
            r"--out .*/out is in use by another convgrad run \(pid 4242\); wait for it to "
            r"finish or choose another --out", setup=_locked, check=_unlock),
    refused("out/junit-is-a-directory", "output place",
            ["run", ARTICLE_DX, "--out", "{tmp}/out", "--junit", "{tmp}"],
            r"--junit .*: is a directory, not a file convgrad may replace"),
    refused("out/junit-under-a-file", "output place",
            ["run", ARTICLE_DX, "--out", "{tmp}/out", "--junit", "{tmp}/f/j.xml"],
            r"--junit .*/f/j\.xml: its folder .*/f: is a regular file, not a directory",
            setup=_file("f")),
    refused("out/junit-dev-stdout", "output place",
            ["run", ARTICLE_DX, "--out", "{tmp}/out", "--junit", "/dev/stdout"],
            r"--junit /dev/stdout: is a (FIFO|character device|regular file|socket|symbolic link)"),
    refused("out/disk-full", "output place",
            ["run", "cases/article", "--impl", "planted.correct", "--out", "{tmp}/mnt"],
            r"could not write the outputs to .*/mnt: No space left on device; they are kept in "
            r"\S+ \(results\.json, index\.html(, values\.npz)?\); .*/mnt still holds the previous "
            r"run's",
            setup=_mount("size=32k"), check=_rescued, needs_root=True, quiet=False),
    refused("out/report-to-dev-null", "output place",
            ["report", str(RECORDS / "base.json"), "-o", "/dev/null"],
            r"-o /dev/null: is a character device, not a file convgrad may replace",
            check=_device_kept("/dev/null")),
    refused("out/merge-to-dev-full", "output place",
            ["merge", str(RECORDS / "base.json"), "-o", "/dev/full"],
            r"-o /dev/full: is a character device", check=_device_kept("/dev/full")),
    refused("out/report-to-a-directory", "output place",
            ["report", str(RECORDS / "base.json"), "-o", "{tmp}"], r"is a directory"),
    refused("out/report-into-proc", "output place",
            ["report", str(RECORDS / "base.json"), "-o", "/proc/convgrad.html"],
            r"-o /proc/convgrad\.html: its folder /proc: cannot write there"),
]

SMALL = [
    refused(f"small/timeout-{text}", "small", ["run", ARTICLE_DX, f"--timeout={text}"],
            rf"argument --timeout: expected a positive finite number, got '{re.escape(text)}'")
    for text in ("inf", "nan", "0", "-1", "1e309", "-inf")
] + [
    refused("small/jobs-0", "small", ["run", ARTICLE_DX, "--jobs", "0"],
            r"argument --jobs: expected a worker count from 1 to 256"),
    refused("small/repeat-minus-1", "small", ["run", ARTICLE_DX, "--repeat", "-1"],
            r"argument --repeat: expected a repeat count from 1 to 1000"),
]

CORPUS = CASE_FILES + TERMINAL + RECORD_FILES + WORKERS + PLUGINS + OUTPUT_PLACES + SMALL


def test_the_corpus_is_large_and_covers_every_category():
    categories = {e.category for e in CORPUS}
    assert {"case file", "record", "plug-in", "worker", "output place", "terminal",
            "small"} <= categories
    assert len(CORPUS) >= 60 and len({e.id for e in CORPUS}) == len(CORPUS)


def _fill(argv: list[str], tmp: Path) -> list[str]:
    return [a.replace("{tmp}", str(tmp)) for a in argv]


@pytest.mark.parametrize("entry", CORPUS, ids=str)
def test_hostile_input(entry: Entry, plugins, tmp_path):
    if entry.needs_root and os.geteuid() != 0:
        pytest.skip("needs root (to mount a small or read-only file system)")
    mounted = tmp_path / "mnt"
    try:
        if entry.setup:
            entry.setup(tmp_path)
        start = time.monotonic()
        done = convgrad(_fill(entry.argv, tmp_path), plugins[entry.plugins], tmp_path,
                        timeout=entry.timeout)
        seconds = time.monotonic() - start
        _expect(entry, done, tmp_path)
        if entry.check:
            assert entry.check(tmp_path, done) is not False
        assert seconds < entry.timeout
    finally:
        if os.path.ismount(mounted):
            subprocess.run(["umount", str(mounted)], check=False)


def _expect(entry: Entry, done: subprocess.CompletedProcess, tmp: Path) -> None:
    out, err = done.stdout, done.stderr
    assert not re.search(r"^Traceback", out + err, re.M), err[-3000:]
    assert not RAW_CONTROL.search(out + err), "a raw control character reached the terminal"
    assert done.returncode == entry.exit, (done.returncode, err[-2000:])
    if entry.outcome == "refused":
        lines = err.strip().splitlines()
        if entry.argv[-2:-1] and lines and lines[0].startswith("usage:"):
            lines = lines[-1:]                  # argparse: its usage line, then the error
        assert len(lines) == 1, err
        assert re.search(entry.expect, lines[0]), lines[0]
        assert out == "" or not entry.quiet
        return
    if entry.outcome == "rendered":
        return
    record = record_mod.read(tmp / "out" / "results.json")
    html = (tmp / "out" / "index.html").read_text()
    assert RUN_ID.search(html).group(1) == record["run_id"]
    assert not record["incomplete"] and record["cases"]
    mine = [v for v in record["verdicts"] if v["impl"] == entry.impl]
    assert mine and all(v["status"] == entry.status for v in mine), \
        [(v["status"], v["message"][:300]) for v in mine]
    assert all(re.search(entry.expect, v["message"]) for v in mine), mine[0]["message"][:2000]
    assert all(v["status"] == "pass" for v in record["verdicts"]
               if v["impl"] == "planted.correct")
