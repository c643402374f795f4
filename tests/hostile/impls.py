"""Hostile plug-ins: each attacks the harness from inside an impl or its worker process.

All are correct (tests.planted.Planted) except for one thing; tests/test_hostile.py
registers them through the ``convgrad.impls`` entry-point group, runs them with
``convgrad run`` and checks that each costs its own verdicts (``error``, saying
what) and never the run, its record or its report.

Some talk to the worker's reply pipe directly: it is the pipe among the
worker's open files that is neither stdin nor the stderr pipe (fd 1 and 2).
"""
from __future__ import annotations

import os
import pickle
import signal
import struct
import subprocess
import sys
import time

import numpy as np

from harness.api import Outcome
from tests.planted import Planted

HEADER = struct.Struct("!Q")


def reply_fd() -> int:
    """The worker's reply pipe (a dup of its original stdout)."""
    stderr = os.readlink("/proc/self/fd/2")
    for name in sorted(os.listdir("/proc/self/fd"), key=int):
        fd = int(name)
        try:
            target = os.readlink(f"/proc/self/fd/{fd}")
        except OSError:
            continue
        if fd > 2 and target.startswith("pipe:") and target != stderr and \
                target != os.readlink("/proc/self/fd/0"):
            return fd
    raise RuntimeError("no reply pipe: not in a worker")


def _write(data: bytes) -> None:
    fd = reply_fd()
    while data:
        data = data[os.write(fd, data):]


def _framed(obj: object) -> bytes:
    data = pickle.dumps(obj, protocol=pickle.HIGHEST_PROTOCOL)
    return HEADER.pack(len(data)) + data


class Hostile(Planted):
    framework = "numpy"

    def attack(self, case, inputs, grads):   # what the subclass does instead of computing
        raise NotImplementedError

    def compute(self, case, inputs, grads):
        return self.attack(case, inputs, grads)


# ------------------------------------------------------------- the reply pipe

class Garbage(Hostile):
    """Text where a reply belongs: its first 8 bytes read as a length of ~7.5e18."""
    name = "hostile.garbage"

    def attack(self, case, inputs, grads):
        _write(b"hello, this is not a pickle at all\n" * 4)
        time.sleep(60)


class GarbageFramed(Hostile):
    """A header of the right size, followed by bytes that do not unpickle."""
    name = "hostile.garbage_framed"

    def attack(self, case, inputs, grads):
        _write(HEADER.pack(16) + b"\x80\x05not a pickle!!")
        time.sleep(60)


class HugeHeader(Hostile):
    """A header announcing 2**60 bytes, then nothing."""
    name = "hostile.huge_header"

    def attack(self, case, inputs, grads):
        _write(HEADER.pack(2 ** 60))
        time.sleep(60)


class Truncated(Hostile):
    """A header announcing 1000 bytes, 10 of them, then the worker exits."""
    name = "hostile.truncated"

    def attack(self, case, inputs, grads):
        _write(HEADER.pack(1000) + b"0123456789")
        os._exit(0)


class Trickle(Hostile):
    """A header, then one byte a second: the timeout must still apply."""
    name = "hostile.trickle"

    def attack(self, case, inputs, grads):
        _write(HEADER.pack(1000))
        for _ in range(1000):
            _write(b"x")
            time.sleep(1)


class WrongShapeReply(Hostile):
    """A well-formed pickle of the wrong shape of object: a list of numbers."""
    name = "hostile.wrong_shape_reply"

    def attack(self, case, inputs, grads):
        _write(_framed(("done", [1, 2, 3])))
        time.sleep(60)


class WrongKindReply(Hostile):
    """A (kind, payload) pair of an unknown kind."""
    name = "hostile.wrong_kind_reply"

    def attack(self, case, inputs, grads):
        _write(_framed(("hello", None)))
        time.sleep(60)


class NotAPairReply(Hostile):
    """A reply that is a dict, not a (kind, payload) pair."""
    name = "hostile.not_a_pair_reply"

    def attack(self, case, inputs, grads):
        _write(_framed({"done": True}))
        time.sleep(60)


class BadFieldsReply(Hostile):
    """A ``done`` reply whose outcome fields have the wrong types."""
    name = "hostile.bad_fields_reply"

    def attack(self, case, inputs, grads):
        _write(_framed(("done", [{g: {"values": None, "error": 42} for g in grads}])))
        time.sleep(60)


class _Evil:
    def __init__(self, reduce):
        self.reduce = reduce

    def __reduce__(self):
        return self.reduce


class CodeInReply(Hostile):
    """A pickle that would run ``os.system`` when loaded."""
    name = "hostile.code_in_reply"

    def attack(self, case, inputs, grads):
        _write(_framed(("done", [_Evil((os.system, ("touch /tmp/convgrad-pwned",)))])))
        time.sleep(60)


class AllocatingReply(Hostile):
    """A small pickle that would allocate 64 GiB when loaded (bytearray(2**36))."""
    name = "hostile.allocating_reply"

    def attack(self, case, inputs, grads):
        _write(_framed(("done", [_Evil((bytearray, (2 ** 36,)))])))
        time.sleep(60)


class PreallocatedArray(Hostile):
    """A pickle asking NumPy's own constructor for an array of 2**40 bytes."""
    name = "hostile.preallocated_array"

    def attack(self, case, inputs, grads):
        from numpy._core.multiarray import _reconstruct
        _write(_framed(("done", [_Evil((_reconstruct, (np.ndarray, (2 ** 40,), b"b")))])))
        time.sleep(60)


class ClosesReplyPipe(Hostile):
    """Closes the reply pipe and keeps running."""
    name = "hostile.closes_reply_pipe"

    def attack(self, case, inputs, grads):
        os.close(reply_fd())
        time.sleep(60)


class HugeValues(Hostile):
    """Returns 10,000 x 1,000 float64 values (80 MB): far more than any grad of the case."""
    name = "hostile.huge_values"

    def attack(self, case, inputs, grads):
        return {g: Outcome(values=np.zeros((10_000, 1_000)), dtype="float64") for g in grads}


# ------------------------------------------------------------- the process

class ExitsZero(Hostile):
    name = "hostile.exits_zero"

    def attack(self, case, inputs, grads):
        os._exit(0)


class KillsItself(Hostile):
    name = "hostile.kills_itself"

    def attack(self, case, inputs, grads):
        os.kill(os.getpid(), signal.SIGKILL)


class Segfaults(Hostile):
    name = "hostile.segfaults"

    def attack(self, case, inputs, grads):
        import ctypes
        ctypes.string_at(0)


class RaisesKeyboardInterrupt(Hostile):
    name = "hostile.keyboard_interrupt"

    def attack(self, case, inputs, grads):
        raise KeyboardInterrupt


class RaisesSystemExit(Hostile):
    name = "hostile.system_exit"

    def attack(self, case, inputs, grads):
        sys.exit("planted exit")


class FloodsStderr(Hostile):
    """Writes 300 MB to stderr, a last line, then aborts."""
    name = "hostile.floods_stderr"

    def attack(self, case, inputs, grads):
        chunk = b"x" * (1 << 20) + b"\n"
        for _ in range(300):
            os.write(2, chunk)
        os.write(2, b"the very last line\n")
        os.abort()


class PrintsToStdout(Planted):
    """Correct, but prints to stdout (fd 1) while computing: it must not corrupt replies."""
    name = "hostile.prints_to_stdout"

    def compute(self, case, inputs, grads):
        print("hello from the impl " * 100, flush=True)
        os.write(1, b"\x80\x05 raw bytes on fd 1\n")
        return super().compute(case, inputs, grads)


class AnsiMessage(Hostile):
    """An exception whose message would clear the screen, retitle the terminal and ring."""
    name = "hostile.ansi_message"

    def attack(self, case, inputs, grads):
        raise RuntimeError("\x1b[2J\x1b]0;pwned\x07 \u202eevil\u202c \x00 done")


class ReturnsComplex(Hostile):
    name = "hostile.returns_complex"

    def attack(self, case, inputs, grads):
        out = Planted.compute(self, case, inputs, grads)
        for o in out.values():
            o.values = o.values + 1j
        return out


class ReturnsObjects(Hostile):
    name = "hostile.returns_objects"

    def attack(self, case, inputs, grads):
        return {g: object() for g in grads}


class ReturnsString(Hostile):
    name = "hostile.returns_string"

    def attack(self, case, inputs, grads):
        return "all good"


class UnpicklableNote(Hostile):
    """An outcome whose note cannot even be turned into text."""
    name = "hostile.unprintable_note"

    class _Bad:
        def __str__(self):
            raise RuntimeError("no text for you")

    def attack(self, case, inputs, grads):
        out = Planted.compute(self, case, inputs, grads)
        for o in out.values():
            o.notes = [self._Bad()]
        return out


# ------------------------------------------------------------- children

def _record_pid(pid: int) -> None:
    path = os.environ.get("HOSTILE_PIDS")
    if path:
        with open(path, "a") as f:
            f.write(f"{pid}\n")


def _spawn_all() -> None:
    """A plain child, a double-forked daemon in a session of its own, a subprocess in a
    new session, and a subprocess with an empty environment; each sleeps for ever."""
    pid = os.fork()
    if pid == 0:                        # a plain child
        _record_pid(os.getpid())
        time.sleep(1000)
        os._exit(0)
    pid = os.fork()
    if pid == 0:                        # a daemon: fork, setsid, fork, parent exits
        os.setsid()
        grandchild = os.fork()
        if grandchild == 0:
            _record_pid(os.getpid())
            time.sleep(1000)
        os._exit(0)
    os.waitpid(pid, 0)
    p = subprocess.Popen(["sleep", "1000"], start_new_session=True)
    _record_pid(p.pid)
    p = subprocess.Popen(["sleep", "1001"], env={})
    _record_pid(p.pid)
    time.sleep(0.2)


class Forks(Planted):
    """Correct, but leaves four sleeping processes behind on every case."""
    name = "hostile.forks"

    def compute(self, case, inputs, grads):
        _spawn_all()
        return super().compute(case, inputs, grads)


class ForksThenCrashes(Hostile):
    """Leaves sleeping processes behind, then aborts its worker."""
    name = "hostile.forks_then_crashes"

    def attack(self, case, inputs, grads):
        _spawn_all()
        os.abort()


class ForksThenHangs(Hostile):
    """Leaves sleeping processes behind, then hangs past the timeout."""
    name = "hostile.forks_then_hangs"

    def attack(self, case, inputs, grads):
        _spawn_all()
        _record_pid(os.getpid())   # the worker itself
        time.sleep(1000)


class VersionRaises(Planted):
    """A plug-in whose version() raises: unavailable, its verdicts skipped."""
    name = "hostile.version_raises"

    def version(self):
        raise RuntimeError("\x1b[31mno version\x1b[0m")


def impl_classes() -> list[type]:
    """Every hostile impl of this module, for the entry points of the test distribution."""
    return [c for c in globals().values() if isinstance(c, type) and issubclass(c, Planted)
            and c.name.startswith("hostile.")]
