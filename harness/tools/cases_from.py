"""Cases from real models: every conv layer of a Keras model or a torch module as a case.

``convgrad cases-from MODEL -o DIR [--input-shape N,H,W,C]`` writes
``DIR/<model>.yaml``: one case per conv layer with the layer's real geometry
(kernel, strides, dilation, padding, groups, depth multiplier, output padding),
the input shape the layer sees in the model (traced at the given input size),
and the layer's dtype; ids name the layer. A team then judges its port against
its own model's layers (docs/migration.md).

MODEL is a Keras model file (``.keras``) or ``module:attribute`` naming a Keras
model, a torch ``nn.Module``, or a function returning one. Keras layers:
Conv1D/2D/3D, DepthwiseConv1D/2D, SeparableConv1D/2D (its depthwise and
pointwise parts), Conv1D/2D/3DTranspose. torch: ``nn.Conv1d/2d/3d`` (depthwise
is ``groups == in_channels``) and ``nn.ConvTranspose1d/2d/3d``; non-zero
padding modes (reflect, ...) are skipped with a note. Weights are not copied:
the cases use seeded random values of the layer's shapes.
"""
from __future__ import annotations

import importlib
import os
import re
import sys
from pathlib import Path
from typing import Optional, Sequence

import numpy as np
import yaml

from harness.backend.adapters.tf_adapter import quiet_tensorflow_import

SPATIAL = {1: "W", 2: "HW", 3: "DHW"}
VALUES = {"x": {"random": "normal"}, "w": {"random": "normal"}, "dy": {"random": "normal"}}


class _NoAliases(yaml.SafeDumper):
    """Case files write every value out (the loader refuses YAML aliases)."""

    def ignore_aliases(self, data) -> bool:
        return True


class ModelError(ValueError):
    """A MODEL that cannot be loaded or traced; ``str`` says why."""


def _slug(name: str) -> str:
    return re.sub(r"[^\w.-]+", "_", name).strip("_") or "layer"


def _dtype(name: str) -> str:
    name = str(name).removeprefix("torch.")
    return {"float64": "float64", "float32": "float32", "float16": "float16",
            "bfloat16": "bfloat16", "mixed_float16": "float16",
            "mixed_bfloat16": "bfloat16"}.get(name, "float32")


def load(spec: str):
    """The object MODEL names: a ``.keras`` file, or ``module:attr`` (called if callable
    and not itself a model). TensorFlow's import chatter is kept off the terminal."""
    with quiet_tensorflow_import():
        return _load(spec)


def _load(spec: str):
    if spec.endswith(".keras") or spec.endswith(".h5"):
        if not Path(spec).is_file():
            raise ModelError(f"{spec}: no such model file")
        import keras  # loads TensorFlow (seconds): only for a .keras file
        return keras.models.load_model(spec, compile=False)
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
        raise ModelError(f"{spec}: {type(exc).__name__}: {exc}") from None
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
        model(np.zeros(input_shape, dtype="float32"))
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
            module(torch.zeros(tuple(input_shape), dtype=dtype))
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
    """(model name, case mappings, notes) of MODEL (a spec, or a model already loaded)."""
    model = load(spec) if isinstance(spec, str) else spec
    name = _slug(getattr(model, "name", None) or type(model).__name__)
    prefix = f"models/{name}"
    if type(model).__module__.startswith("torch") or any(
            c.__module__.startswith("torch.nn") for c in type(model).__mro__):
        cases, notes = torch_cases(model, prefix, input_shape)
    else:
        cases, notes = keras_cases(model, prefix, input_shape)
    return name, cases, notes


def write(spec, out_dir: str | Path, input_shape: Optional[Sequence[int]] = None) -> Path:
    name, cases, notes = cases_from(spec, input_shape)
    if not cases:
        raise ModelError(f"{spec}: no conv layer found" + (f" ({'; '.join(notes)})"
                                                            if notes else ""))
    out = Path(out_dir) / f"{name}.yaml"
    out.parent.mkdir(parents=True, exist_ok=True)
    header = (f"# The conv layers of {spec}, written by convgrad cases-from"
              + (f" at input shape {list(input_shape)}" if input_shape else "") + ".\n"
              + "".join(f"# note: {n}\n" for n in notes))
    out.write_text(header + yaml.dump(cases, Dumper=_NoAliases, sort_keys=False,
                                      default_flow_style=None, width=100), encoding="utf-8")
    return out
