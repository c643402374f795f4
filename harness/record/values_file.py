"""Reading ``values.npz`` (every verdict's values, beside a run record) as untrusted input.

``convgrad diff`` takes any two records, and the ``values.npz`` beside each is
whatever is there: a string or object array, a plain ``.npy`` renamed, a member
whose header claims 10^12 elements, a zip bomb (a few hundred KB deflating to
gigabytes), thousands of members. :func:`read` reads it with bounds checked
*before* anything is allocated or decompressed:

1. the file: a regular file (a link to one is followed; a FIFO or a device is
   not), at most :data:`MAX_FILE_BYTES`, checked by type and size before it is
   opened;
2. the archive: its end-of-central-directory record is read first, so the
   member count (at most the record's verdicts with values, plus ``run_id``,
   and never more than :data:`MAX_MEMBERS`) and the directory's size are bounded
   before :mod:`zipfile` parses a single entry;
3. each member: a name :func:`harness.record.run_record.values_npz` writes
   (``run_id.npy``, ``v<N>.npy`` for a ``values_key`` of the record), no
   duplicates, stored or deflated, not encrypted, and a declared size within the
   bound of the verdict it belongs to (the record's shapes of its case, times
   :data:`SLACK`) and within :data:`MAX_MEMBER_BYTES`; all members together within
   :data:`MAX_TOTAL_BYTES`;
4. each ``.npy`` header parsed with :mod:`numpy.lib.format` (format 1.0 or 2.0,
   its own header bound), the dtype one that ``values_npz`` writes (little-endian
   float32 or float64 for values; a unicode scalar for ``run_id``; never an
   object dtype, never a pickle), at most :data:`MAX_DIMS` dimensions, and
   shape x itemsize equal to the member's declared size less its header;
5. the data decompressed in chunks of at most :data:`CHUNK` bytes, never beyond
   the declared size, the CRC checked at the end.

Any problem is :class:`ValuesRefused` with a reason of a few words; the caller
goes on without the values (``docs/record.md``, "Reading records: untrusted input").
"""
from __future__ import annotations

import math
import re
import struct
import zipfile
import zlib
from pathlib import Path
from typing import Mapping, Optional

import numpy as np

from harness.safeio import files

MAX_FILE_BYTES = 1 << 30          # values.npz itself (a 612-case run's is ~30 MB)
MAX_MEMBER_BYTES = 512 << 20      # one verdict's values, decompressed (a ResNet layer: 60 MB)
MAX_TOTAL_BYTES = 1 << 30         # every member together, decompressed
MAX_MEMBERS = 200_001             # run_id and 200,000 verdicts
MAX_DIMS = 8                      # a conv3d tensor has 5
SLACK = 4                         # a member may hold SLACK x its case's largest tensor, in float64
MEMBER_SLACK_BYTES = 64 << 10     # ... plus this (the header, a tiny case)
MAX_HEADER_BYTES = 10_000         # an .npy header (numpy's own default bound)
MAX_RUN_ID_CHARS = 256
CHUNK = 1 << 20                   # bytes decompressed at a time
DIRECTORY_ENTRY_BYTES = 256       # a central directory entry of a name values_npz writes

NAME = re.compile(r"^(run_id|v[0-9]{1,9})\.npy$")
VALUE_DTYPES = (np.dtype("<f4"), np.dtype("<f8"))

_EOCD = b"PK\x05\x06"
_EOCD64_LOCATOR = b"PK\x06\x07"
_EOCD64 = b"PK\x06\x06"


class ValuesRefused(Exception):
    """A values file that is not read; ``str`` says why, in a few words (no path)."""


def _refuse(reason: str) -> ValuesRefused:
    return ValuesRefused(reason)


def member_bounds(record: Mapping) -> dict[str, int]:
    """``values_key -> the most bytes its member may hold``: :data:`SLACK` times the largest
    tensor of the verdict's case (input, filter, output: its values are one of them, or of
    a wrong shape near one) in float64, plus :data:`MEMBER_SLACK_BYTES`; never more than
    :data:`MAX_MEMBER_BYTES`. Only the keys the record names."""
    sizes = {}
    for case in record.get("cases") or ():
        if not isinstance(case, dict):
            continue
        largest = 0
        for field in ("input_shape", "filter_shape", "output_shape"):
            shape = case.get(field)
            if isinstance(shape, list) and all(isinstance(n, int) and n >= 0 for n in shape):
                largest = max(largest, math.prod(shape))
        sizes[case.get("id")] = largest
    bounds = {}
    for entry in list(record.get("verdicts") or ()) + list(record.get("claims") or ()):
        key = entry.get("values_key") if isinstance(entry, dict) else None
        if isinstance(key, str):
            elements = sizes.get(entry.get("case"), 0)
            bounds[key] = min(MAX_MEMBER_BYTES,
                              SLACK * 8 * elements + MEMBER_SLACK_BYTES)
    return bounds


def _directory(f, size: int) -> tuple[int, int]:
    """(members, central directory bytes) from the end-of-central-directory record (zip64
    too), read before :mod:`zipfile` parses the directory."""
    tail_len = min(size, 22 + 0xFFFF)
    f.seek(size - tail_len)
    tail = f.read(tail_len)
    at = tail.rfind(_EOCD)
    if at < 0 or len(tail) - at < 22:
        raise _refuse("not a zip archive (an .npz is one): no end of central directory")
    (_, _, _, _, members, directory, offset, _) = struct.unpack("<4s4H2LH", tail[at:at + 22])
    if members == 0xFFFF or directory == 0xFFFFFFFF or offset == 0xFFFFFFFF:
        locator = tail[at - 20:at] if at >= 20 else b""
        if len(locator) != 20 or not locator.startswith(_EOCD64_LOCATOR):
            raise _refuse("a zip64 archive without its zip64 locator")
        (_, _, where, _) = struct.unpack("<4sLQL", locator)
        if where > size - 56:
            raise _refuse("a zip64 directory record beyond the end of the file")
        f.seek(where)
        record = f.read(56)
        if len(record) != 56 or not record.startswith(_EOCD64):
            raise _refuse("a zip64 archive without its zip64 directory record")
        (_, _, _, _, _, _, _, members, directory, _) = struct.unpack("<4sQ2H2L4Q", record)
    return members, directory


class _Counted:
    """A member's stream, read at most ``limit`` bytes at a time, counting what was read."""

    def __init__(self, stream, limit: int):
        self.stream, self.limit, self.count = stream, limit, 0

    def read(self, n: int = -1) -> bytes:
        if n is None or n < 0 or n > CHUNK:
            n = CHUNK
        n = min(n, self.limit - self.count + 1)
        data = self.stream.read(n) if n > 0 else b""
        self.count += len(data)
        if self.count > self.limit:
            raise _refuse("a member holds more than its declared size")
        return data


def _header(fp: _Counted) -> tuple[tuple, bool, np.dtype]:
    """(shape, fortran_order, dtype) of an .npy header: format 1.0 or 2.0 only."""
    fmt = np.lib.format
    version = fmt.read_magic(fp)
    if version == (1, 0):
        return fmt.read_array_header_1_0(fp, max_header_size=MAX_HEADER_BYTES)
    if version == (2, 0):
        return fmt.read_array_header_2_0(fp, max_header_size=MAX_HEADER_BYTES)
    raise _refuse(f".npy format {version[0]}.{version[1]}; values files use 1.0 or 2.0")


def _member(zf: zipfile.ZipFile, info: zipfile.ZipInfo, key: str) -> np.ndarray:
    with zf.open(info) as stream:
        fp = _Counted(stream, info.file_size)
        shape, fortran, dtype = _header(fp)
        if key == "run_id":
            if dtype.kind != "U" or dtype.byteorder not in "<=|" or shape != () \
                    or dtype.itemsize > 4 * MAX_RUN_ID_CHARS:
                raise _refuse(f"{info.filename}: {dtype.str} {list(shape)}, not the run id "
                              "(a unicode scalar)")
        elif dtype not in VALUE_DTYPES or dtype.names is not None or dtype.shape != ():
            raise _refuse(f"{info.filename}: dtype {dtype.str}; values are little-endian "
                          "float32 or float64")
        if len(shape) > MAX_DIMS or not all(isinstance(n, int) and n >= 0 for n in shape):
            raise _refuse(f"{info.filename}: shape {printable_shape(shape)}; at most "
                          f"{MAX_DIMS} dimensions")
        nbytes = math.prod(shape) * dtype.itemsize
        if fp.count + nbytes != info.file_size:
            raise _refuse(f"{info.filename}: its header says {nbytes} bytes of data, its "
                          f"entry {info.file_size - fp.count}")
        data = bytearray()
        while len(data) < nbytes:
            chunk = fp.read(min(CHUNK, nbytes - len(data)))
            if not chunk:
                raise _refuse(f"{info.filename}: ends before its data does")
            data += chunk
        if fp.read(1):
            raise _refuse(f"{info.filename}: holds more than its header says")
    array = np.frombuffer(data, dtype=dtype)
    return array.reshape(shape, order="F" if fortran else "C")


def printable_shape(shape: object) -> str:
    text = str(list(shape)) if isinstance(shape, tuple) else repr(shape)
    return text if len(text) <= 60 else text[:57] + "..."


_ZIP_PROBLEMS = (zipfile.BadZipFile, zlib.error, OSError, EOFError, ValueError, TypeError,
                 NotImplementedError, RuntimeError, struct.error, KeyError, IndexError,
                 OverflowError, UnicodeError, MemoryError)


def read(path: str | Path, run_id: Optional[str], bounds: Mapping[str, int]) -> dict:
    """The arrays of the values file ``path`` keyed without ``.npy`` (``run_id`` left
    out), ``{}`` when it belongs to another run than ``run_id``; ``bounds``:
    :func:`member_bounds` of the record. :class:`ValuesRefused` for anything else."""
    try:
        f = files.open_regular(path, MAX_FILE_BYTES, "values file")
    except files.FileRefused as exc:
        raise _refuse(exc.reason) from None
    with f:
        try:
            return _read(f, run_id, bounds)
        except ValuesRefused:
            raise
        except _ZIP_PROBLEMS as exc:
            reason = " ".join(str(exc).split())[:120] or type(exc).__name__
            raise _refuse(f"not a readable .npz: {reason}") from None


def _read(f, run_id: Optional[str], bounds: Mapping[str, int]) -> dict:
    size = f.seek(0, 2)
    members, directory = _directory(f, size)
    allowed = min(MAX_MEMBERS, len(bounds) + 1)
    if members > allowed:
        raise _refuse(f"{members} members; this record's values file holds at most {allowed}")
    if directory > members * DIRECTORY_ENTRY_BYTES + 4096 or directory > size:
        raise _refuse(f"a central directory of {directory} bytes for {members} members")
    f.seek(0)
    with zipfile.ZipFile(f) as zf:
        infos = zf.infolist()
        if len(infos) > allowed:
            raise _refuse(f"{len(infos)} members; this record's values file holds at most "
                          f"{allowed}")
        keys: dict[str, zipfile.ZipInfo] = {}
        total = 0
        for info in infos:
            m = NAME.match(info.filename)
            if not m:
                raise _refuse(f"a member named {info.filename[:60]!r}; values files hold "
                              "run_id.npy and v<N>.npy")
            key = m[1]
            if key in keys:
                raise _refuse(f"{info.filename} twice")
            if info.flag_bits & 0x1:
                raise _refuse(f"{info.filename} is encrypted")
            if info.compress_type not in (zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED):
                raise _refuse(f"{info.filename}: compression method {info.compress_type}; "
                              "values files are stored or deflated")
            limit = 4096 + 4 * MAX_RUN_ID_CHARS if key == "run_id" else bounds.get(key)
            if limit is None:
                raise _refuse(f"{info.filename}: no verdict of the record has values_key "
                              f"{key!r}")
            if info.file_size > limit:
                raise _refuse(f"{info.filename} declares {info.file_size} bytes; its verdict's "
                              f"case allows {limit}")
            total += info.file_size
            if total > MAX_TOTAL_BYTES:
                raise _refuse(f"its members declare more than {MAX_TOTAL_BYTES} bytes")
            keys[key] = info
        if "run_id" not in keys:
            return {}
        stored = _member(zf, keys.pop("run_id"), "run_id")
        if run_id is None or str(stored[()]) != run_id:
            return {}   # another run's values (a record copied beside them)
        return {key: _member(zf, info, key) for key, info in keys.items()}
