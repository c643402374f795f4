"""The one writer of files a user names (harness.safeio.outputs.write_output, issue 23):
checked before it writes, atomic, never through a link; ``report -o``'s page folder
refuses a planted link; report page names stay distinct on case-insensitive disks.

Each test is one way a hostile or unlucky place broke a tool before this writer: a
directory, a device, a file as parent, a name too long, a link to a file outside, a
write that fails half-way. No framework is needed.
"""
from __future__ import annotations

import os
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from harness.render.report import case_slugs
from harness.safeio import outputs

REPO = Path(__file__).resolve().parents[1]


def _snapshot(path: Path) -> tuple:
    st = os.lstat(path)
    return path.read_bytes(), stat.S_IMODE(st.st_mode), st.st_mtime_ns


def test_writes_a_new_file_and_replaces_an_old_one(tmp_path):
    target = tmp_path / "sub" / "out.txt"
    assert outputs.write_output(target, "one\n") == target
    outputs.write_output(target, "two\n")
    assert target.read_text() == "two\n"
    assert sorted(p.name for p in target.parent.iterdir()) == ["out.txt"]   # no temp left


def test_executable_is_set_on_the_new_file(tmp_path):
    target = tmp_path / "repro.py"
    outputs.write_output(target, "print(1)\n", executable=True)
    assert os.stat(target).st_mode & stat.S_IXUSR


@pytest.mark.parametrize("make, expected", [
    (lambda t: (t / "d").mkdir() or t / "d", "is a directory"),
    (lambda t: Path("/dev/full"), "character device"),
    (lambda t: [(t / "f").write_text("x"), t / "f" / "out.txt"][1], "its folder"),
    (lambda t: t / ("n" * 256), "too long"),
    (lambda t: t / ("n" * 230), "file name is 230 bytes"),
    (lambda t: t / ".", "is a directory"),
], ids=["directory", "dev-full", "file-as-parent", "name-256", "name-230", "dot"])
def test_refused_places_are_one_line_errors(tmp_path, make, expected):
    place = make(tmp_path)
    with pytest.raises(outputs.OutputError) as err:
        outputs.write_output(place, "x")
    assert expected in str(err.value) and "\n" not in str(err.value)


def test_a_link_at_the_path_is_refused_and_its_target_untouched(tmp_path):
    outside = tmp_path / "outside"
    outside.mkdir()
    sentinel = outside / "sentinel.sh"
    sentinel.write_text("keep me\n")
    os.chmod(sentinel, 0o644)
    before = _snapshot(sentinel)
    link = tmp_path / "repro.py"
    link.symlink_to(sentinel)
    with pytest.raises(outputs.OutputError, match="symbolic link"):
        outputs.write_output(link, "import os\n", executable=True)
    assert _snapshot(sentinel) == before and link.is_symlink()
    dangling = tmp_path / "dangling.py"
    dangling.symlink_to(outside / "created-by-convgrad")
    with pytest.raises(outputs.OutputError, match="symbolic link"):
        outputs.write_output(dangling, "x")
    assert not (outside / "created-by-convgrad").exists()


def test_a_link_planted_between_check_and_write_is_replaced_not_followed(tmp_path):
    """The rename at the end replaces whatever is at the path, a link included: what a
    race can plant is never written through."""
    sentinel = tmp_path / "sentinel"
    sentinel.write_text("keep me\n")
    target = tmp_path / "out.txt"
    checked = outputs.check_file(target)
    target.symlink_to(sentinel)
    with pytest.raises(outputs.OutputError):   # write_file looks again, just before
        outputs.write_file(checked, "new")
    assert sentinel.read_text() == "keep me\n"


def test_convgrads_own_fixed_link_is_replaced_not_followed(tmp_path):
    out = tmp_path / "out"
    (out / ".convgrad" / "current").mkdir(parents=True)
    kept = out / ".convgrad" / "current" / "results.json"
    kept.write_text("{}\n")
    (out / "results.json").symlink_to(".convgrad/current/results.json")
    outputs.write_output(out / "results.json", "merged\n")
    assert not (out / "results.json").is_symlink()
    assert (out / "results.json").read_text() == "merged\n" and kept.read_text() == "{}\n"


FAILING_WRITE = """
import resource, signal, sys
from harness.safeio import outputs
signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
resource.setrlimit(resource.RLIMIT_FSIZE, (1000, 1000))
try:
    outputs.write_output(sys.argv[1], "y" * 100_000)
except outputs.OutputError as exc:
    print(exc)
    sys.exit(2)
"""


def test_a_write_that_fails_half_way_leaves_the_old_file_whole(tmp_path):
    """A file larger than the process may write (RLIMIT_FSIZE: what a full disk does to
    a write): the old file keeps every byte and no temp file stays."""
    target = tmp_path / "case.yaml"
    target.write_text("old content\n")
    done = subprocess.run([sys.executable, "-c", FAILING_WRITE, str(target)], cwd=REPO,
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 2, done.stderr
    assert "could not write" in done.stdout and "nothing was changed" in done.stdout
    assert target.read_text() == "old content\n"
    assert [p.name for p in tmp_path.iterdir()] == ["case.yaml"]


def _cli(*argv: str, cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "harness.frontends.cli", *argv], cwd=cwd,
                          capture_output=True, text=True, timeout=120,
                          env={**os.environ, "PYTHONPATH": str(REPO)})


def _record(tmp_path: Path) -> Path:
    record = REPO / "tests" / "hostile" / "records" / "base.json"
    assert record.is_file()
    return record


def test_report_refuses_a_planted_pages_link_and_deletes_nothing(tmp_path):
    victim = tmp_path / "victim"
    token_dir = victim / "20260101T000000-abcdef"
    token_dir.mkdir(parents=True)
    (token_dir / "precious.txt").write_text("data\n")
    (tmp_path / "X-pages").symlink_to(victim)
    done = _cli("report", str(_record(tmp_path)), "-o", str(tmp_path / "X.html"),
                cwd=tmp_path)
    assert done.returncode == 2, done.stderr
    assert done.stderr.startswith("error: ") and "symbolic link" in done.stderr
    assert "Traceback" not in done.stderr
    assert (token_dir / "precious.txt").read_text() == "data\n"
    assert not (tmp_path / "X.html").exists()


def test_merge_refuses_a_link_at_its_output(tmp_path):
    sentinel = tmp_path / "sentinel.json"
    sentinel.write_text("keep\n")
    (tmp_path / "merged.json").symlink_to(sentinel)
    done = _cli("merge", str(_record(tmp_path)), "-o", str(tmp_path / "merged.json"),
                cwd=tmp_path)
    assert done.returncode == 2 and "symbolic link" in done.stderr, done.stderr
    assert sentinel.read_text() == "keep\n"


def test_case_pages_differing_only_in_case_get_distinct_names():
    slugs = case_slugs(["Conv/A", "conv/a", "CONV/A", "other"])
    assert len({s.lower() for s in slugs.values()}) == 4
    assert slugs["Conv/A"] == "Conv-A" and slugs["other"] == "other"
