"""The processes a worker leaves behind, found and killed (Linux ``/proc``).

A framework or plug-in may fork, spawn helpers, or start daemons that leave
their session; none of them may outlive the run. A worker therefore starts in
a session and process group of its own, is a *child subreaper* (orphans of
its descendants are re-parented to it instead of to init), and carries a
per-worker tag in its environment that every descendant inherits. To end a
worker, :func:`kill_all` gathers everything that is its descendant, in its
process group, or carries its tag; stops them all (so none forks meanwhile),
gathers again until nothing new turns up, and kills them.

A process that leaves the worker's session *and* clears its environment
*and* outlives a worker that died on its own is beyond reach; every other
combination is caught.
"""
from __future__ import annotations

import ctypes
import os
import signal
from typing import Iterable, Optional

TAG_VARIABLE = "CONVGRAD_WORKER_TAG"
PR_SET_CHILD_SUBREAPER = 36
ROUNDS = 20          # stop-and-gather rounds before the kill (a fork bomb cannot outrun them)


def become_subreaper() -> bool:
    """Make this process adopt its descendants' orphans (Linux >= 3.4); False elsewhere."""
    try:
        return ctypes.CDLL(None, use_errno=True).prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) == 0
    except (OSError, AttributeError):
        return False


def _stat(pid: int) -> Optional[tuple[str, int, int]]:
    """(state, parent pid, process group) of ``pid``, None if gone."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            text = f.read().decode(errors="replace")
    except OSError:
        return None
    fields = text[text.rfind(")") + 2:].split()   # the command name may hold spaces, ')'
    return fields[0], int(fields[1]), int(fields[2])


def _pids() -> list[int]:
    try:
        return [int(name) for name in os.listdir("/proc") if name.isdigit()]
    except OSError:
        return []


def _tagged(pid: int, tag: str) -> bool:
    try:
        with open(f"/proc/{pid}/environ", "rb") as f:
            return f"{TAG_VARIABLE}={tag}".encode() in f.read().split(b"\0")
    except OSError:
        return False


def alive(pid: int) -> bool:
    """Whether ``pid`` is a process that still runs (a zombie has ended)."""
    state = _stat(pid)
    return state is not None and state[0] not in ("Z", "X")


def related(root: int, tag: str, tree: bool = True) -> set[int]:
    """Live processes in the process group ``root``, or carrying ``tag``, and (``tree``)
    ``root`` itself and its descendants; never this process. Pass ``tree=False`` once
    ``root`` has been reaped: its pid may then belong to someone else (a process group
    id is not reused while the group has members)."""
    table = {pid: st for pid in _pids() if (st := _stat(pid)) and st[0] not in ("Z", "X")}
    found = {pid for pid, (_, _, pgid) in table.items() if pgid == root}
    if tree:
        children: dict[int, list[int]] = {}
        for pid, (_, ppid, _) in table.items():
            children.setdefault(ppid, []).append(pid)
        todo = [root]
        while todo:
            for child in children.get(todo.pop(), ()):
                if child not in found:
                    found.add(child)
                    todo.append(child)
        if root in table:
            found.add(root)
    found |= {pid for pid in table if pid not in found and _tagged(pid, tag)}
    found.discard(os.getpid())
    return found


def _signal(pids: Iterable[int], sig: int) -> None:
    for pid in pids:
        try:
            os.kill(pid, sig)
        except (ProcessLookupError, PermissionError):
            pass


def kill_all(root: int, tag: str, spare_root: bool = False, tree: bool = True) -> set[int]:
    """Stop, then kill, every process :func:`related` to the worker ``root`` (the worker
    too unless ``spare_root``); returns the pids killed."""
    seen: set[int] = set()
    for _ in range(ROUNDS):
        new = related(root, tag, tree) - seen - ({root} if spare_root else set())
        if not new:
            break
        _signal(new, signal.SIGSTOP)
        seen |= new
    _signal(seen, signal.SIGKILL)   # a stopped process takes SIGKILL at once
    return seen
