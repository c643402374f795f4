"""The hostile inputs of tests/test_hostile_tools.py, made at test time in each attempt's
sandbox (nothing here is large or binary in git): run records derived from
tests/hostile/records/base.json (a real record of the article cases), case files,
``values.npz`` files broken in every way a reader must survive (a zip bomb, a header
claiming 10**12 elements, a pickle that runs code...), report-page folders, limitation
files with catastrophic patterns, and model files for ``cases-from``.
"""
from __future__ import annotations

import copy
import io
import json
import os
import shutil
import struct
import zipfile
import zlib
from pathlib import Path
from typing import Callable, Optional

import numpy as np
from numpy.lib import format as npy_format

from tests.hostile_tools.runner import REPO, SECRET, Ctx

HERE = Path(__file__).resolve().parent
MODULES = HERE / "modules"
ARTICLE = REPO / "cases" / "article"
BASE = json.loads((REPO / "tests" / "hostile" / "records" / "base.json").read_text())
SAME_DX = "article/same-dx"


# --------------------------------------------------------------------- case files

def yaml_string(text: str) -> str:
    """``text`` as a YAML double-quoted scalar (JSON's escapes are YAML's: a NUL, an ESC, a
    lone surrogate written as escapes the loader decodes)."""
    return json.dumps(text)


def article(ctx: Ctx) -> None:
    shutil.copytree(ARTICLE, ctx.sb / "cases" / "article")


def case_text(case_id: Optional[str] = None, **fields: str) -> str:
    """Article example 3 (``article/same-dx``) with its id and any top-level field (a
    YAML-escaped string) replaced."""
    lines = []
    for line in (ARTICLE / "3-same-dx.yaml").read_text().splitlines():
        key = line.split(":", 1)[0]
        if key == "id" and case_id is not None:
            line = f"id: {yaml_string(case_id)}"
        elif key in fields:
            line = f"{key}: {yaml_string(fields.pop(key))}"
        lines.append(line)
    lines += [f"{k}: {yaml_string(v)}" for k, v in fields.items()]
    return "\n".join(lines) + "\n"


# A case the toy frameworks compute (y only), where SAME's odd pad matters: toybug fails it.
TOY_CASE = """\
id: {id}
op: conv2d
grads: [y]
data_format: NHWC
padding: SAME
strides: [1, 1]
dtype: float32
input_shape: [1, 4, 4, 1]
filter_shape: [2, 2, 1, 1]
x: {{random: normal, seed: 1}}
w: {{random: normal, seed: 2}}
"""


def toy_case(ctx: Ctx, case_id: str = "tools/same-y", name: str = "toy.yaml",
             **fields: str) -> Path:
    text = TOY_CASE.format(id=yaml_string(case_id))
    text += "".join(f"{k}: {yaml_string(v)}\n" for k, v in fields.items())
    path = ctx.sb / name
    path.write_text(ctx.fill(text))
    return path


# --------------------------------------------------------------------- toy run records

TOY_ID = "tools/same-y"


def make_assets(assets: Path, plugins: Path) -> None:
    """Made once: ``toyrun/results.json``, a real record of toy.numpy and toybug.pad_before
    judging :data:`TOY_CASE` (``cases/toy.yaml``), by the convgrad under test."""
    import subprocess
    import sys

    from tests.hostile_tools.runner import CLI

    run = assets / "toyrun"
    (run / "cases").mkdir(parents=True)
    (run / "cases" / "toy.yaml").write_text(TOY_CASE.format(id=TOY_ID))
    env = {**os.environ, "PYTHONPATH": f"{plugins}{os.pathsep}{REPO}", "HOSTILE_TOYFW": "1"}
    done = subprocess.run([sys.executable, "-c", CLI, "run", "cases/toy.yaml", "--impl",
                           "toy.numpy,toybug.pad_before", "--out", "reports", "--jobs", "1",
                           "--no-known"], cwd=run, env=env, capture_output=True, text=True,
                          timeout=300)
    assert done.returncode == 1 and (run / "reports" / "results.json").is_file(), \
        done.stdout[-2000:] + done.stderr[-2000:]


def toy_record(*, case_id: Optional[str] = None, message: Optional[str] = None,
               status: Optional[str] = None, change: Optional[Callable[[dict], None]] = None,
               impl: str = "toy.numpy", name: str = "{sb}/reports/results.json",
               fields: Optional[dict] = None) -> Callable[[Ctx], None]:
    """The toy run's record in the sandbox, with its case file (``cases/toy.yaml``): the
    case renamed ``case_id`` (record and file), ``message`` / ``status`` of ``impl``'s
    verdict replaced, ``change`` applied, top-level case ``fields`` added to the file."""
    def setup(ctx: Ctx) -> None:
        r = json.loads((ctx.assets / "toyrun" / "reports" / "results.json").read_text())
        new = case_id if case_id is not None else TOY_ID
        for c in r["cases"]:
            if c["id"] == TOY_ID:
                c["id"] = new
        for v in r["verdicts"] + r["claims"]:
            if v["case"] == TOY_ID:
                v["case"] = new
                if v.get("impl") == impl:
                    if message is not None:
                        v["message"] = message
                    if status is not None:
                        v["status"] = status
        if change:
            change(r)
        text = TOY_CASE.format(id=yaml_string(new))
        text += "".join(f"{k}: {yaml_string(v)}\n" for k, v in (fields or {}).items())
        (ctx.sb / "cases").mkdir(exist_ok=True)
        (ctx.sb / "cases" / "toy.yaml").write_text(ctx.fill(text))
        path = Path(ctx.fill(name))
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(ctx.fill(json.dumps(r, indent=1, ensure_ascii=True)))
    return setup


# --------------------------------------------------------------------- run records

def record(impl: str = "jax.vjp", framework: str = "jax", *, case_id: Optional[str] = None,
           message: Optional[str] = None, status: Optional[str] = None,
           change: Optional[Callable[[dict], None]] = None) -> dict:
    """base.json with planted.correct renamed ``impl`` (a templated impl: repro writes its
    script from the record without importing its framework); ``case_id`` renames
    article/same-dx (its file then cases/hostile/case.yaml); ``message`` / ``status``
    replace that case's verdicts of ``impl``."""
    r = copy.deepcopy(BASE)
    for v in r["verdicts"]:
        if v["impl"] == "planted.correct":
            v["impl"] = impl
    for i in r["impls"]:
        if i["name"] == "planted.correct":
            i.update(name=impl, framework=framework)
    target = case_id if case_id is not None else SAME_DX
    if case_id is not None:
        for c in r["cases"]:
            if c["id"] == SAME_DX:
                c.update(id=case_id, file="cases/hostile/case.yaml")
        for v in r["verdicts"] + r["claims"]:
            if v["case"] == SAME_DX:
                v["case"] = case_id
    for v in r["verdicts"]:
        if v["case"] == target and v["impl"] == impl:
            if message is not None:
                v["message"] = message
            if status is not None:
                v["status"] = status
    if change:
        change(r)
    return r


def write_record(ctx: Ctx, r: dict, name: str = "reports/results.json",
                 case_id: Optional[str] = None, **fields: str) -> Path:
    """The record (JSON escapes for what UTF-8 cannot hold), the article cases, and for a
    renamed case its case file."""
    if not (ctx.sb / "cases" / "article").exists():
        article(ctx)
    if case_id is not None or fields:
        (ctx.sb / "cases" / "hostile").mkdir(parents=True, exist_ok=True)
        (ctx.sb / "cases" / "hostile" / "case.yaml").write_text(
            ctx.fill(case_text(case_id, **fields)))
    path = ctx.sb / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(ctx.fill(json.dumps(r, indent=1, ensure_ascii=True)))
    return path


def repro_record(impl: str = "jax.vjp", framework: str = "jax", *,
                 case_id: Optional[str] = None, message: Optional[str] = None,
                 status: Optional[str] = None, change=None, name: str = "reports/results.json",
                 fields: Optional[dict] = None) -> Callable[[Ctx], None]:
    def setup(ctx: Ctx) -> None:
        r = record(impl, framework, case_id=case_id, message=message, status=status,
                   change=change)
        write_record(ctx, r, ctx.fill(name), case_id, **(fields or {}))
    return setup


def set_case_file(value: str) -> Callable[[dict], None]:
    def change(r):
        for c in r["cases"]:
            c["file"] = value
    return change


def set_run(**values) -> Callable[[dict], None]:
    def change(r):
        r["environment"]["run"].update(values)
    return change


def outside_case(ctx: Ctx) -> Path:
    """A valid case file of the toy run's case outside the sandbox, its source the secret."""
    path = ctx.out / "case.yaml"
    path.write_text(TOY_CASE.format(id=TOY_ID) + f"source: outside {SECRET}\n")
    return path


# --------------------------------------------------------------------- values.npz

def npy_bytes(array: np.ndarray) -> bytes:
    buf = io.BytesIO()
    np.save(buf, array, allow_pickle=False)
    return buf.getvalue()


def npy_header(descr: str, shape: tuple) -> bytes:
    buf = io.BytesIO()
    npy_format.write_array_header_1_0(buf, {"descr": descr, "fortran_order": False,
                                            "shape": shape})
    return buf.getvalue()


def npz(path: Path, members: dict[str, bytes], compress: bool = False) -> None:
    mode = zipfile.ZIP_DEFLATED if compress else zipfile.ZIP_STORED
    with zipfile.ZipFile(path, "w", compression=mode) as z:
        for name, data in members.items():
            z.writestr(name, data)


def diff_record(run_id: str, change: Optional[Callable[[dict], None]] = None) -> dict:
    r = copy.deepcopy(BASE)
    r["run_id"] = run_id
    r["verdicts"][0]["values_key"] = "v0"
    if change:
        change(r)
    return r


def good_values(run_id: str) -> dict[str, bytes]:
    return {"run_id.npy": npy_bytes(np.array(run_id)),
            "v0.npy": npy_bytes(np.arange(9, dtype=np.float64).reshape(1, 3, 3, 1))}


class _Payload:
    """Unpickling it runs ``touch MARKER``."""

    def __init__(self, marker: str):
        self.marker = marker

    def __reduce__(self):
        return (os.system, (f"touch {self.marker}",))


def pickled_object_array(marker: str) -> bytes:
    import pickle

    return npy_header("|O", (1,)) + pickle.dumps([_Payload(marker)], protocol=2)


def zip_bomb(path: Path, members_before: dict[str, bytes], header: bytes,
             zeros: int, name: str = "v0.npy") -> None:
    """A zip whose member ``name`` is ``header`` then ``zeros`` zero bytes, deflated to about
    a thousandth (800 MB in 0.8 MB): each 8 MiB of zeros is compressed once, after a full
    flush, and the same bytes repeated, so making it costs a CRC, not a compression."""
    chunk = bytes(8 << 20)
    comp = zlib.compressobj(9, zlib.DEFLATED, -15)
    first = comp.compress(header) + comp.flush(zlib.Z_FULL_FLUSH)
    block = comp.compress(chunk) + comp.flush(zlib.Z_FULL_FLUSH)
    tail_size = zeros % len(chunk)
    tail = comp.compress(bytes(tail_size)) + comp.flush(zlib.Z_FINISH)
    crc = zlib.crc32(header)
    for _ in range(zeros // len(chunk)):
        crc = zlib.crc32(chunk, crc)
    crc = zlib.crc32(bytes(tail_size), crc)
    data = first + block * (zeros // len(chunk)) + tail
    entries = [(n, 0, zlib.crc32(d), d, len(d)) for n, d in members_before.items()]
    entries.append((name, 8, crc, data, len(header) + zeros))
    write_zip(path, entries)


def write_zip(path: Path, entries) -> None:
    """A zip of ``(name, method, crc, stored bytes, uncompressed size)`` entries (sizes under
    4 GiB, fewer than 65535 entries), written directly."""
    out, central = bytearray(), bytearray()
    for name, method, crc, body, size in entries:
        raw = name.encode()
        offset = len(out)
        out += struct.pack("<IHHHHHIIIHH", 0x04034B50, 20, 0, method, 0, 0x21, crc,
                           len(body), size, len(raw), 0) + raw + body
        central += struct.pack("<IHHHHHHIIIHHHHHII", 0x02014B50, 20, 20, 0, method, 0, 0x21,
                               crc, len(body), size, len(raw), 0, 0, 0, 0, 0, offset) + raw
    start = len(out)
    out += central
    out += struct.pack("<IHHHHIIH", 0x06054B50, 0, 0, len(entries), len(entries),
                       len(central), start, 0)
    path.write_bytes(bytes(out))


def many_members(path: Path, first: dict[str, bytes], count: int) -> None:
    """A stored zip of ``count`` small .npy members, written directly (zipfile takes
    seconds for this many)."""
    data = npy_bytes(np.zeros(1))
    crc = zlib.crc32(data)
    out, central = bytearray(), bytearray()
    entries = [(n, d, zlib.crc32(d)) for n, d in first.items()]
    entries += ((f"m{i}.npy", data, crc) for i in range(count))
    for name, body, c in entries:
        raw = name.encode()
        offset = len(out)
        out += struct.pack("<IHHHHHIIIHH", 0x04034B50, 20, 0, 0, 0, 0, c, len(body),
                           len(body), len(raw), 0) + raw + body
        central += struct.pack("<IHHHHHHIIIHHHHHII", 0x02014B50, 20, 20, 0, 0, 0, 0, c,
                               len(body), len(body), len(raw), 0, 0, 0, 0, 0, offset) + raw
    start = len(out)
    n = len(entries)
    out += central
    if n >= 0xFFFF:   # zip64 end of central directory and its locator
        zip64_end = len(out)
        out += struct.pack("<IQHHIIQQQQ", 0x06064B50, 44, 45, 45, 0, 0, n, n, len(central),
                           start)
        out += struct.pack("<IIQI", 0x07064B50, 0, zip64_end, 1)
        out += struct.pack("<IHHHHIIH", 0x06054B50, 0, 0, 0xFFFF, 0xFFFF, 0xFFFFFFFF,
                           0xFFFFFFFF, 0)
    else:
        out += struct.pack("<IHHHHIIH", 0x06054B50, 0, 0, n, n, len(central), start, 0)
    path.write_bytes(bytes(out))


def diff_pair(values: Optional[Callable[[Ctx, Path, str], None]] = None,
              change_new: Optional[Callable[[dict], None]] = None,
              change_old: Optional[Callable[[dict], None]] = None) -> Callable[[Ctx], None]:
    """sb/old/results.json with good values, sb/new/results.json with ``values`` (a writer
    of new/values.npz) and ``change_new`` applied."""
    def setup(ctx: Ctx) -> None:
        for side, run_id, change in (("old", "old-run", change_old),
                                     ("new", "new-run", change_new)):
            (ctx.sb / side).mkdir()
            (ctx.sb / side / "results.json").write_text(
                json.dumps(diff_record(run_id, change), indent=1, ensure_ascii=True))
        npz(ctx.sb / "old" / "values.npz", good_values("old-run"))
        if values:
            values(ctx, ctx.sb / "new" / "values.npz", "new-run")
        else:
            npz(ctx.sb / "new" / "values.npz", good_values("new-run"))
    return setup


def values_members(members: Callable[[Ctx, str], dict[str, bytes]]):
    def write(ctx: Ctx, path: Path, run_id: str) -> None:
        npz(path, members(ctx, run_id))
    return write


# --------------------------------------------------------------------- report records

def many_cases(count: int, ids: Optional[Callable[[int, str], str]] = None) -> dict:
    """base.json with its cases repeated ``count`` times (a report large enough to get a
    page per case)."""
    r = copy.deepcopy(BASE)
    cases, verdicts, claims = [], [], []
    for k in range(count):
        rename = (lambda cid: ids(k, cid)) if ids else (lambda cid: f"{cid}-{k}")
        for c in BASE["cases"]:
            cases.append({**copy.deepcopy(c), "id": rename(c["id"])})
        for v in BASE["verdicts"]:
            verdicts.append({**copy.deepcopy(v), "case": rename(v["case"])})
        for v in BASE["claims"]:
            claims.append({**copy.deepcopy(v), "case": rename(v["case"])})
    r.update(cases=cases, verdicts=verdicts, claims=claims)
    return r


def write_json(ctx: Ctx, name: str, data: dict) -> Path:
    path = ctx.sb / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(data, indent=1, ensure_ascii=True))
    return path


# --------------------------------------------------------------------- user files

def module(name: str, as_name: Optional[str] = None) -> Callable[[Ctx], None]:
    """Copy tests/hostile_tools/modules/NAME.py into the sandbox."""
    def setup(ctx: Ctx) -> None:
        shutil.copy(MODULES / f"{name}.py", ctx.sb / f"{as_name or name}.py")
    return setup


LIMITATION = """\
- id: hostile-pattern
  framework: numpy
  message: {pattern}
  summary: a pattern that backtracks
  evidence: none
  link: https://example.invalid/
"""


def limitations(pattern: str, name: str = "limits.yaml") -> Callable[[Ctx], None]:
    def setup(ctx: Ctx) -> None:
        (ctx.sb / name).write_text(LIMITATION.format(pattern=yaml_string(pattern)))
    return setup


def both(*setups: Optional[Callable[[Ctx], None]]) -> Callable[[Ctx], None]:
    def setup(ctx: Ctx) -> None:
        for s in setups:
            if s:
                s(ctx)
    return setup


def file(name: str, content: str | bytes = "") -> Callable[[Ctx], None]:
    def setup(ctx: Ctx) -> None:
        path = Path(ctx.fill(name))
        path.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(content, bytes):
            path.write_bytes(content)
        else:
            path.write_text(ctx.fill(content))
    return setup


def symlink(name: str, target: str) -> Callable[[Ctx], None]:
    def setup(ctx: Ctx) -> None:
        path = Path(ctx.fill(name))
        path.parent.mkdir(parents=True, exist_ok=True)
        os.symlink(ctx.fill(target), path)
    return setup


def fifo(name: str) -> Callable[[Ctx], None]:
    def setup(ctx: Ctx) -> None:
        path = Path(ctx.fill(name))
        path.parent.mkdir(parents=True, exist_ok=True)
        os.mkfifo(path)
    return setup


def folder(name: str) -> Callable[[Ctx], None]:
    def setup(ctx: Ctx) -> None:
        Path(ctx.fill(name)).mkdir(parents=True, exist_ok=True)
    return setup


# --------------------------------------------------------------------- Keras model files

KERAS_MAKER = r'''
import json, os, sys, zipfile
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
import keras

kind, path, marker, hostile = sys.argv[1:5]
if kind == "lambda":
    # code that runs when the layer is called: the marker says a loader ran it
    inputs = keras.Input((8, 8, 3))
    h = keras.layers.Lambda(lambda x: (open(marker, "w").close(), x)[1] * 2)(inputs)
    h = keras.layers.Conv2D(4, 3)(h)
    keras.Model(inputs, h).save(path)
    os.remove(marker)                 # built here (Keras traces the lambda), not loaded
else:
    # a channels-first conv (a note naming it in the file's header) and a plain one
    inputs = keras.Input((3, 8, 8))
    h = keras.layers.Conv2D(4, 3, data_format="channels_first", name="PLACEHOLDER")(inputs)
    h = keras.layers.Conv2D(2, 3, name="plain")(h)
    keras.Model(inputs, h, name="hostile").save(path)
    with zipfile.ZipFile(path) as z:
        members = {n: z.read(n) for n in z.namelist()}
    members["config.json"] = members["config.json"].replace(
        b'"PLACEHOLDER"', json.dumps(hostile).encode())
    with zipfile.ZipFile(path, "w") as z:
        for n, data in members.items():
            z.writestr(n, data)
'''
KERAS_HOSTILE_NAME = ("c\n- id: injected-case\n  op: conv1d\n  grads: [y]\n"
                      "  input_size: [4]\n  kernel_size: [2]\n  x: {random: normal}\n"
                      "  w: {random: normal}\n# \x1b[31m")


def keras_file(ctx: Ctx, kind: str, path: Path) -> None:
    """A ``.keras`` file made by Keras itself (in a process of its own): ``lambda`` (a
    Lambda layer whose code creates the marker when called) or ``newline`` (a layer named
    with newlines and a YAML case, after a channels-first conv so that a note names it)."""
    import subprocess
    import sys

    env = {**os.environ, "PYTHONPATH": str(REPO)}
    done = subprocess.run([sys.executable, "-c", KERAS_MAKER, kind, str(path), ctx.marker,
                           KERAS_HOSTILE_NAME], capture_output=True, text=True, env=env,
                          timeout=300, cwd=ctx.sb)
    assert done.returncode == 0, done.stderr[-2000:]
