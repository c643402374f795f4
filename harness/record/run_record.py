"""The run record (``results.json``): the one source of truth every output renders from.

Its format is documented in ``docs/record.md`` and published as a JSON Schema,
``harness/data/record.schema.json``; ``SCHEMA_VERSION`` changes whenever a
field changes meaning. Writing is atomic (a temp file renamed over the old
one), so a killed run never leaves a half-written record.

Reading treats a record as untrusted input (``convgrad report`` and ``merge``
take any file): its size is bounded before it is read, its nesting before it
is parsed, and what parses is validated against the schema, so that what the
report and merge see has the types they expect. NaN and infinity, which JSON
cannot hold, are strings in a record (``"nan"``, ``"inf"``, ``"-inf"``); the
non-standard tokens ``NaN`` / ``Infinity`` that Python's json writes read as
those strings too, so a record read can always be written again.
"""
from __future__ import annotations

import io
import itertools
import json
import math
import os
import platform
import re
import secrets
import zipfile
import zlib
from datetime import datetime, timezone
from functools import lru_cache
from importlib import resources
from pathlib import Path
from typing import Optional, Sequence

import numpy as np

from harness import __version__
from harness.safeio import files, outputs, printable
from harness.record import values_file
from harness.numerics import layouts
from harness.backend import platforms
from harness.case import ops
from harness.case.model import Case
from harness.verdict import diagnosis
from harness.session.runner import (CLAIM_STATUSES, FULL_ARRAY_LIMIT, STATUSES, CaseResult, ImplInfo,
                            stores_arrays)

SCHEMA = "convgrad-run-record"
SCHEMA_VERSION = 2
SCHEMA_FILE = "record.schema.json"          # in harness/data
MAX_RECORD_BYTES = 128 << 20                # a run record file; the 612-case suite's is ~8 MiB
MAX_DEPTH = 32                              # JSON nesting; a record's deepest is ~12
NUMERICS_VARIABLES = ("CONVGRAD_ORACLE_THREADS",
                      "TF_ENABLE_ONEDNN_OPTS", "TF_CPP_MIN_LOG_LEVEL", "OMP_NUM_THREADS",
                      "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS", "XLA_FLAGS", "JAX_ENABLE_X64",
                      "JAX_PLATFORMS", "CUDA_VISIBLE_DEVICES", "NVIDIA_TF32_OVERRIDE",
                      "TORCH_ALLOW_TF32_CUBLAS_OVERRIDE", "OPENBLAS_CORETYPE",
                      "ONEDNN_MAX_CPU_ISA", "ATEN_CPU_CAPABILITY", "MKL_ENABLE_INSTRUCTIONS")


class RecordError(Exception):
    """A file that is not a run record this version of convgrad can read."""


def environment(impls: Sequence[ImplInfo], argv: Sequence[str]) -> dict:
    cpu = platforms.cpu_facts()
    frameworks = {i.impl.framework: (i.version if i.available else None) for i in impls}
    return {
        "convgrad": __version__,
        "python": platform.python_version(),
        "numpy": np.__version__,
        "frameworks": frameworks,
        "platform": platform.platform(),
        "cpu": cpu["model"],
        "cpu_count": os.cpu_count(),
        "cpu_platform": cpu,
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
                   for name in ops.TENSORS if getattr(result.inputs, name) is not None},
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
    if not stores_arrays(v) or v.actual is None:
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
            "improbable": sum(1 for v in verdicts if (v.get("stats") or {}).get("improbable")),
            "unsupported_by_limitation": dict(sorted(limitations.items()))}


def new_run_id(started: datetime) -> str:
    """A run's id: its start time and a random suffix (``20260101T120000-3fa2c1``). Every
    output of a run carries it, so a record and a report can be matched."""
    return f"{started.astimezone(timezone.utc):%Y%m%dT%H%M%S}-{secrets.token_hex(3)}"


def _judged(results: Sequence[CaseResult]) -> list:
    """(result, verdict) for every verdict, then every claim: the record's order, in
    which ``values_key`` numbers them."""
    return ([(r, v) for r in results for v in r.verdicts]
            + [(r, c) for r in results for c in r.claims])


def values_npz(results: Sequence[CaseResult], record: dict) -> bytes:
    """Every verdict's values (impls and claims), keyed as the record's entries say
    (``values_key``): what ``convgrad diff`` compares element by element.
    float64 cases keep float64; the others are stored as float32, which holds every
    float32, float16 and bfloat16 value exactly. An ``.npz`` (a zip of ``.npy`` files)
    that :func:`numpy.load` reads: an entry is deflated where that pays
    (:func:`_deflates`), else stored as is."""
    arrays = {"run_id": np.array(record["run_id"])}   # which record these values belong to
    entries = record["verdicts"] + record["claims"]
    for (r, v), entry in zip(_judged(results), entries, strict=True):
        key = entry.get("values_key")
        if key is None or v.actual is None:
            continue
        a = np.asarray(v.actual)
        if a.dtype.kind not in "fiu" and a.dtype.name != "bfloat16":
            continue
        arrays[key] = a.astype(np.float64 if r.case.dtype == "float64" else np.float32,
                               copy=False)
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", allowZip64=True) as zf:
        for key, a in arrays.items():
            npy = io.BytesIO()
            np.lib.format.write_array(npy, a, allow_pickle=False)
            data = npy.getbuffer()
            method = zipfile.ZIP_DEFLATED if _deflates(data) else zipfile.ZIP_STORED
            zf.writestr(zipfile.ZipInfo(f"{key}.npy", NPZ_TIME), data, compress_type=method,
                        compresslevel=1 if len(data) > DEFLATE_FAST_ABOVE else None)
            del data
    return buffer.getvalue()


NPZ_TIME = (1980, 1, 1, 0, 0, 0)   # the zip entries' timestamp (the record has the run's)
DEFLATE_SAMPLE = 1 << 16           # bytes of an entry tried before deflating all of it
DEFLATE_FAST_ABOVE = 1 << 20       # larger entries are deflated at zlib's fastest level


def _deflates(data) -> bool:
    """Whether deflating ``data`` pays: small entries always, larger ones where a sample
    shrinks by a fifth. Random float32 values shrink by 7 % at 1 MB/s: writing a
    ResNet layer's 60 MB of them took 3 s of an 11 s run, for 4 MB saved; integers
    and repeated values still shrink to a quarter."""
    if len(data) <= DEFLATE_SAMPLE:
        return True
    return len(zlib.compress(data[:DEFLATE_SAMPLE], 1)) < 0.8 * DEFLATE_SAMPLE


def read_values(record_path: str | Path, record: Optional[dict] = None) -> dict:
    """The arrays of ``values.npz`` beside a record, ``{}`` if there is none, it belongs
    to another run (a record copied next to another run's values), or it is refused
    (:func:`values_beside`, which says why)."""
    return values_beside(record_path, record)[0]


def values_beside(record_path: str | Path, record: Optional[dict] = None) -> tuple[dict, str]:
    """``(values, problem)``: the arrays of ``values.npz`` beside the record at
    ``record_path`` (``record``: that record, already read; else it is read here, as
    :func:`read` reads it), read with the bounds of :mod:`harness.record.values_file`.
    ``problem`` is "" or one line naming the file and why it was not used (a file that is
    not a values file of this record): the values are then ``{}``. No values file, or
    one of another run: ``({}, "")``."""
    record_path = Path(record_path)
    path = record_path.parent / "values.npz"
    if not os.path.lexists(path):
        return {}, ""
    if record is None:
        record = read(record_path)
    run_id = record.get("run_id")
    try:
        values = values_file.read(path, run_id if isinstance(run_id, str) else None,
                                  values_file.member_bounds(record))
    except values_file.ValuesRefused as exc:
        return {}, printable.line(f"{path}: not used: {exc}")
    return values, ""


def build(results: Sequence[CaseResult], impls: Sequence[ImplInfo], argv: Sequence[str],
          started: datetime, *, incomplete: bool = False, options: dict | None = None) -> dict:
    judged = _judged(results)
    entries = [verdict_entry(r, v) for r, v in judged]
    for i, ((_, v), entry) in enumerate(zip(judged, entries)):
        if v.actual is not None:
            entry["values_key"] = f"v{i}"   # its values in values.npz beside the record
    n_verdicts = sum(len(r.verdicts) for r in results)
    verdicts, claims = entries[:n_verdicts], entries[n_verdicts:]
    finished = datetime.now(timezone.utc)
    return {
        "schema": SCHEMA, "schema_version": SCHEMA_VERSION, "run_id": new_run_id(started),
        "started": started.isoformat(timespec="seconds"),
        "finished": finished.isoformat(timespec="seconds"),
        "duration_s": round((finished - started).total_seconds(), 3),
        "incomplete": incomplete,
        "environment": {**environment(impls, argv), "run": options or {}},
        "impls": [{"name": i.impl.name, "framework": i.impl.framework,
                   "available": i.available,
                   **({"version": i.version} if i.available else {"reason": i.version}),
                   **({"platform": _clean(i.platform)} if i.platform else {}),
                   **_impl_diagnosis(results, i.impl)}
                  for i in impls],
        "summary": summarize(verdicts, claims),
        "cases": [case_entry(r) for r in results],
        "verdicts": verdicts,
        "claims": claims,
    }


def _impl_diagnosis(results: Sequence[CaseResult], impl) -> dict:
    """``{"diagnosis": ...}``: the porting mistake that explains the impl's failing verdicts
    and the rule that fixes it (:func:`harness.verdict.diagnosis.summarize`), if any was
    diagnosed."""
    found = diagnosis.summarize([(r.case, v) for r in results for v in r.verdicts
                                 if v.impl == impl.name], impl.framework)
    return {"diagnosis": found} if found else {}


# Kept under its old name: a single file written atomically (harness.safeio.outputs.write_file).
write_atomic = outputs.write_file


def dumps(record: dict) -> str:
    """The record as JSON text (NaN and infinity already strings: see :func:`_clean`)."""
    return json.dumps(record, separators=(",", ":"), allow_nan=False) + "\n"


def write(record: dict, path: str | Path) -> None:
    outputs.write_file(path, dumps(record))


def read(path: str | Path) -> dict:
    """Load a record, refusing (:class:`RecordError`, one line) files that are not run
    records of this schema version: checked by type and size before reading, by nesting
    before parsing, and against the schema after."""
    try:
        raw = files.read_bytes(path, MAX_RECORD_BYTES, "run record")
    except files.FileRefused as exc:
        raise RecordError(str(exc)) from None
    return parse(raw, str(path))


_NONFINITE = {"NaN": "nan", "Infinity": "inf", "-Infinity": "-inf"}


def _number(text: str) -> object:
    """A JSON number; one beyond float range (``1e999``) is infinite, so a string."""
    return _finite(float(text))


def parse(raw: bytes, name: str) -> dict:
    """A run record from the bytes of file ``name`` (see :func:`read`)."""
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise RecordError(f"{name}: not a readable JSON run record: not UTF-8 (byte "
                          f"0x{raw[exc.start]:02x} at offset {exc.start})") from None
    depth = nesting_depth(text)
    if depth > MAX_DEPTH:
        raise RecordError(f"{name}: not a run record: its JSON nests {depth} levels deep; "
                          f"a run record nests at most {MAX_DEPTH}")
    try:
        record = json.loads(text, parse_constant=_NONFINITE.__getitem__, parse_float=_number)
    except (ValueError, RecursionError) as exc:   # JSONDecodeError, a 5000-digit integer
        raise RecordError(f"{name}: not a readable JSON run record: "
                          f"{printable.excerpt(exc, 200)}") from None
    if not isinstance(record, dict) or record.get("schema") != SCHEMA:
        raise RecordError(f"{name}: not a convgrad run record (no \"schema\": \"{SCHEMA}\")")
    version = record.get("schema_version")
    if isinstance(version, bool) or not isinstance(version, int):
        raise RecordError(f"{name}: \"schema_version\" is {_json_excerpt(version)}, not an "
                          f"integer; this convgrad reads run records of schema version "
                          f"{SCHEMA_VERSION}")
    if version != SCHEMA_VERSION:
        raise RecordError(f"{name}: run record schema version {version}; this convgrad reads "
                          f"version {SCHEMA_VERSION}")
    problem = schema_problem(record)
    if problem:
        raise RecordError(f"{name}: not a valid run record: {problem}")
    return record


def _json_excerpt(value: object) -> str:
    kind = {str: "the string", bool: "the boolean", type(None): "null", float: "the number",
            list: "a list", dict: "an object"}.get(type(value), "")
    if value is None or isinstance(value, (list, dict)):
        return kind
    return f"{kind} {printable.excerpt(json.dumps(value), 40)}"


_STRING = re.compile(r'"(?:[^"\\]++|\\.)*+"', re.S)
_NOT_BRACKET = re.compile(r"[^\[\]{}]+")


def nesting_depth(text: str) -> int:
    """How deep the brackets of a JSON text nest, strings left out: found with two regular
    expressions and a cumulative sum, so a 100,000-deep file costs no recursion."""
    brackets = _NOT_BRACKET.sub("", _STRING.sub("", text)).encode("ascii")
    if not brackets:
        return 0
    codes = np.frombuffer(brackets, dtype=np.uint8)
    steps = np.where((codes == ord("[")) | (codes == ord("{")), 1, -1)
    return int(np.cumsum(steps).max())


@lru_cache(maxsize=1)
def schema() -> dict:
    """The published JSON Schema of a run record (``harness/data/record.schema.json``)."""
    return json.loads(resources.files("harness").joinpath("data", SCHEMA_FILE)
                      .read_text(encoding="utf-8"))


@lru_cache(maxsize=1)
def _validator():
    import jsonschema  # ~50 ms at import: only where a record is checked

    cls = jsonschema.validators.validator_for(schema())
    return cls(schema())


def schema_problem(record: object) -> str:
    """Where and how ``record`` breaks the schema, in one line ("" if it does not)."""
    from jsonschema.exceptions import best_match  # ~50 ms at import, as in _validator

    error = best_match(itertools.islice(_validator().iter_errors(record), 50))
    if error is None:
        return ""
    return f"{error.json_path}: {printable.excerpt(error.message, 160)}"
