"""Worker processes: each impl computes in a process of its own, so that a framework
that aborts, segfaults, hangs, eats memory or talks garbage costs one verdict, not the run.

The parent (:class:`Worker`) starts ``python -m harness.backend.worker`` with the
impl's variant environment (set before any framework import), sends it the
pickled impl once, then one request per case. Messages are length-prefixed
pickles on the worker's original stdout, which the worker then points at its
stderr so framework prints cannot corrupt them.

Replies are untrusted: a plug-in runs in the worker and may write anything to
that pipe. A reply is plain data (lists, dicts, strings, numbers and NumPy
arrays: :func:`wire`), bounded in size before it is read
(:func:`reply_limit`), unpickled by an unpickler that builds nothing else
(:class:`ReplyUnpickler`), and checked for shape before it becomes outcomes
(:func:`outcomes_of`). A worker that dies, overstays ``timeout``, exceeds
``max_rss`` or sends anything that is not a reply is killed, with every process
it started (:mod:`harness.backend.procs`); the request becomes an ``error`` outcome
naming the cause with the last lines of its stderr (of which the parent keeps
only the last ``STDERR_TAIL_BYTES``), and the next request starts a fresh worker.
"""
from __future__ import annotations

import dataclasses
import io
import math
import os
import pickle
import secrets
import select
import signal
import struct
import subprocess
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any, BinaryIO, Optional, Sequence

import numpy as np

from harness.backend import frameworks
from harness.backend import platforms, procs
from harness.safeio import printable
from harness.backend.adapters import ImplInfo, availability
from harness.backend.variants import environment
from harness.backend.adapters.base import (Impl, Outcome, checked_outcomes, compute_guarded,
                                           failed, grads_of, is_installed)

HEADER = struct.Struct("!Q")
STDERR_TAIL_LINES = 12
STDERR_TAIL_BYTES = 64 << 10    # what the parent keeps of a worker's stderr
SMALL_REPLY = 1 << 20           # the "ready" reply, and the text of one run's outcomes
START_S = 120                   # time a worker gets to import its framework, on top of timeout


class WorkerDied(Exception):
    """The worker stopped answering or sent something that is not a reply; ``str`` says
    why (signal, exit status, timeout, the reply's problem...)."""


class BadReply(Exception):
    """Bytes from a worker that are not the reply expected; ``str`` says what is wrong."""


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
    """A request, in the worker (the parent is trusted)."""
    (size,) = HEADER.unpack(_read_exactly(stream, HEADER.size))
    return pickle.loads(_read_exactly(stream, size))


OUTCOME_FIELDS = {f.name: f for f in dataclasses.fields(Outcome)}
TEXT_FIELDS = ("dtype", "unsupported", "skipped", "error", "exception", "padding")


def wire(run: dict[str, Outcome]) -> dict[str, dict]:
    """One run's outcomes as plain data: ``{grad: {field: value}}``, values a base-class
    ndarray (or None), text as ``str``."""
    out = {}
    for grad, o in run.items():
        fields = {name: str(getattr(o, name)) for name in TEXT_FIELDS}
        fields.update(values=None if o.values is None else np.asarray(o.values),
                      emulated=bool(o.emulated), notes=[str(n) for n in o.notes],
                      compute_s=None if o.compute_s is None else float(o.compute_s))
        out[str(grad)] = fields
    return out


def reply_limit(case, grads: Sequence[str], repeat: int) -> int:
    """The largest reply a worker may announce for ``repeat`` runs of ``case``: each grad
    as float64 of its shape (any dtype the frameworks return is at most that) plus room
    for text; a worker that announces more is not sending a reply."""
    per_run = sum(8 * math.prod(case.shape_of(g)) for g in grads) + SMALL_REPLY
    return repeat * per_run


_NUMPY = ("numpy", "numpy.core.multiarray", "numpy._core.multiarray", "numpy.core.numeric",
          "numpy._core.numeric")
REPLY_GLOBALS = {("numpy", "ndarray"), ("numpy", "dtype"), ("ml_dtypes", "bfloat16")} | {
    (m, n) for m in _NUMPY for n in ("_reconstruct", "scalar", "_frombuffer")}


def _reconstruct(real):
    """NumPy's array constructor, for empty arrays only (as NumPy pickles them): a reply
    that asks for a preallocated array of any other shape is refused, unallocated."""
    def reconstruct(cls, shape, typecode):
        if cls is not np.ndarray or tuple(shape) != (0,):
            raise pickle.UnpicklingError("an array preallocated with a shape")
        return real(cls, shape, typecode)
    return reconstruct


class ReplyUnpickler(pickle.Unpickler):
    """Unpickles plain data and NumPy arrays, nothing else: no class of a plug-in's, no
    callable that could allocate or run anything."""

    def find_class(self, module: str, name: str) -> Any:
        if (module, name) not in REPLY_GLOBALS:
            raise pickle.UnpicklingError(f"a reply may not hold {module}.{name}")
        found = super().find_class(module, name)
        return _reconstruct(found) if name == "_reconstruct" else found


def _outcome(grad: str, fields: object) -> Outcome:
    if not isinstance(fields, dict) or not set(fields) <= set(OUTCOME_FIELDS):
        raise BadReply(f"the outcome of {printable.excerpt(grad, 20)} is not a mapping of "
                       "Outcome fields")
    what = f"the outcome of {printable.excerpt(grad, 20)}"
    for name in TEXT_FIELDS:
        if not isinstance(fields.get(name, ""), str):
            raise BadReply(f"{what}: its {name} is not text")
    if not isinstance(fields.get("emulated", False), bool):
        raise BadReply(f"{what}: its emulated flag is not a boolean")
    notes = fields.get("notes", [])
    if not isinstance(notes, list) or not all(isinstance(n, str) for n in notes):
        raise BadReply(f"{what}: its notes are not a list of text")
    seconds = fields.get("compute_s")
    if seconds is not None and not (type(seconds) is float and math.isfinite(seconds)):
        raise BadReply(f"{what}: its compute_s is not a finite number of seconds")
    return Outcome(**fields)


def outcomes_of(payload: object, grads: Sequence[str], repeat: int) -> list[dict[str, Outcome]]:
    """The runs of a ``done`` reply as checked outcomes (:func:`checked_outcomes` again:
    whatever the worker was told, the parent judges what arrived), or :class:`BadReply`."""
    if not isinstance(payload, list) or len(payload) != repeat:
        raise BadReply(f"expected {repeat} run(s) of outcomes, got "
                       f"{type(payload).__name__}")
    runs = []
    for run in payload:
        if not isinstance(run, dict) or not all(isinstance(g, str) for g in run):
            raise BadReply("a run is not a mapping of grad -> outcome")
        runs.append(checked_outcomes({g: _outcome(g, f) for g, f in run.items()}, grads))
    return runs


# ---------------------------------------------------------------- child side

def _end_with_parent(parent: int) -> None:
    """Should the parent die (even by SIGKILL, which it cannot clean up after), end this
    worker and everything it started, instead of computing on as an orphan."""
    def watch() -> None:
        while os.getppid() == parent:
            time.sleep(1.0)
        procs.kill_all(os.getpid(), os.environ.get(procs.TAG_VARIABLE, ""), spare_root=True)
        os._exit(70)
    threading.Thread(target=watch, name="parent-watch", daemon=True).start()


def serve() -> None:
    """The worker's main loop: ``sys_path`` and the impls it hosts (every impl of one
    framework and variant environment) first, then ``(impl index, case, inputs, grads,
    repeat)`` per request."""
    procs.become_subreaper()   # orphans of what an impl starts stay ours, to be killed
    _end_with_parent(os.getppid())
    requests = sys.stdin.buffer
    replies = os.fdopen(os.dup(1), "wb")
    os.dup2(2, 1)  # anything a framework prints goes to stderr, not into the protocol
    sys_path, impls = None, None
    try:
        sys_path = receive(requests)
        sys.path[:0] = [p for p in sys_path if p not in sys.path]
        impls = receive(requests)
        ready = []
        for impl in impls:
            available, version = _version(impl)
            ready.append((bool(available), str(version),
                          platforms.probe_impl(impl) if available else platforms.probe("")))
        send(replies, ("ready", ready))
        while True:
            index, case, inputs, grads, repeat = receive(requests)
            runs = compute_guarded(impls[index], case, inputs, grads, repeat)
            try:
                payload = [wire(run) for run in runs]
            except Exception as exc:  # noqa: BLE001 - an outcome that cannot even be sent
                payload = [wire(failed(grads, exc))]
            send(replies, ("done", payload))
    except EOFError:
        # The parent is done with us. Leave without the interpreter's teardown of the
        # framework (1.2 s for TensorFlow, 0.7 s for torch, at the end of every run):
        # every reply has been flushed, and nothing of a worker's outlives it (JAX writes
        # its compilation cache as it compiles).
        for stream in (sys.stdout, sys.stderr):
            try:
                stream.flush()
            except (OSError, ValueError):
                pass
        os._exit(0)


def _version(impl: Impl) -> tuple[bool, str]:
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


class Tail:
    """The last ``size`` bytes a worker wrote to its stderr: a thread drains the pipe as it
    fills, so a worker that writes 300 MB costs the parent ``size`` bytes, and no disk."""

    def __init__(self, stream: BinaryIO, size: int = STDERR_TAIL_BYTES):
        self.fd, self.size = stream.fileno(), size
        self.buffer, self.total = bytearray(), 0
        self.lock = threading.Lock()
        self.thread = threading.Thread(target=self._drain, daemon=True)
        self.thread.start()

    def _drain(self) -> None:
        while True:
            try:
                chunk = os.read(self.fd, 1 << 16)
            except OSError:
                return
            if not chunk:
                return
            with self.lock:
                self.buffer += chunk
                self.total += len(chunk)
                if len(self.buffer) > self.size:
                    del self.buffer[:len(self.buffer) - self.size]

    def since(self, mark: int) -> bytes:
        """What was written after ``mark`` (a former :attr:`total`), as far as it is kept."""
        with self.lock:
            first = self.total - len(self.buffer)
            return bytes(self.buffer[max(mark - first, 0):])

    def finish(self, timeout: float = 1.0) -> None:
        """Wait (briefly) for the last bytes, once the worker and its children are gone."""
        self.thread.join(timeout)


class Worker:
    """A worker process hosting impls of one framework and variant environment (one import
    of the framework for all of them), started on first use and restarted after a
    failure."""

    def __init__(self, impls: Sequence[Impl], env: dict[str, str], timeout: float,
                 max_rss: Optional[int] = None, tag: Optional[str] = None):
        self.impls, self.env, self.timeout, self.max_rss = list(impls), env, timeout, max_rss
        self.tag = tag or secrets.token_hex(8)
        self.proc: Optional[subprocess.Popen] = None
        self.stderr: Optional[Tail] = None
        self.available: Optional[tuple[bool, str]] = None

    # -- lifecycle
    def start(self) -> list[tuple[bool, str]]:
        """Start the process if needed; returns (available, version or reason) per impl."""
        if self.proc is None:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "harness.backend.worker"], stdin=subprocess.PIPE,
                stdout=subprocess.PIPE, stderr=subprocess.PIPE, bufsize=0,
                start_new_session=True,   # its own process group: killed as one
                env={**os.environ, **self.env, procs.TAG_VARIABLE: self.tag})
            self.stderr = Tail(self.proc.stderr)
            self._send(sys.path, START_S)   # first, so that the impl's module can be found
            self._send(self.impls, START_S)
            try:
                self.available = self._ready(self._reply(self.timeout + START_S, SMALL_REPLY))
            except BadReply as exc:
                raise WorkerDied(self._bad_reply(exc, 0)) from None
        return self.available

    def _ready(self, reply: tuple) -> list[tuple[bool, str, dict]]:
        kind, info = reply
        if kind != "ready" or not (isinstance(info, list) and len(info) == len(self.impls)
                                   and all(isinstance(i, tuple) and len(i) == 3
                                           and isinstance(i[0], bool) and isinstance(i[1], str)
                                           and isinstance(i[2], dict) for i in info)):
            raise BadReply("the worker's first reply is not (ready, [(available, version, "
                           "platform) per impl])")
        return info

    def close(self) -> None:
        """End the worker and everything it started; nothing it ran survives this."""
        if self.proc is not None:
            self._sweep(spare_worker=True)
            try:
                self.proc.stdin.close()
                self.proc.wait(timeout=5)
            except (OSError, subprocess.TimeoutExpired):
                pass
            self._kill()
            self.proc.stdout.close()
            if self.stderr is not None:
                self.stderr.finish(0.5)
                if not self.stderr.thread.is_alive():   # never close an fd being read
                    self.proc.stderr.close()
            self.proc = None
        self.stderr = None

    def _kill(self) -> None:
        """Kill the worker, its process group, its descendants and whatever carries its tag."""
        if self.proc is not None:
            self._sweep()
            self.proc.kill()
            self.proc.wait()
            self._sweep()   # orphans that raced the first sweep

    def _sweep(self, spare_worker: bool = False) -> None:
        """Kill what the worker started (:func:`procs.kill_all`); its pid counts only until
        it is reaped (then it may be someone else's)."""
        procs.kill_all(self.proc.pid, self.tag, spare_root=spare_worker,
                       tree=self.proc.returncode is None)

    # -- requests
    def compute(self, case, inputs, grads: Sequence[str], repeat: int = 1,
                index: int = 0) -> list[dict]:
        """Outcomes of ``repeat`` evaluations by impl ``index``, or raise
        :class:`WorkerDied`."""
        mark = 0
        try:
            self.start()
            mark = self.stderr.total
            deadline = self.timeout * repeat
            self._send((index, case, inputs, tuple(grads), repeat), deadline, mark)
            kind, payload = self._reply(deadline, reply_limit(case, grads, repeat), mark)
            if kind != "done":
                raise BadReply(f"a reply of kind {printable.excerpt(repr(kind), 30)}")
            return outcomes_of(payload, grads, repeat)
        except BadReply as exc:
            cause = self._bad_reply(exc, mark)
            self._restart_later()
            raise WorkerDied(cause) from None
        except (BrokenPipeError, OSError) as exc:
            cause = self._death_cause(f"could not talk to the worker: {exc}")
            self._restart_later()
            raise WorkerDied(cause) from None
        except WorkerDied:
            self._restart_later()
            raise

    def _bad_reply(self, exc: BadReply, mark: int) -> str:
        self._kill()
        return self._tail(f"the worker sent something that is not a reply: {exc} (worker "
                          "killed)", mark)

    def _restart_later(self) -> None:
        self._kill()
        self.close()

    def _wait(self, fd: int, deadline: float, mark: int, write: bool = False) -> None:
        """Until ``fd`` is ready; the worker is killed past ``deadline`` or ``max_rss``."""
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                self._kill()
                raise WorkerDied(self._tail(f"timeout: no answer within {self.budget:g} s "
                                            "(worker killed)", mark))
            ready = select.select([] if write else [fd], [fd] if write else [], [],
                                  min(remaining, 0.2))
            if self.max_rss and _rss_bytes(self.proc.pid) > self.max_rss:
                self._kill()
                raise WorkerDied(self._tail(f"out of memory: resident size above "
                                            f"{self.max_rss >> 20} MiB (worker killed)", mark))
            if ready[0] or ready[1]:
                return
            if self.proc.poll() is not None:   # dead, though a child may hold its pipes open
                raise WorkerDied(self._death_cause("worker exited", mark))

    def _send(self, obj: Any, timeout: float, mark: int = 0) -> None:
        """A request, written without ever blocking past ``timeout``."""
        self.budget = timeout
        deadline = time.monotonic() + timeout
        payload = pickle.dumps(obj, protocol=pickle.HIGHEST_PROTOCOL)
        data = memoryview(HEADER.pack(len(payload)) + payload)
        fd = self.proc.stdin.fileno()
        os.set_blocking(fd, False)
        while data:
            self._wait(fd, deadline, mark, write=True)
            try:
                data = data[os.write(fd, data[:1 << 20]):]
            except BlockingIOError:
                continue

    def _read(self, n: int, deadline: float, mark: int) -> bytes:
        """Exactly ``n`` bytes of the reply pipe, as they arrive (memory grows only with
        what was actually sent), or :class:`WorkerDied`."""
        fd, chunks, got = self.proc.stdout.fileno(), [], 0
        while got < n:
            self._wait(fd, deadline, mark)
            chunk = os.read(fd, min(n - got, 1 << 20))
            if not chunk:
                raise WorkerDied(self._death_cause("worker exited", mark))
            chunks.append(chunk)
            got += len(chunk)
        return b"".join(chunks)

    def _reply(self, timeout: float, limit: int, mark: int = 0) -> tuple:
        """The next reply: a (kind, payload) pair of at most ``limit`` bytes."""
        self.budget = timeout
        deadline = time.monotonic() + timeout
        (size,) = HEADER.unpack(self._read(HEADER.size, deadline, mark))
        if size > limit:
            raise BadReply(f"its header announces {size} bytes; a reply to this request is "
                           f"at most {limit}")
        body = self._read(size, deadline, mark)
        try:
            reply = ReplyUnpickler(io.BytesIO(body)).load()
        except Exception as exc:  # noqa: BLE001 - any garbage: UnpicklingError, EOFError...
            raise BadReply(f"{type(exc).__name__}: {printable.excerpt(exc, 120)}") from None
        if not (isinstance(reply, tuple) and len(reply) == 2):
            raise BadReply(f"a {type(reply).__name__} instead of a (kind, payload) pair")
        return reply

    def _death_cause(self, what: str, mark: int = 0) -> str:
        code = None
        if self.proc is not None:
            try:
                code = self.proc.wait(timeout=2)
            except subprocess.TimeoutExpired:   # it closed its reply pipe but runs on
                self._kill()
                return self._tail("the worker closed its reply pipe (worker killed)", mark)
        if code is not None and code < 0:
            what = f"worker killed by {_signal_name(code)}"
        elif code is not None:
            what = f"worker exited with status {code}"
        if self.proc is not None:
            self._sweep()   # what it left behind
        return self._tail(what, mark)

    def _tail(self, what: str, mark: int) -> str:
        if self.stderr is None:
            return what
        self.stderr.finish(0.2 if self.proc is None or self.proc.poll() is None else 1.0)
        text = self.stderr.since(mark).decode(errors="replace").strip()
        lines = text.splitlines()[-STDERR_TAIL_LINES:]
        if not lines:
            return what
        return what + "\nlast lines of its stderr:\n  " + "\n  ".join(
            printable.excerpt(line, 400) for line in lines)


def error_outcomes(grads: Sequence[str], cause: str) -> dict[str, Outcome]:
    return {g: Outcome(error=cause) for g in grads}


# the BLAS and OpenMP pools every framework may use, then each framework's own
THREAD_VARIABLES = ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS",
                    *frameworks.thread_variables())


def thread_environment(threads: int) -> dict[str, str]:
    """Thread-pool sizes for one worker, so that ``jobs`` busy workers share the cores
    instead of each spinning up a pool the size of the machine. Variables the user
    set are left alone."""
    env = {k: str(threads) for k in THREAD_VARIABLES if k not in os.environ}
    if threads == 1:
        env.update({k: v for k, v in frameworks.single_thread_settings().items()
                    if k not in os.environ})
    return env


class WorkerPool:
    """The runner's backend with isolation: worker processes, ``jobs`` busy at once.

    Impls are grouped by framework, variant environment and settings: ``tf.backprop``
    and ``tf.tape`` share one worker (one TensorFlow import), ``tf.tape[onednn=off]``
    needs another. Each group starts with one worker, all groups in parallel.
    Once a group has computed for more than ``GROW_AFTER_S`` (so a new worker's
    start-up, a framework import of a few seconds, will pay for itself), another
    is started whenever all of its workers are busy, up to ``jobs``: a framework
    that dominates the run (JAX compiling every new shape, say) is spread over
    the cores too.
    """

    GROW_AFTER_S = 10.0

    def __init__(self, jobs: int, timeout: float, max_rss: Optional[int] = None):
        self.jobs, self.timeout, self.max_rss = jobs, timeout, max_rss
        self.threads = max(1, (os.cpu_count() or 1) // max(jobs, 1))
        self.groups: dict[tuple, tuple[list[Impl], dict[str, str]]] = {}
        self.where: dict[str, tuple[tuple, int]] = {}    # impl name -> (group, index)
        self.idle: dict[tuple, list[Worker]] = {}
        self.all: list[Worker] = []
        self.busy_s: dict[tuple, float] = {}
        self.cond = threading.Condition()
        self.probes = 0

    def _new_worker(self, group: tuple) -> Worker:
        impls, env = self.groups[group]
        worker = Worker(impls, env, self.timeout, self.max_rss)
        worker.group = group
        self.all.append(worker)
        return worker

    def probe(self, impls: Sequence[Impl]) -> list:
        """Start a worker per group of installed impls (in parallel); availability and
        versions come from inside it."""
        self.probes += 1
        infos: dict[str, ImplInfo] = {}
        for impl in impls:
            if not is_installed(impl.framework):   # or a plug-in that failed to load
                infos[impl.name] = ImplInfo(impl, *availability(impl))
                continue
            try:
                pickle.dumps(impl, protocol=pickle.HIGHEST_PROTOCOL)
            except Exception as exc:  # noqa: BLE001 - whatever stops it reaching a worker
                infos[impl.name] = ImplInfo(impl, False, f"cannot be sent to a worker process "
                                            f"({type(exc).__name__}: {exc}); run it with "
                                            "--in-process")
                continue
            env = {**thread_environment(self.threads), **environment(impl)}
            # settings are process-wide state (TF's thread pools can be sized once), so
            # only impls with the very same settings share a process
            settings = tuple(sorted((getattr(impl, "settings", None) or {}).items()))
            group = (self.probes, impl.framework, tuple(sorted(env.items())), settings)
            members, _ = self.groups.setdefault(group, ([], env))
            self.where[impl.name] = (group, len(members))
            members.append(impl)

        def start(group):
            with self.cond:
                worker = self._new_worker(group)
            members = self.groups[group][0]
            try:
                ready = worker.start()
            except WorkerDied as exc:
                return [ImplInfo(i, False, f"worker failed to start: {exc}") for i in members]
            self.idle[group] = [worker]
            return [ImplInfo(i, r[0], r[1], platform=r[2]) for i, r in zip(members, ready)]
        new = [g for g in self.groups if g[0] == self.probes]
        with ThreadPoolExecutor(max_workers=max(len(new), 1)) as pool:
            for started in pool.map(start, new):
                infos.update((i.impl.name, i) for i in started)
        return [infos[impl.name] for impl in impls]

    def _acquire(self, group: tuple) -> Worker:
        with self.cond:
            while True:
                if self.idle[group]:
                    return self.idle[group].pop()
                grown = sum(w.group == group for w in self.all)
                if grown < self.jobs and self.busy_s.get(group, 0.0) > self.GROW_AFTER_S:
                    return self._new_worker(group)
                self.cond.wait()

    def _release(self, group: tuple, worker: Worker, seconds: float) -> None:
        with self.cond:
            self.busy_s[group] = self.busy_s.get(group, 0.0) + seconds
            self.idle[group].append(worker)
            self.cond.notify_all()

    def compute(self, info, case, inputs, repeat: int) -> tuple[list[dict[str, Outcome]], float]:
        """Outcomes of ``repeat`` runs and the seconds they took (waiting not counted)."""
        group, index = self.where[info.impl.name]
        worker = self._acquire(group)
        start = time.perf_counter()
        try:
            runs = worker.compute(case, inputs, grads_of(info.impl, case), repeat, index)
        except WorkerDied as exc:
            runs = [error_outcomes(grads_of(info.impl, case), str(exc))]
        finally:  # whatever happened, the worker goes back to the pool
            seconds = time.perf_counter() - start
            self._release(group, worker, seconds)
        return runs, seconds

    def close(self) -> None:
        """End every worker, all at once: each takes a second or so to shut its framework
        down after its input closes, and one after another that added up (3 s of a
        ResNet-layer run's 11)."""
        with ThreadPoolExecutor(max_workers=max(len(self.all), 1)) as pool:
            list(pool.map(Worker.close, self.all))


if __name__ == "__main__":
    serve()
