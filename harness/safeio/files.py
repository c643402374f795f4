"""Files a user names: case files, run records, known-discrepancies and limitations files.

Each is refused by its type and size *before* a byte is read, then read with
a bound: a FIFO, a device (``/dev/urandom``), a socket or a directory is not
a file to read, a file larger than the limit is not read at all, and a file
that claims to be small but keeps going (``/proc`` files report size 0) is
cut off at the limit and refused. Every refusal is one line.
"""
from __future__ import annotations

import os
import stat
from pathlib import Path

from harness.safeio import printable

_KINDS = ((stat.S_ISDIR, "a directory"), (stat.S_ISFIFO, "a FIFO (named pipe)"),
          (stat.S_ISCHR, "a character device"), (stat.S_ISBLK, "a block device"),
          (stat.S_ISSOCK, "a socket"))


class FileRefused(Exception):
    """A named file that is not read; ``reason`` says why in a few words (no path)."""

    def __init__(self, path: str | Path, reason: str):
        super().__init__(printable.line(f"{path}: {reason}"))
        self.path, self.reason = str(path), reason


def kind(mode: int) -> str:
    """What a file of ``mode`` is, in words ("a regular file", "a FIFO (named pipe)", ...)."""
    return next((name for test, name in _KINDS if test(mode)), "a regular file"
                if stat.S_ISREG(mode) else "not a regular file")


def _check(path: str | Path, st: os.stat_result, limit: int, what: str) -> None:
    if not stat.S_ISREG(st.st_mode):
        raise FileRefused(path, f"is {kind(st.st_mode)}, not a {what}")
    if st.st_size > limit:
        raise FileRefused(path, f"file is {st.st_size} bytes; {what}s are limited to {limit}")


NO_SUCH_FILE = "no such file"


def regular_file(path: str | Path, what: str = "file") -> os.stat_result:
    """The ``stat`` of ``path`` where it is a regular file, else :class:`FileRefused`
    (no such file, unreadable, a directory, a FIFO, a device...)."""
    try:
        st = os.stat(path)
    except (FileNotFoundError, NotADirectoryError):
        raise FileRefused(path, NO_SUCH_FILE) from None
    except OSError as exc:
        raise FileRefused(path, f"cannot read: {exc.strerror or exc}") from None
    if not stat.S_ISREG(st.st_mode):
        raise FileRefused(path, f"is {kind(st.st_mode)}, not a {what}")
    return st


def read_bytes(path: str | Path, limit: int, what: str = "file") -> bytes:
    """The content of the regular file ``path``, at most ``limit`` bytes, or
    :class:`FileRefused` (no such file, unreadable, not a regular file, too large)."""
    with open_regular(path, limit, what) as f:
        chunks, size = [], 0
        try:   # in chunks up to limit + 1: a /proc file claims size 0 and keeps going
            while size <= limit:
                chunk = f.read(min(limit + 1 - size, 1 << 20))
                if not chunk:
                    break
                chunks.append(chunk)
                size += len(chunk)
        except OSError as exc:
            raise FileRefused(path, f"cannot read: {exc.strerror or exc}") from None
    data = b"".join(chunks)
    if len(data) > limit:
        raise FileRefused(path, f"file is more than {limit} bytes; {what}s are limited to "
                                f"{limit}")
    return data


def open_regular(path: str | Path, limit: int, what: str = "file"):
    """``path`` opened for reading as a binary file object, after the checks of
    :func:`read_bytes` (a regular file, at most ``limit`` bytes, by its type and size
    before it is opened and again on the open descriptor); for a reader that reads only
    parts of a file (an archive's directory, then its members one by one). The caller
    closes it. :class:`FileRefused` otherwise."""
    try:
        _check(path, os.stat(path), limit, what)
        # O_NONBLOCK: should the path have become a FIFO since the stat, opening it
        # does not wait for a writer; the fstat below refuses it.
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_CLOEXEC", 0))
    except FileNotFoundError:
        raise FileRefused(path, "no such file or directory") from None
    except OSError as exc:
        raise FileRefused(path, f"cannot read: {exc.strerror or exc}") from None
    try:
        _check(path, os.fstat(fd), limit, what)
        return os.fdopen(fd, "rb")
    except BaseException:
        os.close(fd)
        raise
