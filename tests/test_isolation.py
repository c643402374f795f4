"""Worker processes: a crash, a hang, a leak or an exception costs one verdict, not the run."""
from __future__ import annotations


import pytest

from harness.record import run_record as record_mod
from harness.render import report
from harness.frontends.cli import main
from harness.case.loader import load_cases
from harness.session.runner import InProcess, run
from harness.backend.worker import WorkerPool
from tests.faults import Faulty, Flaky
from tests.planted import Planted

CASES = load_cases(["cases/article", "cases/conformance/float64.yaml"])[:7]


@pytest.fixture(scope="module")
def faulty_run():
    pool = WorkerPool(jobs=2, timeout=5, max_rss=768 << 20)
    try:
        infos = pool.probe([Faulty(), Planted()])
        return run(CASES, infos, backend=pool), infos
    finally:
        pool.close()


def _statuses(results, impl):
    return {(v.case, v.grad): (v.status, v.message) for r in results for v in r.verdicts
            if v.impl == impl}


@pytest.mark.parametrize("case, cause", [
    ("article/valid-dx", "worker killed by SIGABRT"),
    ("article/valid-dw", "timeout: no answer within 5 s (worker killed)"),
    ("article/same-dx", "out of memory: resident size above 768 MiB (worker killed)"),
    ("article/same-dw", "RuntimeError: planted failure in compute"),
])
def test_each_fault_is_an_error_with_its_cause(faulty_run, case, cause):
    results, _ = faulty_run
    [(status, message)] = [s for (c, _), s in _statuses(results, "faulty.numpy").items()
                           if c == case]
    assert status == "error" and message.startswith(cause)


def test_every_other_verdict_is_judged(faulty_run):
    results, _ = faulty_run
    faulty = _statuses(results, "faulty.numpy")
    others = {k: s for k, s in faulty.items() if not k[0].startswith("article/")}
    assert others and all(status == "pass" for status, _ in others.values())
    assert all(s == "pass" for s, _ in _statuses(results, "planted.correct").values())


def test_the_report_of_a_faulty_run_renders(faulty_run, tmp_path):
    results, infos = faulty_run
    from datetime import datetime, timezone
    record = record_mod.build(results, infos, ["test"], datetime.now(timezone.utc))
    html = report.render(record)
    assert "worker killed by SIGABRT" in html and "planted failure in compute" in html


def test_in_process_backend_survives_an_exception():
    results = run(CASES[3:4], InProcess().probe([Faulty()]))
    assert [v.status for v in results[0].verdicts] == ["error"]


def test_repeat_marks_bitwise_differences_nondeterministic():
    results = run(CASES[:1], InProcess().probe([Flaky(), Planted()]), repeat=3)
    by_impl = {v.impl: v for v in results[0].verdicts}
    flaky = by_impl["flaky.numpy"]
    assert flaky.status == "nondeterministic"
    assert flaky.stats["distinct"] == 3 and flaky.stats["spread"] > 0
    assert by_impl["planted.correct"].status == "pass"


def test_env_variants_are_refused_in_process(capsys, tmp_path):
    code = main(["run", "cases/article/1-valid-dx.yaml", "--in-process", "--impl",
                 "tf.backprop[onednn=off]", "--out", str(tmp_path)])
    assert code == 2
    assert "settings read at framework import need worker processes" in capsys.readouterr().err


def test_unknown_variant_setting_is_a_usage_error(capsys, tmp_path):
    code = main(["run", "cases/article/1-valid-dx.yaml", "--impl", "jax.vjp[onednn=off]",
                 "--out", str(tmp_path)])
    assert code == 2
    assert capsys.readouterr().err.startswith("error: jax.vjp has no setting 'onednn'")
