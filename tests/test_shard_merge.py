"""--shard K/N splits cases deterministically; `convgrad merge` joins shards into one run."""
from __future__ import annotations

import json
import shlex

import pytest

from harness.session import selection
from harness.frontends.cli import main
from harness.case.loader import load_cases
from harness.record import merge as merge_mod
from tests.conftest import chosen_impl_names
from tests.test_report import parse

CASES = "cases/conformance/float64.yaml"
IMPL = (chosen_impl_names() or ["jax.vjp"])[-1]


def _verdicts(path):
    record = json.loads(path.read_text())
    return sorted((v["case"], v["impl"], v["grad"], v["status"], v["stats"].get("error_ratio"))
                  for v in record["verdicts"])


def test_shards_partition_the_cases_and_do_not_move_when_cases_are_added():
    ids = [c.id for c in load_cases(["cases/conformance"])]
    shards = [set(c for c in ids if selection.shard_of(c, 3) == k) for k in (1, 2, 3)]
    assert set().union(*shards) == set(ids) and sum(map(len, shards)) == len(ids)
    assert all(len(s) > len(ids) / 6 for s in shards)  # roughly balanced
    assert [selection.shard_of(c, 3) for c in ids[:50]] == \
        [selection.shard_of(c, 3) for c in (ids + ["new/case"])[:50]]


@pytest.mark.parametrize("text", ["0/2", "3/2", "1", "a/b", "1/0"])
def test_bad_shard_is_a_usage_error(text, tmp_path, capsys):
    assert main(["run", CASES, "--shard", text, "--in-process", "--out", str(tmp_path)]) == 2
    assert "expected K/N with 1 <= K <= N" in capsys.readouterr().err


def test_two_shards_merged_equal_one_unsharded_run(tmp_path):
    common = [CASES, "--impl", IMPL, "--in-process"]
    assert main(["run", *common, "--out", str(tmp_path / "all")]) == 0
    for k in (1, 2):
        assert main(["run", *common, "--shard", f"{k}/2", "--out", str(tmp_path / f"s{k}")]) == 0
    merged = tmp_path / "merged.json"
    assert main(["merge", str(tmp_path / "s1/results.json"), str(tmp_path / "s2/results.json"),
                 "-o", str(merged)]) == 0
    assert _verdicts(merged) == _verdicts(tmp_path / "all/results.json")
    assert main(["report", str(merged), "-o", str(tmp_path / "merged.html")]) == 0


def test_merge_refuses_records_from_different_environments(tmp_path, capsys):
    assert main(["run", CASES, "-k", "VALID-s1x1-NHWC", "--impl", IMPL, "--in-process",
                 "--out", str(tmp_path / "a")]) == 0
    record = json.loads((tmp_path / "a/results.json").read_text())
    record["environment"]["numpy"] = "0.0.1"
    record["cases"] = [{**c, "id": c["id"] + "-other"} for c in record["cases"]]
    for key in ("verdicts", "claims"):
        record[key] = [{**v, "case": v["case"] + "-other"} for v in record[key]]
    other = tmp_path / "b.json"
    other.write_text(json.dumps(record))
    args = ["merge", str(tmp_path / "a/results.json"), str(other), "-o", str(tmp_path / "m.json")]
    assert main(args) == 2
    assert "numpy is '0.0.1' but" in capsys.readouterr().err
    assert main(args + ["--allow-mismatch"]) == 0


def test_records_of_different_frameworks_merge_but_not_different_versions(tmp_path):
    assert main(["run", CASES, "-k", "VALID-s1x1-NHWC", "--impl", IMPL, "--in-process",
                 "--out", str(tmp_path / "a")]) == 0
    record = json.loads((tmp_path / "a/results.json").read_text())
    other = json.loads(json.dumps(record))
    other["environment"]["frameworks"] = {"somefw": "1.0"}
    other["impls"] = [{**i, "name": "somefw.impl"} for i in other["impls"]]
    other["verdicts"] = [{**v, "impl": "somefw.impl"} for v in other["verdicts"]]
    merged = merge_mod.merge([("a", record), ("b", other)], allow_mismatch=False)
    assert len(merged["verdicts"]) == 2 * len(record["verdicts"])
    clash = json.loads(json.dumps(other))
    clash["environment"]["frameworks"] = {**record["environment"]["frameworks"]}
    name = next(iter(clash["environment"]["frameworks"]))
    clash["environment"]["frameworks"][name] = "0.0.0"
    with pytest.raises(merge_mod.MergeError, match="frameworks is"):
        merge_mod.merge([("a", record), ("b", clash)], allow_mismatch=False)


def test_a_merged_record_reports_every_runs_command_shard_and_platform(tmp_path):
    """`convgrad merge` then `convgrad report m.json`: the header named one run's command
    (reading m.json alone replaced its sources with one, the first run's environment).
    Every run's command, shard and platform is in the header, and merging a merged record
    again keeps its runs."""
    port = tmp_path / "merge_port.py"
    port.write_text("from tests.planted_ports import Port\nIMPLS = [Port()]\n")
    common = ["cases/article", "--impl-module", str(port), "--in-process"]
    for k in (1, 2):
        assert main(["run", *common, "--shard", f"{k}/2", "--out", str(tmp_path / f"s{k}")]) \
            in (0, 1)   # article ex. 3's claim is wrong
    assert main(["run", "cases/conformance/conv2d.yaml", "-k", "SAME-k3x3-s2x2",
                 "--impl-module", str(port), "--in-process", "--out", str(tmp_path / "c")]) == 0
    merged, again = tmp_path / "m.json", tmp_path / "m2.json"
    assert main(["merge", str(tmp_path / "s1/results.json"), str(tmp_path / "s2/results.json"),
                 "-o", str(merged)]) == 0
    assert main(["merge", str(merged), str(tmp_path / "c/results.json"), "-o", str(again)]) == 0
    label = merge_mod.platform_label(json.loads(merged.read_text()))
    for path, runs in ((merged, 2), (again, 3)):
        record = json.loads(path.read_text())
        commands = [s["environment"]["command"] for s in record["sources"]]
        assert len(commands) == runs
        assert [c[c.index("--shard") + 1] for c in commands[:2]] == ["1/2", "2/2"]
        assert main(["report", str(path), "-o", str(tmp_path / "r.html")]) == 0
        header = parse((tmp_path / "r.html").read_text()).find("header")
        items = header.find("ol", id="runs").find_all("li")
        assert len(items) == runs == len(header.find_all("section", cls="run"))
        for item, command in zip(items, commands):
            assert item.find("code").text() == shlex.join(command)
            assert f"platform {label}" in item.text()
        assert "shard 1/2" in items[0].text() and "shard 2/2" in items[1].text()
        assert "shard" not in "".join(i.text() for i in items[2:]).replace("--shard", "")
