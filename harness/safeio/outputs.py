"""Where a run's outputs go: checked before the run, locked during it, written as one set.

``convgrad run --out DIR`` (and the pytest plugin's ``--convgrad-out``) writes
``results.json``, ``index.html`` and, when asked, the JUnit XML. They are one
set: whatever kills the run, and wherever, DIR holds the old set or the new
one, never a new record beside an old report. The layout that makes it so::

    DIR/.convgrad/lock                     held (flock) by the run writing into DIR
    DIR/.convgrad/runs/<run id>/           one complete set: results.json, index.html,
                                           junit.xml
    DIR/.convgrad/current -> runs/<run id> the one switch
    DIR/results.json -> .convgrad/current/results.json    fixed links, made once
    DIR/index.html   -> .convgrad/current/index.html
    DIR/report-pages -> .convgrad/current/report-pages   a large run's case pages

A run writes its set into a temporary directory under ``runs/``, flushes it to
disk, renames it to its run id, then renames a new ``current`` link over the
old one: one atomic step switches every file. Older sets are removed after
the switch. A ``--junit FILE`` directly in DIR is a fixed link too; one elsewhere
cannot be switched with the rest, so it is written (atomically, on its own)
right after the switch, and carries the run id. A large run's report has one page per
case in ``report-pages/``, switched with the rest (:func:`write_report` does the same
for ``convgrad report -o FILE``, whose pages have a folder of their own per render).

The place is checked before the run (:func:`check_dir`): a file, a device,
a parent that cannot be created or a directory that cannot be written is a
one-line :class:`OutputError` before any case is judged. The directory is
locked for the whole run: a second run into the same DIR is refused at once,
naming the pid that holds it. When the final write fails anyway (a full
disk), the set is written to a fresh temporary directory instead
(:func:`rescue`), and the error says where.
"""
from __future__ import annotations

import errno
import fcntl
import os
import re
import secrets
import shutil
import stat
import tempfile
from datetime import datetime, timezone
from pathlib import Path
from typing import Mapping, Optional

from harness.safeio import files, printable

STATE = ".convgrad"
RECORD, REPORT, JUNIT = "results.json", "index.html", "junit.xml"
VALUES = "values.npz"   # every verdict's values, referenced from the record (convgrad diff)
PAGES = "report-pages"  # a large run's case pages, linked from index.html
INCOMPLETE = "results.incomplete.json"


class OutputError(Exception):
    """An output place that cannot be used, or a write that failed: one line."""

    def __init__(self, message: str):
        super().__init__(printable.line(message))


def _reason(exc: OSError) -> str:
    return exc.strerror or str(exc)


# ---------------------------------------------------------------- checks

def _probe(folder: Path, what: str) -> None:
    """Create and remove a file in ``folder``: the one test of writability that holds
    for root, read-only mounts and full disks alike."""
    try:
        fd, probe = tempfile.mkstemp(prefix=".convgrad-probe-", dir=folder)
        os.close(fd)
        os.unlink(probe)
    except OSError as exc:
        raise OutputError(f"{what}: cannot write there: {_reason(exc)}") from None


def check_dir(path: str | Path, what: str = "--out") -> Path:
    """``path`` as a directory convgrad can write into, created if missing."""
    path = Path(path)
    label = f"{what} {path}"
    try:
        st = os.stat(path)
    except (FileNotFoundError, NotADirectoryError):
        try:
            os.makedirs(path, exist_ok=True)
        except OSError as exc:
            raise OutputError(f"{label}: cannot create the directory: {_reason(exc)}") from None
    except OSError as exc:
        raise OutputError(f"{label}: {_reason(exc)}") from None
    else:
        if not stat.S_ISDIR(st.st_mode):
            raise OutputError(f"{label}: is {files.kind(st.st_mode)}, not a directory")
    _probe(path, label)
    return path


def _own_link(path: Path) -> bool:
    """Whether ``path`` is one of the fixed links of an ``--out`` directory (``results.json
    -> .convgrad/current/results.json``): convgrad's own, replaced (never followed)."""
    try:
        return os.readlink(path).startswith(f"{STATE}/current/")
    except OSError:
        return False


def check_file(path: str | Path, what: str = "-o") -> Path:
    """``path`` as a file convgrad may write (atomically, replacing a regular file): its
    folder is created if missing; a directory, a device or a symbolic link there is
    refused, not replaced and never followed (a link's target is not convgrad's to
    overwrite). The exception is convgrad's own fixed links in an ``--out`` directory."""
    path = Path(path)
    label = f"{what} {path}"
    if not str(path) or path.name in ("", ".", ".."):
        raise OutputError(f"{label}: names a directory, not a file")
    try:
        st = os.lstat(path)
    except (FileNotFoundError, NotADirectoryError):
        st = None
    except OSError as exc:
        raise OutputError(f"{label}: {_reason(exc)}") from None
    if st is not None and stat.S_ISLNK(st.st_mode) and not _own_link(path):
        raise OutputError(f"{label}: is a symbolic link; convgrad does not write through "
                          "links: remove it or choose another name")
    if st is not None and not stat.S_ISREG(st.st_mode) and not stat.S_ISLNK(st.st_mode):
        raise OutputError(f"{label}: is {files.kind(st.st_mode)}, not a file convgrad may "
                          "replace")
    if len(os.fsencode(path.name)) > 200:
        raise OutputError(f"{label}: the file name is {len(os.fsencode(path.name))} bytes; "
                          "at most 200")
    check_dir(path.parent if str(path.parent) else Path("."), f"{label}: its folder")
    return path


# ---------------------------------------------------------------- writing

def write_text(path: Path, text: str | bytes) -> None:
    """A new file with ``text`` (or bytes), flushed to disk (any encoding problem replaced,
    never raised: a record may carry lone surrogates)."""
    if isinstance(text, bytes):
        with open(path, "wb") as f:
            f.write(text)
            f.flush()
            os.fsync(f.fileno())
        os.chmod(path, 0o666 & ~_umask())
        return
    with open(path, "w", encoding="utf-8", errors="replace") as f:
        f.write(text)
        f.flush()
        os.fsync(f.fileno())
    os.chmod(path, 0o666 & ~_umask())   # a report is for sharing


def _umask() -> int:
    umask = os.umask(0)
    os.umask(umask)
    return umask


def write_file(path: str | Path, text: str | bytes, *, executable: bool = False) -> None:
    """One file written atomically (a temp file beside it, renamed over it): all or
    nothing, and never through a link (the rename replaces a link itself). A directory,
    a device or a link other than convgrad's own at ``path`` is refused, never replaced.
    Raises ``OSError`` (or :class:`OutputError` for a refused place)."""
    path = Path(path)
    try:
        st = os.lstat(path)
    except FileNotFoundError:
        pass
    else:
        if stat.S_ISLNK(st.st_mode) and not _own_link(path):
            raise OutputError(f"{path}: is a symbolic link; convgrad does not write through "
                              "links")
        if not stat.S_ISREG(st.st_mode) and not stat.S_ISLNK(st.st_mode):
            raise OutputError(f"{path}: is {files.kind(st.st_mode)}, not a file convgrad may "
                              "replace")
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=".convgrad-", suffix=".tmp", dir=path.parent)
    os.close(fd)
    try:
        write_text(Path(tmp), text)
        if executable:   # on the temp file: a link's target is never made executable
            os.chmod(tmp, 0o777 & ~_umask())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    _fsync_dir(path.parent)


def write_output(path: str | Path, text: str | bytes, what: str = "-o", *,
                 executable: bool = False) -> Path:
    """The one way a command writes a file the user names (a repro script, a shrunk case,
    fuzz findings, cases-from YAML, a merged record, a diff's Markdown or HTML): the place
    checked (:func:`check_file`), the file written atomically and never through a link
    (:func:`write_file`); every failure one :class:`OutputError` line, and whatever was at
    ``path`` before is left as it was."""
    path = check_file(path, what)
    try:
        write_file(path, text, executable=executable)
    except OSError as exc:
        raise OutputError(f"{what} {path}: could not write: {_reason(exc)}; nothing was "
                          "changed there") from None
    return path


def _fsync_dir(folder: Path) -> None:
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def _link(target: str, at: Path) -> None:
    """Make ``at`` a symbolic link to ``target``, atomically replacing whatever is there."""
    tmp = at.with_name(f".{at.name}.link-{os.getpid()}")
    tmp.unlink(missing_ok=True)
    os.symlink(target, tmp)
    os.replace(tmp, at)


def rescue(texts: Mapping[str, str]) -> Path:
    """Write ``texts`` (file name -> content) to a fresh temporary directory (or, if the
    system's is full too, one in the home or working directory); returns it."""
    errors = []
    for parent in (None, Path.home(), Path.cwd()):
        try:
            folder = Path(tempfile.mkdtemp(prefix="convgrad-rescue-", dir=parent))
        except OSError as exc:
            errors.append(exc)
            continue
        try:
            for name, text in texts.items():
                (folder / name).parent.mkdir(parents=True, exist_ok=True)
                write_text(folder / name, text)
            return folder
        except OSError as exc:
            errors.append(exc)
            shutil.rmtree(folder, ignore_errors=True)
    raise OutputError(f"could not keep the outputs anywhere ({_reason(errors[-1])})")


class OutputSet:
    """One ``--out`` directory, checked and locked from construction to :meth:`close`."""

    def __init__(self, out: str | Path, junit: Optional[str | Path] = None):
        self.out = check_dir(out)
        self.junit = check_file(junit, "--junit") if junit else None
        self.state = self.out / STATE
        self._lock_fd: Optional[int] = None
        pages = self.out / PAGES
        if pages.exists() and not pages.is_symlink():   # not the link this class makes
            raise OutputError(f"--out {self.out}: {pages} is {files.kind(os.stat(pages).st_mode)}"
                              " that is not convgrad's, where a large report's case pages go; "
                              "move it away or choose another --out")
        self._lock()

    # -- the lock
    def _lock(self) -> None:
        lock = self.state / "lock"
        try:
            self.state.mkdir(exist_ok=True)
            fd = os.open(lock, os.O_RDWR | os.O_CREAT | getattr(os, "O_CLOEXEC", 0), 0o666)
        except OSError as exc:
            raise OutputError(f"--out {self.out}: cannot create {lock}: {_reason(exc)}") from None
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as exc:
            holder = os.pread(fd, 32, 0).decode(errors="replace").strip() or "?"
            os.close(fd)
            if exc.errno not in (errno.EWOULDBLOCK, errno.EAGAIN, errno.EACCES):
                raise OutputError(f"--out {self.out}: cannot lock {lock}: {_reason(exc)}") \
                    from None
            raise OutputError(f"--out {self.out} is in use by another convgrad run (pid "
                              f"{printable.excerpt(holder, 12)}); wait for it to finish or "
                              "choose another --out") from None
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
        self._lock_fd = fd

    def close(self) -> None:
        if self._lock_fd is not None:
            os.close(self._lock_fd)   # releases the lock
            self._lock_fd = None

    def __enter__(self) -> "OutputSet":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    # -- the set
    def _junit_inside(self) -> bool:
        return self.junit is not None and self.junit.parent.resolve() == self.out.resolve() \
            and self.junit.name not in (STATE, RECORD, REPORT)

    def _fixed_links(self) -> dict[Path, str]:
        links = {self.out / RECORD: f"{STATE}/current/{RECORD}",
                 self.out / REPORT: f"{STATE}/current/{REPORT}"}
        if self._junit_inside():
            links[self.out / self.junit.name] = f"{STATE}/current/{JUNIT}"
        return links

    def _adopt_regular_files(self) -> None:
        """Regular files where the fixed links belong (an ``--out`` of an older convgrad,
        or a file a user put there): make what DIR shows now a set of its own (hard links,
        no copy: each regular file, else the current set's file), switch ``current`` to
        it, then turn each file into its link. At every step DIR shows what it showed."""
        links = self._fixed_links()
        regular = [at for at in links if at.is_file() and not at.is_symlink()]
        if not regular:
            return
        generation = self.state / "runs" / f"adopted-{os.getpid()}"
        generation.mkdir(parents=True, exist_ok=True)
        for at, target in links.items():
            source = at if at in regular else self.out / target
            dest = generation / Path(target).name
            dest.unlink(missing_ok=True)
            if not source.is_file():
                continue
            try:
                os.link(source, dest)
            except OSError:
                shutil.copy2(source, dest)
        _link(f"runs/{generation.name}", self.state / "current")
        for at in regular:
            _link(links[at], at)

    def write(self, texts: Mapping[str, str], run_id: str) -> list[Path]:
        """Write the set ``texts`` (``results.json``, ``index.html``, ``junit.xml``) as
        one, switch to it, and return the paths a user reads. :class:`OutputError` when
        it cannot be written: the results are then kept by :func:`rescue`, and DIR still
        holds the previous set."""
        runs = self.state / "runs"
        run_id = re.sub(r"[^A-Za-z0-9_-]", "_", run_id)[:80] or "run"   # a folder name
        tmp = None
        try:
            runs.mkdir(parents=True, exist_ok=True)
            self._adopt_regular_files()
            tmp = Path(tempfile.mkdtemp(prefix=f".{run_id}.", dir=runs))
            os.chmod(tmp, 0o777 & ~_umask())   # mkdtemp makes 0700; a report is for sharing
            for name, text in texts.items():
                if "/" in name:            # a case page: report-pages/<slug>.html
                    (tmp / name).parent.mkdir(parents=True, exist_ok=True)
                write_text(tmp / name, text)
            for folder in {(tmp / name).parent for name in texts} - {tmp}:
                _fsync_dir(folder)
            _fsync_dir(tmp)
            generation = runs / run_id
            if generation.exists():          # a leftover of a run with this id: not current
                shutil.rmtree(generation)
            os.replace(tmp, generation)
            tmp = None
            _fsync_dir(runs)
            _link(f"runs/{run_id}", self.state / "current")   # the switch
            _fsync_dir(self.state)
            links = self._fixed_links()
            for name, present in ((VALUES, VALUES in texts),
                                  (PAGES, any(n.startswith(f"{PAGES}/") for n in texts))):
                if present:
                    links[self.out / name] = f"{STATE}/current/{name}"
                elif (self.out / name).is_symlink():
                    (self.out / name).unlink()   # this set has none: no dangling link
            for at, target in links.items():
                if not (at.is_symlink() and os.readlink(at) == target):
                    _link(target, at)
            _fsync_dir(self.out)
            self._remove_old_sets(run_id)
            written = [self.out / RECORD, self.out / REPORT]
            if self.junit is not None and JUNIT in texts:
                if not self._junit_inside():
                    write_file(self.junit, texts[JUNIT])
                written.append(self.junit)
            return written
        except OSError as exc:
            if tmp is not None:
                shutil.rmtree(tmp, ignore_errors=True)
            kept = rescue(texts)
            raise OutputError(
                f"could not write the outputs to {self.out}: {_reason(exc)}; they are kept "
                f"in {kept}{os.sep} ({', '.join(texts)}); {self.out} still holds the "
                "previous run's") from None

    def _remove_old_sets(self, keep: str) -> None:
        """Every set but ``keep``, and what killed runs left half-made."""
        for entry in (self.state / "runs").iterdir():
            if entry.name != keep:
                shutil.rmtree(entry, ignore_errors=True)
        for folder in (self.out, self.state):
            for leftover in folder.glob(".*.link-*"):
                leftover.unlink(missing_ok=True)

    def write_incomplete(self, text: str) -> Path:
        """The record of an interrupted run, beside the set (which it leaves alone)."""
        path = self.out / INCOMPLETE
        try:
            write_file(path, text)
            return path
        except OSError as exc:
            kept = rescue({INCOMPLETE: text})
            raise OutputError(f"could not write {path}: {_reason(exc)}; it is kept in "
                              f"{kept}{os.sep}{INCOMPLETE}") from None


# ---------------------------------------------------------------- convgrad report -o FILE

PAGES_TOKEN = re.compile(r"^\d{8}T\d{6}-[0-9a-f]{6}$")


def pages_dir(report: Path) -> str:
    """A fresh folder for ``report``'s case pages, relative to it: ``<stem>-pages/<token>``
    (a new token per render, so the pages the current file links to are never rewritten)."""
    token = datetime.now(timezone.utc).strftime("%Y%m%dT%H%M%S") + "-" + secrets.token_hex(3)
    return f"{report.stem}-pages/{token}"


def write_report(path: Path, index: str, pages: Mapping[str, str], folder: str) -> None:
    """A report of ``convgrad report -o``: the case ``pages`` into ``folder`` (from
    :func:`pages_dir`, relative to ``path``), complete before ``index`` replaces ``path``
    atomically; then the pages of earlier renders go. A reader of ``path`` sees the old
    report with its pages or the new one with its own, never a mix. One render at a time
    per ``path`` (a lock in the pages' parent folder)."""
    root = path.parent / Path(folder).parent
    try:
        st = os.lstat(root)
    except FileNotFoundError:
        st = None
    if st is not None and not stat.S_ISDIR(st.st_mode):   # a planted link is never followed
        kind = "a symbolic link" if stat.S_ISLNK(st.st_mode) else files.kind(st.st_mode)
        raise OutputError(f"-o {path}: {root} (where its case pages go) is {kind}, not a "
                          "folder of convgrad's; remove it or choose another name")
    root.mkdir(parents=True, exist_ok=True)
    lock = os.open(root / ".lock", os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW
                   | getattr(os, "O_CLOEXEC", 0), 0o666)
    try:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if pages:
            tmp = Path(tempfile.mkdtemp(prefix=".tmp-", dir=root))
            try:
                os.chmod(tmp, 0o777 & ~_umask())
                for name, text in pages.items():
                    write_text(tmp / name, text)
                _fsync_dir(tmp)
                os.replace(tmp, path.parent / folder)
            except BaseException:
                shutil.rmtree(tmp, ignore_errors=True)
                raise
            _fsync_dir(root)
        write_file(path, index)
        keep = Path(folder).name if pages else None
        for entry in root.iterdir():
            if entry.name != keep and PAGES_TOKEN.match(entry.name) and not entry.is_symlink() \
                    and entry.is_dir():
                shutil.rmtree(entry, ignore_errors=True)
    finally:
        os.close(lock)
    if not pages and {e.name for e in root.iterdir()} <= {".lock"}:
        (root / ".lock").unlink(missing_ok=True)   # a one-page report leaves no folder
        try:
            root.rmdir()
        except OSError:
            pass
