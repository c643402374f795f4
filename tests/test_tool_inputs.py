"""The tools against hostile input (issue 23): run records and the ``values.npz`` beside
them, the case files a record names, its ``environment.run``, messages and ids that hold
NUL, ESC, lone surrogates or line breaks, output places that are directories, links or
paths through a file, and numbers out of every bound; for ``convgrad diff``, ``repro``,
``shrink`` and ``fuzz``.

Each ends the way the docs promise: a one-line ``error: ...`` and exit 2, or the work
done with what is usable (``diff`` without refused values, one warning line), never a
traceback, never a raw control character on the terminal, never a file written through a
link, never a generated script or case file that does not load. No framework is needed
(scripts are rendered and compiled, not run), except where marked.
"""
from __future__ import annotations

import ast
import copy
import io
import json
import os
import re
import shutil
import stat
import struct
import zipfile
import zlib
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings, strategies as st

from harness.case.loader import load_cases
from harness.case.values import materialize
from harness.frontends import cli
from harness.record import run_record as record_mod
from harness.safeio import argtypes, printable
from harness.session import runner
from harness.tools.repro import fuzz, script
from harness.tools.repro.target import split_impl
from harness.tools.repro.templates import NoTemplate
from harness.verdict.expected import expected

REPO = Path(__file__).resolve().parents[1]
ARTICLE_DX = REPO / "cases" / "article" / "1-valid-dx.yaml"
SAME_DX = REPO / "cases" / "article" / "3-same-dx.yaml"   # planted.pad_before fails it
SECRET = "s3cr3t-tool-inputs-9b1e"
RAW_CONTROL = re.compile("[\x00-\x08\x0b-\x1f\x7f\x85\u2028\u2029\u202a-\u202e\u2066-\u2069"
                         "\ud800-\udfff]")
HOSTILE_MESSAGE = ("RuntimeError: boom \x1b[2J\x1b]0;pwned\x07 nul\x00 lone\ud800 "
                   "sep\u2028 nel\x85 cr\r\n# newline: import os; os.system('x')\n"
                   "\"\"\" ''' \\ \\x00 \\N{BEL} {braces} %s")


def _clean(text: str) -> bool:
    """No raw control, bidi or surrogate character (newlines between lines allowed)."""
    return not RAW_CONTROL.search(text.replace("\n", ""))


def _one_error(err: str) -> str:
    lines = [line for line in err.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("error: "), err
    assert "Traceback" not in err and _clean(err)
    return lines[0]


# ------------------------------------------------------------------ a run to forge from

@pytest.fixture(scope="module")
def run_dir(tmp_path_factory) -> Path:
    """``convgrad run`` of article example 1 (a case file of its own tree) with
    planted.correct, in-process: ``tree/cases/dx.yaml``, ``tree/out/results.json`` and
    ``values.npz``."""
    tree = tmp_path_factory.mktemp("tree")
    (tree / "cases").mkdir()
    shutil.copy(ARTICLE_DX, tree / "cases" / "dx.yaml")
    port = tree / "tool_inputs_port.py"
    port.write_text("from tests.planted import Planted\nIMPLS = [Planted()]\n")
    assert cli.main(["run", str(tree / "cases" / "dx.yaml"), "--impl-module", str(port),
                     "--impl", "planted.correct", "--in-process", "--out",
                     str(tree / "out")]) == 0
    return tree


def _record(run_dir: Path) -> dict:
    return json.loads((run_dir / "out" / "results.json").read_text())


def _forge(folder: Path, record: dict, values: bytes | None = None) -> Path:
    """``record`` as ``folder/results.json`` (and ``values`` as ``values.npz`` beside it)."""
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "results.json"
    path.write_text(json.dumps(record))
    if values is not None:
        (folder / "values.npz").write_bytes(values)
    return path


def _as_torch(record: dict, case_file: str | None = None, case_id: str | None = None) -> dict:
    """The record with its verdict by torch.autograd (an impl with a script template) and,
    optionally, its case file and id replaced."""
    record = copy.deepcopy(record)
    for v in record["verdicts"]:
        v["impl"] = "torch.autograd"
    for i in record["impls"]:
        i["name"], i["framework"] = "torch.autograd", "torch"
    for c in record["cases"]:
        if case_file is not None:
            c["file"] = case_file
    if case_id is not None:
        for entry in record["cases"]:
            entry["id"] = case_id
        for entry in record["verdicts"] + record["claims"]:
            entry["case"] = case_id
    return record


def _in_tree(run_dir: Path, tmp_path: Path, record: dict) -> Path:
    """``record`` (its case file: ``cases/dx.yaml``) forged into a case tree of its own:
    ``tmp_path/cases/dx.yaml`` and ``tmp_path/out/results.json``."""
    if not (tmp_path / "cases").exists():
        shutil.copytree(run_dir / "cases", tmp_path / "cases")
    for c in record["cases"]:
        c["file"] = "cases/dx.yaml"
    return _forge(tmp_path / "out", record)


def _repro(record: Path, out: Path, *extra: str, case: str = "article/valid-dx") -> list[str]:
    return ["repro", str(record), "--case", case, "--impl", "torch.autograd", "-o", str(out),
            *extra]


# ------------------------------------------------------------------ 1. values.npz

def _npy(array: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    np.lib.format.write_array(buffer, array, allow_pickle=True)
    return buffer.getvalue()


def _npz(members: dict[str, bytes], method=zipfile.ZIP_DEFLATED) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=method) as zf:
        for name, data in members.items():
            zf.writestr(name, data)
    return buffer.getvalue()


def _run_id_npy(record: dict) -> bytes:
    return _npy(np.array(record["run_id"]))


def _header_claiming(shape: tuple, data: bytes = b"\0" * 72) -> bytes:
    """An .npy whose header claims ``shape`` of float64, followed by ``data``."""
    buffer = io.BytesIO()
    np.lib.format.write_array_header_1_0(buffer, {"descr": "<f8", "fortran_order": False,
                                                  "shape": shape})
    return buffer.getvalue() + data


def _lying_bomb(record: dict) -> bytes:
    """A member whose entry declares the 200 bytes of a 3x3 float64 .npy (and their CRC),
    its deflated data 64 MB of other bytes."""
    npy = _header_claiming((1, 3, 3, 1), b"")
    compressor = zlib.compressobj(9, zlib.DEFLATED, -15)
    body = compressor.compress(npy)
    ones = b"\1" * (1 << 20)
    for _ in range(64):
        body += compressor.compress(ones)
    body += compressor.flush()
    data = _npz({"run_id.npy": _run_id_npy(record), "v0.npy": npy + b"\0" * 72})
    # swap v0's deflated data for the bomb, keeping its declared sizes (patched below)
    zf = zipfile.ZipFile(io.BytesIO(data))
    info = zf.getinfo("v0.npy")
    start = info.header_offset
    name_len, extra_len = struct.unpack("<HH", data[start + 26:start + 30])
    begin = start + 30 + name_len + extra_len
    end = begin + info.compress_size
    out = bytearray(data[:begin] + body + data[end:])
    struct.pack_into("<L", out, start + 18, len(body))           # local: compressed size
    shift = len(body) - info.compress_size
    central = bytes(out).rfind(b"PK\x01\x02")                   # v0's entry is the last
    struct.pack_into("<L", out, central + 20, len(body))          # central: compressed size
    eocd = bytes(out).rfind(b"PK\x05\x06")
    offset = struct.unpack_from("<L", out, eocd + 16)[0]
    struct.pack_into("<L", out, eocd + 16, offset + shift)        # the directory moved
    return bytes(out)


def _values_cases(record: dict) -> dict[str, bytes]:
    run_id = _run_id_npy(record)
    many = {"run_id.npy": run_id, **{f"v{i}.npy": _npy(np.zeros(9)) for i in range(3000)}}
    object_array = np.empty(9, dtype=object)
    object_array[:] = [[1]] * 9
    honest_bomb = io.BytesIO()
    with zipfile.ZipFile(honest_bomb, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("run_id.npy", run_id)
        with zf.open("v0.npy", "w", force_zip64=True) as member:
            member.write(_header_claiming((1 << 23,), b""))
            for _ in range(64):
                member.write(b"\0" * (1 << 20))
    return {
        "a string array": _npz({"run_id.npy": run_id, "v0.npy": _npy(np.array(["a"] * 9))}),
        "an object array": _npz({"run_id.npy": run_id, "v0.npy": _npy(object_array)}),
        "a plain .npy renamed": _npy(np.zeros((1, 3, 3, 1))),
        "not a zip at all": b"PK\x03\x04" + os.urandom(64),
        "a header claiming 10^12 elements": _npz({"run_id.npy": run_id,
                                                  "v0.npy": _header_claiming((10 ** 12,))}),
        "a header and data that disagree": _npz({"run_id.npy": run_id,
                                                 "v0.npy": _header_claiming((5,))}),
        "a zip bomb": honest_bomb.getvalue(),
        "a zip bomb that lies about its size": _lying_bomb(record),
        "3000 members": _npz(many, zipfile.ZIP_STORED),
        "a member of another name": _npz({"run_id.npy": run_id, "../evil.npy": _npy(np.zeros(9))}),
        "a member twice": _twice(run_id),
        "a big-endian member": _npz({"run_id.npy": run_id, "v0.npy": _npy(
            np.zeros((1, 3, 3, 1), dtype=">f8"))}),
        "a structured dtype": _npz({"run_id.npy": run_id, "v0.npy": _npy(
            np.zeros(9, dtype=[("a", "<f8")]))}),
        "an .npy of format 3.0": _npz({"run_id.npy": run_id, "v0.npy": _format3()}),
        "a run id of numbers": _npz({"run_id.npy": _npy(np.zeros(3)),
                                     "v0.npy": _npy(np.zeros(9))}),
    }


def _twice(run_id: bytes) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as zf:
        zf.writestr("run_id.npy", run_id)
        zf.writestr("v0.npy", _npy(np.zeros((1, 3, 3, 1))))
        with pytest.warns(UserWarning):
            zf.writestr("v0.npy", _npy(np.ones((1, 3, 3, 1))))
    return buffer.getvalue()


def _format3() -> bytes:
    body = _npy(np.zeros((1, 3, 3, 1)))
    return body[:6] + b"\x03\x00" + body[8:]


def test_a_good_values_file_is_read_and_compared(run_dir):
    record = _record(run_dir)
    values = record_mod.read_values(run_dir / "out" / "results.json")
    assert set(values) == {v["values_key"] for v in record["verdicts"] + record["claims"]
                           if "values_key" in v}
    assert all(a.dtype in (np.float32, np.float64) for a in values.values())


@pytest.mark.parametrize("what", ["a string array", "an object array", "a plain .npy renamed",
                                  "not a zip at all", "a header claiming 10^12 elements",
                                  "a header and data that disagree", "a zip bomb",
                                  "a zip bomb that lies about its size", "3000 members",
                                  "a member of another name", "a member twice",
                                  "a big-endian member", "a structured dtype",
                                  "an .npy of format 3.0", "a run id of numbers"])
def test_a_hostile_values_file_costs_its_values_not_the_diff(run_dir, tmp_path, capsys, what):
    """diff goes on without the refused values: exit as the statuses say, one escaped
    warning line naming the file and why; no traceback, no unbounded allocation."""
    record = _record(run_dir)
    data = _values_cases(record)[what]
    old = _forge(tmp_path / "old", record)
    new = _forge(tmp_path / "new\x1b[31m", record, data)
    capsys.readouterr()
    assert cli.main(["diff", str(old), str(new)]) == 0
    out, err = capsys.readouterr()
    warnings = [line for line in err.splitlines() if line.strip()]
    assert len(warnings) == 1 and warnings[0].startswith("warning: "), err
    assert "values.npz: not used: " in warnings[0] and "\\x1b[31m" in warnings[0]
    assert _clean(err) and _clean(out) and "0 changes" in out
    assert record_mod.read_values(new) == {}


def test_values_of_another_run_are_left_out_silently(run_dir, tmp_path, capsys):
    record = _record(run_dir)
    other = dict(record, run_id="20200101T000000-abcdef")
    shutil.copy(run_dir / "out" / "values.npz", _forge(tmp_path / "a", other).parent)
    assert record_mod.read_values(tmp_path / "a" / "results.json") == {}
    assert cli.main(["diff", str(tmp_path / "a" / "results.json"),
                     str(run_dir / "out" / "results.json")]) == 0
    assert capsys.readouterr().err == ""


@pytest.mark.parametrize("kind", ["fifo", "directory", "dangling link"])
def test_a_values_file_that_is_no_file_is_refused_by_its_type(run_dir, tmp_path, capsys, kind):
    record = _record(run_dir)
    new = _forge(tmp_path / "new", record)
    place = tmp_path / "new" / "values.npz"
    {"fifo": os.mkfifo, "directory": os.mkdir,
     "dangling link": lambda p: os.symlink(tmp_path / "nowhere", p)}[kind](place)
    assert cli.main(["diff", str(new), str(new)]) == 0
    err = capsys.readouterr().err
    assert err.count("warning: ") == 2 and "not used" in err   # the same file, twice


# ------------------------------------------------------------------ 2. a record's case file

def _secret_outside(tmp_path: Path) -> Path:
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    secret = elsewhere / "secret.yaml"
    secret.write_text(f"id: {SECRET}\n")   # loading it would show its id
    (elsewhere / "secret.txt").write_text(f"{SECRET}\n")
    return secret


@pytest.mark.parametrize("name", ["/etc/passwd", "../../elsewhere/secret.yaml",
                                  "{secret}", "cases/link.yaml", "cases/notes.txt",
                                  "../../../../../../../../etc/passwd", "cases/../../x.yaml",
                                  "cases\x00.yaml", "", "cases"])
def test_a_records_case_file_is_confined_to_the_case_tree(run_dir, tmp_path, capsys, name):
    secret = _secret_outside(tmp_path)
    tree = tmp_path / "run"
    shutil.copytree(run_dir / "cases", tree / "cases")
    (tree / "cases" / "link.yaml").symlink_to(secret)
    (tree / "cases" / "notes.txt").write_text(f"{SECRET}\n")
    record = _as_torch(_record(run_dir), name.format(secret=secret))
    path = _forge(tree / "out", record)
    out = tmp_path / "repro.py"
    capsys.readouterr()
    assert cli.main(_repro(path, out)) == 2
    captured = capsys.readouterr()
    line = _one_error(captured.err)
    assert SECRET not in captured.out + captured.err and "root:" not in line
    assert "give the case file instead of the record" in line
    assert not out.exists()


@pytest.mark.parametrize("where", ["the record's parent", "the bundled suites",
                                   "the record's folder"])
def test_a_case_file_inside_the_tree_is_reproduced(run_dir, tmp_path, capsys, where):
    tree = tmp_path / "run"
    shutil.copytree(run_dir / "cases", tree / "cases")
    name = {"the record's parent": "cases/dx.yaml", "the bundled suites": str(ARTICLE_DX),
            "the record's folder": "dx.yaml"}[where]
    if where == "the record's folder":
        (tree / "out").mkdir()
        shutil.copy(ARTICLE_DX, tree / "out" / "dx.yaml")
    path = _forge(tree / "out", _as_torch(_record(run_dir), name))
    out = tmp_path / "repro.py"
    assert cli.main(_repro(path, out)) == 0, capsys.readouterr().err
    compile(out.read_text(), str(out), "exec")


# ------------------------------------------------------------------ 3. environment.run

@pytest.mark.parametrize("field,value", [
    ("repeat", -3), ("repeat", 0), ("repeat", 10 ** 15), ("repeat", "3"), ("repeat", True),
    ("repeat", 2.5), ("isolation", "bogus\x1b[31m"), ("isolation", 3),
    ("threads_per_worker", -1), ("threads_per_worker", 10 ** 9), ("threads_per_worker", "8"),
    ("threads_per_worker", 1.5)])
def test_environment_run_values_are_checked_before_they_reach_a_script(run_dir, tmp_path,
                                                                       capsys, field, value):
    record = _as_torch(_record(run_dir))
    record["environment"]["run"].update(isolation="workers", threads_per_worker=2)
    record["environment"]["run"][field] = value
    path = _in_tree(run_dir, tmp_path, record)
    out = tmp_path / "repro.py"
    assert cli.main(_repro(path, out)) == 2
    line = _one_error(capsys.readouterr().err)
    assert f"environment.run.{field}" in line and str(path) in line
    assert not out.exists()


def test_a_valid_environment_run_reaches_the_script(run_dir, tmp_path):
    record = _as_torch(_record(run_dir))
    record["environment"]["run"].update(repeat=3, isolation="workers", threads_per_worker=2)
    out = tmp_path / "repro.py"
    assert cli.main(_repro(_in_tree(run_dir, tmp_path, record), out)) == 0
    assert "RUNS = 3 " in out.read_text()


# ------------------------------------------------------------------ 4. data becomes code by repr

HOSTILE = st.lists(st.sampled_from(["\x00", "\ud800", "\udfff", "\r", "\n", "\x1b", "\x85",
                                    "\u2028", "\u2029", "\u202e", '"', "'", '"""', "'''",
                                    "\\", "\\x00", "\\N{", "{", "}", "#", "a", " ", "\t",
                                    "\x07", "\x0c", "\ufeff", "é", "%s"]),
                   max_size=20).map("".join)
IMPLS = ["tf.backprop", "tf.tape[onednn=off]", "torch.nn_grad",
         "torch.autograd[memory=nhwc_view]", "torch.autograd[memory=channels_last,threads=2]",
         "jax.vjp[x64=off]"]
STATUSES = ["error", "fail", "nondeterministic", "pass", "unsupported"]


@pytest.fixture(scope="module")
def article_case():
    (case,) = load_cases([ARTICLE_DX])
    return case, materialize(case)


def _target(case, inputs, impl: str, status: str, text: str, kind: str = "") -> script.Target:
    base, settings = split_impl(impl)
    return script.Target(
        case=replace(case, id=f"article/{text}" if text else case.id, source=text,
                     description=text),
        inputs=inputs, expected=expected(case, inputs)["dx"], impl=impl, base=base,
        settings=settings, grad="dx", status=status, kind=kind, message=f"{text}\n{text}",
        exception=text, runs=2, worker_env={"OMP_NUM_THREADS": "1"},
        origin=f"recorded in {text}", command=f"convgrad repro {text}",
        platform={"version": text, "cpu": {"class": text}, "onednn": text, "gpus": [text],
                  "error": text})


def _shape(text: str) -> list[str]:
    return [type(node).__name__ for node in ast.walk(ast.parse(text))]


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(text=HOSTILE, impl=st.sampled_from(IMPLS), status=st.sampled_from(STATUSES),
       crash=st.booleans())
def test_every_generated_script_compiles_whatever_the_record_held(article_case, text, impl,
                                                                  status, crash):
    """NUL, lone surrogates, line breaks, ESC, quotes and backslashes in a message, an id,
    an origin, a command or a probed platform: the script compiles, is valid UTF-8, holds no
    raw control character, and has the very statements of a benign one (data only in
    string literals and comments)."""
    case, inputs = article_case
    kind = (lambda t: f"crash:{t}" if crash and status == "error" else f"exception:{t}")
    hostile = script.render(_target(case, inputs, impl, status, text, kind(text)))
    benign = script.render(_target(case, inputs, impl, status, "", kind("")))
    compile(hostile, "<repro>", "exec")
    hostile.encode("utf-8")                     # strict: no lone surrogate
    assert _clean(hostile)
    assert _shape(hostile) == _shape(benign)


@pytest.mark.parametrize("settings_", [{"threads": "2\nimport os"}, {"threads": "abc"},
                                       {"threads": "99999999"}, {"onednn": "off\nprint(1)"},
                                       {"bogus": "1"}, {"cpu": "avx512\x1b"}])
def test_settings_that_no_impl_declares_never_reach_a_script(article_case, settings_):
    case, inputs = article_case
    t = _target(case, inputs, "tf.backprop", "fail", "")
    with pytest.raises(NoTemplate, match="is not one tf.backprop declares"):
        script.render(replace(t, settings=settings_))
    with pytest.raises(NoTemplate, match="evaluations"):
        script.render(replace(t, runs=-3))
    with pytest.raises(NoTemplate, match="not printable ASCII"):
        script.render(replace(t, worker_env={"OMP_NUM_THREADS": "1\x00\ud800"}))


STUB_TORCH = {"torch/__init__.py": "__version__ = '0.stub'\n", "torch/nn/__init__.py": "",
              "torch/nn/functional.py": ""}


@pytest.mark.parametrize("status,exception", [("error", HOSTILE_MESSAGE.split("\n")[0]),
                                              ("nondeterministic", "")])
def test_a_script_prints_what_the_record_held_escaped(article_case, tmp_path, status,
                                                      exception):
    """The script itself prints the recorded case id, kind and exception: escaped, on a
    strict UTF-8 stdout (a lone surrogate printed raw was a UnicodeEncodeError: exit 1,
    "reproduced"). A stub torch makes compute() raise: the script reports it and exits 0
    (not the recorded exception), 2 at worst, never 1."""
    import subprocess   # a test of a real process: only here
    import sys

    case, inputs = article_case
    for name, text in STUB_TORCH.items():
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_text(text)
    t = replace(_target(case, inputs, "torch.autograd", status, HOSTILE_MESSAGE,
                        f"exception:{exception}"), exception=exception)
    path = tmp_path / "repro.py"
    path.write_text(script.render(t))
    done = subprocess.run([sys.executable, str(path)], cwd=tmp_path, capture_output=True,
                          env={**os.environ, "PYTHONPATH": str(tmp_path),
                               "PYTHONIOENCODING": "utf-8:strict"}, timeout=120)
    out = done.stdout.decode("utf-8")
    assert done.returncode == 0, (out, done.stderr.decode(errors="replace")[-2000:])
    assert _clean(out) and "NOT REPRODUCED" in out and "\\x1b" in out


# ------------------------------------------------------------------ 5. the terminal, YAML written

HOSTILE_PORT = f'''\
from tests.planted import Planted


class Hostile(Planted):
    name = "planted.hostile"

    def compute(self, case, inputs, grads):
        raise RuntimeError({HOSTILE_MESSAGE!r})


IMPLS = [Hostile()]
'''


@pytest.fixture(scope="module")
def hostile_port(tmp_path_factory) -> Path:
    """One file for the module: an ``--impl-module`` name is bound to one path per process."""
    path = tmp_path_factory.mktemp("port") / "tool_inputs_hostile.py"
    path.write_text(HOSTILE_PORT)
    return path


def test_repro_prints_a_hostile_case_id_escaped(run_dir, tmp_path, capsys):
    case_id = "article/\x1b]0;pwned\x07red\x1b[31m"
    tree = tmp_path / "run"
    (tree / "cases").mkdir(parents=True)
    text = ARTICLE_DX.read_text().replace("id: article/valid-dx",
                                          'id: "article/\\e]0;pwned\\ared\\e[31m"')
    (tree / "cases" / "dx.yaml").write_text(text)
    record = _as_torch(_record(run_dir), "cases/dx.yaml", case_id)
    out = tmp_path / "repro.py"
    capsys.readouterr()
    assert cli.main(_repro(_forge(tree / "out", record), out, case=case_id)) == 0
    captured = capsys.readouterr()
    assert _clean(captured.out) and "\\x1b]0;pwned" in captured.out
    compile(out.read_text(), str(out), "exec")


def test_shrink_prints_escaped_and_writes_yaml_convgrad_loads(hostile_port, tmp_path, capsys):
    out = tmp_path / "shrunk.yaml"
    assert cli.main(["shrink", str(ARTICLE_DX), "--impl-module", str(hostile_port),
                     "--impl", "planted.hostile", "--in-process", "--time", "5",
                     "-o", str(out)]) == 0
    captured = capsys.readouterr()
    assert _clean(captured.out + captured.err) and "boom \\x1b[" in captured.out
    (case,) = load_cases([out])
    assert case.id == "article/valid-dx-shrunk"
    text = out.read_text()
    assert all(line.startswith("#") for line in text.split("\nid:")[0].splitlines())


def test_fuzz_prints_escaped_and_writes_files_convgrad_loads(hostile_port, tmp_path, capsys):
    from tests.planted import Planted   # the hostile port's base, for an impl object

    class Hostile(Planted):
        name = "planted.hostile"

        def compute(self, case, inputs, grads):
            raise RuntimeError(HOSTILE_MESSAGE)

    stream = io.StringIO()
    options = fuzz.Options(seconds=60, seed=3, out=tmp_path / "out", max_cases=2,
                           shrink_seconds=3)
    report = fuzz.fuzz([Hostile()], options, backend=runner.InProcess(), stream=stream)
    assert report.findings
    printed = stream.getvalue() + capsys.readouterr().out
    assert _clean(printed) and "boom \\x1b[" in printed
    found = json.loads((tmp_path / "out" / "findings.json").read_text())
    for f in found:
        load_cases([f["case_file"]])
        load_cases([f["original_file"]])
        assert Path(f["script"]).read_text().startswith("# no standalone script")


# ------------------------------------------------------------------ 6. output places

def _planted_link(tmp_path: Path) -> tuple[Path, Path]:
    target = tmp_path / "victim.txt"
    target.write_text("keep me\n")
    target.chmod(0o644)
    link = tmp_path / "link.py"
    link.symlink_to(target)
    return link, target


def _places(tmp_path: Path) -> dict[str, Path]:
    (tmp_path / "a-file").write_text("x")
    (tmp_path / "a-dir").mkdir()
    return {"a directory": tmp_path / "a-dir", "a path through a file": tmp_path / "a-file" / "x",
            "a 250-byte name": tmp_path / ("n" * 250), "a device": Path("/dev/null")}


@pytest.mark.parametrize("place", ["a directory", "a path through a file", "a 250-byte name",
                                   "a device", "a link"])
def test_repro_refuses_a_bad_output_place_in_one_line(run_dir, tmp_path, capsys, place):
    record = _in_tree(run_dir, tmp_path, _as_torch(_record(run_dir)))
    link, target = _planted_link(tmp_path)
    out = link if place == "a link" else _places(tmp_path)[place]
    capsys.readouterr()
    assert cli.main(_repro(record, out)) == 2
    assert f"-o {out}" in _one_error(capsys.readouterr().err)
    assert target.read_text() == "keep me\n" and stat.S_IMODE(target.stat().st_mode) == 0o644


def test_repro_replaces_a_file_atomically_and_makes_it_executable(run_dir, tmp_path):
    record = _in_tree(run_dir, tmp_path, _as_torch(_record(run_dir)))
    out = tmp_path / "repro.py"
    out.write_text("old\n")
    assert cli.main(_repro(record, out)) == 0
    assert out.read_text().startswith("#!") and os.access(out, os.X_OK)
    assert not list(tmp_path.glob(".convgrad-*"))


@pytest.mark.parametrize("flag", ["-o", "--script"])
@pytest.mark.parametrize("place", ["a directory", "a path through a file", "a link"])
def test_shrink_checks_its_output_places_before_shrinking(tmp_path, capsys, flag, place):
    link, target = _planted_link(tmp_path)
    bad = link if place == "a link" else _places(tmp_path)[place]
    good = tmp_path / "good.yaml"
    args = ["shrink", str(SAME_DX), "--impl-module", "tests.planted:BUGS", "--impl",
            "planted.pad_before", "--in-process", "--time", "5"]
    args += ["-o", str(bad)] if flag == "-o" else ["-o", str(good), "--script", str(bad)]
    assert cli.main(args) == 2
    captured = capsys.readouterr()
    assert f"{flag} {bad}" in _one_error(captured.err)
    assert "shrinking" not in captured.out and not good.exists()
    assert target.read_text() == "keep me\n"


def test_shrink_script_of_a_plug_in_impl_is_refused_before_anything_is_written(tmp_path,
                                                                               capsys):
    out, script_path = tmp_path / "shrunk.yaml", tmp_path / "s.py"
    assert cli.main(["shrink", str(SAME_DX), "--impl-module", "tests.planted:BUGS",
                     "--impl", "planted.pad_before", "--in-process", "--time", "5",
                     "-o", str(out), "--script", str(script_path)]) == 2
    captured = capsys.readouterr()
    assert "no script template" in _one_error(captured.err)
    assert "shrinking" not in captured.out and not out.exists() and not script_path.exists()


@pytest.mark.parametrize("place", ["a file", "a path through a file"])
def test_fuzz_refuses_an_out_that_is_no_folder(hostile_port, tmp_path, capsys, place):
    (tmp_path / "a-file").write_text("x")
    out = tmp_path / "a-file" if place == "a file" else tmp_path / "a-file" / "sub"
    assert cli.main(["fuzz", "--time", "5", "--max-cases", "1", "--impl-module",
                     str(hostile_port), "--impl", "planted.hostile", "--in-process",
                     "--out", str(out)]) == 2
    assert f"--out {out}" in _one_error(capsys.readouterr().err)


@pytest.mark.parametrize("flag", ["--markdown", "--html"])
@pytest.mark.parametrize("place", ["a directory", "a path through a file", "a 250-byte name",
                                   "a device", "a link"])
def test_diff_refuses_a_bad_output_place_in_one_line(run_dir, tmp_path, capsys, flag, place):
    link, target = _planted_link(tmp_path)
    out = link if place == "a link" else _places(tmp_path)[place]
    record = str(run_dir / "out" / "results.json")
    capsys.readouterr()
    assert cli.main(["diff", record, record, flag, str(out)]) == 2
    captured = capsys.readouterr()
    assert f"{flag} {out}" in _one_error(captured.err)
    assert "convgrad diff" not in captured.out   # refused before the records were compared
    assert target.read_text() == "keep me\n"


# ------------------------------------------------------------------ 7. numbers on the command line

@pytest.mark.parametrize("args", [
    ["fuzz", "--seed=-1"], ["fuzz", "--seed", "1" * 250], ["fuzz", "--seed", str(2 ** 63)],
    ["fuzz", "--seed", "²"], ["fuzz", "--max-cases", "1" * 250], ["fuzz", "--time", "inf"],
    ["fuzz", "--time", "1e300"], ["fuzz", "--shrink-time", "nan"], ["fuzz", "--jobs", "10**9"],
    ["fuzz", "--jobs", "100000"], ["fuzz", "--repeat", str(10 ** 20)],
    ["shrink", str(ARTICLE_DX), "--impl", "planted.pad_before", "-o", "x.yaml",
     "--repeat", "0"],
    ["repro", str(ARTICLE_DX), "--case", "c", "--impl", "tf.tape", "--repeat", "1001"],
    ["repro", str(ARTICLE_DX), "--case", "c", "--impl", "tf.tape", "--timeout", "1e9"]])
def test_numbers_out_of_bounds_are_usage_errors(hostile_port, tmp_path, capsys, args):
    fuzz_args = ["--time", "5", "--max-cases", "1", "--impl", "planted.hostile",
                 "--out", str(tmp_path / "out")]
    args = args[:1] + (fuzz_args if args[0] == "fuzz" else []) + args[1:] + [
        "--impl-module", str(hostile_port), "--in-process"]
    with pytest.raises(SystemExit) as exc:
        cli.main(args)
    assert exc.value.code == 2
    err = capsys.readouterr().err
    assert "Traceback" not in err and "error: argument" in err and not (tmp_path / "out").exists()


def test_seed_bounds():
    assert argtypes.seed("0") == 0 and argtypes.seed(str(2 ** 63 - 1)) == 2 ** 63 - 1
    for text in ("-1", str(2 ** 63), "1" * 250, "", "0x10", "1e3", "٣", " 1"):
        with pytest.raises(Exception, match="expected a seed"):
            argtypes.seed(text)
    assert np.random.default_rng(argtypes.seed(str(2 ** 63 - 1))).integers(2) in (0, 1)
    with pytest.raises(Exception, match="positive integer"):
        argtypes.positive_int("²")


# ------------------------------------------------------------------ 8. diff's Markdown, text, HTML

FORGED_ID = ("t/x\n### forged heading\n![img](https://evil.example/p.png)<img src=x "
             "onerror=alert(1)>\x1b[31m| cell |\nWORSE status  t/y [impl] dx: pass -> fail")


def test_record_strings_cannot_forge_lines_headings_or_tags(run_dir, tmp_path, capsys):
    old = _as_torch(_record(run_dir), case_id=FORGED_ID)
    new = copy.deepcopy(old)
    new["verdicts"][0]["status"] = "fail"
    new["verdicts"][0]["impl"] = "torch.autograd\n# impl"
    old["verdicts"][0]["impl"] = "torch.autograd\n# impl"
    a, b = _forge(tmp_path / "a", old), _forge(tmp_path / "b", new)
    md, page = tmp_path / "d.md", tmp_path / "d.html"
    capsys.readouterr()
    assert cli.main(["diff", str(a), str(b), "--markdown", str(md), "--html", str(page)]) == 1
    out = capsys.readouterr().out
    assert _clean(out) and not any(line.startswith("WORSE status  t/y") for line in
                                   out.splitlines())
    assert len(out.strip().splitlines()) == 2          # the head line and one change
    text = md.read_text()
    assert [line for line in text.splitlines() if line.startswith("#")] == ["### convgrad diff"]
    assert "<img" not in text and "![" not in text and "\x1b" not in text
    rows = [line for line in text.splitlines() if line.startswith("| ")]
    pipes = [len(re.findall(r"(?<!\\)\|", row)) for row in rows]
    assert len(rows) == 2 and pipes[0] == pipes[1] == 10   # no cell made by a record
    assert "<img" not in page.read_text()
