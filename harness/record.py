"""The run record (``results.json``): the one source of truth every output renders from.

Its format is documented in ``docs/record.md``; ``SCHEMA_VERSION`` changes
whenever a field changes meaning. Writing is atomic (a temp file renamed over
the old one), so a killed run never leaves a half-written record.
"""
from __future__ import annotations

import json
import math
import os
import platform
import tempfile
from datetime import datetime, timezone
from pathlib import Path
from typing import Optional, Sequence

import numpy as np

from harness import layouts
from harness.case import Case
from harness.runner import CLAIM_STATUSES, STATUSES, CaseResult, ImplInfo

SCHEMA = "convgrad-run-record"
SCHEMA_VERSION = 2
FULL_ARRAY_LIMIT = 64   # tensors up to this many elements are stored whole
NUMERICS_VARIABLES = ("TF_ENABLE_ONEDNN_OPTS", "TF_CPP_MIN_LOG_LEVEL", "OMP_NUM_THREADS",
                      "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS", "XLA_FLAGS", "JAX_ENABLE_X64",
                      "JAX_PLATFORMS", "CUDA_VISIBLE_DEVICES", "NVIDIA_TF32_OVERRIDE",
                      "TORCH_ALLOW_TF32_CUBLAS_OVERRIDE", "OPENBLAS_CORETYPE")


class RecordError(Exception):
    """A file that is not a run record this version of convgrad can read."""


def _cpu() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def environment(impls: Sequence[ImplInfo], argv: Sequence[str]) -> dict:
    frameworks = {i.impl.framework: (i.version if i.available else None) for i in impls}
    from harness import __version__
    return {
        "convgrad": __version__,
        "python": platform.python_version(),
        "numpy": np.__version__,
        "frameworks": frameworks,
        "platform": platform.platform(),
        "cpu": _cpu(),
        "cpu_count": os.cpu_count(),
        "numerics": {k: os.environ.get(k) for k in NUMERICS_VARIABLES},
        "command": list(argv),
    }


def _finite(value: float) -> object:
    """JSON has no NaN or infinity: they are written as strings."""
    if isinstance(value, float) and not math.isfinite(value):
        return "nan" if math.isnan(value) else ("inf" if value > 0 else "-inf")
    return value


def _clean(obj: object) -> object:
    if isinstance(obj, dict):
        return {k: _clean(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_clean(v) for v in obj]
    if isinstance(obj, (np.floating, float)):
        return _finite(float(obj))
    if isinstance(obj, np.integer):
        return int(obj)
    return obj


def plane_axes(layout: str) -> tuple[int, int]:
    """The two axes a 2-D picture of a tensor shows: the last two spatial ones (1-D: W, C/O)."""
    spatial = layouts.spatial_dims(layout)
    if len(spatial) >= 2:
        return spatial[-2], spatial[-1]
    other = next(i for i, letter in enumerate(layout) if letter in "CO")
    return tuple(sorted((spatial[0], other)))


def array_view(a: np.ndarray, layout: str, at: Optional[Sequence[int]] = None) -> dict:
    """A tensor for the record: whole when small, else the 2-D plane through ``at``."""
    a = np.asarray(a, dtype=np.float64)
    if a.size <= FULL_ARRAY_LIMIT:
        return {"shape": list(a.shape), "layout": layout, "data": _clean(a.tolist())}
    rows, cols = plane_axes(layout)
    at = list(at) if at is not None else [0] * a.ndim
    index = tuple(slice(None) if i in (rows, cols) else at[i] for i in range(a.ndim))
    return {"shape": list(a.shape), "layout": layout, "plane": [rows, cols],
            "at": [None if i in (rows, cols) else at[i] for i in range(a.ndim)],
            "data": _clean(a[index].tolist())}


def case_entry(result: CaseResult) -> dict:
    c: Case = result.case
    letters = layouts.SPATIAL_LETTERS[c.rank]
    entry = {
        "id": c.id, "file": c.file, "line": c.line, "description": c.description,
        "source": c.source, "op": c.op, "kind": c.kind, "groups": c.groups,
        "output_padding": list(c.output_padding), "grads": list(c.grads),
        "data_format": c.data_format, "filter_format": c.filter_format,
        "padding": c.padding if isinstance(c.padding, str) else [list(p) for p in c.padding],
        "strides": list(c.strides), "dilations": list(c.dilations), "dtype": c.dtype,
        "input_shape": list(c.input_shape), "filter_shape": list(c.filter_shape),
        "output_shape": list(c.output_shape), "pads": [list(p) for p in c.pads],
        "axes": [{"dim": d, "size": a.size, "kernel": a.kernel, "stride": a.stride,
                  "dilation": a.dilation, "effective_kernel": a.effective_kernel,
                  "total": a.total, "before": a.before, "after": a.after,
                  "output": a.output_size} for d, a in zip(letters, c.axes)],
        "inputs": {name: array_view(getattr(result.inputs, name), c.layout_of(name))
                   for name in ("x", "w", "dy")},
        "expected": {g: array_view(e.values, c.layout_of(g))
                     for g, e in result.expected.items()},
    }
    return entry


def verdict_entry(result: CaseResult, v) -> dict:
    """One verdict (an impl's or a claim's) as the record stores it, with its arrays
    (expected, the subject's actual values and |err| / bound) for every claim, every
    verdict that did not pass, and every small one."""
    out = _clean(v.to_dict())
    c = v.comparison
    keep = v.kind == "claim" or v.status not in ("pass", "holds") or (
        v.actual is not None and np.size(v.actual) <= FULL_ARRAY_LIMIT)
    if not keep or v.actual is None:
        return out
    layout = result.case.layout_of(v.grad)
    expected = result.expected[v.grad].values
    if c is not None and c.ratio is not None:
        out["arrays"] = {name: array_view(a, layout, c.worst_index) for name, a in (
            ("expected", expected), ("actual", v.actual), ("ratio", np.round(c.ratio, 3)))}
    elif np.ndim(v.actual) == len(layout):
        # Empty tensors, or a wrong shape (say (1, 2, 2, 1) where (1, 0, 0, 1) is right):
        # no element-wise ratio, but both tensors, so the report can show what came back.
        out["arrays"] = {"expected": array_view(expected, layout),
                         "actual": array_view(v.actual, layout)}
    return out


def summarize(verdicts: Sequence[dict], claims: Sequence[dict]) -> dict:
    counts = {s: 0 for s in STATUSES}
    limitations: dict[str, int] = {}
    for v in verdicts:
        counts[v["status"]] = counts.get(v["status"], 0) + 1
        if v["status"] == "unsupported":
            key = (v.get("limitation") or {}).get("id", "undocumented")
            limitations[key] = limitations.get(key, 0) + 1
    claim_counts = {s: 0 for s in CLAIM_STATUSES}
    for c in claims:
        claim_counts[c["status"]] = claim_counts.get(c["status"], 0) + 1
    return {"verdicts": counts, "claims": claim_counts,
            "emulated": sum(1 for v in verdicts if v.get("emulated")),
            "unsupported_by_limitation": dict(sorted(limitations.items()))}


def build(results: Sequence[CaseResult], impls: Sequence[ImplInfo], argv: Sequence[str],
          started: datetime, *, incomplete: bool = False, options: dict | None = None) -> dict:
    verdicts = [verdict_entry(r, v) for r in results for v in r.verdicts]
    claims = [verdict_entry(r, c) for r in results for c in r.claims]
    finished = datetime.now(timezone.utc)
    return {
        "schema": SCHEMA, "schema_version": SCHEMA_VERSION,
        "started": started.isoformat(timespec="seconds"),
        "finished": finished.isoformat(timespec="seconds"),
        "duration_s": round((finished - started).total_seconds(), 3),
        "incomplete": incomplete,
        "environment": {**environment(impls, argv), "run": options or {}},
        "impls": [{"name": i.impl.name, "framework": i.impl.framework,
                   "available": i.available,
                   **({"version": i.version} if i.available else {"reason": i.version})}
                  for i in impls],
        "summary": summarize(verdicts, claims),
        "cases": [case_entry(r) for r in results],
        "verdicts": verdicts,
        "claims": claims,
    }


def write_atomic(path: str | Path, text: str) -> None:
    """Write ``text`` to ``path`` through a temp file and a rename: all or nothing."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o666 & ~umask)  # mkstemp makes 0600; a report is for sharing
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(text)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def write(record: dict, path: str | Path) -> None:
    write_atomic(path, json.dumps(record, separators=(",", ":"), allow_nan=False) + "\n")


def read(path: str | Path) -> dict:
    """Load a record, refusing files that are not records of this schema version."""
    try:
        record = json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise RecordError(f"{path}: not a readable JSON run record: {exc}") from None
    if not isinstance(record, dict) or record.get("schema") != SCHEMA:
        raise RecordError(f"{path}: not a convgrad run record (no \"schema\": \"{SCHEMA}\")")
    if record.get("schema_version") != SCHEMA_VERSION:
        raise RecordError(f"{path}: run record schema version {record.get('schema_version')!r}; "
                          f"this convgrad reads version {SCHEMA_VERSION!r}")
    return record
