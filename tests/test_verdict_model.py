"""The verdict model without any framework: what an impl returns or raises, and what the
harness makes of it (tests/test_truthful_verdicts.py does the same with real torch)."""
from __future__ import annotations

import json
import re
from dataclasses import dataclass

import numpy as np
import pytest

from harness.verdict import limitations
from harness.session import runner
from harness.backend import variants
from harness.backend.adapters.base import Outcome
from harness.case.loader import load_cases
from harness.verdict.status import Status
from harness.backend.worker import WorkerPool
from tests.planted import Planted

ARTICLE = load_cases(["cases/article"])


class Returns(Planted):
    """Returns ``spoil(correct outcomes)`` instead of the correct outcomes (picklable, so
    that it runs in a worker process too)."""

    def __init__(self, name, how):
        self.name, self.how = name, how

    def compute(self, case, inputs, grads):
        out = super().compute(case, inputs, grads)
        if self.how == "string":
            return "all good"
        if self.how == "empty":
            return {}
        if self.how == "object":
            return {g: object() for g in out}
        if self.how == "none":
            return {g: Outcome() for g in out}
        for o in out.values():
            o.values = {"strings": lambda a: a.astype(str), "complex": lambda a: a + 1j,
                        "list": lambda a: a.tolist(), "ints": lambda a: a.astype(np.int64),
                        "shape": lambda a: a[..., None]}[self.how](o.values)
        return out


class Exits(Planted):
    name = "bad.exits"

    def compute(self, case, inputs, grads):
        raise SystemExit(3)


BAD = [
    (Returns("bad.string", "string"), "returned str, not a mapping"),
    (Returns("bad.empty", "empty"), "returned no outcome for"),
    (Returns("bad.object", "object"), "a object instead of an Outcome"),
    (Returns("bad.strings", "strings"), "not a floating-point dtype"),
    (Returns("bad.complex", "complex"), "values are complex"),
    (Returns("bad.list", "list"), "values are a list, not a NumPy array"),
    (Returns("bad.ints", "ints"), "dtype int64"),
    (Returns("bad.shape", "shape"), "that is not this case's d"),
    (Returns("bad.none", "none"), "no values and says no reason"),
    (Exits(), "SystemExit: 3"),
]


@pytest.mark.parametrize("backend", ["in-process", "workers"])
def test_a_bad_result_costs_its_verdicts_as_errors_never_the_run(backend):
    pool = runner.InProcess() if backend == "in-process" else WorkerPool(jobs=1, timeout=60)
    session = runner.Session(backend=pool)
    try:
        session.probe([impl for impl, _ in BAD] + [Planted()])
        results = session.judge(ARTICLE)
    finally:
        session.close()
    for impl, why in BAD:
        got = [v for r in results for v in r.verdicts if v.impl == impl.name]
        assert len(got) == len(ARTICLE) and all(v.status == Status.ERROR for v in got), impl.name
        assert all(why in v.message for v in got), (impl.name, got[0].message)
    correct = [v.status for r in results for v in r.verdicts if v.impl == "planted.correct"]
    assert correct == [Status.PASS] * len(ARTICLE)


@dataclass(frozen=True)
class Refuser:
    """A frozen third-party impl that refuses everything in its framework's words."""

    name: str = "mylib.refuser"
    framework: str = "numpy"
    variants = {"mode": ("a", "b")}

    def version(self) -> str:
        return "1.0"

    def compute(self, case, inputs, grads):
        return {g: Outcome(unsupported="NotImplementedError: mylib has no SAME") for g in grads}

    def with_settings(self, settings):
        return self


DOCUMENTED = limitations.Limitation(
    id="mylib-no-same", framework="numpy", message=re.compile("has no SAME"),
    summary="mylib has no SAME padding", evidence="its docs", when={"padding": ("SAME",)})


def _judge(impl, limits):
    session = runner.Session(runner.probe([impl]), limitations=limits)
    return {v.case: v for r in session.judge(ARTICLE) for v in r.verdicts}


def test_a_refusal_is_unsupported_only_where_a_documented_limitation_covers_it():
    got = _judge(Refuser(), [DOCUMENTED])
    same = [v for v in got.values() if v.case.startswith("article/same")]
    valid = [v for v in got.values() if v.case.startswith("article/valid")]
    assert {v.status for v in same} == {Status.UNSUPPORTED}
    assert all(v.limitation["id"] == "mylib-no-same" for v in same)
    # the same words on a VALID case are not what the limitation documents: an error
    assert {v.status for v in valid} == {Status.ERROR}
    assert "no documented limitation of numpy covers" in valid[0].message


def test_an_undocumented_refusal_is_an_error():
    assert {v.status for v in _judge(Refuser(), []).values()} == {Status.ERROR}


def test_another_frameworks_limitation_does_not_cover_a_refusal():
    other = limitations.Limitation(id="x", framework="torch", message=re.compile("."),
                                   summary="s", evidence="e")
    assert {v.status for v in _judge(Refuser(), [other]).values()} == {Status.ERROR}


def test_a_variant_wraps_a_frozen_impl_without_changing_it():
    impl = Refuser()
    variant = variants.make(impl, {"mode": "b"})
    assert variant.name == "mylib.refuser[mode=b]" and impl.name == "mylib.refuser"
    assert variants.make(impl, {}) is impl


def test_shipped_limitations_load_and_each_cites_evidence():
    entries = limitations.default()
    assert {e.framework for e in entries} >= {"tensorflow"}
    assert all(e.evidence and e.summary and e.link.startswith("https://") for e in entries)
    assert len({e.id for e in entries}) == len(entries)


@pytest.mark.parametrize("text, message", [
    ("- id: a\n  framework: f\n  message: '('\n  summary: s\n  evidence: e\n",
     "message is not a regular expression"),
    ("- id: a\n  framework: f\n  message: x\n  summary: s\n", "'evidence' is required"),
    ("- id: a\n  framework: f\n  message: x\n  summary: s\n  evidence: e\n  when: {colour: 1}\n",
     "unknown fact 'colour'"),
    ("- id: a\n  framework: f\n  message: x\n  summary: s\n  evidence: e\n  sevirity: 1\n",
     "unknown key 'sevirity'"),
])
def test_a_bad_limitations_file_is_refused_with_file_and_line(tmp_path, text, message, capsys):
    from harness.frontends.cli import main

    path = tmp_path / "limits.yaml"
    path.write_text(text)
    assert main(["run", "cases/article", "--impl", "jax.vjp", "--limitations", str(path),
                 "--out", str(tmp_path / "out"), "--in-process"]) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"error: {path}:") and message in err and "Traceback" not in err
    assert not (tmp_path / "out").exists()


def test_the_record_groups_unsupported_verdicts_by_limitation():
    from datetime import datetime, timezone

    from harness.record import run_record as record_mod

    session = runner.Session(runner.probe([Refuser()]), limitations=[DOCUMENTED])
    results = session.judge(ARTICLE)
    record = json.loads(json.dumps(record_mod.build(results, session.impls, ["t"],
                                                    datetime.now(timezone.utc))))
    assert record["summary"]["unsupported_by_limitation"] == {"mylib-no-same": 2}
    assert record["summary"]["verdicts"]["error"] == 2


def test_a_prefetched_case_is_judged_with_the_answers_computed_beside_the_probe(monkeypatch):
    """The CLI starts the first case's oracle while the workers import: the judging takes
    those answers (no second evaluation) and the verdicts are those of an inline run; a
    prefetch that fails leaves the error to the inline computation, as before."""
    calls = []
    real = runner.expected
    monkeypatch.setattr(runner, "expected", lambda case, inputs: calls.append(case.id) or
                        real(case, inputs))
    inline = runner.Session(runner.probe([Planted()]))
    plain = [(v.case, v.grad, v.status) for r in inline.judge(ARTICLE) for v in r.verdicts]
    calls.clear()
    session = runner.Session(runner.probe([Planted()]))
    session.prefetch(ARTICLE[0])
    results = session.judge(ARTICLE)
    assert [(v.case, v.grad, v.status) for r in results for v in r.verdicts] == plain
    assert calls == [c.id for c in ARTICLE]       # once each: the first in the prefetch
    assert session._prefetched is None

    def broken(case, inputs):
        raise RuntimeError("oracle bug")
    monkeypatch.setattr(runner, "expected", broken)
    session = runner.Session(runner.probe([Planted()]))
    session.prefetch(ARTICLE[0])
    with pytest.raises(RuntimeError, match="oracle bug"):
        session.judge(ARTICLE[:1])
