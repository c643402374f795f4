#!/usr/bin/env python3
"""How often the diagnosis names a porting mistake it was not written against (issue 20).

``tests/ports_apart/`` holds ports written apart from the diagnosis (its author never
read ``harness/verdict/``), each making one labelled mistake in its own words, and three
correct ports. Each is judged on the selection where it fails (``labels.WHERE``; the
correct ones on ``-k 'float64'``); the run's diagnosis of the impl (the record's
``impls[].diagnosis``) is compared with the label. Named correctly: the label's mistake
is the one the run names (or one it names as computing the very same values). A correct
port must get no diagnosis.

    python benchmarks/diagnosis_apart.py            # about 10 minutes
    python benchmarks/diagnosis_apart.py apart.p05  # some ports
    python benchmarks/diagnosis_apart.py --batch ports_apart2   # the second batch
"""
from __future__ import annotations

import importlib
import json
import subprocess
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
labels = None   # the batch's labels module (tests/<batch>/labels.py)

# the vocabulary the ports were labelled in -> the diagnosis' mistake ids
AS_DIAGNOSED = {"pad-symmetric": "symmetric-padding", "data-reshaped": "layout-reshaped",
                "filter-reshaped": "filter-layout-misread",
                "filter-io-swapped": "filter-layout-misread",
                "output-padding-before": "output-padding-misplaced"}


def judge(name: str, folder: Path) -> dict:
    suite, select, _ = labels.WHERE.get(name, ("conformance", "conv2d and float64", 0))
    out = folder / name
    cmd = [sys.executable, "-m", "harness.frontends.cli", "run", "--suite", suite, "-k", select,
           "--impl-module", f"tests.{BATCH}.{labels.MODULE[name].removesuffix('.py')}",
           "--jobs", "1", "--out", str(out)]
    done = subprocess.run(cmd, capture_output=True, text=True, cwd=REPO)
    if done.returncode not in (0, 1):
        raise SystemExit(f"{name}: {' '.join(cmd)}\n{done.stderr[-2000:]}")
    record = json.loads((out / "results.json").read_text())
    impl = next(i for i in record["impls"] if i["name"] == name)
    failing = sum(v["status"] in ("fail", "error") for v in record["verdicts"])
    return {"diagnosis": impl.get("diagnosis") or {}, "failing": failing}


BATCH = "ports_apart"


def main(names: list[str]) -> int:
    global labels, BATCH
    if names[:1] == ["--batch"]:
        BATCH, names = names[1], names[2:]
    labels = importlib.import_module(f"tests.{BATCH}.labels")
    names = names or list(labels.LABELS)
    right = wrong = 0
    print(f"{'port':16} {'framework':10} {'true mistake':22} {'named':26} {'explains':>9}  ok")
    with tempfile.TemporaryDirectory() as tmp:
        for name in names:
            label = labels.LABELS[name]
            found = judge(name, Path(tmp))
            d = found["diagnosis"]
            named = d.get("mistake") or "-"
            want = AS_DIAGNOSED.get(label, label)
            if label == "none":
                ok = named == "-"
            else:
                ok = want == named or want in (d.get("also") or [])
            right, wrong = right + ok, wrong + (not ok)
            share = f"{d.get('explains', 0)}/{d.get('of', 0)}" if d else "-"
            print(f"{name:16} {labels.FRAMEWORK[name]:10} {label:22} {named:26} {share:>9}  "
                  f"{'yes' if ok else 'NO'}")
    print(f"\nnamed correctly: {right} of {right + wrong} ({100 * right / (right + wrong):.0f} %)")
    return 0 if not wrong else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
