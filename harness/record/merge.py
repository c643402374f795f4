"""Several run records as one: shards of a run, or runs of different case sets.

Records merge only when they describe the same environment (framework
versions, NumPy, Python, numerics flags, device and TF32 setting): verdicts
from different versions side by side would look like one run and mislead. The
check can be waived (``allow_mismatch``) to put two runs next to each other on
purpose. A merged record lists every run it holds in ``sources`` (each run's path,
times and environment, its command among them); a merged record merged again, or read
alone (``convgrad report m.json``), keeps the runs it lists.
"""
from __future__ import annotations

from datetime import datetime, timezone
from pathlib import Path
from typing import Sequence

from harness.safeio import printable
from harness.record import run_record as record_mod

# What must agree between records for their verdicts to count as one run.
SAME_ENVIRONMENT = ("python", "numpy", "frameworks", "numerics")
SAME_RUN_OPTIONS = ("device", "tf32")


class MergeError(record_mod.RecordError):
    """Records that cannot be shown together (the same case id in two of them)."""


def _short(value: object) -> str:
    return printable.excerpt(repr(value), 80)


def _fingerprint(record: dict) -> dict:
    env = record["environment"]
    run = env.get("run", {})
    return {**{k: env.get(k) for k in SAME_ENVIRONMENT},
            **{f"run.{k}": run.get(k) for k in SAME_RUN_OPTIONS}}


def check_environments(records: Sequence[tuple[str, dict]], ignore: Sequence[str] = ()) -> None:
    """Refuse records whose environments differ, naming the first difference."""
    first_path, first = records[0][0], _fingerprint(records[0][1])
    for path, record in records[1:]:
        other = _fingerprint(record)
        for key in first:
            if key in ignore:
                continue
            if key == "frameworks" and isinstance(first[key], dict) and \
                    isinstance(other[key], dict):
                # one record per framework is the natural CI split: a framework both
                # records name must have the same version
                if any(first[key][f] != other[key][f] for f in first[key].keys()
                       & other[key].keys()):
                    raise MergeError(f"{path}: frameworks is {_short(other[key])} but "
                                     f"{first_path} has {_short(first[key])}; these records "
                                     "come from different environments (pass "
                                     "--allow-mismatch to merge anyway)")
                continue
            if first[key] != other[key]:
                raise MergeError(f"{path}: {key} is {_short(other[key])} but {first_path} has "
                                 f"{_short(first[key])}; these records come from different "
                                 "environments (pass --allow-mismatch to merge anyway)")


def platform_label(record: dict) -> str:
    """Where a record was judged, in a few characters: the CPU class its frameworks'
    oneDNN dispatched for (``avx2``, ``avx512_vnni``, ...), and the device if not the CPU."""
    env = record.get("environment") or {}
    cpu = env.get("cpu_platform") or {}
    label = str(cpu.get("effective_class") or cpu.get("class") or "unknown-cpu")
    device = (env.get("run") or {}).get("device")
    return label if device in (None, "cpu") else f"{label}+{device}"


def per_platform(records: Sequence[tuple[str, dict]]) -> list[tuple[str, dict]]:
    """The records with each impl named for the platform it ran on (``tf.tape@avx2``), so
    the runs of a runner matrix over CPU classes (and GPUs) merge into one view with a
    column per impl and platform. Two records from one class get ``@avx2``, ``@avx2#2``."""
    seen: dict[str, int] = {}
    out = []
    for path, record in records:
        label = platform_label(record)
        seen[label] = seen.get(label, 0) + 1
        if seen[label] > 1:
            label = f"{label}#{seen[label]}"
        rename = {i["name"]: f"{i['name']}@{label}" for i in record["impls"]}
        out.append((path, {
            **record,
            "impls": [{**i, "name": rename[i["name"]]} for i in record["impls"]],
            "verdicts": [{**v, "impl": rename.get(v["impl"], f"{v['impl']}@{label}")}
                         for v in record["verdicts"]]}))
    return out


def merge(records: Sequence[tuple[str, dict]], allow_mismatch: bool = True,
          by_platform: bool = False) -> dict:
    """One record of several ``(path, record)``: cases, verdicts and claims concatenated
    (``by_platform``: each impl named for its record's platform, :func:`per_platform`; then
    the numerics flags may differ, as they do between CPU classes)."""
    if by_platform:
        records = per_platform(records)
    if not allow_mismatch:
        check_environments(records, ignore=("numerics",) if by_platform else ())
    if len(records) == 1:
        path, record = records[0]
        return {**record, "sources": sources(path, record)}
    owner: dict[str, tuple[str, dict]] = {}
    judged: dict[tuple, str] = {}
    claimed: set[tuple] = set()
    merged = {**records[0][1], "cases": [], "verdicts": [], "claims": [], "impls": [],
              "run_id": record_mod.new_run_id(datetime.now(timezone.utc)),
              "sources": [s for p, r in records for s in sources(p, r)]}
    for path, record in records:
        # One case may come from several records (one CI job per framework, say): then
        # each verdict must come from one of them, and the case must be the same case.
        for case in record["cases"]:
            if case["id"] in owner:
                first_path, first = owner[case["id"]]
                if _geometry(first) != _geometry(case):
                    raise MergeError(f"case id {_short(case['id'])} is a different case in "
                                     f"{first_path} and {path}")
                continue
            owner[case["id"]] = (path, case)
            merged["cases"].append(case)
        for verdict in record["verdicts"]:
            key = (verdict["case"], verdict["impl"], verdict["grad"])
            if key in judged:
                raise MergeError(f"{_short(verdict['case'])} "
                                 f"[{printable.excerpt(str(verdict['impl']), 80)}] "
                                 f"{verdict['grad']} is judged in both {judged[key]} and {path}; "
                                 "merge records of different cases or impls")
            judged[key] = path
            # each source keys its own values.npz; the merged record has none
            merged["verdicts"].append({k: v for k, v in verdict.items() if k != "values_key"})
        for claim in record["claims"]:
            key = (claim["case"], claim["source"], claim["grad"])
            if key not in claimed:        # a claim is judged against the oracle: once
                claimed.add(key)
                merged["claims"].append({k: v for k, v in claim.items() if k != "values_key"})
        names = {i["name"] for i in merged["impls"]}
        merged["impls"] += [i for i in record["impls"] if i["name"] not in names]
    merged["summary"] = record_mod.summarize(merged["verdicts"], merged["claims"])
    merged["incomplete"] = any(r.get("incomplete") for _, r in records)
    return merged


GEOMETRY = ("op", "grads", "data_format", "filter_format", "padding", "strides", "dilations",
            "dtype", "input_shape", "filter_shape", "groups", "output_padding")


def _geometry(case: dict) -> tuple:
    return tuple(repr(case.get(k)) for k in GEOMETRY)


def source(path: str, record: dict) -> dict:
    """Where a merged record's part came from, for the report header."""
    return {"path": str(path), "run_id": record.get("run_id"), "started": record.get("started"),
            "finished": record.get("finished"), "duration_s": record.get("duration_s"),
            "incomplete": record.get("incomplete"), "environment": record["environment"]}


def sources(path: str, record: dict) -> list[dict]:
    """The runs a record holds: those a merged record lists (it has no command of its
    own: its ``environment`` is its first run's), else the record itself."""
    return list(record.get("sources") or ()) or [source(path, record)]


def load(paths: Sequence[str | Path], allow_mismatch: bool = True,
         by_platform: bool = False) -> dict:
    """Read (each validated against the record schema) and merge run records;
    :class:`record.RecordError` for anything unreadable or invalid."""
    return merge([(str(p), record_mod.read(p)) for p in paths], allow_mismatch, by_platform)
