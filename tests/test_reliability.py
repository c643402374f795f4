"""Issue 12 beyond the corpus of tests/test_hostile.py: outputs that stay one set through
kills at every step, a full disk, a closed pipe; the limits a run expands to; records as
convgrad writes them against the published schema; escaping and quoting. No framework."""
from __future__ import annotations

import errno
import io
import json
import os
import random
import re
import shlex
import signal
import subprocess
import sys
import time
from datetime import datetime, timezone
from pathlib import Path

import pytest

from harness.frontends import cli
from harness.case import loader
from harness.safeio import outputs, printable
from harness.backend import procs
from harness.record import run_record as record_mod
from harness.session import runner
from harness.case.loader import LoadErrors, load_cases
from harness.render.terminal import repro_command
from harness.backend.worker import Tail
from tests.faults import Flaky
from tests.hostile import install_plugins
from tests.planted import KernelNotFlipped, Planted
from tests.test_verdict_model import DOCUMENTED, Refuser

REPO = Path(__file__).resolve().parents[1]
RUN_ID = re.compile(r'<meta name="convgrad-run-id" content="([^"]+)">')


# --------------------------------------------------------------------- one set, always

def texts(run_id: str) -> dict[str, str]:
    return {outputs.RECORD: json.dumps({"run_id": run_id}),
            outputs.REPORT: f'<meta name="convgrad-run-id" content="{run_id}">',
            outputs.JUNIT: f'<property name="run_id" value="{run_id}"/>'}


def the_set(out: Path) -> str:
    """The run id the record and the report in ``out`` share (they must)."""
    record = json.loads((out / outputs.RECORD).read_text())["run_id"]
    report = RUN_ID.search((out / outputs.REPORT).read_text()).group(1)
    assert record == report, f"record of {record} beside the report of {report}"
    return record


class Killed(BaseException):
    """The process dies here (a BaseException: nothing in outputs.py catches it)."""


def kill_at(monkeypatch, step: int) -> list:
    """Make the ``step``-th file-system operation of a write the last one."""
    calls = []

    def wrap(module, name):
        real = getattr(module, name)

        def op(*args, **kwargs):
            calls.append(name)
            if len(calls) == step:
                raise Killed(name)
            return real(*args, **kwargs)
        monkeypatch.setattr(module, name, op)
    for name in ("replace", "symlink", "link", "mkdir", "rmdir", "unlink"):
        wrap(outputs.os, name)
    wrap(outputs, "write_text")
    wrap(outputs.shutil, "rmtree")
    wrap(outputs, "_fsync_dir")
    return calls


@pytest.mark.parametrize("legacy", [False, True], ids=["sets", "regular-files-of-old"])
def test_a_kill_at_any_step_of_writing_leaves_the_old_set_or_the_new(tmp_path, monkeypatch,
                                                                     legacy):
    steps, step = 0, 0
    while True:
        step += 1
        out = tmp_path / f"out{step}"
        out.mkdir()
        if legacy:   # an --out written by a convgrad before sets: plain files
            for name, text in texts("old").items():
                if name != outputs.JUNIT:
                    (out / name).write_text(text)
        else:
            with outputs.OutputSet(out) as place:
                place.write(texts("old"), "old")
        with monkeypatch.context() as m:
            calls = kill_at(m, step)
            try:
                with outputs.OutputSet(out, out / "junit.xml") as place:
                    place.write(texts("new"), "new")
                finished = True
            except Killed:
                finished = False
        assert the_set(out) in ({"old", "new"} if not finished else {"new"})
        with outputs.OutputSet(out, out / "junit.xml") as place:   # the next run recovers
            place.write(texts("next"), "next")
        assert the_set(out) == "next"
        assert [p.name for p in (out / outputs.STATE / "runs").iterdir()] == ["next"]
        assert not list(out.glob(".*.link-*"))
        if finished:
            steps = len(calls)
            break
    assert step == steps + 1 and steps >= 8


def test_a_report_written_over_the_sets_link_is_adopted_with_the_record_beside_it(tmp_path):
    out = tmp_path / "out"
    with outputs.OutputSet(out) as place:
        place.write(texts("old"), "old")
    outputs.write_file(out / outputs.REPORT, texts("old")[outputs.REPORT])  # convgrad report -o
    assert not (out / outputs.REPORT).is_symlink()
    with outputs.OutputSet(out) as place:
        place._adopt_regular_files()          # what a new run does first
        assert the_set(out) == "old" and (out / outputs.REPORT).is_symlink()
        place.write(texts("new"), "new")
    assert the_set(out) == "new"


def _plugins(tmp_path) -> dict:
    root = install_plugins(tmp_path / "plugins")
    return {**os.environ, "PYTHONPATH": f"{root}{os.pathsep}{REPO}", "OPENBLAS_NUM_THREADS": "1"}


def test_twenty_kills_at_random_points_of_a_run_never_mismatch_record_and_report(tmp_path):
    env, out = _plugins(tmp_path), tmp_path / "out"
    argv = [sys.executable, "-m", "harness.frontends.cli", "run", "cases/article", "--impl",
            "planted.correct", "--out", str(out)]
    first = subprocess.run(argv, cwd=REPO, env=env, capture_output=True, timeout=120)
    assert first.returncode == 1, first.stderr
    seen, rng = [the_set(out)], random.Random(12)
    start = time.monotonic()
    subprocess.run(argv, cwd=REPO, env=env, capture_output=True, timeout=120)
    whole = time.monotonic() - start       # how long a run takes here: kill within it
    for _ in range(20):
        proc = subprocess.Popen(argv, cwd=REPO, env=env, stdout=subprocess.DEVNULL,
                                stderr=subprocess.DEVNULL)
        time.sleep(rng.uniform(0.0, whole * 1.1))
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=60)
        seen.append(the_set(out))
    assert subprocess.run(argv, cwd=REPO, env=env, capture_output=True,
                          timeout=120).returncode == 1   # the lock died with the killed runs
    assert the_set(out) not in seen
    assert not [p for p in (out / outputs.STATE / "runs").iterdir() if p.name.startswith(".")]


def test_a_run_killed_outright_takes_its_workers_and_their_children_with_it(tmp_path):
    """SIGKILL leaves convgrad no chance to clean up: each worker notices its parent is
    gone and ends itself and everything it started."""
    env = {**_plugins(tmp_path), "HOSTILE_PIDS": str(tmp_path / "pids")}
    proc = subprocess.Popen([sys.executable, "-m", "harness.frontends.cli", "run", "cases/article",
                             "--impl", "hostile.forks_then_hangs", "--timeout", "100",
                             "--out", str(tmp_path / "out")], cwd=REPO, env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    pids = tmp_path / "pids"
    deadline = time.monotonic() + 60
    while (not pids.exists() or len(pids.read_text().split()) < 5) and \
            time.monotonic() < deadline:
        time.sleep(0.1)
    proc.kill()
    proc.wait()
    started = [int(p) for p in pids.read_text().split()]
    assert len(started) >= 5
    deadline = time.monotonic() + 10
    while any(procs.alive(p) for p in started) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert not [p for p in started if procs.alive(p)]


def test_a_full_disk_keeps_the_old_set_and_the_new_results_elsewhere(tmp_path, monkeypatch):
    out = tmp_path / "out"
    with outputs.OutputSet(out) as place:
        place.write(texts("old"), "old")
    real = outputs.write_text

    def full(path, text):   # the disk of --out is full; the temporary directory's is not
        if path.name == outputs.REPORT and out in path.parents:
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        real(path, text)
    monkeypatch.setattr(outputs, "write_text", full)
    with outputs.OutputSet(out) as place:
        with pytest.raises(outputs.OutputError) as caught:
            place.write({outputs.RECORD: "{}", outputs.REPORT: "r"}, "new")
    monkeypatch.undo()
    message = str(caught.value)
    assert f"could not write the outputs to {out}: No space left on device" in message
    assert the_set(out) == "old"
    assert [p.name for p in (out / outputs.STATE / "runs").iterdir()] == ["old"]
    kept = Path(re.search(r"they are kept in (\S+?)/ \(results\.json, index\.html\)",
                          message).group(1))
    assert (kept / outputs.RECORD).read_text() == "{}" and (kept / outputs.REPORT).read_text() == "r"


def test_a_run_whose_outputs_cannot_be_written_prints_its_summary_then_fails_cleanly(
        tmp_path, monkeypatch, capsys):
    def full(self, texts, run_id):
        raise outputs.OutputError("could not write the outputs to X: No space left on device; "
                                  "they are kept in /tmp/r/ (results.json, index.html)")
    monkeypatch.setattr(outputs.OutputSet, "write", full)
    assert cli.main(["run", "cases/article/1-valid-dx.yaml", "--in-process",
                     "--impl-module", "tests.planted:Planted", "--impl", "planted.correct",
                     "--out", str(tmp_path / "out")]) == 2
    out, err = capsys.readouterr()
    assert "article/valid-dx  pass" in out and "record:" not in out
    assert err == ("error: could not write the outputs to X: No space left on device; they "
                   "are kept in /tmp/r/ (results.json, index.html)\n")


def test_a_second_run_into_the_same_out_is_refused_while_the_first_holds_it(tmp_path):
    with outputs.OutputSet(tmp_path):
        with pytest.raises(outputs.OutputError, match=rf"is in use by another convgrad run "
                                                      rf"\(pid {os.getpid()}\)"):
            outputs.OutputSet(tmp_path)
    outputs.OutputSet(tmp_path).close()     # released with the first


def test_report_and_merge_never_replace_a_device(tmp_path, capsys):
    base = str(REPO / "tests/hostile/records/base.json")
    assert cli.main(["report", base, "-o", "/dev/null"]) == 2
    assert cli.main(["merge", base, "-o", "/dev/null"]) == 2
    assert os.path.exists("/dev/null") and not os.path.isfile("/dev/null")
    assert capsys.readouterr().err.count("is a character device") == 2


# --------------------------------------------------------------------- closed pipes

def test_list_into_a_closed_pipe_ends_quietly(tmp_path):
    env = _plugins(tmp_path)
    done = subprocess.run(["bash", "-o", "pipefail", "-c",
                           f"{sys.executable} -m harness.frontends.cli list cases/conformance --impl "
                           "planted.correct | head -1"],
                          cwd=REPO, env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("conformance/") and done.stderr == ""


def test_run_into_a_closed_stdout_writes_its_outputs_and_keeps_its_exit_status(tmp_path):
    env = _plugins(tmp_path)
    proc = subprocess.Popen([sys.executable, "-m", "harness.frontends.cli", "run", "cases/article",
                             "--impl", "planted.correct", "--out", str(tmp_path / "out")],
                            cwd=REPO, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    proc.stdout.close()
    err = proc.stderr.read().decode()
    assert proc.wait(timeout=120) == 1 and "Traceback" not in err and "Broken" not in err
    assert record_mod.read(tmp_path / "out" / "results.json")["run_id"] == the_set(
        tmp_path / "out")


def test_progress_survives_a_closed_stream_and_escapes_case_ids():
    class Tty(io.StringIO):
        def isatty(self):
            return True

    stream = Tty()
    progress = cli.Progress(2, stream)
    progress.start -= 10

    class Case:
        id = "a\x1b[2J\u202eb"
    progress(0, Case)
    assert "a\\x1b[2J\\u202eb" in stream.getvalue() and "\x1b[2J" not in stream.getvalue()
    stream.close()
    progress(1, Case)            # a closed stream silences progress, not the run
    progress.done()


# --------------------------------------------------------------------- limits

def test_the_cases_of_a_run_are_limited_in_total(monkeypatch):
    monkeypatch.setattr(loader, "MAX_RUN_CASES", 10)
    with pytest.raises(LoadErrors) as caught:
        load_cases(["cases/article", "cases/conformance/float64.yaml"])
    message = str(caught.value)
    assert "float64.yaml" in message and "the limit of one run" in message


def test_oracle_work_counts_every_evaluation_and_every_tap():
    [case] = load_cases(["cases/article/1-valid-dx.yaml"])
    taps = 2 * 2
    macs = 1 * 1 * 2 * 2 * 1 * taps            # output 2x2, 1 channel, 4 taps
    assert loader.oracle_work(case) == 2 * 1 * (macs + loader.TAP_COST * taps)


def test_oracle_work_counts_the_gemm_paths_multiply_adds_for_less():
    [case] = load_cases(["cases/gpu/tf32.yaml"])[:1]
    macs = 8 * 16 * 16 * 64 * 64 * case.canonical_filter_shape[2] * case.canonical_filter_shape[3]
    taps = case.canonical_filter_shape[2] * case.canonical_filter_shape[3]
    assert loader.oracle_work(case) == 2 * 3 * (macs // loader.GEMM_SPEEDUP
                                                + loader.TAP_COST * taps)


def test_the_largest_bundled_case_is_well_within_the_oracle_limit():
    work = max(loader.oracle_work(c) for c in load_cases(["cases"]))
    assert work < loader.MAX_ORACLE_WORK / 2


# --------------------------------------------------------------------- records

def test_records_convgrad_writes_are_valid_under_the_published_schema():
    session = runner.Session(runner.probe([Planted(), KernelNotFlipped(), Refuser(), Flaky()]),
                             limitations=[DOCUMENTED], repeat=2)
    results = session.judge(load_cases(["cases/article", "cases/conformance/half.yaml"])[:12])
    record = record_mod.build(results, session.impls, ["t"], datetime.now(timezone.utc))
    statuses = {v["status"] for v in record["verdicts"]}
    assert {"pass", "fail", "unsupported", "error", "nondeterministic"} <= statuses
    parsed = record_mod.parse(record_mod.dumps(record).encode(), "r.json")
    assert parsed["run_id"] == record["run_id"]


def test_the_schema_names_exactly_the_statuses_convgrad_has():
    defs = record_mod.schema()["$defs"]
    assert defs["status"]["enum"] == list(runner.STATUSES)
    assert defs["claim_status"]["enum"] == list(runner.CLAIM_STATUSES)


def test_docs_record_md_points_at_the_schema():
    text = (REPO / "docs/record.md").read_text()
    assert "harness/data/record.schema.json" in text


def test_nan_tokens_read_are_written_again(tmp_path):
    text = (REPO / "tests/hostile/records/nan-tokens.json").read_bytes()
    record = record_mod.parse(text, "n.json")
    again = record_mod.parse(record_mod.dumps(record).encode(), "again.json")
    assert again == record


# --------------------------------------------------------------------- workers

def test_a_worker_stderr_costs_the_parent_only_its_tail():
    read, write = os.pipe()
    with os.fdopen(read, "rb", buffering=0) as stream:
        tail = Tail(stream, size=1 << 12)
        chunk = b"x" * 4095 + b"\n"
        for _ in range(2_500):     # 10 MB
            os.write(write, chunk)
        deadline = time.monotonic() + 10
        while tail.total < 2_500 * 4096 and time.monotonic() < deadline:
            time.sleep(0.01)
        mark = tail.total
        os.write(write, b"the end\n")
        os.close(write)
        tail.finish(5)
        assert tail.total == 2_500 * 4096 + 8 and len(tail.buffer) <= 1 << 12
        assert tail.since(mark) == b"the end\n"
        assert tail.since(0).endswith(b"the end\n") and len(tail.since(0)) == 1 << 12


# --------------------------------------------------------------------- terminal and shell

@pytest.mark.parametrize("case_id", ["t/same", "x';touch /tmp/convgrad-pwned;'", "a$(id)`id`b",
                                     "-k", "a\\'b", "*?[x]"])
def test_the_reproduce_command_is_shell_quoted(case_id):
    command = repro_command({"case": case_id, "impl": "tf.tape[onednn=off]"}, "cases/a b.yaml")
    assert shlex.split(command) == ["convgrad", "run", "cases/a b.yaml", "-k", case_id,
                                    "--impl", "tf.tape[onednn=off]"]


def test_printable_escapes_controls_and_bidi_and_keeps_text():
    assert printable.line("a\x1b[31m\x07\x00\u202e\u2066b\nc") == \
        "a\\x1b[31m\\x07\\x00\\u202e\\u2066b\\nc"
    assert printable.block("卷积\tx\ny") == "卷积\\tx\ny"
    assert printable.excerpt("x" * 100, 10) == "xxxxxxx..."
