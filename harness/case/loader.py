"""Case files -> validated, frozen :class:`~harness.case.model.Case` objects.

Every problem is reported as ``path:line: case 'id': field: what is wrong``
(a :class:`CaseError`), before any array is allocated: all of them at once, every
bad key of every case (:func:`parse_case` says which checks wait for which keys).
The format is documented in ``docs/cases.md``.
"""
from __future__ import annotations

import dataclasses
import difflib
import itertools
import math
import os
import re
import stat
from pathlib import Path
from typing import Any, Iterable, Iterator, Sequence

import numpy as np

from harness.numerics import dtypes, layouts, oracle_gemm, padding as pad
from harness.case import generators, ops
from harness.safeio import printable
from harness.case.fields import (compact as _compact,
                            is_float64 as _is_float64, is_huge as _is_huge, is_int as _is_int,
                            is_number as _is_number, key_text as _key_text, show as _show,
                            type_name as _type_name)
from harness.case.model import GRADS, OPS, Case, Claim
from harness.safeio.yaml_source import Located, SourceError, load

# Refuse tensors, oracle work and case counts that would not fit in memory or time
# (docs/cases.md, "Limits"). The oracle runs in the main process, where --timeout does
# not reach, so its work per case is bounded here.
MAX_ELEMENTS = 2 ** 24          # per tensor, the padded input included (128 MiB in float64);
                                # also bounds every size
MAX_ORACLE_WORK = 2 ** 31       # multiply-adds of all the oracle's evaluations of one case
ORACLE_PASSES = 2               # evaluations per grad: values, |values| (expected.py; the
                                # bound's n comes from the geometry)
TAP_COST = 2 ** 13              # one kernel tap costs the oracle's tap loop about as much
                                # as this many multiply-adds (an einsum call, ~30 us)
GEMM_SPEEDUP = 4                # the GEMM path's multiply-adds count this much less: 5-9
                                # GMAC/s against 1-4 for the tap path on 64 channels
                                # (a ResNet 3x3 layer, 2 cores), conservatively
MAX_MATRIX_CASES = 10_000       # cases one matrix may expand to
MAX_FILE_CASES = 10_000         # cases one file may expand to
MAX_RUN_CASES = 100_000         # cases all the files of one run may expand to
MAX_ID_CHARS = 200              # a case id (it names tests, files, report anchors)
CASE_SUFFIXES = (".yaml", ".yml")

CASE_KEYS = ("id", "description", "source", "op", "grads", "data_format", "filter_format",
             "padding", "strides", "dilations", "dtype", "input_shape", "filter_shape",
             "batch", "in_channels", "out_channels", "input_size", "kernel_size",
             "groups", "channel_multiplier", "output_padding", "output_shape",
             "x", "w", "dy", "tx", "tw", "gx", "gw", "claims")
MATRIX_KEYS = ("id", "base", "product")
# How a source printed or checked a claim's values (docs/cases.md, Claims).
CLAIM_PRECISION_KEYS = ("decimals", "rtol", "atol")
MAX_CLAIM_DECIMALS = 30
# tensor -> the grads that need its values
NEEDED_BY = {t: tuple(g for g in ops.ALL_GRADS if t in ops.tensors_needed(g)) for t in ops.TENSORS}
TANGENTS = ops.TENSORS[3:]     # tx, tw, gx, gw: shaped as x, w, x, w
# Shorthand keys that only mean something next to input_size / kernel_size.
SHORTHAND_USERS = {"batch": ("input_size",), "out_channels": ("kernel_size",),
                   "in_channels": ("input_size", "kernel_size")}
# Where a shape comes from, in order of preference: the key to blame for it.
SHAPE_KEYS = {"input_shape": ("input_shape", "x", "input_size"),
              "filter_shape": ("filter_shape", "w", "kernel_size")}


class CaseError(Exception):
    """One problem in one case file, printable as ``path:line: case 'id': field: message``."""

    def __init__(self, path: str, line: int, case_id: str | None, field: str | None,
                 message: str):
        # An id or a key is quoted, never more than a short excerpt of it: a message is
        # one line, whatever a file holds.
        where = f"case '{printable.excerpt(case_id, MAX_ID_CHARS)}': " if case_id else ""
        what = f"{printable.excerpt(field, MAX_ID_CHARS)}: " if field else ""
        super().__init__(printable.line(f"{path}:{line}: {where}{what}{message}"))
        self.path, self.line, self.case_id, self.field = path, line, case_id, field
        self.message = message


class CaseErrors(CaseError):
    """Every problem of one case (each a :class:`CaseError`), in the order found; ``str``
    is their lines. ``case_id`` is the case's id when the id itself is valid (so that a
    refused case still takes part in the duplicate-id check), ``case_line`` its line."""

    def __init__(self, errors: Sequence[CaseError], case_id: str | None, case_line: int):
        # a key two checks read (in_channels: both shapes) is reported once
        errors = list({str(e): e for e in errors}.values())
        first = errors[0]
        super().__init__(first.path, first.line, first.case_id, first.field, first.message)
        self.args = ("\n".join(str(e) for e in errors),)
        self.errors, self.valid_id, self.case_line = list(errors), case_id, case_line


class LoadErrors(Exception):
    """All the problems found in a set of case files."""

    def __init__(self, errors: Sequence[Exception]):
        super().__init__("\n".join(str(e) for e in errors))
        self.errors = list(errors)


# What a check returns when it found a problem (already recorded in its _Context).
BAD: Any = type("Bad", (), {"__repr__": lambda self: "BAD"})()


class _Context:
    """Where we are while validating one case: used to phrase errors, and to collect
    them (:meth:`check`), so that one run reports every problem of the case."""

    def __init__(self, path: str, raw: Located, case_id: str | None = None):
        self.path, self.raw, self.case_id = path, raw, case_id
        self.problems: list[CaseError] = []
        self.output_shape = None     # a conv_transpose's output_shape, once it parses

    def error(self, field: str | None, message: str, line: int | None = None) -> CaseError:
        if line is None:
            line = self.raw.line_of(field.split("[")[0].split(".")[0]) if field else self.raw.line
        return CaseError(self.path, line, self.case_id, field, message)

    def check(self, fn, *args, **kwargs):
        """``fn(*args, **kwargs)``, or :data:`BAD` with its :class:`CaseError` recorded."""
        try:
            return fn(*args, **kwargs)
        except CaseError as exc:
            self.problems.extend(getattr(exc, "errors", [exc]))
            return BAD


def _good(*values) -> bool:
    """Whether none of ``values`` is :data:`BAD` (a dependent check may run)."""
    return all(v is not BAD for v in values)


# ---------------------------------------------------------------- files

def case_files(paths: Iterable[str | Path]) -> list[Path]:
    """The ``*.yaml`` / ``*.yml`` files named, directories searched recursively, sorted.

    A file named twice (directly and through its directory) is loaded once. A
    symbolic link inside a directory is followed only where it stays inside that
    directory: one that leads out of the tree named on the command line (to
    ``/etc/passwd``, a ``.env`` file) is refused, unread. Links to directories are
    never descended into (their files, if inside the tree, are found where they are).
    """
    found: dict[Path, Path] = {}
    errors: list[SourceError] = []
    for p in map(Path, paths):
        try:
            is_dir = stat.S_ISDIR(os.stat(p).st_mode)
        except FileNotFoundError:
            raise LoadErrors([SourceError(str(p), 0, "no such file or directory")]) from None
        except OSError as exc:  # a symbolic-link loop, a path through a file, no permission
            raise LoadErrors([SourceError(str(p), 0, f"cannot read: {exc.strerror}")]) from None
        if not is_dir:   # named on the command line: read it (its type and size are checked)
            found.setdefault(p.resolve(), p)
            continue
        for q in _tree_files(p, errors):
            found.setdefault(q.resolve(), q)
    if errors:
        raise LoadErrors(errors)
    return list(found.values())


def _tree_files(root: Path, errors: list) -> list[Path]:
    """The case files under the directory ``root``, sorted; links out of it are errors."""
    top, out = root.resolve(), []
    for folder, dirs, names in os.walk(root, followlinks=False):
        dirs.sort()
        for name in sorted(names) + dirs:
            q = Path(folder, name)
            if name in names and q.suffix not in CASE_SUFFIXES:
                continue
            problem = _link_problem(q, top, root) if q.is_symlink() else ""
            if problem:
                errors.append(SourceError(str(q), 0, problem))
            elif name in names:
                out.append(q)
    return sorted(out)


def _link_problem(link: Path, top: Path, root: Path) -> str:
    """Why the symbolic link ``link`` in the tree ``root`` is not followed ("" if it is)."""
    try:
        target = link.resolve(strict=True)
    except (OSError, RuntimeError):
        return "a symbolic link that leads nowhere (dangling, or a loop)"
    if target != top and top not in target.parents:
        what = "directory" if target.is_dir() else "file"
        return (f"a symbolic link to a {what} outside {root} (not followed: name it on the "
                "command line if it is a case file you mean to run)")
    return ""


def load_cases(paths: Iterable[str | Path]) -> list[Case]:
    """Load and validate every case under ``paths``; raise :class:`LoadErrors` on any
    problem, with every problem of every file: a file's in line order, files in order."""
    cases, errors, seen = [], [], {}
    for path in case_files(paths):
        if len(cases) >= MAX_RUN_CASES:
            errors.append(SourceError(str(path), 0, f"not loaded: the files before it already "
                                      f"hold {MAX_RUN_CASES} cases, the limit of one run "
                                      "(name fewer files)"))
            break
        try:
            document = load(path)
        except SourceError as exc:
            errors.append(exc)
            continue
        budget = _Budget(str(path), MAX_RUN_CASES - len(cases))
        found: list[Exception] = []
        for entry in _cases_of_document(str(path), document, found, budget):
            # a refused case with a valid id still claims it: a duplicate is a problem too
            case_id, line = ((entry.id, entry.line) if isinstance(entry, Case)
                             else (entry.valid_id, entry.case_line))
            if case_id is not None and case_id in seen:
                found.append(CaseError(str(path), line, case_id, "id",
                                       f"duplicate id, first defined at {seen[case_id]}"))
                continue
            if case_id is not None:
                seen[case_id] = f"{path}:{line}"
            if isinstance(entry, Case):
                cases.append(entry)
        errors += sorted(found, key=lambda e: e.line)   # stable: same line, order found
    if errors:
        raise LoadErrors(errors)
    return cases


class _Budget:
    """How many more cases a file may expand to: ``MAX_FILE_CASES``, and what is left of
    ``MAX_RUN_CASES``. Counted before a matrix expands, so nothing unbounded is built."""

    def __init__(self, path: str, run_left: int):
        self.path, self.left = path, min(MAX_FILE_CASES, run_left)
        self.per_run = run_left < MAX_FILE_CASES

    def take(self, count: int, line: int) -> None:
        if count > self.left:
            limit = (f"{MAX_RUN_CASES} cases, the limit of one run (name fewer files)"
                     if self.per_run else f"{MAX_FILE_CASES} cases, the limit of one file "
                                          "(split it)")
            raise SourceError(self.path, line, f"the file expands to more than {limit}")
        self.left -= count


def _cases_of_document(path: str, document: object, errors: list,
                       budget: _Budget | None = None) -> Iterator[Case | CaseErrors]:
    """Each case of a parsed file: a :class:`Case`, or the :class:`CaseErrors` of one
    that is refused (its problems are added to ``errors`` too)."""
    if document is None or document == []:
        errors.append(SourceError(path, getattr(document, "line", 1),
                                  f"{'empty list' if document == [] else 'empty file'}: "
                                  "expected a case, a list of cases or a matrix"))
        return
    entries = document if isinstance(document, list) else [document]
    lines = getattr(document, "item_lines", [])
    for i, entry in enumerate(entries):
        if not isinstance(entry, Located):
            line = lines[i] if i < len(lines) else 1
            errors.append(SourceError(path, line, "expected a mapping (a case or a matrix), "
                                                  f"got {_type_name(entry)} {_show(entry)}"))
            continue
        try:
            raws = _expand_matrix(path, entry, errors, budget) if "matrix" in entry else [entry]
            if budget is not None and "matrix" not in entry:
                budget.take(1, entry.line)
        except SourceError as exc:
            errors.append(exc)
            return
        shared = _SharedProblems() if "matrix" in entry else None
        for raw in raws:
            try:
                yield parse_case(path, raw)
            except CaseErrors as exc:
                errors += shared.novel(exc.errors) if shared else exc.errors
                yield exc
        if shared:
            shared.annotate()


class _SharedProblems:
    """The cases of one matrix repeat each problem of its ``base`` (same line, field and
    message): the first case reports it, with how many more cases share it."""

    def __init__(self):
        self.first: dict[tuple, list] = {}   # key -> [the first error, how many more]

    def novel(self, errors: list[CaseError]) -> list[CaseError]:
        fresh = []
        for e in errors:
            key = (e.line, e.field, e.message)
            if key in self.first:
                self.first[key][1] += 1
            else:
                self.first[key] = [e, 0]
                fresh.append(e)
        return fresh

    def annotate(self) -> None:
        """Add to each reported problem how many more cases share it."""
        for e, more in self.first.values():
            if more:
                e.args = (f"{e} (and {more} more case{'s' if more > 1 else ''} of this "
                          "matrix)",)


# ---------------------------------------------------------------- matrix

def _expand_matrix(path: str, entry: Located, errors: list,
                   budget: _Budget | None = None) -> list[Located]:
    """The cartesian product of a ``matrix:`` block, as raw case mappings with ids."""
    try:
        return list(_matrix_cases(path, entry, budget))
    except CaseError as exc:
        errors.extend(getattr(exc, "errors", [exc]))
        return []


def _matrix_cases(path: str, entry: Located, budget: _Budget | None = None) -> Iterator[Located]:
    ctx = _Context(path, entry)
    for key in entry:
        if key != "matrix":
            raise ctx.error(_key_text(key), "unknown key next to 'matrix': a matrix entry "
                                            "holds only 'matrix' (put id, base and product "
                                            "inside it)", entry.line_of(key))
    spec = entry["matrix"]
    if not isinstance(spec, Located):
        raise ctx.error("matrix", f"expected a mapping with {', '.join(MATRIX_KEYS)}, "
                                  f"got {_type_name(spec)} {_show(spec)}")
    ctx = _Context(path, spec)
    if isinstance(spec.get("id"), str) and spec["id"].strip():
        ctx.case_id = spec["id"]
    _refuse_unknown(ctx, spec, MATRIX_KEYS, "matrix.")
    if ctx.problems:
        raise CaseErrors(ctx.problems, None, spec.line)
    ctx.case_id = _case_id(ctx, spec, "matrix.id")
    base = _matrix_base(ctx, spec)
    axes = _matrix_axes(ctx, spec)
    count = math.prod(len(a[1]) for a in axes)
    if count > MAX_MATRIX_CASES:
        raise ctx.error("matrix.product", f"expands to {count} cases; the limit is "
                                          f"{MAX_MATRIX_CASES}", spec.line_of("product"))
    if budget is not None:
        budget.take(count, spec.line_of("product"))
    seen: set[str] = set()
    for combo in itertools.product(*[range(len(a[1])) for a in axes]):
        raw = _matrix_case(ctx.case_id, base, axes, combo)
        if raw["id"] in seen:
            raise ctx.error("matrix.product", f"two cases get the id '{raw['id']}': give the "
                                              "values (or the groups' names) distinct labels",
                            spec.line_of("product"))
        seen.add(raw["id"])
        yield raw


def _matrix_base(ctx: _Context, spec: Located) -> Located:
    base = spec.get("base")
    if base is None:
        base = Located()
        base.line = spec.line
    if not isinstance(base, Located):
        raise ctx.error("matrix.base", f"expected a mapping of case keys, got "
                                       f"{_type_name(base)}", spec.line_of("base"))
    if "id" in base:
        raise ctx.error("matrix.base.id", "not allowed: every case of a matrix gets the id "
                                          "<matrix.id>/<labels>", base.line_of("id"))
    return base


_FIXED_IN_MATRIX = {
    "id": "each case gets the id <matrix.id>/<labels>",
    "claims": "claimed values belong to one case; put them in a group with the keys they "
              "depend on",
}


def _matrix_axes(ctx: _Context, spec: Located) -> list:
    product, line = spec.get("product"), spec.line_of("product")
    if not isinstance(product, Located) or not product:
        raise ctx.error("matrix.product", "expected a mapping from a case key (or a group name) "
                                          "to a non-empty list of values", line)
    axes = []
    for name, values in product.items():
        field, line = f"matrix.product.{_key_text(name)}", product.line_of(name)
        if name in _FIXED_IN_MATRIX:
            raise ctx.error(field, f"cannot vary in a matrix: {_FIXED_IN_MATRIX[name]}", line)
        if not isinstance(values, list) or not values:
            raise ctx.error(field, f"expected a non-empty list of values, got "
                                   f"{_type_name(values)} {_show(values)}", line)
        is_group = name not in CASE_KEYS
        if is_group:
            _check_group(ctx, field, name, values, line)
        axes.append((name, values, is_group, line))
    return axes


def _check_group(ctx: _Context, field: str, name: str, values: list, line: int) -> None:
    for i, value in enumerate(values):
        if not isinstance(value, Located):
            raise ctx.error(f"{field}[{i}]", f"{name!r} is not a case key, "
                            "so its values must be mappings of case keys (a group); known "
                            f"keys: {', '.join(CASE_KEYS)}", getattr(values, "line", line))
        if "id" in value:
            raise ctx.error(f"{field}[{i}].id", "not allowed: every case of a matrix gets "
                                                "the id <matrix.id>/<labels>", value.line_of("id"))
        label = value.get("name", "")
        if not isinstance(label, (str, int)) or isinstance(label, bool) or _is_huge(label):
            raise ctx.error(f"{field}[{i}].name", f"expected a short label (a string), got "
                                                  f"{_show(label)}", value.line_of("name"))


def _matrix_case(prefix: str, base: Located, axes: list, combo: tuple) -> Located:
    raw = Located(base)
    raw.line, raw.key_lines = base.line, dict(base.key_lines)
    labels = []
    for (name, values, is_group, line), i in zip(axes, combo):
        value = values[i]
        if is_group:
            items = {k: v for k, v in value.items() if k != "name"}
            raw.update(items)
            raw.key_lines.update({k: value.line_of(k) for k in items})
            labels.append(str(value.get("name", f"{name}{i}")))
        else:
            raw[name] = value
            raw.key_lines[name] = getattr(value, "line", line)
            labels.append(_label(name, value, i))
    raw["id"] = re.sub(r"\s+", "_", f"{prefix}/{'-'.join(labels)}")
    raw.key_lines["id"] = raw.line
    return raw


_LABEL_PREFIX = {"strides": "s", "dilations": "d", "kernel_size": "k", "input_size": "in",
                 "batch": "n", "in_channels": "ci", "out_channels": "co", "groups": "g",
                 "channel_multiplier": "m", "output_padding": "op"}


def _label(name: str, value: Any, index: int) -> str:
    """The part of a derived id that names one value of a product axis."""
    if isinstance(value, dict):  # a generator: too long to spell out
        return f"{name}{index}"
    if name == "padding" and isinstance(value, list) and all(
            isinstance(p, list) and len(p) == 2 for p in value):
        return "pad" + "_".join(f"{_compact(a)}-{_compact(b)}" for a, b in value)
    if name in _LABEL_PREFIX:
        return _LABEL_PREFIX[name] + _compact(value)
    if name in ("padding", "data_format", "filter_format", "dtype", "op"):
        return _compact(value)
    return f"{name}={_compact(value)}"


# ---------------------------------------------------------------- one case

def parse_case(path: str, raw: Located) -> Case:
    """Validate one raw case mapping and build its :class:`Case`; :class:`CaseErrors`
    with every problem found.

    Each key is checked on its own, so every bad field is reported, not only the first.
    A check that needs other keys runs only when those passed (docs/cases.md, Errors):
    the keys whose meaning depends on the op's rank need a valid ``op``; the shapes need
    their layouts and values; the consistency of the shapes with each other (channels,
    sizes, ``dy``, a transposed conv's output) needs every key they are made of, and
    stops at its first problem, since each step assumes the ones before it; the values
    needed, their range in the dtype and the claimed values' shapes need the shapes to
    be consistent.
    """
    ctx = _Context(path, raw)
    case_id = raw.get("id")
    if isinstance(case_id, str) and case_id.strip():
        ctx.case_id = case_id
    _refuse_unknown(ctx, raw, CASE_KEYS)
    case_id = ctx.check(_case_id, ctx, raw, "id")
    op = ctx.check(lambda: ops.get(_choice(ctx, raw, "op", OPS, required=True)))
    grads = ctx.check(_grads, ctx, raw)
    dtype = ctx.check(_choice, ctx, raw, "dtype", dtypes.NAMES, default="float32")
    description = ctx.check(_optional_str, ctx, raw, "description")
    source = ctx.check(_optional_str, ctx, raw, "source")
    values = {name: ctx.check(_value_spec, ctx, raw, name) for name in ops.TENSORS}
    _refuse_shorthand_clash(ctx, raw)
    claims = _claims(ctx, raw)
    case, consistent = (_shaped_case(ctx, raw, op, values) if _good(op) else BAD), False
    if _good(case):
        case = dataclasses.replace(
            case, id=case_id if _good(case_id) else "", grads=grads if _good(grads) else GRADS,
            dtype=dtype if _good(dtype) else "float64",
            description=description if _good(description) else "",
            source=source if _good(source) else "")
        consistent = _good(ctx.check(_check_consistency, ctx, case))
        if consistent and _good(grads):
            ctx.check(_check_values_present, ctx, case)
        if consistent and _good(dtype):
            ctx.check(_check_values_fit_dtype, ctx, case)
    if _good(claims, grads):
        _check_claimed_values(ctx, raw, claims, grads, case if consistent else None)
    if ctx.problems:
        raise CaseErrors(ctx.problems, case_id if _good(case_id) else None, raw.line)
    return dataclasses.replace(case, claims=tuple(claims))


def _shaped_case(ctx: _Context, raw: Located, op, values: dict) -> Case:
    """The keys that depend on the op (layouts, strides, dilations, padding, the op's own
    keys) and the shapes, as a :class:`Case` (with placeholder id, grads, dtype and
    texts), or :data:`BAD` when one of them has a problem (each one recorded)."""
    rank = op.rank
    data_format = ctx.check(_choice, ctx, raw, "data_format", layouts.data_formats(rank),
                            default=layouts.data_formats(rank)[0])
    filter_layouts = layouts.filter_layouts(rank, op.filter_letters)
    default_filter = (layouts.depthwise_formats(rank) if op.kind == "depthwise"
                      else layouts.filter_formats(rank))[0]     # HWIO, or depthwise HWCM
    filter_format = ctx.check(_choice, ctx, raw, "filter_format", filter_layouts,
                              default=default_filter)
    strides = ctx.check(_int_tuple, ctx, raw, "strides", rank, minimum=1, default=1)
    dilations = ctx.check(_int_tuple, ctx, raw, "dilations", rank, minimum=1, default=1)
    padding = ctx.check(_padding, ctx, raw, rank)
    op_keys = ctx.check(_op_keys, ctx, raw, op,
                        data_format if _good(data_format) else layouts.data_formats(rank)[0])
    input_shape = filter_shape = BAD
    if _good(data_format, values["x"]):
        input_shape = ctx.check(_input_shape, ctx, raw, rank, data_format, values["x"])
    if _good(filter_format, values["w"], op_keys):
        filter_shape = ctx.check(_filter_shape, ctx, raw, op, filter_format, values["w"],
                                 op_keys.get("groups", 1))
    if not _good(data_format, filter_format, strides, dilations, padding, op_keys,
                 input_shape, filter_shape, values["dy"]):
        return BAD
    op_keys = dict(op_keys)
    output_shape = op_keys.pop("_output_shape", None)
    case = Case(id="", op=op.name, grads=GRADS, data_format=data_format,
                filter_format=filter_format, padding=padding, strides=strides,
                dilations=dilations, dtype="float64", input_shape=input_shape,
                filter_shape=filter_shape, x=values["x"], w=values["w"], dy=values["dy"],
                **{t: values[t] for t in TANGENTS if _good(values[t])},
                file=ctx.path, line=raw.line, **op_keys)
    ctx.output_shape = output_shape
    return case


def _check_consistency(ctx: _Context, case: Case) -> None:
    """The shapes against each other: channels and groups, sizes and limits, ``dy``, and
    a transposed conv's output; the first problem stops it."""
    _check_geometry(ctx, case)
    if case.kind == "conv_transpose":
        _check_transposed_output(ctx, case, ctx.output_shape)


def _refuse_unknown(ctx: _Context, raw: Located, known: Sequence[str], prefix: str = "") -> None:
    """Each unknown key of ``raw`` (recorded in ``ctx``, every one)."""
    for key in raw:
        if key not in known:
            close = difflib.get_close_matches(key, known, n=1)
            hint = f" (did you mean '{close[0]}'?)" if close else \
                f"; known keys: {', '.join(known)}"
            ctx.problems.append(ctx.error(f"{prefix}{_key_text(key)}", f"unknown key{hint}",
                                          raw.line_of(key)))


def _required_str(ctx: _Context, raw: Located, key: str, field: str | None = None) -> str:
    field = field or key
    if key not in raw:
        raise ctx.error(field, "required: a unique name such as conv2d/same-s2 (it is also "
                               "the test id)", raw.line)
    value = raw[key]
    if not isinstance(value, str) or not value.strip():
        raise ctx.error(field, f"expected a non-empty string, got {_type_name(value)}",
                        raw.line_of(key))
    return value


def _case_id(ctx: _Context, raw: Located, field: str) -> str:
    value = _required_str(ctx, raw, "id", field)
    if len(value) > MAX_ID_CHARS:
        raise ctx.error(field, f"{_show(value)} is {len(value)} characters long; the limit is "
                               f"{MAX_ID_CHARS}", raw.line_of("id"))
    if re.search(r"\s", value):
        raise ctx.error(field, f"{_show(value)} contains whitespace; ids name tests and files "
                               "(use -, _, . or / instead)", raw.line_of("id"))
    return value


def _optional_str(ctx: _Context, raw: Located, key: str) -> str:
    value = raw.get(key, "")
    if not isinstance(value, str):
        raise ctx.error(key, f"expected a string, got {_type_name(value)}")
    return value


def _choice(ctx: _Context, raw: Located, key: str, allowed: Sequence[str], *,
            required: bool = False, default: str | None = None) -> str:
    if key not in raw:
        if required:
            raise ctx.error(key, f"required; one of {', '.join(allowed)}", raw.line)
        return default
    value = raw[key]
    if not isinstance(value, str) or value not in allowed:
        raise ctx.error(key, f"{_show(value)} is not one of {', '.join(allowed)}"
                             f"{_case_hint(value, allowed)}")
    return value


def _case_hint(value: object, allowed: Sequence[str]) -> str:
    """`` (did you mean 'SAME'?)`` when ``value`` is an allowed name in the wrong case."""
    same = [a for a in allowed if isinstance(value, str) and a.lower() == value.lower()]
    return f" (did you mean '{same[0]}'?)" if same else ""


def _grads(ctx: _Context, raw: Located) -> tuple[str, ...]:
    value = raw.get("grads", list(GRADS))
    allowed = ops.ALL_GRADS
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, list) or not value:
        raise ctx.error("grads", f"expected a non-empty list of {', '.join(allowed)}, got "
                                 f"{_show(value)}")
    for i, g in enumerate(value):
        if not isinstance(g, str) or g not in allowed:
            raise ctx.error(f"grads[{i}]", f"{_show(g)} is not one of {', '.join(allowed)}"
                                           f"{_case_hint(g, allowed)}")
    if len(set(value)) != len(value):
        raise ctx.error("grads", f"lists a gradient twice: {_show(value)}")
    return tuple(g for g in allowed if g in value)


def _int_tuple(ctx: _Context, raw: Located, key: str, length: int, *, minimum: int,
               default: int | None = None) -> tuple[int, ...]:
    if key not in raw and default is not None:
        return (default,) * length
    value = raw.get(key)
    if _is_int(value):
        value = [value] * length
    if not isinstance(value, list) or len(value) != length:
        raise ctx.error(key, f"expected {length} integer(s) (one per spatial dimension), "
                             f"got {_show(value)}")
    for i, v in enumerate(value):
        if not _is_int(v):
            raise ctx.error(f"{key}[{i}]", f"expected an integer, got {_type_name(v)} "
                                           f"{_show(v)}")
        _check_bounds(ctx, key, f"{key}[{i}]", v, minimum)
    return tuple(value)


def _check_bounds(ctx: _Context, field: str, name: str, value: int, minimum: int,
                  line: int | None = None) -> None:
    """``minimum <= value <= MAX_ELEMENTS``: no size, stride or pad is larger than a tensor."""
    if value < minimum:
        raise ctx.error(field, f"{name}={_show(value)} must be >= {minimum}", line)
    if value > MAX_ELEMENTS:
        raise ctx.error(field, f"{name}={_show(value)} must be <= {MAX_ELEMENTS}", line)


def _padding(ctx: _Context, raw: Located, rank: int):
    value = raw.get("padding", "VALID")
    if value == "SAME_UPPER":   # ONNX's name for TensorFlow's SAME
        return "SAME"
    if isinstance(value, str):
        if value not in pad.MODES:
            raise ctx.error("padding", f"{_show(value)} is not one of {', '.join(pad.MODES)} "
                                       f"or a list of {rank} [before, after] pairs"
                                       f"{_case_hint(value, pad.MODES)}")
        return value
    if not isinstance(value, list) or len(value) != rank:
        raise ctx.error("padding", f"expected one of {', '.join(pad.MODES)} or a list of "
                                   f"{rank} [before, after] pairs (one per spatial dimension), "
                                   f"got {_show(value)}")
    pairs = []
    for i, pair in enumerate(value):
        if not (isinstance(pair, list) and len(pair) == 2 and all(map(_is_int, pair))):
            raise ctx.error(f"padding[{i}]", f"expected [before, after] integers, got "
                                             f"{_show(pair)}")
        # A negative pad crops that many elements (ONNX and torch allow it); how much
        # may be cropped is checked against the sizes in _check_sizes.
        for v in pair:
            _check_bounds(ctx, f"padding[{i}]", "pad", abs(v), 0)
        pairs.append(tuple(pair))
    return tuple(pairs)


# ---------------------------------------------------------------- values and shapes

def nested_shape(value: object) -> tuple[int, ...] | str:
    """Shape of a rectangular nested list of numbers, or a string saying what is wrong."""
    if _is_number(value):
        return () if _is_float64(value) else f"{_show(value)} is too large for float64"
    if not isinstance(value, list):
        return f"expected numbers, found {_type_name(value)} {_show(value)}"
    if not value:
        return (0,)   # the dimensions inside an empty list cannot be written: see fits()
    shapes = [nested_shape(v) for v in value]
    for s in shapes:
        if isinstance(s, str):
            return s
    for i, s in enumerate(shapes):
        if s != shapes[0]:
            return (f"ragged nested list: element [{i}] has shape {list(s)} but element [0] "
                    f"has shape {list(shapes[0])}")
    return (len(value), *shapes[0])


def fits(value_shape: tuple[int, ...], shape: tuple[int, ...]) -> bool:
    """Whether nested lists of ``value_shape`` can hold a tensor of ``shape``.

    Equal shapes fit; so does a shorter one ending at an empty list (``[[]]`` is
    ``(1, 0)``), when ``shape`` starts with it: nested lists cannot spell the
    dimensions inside an empty list, and a tensor with a 0 in its shape has no
    values to give anyway.
    """
    if value_shape == shape:
        return True
    return (0 < len(value_shape) < len(shape) and value_shape[-1] == 0
            and tuple(shape[:len(value_shape)]) == tuple(value_shape))


def shape_text(value_shape: tuple[int, ...], ndim: int) -> str:
    """A nested list's shape as written in messages: ``[1, 0, ...]`` when it stops at an
    empty list before ``ndim`` dimensions."""
    text = ", ".join(map(str, value_shape))
    partial = 0 < len(value_shape) < ndim and value_shape[-1] == 0
    return f"[{text}, ...]" if partial else f"[{text}]"


def _value_spec(ctx: _Context, raw: Located, name: str):
    if name not in raw or raw[name] is None:
        return None
    value = raw[name]
    if isinstance(value, Located):
        try:
            generators.check(name, value)
        except generators.GeneratorError as exc:
            raise ctx.error(exc.field, exc.message) from None
        return dict(value)
    if not isinstance(value, list):
        raise ctx.error(name, f"expected a nested list of numbers or a generator, got "
                              f"{_type_name(value)} {_show(value)} (for one value everywhere "
                              "write {constant: v})")
    shape = nested_shape(value)
    if isinstance(shape, str):
        raise ctx.error(name, shape)
    return value


# Batch and channel dimensions may be 0 (an empty tensor is a legitimate case);
# spatial sizes may not: an empty output comes from a kernel larger than the padded input.
EMPTY_ALLOWED = "NCIO"


def _shape_list(ctx: _Context, raw: Located, key: str, length: int,
                layout: str | None = None) -> tuple[int, ...]:
    """A list of sizes; ``layout`` names its dimensions (else all are spatial)."""
    value = raw[key]
    if not isinstance(value, list) or len(value) != length:
        raise ctx.error(key, f"expected {length} integers, got {_show(value)}")
    for i, v in enumerate(value):
        minimum = 0 if layout and layout[i] in EMPTY_ALLOWED else 1
        if not _is_int(v):
            raise ctx.error(key, f"{key}[{i}]={_show(v)} must be an integer >= {minimum}")
        if v == 0 and minimum == 1:
            raise ctx.error(key, f"{key}[{i}]=0 must be >= 1: "
                                 f"{_spatial_zero(layout[i] if layout else None, key)}")
        _check_bounds(ctx, key, f"{key}[{i}]", v, minimum)
    return tuple(value)


def _spatial_zero(letter: str | None, key: str = "") -> str:
    """Why a spatial size of 0 is refused."""
    what = f"{letter} is a spatial dimension" if letter else f"{key} holds spatial sizes"
    return f"{what}; only batch and channel dimensions may be 0"


def _shorthand_int(ctx: _Context, raw: Located, key: str, default: int) -> int:
    value = raw.get(key, default)
    if not _is_int(value):
        raise ctx.error(key, f"expected an integer >= 0, got {_show(value)}")
    _check_bounds(ctx, key, key, value, 0)
    return value


def _refuse_shorthand_clash(ctx: _Context, raw: Located) -> None:
    """Refuse shorthand keys that would be silently ignored (each one recorded)."""
    for key, shape in (("input_size", "input_shape"), ("kernel_size", "filter_shape")):
        if key in raw and shape in raw:
            ctx.problems.append(ctx.error(key, f"give {shape} or {key}, not both"))
    for key, users in SHORTHAND_USERS.items():
        if key in raw and not any(u in raw for u in users):
            ctx.problems.append(ctx.error(key, f"has no effect without {' or '.join(users)}"))


def _declared_shape(ctx, raw, key, values, layout, canonical_from_parts,
                    canonical: str | None = None) -> tuple[int, ...]:
    rank = len(layout) - 2
    shape = None
    if key in raw:
        shape = _shape_list(ctx, raw, key, rank + 2, layout)
    elif canonical_from_parts is not None:
        canonical = canonical or (layouts.canonical_data(rank) if key == "input_shape"
                                  else layouts.canonical_filter(rank))
        shape = layouts.shape_in(canonical_from_parts(), canonical, layout)
    if isinstance(values, list):
        value_shape, ndim = nested_shape(values), rank + 2
        name = "x" if key == "input_shape" else "w"
        partial = len(value_shape) < ndim and value_shape[-1] == 0
        if len(value_shape) != ndim and not partial:
            raise ctx.error(name, f"has {len(value_shape)} dimensions; {layout} needs {ndim}")
        if shape is not None and not fits(value_shape, shape):
            raise ctx.error(name, f"has shape {shape_text(value_shape, ndim)} but {key} is "
                                  f"{list(shape)}")
        if shape is None:
            for letter, size in zip(layout, value_shape):
                if size == 0 and letter not in EMPTY_ALLOWED:
                    raise ctx.error(name, f"has shape {shape_text(value_shape, ndim)} "
                                          f"({layout}): {_spatial_zero(letter)}")
            if partial:
                raise ctx.error(name, f"has shape {shape_text(value_shape, ndim)}: nested "
                                      f"lists cannot write the {ndim - len(value_shape)} "
                                      f"dimension(s) inside an empty list; give {key} as well")
            shape = value_shape
    if shape is None:
        raise ctx.error(key, "required (or give the values explicitly, or "
                        + ("input_size" if key == "input_shape" else "kernel_size") + ")",
                        raw.line)
    return shape


def _input_shape(ctx, raw, rank, data_format, x) -> tuple[int, ...]:
    parts = None
    if "input_size" in raw:
        def parts():
            size = _shape_list(ctx, raw, "input_size", rank)
            return (_shorthand_int(ctx, raw, "batch", 1),
                    _shorthand_int(ctx, raw, "in_channels", 1), *size)
    return _declared_shape(ctx, raw, "input_shape", x, data_format, parts)


def _filter_shape(ctx, raw, op, filter_format, w, groups) -> tuple[int, ...]:
    """The filter's shape; from the shorthand keys it is ``(out_channels, in_channels /
    groups, *kernel_size)`` for a conv, ``(in_channels, out_channels / groups, *kernel)``
    (torch's ConvTranspose weight) for a conv_transpose, and ``(in_channels,
    channel_multiplier, *kernel)`` for a depthwise conv."""
    parts = None
    if "kernel_size" in raw:
        def parts():
            size = _shape_list(ctx, raw, "kernel_size", op.rank)
            c_in = _shorthand_int(ctx, raw, "in_channels", 1)
            if op.kind == "depthwise":
                return (c_in, _shorthand_int(ctx, raw, "channel_multiplier", 1), *size)
            c_out = _shorthand_int(ctx, raw, "out_channels", 1)
            if op.kind == "conv_transpose":
                return (c_in, c_out // groups, *size)
            return (c_out, c_in // groups, *size)
    layout = (layouts.depthwise_canonical(op.rank) if op.kind == "depthwise"
              else layouts.canonical_filter(op.rank))
    return _declared_shape(ctx, raw, "filter_shape", w, filter_format, parts, layout)


def _check_transposed_output(ctx: _Context, case: Case, output_shape) -> None:
    """A conv_transpose's y must be an input the forward conv maps back onto x: per axis,
    ``output_size(y, k, s, d, pads) == x`` and ``output_padding < max(stride, dilation)``."""
    key = "output_shape" if output_shape else "padding"
    if output_shape is not None:
        n, c = case.canonical_input_shape[0], case.canonical_filter_shape[1] * case.groups
        given = layouts.shape_in(output_shape, case.data_format,
                                 layouts.canonical_data(case.rank))
        if tuple(given[:2]) != (n, c):
            raise ctx.error("output_shape", f"{list(output_shape)} ({case.data_format}) has "
                                            f"batch {given[0]} and {given[1]} channels; x and "
                                            f"the filter give batch {n} and {c} channels")
    for dim, axis, size, extra in zip(layouts.SPATIAL_LETTERS[case.rank], case.axes,
                                      case.canonical_input_shape[2:],
                                      case.output_padding or (0,) * case.rank):
        if extra >= max(axis.stride, axis.dilation):
            raise ctx.error("output_padding", f"dimension {dim}: {extra} must be smaller "
                                              f"than the stride {axis.stride} or the "
                                              f"dilation {axis.dilation}")
        if axis.size < 1 or axis.output_size != size:
            raise ctx.error(key, f"dimension {dim}: y of size {axis.size} padded by "
                                 f"{axis.before} + {axis.after} ({_padding_text(case.padding)}) "
                                 f"gives the forward conv {axis.output_size} outputs, but x has "
                                 f"{size}: the transposed conv cannot produce it")


def _op_keys(ctx: _Context, raw: Located, op, data_format: str) -> dict:
    """The keys only some ops take: ``groups`` (conv, conv_transpose), ``output_padding``
    and ``output_shape`` (conv_transpose), ``channel_multiplier`` (depthwise shorthand)."""
    allowed = {"conv": ("groups",), "depthwise": ("channel_multiplier",),
               "conv_transpose": ("groups", "output_padding", "output_shape")}[op.kind]
    for key in ("groups", "channel_multiplier", "output_padding", "output_shape"):
        if key in raw and key not in allowed:
            where = {"groups": "conv and conv_transpose ops (a depthwise conv has one group "
                               "per input channel)",
                     "channel_multiplier": "depthwise ops",
                     "output_padding": "conv_transpose ops",
                     "output_shape": "conv_transpose ops"}[key]
            raise ctx.error(key, f"only {where} take {key}; {op.name} does not")
    out = {}
    if "groups" in raw:
        groups = raw["groups"]
        if not _is_int(groups) or groups < 1:
            raise ctx.error("groups", f"expected an integer >= 1, got {_show(groups)}")
        _check_bounds(ctx, "groups", "groups", groups, 1)
        out["groups"] = groups
    if "output_padding" in raw:
        out["output_padding"] = _int_tuple(ctx, raw, "output_padding", op.rank, minimum=0,
                                           default=0)
    if "output_shape" in raw:
        shape = _shape_list(ctx, raw, "output_shape", op.rank + 2, data_format)
        out["transposed_size"] = tuple(shape[i] for i in layouts.spatial_dims(data_format))
        out["_output_shape"] = shape
    return out


def _shape_key(raw: Located, shape: str) -> str:
    """The key a shape came from (``filter_shape``, ``w`` or ``kernel_size``), to blame it."""
    return next((k for k in SHAPE_KEYS[shape] if isinstance(raw.get(k), (list, int))), shape)


def _check_geometry(ctx: _Context, case: Case) -> None:
    n, c, *sizes = case.canonical_input_shape
    o, i, *kernel = case.canonical_filter_shape
    key, g = _shape_key(ctx.raw, "filter_shape"), case.groups
    what = f"the filter {list(case.filter_shape)} ({case.filter_format})"
    given = f"the input {list(case.input_shape)} ({case.data_format}) has {c}"
    if case.kind == "depthwise":
        if o != c * (o // max(c, 1)) or layouts.shape_in(
                case.filter_shape, case.filter_format,
                layouts.depthwise_canonical(case.rank))[0] != c:
            raise ctx.error(key, f"{what} is for a different number of input channels: "
                                 f"{given}")
    elif case.kind == "conv_transpose":
        if o != c:
            raise ctx.error(key, f"{what} takes {o} channel(s) in (O, the channels of x in a "
                                 f"transposed conv) but {given}")
        if o % g:
            raise ctx.error("groups", f"groups={g} must divide the {o} channels of x")
    else:
        if i * g != c and g == 1:
            raise ctx.error(key, f"{what} has {i} input channel(s) but {given}")
        if i * g != c:
            raise ctx.error(key, f"{what} has {i} input channel(s) per group; with groups="
                                 f"{g} that makes {i * g}, but {given}")
        if o % g:
            raise ctx.error("groups", f"groups={g} must divide the filter's {o} output "
                                      "channels")
    # A kernel larger than the padded input is a legitimate case: its output is empty
    # (a 0 in y's shape), and frameworks differ on it.
    _check_sizes(ctx, case)
    for name in ops.TENSORS:
        try:
            generators.check_range_length(name, getattr(case, name), case.shape_of(name))
        except generators.GeneratorError as exc:
            raise ctx.error(exc.field, exc.message) from None
    _check_dy_shape(ctx, case)
    _check_tangent_shapes(ctx, case)


def _check_tangent_shapes(ctx: _Context, case: Case) -> None:
    """Explicit tangents and cotangents have the shape of the tensor they go with."""
    for name in TANGENTS:
        values = getattr(case, name)
        if isinstance(values, list):
            shape, want = nested_shape(values), case.shape_of(name)
            if not fits(shape, want):
                base = ops.base_tensor(name)
                raise ctx.error(name, f"{name} goes with {base} and must have its shape "
                                      f"{list(want)}, got {list(shape)}")


def _extent(shape) -> int:
    """The elements of ``shape`` with every empty dimension counted as 1: an empty tensor's
    other dimensions are still allocated as a shape (NumPy refuses one whose product
    overflows, batch 0 or not), so they are bounded as if it were not empty."""
    return math.prod(max(int(d), 1) for d in shape)


def _empty_note(shape) -> str:
    return " (an empty dimension counted as 1)" if 0 in shape else ""


def _check_sizes(ctx: _Context, case: Case) -> None:
    """Refuse, before anything is allocated, tensors or oracle work beyond the limits
    (empty dimensions counted as 1: :func:`_extent`)."""
    for dim, axis in zip(layouts.SPATIAL_LETTERS[case.rank], case.axes):
        if axis.size + min(axis.before, 0) + min(axis.after, 0) < 0:
            raise ctx.error("padding", f"dimension {dim}: negative pads {axis.before}, "
                                       f"{axis.after} crop more than the {axis.size} elements "
                                       "there are")
    for name in ("input_shape", "filter_shape"):
        shape = getattr(case, name)
        if _extent(shape) > MAX_ELEMENTS:
            raise ctx.error(_shape_key(ctx.raw, name),
                            f"{list(shape)} has {_extent(shape)} elements{_empty_note(shape)}; "
                            f"the limit is {MAX_ELEMENTS}")
    out = case.output_shape
    if _extent(out) > MAX_ELEMENTS:
        raise ctx.error(_shape_key(ctx.raw, "input_shape"),
                        f"the output {list(out)} has {_extent(out)} elements"
                        f"{_empty_note(out)}; the limit is {MAX_ELEMENTS}")
    n, c = case.canonical_input_shape[:2]
    padded = _extent([n, c, *(a.size + a.before + a.after for a in case.axes)])
    if padded > MAX_ELEMENTS:
        raise ctx.error("padding", f"the input padded by {[list(p) for p in case.pads]} has "
                                   f"{padded} elements; the limit is {MAX_ELEMENTS} (the "
                                   "oracle builds the padded input)")
    work = oracle_work(case)
    if work > MAX_ORACLE_WORK:
        raise ctx.error(_shape_key(ctx.raw, "input_shape"),
                        f"needs {work} multiply-adds of oracle work, counting "
                        f"{ORACLE_PASSES} evaluations per grad and {TAP_COST} per kernel tap; "
                        f"the limit is {MAX_ORACLE_WORK} (use fewer channels, grads, or a "
                        "smaller input or kernel)")


def oracle_work(case: Case) -> int:
    """The oracle's work for one case, in multiply-adds: every grad is evaluated
    ``ORACLE_PASSES`` times (:mod:`harness.verdict.expected`), each evaluation is one multiply-add
    per (output element, input channel, kernel tap), ``GEMM_SPEEDUP`` times fewer where the
    oracle takes its GEMM path (:func:`harness.numerics.oracle_gemm.worth_it`), plus ``TAP_COST`` per
    kernel tap (the tap path's Python loop runs one einsum per tap; the GEMM path's dx adds
    its blocks back tap by tap)."""
    taps = math.prod(case.canonical_filter_shape[2:])
    macs = math.prod(case.forward_shapes[1]) * case.canonical_filter_shape[1] * taps
    if oracle_gemm.worth_it(case.canonical_filter_shape, case.conv_groups):
        macs //= GEMM_SPEEDUP
    return ORACLE_PASSES * len(case.grads) * (macs + TAP_COST * taps)


def _check_dy_shape(ctx: _Context, case: Case) -> None:
    if not isinstance(case.dy, list):
        return
    dy_shape, out = nested_shape(case.dy), case.output_shape
    if not fits(dy_shape, out):
        raise ctx.error("dy", f"impossible input_shape for the given dy: dy has shape "
                        f"{shape_text(dy_shape, len(out))}, but input_shape {list(case.input_shape)} with "
                        f"filter_shape {list(case.filter_shape)}, strides "
                        f"{list(case.strides)}, dilations {list(case.dilations)} and padding "
                        f"{_padding_text(case.padding)} give dy the shape {list(out)}")


def _padding_text(padding) -> str:
    return padding if isinstance(padding, str) else str([list(p) for p in padding])


def _check_values_present(ctx: _Context, case: Case) -> None:
    for name, needed_by in NEEDED_BY.items():
        users = [g for g in case.grads if g in needed_by]
        empty = math.prod(case.shape_of(name)) == 0   # nothing to give
        if users and getattr(case, name) is None and not empty:
            raise ctx.error(name, f"required: {' and '.join(users)} "
                                  f"need{'s' if len(users) == 1 else ''} its values (give a "
                                  "nested list or a generator such as {random: normal})",
                            ctx.raw.line)


# ---------------------------------------------------------------- dtype range

def _check_values_fit_dtype(ctx: _Context, case: Case) -> None:
    """Refuse finite values that the case dtype would round to infinity."""
    for name in ops.TENSORS:
        largest = generators.largest_magnitude(getattr(case, name), case.shape_of(name))
        if largest is None or case.dtype == "float64":
            continue
        with np.errstate(over="ignore"):
            rounded = dtypes.round_to(np.float64(largest), case.dtype)
        if math.isinf(rounded):
            raise ctx.error(name, f"a value of magnitude {largest:g} overflows {case.dtype} "
                                  f"(largest finite {dtypes.largest_finite(case.dtype):g})")


# ---------------------------------------------------------------- claims

def _claims(ctx: _Context, raw: Located) -> list[Claim]:
    """The case's claims, each key checked on its own (what a claimed grad must match in
    the case is checked by :func:`_check_claimed_values`); :data:`BAD` if any is wrong."""
    value = raw.get("claims", [])
    if not isinstance(value, list):
        ctx.problems.append(ctx.error("claims", f"expected a list of {{source: ..., <grad>: "
                                                f"values}}, got {_type_name(value)}"))
        return BAD
    claims = [_claim(ctx, raw, i, entry) for i, entry in enumerate(value)]
    return claims if _good(*claims) else BAD


def _claim(ctx: _Context, raw: Located, i: int, entry: object) -> Claim:
    line = getattr(entry, "line", raw.line_of("claims"))
    if not isinstance(entry, Located):
        ctx.problems.append(ctx.error(
            f"claims[{i}]", "expected a mapping with 'source' and one or more of "
                            f"{', '.join(ops.ALL_GRADS)}, got {_type_name(entry)}", line))
        return BAD
    found = len(ctx.problems)
    for key in entry:
        if key not in ("source", "finding") and key not in ops.ALL_GRADS and \
                key not in CLAIM_PRECISION_KEYS:
            ctx.problems.append(ctx.error(
                f"claims[{i}]", f"unknown key {_show(key)}; expected 'source', any of "
                                f"{', '.join(ops.ALL_GRADS)}, and optionally "
                                f"{', '.join(CLAIM_PRECISION_KEYS)}, finding",
                entry.line_of(key)))
    source = entry.get("source")
    if not isinstance(source, str) or not source.strip():
        ctx.problems.append(ctx.error(f"claims[{i}].source", "required: who says these are "
                                      "the values (e.g. 'article, printed output')", line))
    grads = {k: v for k, v in entry.items() if k in ops.ALL_GRADS}
    if not grads:
        ctx.problems.append(ctx.error(f"claims[{i}]", f"claims nothing: give one or more of "
                                                      f"{', '.join(ops.ALL_GRADS)}", line))
    for grad, values in grads.items():
        shape = nested_shape(values)
        if isinstance(shape, str):
            ctx.problems.append(ctx.error(f"claims[{i}].{grad}", shape, entry.line_of(grad)))
    finding = entry.get("finding", "")
    if not isinstance(finding, str):
        ctx.problems.append(ctx.error(f"claims[{i}].finding", f"expected text, got "
                                      f"{_type_name(finding)}", entry.line_of("finding")))
    precision = _claim_precision(ctx, i, entry)
    if len(ctx.problems) > found:
        return BAD
    return Claim(source=source, values=grads, line=line, finding=" ".join(finding.split()),
                 **precision)


def _claim_precision(ctx: _Context, i: int, entry: Located) -> dict:
    """``decimals`` (digits printed after the point), ``rtol`` and ``atol`` of a claim
    (each problem recorded in ``ctx``)."""
    out = {}
    if "decimals" in entry:
        value = entry["decimals"]
        if not _is_int(value) or not 0 <= value <= MAX_CLAIM_DECIMALS:
            ctx.problems.append(ctx.error(
                f"claims[{i}].decimals", f"expected an integer from 0 to {MAX_CLAIM_DECIMALS} "
                                         f"(digits printed after the decimal point), got "
                                         f"{_show(value)}", entry.line_of("decimals")))
        else:
            out["decimals"] = value
    for key in ("rtol", "atol"):
        if key in entry:
            value = entry[key]
            if not _is_number(value) or not math.isfinite(value) or value < 0:
                ctx.problems.append(ctx.error(
                    f"claims[{i}].{key}", f"expected a finite number >= 0 (the source's own "
                                          f"tolerance), got {_show(value)}", entry.line_of(key)))
            else:
                out[key] = float(value)
    return out


def _check_claimed_values(ctx: _Context, raw: Located, claims: list[Claim],
                          grads: tuple[str, ...], case: Case | None) -> None:
    """Each claimed grad is one the case computes and, given the case (when its shapes
    are consistent), has that grad's shape (each problem recorded in ``ctx``)."""
    for i, claim in enumerate(claims):
        for grad, values in claim.values.items():
            field, line = f"claims[{i}].{grad}", raw["claims"][i].line_of(grad)
            if grad not in grads:
                ctx.problems.append(ctx.error(field, f"the case does not compute {grad} "
                                                     f"(grads: {', '.join(grads)})", line))
                continue
            shape = nested_shape(values)
            if case is not None and not fits(shape, case.shape_of(grad)):
                ctx.problems.append(ctx.error(
                    field, f"has shape {shape_text(shape, case.rank + 2)}, expected "
                           f"{list(case.shape_of(grad))} (the shape of {grad} in "
                           f"{case.data_format if grad != 'dw' else case.filter_format})",
                    line))
