"""What the benchmarks share: run a command, its wall time and its peak memory.

The peak is of the whole process tree (a run with workers is a parent and one
process per framework), sampled from ``/proc`` every ``SAMPLE_S``: the largest
sum of resident sizes seen at once. ``ru_maxrss`` of the tree (the largest single
process, as the kernel counts it) comes with it, for a check on the sampling.
"""
from __future__ import annotations

import os
import subprocess
import threading
import time
from dataclasses import dataclass
from pathlib import Path

SAMPLE_S = 0.05
PAGE = os.sysconf("SC_PAGE_SIZE")


@dataclass
class Measured:
    wall_s: float
    peak_rss: int          # bytes, the process tree's largest total seen
    largest_process: int   # bytes, ru_maxrss of the largest process in the tree
    returncode: int
    stdout: str
    stderr: str
    cpu_s: float = 0.0     # user + system time of the process and the children it waited for


def _tree_rss(root: int) -> int:
    parents, rss = {}, {}
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        try:
            with open(f"/proc/{entry.name}/stat") as f:
                stat = f.read()
            with open(f"/proc/{entry.name}/statm") as f:
                resident = int(f.read().split()[1]) * PAGE
        except (OSError, ValueError, IndexError):
            continue
        pid = int(entry.name)
        parents[pid] = int(stat[stat.rindex(")") + 2:].split()[1])
        rss[pid] = resident
    total = 0
    for pid, size in rss.items():
        p = pid
        while p and p != root:
            p = parents.get(p, 0)
        if p == root:
            total += size
    return total


def run(cmd: list[str], env: dict | None = None, cwd: str | None = None) -> Measured:
    """Run ``cmd`` to the end; its wall time and memory."""
    out_path = Path(os.environ.get("TMPDIR", "/tmp")) / f"bench-{os.getpid()}-{time.time_ns()}"
    with open(f"{out_path}.out", "w+") as out, open(f"{out_path}.err", "w+") as err:
        start = time.perf_counter()
        proc = subprocess.Popen(cmd, stdout=out, stderr=err, env=env, cwd=cwd)
        peak, done = 0, threading.Event()

        def sample():
            nonlocal peak
            while not done.is_set():
                peak = max(peak, _tree_rss(proc.pid))
                done.wait(SAMPLE_S)
        sampler = threading.Thread(target=sample, daemon=True)
        sampler.start()
        _, status, usage = os.wait4(proc.pid, 0)
        wall = time.perf_counter() - start
        done.set()
        sampler.join()
        proc.returncode = os.waitstatus_to_exitcode(status)
        out.seek(0)
        err.seek(0)
        stdout, stderr = out.read(), err.read()
    for suffix in (".out", ".err"):
        Path(f"{out_path}{suffix}").unlink(missing_ok=True)
    return Measured(wall, peak, usage.ru_maxrss * 1024, proc.returncode, stdout, stderr,
                    usage.ru_utime + usage.ru_stime)


def mib(n: int) -> str:
    return f"{n / 2 ** 20:,.0f} MiB"

