"""Worker processes: each impl computes in a process of its own, so that a framework
that aborts, segfaults, hangs or eats memory costs one verdict, not the run.

The parent (:class:`Worker`) starts ``python -m harness.worker`` with the
impl's variant environment (set before any framework import), sends it the
pickled impl once, then one request per case; replies are pickled outcomes.
Messages are length-prefixed pickles on the worker's original stdout, which
the worker then points at its stderr so framework prints cannot corrupt them.
A worker that dies, overstays ``timeout`` or exceeds ``max_rss`` is killed; the
request becomes an ``error`` outcome naming the cause with the last lines of
its stderr, and the next request starts a fresh worker.
"""
from __future__ import annotations

import os
import pickle
import select
import signal
import struct
import subprocess
import sys
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any, BinaryIO, Optional, Sequence

from harness.adapters.base import Impl, Outcome, checked_outcomes, failed, is_installed

HEADER = struct.Struct("!Q")
STDERR_TAIL_LINES = 12


class WorkerDied(Exception):
    """The worker stopped answering; ``str`` says why (signal, exit status, timeout...)."""


# ---------------------------------------------------------------- wire format

def send(stream: BinaryIO, obj: Any) -> None:
    data = pickle.dumps(obj, protocol=pickle.HIGHEST_PROTOCOL)
    stream.write(HEADER.pack(len(data)) + data)
    stream.flush()


def _read_exactly(stream: BinaryIO, n: int) -> bytes:
    chunks, remaining = [], n
    while remaining:
        chunk = stream.read(remaining)
        if not chunk:
            raise EOFError
        chunks.append(chunk)
        remaining -= len(chunk)
    return b"".join(chunks)


def receive(stream: BinaryIO) -> Any:
    (size,) = HEADER.unpack(_read_exactly(stream, HEADER.size))
    return pickle.loads(_read_exactly(stream, size))


# ---------------------------------------------------------------- child side

def serve() -> None:
    """The worker's main loop: ``(sys_path, impl)`` first, then ``(case, inputs, grads, repeat)``."""
    requests = sys.stdin.buffer
    replies = os.fdopen(os.dup(1), "wb")
    os.dup2(2, 1)  # anything a framework prints goes to stderr, not into the protocol
    sys_path, impl = None, None
    try:
        sys_path = receive(requests)
        sys.path[:0] = [p for p in sys_path if p not in sys.path]
        impl = receive(requests)
        send(replies, ("ready", _version(impl)))
        while True:
            case, inputs, grads, repeat = receive(requests)
            send(replies, ("done", compute_guarded(impl, case, inputs, grads, repeat)))
    except EOFError:
        return


def compute_guarded(impl: Impl, case, inputs, grads, repeat: int) -> list[dict[str, Outcome]]:
    """``repeat`` evaluations, each checked (:func:`checked_outcomes`); an exception escaping
    the impl, even ``SystemExit``, costs this case's verdicts, not the run."""
    runs = []
    try:
        for _ in range(repeat):
            runs.append(checked_outcomes(impl.compute(case, inputs, grads), grads))
    except (Exception, SystemExit) as exc:  # noqa: BLE001 - a broken impl costs its verdicts
        return [failed(grads, exc)]
    return runs


def _version(impl: Impl) -> tuple[bool, str]:
    from harness.adapters import availability
    return availability(impl)


# ---------------------------------------------------------------- parent side

def _rss_bytes(pid: int) -> int:
    try:
        with open(f"/proc/{pid}/statm") as f:
            return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
    except (OSError, ValueError, IndexError):
        return 0


def _signal_name(code: int) -> str:
    try:
        return signal.Signals(-code).name
    except ValueError:
        return f"signal {-code}"


class Worker:
    """One impl's worker process, started on first use and restarted after a failure."""

    def __init__(self, impl: Impl, env: dict[str, str], timeout: float,
                 max_rss: Optional[int] = None):
        self.impl, self.env, self.timeout, self.max_rss = impl, env, timeout, max_rss
        self.proc: Optional[subprocess.Popen] = None
        self.stderr: Optional[BinaryIO] = None
        self.available: Optional[tuple[bool, str]] = None

    # -- lifecycle
    def start(self) -> tuple[bool, str]:
        """Start the process if needed; returns (available, version or reason)."""
        if self.proc is None:
            self.stderr = tempfile.TemporaryFile()
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "harness.worker"], stdin=subprocess.PIPE,
                stdout=subprocess.PIPE, stderr=self.stderr, env={**os.environ, **self.env})
            send(self.proc.stdin, sys.path)
            send(self.proc.stdin, self.impl)
            kind, self.available = self._reply(self.timeout + 120)  # + framework import time
        return self.available

    def close(self) -> None:
        if self.proc is not None:
            try:
                self.proc.stdin.close()
                self.proc.wait(timeout=5)
            except (OSError, subprocess.TimeoutExpired):
                self.proc.kill()
                self.proc.wait()
            self.proc = None
        if self.stderr is not None:
            self.stderr.close()
            self.stderr = None

    def _kill(self) -> None:
        if self.proc is not None:
            self.proc.kill()
            self.proc.wait()

    # -- requests
    def compute(self, case, inputs, grads: Sequence[str], repeat: int = 1) -> list[dict]:
        """Outcomes of ``repeat`` evaluations, or raise :class:`WorkerDied`."""
        try:
            self.start()
            if self.stderr is not None:
                self.stderr.seek(0, os.SEEK_END)
            mark = self.stderr.tell() if self.stderr else 0
            send(self.proc.stdin, (case, inputs, tuple(grads), repeat))
            kind, results = self._reply(self.timeout * repeat, mark)
            return results
        except (BrokenPipeError, OSError) as exc:
            cause = self._death_cause(f"could not talk to the worker: {exc}")
            self._restart_later()
            raise WorkerDied(cause) from None
        except WorkerDied:
            self._restart_later()
            raise

    def _restart_later(self) -> None:
        self._kill()
        self.close()

    def _reply(self, timeout: float, mark: int = 0):
        deadline = time.monotonic() + timeout
        out = self.proc.stdout
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                self._kill()
                raise WorkerDied(self._tail(f"timeout: no answer within {timeout:g} s "
                                            "(worker killed)", mark))
            ready, _, _ = select.select([out], [], [], min(remaining, 0.2))
            if self.max_rss and _rss_bytes(self.proc.pid) > self.max_rss:
                self._kill()
                raise WorkerDied(self._tail(f"out of memory: resident size above "
                                            f"{self.max_rss >> 20} MiB (worker killed)", mark))
            if ready:
                try:
                    return receive(out)
                except EOFError:
                    raise WorkerDied(self._death_cause("worker exited", mark)) from None

    def _death_cause(self, what: str, mark: int = 0) -> str:
        code = self.proc.wait() if self.proc else None
        if code is not None and code < 0:
            what = f"worker killed by {_signal_name(code)}"
        elif code is not None:
            what = f"worker exited with status {code}"
        return self._tail(what, mark)

    def _tail(self, what: str, mark: int) -> str:
        if self.stderr is None:
            return what
        self.stderr.seek(mark)
        lines = self.stderr.read().decode(errors="replace").strip().splitlines()
        self.stderr.seek(0, os.SEEK_END)
        if not lines:
            return what
        return what + "\nlast lines of its stderr:\n  " + \
            "\n  ".join(lines[-STDERR_TAIL_LINES:])


def error_outcomes(grads: Sequence[str], cause: str) -> dict[str, Outcome]:
    return {g: Outcome(error=cause) for g in grads}


THREAD_VARIABLES = ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS",
                    "TF_NUM_INTRAOP_THREADS", "TF_NUM_INTEROP_THREADS")


def thread_environment(threads: int) -> dict[str, str]:
    """Thread-pool sizes for one worker, so that ``jobs`` busy workers share the cores
    instead of each spinning up a pool the size of the machine. Variables the user
    set are left alone."""
    env = {k: str(threads) for k in THREAD_VARIABLES if k not in os.environ}
    if "XLA_FLAGS" not in os.environ and threads == 1:
        env["XLA_FLAGS"] = "--xla_cpu_multi_thread_eigen=false"
    return env


class WorkerPool:
    """The runner's backend with isolation: worker processes per impl, ``jobs`` busy at once.

    Each impl starts with one worker. Once an impl has computed for more than
    ``GROW_AFTER_S`` (so a new worker's start-up, a framework import of a few
    seconds, will pay for itself), another is started whenever all of its
    workers are busy, up to ``jobs``: an impl that dominates the run (JAX
    compiling every new shape, say) is spread over the cores too.
    """

    GROW_AFTER_S = 10.0

    def __init__(self, jobs: int, timeout: float, max_rss: Optional[int] = None):
        self.jobs, self.timeout, self.max_rss = jobs, timeout, max_rss
        self.threads = max(1, (os.cpu_count() or 1) // max(jobs, 1))
        self.envs: dict[str, dict[str, str]] = {}
        self.idle: dict[str, list[Worker]] = {}
        self.all: list[Worker] = []
        self.busy_s: dict[str, float] = {}
        self.cond = threading.Condition()

    def _new_worker(self, impl: Impl) -> Worker:
        worker = Worker(impl, self.envs[impl.name], self.timeout, self.max_rss)
        self.all.append(worker)
        return worker

    def probe(self, impls: Sequence[Impl]) -> list:
        """Start a worker per installed impl (in parallel); availability comes from inside it."""
        from harness.adapters import availability
        from harness.runner import ImplInfo
        from harness.variants import environment

        def start(impl):
            if not is_installed(impl.framework):   # or a plug-in that failed to load
                return ImplInfo(impl, *availability(impl))
            self.envs[impl.name] = {**thread_environment(self.threads), **environment(impl)}
            with self.cond:
                worker = self._new_worker(impl)
            try:
                info = ImplInfo(impl, *worker.start())
            except WorkerDied as exc:
                return ImplInfo(impl, False, f"worker failed to start: {exc}")
            except (pickle.PicklingError, TypeError, AttributeError) as exc:
                worker.close()
                return ImplInfo(impl, False, f"cannot be sent to a worker process "
                                f"({type(exc).__name__}: {exc}); run it with --in-process")
            self.idle[impl.name] = [worker]
            return info
        with ThreadPoolExecutor(max_workers=max(self.jobs, 1)) as pool:
            return list(pool.map(start, impls))

    def _acquire(self, impl: Impl) -> Worker:
        with self.cond:
            while True:
                if self.idle[impl.name]:
                    return self.idle[impl.name].pop()
                grown = sum(w.impl.name == impl.name for w in self.all)
                if grown < self.jobs and self.busy_s.get(impl.name, 0.0) > self.GROW_AFTER_S:
                    return self._new_worker(impl)
                self.cond.wait()

    def _release(self, worker: Worker, seconds: float) -> None:
        with self.cond:
            name = worker.impl.name
            self.busy_s[name] = self.busy_s.get(name, 0.0) + seconds
            self.idle[name].append(worker)
            self.cond.notify_all()

    def compute(self, info, case, inputs, repeat: int) -> tuple[list[dict[str, Outcome]], float]:
        """Outcomes of ``repeat`` runs and the seconds they took (waiting not counted)."""
        worker = self._acquire(info.impl)
        start = time.perf_counter()
        try:
            runs = worker.compute(case, inputs, case.grads, repeat)
        except WorkerDied as exc:
            runs = [error_outcomes(case.grads, str(exc))]
        finally:  # whatever happened, the worker goes back to the pool
            seconds = time.perf_counter() - start
            self._release(worker, seconds)
        return runs, seconds

    def close(self) -> None:
        for worker in self.all:
            worker.close()


if __name__ == "__main__":
    serve()
