#!/usr/bin/env python3
"""The clean sweep of issue 22: benchmarks/sweep/cases/ (2,144 cases: VALID, SAME and
asymmetric explicit pads, strides, dilations, odd and even kernels, conv1d/2d/3d,
depthwise, grouped and transposed, float64/float32/float16/bfloat16, channels-last and
-first, zero-mean and non-zero-mean data; 128 of them long sums, up to 4,096 products an
element, where the statistical line lies below the hard bound) judged by every impl on
every numerics path this machine can take (``convgrad run --platforms all``). Per path it
prints

* the verdicts judged on values (pass, fail, known: an error ratio was computed);
* the hard bound's failures that no documented entry covers (``fail``: must be 0), and
  the errors (a crash: not judged on values, but no verdict may crash either). The
  documented entries are harness/data/known-discrepancies.yaml and
  benchmarks/sweep/known.yaml (TensorFlow's and torch's half-precision accumulation on
  the sweep's ids); a ``known`` verdict whose error does not fit accumulation in the
  16-bit type (``stats.storage_fits``) counts as a failure, so those entries hide nothing
  else;
* the statistical line's flag rate: passing verdicts marked improbable / passing
  verdicts, overall, by dtype and by zero-mean (``zm``) or non-zero-mean (``pos``) data.

Then (``--rejudge``, on by default) it judges the values the impls returned (the run's
``values.npz``) again, without any framework: under the bound the harness computes now,
under the classical bound (:func:`harness.numerics.compare.bound`: ``n*u*M`` and one
rounding to the output dtype), and with ``torch.testing.assert_close``'s defaults. Per path
and dtype: the greatest ``|err| / bound`` of each, how many verdicts each fails (known
ones left out), and how many correct results (those the bound passes) assert_close fails:
a tightening of the bound is validated by this table (0 failures), on the values of the
frameworks themselves.

    python benchmarks/sweep.py                     # ~15 min on 2 cores (3 paths)
    python benchmarks/sweep.py --quick             # one shard in 16, ~1-2 min
    python benchmarks/sweep.py --out sweep-out     # keep the record and the report
    python benchmarks/sweep.py sweep-out/results.json   # summarize a record again

Exit 1 when a verdict failed outside the documented entries, or errored.
"""
from __future__ import annotations

import argparse
import collections
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Iterable, Optional

import numpy as np

from harness.case.loader import load_cases
from harness.case.values import materialize
from harness.numerics import compare
from harness.numerics.dtypes import round_to
from harness.verdict.expected import expected
from harness.verdict.known import DEFAULT_FILE as SHIPPED_KNOWN

sys.path.insert(0, str(Path(__file__).resolve().parent))
from detection import ANCHORS  # noqa: E402  (the anchors' criteria, as the benchmark has them)

SWEEP = Path(__file__).resolve().with_name("sweep") / "cases"
KNOWN = SWEEP.parent / "known.yaml"
QUICK_SHARD = "1/16"
DATA = {"zm": "zero-mean", "pos": "non-zero-mean"}
JUDGED = ("pass", "fail", "known")       # statuses whose verdicts were judged on values
DTYPES = ("float64", "float32", "float16", "bfloat16")
ASSERT_CLOSE = next(a for a in ANCHORS if a.name == "assert_close")


# ------------------------------------------------------------------ reading a record

def path_of(impl: str) -> str:
    """The numerics path of an impl name: its ``cpu=`` variant, else ``native``."""
    variants = impl.partition("[")[2].rstrip("]")
    for v in variants.split(","):
        if v.strip().startswith("cpu="):
            return v.strip()
    return "native"


def data_of(case_id: str) -> str:
    """``zm`` or ``pos``: the data label the sweep's matrices end every id with."""
    label = case_id.rsplit("/", 1)[-1].rsplit("-", 1)[-1]
    return label if label in DATA else "other"


def tally(record: dict) -> dict:
    """path -> row key -> Counter of statuses, ``judged`` and ``improbable``. Row keys:
    ``("all",)``, ``("dtype", d)``, ``("data", z)``, ``("dtype-data", d, z)``."""
    dtype = {c["id"]: c["dtype"] for c in record["cases"]}
    rows: dict = collections.defaultdict(lambda: collections.defaultdict(collections.Counter))
    for v in record["verdicts"]:
        d, z = dtype[v["case"]], data_of(v["case"])
        judged = v["status"] in JUDGED and "error_ratio" in (v.get("stats") or {})
        for key in (("all",), ("dtype", d), ("data", z), ("dtype-data", d, z)):
            row = rows[path_of(v["impl"])][key]
            row[v["status"]] += 1
            row["judged"] += judged
            row["improbable"] += bool((v.get("stats") or {}).get("improbable"))
    return rows


def _label(key: tuple) -> str:
    if key == ("all",):
        return "all"
    return " ".join(DATA.get(k, k) for k in key[1:])


def _order(key: tuple):
    kind = ("all", "dtype", "data", "dtype-data").index(key[0])
    rest = tuple(DTYPES.index(k) if k in DTYPES else k for k in key[1:])
    return (kind, rest)


def table(rows: dict) -> list[str]:
    """One block per path: judged, pass, fail, known, error, improbable and its rate."""
    head = (f"{'':30} {'judged':>7} {'pass':>7} {'fail':>5} {'known':>6} {'error':>5} "
            f"{'improbable':>10} {'rate':>8}")
    lines = []
    for path in sorted(rows, key=lambda p: (p != "native", p)):
        lines += [f"path {path}", head, "-" * len(head)]
        for key in sorted(rows[path], key=_order):
            r = rows[path][key]
            rate = r["improbable"] / r["pass"] if r["pass"] else 0.0
            lines.append(f"{_label(key):30} {r['judged']:7} {r['pass']:7} {r['fail']:5} "
                         f"{r['known']:6} {r['error']:5} {r['improbable']:10} {rate:8.3%}")
        lines.append("")
    return lines


def problems(record: dict) -> list[dict]:
    """The verdicts that must not exist: fail (outside every documented entry), error,
    nondeterministic, and known where the error does not fit accumulation in the 16-bit
    type (every entry benchmarks/sweep/known.yaml adds is such an accumulation)."""
    return [v for v in record["verdicts"]
            if v["status"] in ("fail", "error", "nondeterministic")
            or (v["status"] == "known" and not (v.get("stats") or {}).get("storage_fits"))]


# ------------------------------------------------------------------ judging again

def classical_bound(e) -> np.ndarray:
    """The bound before issue 22's tightening, for comparison: ``n*u_acc*M`` for the sum
    and a rounding to the output dtype on top (:func:`harness.numerics.compare.bound`)."""
    return compare.bound(e.values, e.magnitude, e.terms, e.model)


def _worst(err: np.ndarray, limit: np.ndarray) -> float:
    with np.errstate(invalid="ignore", divide="ignore"):
        ratio = np.where(err == 0, 0.0, err / limit)
    ratio[np.isnan(ratio)] = np.inf
    return float(np.max(ratio, initial=0.0))


def rejudge(record: dict, values: Path, cases: Iterable) -> dict:
    """path -> dtype -> Counter and maxima: the verdicts judged on values, judged again on
    the values the impls returned (``values.npz``)."""
    by_id = {c.id: c for c in cases}
    store = np.load(values)
    if str(store["run_id"]) != record["run_id"]:
        sys.exit(f"{values} is not the values file of run {record['run_id']}")
    cache: dict = {}
    out: dict = collections.defaultdict(lambda: collections.defaultdict(collections.Counter))
    top: dict = collections.defaultdict(lambda: collections.defaultdict(dict))
    for v in sorted(record["verdicts"], key=lambda v: v["case"]):   # one oracle per case
        if v["status"] not in JUDGED or not v.get("values_key") or v["case"] not in by_id:
            continue
        case = by_id[v["case"]]
        if case.id not in cache:
            cache = {case.id: expected(case, materialize(case))}
        e = cache[case.id][v["grad"]]
        actual = np.asarray(store[v["values_key"]], dtype=np.float64)
        now = e.compare(actual)
        with np.errstate(invalid="ignore", over="ignore"):
            err = np.abs(actual - e.values)
            err[actual == e.values] = 0.0
        ratios = {"bound": now.error_ratio, "classical": _worst(err, classical_bound(e)),
                  "statistical": _worst(err, e.probable_bound)}
        path, dtype = path_of(v["impl"]), case.dtype
        correct = round_to(e.values, dtype)
        false_alarm = now.passed and not ASSERT_CLOSE.passes(actual, correct, dtype)
        for key in (dtype, f"{dtype} {data_of(case.id)}"):
            row, best = out[path][key], top[path][key]
            row["judged"] += 1
            row["known"] += v["status"] == "known"
            if v["status"] == "known":
                continue
            row["bound fails"] += not now.passed
            row["classical fails"] += ratios["classical"] > 1
            row["only now"] += not now.passed and ratios["classical"] <= 1
            row["improbable"] += bool(now.improbable)
            row["assert_close false alarms"] += false_alarm
            for name, r in ratios.items():
                best[name] = max(best.get(name, 0.0), r)
    return {"counts": out, "max": top}


def rejudge_table(found: dict) -> list[str]:
    head = (f"{'path':11} {'dtype':12} {'judged':>7} {'known':>6} {'bound':>6} "
            f"{'only now':>8} {'max ratio':>10} {'classical':>9} {'max ratio':>10} "
            f"{'max / stat.':>11} {'assert_close':>12}")
    lines = ["judged again (known verdicts left out of the fails and maxima): fails and the "
             "greatest |err| / bound under the harness's bound and the classical n*u*M one "
             "(only now: fails of the harness's bound that the classical one passes); "
             "max / stat.: greatest |err| / the statistical line; assert_close: correct "
             "results (the bound passes them) that torch's defaults fail", head,
             "-" * len(head)]
    counts, top = found["counts"], found["max"]
    for path in sorted(counts, key=lambda p: (p != "native", p)):
        for dtype in (f"{d}{z}" for d in DTYPES for z in ("", " zm", " pos")):
            if dtype not in counts[path]:
                continue
            r, m = counts[path][dtype], top[path][dtype]
            lines.append(
                f"{path:11} {dtype:12} {r['judged']:7} {r['known']:6} {r['bound fails']:6} "
                f"{r['only now']:8} {m.get('bound', 0):10.3g} {r['classical fails']:9} "
                f"{m.get('classical', 0):10.3g} {m.get('statistical', 0):11.3g} "
                f"{r['assert_close false alarms']:12}")
    return lines


# ------------------------------------------------------------------ running

def known_file(folder: Path) -> Path:
    """The shipped known discrepancies followed by the sweep's (both are YAML lists)."""
    path = folder / "known.yaml"
    path.write_text(Path(SHIPPED_KNOWN).read_text() + "\n" + KNOWN.read_text())
    return path


def run(out: Path, quick: bool, jobs: Optional[int], scratch: Path) -> Path:
    cmd = [sys.executable, "-m", "harness.frontends.cli", "run", str(SWEEP),
           "--platforms", "all", "--out", str(out), "--known", str(known_file(scratch))]
    if quick:
        cmd += ["--shard", QUICK_SHARD]
    if jobs:
        cmd += ["--jobs", str(jobs)]
    start = time.monotonic()
    done = subprocess.run(cmd, capture_output=True, text=True)
    if done.returncode not in (0, 1):
        sys.exit(f"failed: {' '.join(cmd)}\n{done.stderr[-3000:]}")
    print(f"$ {' '.join(cmd[1:])}\n  exit {done.returncode}, "
          f"{time.monotonic() - start:.0f} s\n")
    return out / "results.json"


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("records", nargs="*", help="summarize these records instead of running")
    parser.add_argument("--quick", action="store_true",
                        help=f"a smoke run: shard {QUICK_SHARD} of the cases")
    parser.add_argument("--out", help="keep the run's record and report here")
    parser.add_argument("--jobs", type=int, help="worker processes at once (convgrad --jobs)")
    parser.add_argument("--no-rejudge", dest="rejudge", action="store_false",
                        help="only the record's own figures")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory() as tmp:
        records = [Path(p) for p in args.records] or [
            run(Path(args.out or Path(tmp) / "sweep"), args.quick, args.jobs, Path(tmp))]
        status = 0
        cases = load_cases([SWEEP]) if args.rejudge else []
        for path in records:
            record = json.loads(path.read_text())
            print(f"record {path} ({len(record['cases'])} cases, "
                  f"{len(record['verdicts'])} verdicts, {record.get('duration_s', 0):.0f} s)\n")
            print("\n".join(table(tally(record))))
            bad = problems(record)
            print(f"hard-bound failures outside documented entries (and known verdicts "
                  f"whose error does not fit 16-bit accumulation), errors and "
                  f"nondeterministic verdicts: {len(bad)}")
            for v in bad[:20]:
                print(f"  {v['test']}: {v['status']}: {v['message'].splitlines()[0]}")
            status |= bool(bad)
            if args.rejudge:
                values = path.with_name("values.npz")
                print()
                print("\n".join(rejudge_table(rejudge(record, values, cases))))
            print()
    return 1 if status else 0


if __name__ == "__main__":
    sys.exit(main())
