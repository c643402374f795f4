"""Diagnosis: which classic porting mistake explains a failing verdict, and its fix.

When an impl fails, the oracle is evaluated again under each mistaken
convention of the catalog (symmetric pads where TensorFlow's SAME is
asymmetric, the odd pad on the wrong side, a flipped kernel, ...); a mistake
*explains* the verdict when the impl's values match the oracle under that
mistake within the same bound. The fix is written for the impl's framework.

The catalog is data plus one small function per mistake: :class:`Mistake`
gives the inputs and geometry the mistaken code really computed with
(channels-first, like :func:`harness.case.ops.evaluate`) and how its result came
back; users add their own by appending to :data:`CATALOG` (or passing a
catalog to :func:`diagnose`).
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Callable, Optional, Sequence

import numpy as np

from harness.numerics import layouts
from harness.case import ops
from harness.case.model import Case
from harness.verdict.expected import expected_from_canonical
from harness.case.values import Inputs


@dataclass
class Attempt:
    """What code with one mistake computed with: channels-first tensors, the geometry, and
    how its result reached the case's layout (``back(grad, canonical) -> case layout``)."""

    x: np.ndarray
    w: np.ndarray
    dy: np.ndarray
    case: Case                                   # the geometry it used
    back: Callable[[str, np.ndarray], np.ndarray]
    note: str = ""                               # which variant, for the fix text


@dataclass(frozen=True)
class Mistake:
    id: str
    summary: str
    attempts: Callable[[Case, Inputs], list[Attempt]]   # [] where it changes nothing
    fix: Callable[[Case, str, Attempt], str]             # (case, framework, attempt) -> text


# --------------------------------------------------------------- helpers

def _canonical(case: Case, inputs: Inputs) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    return tuple(ops.to_canonical(case, n, getattr(inputs, n)) for n in ("x", "w", "dy"))


def _back(case: Case) -> Callable[[str, np.ndarray], np.ndarray]:
    return lambda grad, a: ops.from_canonical(case, grad, a)


def _explicit(case: Case, pads) -> Case:
    return dataclasses.replace(case, padding=tuple(tuple(int(v) for v in p) for p in pads))


def _pads_text(pads) -> str:
    return ", ".join(f"({b}, {a})" for b, a in pads)


def _torch_pad(pads) -> str:
    return "(" + ", ".join(str(v) for pair in reversed(pads) for v in pair) + ")"


def _padding_fix(case: Case, framework: str, wrong) -> str:
    """How to give the case's padding in the impl's framework."""
    pads, dims = case.pads, layouts.SPATIAL_LETTERS[case.rank]
    said = (f"your pads were {_pads_text(wrong)} ({', '.join(dims)}); "
            f"{case.padding_name} here means {_pads_text(pads)}")
    if framework == "torch":
        if case.kind == "conv_transpose":
            how = (f"compute the full output with padding=0 and crop it by {_pads_text(pads)} "
                   "(before, after) per dimension")
        elif case.padding == "SAME" and set(case.strides) == {1}:
            how = "use padding='same'"
        else:
            how = f"use F.pad(x, {_torch_pad(pads)}) and padding=0"
    elif framework == "jax":
        how = (f"use padding={case.padding!r}" if case.padding in ("SAME", "SAME_LOWER")
               else f"use padding={[tuple(p) for p in pads]}")
    elif framework == "tensorflow":
        how = (f"use padding='{case.padding}'" if case.padding in ("SAME", "VALID")
               else "pad explicitly: tf.pad(x, [[0, 0], " + ", ".join(
                   f"[{b}, {a}]" for b, a in pads) + ", [0, 0]]) then padding='VALID'")
    else:
        how = f"pad {_pads_text(pads)} (before, after) per spatial dimension"
    return f"{said}: {how}."


# --------------------------------------------------------------- the mistakes

def _symmetric(case: Case, inputs: Inputs) -> list[Attempt]:
    if case.padding == "VALID":
        return []
    x, w, dy = _canonical(case, inputs)
    out = []
    for note, pad_of in (("k // 2", lambda a: a.kernel // 2),
                         ("d * (k - 1) // 2", lambda a: a.dilation * (a.kernel - 1) // 2)):
        wrong = [(pad_of(a), pad_of(a)) for a in case.axes]
        if wrong != case.pads:
            out.append(Attempt(x, w, dy, _explicit(case, wrong), _back(case), note))
    return out


def _swapped(case: Case, inputs: Inputs) -> list[Attempt]:
    wrong = [(a, b) for b, a in case.pads]
    if wrong == case.pads:
        return []
    x, w, dy = _canonical(case, inputs)
    return [Attempt(x, w, dy, _explicit(case, wrong), _back(case))]


def _flip(a: np.ndarray) -> np.ndarray:
    return a[(slice(None), slice(None)) + (slice(None, None, -1),) * (a.ndim - 2)]


def _flipped(case: Case, inputs: Inputs) -> list[Attempt]:
    if all(k == 1 for k in case.canonical_filter_shape[2:]):
        return []
    x, w, dy = _canonical(case, inputs)
    plain = _back(case)
    # conv(x, flip(w)): its dw is the flip of the true dw
    return [Attempt(x, _flip(w), dy, case,
                    lambda g, a: plain(g, _flip(a) if g == "dw" else a))]


def _strides_swapped(case: Case, inputs: Inputs) -> list[Attempt]:
    if case.strides == case.strides[::-1]:
        return []
    x, w, dy = _canonical(case, inputs)
    wrong = dataclasses.replace(case, strides=case.strides[::-1])
    return [Attempt(x, w, dy, wrong, _back(case))]


def _dilation_ignored(case: Case, inputs: Inputs) -> list[Attempt]:
    if all(d == 1 for d in case.dilations):
        return []
    x, w, dy = _canonical(case, inputs)
    wrong = dataclasses.replace(case, dilations=(1,) * case.rank)
    return [Attempt(x, w, dy, wrong, _back(case))]


def _layout_reshaped(case: Case, inputs: Inputs) -> list[Attempt]:
    data = layouts.canonical_data(case.rank)
    if case.data_format == data:
        return []
    shape = lambda a: layouts.shape_in(a.shape, case.data_format, data)   # noqa: E731
    x = np.reshape(inputs.x, shape(inputs.x))
    dy = np.reshape(inputs.dy, shape(inputs.dy))
    w = ops.to_canonical(case, "w", inputs.w)
    plain = _back(case)

    def back(grad, a):
        if grad == "dw":
            return plain(grad, a)
        return np.reshape(a, case.shape_of(grad))
    return [Attempt(x, w, dy, case, back)]


def _filter_misread(case: Case, inputs: Inputs) -> list[Attempt]:
    if case.kind == "depthwise":
        return []
    filt = layouts.canonical_filter(case.rank)
    x, w, dy = _canonical(case, inputs)
    out = []
    if case.filter_format != filt:      # the filter's memory read as OIHW (a reshape)
        wr = np.reshape(inputs.w, w.shape)
        out.append(Attempt(x, wr, dy, case,
                           lambda g, a: a.reshape(case.filter_shape) if g == "dw"
                           else ops.from_canonical(case, g, a), "reshape"))
    o, i = w.shape[:2]
    if o == i and case.groups == 1:     # O and I swapped (HWIO read as HWOI, OIHW as IOHW)
        plain = _back(case)
        out.append(Attempt(x, np.swapaxes(w, 0, 1), dy, case,
                           lambda g, a: plain(g, np.swapaxes(a, 0, 1) if g == "dw" else a),
                           "O and I swapped"))
    return out


def _output_padding_misplaced(case: Case, inputs: Inputs) -> list[Attempt]:
    if case.kind != "conv_transpose" or not any(case.output_padding):
        return []
    x, w, dy = _canonical(case, inputs)
    wrong = [(b - p, a + p) for (b, a), p in zip(case.pads, case.output_padding)]
    return [Attempt(x, w, dy, _explicit(case, wrong), _back(case))]


CATALOG: list[Mistake] = [
    Mistake("symmetric-padding",
            "SAME ported as symmetric padding (k // 2 or d * (k - 1) // 2 on each side), "
            "where the total pad is odd and TensorFlow puts the extra one after the data",
            _symmetric, lambda c, f, t: _padding_fix(c, f, t.case.pads)),
    Mistake("pad-side-swapped", "the odd pad on the wrong side (SAME vs SAME_LOWER)",
            _swapped, lambda c, f, t: _padding_fix(c, f, t.case.pads)),
    Mistake("kernel-flipped",
            "a convolution (flipped kernel) where frameworks compute a cross-correlation",
            _flipped, lambda c, f, t: "do not flip the kernel: every framework's conv is a "
            "cross-correlation (no flip); a kernel flipped by hand (or scipy.signal.convolve) "
            "gives this result"),
    Mistake("strides-swapped", "per-axis strides given in the wrong order",
            _strides_swapped, lambda c, f, t: "give strides in "
            f"{', '.join(layouts.SPATIAL_LETTERS[c.rank])} order: {list(c.strides)}, not "
            f"{list(c.strides[::-1])}"),
    Mistake("dilation-ignored", "the dilation dropped (computed with dilation 1)",
            _dilation_ignored, lambda c, f, t: "pass the dilation: "
            + {"torch": f"dilation={tuple(c.dilations)}",
               "jax": f"rhs_dilation={tuple(c.dilations)}",
               "tensorflow": f"dilations={list(c.dilations)}"}.get(f, f"{list(c.dilations)}")),
    Mistake("layout-reshaped",
            "x and dy reshaped to channels-first where a transpose was needed",
            _layout_reshaped, lambda c, f, t: "transpose, do not reshape: "
            + {"torch": "x.permute(" + ", ".join(map(str, layouts.permutation(
                c.data_format, layouts.canonical_data(c.rank)))) + ")",
               "jax": "jnp.transpose or dimension_numbers=" + repr((c.data_format,
                                                                    c.filter_format,
                                                                    c.data_format)),
               "tensorflow": "tf.transpose(x, " + str(list(layouts.permutation(
                   c.data_format, layouts.canonical_data(c.rank)))) + ")"}.get(
                f, f"the axes permutation {c.data_format} -> {layouts.canonical_data(c.rank)}")),
    Mistake("filter-layout-misread",
            "the filter read in the wrong layout (HWIO / OIHW / HWOI confusion)",
            _filter_misread, lambda c, f, t: f"the filter is {c.filter_format}; "
            + ("permute it, do not reshape it: " if t.note == "reshape" else
               "its O and I axes are swapped: ")
            + {"torch": "w.permute(" + ", ".join(map(str, layouts.permutation(
                c.filter_format, layouts.canonical_filter(c.rank)))) + ") gives OIHW",
               "jax": f"pass dimension_numbers with rhs spec {c.filter_format!r}",
               "tensorflow": "tf.transpose(w, " + str(list(layouts.permutation(
                   c.filter_format, layouts.filter_formats(c.rank)[0]))) + ") gives HWIO"}.get(
                f, "transpose it to the layout your API takes")),
    Mistake("output-padding-misplaced",
            "a transposed conv's output_padding put before the data instead of after",
            _output_padding_misplaced, lambda c, f, t: f"output_padding {list(c.output_padding)} "
            "adds rows AFTER the data (torch's output_padding, ONNX); "
            + ("pass output_padding=" + str(tuple(c.output_padding)) if f == "torch"
               else "crop or pad at the end, not the start")),
]
MISTAKES = tuple(m.id for m in CATALOG)


def explains(case: Case, grad: str, actual: np.ndarray, attempt: Attempt) -> bool:
    """Whether ``actual`` is the oracle's answer under the mistake, within the bound."""
    try:
        exp = expected_from_canonical(attempt.case, grad, attempt.x, attempt.w, attempt.dy,
                                      lambda a: attempt.back(grad, a))
    except ValueError:             # the mistake makes the shapes inconsistent
        return False
    if exp.values.shape != np.shape(actual):
        return False
    return exp.compare(actual).passed


def diagnose(case: Case, inputs: Inputs, grad: str, actual: np.ndarray, framework: str,
             catalog: Optional[Sequence[Mistake]] = None) -> list[dict]:
    """Every applicable mistake of ``catalog``: ``{mistake, explains, fix, summary}``;
    the ones that explain the impl's values first."""
    out = []
    for mistake in CATALOG if catalog is None else catalog:
        try:
            attempts = mistake.attempts(case, inputs)
        except ValueError:
            continue
        if not attempts:
            continue
        hit = next((a for a in attempts if explains(case, grad, actual, a)), None)
        out.append({"mistake": mistake.id, "explains": hit is not None,
                    "fix": mistake.fix(case, framework, hit or attempts[0]),
                    "summary": mistake.summary})
    return sorted(out, key=lambda d: not d["explains"])
