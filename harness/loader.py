"""Case files -> validated, frozen :class:`~harness.case.Case` objects.

Every problem is reported as ``path:line: case 'id': field: what is wrong``
(a :class:`CaseError`), before any array is allocated. The format is
documented in ``docs/cases.md``.
"""
from __future__ import annotations

import dataclasses
import difflib
import itertools
import math
from pathlib import Path
from typing import Any, Iterable, Iterator, Sequence

from harness import dtypes, layouts, padding as pad
from harness.case import GRADS, OPS, Case, Claim
from harness.yaml_source import Located, LocatedList, SourceError, load

# Refuse tensors and oracle work that would not fit in memory or time.
MAX_ELEMENTS = 2 ** 24          # per tensor (128 MiB in float64)
MAX_ORACLE_MACS = 2 ** 32       # multiply-adds of one oracle evaluation

CASE_KEYS = ("id", "description", "source", "op", "grads", "data_format", "filter_format",
             "padding", "strides", "dilations", "dtype", "input_shape", "filter_shape",
             "batch", "in_channels", "out_channels", "input_size", "kernel_size",
             "x", "w", "dy", "claims")
MATRIX_KEYS = ("id", "base", "product")
GENERATOR_PARAMS = {
    "normal": ("seed", "scale"),
    "uniform": ("seed", "low", "high"),
    "integers": ("seed", "low", "high"),
}
NEEDED_BY = {"x": ("y", "dw"), "w": ("y", "dx"), "dy": ("dx", "dw")}


class CaseError(Exception):
    """One problem in one case file, printable as ``path:line: case 'id': field: message``."""

    def __init__(self, path: str, line: int, case_id: str | None, field: str | None,
                 message: str):
        where = f"case '{case_id}': " if case_id else ""
        what = f"{field}: " if field else ""
        super().__init__(f"{path}:{line}: {where}{what}{message}")
        self.path, self.line, self.case_id, self.field = path, line, case_id, field


class LoadErrors(Exception):
    """All the problems found in a set of case files."""

    def __init__(self, errors: Sequence[Exception]):
        super().__init__("\n".join(str(e) for e in errors))
        self.errors = list(errors)


class _Context:
    """Where we are while validating one case: used to phrase errors."""

    def __init__(self, path: str, raw: Located, case_id: str | None = None):
        self.path, self.raw, self.case_id = path, raw, case_id

    def error(self, field: str | None, message: str, line: int | None = None) -> CaseError:
        if line is None:
            line = self.raw.line_of(field.split("[")[0].split(".")[0]) if field else self.raw.line
        return CaseError(self.path, line, self.case_id, field, message)


# ---------------------------------------------------------------- files

def case_files(paths: Iterable[str | Path]) -> list[Path]:
    """The ``*.yaml`` / ``*.yml`` files named, directories searched recursively, sorted."""
    found: list[Path] = []
    for p in map(Path, paths):
        if p.is_dir():
            found += sorted(q for q in p.rglob("*") if q.suffix in (".yaml", ".yml")
                            and q.is_file())
        elif p.exists():
            found.append(p)
        else:
            raise LoadErrors([SourceError(str(p), 0, "no such file or directory")])
    return found


def load_cases(paths: Iterable[str | Path]) -> list[Case]:
    """Load and validate every case under ``paths``; raise :class:`LoadErrors` on any problem."""
    cases, errors, seen = [], [], {}
    for path in case_files(paths):
        try:
            document = load(path)
        except SourceError as exc:
            errors.append(exc)
            continue
        for case in _cases_of_document(str(path), document, errors):
            if case.id in seen:
                errors.append(CaseError(case.file, case.line, case.id, "id",
                                        f"duplicate id, first defined at {seen[case.id]}"))
                continue
            seen[case.id] = f"{case.file}:{case.line}"
            cases.append(case)
    if errors:
        raise LoadErrors(errors)
    return cases


def _cases_of_document(path: str, document: object, errors: list) -> Iterator[Case]:
    if document is None:
        errors.append(SourceError(path, 1, "empty file: expected a case, a list of cases "
                                           "or a matrix"))
        return
    entries = document if isinstance(document, list) else [document]
    for entry in entries:
        if not isinstance(entry, Located):
            line = getattr(document, "line", 1)
            errors.append(SourceError(path, line, "expected a mapping (a case or a matrix), "
                                                  f"got {_type_name(entry)}"))
            continue
        raws = _expand_matrix(path, entry, errors) if "matrix" in entry else [entry]
        for raw in raws:
            try:
                yield parse_case(path, raw)
            except CaseError as exc:
                errors.append(exc)


# ---------------------------------------------------------------- matrix

def _expand_matrix(path: str, entry: Located, errors: list) -> list[Located]:
    """The cartesian product of a ``matrix:`` block, as raw case mappings with ids."""
    try:
        return list(_matrix_cases(path, entry))
    except CaseError as exc:
        errors.append(exc)
        return []


def _matrix_cases(path: str, entry: Located) -> Iterator[Located]:
    ctx = _Context(path, entry)
    if set(entry) != {"matrix"}:
        extra = sorted(set(entry) - {"matrix"})
        raise ctx.error(extra[0], "a matrix entry holds only the key 'matrix'")
    spec = entry["matrix"]
    if not isinstance(spec, Located):
        raise ctx.error("matrix", f"expected a mapping with {', '.join(MATRIX_KEYS)}")
    ctx = _Context(path, spec)
    _refuse_unknown(ctx, spec, MATRIX_KEYS, "matrix.")
    prefix = _required_str(ctx, spec, "id")
    ctx.case_id = prefix
    base = spec.get("base", Located())
    product = spec.get("product")
    if not isinstance(base, Located):
        raise ctx.error("base", "expected a mapping of case keys")
    if not isinstance(product, Located) or not product:
        raise ctx.error("product", "expected a mapping from a case key (or a group name) "
                                   "to a non-empty list of values")
    axes = []
    for name, values in product.items():
        if not isinstance(values, list) or not values:
            raise ctx.error(f"product.{name}", "expected a non-empty list of values",
                            product.line_of(name))
        is_group = name not in CASE_KEYS
        if name in ("id", "claims"):
            raise ctx.error(f"product.{name}", "cannot vary in a matrix", product.line_of(name))
        for i, v in enumerate(values):
            if is_group and not isinstance(v, Located):
                raise ctx.error(f"product.{name}[{i}]",
                                f"'{name}' is not a case key, so its values must be mappings "
                                f"of case keys (a group); known keys: {', '.join(CASE_KEYS)}",
                                getattr(values, "line", product.line_of(name)))
        axes.append((name, values, is_group, product.line_of(name)))
    for combo in itertools.product(*[range(len(a[1])) for a in axes]):
        yield _matrix_case(prefix, base, axes, combo)


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
            labels.append(_label(name, value))
    raw["id"] = f"{prefix}/{'-'.join(labels)}"
    raw.key_lines["id"] = raw.line
    return raw


_LABEL_PREFIX = {"strides": "s", "dilations": "d", "kernel_size": "k", "input_size": "in",
                 "batch": "n", "in_channels": "ci", "out_channels": "co"}


def _label(name: str, value: Any) -> str:
    def compact(v: Any) -> str:
        if isinstance(v, list):
            return "x".join(compact(e) for e in v)
        return str(v)
    if name == "padding" and isinstance(value, list):
        return "pad" + "_".join(f"{a}-{b}" for a, b in value)
    if name in _LABEL_PREFIX:
        return _LABEL_PREFIX[name] + compact(value)
    if name in ("padding", "data_format", "filter_format", "dtype", "op"):
        return str(value)
    return f"{name}={compact(value)}"


# ---------------------------------------------------------------- one case

def parse_case(path: str, raw: Located) -> Case:
    """Validate one raw case mapping and build its :class:`Case`."""
    ctx = _Context(path, raw)
    case_id = raw.get("id")
    if isinstance(case_id, str) and case_id.strip():
        ctx.case_id = case_id
    _refuse_unknown(ctx, raw, CASE_KEYS)
    case_id = _required_str(ctx, raw, "id")
    op = _choice(ctx, raw, "op", OPS, required=True)
    rank = layouts.spatial_rank(op)
    data_format = _choice(ctx, raw, "data_format", layouts.data_formats(rank),
                          default=layouts.data_formats(rank)[0])
    filter_format = _choice(ctx, raw, "filter_format", layouts.filter_formats(rank),
                            default=layouts.filter_formats(rank)[0])
    grads = _grads(ctx, raw)
    strides = _int_tuple(ctx, raw, "strides", rank, minimum=1, default=1)
    dilations = _int_tuple(ctx, raw, "dilations", rank, minimum=1, default=1)
    padding = _padding(ctx, raw, rank)
    dtype = _choice(ctx, raw, "dtype", dtypes.NAMES, default="float32")
    values = {name: _value_spec(ctx, raw, name) for name in ("x", "w", "dy")}
    input_shape = _input_shape(ctx, raw, rank, data_format, values["x"])
    filter_shape = _filter_shape(ctx, raw, rank, filter_format, values["w"])
    case = Case(id=case_id, op=op, grads=grads, data_format=data_format,
                filter_format=filter_format, padding=padding, strides=strides,
                dilations=dilations, dtype=dtype, input_shape=input_shape,
                filter_shape=filter_shape, x=values["x"], w=values["w"], dy=values["dy"],
                description=_optional_str(ctx, raw, "description"),
                source=_optional_str(ctx, raw, "source"), file=path, line=raw.line)
    _check_geometry(ctx, case)
    _check_values_present(ctx, case)
    return _with_claims(ctx, raw, case)


def _refuse_unknown(ctx: _Context, raw: Located, known: Sequence[str], prefix: str = "") -> None:
    for key in raw:
        if key not in known:
            close = difflib.get_close_matches(key, known, n=1)
            hint = f" (did you mean '{close[0]}'?)" if close else \
                f"; known keys: {', '.join(known)}"
            raise ctx.error(None, f"unknown key '{prefix}{key}'{hint}", raw.line_of(key))


def _type_name(value: object) -> str:
    return {Located: "a mapping", LocatedList: "a list", bool: "a boolean", str: "a string",
            int: "an integer", float: "a number", type(None): "nothing"}.get(
                type(value), type(value).__name__)


def _is_int(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _is_number(value: object) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _required_str(ctx: _Context, raw: Located, key: str) -> str:
    if key not in raw:
        raise ctx.error(key, "required")
    value = raw[key]
    if not isinstance(value, str) or not value.strip():
        raise ctx.error(key, f"expected a non-empty string, got {_type_name(value)}")
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
            raise ctx.error(key, f"required; one of {', '.join(allowed)}")
        return default
    value = raw[key]
    if value not in allowed or not isinstance(value, str):
        raise ctx.error(key, f"{value!r} is not one of {', '.join(allowed)}")
    return value


def _grads(ctx: _Context, raw: Located) -> tuple[str, ...]:
    value = raw.get("grads", list(GRADS))
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, list) or not value:
        raise ctx.error("grads", f"expected a non-empty list of {', '.join(GRADS)}")
    for i, g in enumerate(value):
        if g not in GRADS:
            raise ctx.error(f"grads[{i}]", f"{g!r} is not one of {', '.join(GRADS)}")
    if len(set(value)) != len(value):
        raise ctx.error("grads", "lists a gradient twice")
    return tuple(g for g in GRADS if g in value)


def _int_tuple(ctx: _Context, raw: Located, key: str, length: int, *, minimum: int,
               default: int | None = None) -> tuple[int, ...]:
    if key not in raw and default is not None:
        return (default,) * length
    value = raw.get(key)
    if _is_int(value):
        value = [value] * length
    if not isinstance(value, list) or len(value) != length:
        raise ctx.error(key, f"expected {length} integer(s) (one per spatial dimension), "
                             f"got {value!r}")
    for i, v in enumerate(value):
        if not _is_int(v):
            raise ctx.error(f"{key}[{i}]", f"expected an integer, got {v!r}")
        if v < minimum:
            raise ctx.error(key, f"{key}[{i}]={v} must be >= {minimum}")
    return tuple(value)


def _padding(ctx: _Context, raw: Located, rank: int):
    value = raw.get("padding", "VALID")
    if isinstance(value, str):
        if value not in pad.MODES:
            raise ctx.error("padding", f"{value!r} is not one of {', '.join(pad.MODES)} or a "
                                       f"list of {rank} [before, after] pairs")
        return value
    if not isinstance(value, list) or len(value) != rank:
        raise ctx.error("padding", f"expected one of {', '.join(pad.MODES)} or a list of "
                                   f"{rank} [before, after] pairs, got {value!r}")
    pairs = []
    for i, pair in enumerate(value):
        if not (isinstance(pair, list) and len(pair) == 2 and all(map(_is_int, pair))):
            raise ctx.error(f"padding[{i}]", f"expected [before, after] integers, got {pair!r}")
        if min(pair) < 0:
            raise ctx.error(f"padding[{i}]", f"pads must be >= 0, got {pair!r}")
        pairs.append(tuple(pair))
    return tuple(pairs)


# ---------------------------------------------------------------- values and shapes

def nested_shape(value: object) -> tuple[int, ...] | str:
    """Shape of a rectangular nested list of numbers, or a string saying what is wrong."""
    if _is_number(value):
        return ()
    if not isinstance(value, list):
        return f"expected numbers, found {_type_name(value)} {value!r}"
    if not value:
        return "empty list"
    shapes = [nested_shape(v) for v in value]
    for s in shapes:
        if isinstance(s, str):
            return s
    if any(s != shapes[0] for s in shapes):
        return f"ragged nested list: rows of shapes {sorted(set(shapes))}"
    return (len(value), *shapes[0])


def _value_spec(ctx: _Context, raw: Located, name: str):
    if name not in raw or raw[name] is None:
        return None
    value = raw[name]
    if isinstance(value, Located):
        _check_generator(ctx, name, value)
        return dict(value)
    shape = nested_shape(value)
    if isinstance(shape, str):
        raise ctx.error(name, shape)
    return value


def _check_generator(ctx: _Context, name: str, spec: Located) -> None:
    kinds = [k for k in ("random", "range", "constant") if k in spec]
    if len(kinds) != 1:
        raise ctx.error(name, "a generator has exactly one of 'random', 'range', 'constant', "
                              f"got {sorted(spec)}")
    kind = kinds[0]
    if kind == "random":
        dist = spec["random"]
        if dist not in GENERATOR_PARAMS:
            raise ctx.error(f"{name}.random", f"{dist!r} is not one of "
                                              f"{', '.join(GENERATOR_PARAMS)}")
        allowed = ("random",) + GENERATOR_PARAMS[dist]
    else:
        allowed = (kind,)
    for key in spec:
        if key not in allowed:
            raise ctx.error(f"{name}.{key}", f"not a parameter of this generator; "
                                             f"allowed: {', '.join(allowed)}")
    for key in ("seed", "low", "high"):
        if key in spec and not (_is_int(spec[key]) if key == "seed" or
                                spec.get("random") == "integers" else _is_number(spec[key])):
            raise ctx.error(f"{name}.{key}", f"expected a{'n integer' if key == 'seed' else ' number'}"
                                             f", got {spec[key]!r}")
    if spec.get("random") == "integers" and not ("low" in spec and "high" in spec):
        raise ctx.error(name, "random: integers needs 'low' and 'high' (both inclusive)")
    if "low" in spec and "high" in spec and spec["low"] > spec["high"]:
        raise ctx.error(name, f"low={spec['low']} is above high={spec['high']}")
    if "scale" in spec and not _is_number(spec["scale"]):
        raise ctx.error(f"{name}.scale", f"expected a number, got {spec['scale']!r}")
    if kind == "constant" and not _is_number(spec["constant"]):
        raise ctx.error(f"{name}.constant", f"expected a number, got {spec['constant']!r}")
    if kind == "range":
        r = spec["range"]
        if not (_is_int(r) or (isinstance(r, list) and len(r) == 2 and all(map(_is_int, r)))):
            raise ctx.error(f"{name}.range", f"expected a start or [start, stop] integers, "
                                             f"got {r!r}")


def _shape_list(ctx: _Context, raw: Located, key: str, length: int) -> tuple[int, ...]:
    value = raw[key]
    if not isinstance(value, list) or len(value) != length:
        raise ctx.error(key, f"expected {length} integers, got {value!r}")
    for i, v in enumerate(value):
        if not _is_int(v) or v < 1:
            raise ctx.error(key, f"{key}[{i}]={v!r} must be an integer >= 1")
    return tuple(value)


def _shorthand_int(ctx: _Context, raw: Located, key: str, default: int) -> int:
    value = raw.get(key, default)
    if not _is_int(value) or value < 1:
        raise ctx.error(key, f"expected an integer >= 1, got {value!r}")
    return value


def _declared_shape(ctx, raw, key, values, layout, canonical_from_parts) -> tuple[int, ...]:
    rank = len(layout) - 2
    shape = None
    if key in raw:
        shape = _shape_list(ctx, raw, key, rank + 2)
    elif canonical_from_parts is not None:
        shape = layouts.shape_in(canonical_from_parts(), layouts.canonical_data(rank)
                                 if key == "input_shape" else layouts.canonical_filter(rank),
                                 layout)
    if isinstance(values, list):
        value_shape = nested_shape(values)
        name = "x" if key == "input_shape" else "w"
        if len(value_shape) != rank + 2:
            raise ctx.error(name, f"has {len(value_shape)} dimensions; {layout} needs {rank + 2}")
        if shape is not None and shape != value_shape:
            raise ctx.error(name, f"has shape {list(value_shape)} but {key} is {list(shape)}")
        shape = value_shape
    if shape is None:
        raise ctx.error(key, "required (or give the values explicitly, or "
                             + ("input_size" if key == "input_shape" else "kernel_size") + ")")
    return shape


def _input_shape(ctx, raw, rank, data_format, x) -> tuple[int, ...]:
    parts = None
    if "input_size" in raw:
        def parts():
            size = _shape_list(ctx, raw, "input_size", rank)
            return (_shorthand_int(ctx, raw, "batch", 1),
                    _shorthand_int(ctx, raw, "in_channels", 1), *size)
    return _declared_shape(ctx, raw, "input_shape", x, data_format, parts)


def _filter_shape(ctx, raw, rank, filter_format, w) -> tuple[int, ...]:
    parts = None
    if "kernel_size" in raw:
        def parts():
            size = _shape_list(ctx, raw, "kernel_size", rank)
            return (_shorthand_int(ctx, raw, "out_channels", 1),
                    _shorthand_int(ctx, raw, "in_channels", 1), *size)
    return _declared_shape(ctx, raw, "filter_shape", w, filter_format, parts)


def _check_geometry(ctx: _Context, case: Case) -> None:
    n, c, *sizes = case.canonical_input_shape
    o, i, *kernel = case.canonical_filter_shape
    if i != c:
        raise ctx.error("filter_shape", f"filter has {i} input channels but the input "
                                        f"{list(case.input_shape)} ({case.data_format}) has {c}")
    for dim, axis in zip(layouts.SPATIAL_LETTERS[case.rank], case.axes):
        if axis.output_size < 1:
            raise ctx.error("padding", f"dimension {dim}: kernel {axis.kernel} (dilated extent "
                            f"{axis.effective_kernel}) does not fit the padded input "
                            f"{axis.size} + {axis.before} + {axis.after}")
    for name in ("input_shape", "filter_shape"):
        shape = getattr(case, name)
        if math.prod(shape) > MAX_ELEMENTS:
            raise ctx.error(name, f"{list(shape)} has {math.prod(shape)} elements; the limit "
                                  f"is {MAX_ELEMENTS}")
    out = case.output_shape
    if math.prod(out) > MAX_ELEMENTS:
        raise ctx.error("input_shape", f"the output {list(out)} has {math.prod(out)} elements;"
                                       f" the limit is {MAX_ELEMENTS}")
    macs = math.prod(case.canonical_output_shape) * i * math.prod(kernel)
    if macs > MAX_ORACLE_MACS:
        raise ctx.error("input_shape", f"needs {macs} multiply-adds per oracle evaluation; "
                                       f"the limit is {MAX_ORACLE_MACS}")
    for name in ("x", "w", "dy"):
        _check_range_length(ctx, name, getattr(case, name), case.shape_of(name))
    if isinstance(case.dy, list):
        dy_shape = nested_shape(case.dy)
        if dy_shape != out:
            raise ctx.error("dy", f"has shape {list(dy_shape)}, but input_shape "
                            f"{list(case.input_shape)} with filter {list(case.filter_shape)}, "
                            f"strides {list(case.strides)}, dilations {list(case.dilations)} "
                            f"and padding {_padding_text(case.padding)} give {list(out)}")


def _check_range_length(ctx: _Context, name: str, spec, shape: tuple[int, ...]) -> None:
    if isinstance(spec, dict) and isinstance(spec.get("range"), list):
        start, stop = spec["range"]
        if stop - start + 1 != math.prod(shape):
            raise ctx.error(f"{name}.range", f"[{start}, {stop}] holds {stop - start + 1} "
                                             f"values; shape {list(shape)} needs "
                                             f"{math.prod(shape)}")


def _padding_text(padding) -> str:
    return padding if isinstance(padding, str) else str([list(p) for p in padding])


def _check_values_present(ctx: _Context, case: Case) -> None:
    for name, needed_by in NEEDED_BY.items():
        users = [g for g in case.grads if g in needed_by]
        if users and getattr(case, name) is None:
            raise ctx.error(name, f"required: grads {users} depend on its values "
                                  "(give a nested list or a generator such as "
                                  "{random: normal, seed: 1})")


def _with_claims(ctx: _Context, raw: Located, case: Case) -> Case:
    value = raw.get("claims", [])
    if not isinstance(value, list):
        raise ctx.error("claims", "expected a list of {source: ..., <grad>: values}")
    claims = []
    for i, entry in enumerate(value):
        line = getattr(entry, "line", raw.line_of("claims"))
        if not isinstance(entry, Located):
            raise ctx.error(f"claims[{i}]", "expected a mapping with 'source' and one or more "
                                            f"of {', '.join(GRADS)}", line)
        for key in entry:
            if key != "source" and key not in GRADS:
                raise ctx.error(f"claims[{i}]", f"unknown key '{key}'; expected 'source' and "
                                                f"any of {', '.join(GRADS)}", entry.line_of(key))
        source = entry.get("source")
        if not isinstance(source, str) or not source.strip():
            raise ctx.error(f"claims[{i}].source", "required: who says so", line)
        grads = {k: v for k, v in entry.items() if k in GRADS}
        if not grads:
            raise ctx.error(f"claims[{i}]", f"claims nothing: give one or more of "
                                            f"{', '.join(GRADS)}", line)
        for grad, values in grads.items():
            field, where = f"claims[{i}].{grad}", entry.line_of(grad)
            if grad not in case.grads:
                raise ctx.error(field, f"the case does not compute {grad} (grads: "
                                       f"{list(case.grads)})", where)
            shape = nested_shape(values)
            if isinstance(shape, str):
                raise ctx.error(field, shape, where)
            if shape != case.shape_of(grad):
                raise ctx.error(field, f"has shape {list(shape)}, expected "
                                       f"{list(case.shape_of(grad))}", where)
        claims.append(Claim(source=source, values=grads, line=line))
    return dataclasses.replace(case, claims=tuple(claims))
