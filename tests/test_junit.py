"""JUnit XML (harness/render/junit.py): structure, counts, messages, and the common JUnit schema.

The schema check uses ``xmlschema`` with ``tests/data/junit.xsd`` (ant's
JUnit.xsd with Jenkins' ``skipped``); without ``xmlschema`` it is skipped and
the structural checks below still run.
"""
from __future__ import annotations

import copy
import re
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from harness.frontends import cli
from harness.render import junit
from harness.record import run_record as record_mod
from tests.test_report import build_record

XSD = Path(__file__).parent / "data" / "junit.xsd"


@pytest.fixture(scope="module")
def record(tmp_path_factory) -> dict:
    return build_record(tmp_path_factory.mktemp("cases"))


@pytest.fixture(scope="module")
def root(record) -> ET.Element:
    return ET.fromstring(junit.to_string(record))


def find_case(root: ET.Element, case: str, label: str) -> ET.Element:
    """The testcase of ``case[label]`` (label: ``impl-grad`` or ``claim-grad``)."""
    found = [tc for tc in root.iter("testcase") if tc.get("name") == f"{case}[{label}]"]
    assert len(found) == 1, (case, label, len(found))
    return found[0]


def test_classname_and_name_are_those_pytest_gives_the_item(root, record):
    """tests/test_test_ids.py compares with pytest's own --junitxml; here: the scheme."""
    file = next(c["file"] for c in record["cases"] if c["id"] == "t/same")
    tc = find_case(root, "t/same", "fake.wrong-dx")
    assert tc.get("classname") == file.lstrip("/").replace("/", ".")
    assert tc.get("name") == "t/same[fake.wrong-dx]"
    assert find_case(root, "t/same", "claim-dx").get("classname") == tc.get("classname")


def test_one_suite_per_impl_and_one_for_claims(root, record):
    assert root.tag == "testsuites"
    assert [s.get("name") for s in root.findall("testsuite")] == \
        [i["name"] for i in record["impls"]] + ["claims"]
    assert int(root.get("tests")) == len(record["verdicts"]) + len(record["claims"])


def test_counts_add_up(root):
    for s in root.findall("testsuite"):
        cases = s.findall("testcase")
        assert int(s.get("tests")) == len(cases)
        for tag, attr in (("failure", "failures"), ("error", "errors"), ("skipped", "skipped")):
            assert int(s.get(attr)) == sum(1 for tc in cases if tc.find(tag) is not None)
    for attr in ("tests", "failures", "errors", "skipped"):
        assert int(root.get(attr)) == sum(int(s.get(attr)) for s in root.findall("testsuite"))


def test_a_failure_has_its_first_line_the_whole_message_and_the_repro(root):
    failure = find_case(root, "t/same", "fake.wrong-dx").find("failure")
    assert failure.get("message") == "Mismatched elements: 1 / 9 (11.1%)"
    assert failure.get("type") == "mismatch"
    assert "Greatest relative difference" in failure.text
    assert re.search(r"\nreproduce: convgrad run \S+ -k t/same --impl fake\.wrong\n",
                     failure.text)
    assert re.search(r"\nstandalone script: convgrad repro \S+ --case t/same --impl fake\.wrong "
                     r"--grad dx -o repro-t_same-fake\.wrong-dx\.py$", failure.text.rstrip())


def test_errors_and_skips(root):
    # an error verdict is a failure of type error, as pytest --junitxml writes the item
    error = find_case(root, "t/same", "fake.broken-dx").find("failure")
    assert error.get("type") == "error"
    assert error.get("message") == "RuntimeError: boom" and "Traceback line" in error.text
    refused = find_case(root, "t/same", "fake.refuses-dw").find("skipped")
    assert refused.get("message") == "unsupported: NCHW is not supported on CPU"
    known = find_case(root, "t/known-1d", "fake.wrong-dx").find("skipped")
    assert known.get("message").startswith("known discrepancy: a tracked bug")
    passed = find_case(root, "t/same", "fake.native-dx")
    assert list(passed) == [] and float(passed.get("time")) >= 0


def test_claims_are_testcases(root):
    wrong = find_case(root, "t/same", "claim-dx").find("failure")
    assert wrong.get("message").startswith("a blog: Mismatched elements: 9 / 9")
    assert wrong.get("type") == "wrong-claim"


def test_skipped_and_nondeterministic_verdicts(record):
    rec = copy.deepcopy(record)
    rec["verdicts"][0]["status"] = "nondeterministic"
    rec["verdicts"][0]["message"] = "2 distinct results in 3 runs; largest spread 1e-07\nmore"
    rec["verdicts"][1].update(status="skipped", message="torch is not installed")
    root = ET.fromstring(junit.to_string(rec))
    first, second = (find_case(root, v["case"], f"{v['impl']}-{v['grad']}")
                     for v in rec["verdicts"][:2])
    assert first.find("failure").get("type") == "nondeterministic"
    assert first.find("failure").get("message") == "2 distinct results in 3 runs; " \
                                                   "largest spread 1e-07"
    assert second.find("skipped").get("message") == "skipped: torch is not installed"


def test_control_characters_do_not_break_the_xml(record):
    rec = copy.deepcopy(record)
    rec["verdicts"][0].update(status="error", message="\x1b[31mboom\x1b[0m \x00 <&>")
    root = ET.fromstring(junit.to_string(rec))
    error = next(root.iter("failure"))
    assert error.get("message") == "\ufffd[31mboom\ufffd[0m \ufffd <&>"


def test_valid_against_the_junit_schema(record):
    xmlschema = pytest.importorskip("xmlschema")
    schema = xmlschema.XMLSchema(str(XSD))
    schema.validate(junit.to_string(record))
    rec = copy.deepcopy(record)
    rec["claims"], rec["verdicts"] = [], rec["verdicts"][:1]
    schema.validate(junit.to_string(rec))


def test_the_schema_rejects_what_it_should():
    xmlschema = pytest.importorskip("xmlschema")
    schema = xmlschema.XMLSchema(str(XSD))
    bad = ('<testsuites><testsuite name="s" tests="1" failures="0" errors="0" time="0">'
           '<testcase name="t" time="0"/></testsuite></testsuites>')   # no classname
    assert not schema.is_valid(bad)


def test_cli_run_and_report_write_junit(tmp_path, record, capsys):
    src = tmp_path / "results.json"
    record_mod.write(record, src)
    out = tmp_path / "junit.xml"
    assert cli.main(["report", str(src), "-o", str(tmp_path / "r.html"), "--junit", str(out)]) == 0
    assert ET.parse(out).getroot().get("tests") == str(len(record["verdicts"])
                                                       + len(record["claims"]))
    assert f"junit: {out}" in capsys.readouterr().out
    assert cli.parser().parse_args(["run", "--junit", "j.xml"]).junit == "j.xml"
