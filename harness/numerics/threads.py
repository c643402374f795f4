"""The oracle's threads: how many it computes with, and the threads themselves.

The oracle runs in convgrad's own process while the framework workers compute
(:mod:`harness.session.runner`). NumPy's BLAS (OpenBLAS) left to itself starts a thread
per core for every product and lets the idle ones spin between products; beside busy
workers on a 2-core machine those threads fight the workers and each other, and a
ResNet layer's oracle took 4-15x its single-threaded time (issue 24). So the oracle
owns its threads instead:

* while it computes, NumPy's BLAS is held to **one** thread (threadpoolctl, on NumPy's
  BLAS library only; restored when the last oracle call in the process returns);
* the GEMM path (:mod:`harness.numerics.oracle_gemm`) spreads its im2col blocks over
  ``current()`` threads of its own (:func:`each_block`): each thread builds a block's
  columns and multiplies them, single-threaded, and takes the next block when done, so
  a thread the machine's load delays only does fewer blocks, and nothing spins. Sums
  over blocks (``dw``, ``dx``'s col2im) are added in block order, so the results are
  bit-identical for every thread count (BLAS's own threads, as before, may split a long
  sum by thread: some ``dw`` then differ in the last bit).

The budget, ``current()``: the ``CONVGRAD_ORACLE_THREADS`` environment variable when
set (``N >= 1``: N threads whatever else computes; ``0``: the behaviour before issue
24, one thread of the oracle's own and BLAS's own default pool), else what the caller's
:func:`budget` says, else every core this process may run on. The runner's, asked at
each oracle call, is :func:`for_load` of the computations it has in flight: every core
beside one-thread workers (the default), the cores a framework's own pool leaves free
beside a multi-threaded one (``--in-process``, ``--jobs`` below the cores).
"""
from __future__ import annotations

import contextlib
import contextvars
import os
import threading
import warnings
from pathlib import Path
from typing import Callable, Iterator, Optional, Sequence, TypeVar, Union

import numpy as np
import threadpoolctl

ENV = "CONVGRAD_ORACLE_THREADS"
LEGACY = 0              # the budget that leaves NumPy's BLAS its own threads (before issue 24)
AHEAD = 1               # blocks a thread may run ahead of the ordered sum, per thread

Budget = Union[int, Callable[[], int], None]
_budget: contextvars.ContextVar[Budget] = contextvars.ContextVar("oracle_threads", default=None)

T = TypeVar("T")
R = TypeVar("R")


def cores() -> int:
    """The cores this process may run on."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except (AttributeError, OSError):       # not Linux
        return max(1, os.cpu_count() or 1)


def for_load(busy: int, threads_each: int = 1, total: Optional[int] = None) -> int:
    """The runner's budget beside ``busy`` framework computations of ``threads_each``
    threads each: every core beside one-thread computations, else the cores they leave
    free, at least one.

    One-thread workers (``--jobs`` = the cores, the default) have no parallel region
    for the oracle's threads to stall, and the oracle's own threads do not spin, so the
    oracle takes every core: measured beside two busy one-thread workers (torch, TF) on
    a 2-vCPU VM (benchmarks/oracle_load.py, 9 fresh-input rounds), two oracle threads
    ran the ResNet layer at 1.08-1.17x the speed of a same-shape GEMM, one thread at
    0.60-0.70x; the whole ``convgrad run`` of that case took the same time and CPU
    with either, within noise. A framework with a pool of its own (``--in-process``,
    or ``--jobs`` below the cores) waits at barriers for its slowest thread: there the
    oracle keeps to the cores that pool leaves free."""
    total = cores() if total is None else total
    if max(1, int(threads_each)) == 1:
        return total
    return max(1, total - max(0, int(busy)) * int(threads_each))


def override() -> Optional[int]:
    """``CONVGRAD_ORACLE_THREADS`` as a count (0: the old behaviour), or None when unset or
    empty. Anything else is ignored, with a warning (once per value): it changes only
    how fast the oracle runs, so it is no reason to stop a run."""
    text = os.environ.get(ENV, "").strip()
    if not text:
        return None
    try:
        value = int(text)
    except ValueError:
        value = -1
    if value < 0:
        if text not in _warned:
            _warned.add(text)
            warnings.warn(f"{ENV}={text[:40]!r} is not a number of threads (>= 1, or 0 for "
                          "BLAS's own): ignored", RuntimeWarning, stacklevel=2)
        return None
    return value


_warned: set[str] = set()


@contextlib.contextmanager
def budget(value: Budget) -> Iterator[None]:
    """Within this block (this thread or task), the oracle computes with ``value`` threads:
    a count (``LEGACY``, 0: BLAS's own), or a function asked at each oracle call (the
    runner's: the cores its workers leave free just then), or None (every core).
    ``CONVGRAD_ORACLE_THREADS`` still wins."""
    token = _budget.set(value)
    try:
        yield
    finally:
        _budget.reset(token)


def current() -> int:
    """The oracle's thread count for a call starting now (``LEGACY``: BLAS's own threads)."""
    forced = override()
    if forced is not None:
        return forced
    value = _budget.get()
    if callable(value):
        value = value()
    return cores() if value is None else max(LEGACY, int(value))


def recorded(jobs: int, threads_each: int) -> int:
    """For a run record: the oracle's thread count while all ``jobs`` computations of
    ``threads_each`` threads compute (``CONVGRAD_ORACLE_THREADS`` where set; 0: BLAS's
    own threads)."""
    forced = override()
    return forced if forced is not None else for_load(jobs, threads_each)


# --- NumPy's BLAS held to one thread while the oracle computes ---------------------

class _Pin:
    """Holds NumPy's BLAS libraries to one thread while any oracle call runs (counted, so
    nested and concurrent calls restore the old limits once, when the last one returns)."""

    def __init__(self):
        self.lock = threading.Lock()
        self.depth = 0
        self.controller: Optional[threadpoolctl.ThreadpoolController] = None
        self.saved: Optional[list] = None

    def _numpy_blas(self) -> threadpoolctl.ThreadpoolController:
        if self.controller is None:
            found = threadpoolctl.ThreadpoolController().select(user_api="blas")
            home = Path(np.__file__).resolve().parent
            places = (home, home.parent / f"{home.name}.libs")     # the wheel's own copies
            mine = [c.filepath for c in found.lib_controllers
                    if any(p in Path(c.filepath).resolve().parents for p in places)]
            # numpy's own wheel-bundled BLAS; else (a distro numpy) every BLAS loaded
            self.controller = found.select(filepath=mine) if mine else found
        return self.controller

    def __enter__(self) -> None:
        with self.lock:
            if self.depth == 0:
                blas = self._numpy_blas()
                self.saved = [c.num_threads for c in blas.lib_controllers]
                for c in blas.lib_controllers:
                    if c.num_threads != 1:
                        c.set_num_threads(1)
            self.depth += 1

    def __exit__(self, *exc) -> None:
        with self.lock:
            self.depth -= 1
            if self.depth == 0 and self.saved is not None:
                for c, n in zip(self._numpy_blas().lib_controllers, self.saved):
                    if c.num_threads != n:
                        c.set_num_threads(n)
                self.saved = None


_pin = _Pin()


@contextlib.contextmanager
def owned() -> Iterator[int]:
    """One oracle call's threads: yields ``current()``; unless that is ``LEGACY``, NumPy's
    BLAS is held to one thread meanwhile (the call's own threads do the rest)."""
    count = current()
    if count == LEGACY:
        yield LEGACY
        return
    with _pin:
        yield count


def blas_threads() -> list[int]:
    """The thread counts of NumPy's BLAS libraries now (for tests and benchmarks)."""
    return [c.num_threads for c in _pin._numpy_blas().lib_controllers]


# --- the oracle's own threads ------------------------------------------------------

class _Ordered:
    """Results handed in by block index, passed to ``finish`` one at a time in index order."""

    def __init__(self, finish: Callable[[int, object], None]):
        self.finish = finish
        self.cond = threading.Condition()
        self.ready: dict[int, object] = {}
        self.next = 0
        self.busy = False
        self.failed: Optional[BaseException] = None

    def put(self, index: int, result: object) -> None:
        with self.cond:
            self.ready[index] = result
        while True:
            with self.cond:
                if self.busy or self.next not in self.ready or self.failed:
                    return
                index, result, self.busy = self.next, self.ready.pop(self.next), True
            try:
                self.finish(index, result)
            finally:
                with self.cond:
                    self.next, self.busy = self.next + 1, False
                    self.cond.notify_all()

    def wait_room(self, index: int, ahead: int) -> None:
        """Wait until block ``index`` is at most ``ahead`` past the next to finish."""
        with self.cond:
            while index - self.next > ahead and not self.failed:
                self.cond.wait()

    def fail(self, exc: BaseException) -> None:
        with self.cond:
            self.failed = self.failed or exc
            self.cond.notify_all()


def each_block(blocks: Sequence[T], work: Callable[[T, dict], R], threads: int,
               finish: Optional[Callable[[int, R], None]] = None) -> None:
    """``work(block, scratch)`` for every block, on up to ``threads`` threads (this one and
    ``threads - 1`` more), each thread with a ``scratch`` dict of its own (its buffers);
    ``finish(index, result)``, when given, runs for the blocks in their order, one at a
    time (an ordered sum: the same additions in the same order as one thread makes).
    A thread takes the next block when it is done with one; none runs more than
    ``AHEAD * threads`` blocks past the next to finish, so results waiting for their
    turn stay few. The first exception raised anywhere is raised here."""
    threads = max(1, min(int(threads), len(blocks)))
    if threads == 1:
        scratch: dict = {}
        for index, block in enumerate(blocks):
            result = work(block, scratch)
            if finish is not None:
                finish(index, result)
        return
    ordered = _Ordered(finish) if finish is not None else None
    lock, taken = threading.Lock(), iter(range(len(blocks)))
    errors: list[BaseException] = []

    def run() -> None:
        scratch: dict = {}
        try:
            while not errors:
                with lock:
                    index = next(taken, None)
                if index is None:
                    return
                if ordered is not None:
                    ordered.wait_room(index, AHEAD * threads)
                    if ordered.failed:
                        return
                result = work(blocks[index], scratch)
                if ordered is not None:
                    ordered.put(index, result)
        except BaseException as exc:  # noqa: BLE001 - re-raised in the calling thread
            errors.append(exc)
            if ordered is not None:
                ordered.fail(exc)

    helpers = [threading.Thread(target=run, name=f"oracle-{i}", daemon=True)
               for i in range(threads - 1)]
    for t in helpers:
        t.start()
    run()
    try:
        for t in helpers:
            t.join()
    except BaseException as exc:   # Ctrl-C while waiting: the helpers stop after their block
        errors.append(exc)
        if ordered is not None:
            ordered.fail(exc)
        raise
    if errors:
        raise errors[0]
