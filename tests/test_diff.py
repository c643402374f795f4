"""`convgrad diff`: a planted status change and a drifted ratio are both reported."""
from __future__ import annotations

import copy
import json
import shutil

import numpy as np

from harness.record import diff
from harness.render import diff_views
from harness.record import run_record as record_mod
from harness.frontends.cli import main
from harness.safeio import printable
from harness.verdict.known import KnownDiscrepancy
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
    cells = " | ".join(map(printable.markdown, (broke["case"], broke["impl"], broke["grad"])))
    assert f"| {cells} | pass | fail |" in md   # record strings escaped for Markdown
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
        inline = diff._values(entry)
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
    d = diff.Diff("<old>", "new", [diff.Change(
        ("c<script>alert(1)</script>", "impl&x", "dw"), "status", "pass", "fail", True,
        "<img src=x>")], compared=1)
    page = diff_views.html(d)
    assert "<script>" not in page and "<img" not in page
    assert "c&lt;script&gt;" in page and "impl&amp;x" in page and "&lt;old&gt;" in page
    assert 'class="worse"' in page and "1 worse" in page


def test_claims_are_counted_apart_from_verdicts_and_a_value_drift_names_its_status(tmp_path):
    """Issue 20: the count read 'verdicts' for verdicts and claims together (84 where merge
    said 80), and a value drift printed '— -> —'."""
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


def _known_verdict(record: dict, case: str, impl: str) -> dict:
    return next(v for v in record["verdicts"] if v["case"] == case and v["impl"] == impl)


def test_a_changed_known_entry_is_reported_with_the_old_and_the_new_entry(tmp_path):
    """Only the known entry of a verdict changed (status `known` in both): the diff names
    both entries, and a verdict newly matched (or no longer matched) by an entry with the
    same status is reported too; neither is worse."""
    old = build_record(tmp_path)
    renamed = [KnownDiscrepancy(case="t/known-1d", impl="fake.*", reason="another tracked bug",
                                evidence="y", versions=">=1")]
    new = build_record(tmp_path, known=renamed)
    before, after = (_known_verdict(r, "t/known-1d", "fake.wrong") for r in (old, new))
    assert before["status"] == after["status"] == "known"
    result = diff.diff(old, new)
    change = next(c for c in result.changes if c.key == ("t/known-1d", "fake.wrong", "dx"))
    assert change.kind == "known" and not change.worse
    assert "a tracked bug" in change.old and "t/known*" in change.old
    assert "another tracked bug" in change.new and "versions >=1" in change.new
    assert "known in both" in change.detail
    text = diff_views.text(result)
    assert "known   t/known-1d [fake.wrong] dx: fake.wrong on t/known*" in text
    assert "-> fake.* on t/known-1d" in text and "another tracked bug" in text
    # fake.native passes t/known-1d in both runs: only the new entry matches it (flagged)
    passing = next(c for c in result.changes if c.key == ("t/known-1d", "fake.native", "dx"))
    assert (passing.kind, passing.old, passing.worse) == ("known", "no known entry", False)
    assert "pass in both" in passing.detail and "now matched" in passing.detail
    back = next(c for c in diff.diff(new, old).changes
                if c.key == ("t/known-1d", "fake.native", "dx"))
    assert back.new == "no known entry" and "no longer matched" in back.detail
    assert result.worse == [] and "another tracked bug" in diff_views.markdown(result)
    assert "another tracked bug" in diff_views.html(result)


def test_a_value_drift_says_how_far_the_error_ratio_moved(tmp_path):
    """A value drift within the factor has no ratio row: its own detail says what drifted."""
    old = build_record(tmp_path)
    new = copy.deepcopy(old)
    key = next(_key for _key, v in enumerate(new["verdicts"])
               if v["status"] == "pass" and (v.get("arrays") or {}).get("actual")
               and "plane" not in v["arrays"]["actual"])
    for record, ratio, shift in ((old, 0.02, 0.0), (new, 0.03, 1e-3)):
        v = record["verdicts"][key]
        v["stats"]["error_ratio"] = ratio
        v["arrays"]["actual"]["data"] = (np.asarray(v["arrays"]["actual"]["data"], dtype=float)
                                         + shift).tolist()
    changes = diff.diff(old, new).changes
    assert [c.kind for c in changes] == ["values"]
    assert "greatest |err| / bound 0.02 -> 0.03" in changes[0].detail
    line = next(l for l in diff_views.text(diff.diff(old, new)).splitlines() if "values" in l)
    assert "pass -> pass" in line and "0.02 -> 0.03" in line and "— -> —" not in line
