"""Which verdict a script reproduces: from a run record, from a case file, or from a result.

* :func:`from_record`: a ``results.json`` verdict. Its case is loaded again from
  the file the record names (the record keeps whole tensors only when they are
  small) and checked against the values the record stored (the tangents of a
  second-order case too), so a case file edited since the run is refused rather
  than reproduced wrongly.
* :func:`from_case_file`: the case is judged now, with that impl, on a worker.
* :func:`from_result`: a verdict just judged (the shrinker's, the fuzzer's).
"""
from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Optional, Sequence

import numpy as np

from harness.record import run_record as record_mod
from harness.backend import variants
from harness.case import suites as bundled
from harness.safeio import argtypes, printable
from harness.case import ops
from harness.verdict.expected import expected as expected_of
from harness.case.loader import load_cases
from harness.tools.repro.judge import Judge, default_backend
from harness.tools.repro.script import Target
from harness.tools.repro.signature import error_kind, signature
from harness.case.values import materialize
from harness.backend.worker import THREAD_VARIABLES, thread_environment

PROBLEM_STATUSES = ("fail", "error", "nondeterministic", "known")
MAX_THREADS = 4096   # a record's threads_per_worker (the thread pools of a script)


class ReproError(Exception):
    """The verdict cannot be reproduced as asked; ``str`` says why (a usage error)."""


def split_impl(name: str) -> tuple[str, dict]:
    base, settings = variants.parse(name)
    return base, settings


def worker_threads(env: dict) -> dict:
    """The thread settings of a worker's environment (not the variant's own settings)."""
    return {k: v for k, v in env.items() if k in THREAD_VARIABLES or k == "XLA_FLAGS"}


def from_result(result, v, *, runs: int = 1, worker_env: Optional[dict] = None,
                origin: str = "", command: str = "", platform: Optional[dict] = None) -> Target:
    try:
        base, settings = split_impl(v.impl)
    except variants.VariantError:   # a plug-in's own name: no template has it anyway
        base, settings = v.impl, {}
    sig = signature(result, v)
    exception = ""
    if (sig.status == "error" and sig.kind.startswith("exception:")) or \
            sig.status == "unsupported":   # a documented refusal: the framework's exception
        exception = v.message.strip().split("\n", 1)[0]
    return Target(case=result.case, inputs=result.inputs, expected=result.expected[v.grad],
                  impl=v.impl, base=base, settings=settings, grad=v.grad, status=sig.status,
                  kind=sig.kind, message=v.message, exception=exception, runs=runs,
                  worker_env=dict(worker_env or {}), origin=origin, command=command,
                  platform=dict(platform or {}))


def pick_grad(statuses: Sequence[tuple[str, str]], grad: Optional[str], what: str) -> str:
    """``grad`` if given (it must be one of the verdicts), else the first grad with a
    problem, else the first grad."""
    grads = [g for g, _ in statuses]
    if grad:
        if grad not in grads:
            raise ReproError(f"{what} has no {grad} verdict (grads: {', '.join(grads)})")
        return grad
    return next((g for g, s in statuses if s in PROBLEM_STATUSES), grads[0])


def find_case(paths: Sequence[str], case_id: str):
    cases = load_cases(paths)
    found = [c for c in cases if c.id == case_id]
    if not found:
        close = [c.id for c in cases if case_id in c.id][:5]
        hint = f" (ids containing it: {', '.join(close)})" if close else ""
        raise ReproError(f"no case with id {case_id!r} in {' '.join(map(str, paths))}{hint}")
    return found[0]


def from_case_file(paths: Sequence[str], case_id: str, impl,
                   grad: Optional[str] = None, *, repeat: int = 1, backend=None,
                   limitations=None, command: str = "") -> tuple[Target, object]:
    """Judge the case now (worker backend unless ``backend`` says otherwise); the target
    and the verdict."""
    case = find_case(paths, case_id)
    backend = backend or default_backend()
    with Judge([impl], backend=backend, repeat=repeat, limitations=limitations) as judge:
        info = judge.info(impl.name)
        if not info.available:
            raise ReproError(f"{impl.name} is not available here: {info.version}")
        result = judge.one(case, impl.name)
        env = getattr(backend, "envs", {}).get(impl.name, {})
    verdicts = {v.grad: v for v in result.verdicts}
    chosen = pick_grad([(g, str(v.status)) for g, v in verdicts.items()], grad,
                       f"case {case_id}")
    v = verdicts[chosen]
    origin = f"judged by convgrad repro from {case.file}"
    return from_result(result, v, runs=repeat, worker_env=worker_threads(env), origin=origin,
                       command=command, platform=info.platform), v


CASE_SUFFIXES = (".yaml", ".yml")


def _inside(path: Path, root: Path) -> bool:
    return path == root or root in path.parents


def case_roots(record_path: Path) -> list[Path]:
    """Where a record's case files may be (real paths, links resolved): the working
    directory (where ``convgrad run`` was run, as the error says), the record's folder
    and its parent (an ``--out`` folder beside the cases), and the bundled suites (a
    ``--suite`` run records their files by absolute path)."""
    roots = [Path.cwd(), record_path.parent, record_path.parent.parent, bundled.root()]
    out: list[Path] = []
    for root in roots:
        try:
            real = Path(os.path.realpath(root))
        except (OSError, ValueError):
            continue
        if real not in out:
            out.append(real)
    return out


def _record_case_file(entry: dict, record_path: Path) -> str:
    """The case file a record names for a case (its real path), confined to
    :func:`case_roots`: a relative name is joined to each root, an absolute one taken as
    is, and it must resolve (every ``..`` and link followed) to a ``.yaml`` / ``.yml``
    regular file inside one of the roots; the name itself must end so too. A refused file
    is never read (its content never shown)."""
    name = entry.get("file")
    case_id = printable.excerpt(entry.get("id"), 200)
    give = "; give the case file instead of the record"
    if not isinstance(name, str) or not name:
        raise ReproError(f"{record_path}: case {case_id}: the record names no case file{give}")
    shown = printable.excerpt(name, 200)
    problem = _refused_name(name)
    if problem:
        raise ReproError(f"{record_path}: case {case_id}: its file {shown!r} is not a case "
                         f"file convgrad reads from a record: {problem}{give}")
    roots = case_roots(record_path)
    given = Path(name)
    candidates = [given] if given.is_absolute() else [root / given for root in roots]
    outside = False
    for candidate in candidates:
        try:
            real = Path(os.path.realpath(candidate))
        except (OSError, ValueError):
            continue
        if not any(_inside(real, root) for root in roots) or \
                real.suffix.lower() not in CASE_SUFFIXES:
            outside = outside or os.path.lexists(candidate)   # a link out, or to a non-case
            continue
        if real.is_file():
            return str(real)   # what was checked is what is read: no link swapped since
    if outside:
        where = ", ".join(str(r) for r in roots)
        raise ReproError(f"{record_path}: case {case_id}: its file {shown!r} lies outside the "
                         f"folders a record's case files are read from ({where}), or is not "
                         f"a .yaml case file; not read{give}")
    raise ReproError(f"{record_path}: case {case_id}: its file {shown!r} (named in the record) "
                     "is not here; run convgrad repro from the directory the run was made in, "
                     "or give the case file instead of the record")


def _refused_name(name: str) -> str:
    """Why a record's ``file`` is refused by its name alone ("" if it is not)."""
    if len(name) > 4096 or "\x00" in name:
        return "not a file name"
    if not name.lower().endswith(CASE_SUFFIXES):
        return "not a .yaml or .yml file"
    return ""


def _stored_arrays_agree(view: dict, values: np.ndarray) -> bool:
    """Whether a record's stored array (whole, or one plane) equals ``values``."""
    if list(values.shape) != list(view.get("shape", [])):
        return False
    try:   # a record's plane and data are untrusted: any mismatch is "not the same values"
        if "plane" in view:
            at = view.get("at")
            if not isinstance(at, list) or len(at) != values.ndim or not all(
                    a is None or (isinstance(a, int) and not isinstance(a, bool)
                                  and 0 <= a < n) for a, n in zip(at, values.shape)):
                return False
            values = values[tuple(slice(None) if a is None else a for a in at)]
        stored = np.asarray(view.get("data"), dtype=object).astype(np.float64)  # "nan" -> nan
    except (ValueError, TypeError, IndexError, OverflowError):
        return False
    if stored.shape != values.shape:
        return False
    return bool(np.array_equal(stored, values, equal_nan=True))


def verdict_status(v: dict) -> tuple[str, str]:
    """(status, exception) of a recorded verdict; ``known`` resolved to the status it had
    before the known discrepancy matched (from what the record kept)."""
    status, stats = v.get("status", ""), v.get("stats") or {}
    message = (v.get("message") or "").strip()
    if status == "known":
        if "distinct" in stats:
            status = "nondeterministic"
        elif stats.get("mismatched"):
            status = "fail"
        else:
            status = "error"
    exception = ""
    if (status == "error" and error_kind(message).startswith("exception:")) or \
            status == "unsupported":
        exception = message.split("\n", 1)[0]
    return status, exception


def _shown(value: object) -> str:
    """A record's value in an error message: short, escaped, its JSON type said."""
    if isinstance(value, str):
        return f"the string {printable.excerpt(value, 40)!r}"
    return printable.excerpt(json.dumps(value) if isinstance(value, (bool, int, float))
                             or value is None else type(value).__name__, 40)


def recorded_run(record: dict, path: str) -> tuple[int, dict]:
    """(evaluations, the worker's thread settings) of a record's ``environment.run``, every
    value a script or a computation takes checked first: ``repeat`` an integer from 1 to
    :data:`~harness.safeio.argtypes.MAX_REPEAT` (absent: 1), ``isolation`` ``workers`` or
    ``in-process``, ``threads_per_worker`` an integer from 1 to :data:`MAX_THREADS` (or
    null). :class:`ReproError` naming the record and the field otherwise."""
    environment = record.get("environment")
    run = environment.get("run") if isinstance(environment, dict) else None
    run = {} if run is None else run
    if not isinstance(run, dict):
        raise ReproError(f"{path}: environment.run is {_shown(run)}, not an object")

    def bad(name: str, value: object, expected: str) -> ReproError:
        return ReproError(f"{path}: environment.run.{name} is {_shown(value)}; expected "
                          f"{expected} (a record convgrad run wrote has one)")

    repeat = run.get("repeat")
    repeat = 1 if repeat is None else repeat
    if isinstance(repeat, bool) or not isinstance(repeat, int) or \
            not 1 <= repeat <= argtypes.MAX_REPEAT:
        raise bad("repeat", repeat, f"an integer from 1 to {argtypes.MAX_REPEAT}")
    isolation = run.get("isolation")
    if isolation not in (None, "workers", "in-process"):
        raise bad("isolation", isolation, "'workers' or 'in-process'")
    threads = run.get("threads_per_worker")
    if threads is not None and (isinstance(threads, bool) or not isinstance(threads, int)
                                or not 1 <= threads <= MAX_THREADS):
        raise bad("threads_per_worker", threads, f"null or an integer from 1 to {MAX_THREADS}")
    env = thread_environment(threads) if isolation == "workers" and threads else {}
    return repeat, env


def from_record(path: str, case_id: str, impl, grad: Optional[str] = None,
                command: str = "") -> Target:
    """The target of a recorded verdict of ``impl`` (an impl resolved from the registry,
    so its variant settings are ones it declares: they become code in the script)."""
    impl = impl.name
    record_path = Path(path)
    record = record_mod.read(record_path)
    entry = next((c for c in record["cases"] if c["id"] == case_id), None)
    if entry is None:
        raise ReproError(f"{path}: no case {case_id!r} in this record")
    mine = [v for v in record["verdicts"] if v["case"] == case_id and v["impl"] == impl]
    if not mine:
        impls = sorted({v["impl"] for v in record["verdicts"] if v["case"] == case_id})
        raise ReproError(f"{path}: case {case_id} has no verdict of {impl!r} (impls: "
                         f"{', '.join(impls) or 'none'})")
    chosen = pick_grad([(v["grad"], v["status"]) for v in mine], grad, f"{impl} on {case_id}")
    v = next(v for v in mine if v["grad"] == chosen)
    case = find_case([_record_case_file(entry, record_path)], case_id)
    inputs = materialize(case)
    for name, view in (entry.get("inputs") or {}).items():   # tangents too (tx, tw, gx, gw)
        if name in ops.TENSORS and not _stored_arrays_agree(view, inputs.get(name)):
            raise ReproError(f"case {case_id} in {case.file} no longer has the {name} the "
                             f"record {path} was judged with (edited since?); run it again "
                             "or give the case file")
    if chosen not in case.grads:
        raise ReproError(f"case {case_id} in {case.file} no longer computes {chosen}")
    status, exception = verdict_status(v)
    kind = error_kind(v.get("message") or "") if status == "error" else ""
    base, settings = split_impl(impl)
    runs, env = recorded_run(record, path)
    probed = next((i.get("platform") or {} for i in record.get("impls") or []
                   if i.get("name") == impl), {})
    return Target(case=case, inputs=inputs, expected=expected_of(case, inputs)[chosen],
                  impl=impl, base=base, settings=settings, grad=chosen, status=status,
                  kind=kind, message=v.get("message") or "", exception=exception,
                  runs=runs, worker_env=env,
                  origin=f"recorded in {path} ({record.get('started', '')})", command=command,
                  platform=probed)
