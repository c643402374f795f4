"""The runner and classifier of the tools' hostile corpus (tests/test_hostile_tools.py).

One :class:`Attempt` is one hostile input to one command. :func:`run_attempt` gives it
a fresh sandbox (the command's working directory, holding copies of what it needs) and
an *outside* folder of sentinels (a secret, a script, a folder of report-page-like
render folders; plus the repository's article cases and ``/dev/full``, ``/dev/null``),
snapshots the outside (content, mode, mtime, link targets), runs the command in a
subprocess bounded in time, address space (``RLIMIT_AS``) and, for the full-disk
attempts, file size (``RLIMIT_FSIZE``: a write past it fails with ``EFBIG``, for root
too), in a session of its own, then classifies what happened. Every attempt is judged by
the same rules, each a class of defect:

``TRACEBACK``          stdout or stderr holds ``Traceback`` or ``INTERNALERROR``, or an
                       unexpected exception that a catch-all turned into an ``error:
                       internal error`` line
``TIMEOUT``            the command (or a script it wrote) ran past its time and was killed
``CRASH``              the command ended by a signal
``BAD_EXIT``           an exit status outside the attempt's allowed set, or a status 2
                       whose last line is not an ``error:`` line
``OUTSIDE_CHANGED``    a sentinel outside the sandbox changed, appeared, went, or changed
                       mode (made executable...)
``CLOBBERED``          a file in the sandbox that the attempt says must stay as it was (an
                       existing output where the new one cannot be written) changed
``INJECTED``           a marker file that injected code would create exists, or an output
                       holds structure a hostile text forged (a case, a heading, a tag)
``LEFTOVER_PROCESS``   a process of the attempt (its session, or carrying its token in
                       its environment) is alive after the command exited
``RAW_CONTROL``        a raw control, C1 or bidi character in stdout/stderr or in a
                       generated script
``UNLOADABLE_OUTPUT``  a case file written by a tool that the loader refuses; a generated
                       script that does not compile (or fails with a SyntaxError)
``LEAKED``             a secret (the sentinel's, /etc/passwd's first line, the
                       environment's) in stdout/stderr or in a written file
``MEMORY``             the command's peak resident memory exceeded the attempt's bound

A generated script is compiled, then run (``python -I``, so it cannot import convgrad)
with its framework for real where that is cheap (NumPy, JAX; when installed) and with the
framework's import blocked otherwise, which runs everything before the import (where
injected code would run) and must end in status 2, "cannot run here".
"""
from __future__ import annotations

import glob
import hashlib
import importlib.util
import json
import os
import re
import secrets
import shutil
import signal
import stat
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Iterable, Optional

REPO = Path(__file__).resolve().parents[2]
SECRET = "s3cr3t-do-not-print-7f3a"
PASSWD = "root:x:0:0"
MARKER = "PWNED"
GIB = 1 << 30
RAW_CONTROL = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069"
                         "\ud800-\udfff]")
TRACEBACK = re.compile(r"^(Traceback \(most recent call last\)|INTERNALERROR)"
                       r"|^error: internal error: ", re.M)   # the last: a catch-all's line
ERROR_LINE = re.compile(r"(^|: )error: ")
OUTPUT_CAP = 4 << 20                      # bytes kept of each stream

DEFECTS = ("TRACEBACK", "TIMEOUT", "CRASH", "BAD_EXIT", "OUTSIDE_CHANGED", "CLOBBERED",
           "INJECTED", "LEFTOVER_PROCESS", "RAW_CONTROL", "UNLOADABLE_OUTPUT", "LEAKED",
           "MEMORY")

# Limits set in the child itself (a preexec_fn would fork this threaded process).
PROLOGUE = (
    "import os, resource, runpy, sys\n"
    "for _name, _var in (('RLIMIT_AS', 'HOSTILE_RLIMIT_AS'), "
    "('RLIMIT_FSIZE', 'HOSTILE_RLIMIT_FSIZE')):\n"
    "    if os.environ.get(_var):\n"
    "        _n = int(os.environ[_var])\n"
    "        resource.setrlimit(getattr(resource, _name), (_n, _n))\n")
CLI = PROLOGUE + (
    "if os.environ.get('HOSTILE_TOYFW'):\n"
    "    from harness.backend import frameworks\n"
    "    frameworks.FRAMEWORKS.append(frameworks.Framework(\n"
    "        'numpy', 'numpy', 'tests.hostile_tools.toyfw', 'tests.hostile_tools.toyfw'))\n"
    "sys.argv[0] = 'convgrad'\n"
    "runpy.run_module('harness.frontends.cli', run_name='__main__', alter_sys=True)\n")
PYTEST = PROLOGUE + (
    "sys.argv[0] = 'pytest'\n"
    "runpy.run_module('pytest', run_name='__main__', alter_sys=True)\n")
PYTHON = PROLOGUE + (      # the runner's own tests: argv[0] is the code
    "sys.argv = sys.argv[1:]\n"
    "exec(compile(sys.argv[0], '<attempt>', 'exec'))\n")
SCRIPT = PROLOGUE + (
    "for _m in os.environ.get('HOSTILE_BLOCK', '').split(','):\n"
    "    if _m:\n"
    "        sys.modules[_m] = None     # its import raises ImportError\n"
    "sys.argv = sys.argv[1:]\n"
    "runpy.run_path(sys.argv[0], run_name='__main__')\n")
FRAMEWORK_IMPORT = re.compile(r"^\s*import (tensorflow|torch|jax)\b", re.M)
CHEAP_FRAMEWORKS = frozenset({"numpy", "jax"})


# --------------------------------------------------------------------- attempts

@dataclass
class Ctx:
    """The places of one attempt: ``sb`` (the sandbox, its working directory), ``out`` (the
    outside folder of sentinels), the marker injected code would create, the plug-ins."""
    sb: Path
    out: Path
    plugins: Path
    assets: Path = Path("/nonexistent")   # made once per session (a toy run's record)

    @property
    def marker(self) -> str:
        return str(self.sb / MARKER)

    def fill(self, text: str) -> str:
        return (text.replace("{sb}", str(self.sb)).replace("{out}", str(self.out))
                .replace("{repo}", str(REPO)).replace("{marker}", self.marker))


@dataclass
class Attempt:
    id: str
    surface: str
    argv: list[str]                      # after the launcher; {sb} {out} {repo} {marker}
    exits: frozenset[int] = frozenset({0, 2})
    setup: Optional[Callable[[Ctx], None]] = None
    launcher: str = "cli"                # cli | toy (cli + toy frameworks) | pytest | python
    scripts: tuple[str, ...] = ()        # generated scripts (globs) to compile and run
    script_exits: frozenset[int] = frozenset({0})   # of a script run with its framework
    real: frozenset[str] = CHEAP_FRAMEWORKS         # frameworks its scripts run for real
    yamls: tuple[str, ...] = ()          # case files (globs) a tool writes: must load
    keep: tuple[str, ...] = ()           # sandbox files that must stay as they were
    forbid: tuple[tuple[str, str], ...] = ()  # (where: stdout|stderr|glob, regex): INJECTED
    expect: str = ""                     # a regex stdout+stderr must match when exit != 0
    checks: tuple[Callable, ...] = ()    # (ctx, result) -> [(class, evidence)]
    timeout: float = 40.0
    max_seconds: float = 0.0             # TIMEOUT when it took longer (0: the timeout only)
    script_timeout: float = 40.0
    memory: int = GIB                    # RLIMIT_AS of the command
    rss_mib: int = 0                     # MEMORY above this peak RSS (0: not checked)
    fsize: int = 0                       # RLIMIT_FSIZE (0: none)
    mount: str = ""                      # "ro": a read-only tmpfs at {sb}/ro (needs root)
    env: dict = field(default_factory=dict)
    frameworks: bool = False             # needs TensorFlow / torch (the frameworks layer)

    def __str__(self) -> str:
        return self.id


@dataclass
class Proc:
    status: Optional[int]                # exit status; negative: killed by that signal
    stdout: str
    stderr: str
    seconds: float
    timed_out: bool
    maxrss_mib: float
    leftovers: list[str]
    cpu_s: float = 0.0                   # user + system, its reaped children included


@dataclass
class Result:
    attempt: Attempt
    proc: Optional[Proc] = None
    scripts: list[tuple[str, Proc]] = field(default_factory=list)
    defects: list[tuple[str, str]] = field(default_factory=list)
    skipped: str = ""

    def classes(self) -> list[str]:
        return sorted({c for c, _ in self.defects})


def excerpt(text: str, limit: int = 160) -> str:
    text = repr(text.strip())[1:-1]
    return text if len(text) <= limit else text[:limit - 3] + "..."


def last_line(text: str) -> str:
    lines = [ln for ln in text.splitlines() if ln.strip()]
    return lines[-1] if lines else ""


# --------------------------------------------------------------------- processes

def _session_of(pid: int) -> Optional[tuple[str, int]]:
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            text = f.read().decode(errors="replace")
    except OSError:
        return None
    fields = text[text.rfind(")") + 2:].split()
    return fields[0], int(fields[3])          # state, session id


def _carries(pid: int, token: bytes) -> bool:
    try:
        with open(f"/proc/{pid}/environ", "rb") as f:
            return token in f.read().split(b"\0")
    except OSError:
        return False


def _cmdline(pid: int) -> str:
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as f:
            return f.read().replace(b"\0", b" ").decode(errors="replace").strip()[:120]
    except OSError:
        return "?"


def attempt_processes(session: int, token: str) -> list[int]:
    """Live (not zombie) processes in ``session`` or carrying ``HOSTILE_TOKEN=token``."""
    me, found = os.getpid(), []
    tag = f"HOSTILE_TOKEN={token}".encode()
    for name in os.listdir("/proc"):
        if not name.isdigit() or int(name) == me:
            continue
        pid = int(name)
        info = _session_of(pid)
        if info is None or info[0] in ("Z", "X"):
            continue
        if info[1] == session or _carries(pid, tag):
            found.append(pid)
    return found


def _kill(pids: Iterable[int]) -> None:
    for pid in pids:
        try:
            os.kill(pid, signal.SIGKILL)
        except OSError:
            pass


def _reader(stream, sink: list) -> None:
    size = 0
    while True:
        chunk = stream.read(65536)
        if not chunk:
            break
        if size < OUTPUT_CAP:
            sink.append(chunk[:OUTPUT_CAP - size])
            size += len(chunk)


def _vm_mib(pid: str, field: str) -> float:
    """``field`` (VmRSS, VmHWM) of /proc/PID/status in MiB; 0 where it cannot be read."""
    try:
        with open(f"/proc/{pid}/status", encoding="ascii", errors="replace") as f:
            for line in f:
                if line.startswith(field + ":"):
                    return int(line.split()[1]) / 1024
    except (OSError, ValueError, IndexError):
        pass
    return 0.0


def run_bounded(argv: list[str], *, cwd: Path, env: dict, timeout: float) -> Proc:
    """Run ``argv`` in a session of its own; kill it (and its session) past ``timeout``;
    the processes of the attempt still alive after it exited are listed, then killed."""
    token = env["HOSTILE_TOKEN"]
    start = time.monotonic()
    proc = subprocess.Popen(argv, cwd=cwd, env=env, stdin=subprocess.DEVNULL,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            start_new_session=True)
    out: list[bytes] = []
    err: list[bytes] = []
    readers = [threading.Thread(target=_reader, args=(proc.stdout, out), daemon=True),
               threading.Thread(target=_reader, args=(proc.stderr, err), daemon=True)]
    for r in readers:
        r.start()
    timed_out, status, rusage = False, None, None
    # ru_maxrss of a child counts what it inherited at fork, before its exec: this
    # process's own peak (the forked memory map carries its high-water mark; a pytest
    # that imported TensorFlow: 1.8 GB). The child's peak after exec is its VmHWM (reset
    # by exec; Popen returns after the exec), polled while it runs; ru_maxrss counts
    # only where it is above what the fork can have inherited.
    inherited_mib, polled_mib = _vm_mib("self", "VmHWM"), 0.0
    while True:
        polled_mib = max(polled_mib, _vm_mib(str(proc.pid), "VmHWM"))
        pid, wait_status, rusage = os.wait4(proc.pid, os.WNOHANG)
        if pid:
            status = os.waitstatus_to_exitcode(wait_status)
            break
        if time.monotonic() - start > timeout:
            timed_out = True
            try:
                os.killpg(proc.pid, signal.SIGKILL)
            except OSError:
                pass
            _kill(attempt_processes(proc.pid, token))
            _, wait_status, rusage = os.wait4(proc.pid, 0)
            status = os.waitstatus_to_exitcode(wait_status)
            break
        time.sleep(0.02)
    proc.returncode = status
    seconds = time.monotonic() - start
    leftovers: list[int] = []
    deadline = time.monotonic() + 3.0          # workers told to stop get a moment
    while True:
        leftovers = attempt_processes(proc.pid, token)
        if not leftovers or time.monotonic() > deadline:
            break
        time.sleep(0.1)
    described = [f"pid {p}: {_cmdline(p)}" for p in leftovers]
    for _ in range(3):
        _kill(leftovers)
        leftovers = attempt_processes(proc.pid, token)
        if not leftovers:
            break
        time.sleep(0.1)
    for r in readers:
        r.join(timeout=2.0)
    for s in (proc.stdout, proc.stderr):
        try:
            s.close()
        except OSError:
            pass
    decode = lambda chunks: b"".join(chunks).decode("utf-8", "surrogateescape")  # noqa: E731
    maxrss_mib = (rusage.ru_maxrss / 1024) if rusage else 0.0
    peak_mib = max(polled_mib, maxrss_mib if maxrss_mib > inherited_mib + 1 else 0.0)
    return Proc(status, decode(out), decode(err), seconds, timed_out, peak_mib,
                [] if timed_out else described,
                (rusage.ru_utime + rusage.ru_stime) if rusage else 0.0)


# --------------------------------------------------------------------- snapshots

def _entry(path: Path) -> tuple:
    try:
        st = os.lstat(path)
    except FileNotFoundError:
        return ("absent",)
    if stat.S_ISLNK(st.st_mode):
        return ("link", os.readlink(path), st.st_mode)
    if stat.S_ISCHR(st.st_mode) or stat.S_ISBLK(st.st_mode):
        return ("device", st.st_mode, st.st_rdev)
    if stat.S_ISDIR(st.st_mode):
        return ("dir", st.st_mode, st.st_uid)
    digest = hashlib.sha256(path.read_bytes()).hexdigest() if stat.S_ISREG(st.st_mode) else ""
    return ("file", st.st_mode, st.st_size, st.st_mtime_ns, digest)


def snapshot(roots: Iterable[Path], singles: Iterable[Path] = ()) -> dict[str, tuple]:
    """Every path under ``roots`` (links not followed) and each of ``singles``."""
    seen: dict[str, tuple] = {}
    for root in roots:
        seen[str(root)] = _entry(root)
        for folder, dirs, files in os.walk(root):
            for name in dirs + files:
                p = Path(folder) / name
                seen[str(p)] = _entry(p)
    for p in singles:
        seen[str(p)] = _entry(Path(p))
    return seen


def compare(before: dict[str, tuple], after: dict[str, tuple]) -> list[str]:
    changes = []
    for path in sorted(before.keys() | after.keys()):
        a, b = before.get(path, ("absent",)), after.get(path, ("absent",))
        if a == b:
            continue
        if a[0] == "absent":
            changes.append(f"{path} appeared ({b[0]})")
        elif b[0] == "absent":
            changes.append(f"{path} is gone")
        elif a[0] != b[0]:
            changes.append(f"{path} was a {a[0]}, is a {b[0]}")
        elif a[0] == "file" and a[1] != b[1]:
            changes.append(f"{path} mode {oct(a[1])} -> {oct(b[1])}")
        else:
            changes.append(f"{path} changed")
    return changes


def make_outside(out: Path) -> None:
    """The sentinels: a secret, a script (must not become executable), a folder of
    render-folder-like names (a report's page folders are deleted by name), a case."""
    out.mkdir(parents=True)
    (out / "sentinel.txt").write_text(f"SENTINEL {SECRET}\n")
    (out / "sentinel.py").write_text("# a sentinel: must stay as it is, not executable\n")
    os.chmod(out / "sentinel.py", 0o644)
    pages = out / "pages"
    for name in ("20260101T000000-abcdef", "20251231T235959-012345"):
        (pages / name).mkdir(parents=True)
        (pages / name / "case.html").write_text(f"<p>{SECRET}</p>\n")
    (pages / ".lock").write_text("")
    (pages / "keep.txt").write_text("keep\n")
    (out / "secret.env").write_text(f"SECRET_KEY={SECRET}\n")


# --------------------------------------------------------------------- outputs

def _globbed(ctx: Ctx, patterns: Iterable[str]) -> list[Path]:
    found: list[Path] = []
    for pattern in patterns:
        for p in sorted(glob.glob(ctx.fill(pattern))):
            if Path(p) not in found:
                found.append(Path(p))
    return found


def check_yaml(path: Path) -> list[tuple[str, str]]:
    from harness.case.loader import LoadErrors, load_cases
    from harness.safeio.yaml_source import SourceError

    if path.is_symlink() or not path.is_file():
        return []
    try:
        cases = load_cases([str(path)])
    except LoadErrors as exc:
        return [("UNLOADABLE_OUTPUT", f"{path.name}: {excerpt(str(exc.errors[0]))}")]
    except (SourceError, ValueError) as exc:
        return [("UNLOADABLE_OUTPUT", f"{path.name}: {excerpt(str(exc))}")]
    return [("INJECTED", f"{path.name} holds a case of the hostile text's: {excerpt(c.id)}")
            for c in cases if c.id == "injected-case"]


def script_framework(text: str) -> str:
    m = FRAMEWORK_IMPORT.search(text)
    return m.group(1) if m else "numpy"


def check_script(attempt: Attempt, ctx: Ctx, path: Path, env: dict,
                 result: Result) -> None:
    """Compile a generated script; run it (for real, or its framework blocked)."""
    if path.is_symlink() or not path.is_file():
        return
    data = path.read_bytes()
    name = path.name
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        result.defects.append(("UNLOADABLE_OUTPUT", f"{name}: not UTF-8: {exc}"))
        return
    raw = RAW_CONTROL.search(text)
    if raw:
        result.defects.append(("RAW_CONTROL", f"{name} holds {raw.group()!r} raw"))
    try:
        compile(text, str(path), "exec")
    except (SyntaxError, ValueError) as exc:
        result.defects.append(("UNLOADABLE_OUTPUT", f"{name} does not compile: "
                               f"{type(exc).__name__}: {excerpt(str(exc))}"))
        return
    framework = script_framework(text)
    real = framework in attempt.real and importlib.util.find_spec(framework) is not None
    blocked = "" if real else ",".join(("tensorflow", "torch", "jax", "jaxlib", "keras"))
    allowed = attempt.script_exits if real else frozenset({2})
    run_env = {**env, "HOSTILE_BLOCK": blocked, "HOSTILE_RLIMIT_AS": str(4 * GIB),
               "HOSTILE_RLIMIT_FSIZE": ""}
    proc = run_bounded([sys.executable, "-I", "-c", SCRIPT, str(path)], cwd=ctx.sb,
                       env=run_env, timeout=attempt.script_timeout)
    result.scripts.append((name, proc))
    how = f"script {name} ({framework}{'' if real else ' blocked'})"
    both = proc.stdout + proc.stderr
    if proc.timed_out:
        result.defects.append(("TIMEOUT", f"{how}: still running after "
                                          f"{attempt.script_timeout:.0f} s"))
    elif proc.status is not None and proc.status < 0:
        result.defects.append(("CRASH", f"{how}: killed by signal {-proc.status}"))
    elif "SyntaxError" in proc.stderr:
        result.defects.append(("UNLOADABLE_OUTPUT", f"{how}: {excerpt(last_line(proc.stderr))}"))
    elif proc.status not in allowed:
        result.defects.append(("BAD_EXIT", f"{how}: exit {proc.status} (allowed "
                               f"{sorted(allowed)}): {excerpt(last_line(both))}"))
    raw = RAW_CONTROL.search(both)
    if raw:
        result.defects.append(("RAW_CONTROL", f"{how} printed {raw.group()!r} raw"))
    if proc.leftovers:
        result.defects.append(("LEFTOVER_PROCESS", f"{how}: {proc.leftovers[0]}"))


# --------------------------------------------------------------------- the attempt

def _mount_ro(ctx: Ctx) -> Optional[str]:
    target = ctx.sb / "ro"
    target.mkdir()
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", "ro,size=64k", "tmpfs", str(target)],
                          capture_output=True, text=True)
    return None if done.returncode == 0 else (done.stderr.strip() or "mount failed")


def _environment(ctx: Ctx, attempt: Attempt, token: str) -> dict:
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("GITHUB_", "PYTEST_", "CONVGRAD_", "HOSTILE_"))}
    env.update({
        "PYTHONPATH": f"{ctx.plugins}{os.pathsep}{REPO}",
        "OPENBLAS_NUM_THREADS": "1", "NO_COLOR": "1", "PYTHONDONTWRITEBYTECODE": "1",
        "TMPDIR": str(ctx.sb / ".tmp"), "XDG_CACHE_HOME": str(ctx.sb / ".cache"),
        "HOSTILE_TOKEN": token, "HOSTILE_MARKER": ctx.marker,
        "CONVGRAD_TEST_SECRET": SECRET,
        "HOSTILE_RLIMIT_AS": str(attempt.memory) if attempt.memory else "",
        "HOSTILE_RLIMIT_FSIZE": str(attempt.fsize) if attempt.fsize else "",
    })
    if attempt.launcher == "toy":
        env["HOSTILE_TOYFW"] = "1"
    env.update({k: ctx.fill(v) for k, v in attempt.env.items()})
    return env


def run_attempt(attempt: Attempt, root: Path, plugins: Path, assets: Path) -> Result:
    result = Result(attempt)
    ctx = Ctx(root / "sandbox", root / "outside", plugins, assets)
    ctx.sb.mkdir(parents=True)
    (ctx.sb / ".tmp").mkdir()
    make_outside(ctx.out)
    mounted = False
    try:
        if attempt.mount == "ro":
            problem = _mount_ro(ctx)
            if problem:
                result.skipped = f"cannot mount a read-only tmpfs here: {problem}"
                return result
            mounted = True
        if attempt.setup:
            attempt.setup(ctx)
        record_setup_files(ctx)
        keep = {str(p): _entry(p) for p in (Path(ctx.fill(k)) for k in attempt.keep)}
        singles = [Path("/dev/full"), Path("/dev/null"), Path("/tmp/convgrad-pwned"),
                   Path("/tmp/convgrad-hostile-tools-PWNED")]
        before = snapshot([ctx.out, REPO / "cases" / "article"], singles)
        token = secrets.token_hex(8)
        env = _environment(ctx, attempt, token)
        code = {"pytest": PYTEST, "python": PYTHON}.get(attempt.launcher, CLI)
        argv = [sys.executable, "-c", code, *(ctx.fill(a) for a in attempt.argv)]
        proc = result.proc = run_bounded(argv, cwd=ctx.sb, env=env, timeout=attempt.timeout)
        _classify_command(attempt, ctx, proc, result)
        if not proc.timed_out:
            for path in _globbed(ctx, attempt.scripts):
                check_script(attempt, ctx, path, env, result)
            for path in _globbed(ctx, attempt.yamls):
                result.defects += check_yaml(path)
        _classify_files(attempt, ctx, result, keep)
        changes = compare(before, snapshot([ctx.out, REPO / "cases" / "article"], singles))
        for change in changes[:5]:
            result.defects.append(("OUTSIDE_CHANGED", change))
        if len(changes) > 5:
            result.defects.append(("OUTSIDE_CHANGED", f"... and {len(changes) - 5} more"))
        for check in attempt.checks:
            result.defects += list(check(ctx, result) or [])
        return result
    finally:
        if mounted:
            subprocess.run(["umount", "-l", str(ctx.sb / "ro")], capture_output=True)


def _classify_command(attempt: Attempt, ctx: Ctx, proc: Proc, result: Result) -> None:
    d = result.defects
    both = proc.stdout + "\n" + proc.stderr
    if proc.timed_out:
        d.append(("TIMEOUT", f"killed after {attempt.timeout:.0f} s; last output: "
                              f"{excerpt(last_line(both))}"))
    elif proc.status is not None and proc.status < 0:
        d.append(("CRASH", f"killed by signal {-proc.status}: {excerpt(last_line(both))}"))
    elif attempt.max_seconds and proc.seconds > attempt.max_seconds:
        d.append(("TIMEOUT", f"took {proc.seconds:.1f} s; bounded work takes under "
                             f"{attempt.max_seconds:.0f} s"))
    tb = TRACEBACK.search(both)
    if tb:
        tail = both[tb.start():] if tb.group().startswith("error:") else \
            (last_line(proc.stderr) or last_line(proc.stdout))
        d.append(("TRACEBACK", excerpt(tail.split("\n")[0] if tb.group().startswith("error:")
                                       else tail)))
    if not proc.timed_out and proc.status is not None and proc.status >= 0:
        if proc.status not in attempt.exits:
            d.append(("BAD_EXIT", f"exit {proc.status} (allowed {sorted(attempt.exits)}): "
                                  f"{excerpt(last_line(both))}"))
        elif proc.status == 2 and attempt.launcher != "pytest" and not tb and \
                not ERROR_LINE.search(last_line(proc.stderr)):
            d.append(("BAD_EXIT", f"exit 2 without an error line: "
                                  f"{excerpt(last_line(both))}"))
        if attempt.expect and proc.status != 0 and not re.search(attempt.expect, both):
            d.append(("BAD_EXIT", f"exit {proc.status} without saying {attempt.expect!r}: "
                                  f"{excerpt(last_line(both))}"))
    raw = RAW_CONTROL.search(both)
    if raw:
        line = next((ln for ln in both.splitlines() if raw.group() in ln), "")
        d.append(("RAW_CONTROL", f"{raw.group()!r} raw in: {excerpt(line)}"))
    if proc.leftovers:
        d.append(("LEFTOVER_PROCESS", f"{len(proc.leftovers)} alive after exit: "
                                      f"{proc.leftovers[0]}"))
    if attempt.rss_mib and proc.maxrss_mib > attempt.rss_mib:
        d.append(("MEMORY", f"peak RSS {proc.maxrss_mib:.0f} MiB > {attempt.rss_mib} MiB"))
    for secret in (SECRET, PASSWD):
        if secret in both:
            line = next(ln for ln in both.splitlines() if secret in ln)
            d.append(("LEAKED", f"{secret!r} printed: {excerpt(line)}"))
    for where, pattern in attempt.forbid:
        if where in ("stdout", "stderr"):
            m = re.search(pattern, proc.stdout if where == "stdout" else proc.stderr)
            if m:
                d.append(("INJECTED", f"{where} holds {excerpt(m.group())}"))


def _classify_files(attempt: Attempt, ctx: Ctx, result: Result, keep: dict) -> None:
    d = result.defects
    for p in list(ctx.sb.rglob(f"{MARKER}*")) + [Path("/tmp/convgrad-pwned"),
                                                  Path("/tmp/convgrad-hostile-tools-PWNED")]:
        if os.path.lexists(p):
            d.append(("INJECTED", f"marker {p} exists: injected code ran"))
            try:
                os.unlink(p)
            except OSError:
                pass
    for path, entry in keep.items():
        now = _entry(Path(path))
        if now != entry:
            d.append(("CLOBBERED", f"{Path(path).name}: was {entry[0]} "
                                   f"{entry[2] if entry[0] == 'file' else ''}, is {now[0]} "
                                   f"{now[2] if now[0] == 'file' else ''}"))
    for where, pattern in attempt.forbid:
        if where in ("stdout", "stderr"):
            continue
        for path in _globbed(ctx, [where]):
            if path.is_file() and not path.is_symlink():
                m = re.search(pattern, path.read_text(errors="replace"))
                if m:
                    d.append(("INJECTED", f"{path.name} holds {excerpt(m.group())}"))
    for path in _written(ctx):
        try:
            data = path.read_bytes()[:8 << 20]
        except OSError:
            continue
        for secret in (SECRET, PASSWD):
            if secret.encode() in data:
                d.append(("LEAKED", f"{secret!r} written to {path.relative_to(ctx.sb)}"))


def _written(ctx: Ctx) -> list[Path]:
    """Regular files in the sandbox that the setup did not put there (a setup's own
    files with the secret are listed in ``.setup-files``)."""
    planted = set()
    listing = ctx.sb / ".setup-files"
    if listing.exists():
        planted = set(json.loads(listing.read_text()))
    found = []
    for folder, dirs, files in os.walk(ctx.sb):
        if Path(folder) == ctx.sb / "ro":
            dirs[:] = []
            continue
        for name in files:
            p = Path(folder) / name
            if not p.is_symlink() and str(p) not in planted:
                found.append(p)
    return found


def record_setup_files(ctx: Ctx) -> None:
    """Remember the files the setup wrote (so a planted secret is not a leak)."""
    files = [str(Path(f) / n) for f, _, names in os.walk(ctx.sb) for n in names]
    (ctx.sb / ".setup-files").write_text(json.dumps(files))


def summary(result: Result) -> str:
    a, p = result.attempt, result.proc
    head = (f"{a.id}: exit {p.status}, {p.seconds:.1f} s" if p else f"{a.id}: not run")
    lines = [head] + [f"  {c}: {e}" for c, e in result.defects]
    if p:
        lines.append(f"  stderr: {excerpt(p.stderr[-600:], 600)}")
    return "\n".join(lines)


def remove_tree(path: Path) -> None:
    shutil.rmtree(path, ignore_errors=True)
