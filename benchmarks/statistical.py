#!/usr/bin/env python3
"""The statistical line's flag rate and the hard bound's false alarms on a clean sweep
(issue 22): every bundled suite judged on every numerics path this machine can take
(``--platforms all``), or the record(s) given. Prints, per dtype and per path, the
verdicts judged on values, those that failed (each must be a documented ``known`` entry:
a hard-bound false alarm would be a fail or an undocumented known), and the passing
verdicts marked improbable (within the bound, beyond ``lambda * sqrt(n)``), as a rate.

    python benchmarks/statistical.py                    # runs convgrad, ~15 minutes
    python benchmarks/statistical.py reports/results.json
"""
from __future__ import annotations

import collections
import json
import subprocess
import sys
import tempfile
from pathlib import Path


def sweep(folder: Path) -> list[Path]:
    out = folder / "sweep"
    cmd = [sys.executable, "-m", "harness.frontends.cli", "run", "--platforms", "all",
           "--out", str(out)]
    done = subprocess.run(cmd, capture_output=True, text=True)
    if done.returncode not in (0, 1):
        sys.exit(f"failed: {' '.join(cmd)}\n{done.stderr[-3000:]}")
    return [out / "results.json"]


def main(paths: list[str]) -> int:
    with tempfile.TemporaryDirectory() as tmp:
        records = [Path(p) for p in paths] or sweep(Path(tmp))
        rows: dict = collections.defaultdict(collections.Counter)
        for path in records:
            record = json.loads(path.read_text())
            dtype = {c["id"]: c["dtype"] for c in record["cases"]}
            for v in record["verdicts"]:
                stats = v.get("stats") or {}
                if "error_ratio" not in stats:
                    continue      # not judged on values (errors, unsupported, skipped)
                path_name = v["impl"].split("[", 1)[1].rstrip("]") if "[" in v["impl"] \
                    else "native"
                for key in (("dtype", dtype[v["case"]]), ("path", path_name), ("all", "all")):
                    row = rows[key]
                    row["judged"] += 1
                    row[v["status"]] += 1
                    row["improbable"] += bool(stats.get("improbable"))
    print(f"{'':24} {'judged':>8} {'pass':>8} {'fail':>6} {'known':>6} {'improbable':>11} "
          f"{'rate':>8}")
    for key in sorted(rows, key=lambda k: (k[0] != "all", k)):
        r = rows[key]
        rate = r["improbable"] / max(r["pass"], 1)
        print(f"{key[0] + ' ' + key[1]:24} {r['judged']:8} {r['pass']:8} {r['fail']:6} "
              f"{r['known']:6} {r['improbable']:11} {rate:8.2%}")
    total = rows[("all", "all")]
    print(f"\nhard-bound failures outside documented entries: {total['fail']} "
          f"(of {total['judged']} verdicts judged on values)")
    return 1 if total["fail"] else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
