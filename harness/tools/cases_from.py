"""Cases from real models: every conv layer of a Keras model or a torch module as a case.

``convgrad cases-from MODEL -o DIR [--input-shape N,H,W,C]`` writes
``DIR/<model>.yaml``: one case per conv layer with the layer's real geometry
(kernel, strides, dilation, padding, groups, depth multiplier, output padding),
the input shape the layer sees in the model (traced at the given input size),
and the layer's dtype; ids name the layer. A team then judges its port against
its own model's layers (docs/migration.md).

MODEL is a Keras model file (``.keras``, or a legacy ``.h5``) or ``module:attribute``
naming a Keras model, a torch ``nn.Module``, or a function returning one. Keras layers:
Conv1D/2D/3D, DepthwiseConv1D/2D, SeparableConv1D/2D (its depthwise and
pointwise parts), Conv1D/2D/3DTranspose. torch: ``nn.Conv1d/2d/3d`` (depthwise
is ``groups == in_channels``) and ``nn.ConvTranspose1d/2d/3d``; non-zero
padding modes (reflect, ...) are skipped with a note. Weights are not copied:
the cases use seeded random values of the layer's shapes.

A model is untrusted input, and a torch MODEL is user code: it is loaded and
traced in a process of its own (:func:`extract`), within :data:`MODEL_LIMIT_S`
seconds; a file that does not load, a model whose forward pass raises, hangs
or crashes its process costs one line (:class:`ModelError`), never the
command. A ``.keras`` or ``.h5`` file is loaded with Keras' ``safe_mode`` (a
``Lambda`` layer's code is refused, not run). What comes back is checked key
by key; every string a model chose (layer names in ids, descriptions, notes)
reaches the YAML only as a ``yaml.safe_dump`` value or an escaped one-line
``#`` comment, and the file is loaded back with the case loader before it is
written, atomically, to a place checked before the model was loaded.
"""
from __future__ import annotations

import contextlib
import importlib
import json
import os
import re
import secrets
import shutil
import signal
import stat
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Optional, Sequence

import numpy as np
import yaml

from harness.backend import procs
from harness.backend.adapters.tf_adapter import quiet_tensorflow_import
from harness.case.loader import LoadErrors, load_cases
from harness.safeio import files, outputs, printable

SPATIAL = {1: "W", 2: "HW", 3: "DHW"}
VALUES = {"x": {"random": "normal"}, "w": {"random": "normal"}, "dy": {"random": "normal"}}

MODEL_LIMIT_S = 300.0         # loading and tracing a model, in its own process
MAX_INPUT_DIMS = 6            # --input-shape: a conv3d input has 5
MAX_INPUT_ELEMENTS = 2 ** 24  # --input-shape's product: the case loader's bound on a tensor
MAX_REPLY_BYTES = 32 << 20    # what the model's process may answer
MAX_NOTES = 100               # notes written into the header
MAX_TEXT = 300                # characters of a description, a source, a note


class _NoAliases(yaml.SafeDumper):
    """Case files write every value out (the loader refuses YAML aliases)."""

    def ignore_aliases(self, data) -> bool:
        return True


class ModelError(ValueError):
    """A MODEL that cannot be loaded or traced; ``str`` says why (one line)."""

    def __init__(self, message: object):
        super().__init__(printable.excerpt(message, 2000))


def _slug(name: str) -> str:
    return re.sub(r"[^\w.-]+", "_", str(name)).strip("_.")[:100] or "layer"


def _dtype(name: str) -> str:
    name = str(name).removeprefix("torch.")
    return {"float64": "float64", "float32": "float32", "float16": "float16",
            "bfloat16": "bfloat16", "mixed_float16": "float16",
            "mixed_bfloat16": "bfloat16"}.get(name, "float32")


def _describe(exc: BaseException) -> str:
    try:
        text = " ".join(str(exc).split())
    except BaseException:  # noqa: BLE001 - a message that cannot be read
        text = ""
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


def parse_input_shape(text: str) -> list[int]:
    """``--input-shape`` (``1,224,224,3`` or ``1x224x224x3``) as sizes: 1 to
    :data:`MAX_INPUT_DIMS` decimal integers, each at least 1, whose product is at most
    :data:`MAX_INPUT_ELEMENTS`; anything else a :class:`ModelError`."""
    shown = f"--input-shape {printable.excerpt(text, 80)!s}"
    parts = str(text).replace("x", ",").split(",")
    if len(parts) > MAX_INPUT_DIMS:
        raise ModelError(f"{shown}: {len(parts)} dimensions; at most {MAX_INPUT_DIMS}")
    if not all(re.fullmatch(r"[0-9]{1,9}", p.strip()) for p in parts):
        raise ModelError(f"{shown}: expected sizes as decimal integers such as 1,224,224,3")
    shape = [int(p) for p in parts]
    if min(shape) < 1:
        raise ModelError(f"{shown}: every size must be at least 1")
    if int(np.prod(shape, dtype=object)) > MAX_INPUT_ELEMENTS:
        raise ModelError(f"{shown}: {int(np.prod(shape, dtype=object))} elements; at most "
                         f"{MAX_INPUT_ELEMENTS}")
    return shape


def load(spec: str):
    """The object MODEL names: a ``.keras`` (or ``.h5``) file, or ``module:attr`` (called if
    callable and not itself a model), loaded in this process. TensorFlow's import chatter
    is kept off the terminal."""
    with quiet_tensorflow_import():
        return _load(spec)


def _is_file_model(spec: str) -> bool:
    return spec.endswith((".keras", ".h5"))


_HDF5 = b"\x89HDF\r\n\x1a\n"


def check_model_file(spec: str) -> None:
    """A ``.keras`` or ``.h5`` MODEL checked before anything loads it: a regular file, not
    empty, with its format's signature (a zip archive; HDF5's, at 0, 512, 1024... bytes)."""
    try:
        st = files.regular_file(spec, "model file")
    except files.FileRefused as exc:
        reason = "no such model file" if exc.reason == files.NO_SUCH_FILE else exc.reason
        raise ModelError(f"{spec}: {reason}") from None
    if st.st_size == 0:
        raise ModelError(f"{spec}: is empty, not a model file")
    try:
        with open(spec, "rb") as f:
            if spec.endswith(".keras"):
                if f.read(4) != b"PK\x03\x04":
                    raise ModelError(f"{spec}: is not a .keras file (a zip archive); "
                                     "corrupt, or another format")
                return
            offset = 0
            while offset < min(st.st_size, 1 << 20):
                f.seek(offset)
                if f.read(8) == _HDF5:
                    return
                offset = 512 if offset == 0 else offset * 2
    except OSError as exc:
        raise ModelError(f"{spec}: cannot be read: {exc.strerror or exc}") from None
    raise ModelError(f"{spec}: is not an HDF5 file (.h5); corrupt, or another format")


def _load(spec: str):
    if _is_file_model(spec):
        check_model_file(spec)
        import keras  # loads TensorFlow (seconds): only for a .keras file
        try:
            return keras.models.load_model(spec, compile=False, safe_mode=True)
        except Exception as exc:  # noqa: BLE001 - a file that does not load: its reason
            raise ModelError(f"{spec}: Keras cannot load it: {_describe(exc)}") from None
    module, sep, attr = spec.partition(":")
    if not sep:
        raise ModelError(f"{spec}: expected a .keras file or module:attribute")
    try:
        if module.endswith(".py"):
            sys.path.insert(0, str(Path(module).resolve().parent))
            module = Path(module).stem
        elif os.getcwd() not in sys.path:
            # as `python -m` finds it: a module in the folder the user runs convgrad from
            # (the console script's sys.path holds its own bin folder, not the cwd)
            sys.path.append(os.getcwd())
        obj = getattr(importlib.import_module(module), attr)
        if callable(obj) and not _is_model(obj):
            obj = obj()
    except Exception as exc:  # noqa: BLE001 - the user's module: its message
        raise ModelError(f"{spec}: {_describe(exc)}") from None
    if not _is_model(obj):
        raise ModelError(f"{spec}: {type(obj).__name__} is neither a Keras model nor a torch "
                         "nn.Module")
    return obj


def _is_model(obj) -> bool:
    names = {c.__module__.split(".")[0] + "." + c.__name__ for c in type(obj).__mro__}
    return any(n in names for n in ("torch.Module", "keras.Model", "keras.Layer")) or \
        type(obj).__module__.startswith(("keras", "torch"))


# --------------------------------------------------------------- Keras

def _keras_layers(model):
    for layer in model.layers:
        if hasattr(layer, "layers") and layer.layers and layer is not model:
            yield from _keras_layers(layer)
        else:
            yield layer


def keras_cases(model, prefix: str, input_shape: Optional[Sequence[int]]) -> tuple[list, list]:
    if input_shape is not None:
        try:
            model(np.zeros(input_shape, dtype="float32"))
        except Exception as exc:  # noqa: BLE001 - the model's own failure: its words
            raise ModelError(f"{prefix}: the model's forward pass at input shape "
                             f"{list(input_shape)} raised {_describe(exc)}") from None
    cases, notes = [], []
    for layer in _keras_layers(model):
        kind = type(layer).__name__
        if not any(kind.startswith(k) for k in ("Conv", "DepthwiseConv", "SeparableConv")):
            continue
        try:
            shape = tuple(layer.input.shape)
        except (AttributeError, ValueError):
            notes.append(f"{layer.name}: no traced input shape (give --input-shape)")
            continue
        if any(s is None for s in shape[1:]):
            notes.append(f"{layer.name}: input shape {shape} is not fixed (give --input-shape)")
            continue
        if getattr(layer, "data_format", "channels_last") != "channels_last":
            notes.append(f"{layer.name}: channels_first Keras layers are not converted")
            continue
        cases += _keras_layer(layer, kind, (shape[0] or 1, *shape[1:]), prefix, notes)
    return cases, notes


def _keras_common(layer, rank: int) -> dict:
    return {"data_format": "N" + SPATIAL[rank] + "C",
            "padding": layer.padding.upper(), "strides": list(layer.strides),
            "dilations": list(layer.dilation_rate),
            "dtype": _dtype(getattr(layer, "compute_dtype", "float32"))}


def _keras_layer(layer, kind: str, shape, prefix: str, notes: list) -> list:
    rank = len(shape) - 2
    base = {"id": f"{prefix}/{_slug(layer.name)}", "description": f"Keras {kind} "
            f"{layer.name}", "source": f"{prefix} (layer {layer.name})",
            "grads": ["y", "dx", "dw"], "input_shape": list(shape), **VALUES}
    common = _keras_common(layer, rank)
    kernel = list(layer.kernel_size)
    if kind.startswith("DepthwiseConv"):
        return [{**base, "op": f"depthwise_conv{rank}d", **common, "filter_format":
                 SPATIAL[rank] + "CM",
                 "filter_shape": [*kernel, shape[-1], layer.depth_multiplier]}]
    if kind.startswith("SeparableConv"):
        m = layer.depth_multiplier
        depthwise = {**base, "id": base["id"] + "/depthwise", "op": f"depthwise_conv{rank}d",
                     **common, "filter_format": SPATIAL[rank] + "CM",
                     "filter_shape": [*kernel, shape[-1], m]}
        out = tuple(layer.output.shape)
        pointwise_in = [shape[0], *out[1:-1], shape[-1] * m]
        pointwise = {**base, "id": base["id"] + "/pointwise", "op": f"conv{rank}d",
                     "data_format": common["data_format"], "dtype": common["dtype"],
                     "padding": "VALID", "input_shape": pointwise_in,
                     "filter_format": SPATIAL[rank] + "IO",
                     "filter_shape": [*([1] * rank), shape[-1] * m, layer.filters]}
        return [depthwise, pointwise]
    if kind.endswith("Transpose"):
        out = tuple(layer.output.shape)
        case = {**base, "op": f"conv_transpose{rank}d", **common,
                "filter_format": SPATIAL[rank] + "IO",
                "filter_shape": [*kernel, layer.filters, shape[-1]],
                "output_shape": [shape[0], *out[1:]]}
        return [case]
    groups = getattr(layer, "groups", 1)
    case = {**base, "op": f"conv{rank}d", **common, "filter_format": SPATIAL[rank] + "IO",
            "filter_shape": [*kernel, shape[-1] // groups, layer.filters]}
    if groups != 1:
        case["groups"] = groups
    return [case]


# --------------------------------------------------------------- torch

def torch_cases(module, prefix: str, input_shape: Optional[Sequence[int]]) -> tuple[list, list]:
    import torch  # ~2 s at import: only for a torch MODEL, which loaded it already

    if input_shape is None:
        raise ModelError("a torch module needs --input-shape (N,C,H,W...) to trace")
    seen: list = []
    hooks = []
    conv_types = (torch.nn.Conv1d, torch.nn.Conv2d, torch.nn.Conv3d,
                  torch.nn.ConvTranspose1d, torch.nn.ConvTranspose2d, torch.nn.ConvTranspose3d)
    for name, m in module.named_modules():
        if isinstance(m, conv_types):
            hooks.append(m.register_forward_hook(
                lambda mod, args, out, name=name: seen.append(
                    (name, mod, tuple(args[0].shape), tuple(out.shape)))))
    try:
        dtype = next((p.dtype for p in module.parameters()), torch.float32)
        with torch.no_grad():
            try:
                module(torch.zeros(tuple(input_shape), dtype=dtype))
            except Exception as exc:  # noqa: BLE001 - the model's own failure: its words
                raise ModelError(f"{prefix}: the model's forward pass at input shape "
                                 f"{list(input_shape)} raised {_describe(exc)}") from None
    finally:
        for h in hooks:
            h.remove()
    cases, notes = [], []
    for name, mod, shape, out in seen:
        if mod.padding_mode != "zeros":
            notes.append(f"{name}: padding_mode={mod.padding_mode!r} is not a zero pad: "
                         "skipped")
            continue
        rank = len(shape) - 2
        transposed = isinstance(mod, (torch.nn.ConvTranspose1d, torch.nn.ConvTranspose2d,
                                      torch.nn.ConvTranspose3d))
        if isinstance(mod.padding, str):
            padding = mod.padding.upper()
        else:
            padding = [[p, p] for p in mod.padding]
        case = {"id": f"{prefix}/{_slug(name)}", "description": f"torch "
                f"{type(mod).__name__} {name}", "source": f"{prefix} (module {name})",
                "op": f"conv_transpose{rank}d" if transposed else f"conv{rank}d",
                "grads": ["y", "dx", "dw"], "data_format": "NC" + SPATIAL[rank],
                "filter_format": "OI" + SPATIAL[rank], "padding": padding,
                "strides": list(mod.stride), "dilations": list(mod.dilation),
                "dtype": _dtype(mod.weight.dtype), "input_shape": list(shape),
                "filter_shape": list(mod.weight.shape), **VALUES}
        if mod.groups != 1:
            case["groups"] = mod.groups
        if transposed:
            case["output_shape"] = list(out)
        cases.append(case)
    return cases, notes


# --------------------------------------------------------------- entry point

def cases_from(spec, input_shape: Optional[Sequence[int]] = None) -> tuple[str, list, list]:
    """(model name, case mappings, notes) of MODEL (a spec, or a model already loaded), in
    this process; anything that goes wrong is a :class:`ModelError`."""
    try:
        model = load(spec) if isinstance(spec, str) else spec
        name = _slug(getattr(model, "name", None) or type(model).__name__)
        prefix = f"models/{name}"
        if type(model).__module__.startswith("torch") or any(
                c.__module__.startswith("torch.nn") for c in type(model).__mro__):
            cases, notes = torch_cases(model, prefix, input_shape)
        else:
            cases, notes = keras_cases(model, prefix, input_shape)
    except ModelError:
        raise
    except Exception as exc:  # noqa: BLE001 - a model whose layers break the reading
        raise ModelError(f"{spec if isinstance(spec, str) else type(spec).__name__}: "
                         f"{_describe(exc)}") from None
    return name, cases, notes


def extract(spec: str, input_shape: Optional[Sequence[int]] = None,
            limit_s: Optional[float] = None) -> tuple[str, list, list]:
    """:func:`cases_from` of the MODEL ``spec`` run in a process of its own (a fresh
    interpreter with this one's ``sys.path``), within ``limit_s`` seconds (default
    :data:`MODEL_LIMIT_S`): a model that hangs, crashes or exits its process costs a
    :class:`ModelError`. Every process it starts is killed with it. Its answer is JSON,
    bounded in size, and checked by :func:`checked_cases`."""
    limit_s = MODEL_LIMIT_S if limit_s is None else limit_s
    if _is_file_model(spec):
        check_model_file(spec)   # the cheap refusals, without starting TensorFlow
    tag = secrets.token_hex(8)
    with _scratch() as folder:
        request = json.dumps({"spec": spec, "sys_path": [p for p in sys.path
                                                         if isinstance(p, str)],
                              "input_shape": list(input_shape) if input_shape else None})
        with _scratch_io():
            (folder / "request.json").write_text(request, encoding="utf-8")
            log = open(folder / "log", "wb")
        with log:
            try:
                proc = subprocess.Popen(
                    [sys.executable, "-m", "harness.tools.cases_from", "--child", str(folder)],
                    stdin=subprocess.DEVNULL, stdout=log, stderr=log, start_new_session=True,
                    env={**os.environ, procs.TAG_VARIABLE: tag})
            except OSError as exc:
                raise ModelError(f"{spec}: cannot start the process that loads it: "
                                 f"{exc.strerror or exc}") from None
            try:
                status = proc.wait(timeout=limit_s)
            except subprocess.TimeoutExpired:
                status = None
            finally:   # a timeout, or Ctrl-C: it and everything it started
                if proc.returncode is None:
                    procs.kill_all(proc.pid, tag)
                    proc.wait()
                procs.kill_all(proc.pid, tag, tree=False)   # its orphans, by their tag
        reply = _reply(folder / "reply.json")
        if status is None:
            raise ModelError(f"{spec}: loading and tracing it took longer than {limit_s:g} s;"
                             " stopped")
        if reply is None:
            how = (f"was killed by {_signal_name(-status)}" if status < 0 else
                   f"exited with status {status}")
            last = _last_line(folder / "log")
            raise ModelError(f"{spec}: the process loading it {how} before it answered"
                             + (f"; its last words: {last}" if last else ""))
    if not isinstance(reply, dict):
        raise ModelError(f"{spec}: the process loading it answered nonsense")
    if "error" in reply:
        raise ModelError(printable.excerpt(reply["error"], 2000))
    name, cases, notes = reply.get("name"), reply.get("cases"), reply.get("notes")
    if not isinstance(name, str) or not isinstance(notes, list):
        raise ModelError(f"{spec}: the process loading it answered nonsense")
    return _slug(name), checked_cases(cases, spec), [printable.line(n) for n in notes
                                                    if isinstance(n, str)]


@contextlib.contextmanager
def _scratch():
    """A private temporary folder (the model's process's request, answer and log; the YAML
    loaded back before it is written); a full or refused disk is an OutputError."""
    with _scratch_io():
        folder = tempfile.mkdtemp(prefix="convgrad-cases-from-")
    try:
        yield Path(folder)
    finally:
        shutil.rmtree(folder, ignore_errors=True)


@contextlib.contextmanager
def _scratch_io():
    try:
        yield
    except OSError as exc:
        raise outputs.OutputError(f"cases-from: cannot write its temporary files under "
                                  f"{tempfile.gettempdir()}: {exc.strerror or exc}") from None


def _signal_name(number: int) -> str:
    try:
        return signal.Signals(number).name
    except ValueError:
        return f"signal {number}"


def _reply(path: Path) -> object:
    try:
        st = os.lstat(path)
    except OSError:
        return None
    if not stat.S_ISREG(st.st_mode) or st.st_size > MAX_REPLY_BYTES:
        return {"error": f"{path.name}: an answer of {st.st_size} bytes, or not a file"}
    try:
        return json.loads(path.read_bytes().decode("utf-8", "replace"))
    except (OSError, ValueError, RecursionError):
        return None


def _last_line(path: Path) -> str:
    try:
        with open(path, "rb") as f:
            f.seek(max(os.fstat(f.fileno()).st_size - 4096, 0))
            lines = [ln for ln in f.read().decode("utf-8", "replace").splitlines() if ln.strip()]
    except OSError:
        return ""
    return printable.excerpt(lines[-1].strip(), 300) if lines else ""


# The keys a case made of a model may have, and what each holds.
_WORD = re.compile(r"[A-Za-z0-9_]{1,40}")
_ID = re.compile(r"[\w.-]{1,100}(/[\w.-]{1,100}){0,5}")
_SHAPES = ("input_shape", "filter_shape", "output_shape", "strides", "dilations")


def _ints(value: object, n_max: int = 8) -> list[int]:
    if not (isinstance(value, list) and 1 <= len(value) <= n_max
            and all(type(v) is int and 0 <= v <= 2 ** 31 for v in value)):
        raise ValueError("a list of sizes")
    return list(value)


def _check_key(key: str, value: object) -> object:
    if key in ("description", "source"):
        if not isinstance(value, str):
            raise ValueError("text")
        return printable.excerpt(value, MAX_TEXT)
    if key == "id":
        if not (isinstance(value, str) and _ID.fullmatch(value)
                and ".." not in value.split("/")):
            raise ValueError("an id of words, dots and dashes")
        return value
    if key in ("op", "data_format", "filter_format", "dtype"):
        if not (isinstance(value, str) and _WORD.fullmatch(value)):
            raise ValueError("a name")
        return value
    if key == "grads":
        if not (isinstance(value, list) and 1 <= len(value) <= 3
                and all(isinstance(g, str) and _WORD.fullmatch(g) for g in value)):
            raise ValueError("a list of grads")
        return list(value)
    if key == "padding":
        if isinstance(value, str) and _WORD.fullmatch(value):
            return value
        if isinstance(value, list) and 1 <= len(value) <= 3:
            return [_ints(pair, 2) for pair in value]
        raise ValueError("a padding")
    if key in _SHAPES:
        return _ints(value)
    if key == "groups":
        if type(value) is not int or not 1 <= value <= 2 ** 31:
            raise ValueError("a number of groups")
        return value
    if key in VALUES:
        if value != VALUES[key]:
            raise ValueError("random values")
        return dict(VALUES[key])
    raise ValueError("not a key of a case made of a model")


def checked_cases(cases: object, spec: str) -> list[dict]:
    """The case mappings a model's process answered, key by key (a model chose them): known
    keys with values of their types, text escaped and cut, ids of words (made unique); a
    :class:`ModelError` for anything else."""
    if not isinstance(cases, list) or len(cases) > 10_000:
        raise ModelError(f"{spec}: the process loading it answered nonsense (no list of "
                         "cases)")
    out, ids = [], set()
    for i, case in enumerate(cases):
        if not isinstance(case, dict) or "id" not in case:
            raise ModelError(f"{spec}: case {i} of its answer is not a case")
        checked = {}
        for key, value in case.items():
            try:
                checked[key] = _check_key(key, value)
            except ValueError as exc:
                raise ModelError(f"{spec}: case {i} of its answer: "
                                 f"{printable.excerpt(key, 40)}: expected {exc}") from None
        base, n = checked["id"], 2
        while checked["id"] in ids:   # two layer names that slug alike
            checked["id"], n = f"{base}-{n}", n + 1
        ids.add(checked["id"])
        out.append(checked)
    return out


def render(spec: object, cases: list, notes: list,
           input_shape: Optional[Sequence[int]] = None) -> str:
    """The YAML of ``cases``: a header of ``#`` comments (MODEL, the input shape, the
    notes), each one escaped line (:func:`harness.safeio.printable.comment`), then the cases
    as ``yaml.safe_dump`` values."""
    header = [f"# The conv layers of {printable.comment(spec, MAX_TEXT)}, written by convgrad "
              "cases-from" + (f" at input shape {list(input_shape)}" if input_shape else "")
              + "."]
    header += [f"# note: {printable.comment(n, MAX_TEXT)}" for n in notes[:MAX_NOTES]]
    if len(notes) > MAX_NOTES:
        header.append(f"# ... and {len(notes) - MAX_NOTES} more notes")
    return "\n".join(header) + "\n" + yaml.dump(cases, Dumper=_NoAliases, sort_keys=False,
                                                default_flow_style=None, width=100)


def write(spec, out_dir: str | Path, input_shape: Optional[Sequence[int]] = None,
          limit_s: Optional[float] = None) -> Path:
    """``out_dir/<model>.yaml``: the cases of MODEL. The place is checked first (an
    :class:`harness.safeio.outputs.OutputError` before any model is loaded); a MODEL given
    as a spec is read by :func:`extract` (its own process), one given as an object here;
    the YAML is loaded back by the case loader before it is written
    (:func:`harness.safeio.outputs.write_output`: atomically, never through a link)."""
    folder = outputs.check_dir(out_dir, "-o")
    if isinstance(spec, str):
        name, cases, notes = extract(spec, input_shape, limit_s)
    else:
        name, raw, notes = cases_from(spec, input_shape)
        try:
            plain = json.loads(json.dumps(raw, default=_plain))
        except (TypeError, ValueError) as exc:
            raise ModelError(f"{type(spec).__name__}: {_describe(exc)}") from None
        cases = checked_cases(plain, type(spec).__name__)
    shown = spec if isinstance(spec, str) else type(spec).__name__
    if not cases:
        raise ModelError(f"{shown}: no conv layer found" + (
            f" ({'; '.join(notes[:10])})" if notes else ""))
    text = render(shown, cases, notes, input_shape)
    out = folder / f"{_slug(name) or 'model'}.yaml"
    with _scratch() as scratch:
        trial = scratch / out.name
        with _scratch_io():
            trial.write_text(text, encoding="utf-8")
        try:
            load_cases([str(trial)])
        except LoadErrors as exc:
            first = str(exc.errors[0]).replace(str(trial), str(out)) if exc.errors else ""
            raise ModelError(f"{shown}: its cases do not load: {first}") from None
    return outputs.write_output(out, text, "-o")


def _plain(value: object) -> object:
    """JSON for what a framework hands back as a number (a NumPy integer, a TensorShape
    dimension)."""
    if isinstance(value, np.integer):
        return int(value)
    try:
        return int(value)
    except (TypeError, ValueError):
        raise TypeError(f"{type(value).__name__} is not plain data") from None


# --------------------------------------------------------------- the model's process

def _child(folder: Path) -> int:
    """``python -m harness.tools.cases_from --child FOLDER``: :func:`cases_from` of the
    request in FOLDER, answered as JSON in ``FOLDER/reply.json``."""
    request = json.loads((folder / "request.json").read_text(encoding="utf-8"))
    sys.path[:] = request["sys_path"]    # the parent's, where it found MODEL's module
    spec = request["spec"]
    try:
        name, cases, notes = cases_from(spec, request["input_shape"])
        reply = {"name": name, "cases": cases, "notes": [str(n) for n in notes]}
        text = json.dumps(reply, default=_plain)
    except ModelError as exc:
        text = json.dumps({"error": str(exc)})
    except BaseException as exc:  # noqa: BLE001 - SystemExit and kin from the model's code
        text = json.dumps({"error": f"{spec}: {_describe(exc)}"})
    (folder / "reply.json").write_text(text, encoding="utf-8")
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(0)   # without the frameworks' teardown (seconds, and a crash is no news)


if __name__ == "__main__" and sys.argv[1:2] == ["--child"]:
    _child(Path(sys.argv[2]))
