"""`convgrad diff`: a planted status change and a drifted ratio are both reported."""
from __future__ import annotations

import copy
import json

from harness.record import diff
from harness.render import diff_views
from harness.record import run_record as record_mod
from harness.frontends.cli import main
from tests.test_report import build_record


def _planted(record: dict) -> dict:
    passing_old = [v for v in record["verdicts"] if v["status"] == "pass"
                   and "error_ratio" in (v.get("stats") or {})]
    passing_old[1]["stats"]["error_ratio"] = 0.02
    new = copy.deepcopy(record)
    passing = [v for v in new["verdicts"] if v["status"] == "pass"
               and "error_ratio" in (v.get("stats") or {})]
    passing[0]["status"] = "fail"                         # a verdict that broke
    passing[1]["stats"]["error_ratio"] = 0.9              # a ratio that drifted 45x
    new["verdicts"] = [v for v in new["verdicts"] if v is not passing[2]]   # one vanished
    return new, passing[:3]


def test_a_changed_status_a_drifted_ratio_and_a_lost_verdict_are_worse(tmp_path, capsys):
    old = build_record(tmp_path)
    new, (broke, drifted, lost) = _planted(old)
    result = diff.diff(old, new)
    kinds = {(c.kind, c.key) for c in result.worse}
    key = lambda v: (v["case"], v["impl"], v["grad"])   # noqa: E731
    assert ("status", key(broke)) in kinds
    assert ("ratio", key(drifted)) in kinds
    assert ("removed", key(lost)) in kinds
    assert diff.diff(old, copy.deepcopy(old)).changes == []
    record_mod.write(old, tmp_path / "old.json")
    record_mod.write(new, tmp_path / "new.json")
    assert main(["diff", str(tmp_path / "old.json"), str(tmp_path / "new.json"),
                 "--markdown", str(tmp_path / "summary.md")]) == 1
    md = (tmp_path / "summary.md").read_text()
    assert md.startswith("### convgrad diff") and "| ❌ | status |" in md
    assert f"| {broke['case']} | {broke['impl']} | {broke['grad']} | pass | fail |" in md
    assert main(["diff", str(tmp_path / "old.json"), str(tmp_path / "old.json")]) == 0
    assert "0 changes, 0 worse" in capsys.readouterr().out


def test_better_is_not_worse(tmp_path):
    old = build_record(tmp_path)
    new = copy.deepcopy(old)
    failing = next(v for v in new["verdicts"] if v["status"] in ("fail", "known"))
    failing["status"] = "pass"
    result = diff.diff(old, new)
    assert [c.kind for c in result.changes] == ["status"] and result.worse == []
    json.dumps(diff_views.markdown(result))


def test_every_verdicts_values_are_stored_beside_the_record_and_compared(tmp_path, capsys):
    import numpy as np

    port = tmp_path / "diff_port.py"
    port.write_text("from tests.planted_ports import Port\nIMPLS = [Port()]\n")
    for name in ("old", "new"):
        assert main(["run", "cases/conformance/conv2d.yaml", "-k", "SAME-k3x3-s2x2",
                     "--impl-module", str(port), "--in-process",
                     "--out", str(tmp_path / name)]) == 0
    new_values = tmp_path / "new" / "values.npz"
    stored = dict(np.load(new_values))
    record = json.loads((tmp_path / "new" / "results.json").read_text())
    big = next(v for v in record["verdicts"] if v["grad"] == "dw")
    assert big["values_key"] in stored              # a passing verdict's values too
    stored[big["values_key"]] = stored[big["values_key"]] + 1e-3
    target = new_values.resolve()
    np.savez_compressed(target, **stored)
    capsys.readouterr()
    assert main(["diff", str(tmp_path / "old" / "results.json"),
                 str(tmp_path / "new" / "results.json"), "--html", str(tmp_path / "d.html")]) == 0
    out = capsys.readouterr().out
    assert f"values  {big['case']} [port.correct] dw" in out and "elements differ" in out
    page = (tmp_path / "d.html").read_text()
    assert page.startswith("<!DOCTYPE html>") and big["case"] in page


def test_stored_values_belong_to_their_own_entries_and_run(tmp_path):
    """Several cases with claims: each values_key must hold that entry's values (the
    record's own small arrays say what they are), and values.npz beside a record of
    another run is not used."""
    import shutil

    import numpy as np

    from harness.record import diff as diff_mod
    from harness.record import run_record as record_mod

    port = tmp_path / "values_port.py"
    port.write_text("from tests.planted_ports import Port\nIMPLS = [Port()]\n")
    for name in ("a", "b"):
        assert main(["run", "cases/article", "--impl-module", str(port), "--in-process",
                     "--out", str(tmp_path / name)]) in (0, 1)   # article ex. 3's claim is wrong
    record = json.loads((tmp_path / "a" / "results.json").read_text())
    stored = record_mod.read_values(tmp_path / "a" / "results.json")
    entries = record["verdicts"] + record["claims"]
    assert record["claims"] and len(record["cases"]) > 1
    checked = 0
    for entry in entries:
        inline = diff_mod._values(entry)
        if inline is not None:
            assert entry["values_key"] in stored, entry
            np.testing.assert_array_equal(stored[entry["values_key"]], inline, err_msg=str(
                (entry["case"], entry.get("impl", entry.get("source")), entry["grad"])))
            checked += 1
    assert checked == len(entries)
    foreign = tmp_path / "foreign"
    foreign.mkdir()
    shutil.copy(tmp_path / "a" / "results.json", foreign / "results.json")
    shutil.copy(tmp_path / "b" / "values.npz", foreign / "values.npz")
    assert record_mod.read_values(foreign / "results.json") == {}


def test_the_html_diff_escapes_what_records_carry():
    from harness.record import diff as diff_mod

    d = diff_mod.Diff("<old>", "new", [diff_mod.Change(
        ("c<script>alert(1)</script>", "impl&x", "dw"), "status", "pass", "fail", True,
        "<img src=x>")], compared=1)
    page = diff_views.html(d)
    assert "<script>" not in page and "<img" not in page
    assert "c&lt;script&gt;" in page and "impl&amp;x" in page and "&lt;old&gt;" in page
    assert 'class="worse"' in page and "1 worse" in page


def test_claims_are_counted_apart_from_verdicts_and_a_value_drift_names_its_status(tmp_path):
    """Issue 20: the count read 'verdicts' for verdicts and claims together (84 where merge
    said 80), and a value drift printed '— -> —'."""
    import numpy as np

    old = build_record(tmp_path)
    assert old["claims"], "the sample record needs claims"
    result = diff.diff(old, copy.deepcopy(old))
    assert (result.compared, result.claims_compared) == (len(old["verdicts"]),
                                                          len(old["claims"]))
    assert f"{len(old['verdicts'])} verdicts and {len(old['claims'])} claims in both" \
        in diff_views.text(result)
    new = copy.deepcopy(old)
    drifted = next(v for v in new["verdicts"] if (v.get("arrays") or {}).get("actual")
                   and "plane" not in v["arrays"]["actual"] and v["arrays"]["actual"]["data"])
    data = np.asarray(drifted["arrays"]["actual"]["data"], dtype=float) + 1e-3
    drifted["arrays"]["actual"]["data"] = data.tolist()
    change = next(c for c in diff.diff(old, new).changes if c.kind == "values")
    assert (change.old, change.new) == (drifted["status"], drifted["status"])
    assert "— -> —" not in diff_views.text(diff.diff(old, new))
