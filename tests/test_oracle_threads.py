"""The oracle's thread budget (harness/numerics/threads.py): applied, owned, overridable.

Functional checks, no timing: inside an oracle call NumPy's BLAS is held to one thread
(threadpoolctl's view) and the GEMM path runs its blocks on the budget's threads; the
old limits come back afterwards; ``CONVGRAD_ORACLE_THREADS`` wins over the runner's
budget; the runner hands the oracle the cores its computations leave free; and every
thread count gives bit-identical results.
"""
from __future__ import annotations

import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pytest
import threadpoolctl

from harness.numerics import oracle, oracle_gemm, threads

REPO = Path(__file__).resolve().parents[1]
LAYER = dict(strides=[1, 1], pads=[(1, 1), (1, 1)], dilations=[1, 1])


@pytest.fixture(autouse=True)
def _no_override(monkeypatch):
    monkeypatch.delenv(threads.ENV, raising=False)


def _numpy_blas_threads() -> list[int]:
    return threads.blas_threads()


def _spy(monkeypatch) -> list[dict]:
    """Records, for each block loop of the GEMM path, the thread count it was given, NumPy's
    BLAS limits seen from inside a block (threadpoolctl) and the threads that ran blocks."""
    seen: list[dict] = []
    real = threads.each_block

    def each_block(blocks, work, count, finish=None):
        entry = {"count": count, "blas": set(), "names": set()}
        seen.append(entry)

        def spied(block, scratch):
            entry["blas"].update(i["num_threads"] for i in threadpoolctl.threadpool_info()
                                 if i["filepath"] in _numpy_blas_files())
            entry["names"].add(threading.current_thread().name)
            return work(block, scratch)
        return real(blocks, spied, count, finish)
    monkeypatch.setattr(threads, "each_block", each_block)
    return seen


def _numpy_blas_files() -> set[str]:
    return {c.filepath for c in threads._pin._numpy_blas().lib_controllers}


def _layer(seed=0, n=2, c=16, size=12):
    rng = np.random.default_rng(seed)
    x, w = rng.standard_normal((n, c, size, size)), rng.standard_normal((c, c, 3, 3))
    return x, w, rng.standard_normal((n, c, size, size))


def test_the_budget_is_applied_inside_the_oracle_and_undone_after(monkeypatch):
    seen = _spy(monkeypatch)
    monkeypatch.setattr(oracle_gemm, "BLOCK", 64)      # many blocks
    x, w, dy = _layer()
    before = _numpy_blas_threads()
    with threads.budget(2):
        oracle.conv(x, w, **LAYER)
        oracle.conv_dx(dy, w, input_shape=x.shape, **LAYER)
        oracle.conv_dw(x, dy, filter_shape=w.shape, **LAYER)
    assert [e["count"] for e in seen] == [2, 2, 2]
    assert all(e["blas"] == {1} for e in seen), seen      # BLAS held to one thread inside
    assert _numpy_blas_threads() == before                # and given back after


def test_the_legacy_budget_leaves_blas_alone(monkeypatch):
    seen = _spy(monkeypatch)
    x, w, _ = _layer()
    with threadpoolctl.threadpool_limits(limits=3, user_api="blas"):
        with threads.budget(threads.LEGACY):
            oracle.conv(x, w, **LAYER)
    assert seen[0]["count"] == threads.LEGACY and seen[0]["blas"] == {3}


def test_the_environment_variable_wins(monkeypatch):
    seen = _spy(monkeypatch)
    x, w, _ = _layer()
    monkeypatch.setenv(threads.ENV, "3")
    with threads.budget(1):
        assert threads.current() == 3
        oracle.conv(x, w, **LAYER)
    assert seen[0]["count"] == 3 and seen[0]["blas"] == {1}
    monkeypatch.setenv(threads.ENV, "0")
    assert threads.current() == threads.LEGACY
    monkeypatch.setenv(threads.ENV, " ")
    with threads.budget(lambda: 2):
        assert threads.current() == 2                     # empty: unset
    monkeypatch.setattr(threads, "_warned", set())
    for bad in ("two", "-1", "1.5"):
        monkeypatch.setenv(threads.ENV, bad)
        with threads.budget(1), pytest.warns(RuntimeWarning, match=threads.ENV):
            assert threads.current() == 1                 # ignored, said once


def test_no_budget_is_every_core_and_a_budget_is_scoped():
    assert threads.current() == threads.cores()
    with threads.budget(1):
        assert threads.current() == 1
        with threads.budget(lambda: 5):
            assert threads.current() == 5
        assert threads.current() == 1
    assert threads.current() == threads.cores()
    # every core beside one-thread computations; beside pools, the cores they leave
    assert threads.for_load(2, 1, total=2) == 2 and threads.for_load(0, 2, total=2) == 2
    assert threads.for_load(1, 2, total=2) == 1 and threads.for_load(1, 2, total=4) == 2
    assert threads.for_load(3, 2, total=4) == 1
    assert threads.recorded(2, 1) == threads.cores()


def test_a_record_gets_the_override(monkeypatch):
    monkeypatch.setenv(threads.ENV, "0")
    assert threads.recorded(2, 1) == threads.LEGACY
    monkeypatch.setenv(threads.ENV, "3")
    assert threads.recorded(1, 2) == 3


def test_the_pin_counts_nested_and_concurrent_calls():
    before = _numpy_blas_threads()
    with threads.budget(2):
        with threads.owned():
            with threads.owned():
                assert set(_numpy_blas_threads()) == {1}
            assert set(_numpy_blas_threads()) == {1}
    assert _numpy_blas_threads() == before


def test_blocks_run_on_the_budgets_threads():
    """Two threads must both take a block: each waits at a barrier for the other."""
    barrier = threading.Barrier(2, timeout=10)
    names = set()

    def work(block, scratch):
        if "met" not in scratch:
            scratch["met"] = barrier.wait()
        names.add(threading.current_thread().name)
    threads.each_block(list(range(8)), work, 2)
    assert len(names) == 2


def test_finish_runs_in_block_order_whatever_order_blocks_end():
    done: list[int] = []

    def work(block, scratch):
        time.sleep(0.02 if block % 3 == 0 else 0.0)
        return block

    threads.each_block(list(range(12)), work, 3, lambda index, result: done.append(result))
    assert done == list(range(12))


def test_an_exception_in_a_block_is_raised_in_the_caller():
    def work(block, scratch):
        if block == 5:
            raise RuntimeError("block 5")
        return block
    for count in (1, 3):
        with pytest.raises(RuntimeError, match="block 5"):
            threads.each_block(list(range(10)), work, count, lambda i, r: None)


@pytest.mark.parametrize("block", [64, 1 << 19], ids=["tiny-blocks", "default-blocks"])
@pytest.mark.parametrize("columns", ["clipped", "padded"])
def test_every_thread_count_gives_the_same_bits(block, columns, monkeypatch):
    """The same additions in the same order, whatever the count: y and dx-as-conv write
    blocks apart, dw and the strided dx's col2im add in block order."""
    monkeypatch.setattr(oracle_gemm, "BLOCK", block)
    monkeypatch.setattr(oracle_gemm, "CLIP_CHANNELS", 1 if columns == "clipped" else 10**9)
    rng = np.random.default_rng(5)
    geometries = [((3, 16, 11, 9), (8, 16, 3, 3), dict(LAYER)),
                  ((2, 12, 13, 10), (6, 4, 3, 2), dict(strides=[2, 1], pads=[(1, 2), (0, 1)],
                                                       dilations=[1, 2], groups=3)),
                  ((2, 8, 7, 6, 5), (4, 8, 2, 3, 2), dict(strides=[1, 2, 1],
                                                          pads=[(1, 0), (1, 1), (0, 1)],
                                                          dilations=[1, 1, 2]))]
    for x_shape, w_shape, geometry in geometries:
        x, w = rng.standard_normal(x_shape), rng.standard_normal(w_shape)
        dy = rng.standard_normal(oracle.conv_forward_output_shape(x_shape, w_shape, **geometry))
        results = {}
        for count in (1, 2, 3):
            with threads.budget(count):
                results[count] = (oracle.conv(x, w, **geometry),
                                  oracle.conv_dx(dy, w, input_shape=x_shape, **geometry),
                                  oracle.conv_dw(x, dy, filter_shape=w_shape, **geometry))
        for count in (2, 3):
            for one, other in zip(results[1], results[count]):
                np.testing.assert_array_equal(one, other)


class _Backend:
    def __init__(self, jobs, threads_each=None):
        self.jobs = jobs
        if threads_each is not None:
            self.threads = threads_each

    def probe(self, impls):
        return []

    def close(self):
        pass


def test_the_runner_gives_the_oracle_the_cores_its_computations_leave(monkeypatch):
    from harness.case.loader import load_cases   # the runner's layer, for this test only
    from harness.session import runner

    monkeypatch.setattr(threads, "cores", lambda: 2)
    pools = runner.Session(backend=_Backend(jobs=1, threads_each=2))   # --jobs 1: 2 each
    in_process = runner.Session(backend=_Backend(jobs=1))              # every core
    singles = runner.Session(backend=_Backend(jobs=2, threads_each=1))  # the default
    for session in (pools, in_process, singles):
        assert session.oracle_threads() == 2                  # nothing computing
    for computing in (1, 5):                                  # more than jobs: the same
        for session in (pools, in_process, singles):
            session._computing = computing
        assert pools.oracle_threads() == in_process.oracle_threads() == 1
        assert singles.oracle_threads() == 2
    session = runner.Session(backend=_Backend(jobs=1, threads_each=2))
    release = threading.Event()
    with ThreadPoolExecutor(max_workers=1) as pool:       # in flight from its submission
        futures = [session._submit(pool, release.wait, 10) for _ in range(2)]
        assert session.oracle_threads() == 1
        release.set()
        for f in futures:
            f.result()
    assert session._computing == 0 and session.oracle_threads() == 2

    seen = []
    real = runner.expected

    def expected(case, inputs):
        seen.append(threads.current())
        return real(case, inputs)
    monkeypatch.setattr(runner, "expected", expected)
    cases = load_cases([str(REPO / "cases" / "article")])[:2]
    session.prefetch(cases[0])
    results = session.judge(cases)
    assert [r.case.id for r in results] == [c.id for c in cases]
    assert seen == [2, 2]                                 # the prefetch's and the next
    assert sum(session.oracle_threads_used.values()) >= 2
