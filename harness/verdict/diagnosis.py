"""Diagnosis: which porting mistake explains an impl's failing verdicts, and the rule to fix it.

When an impl fails, the oracle is evaluated again under each mistaken
convention of the search space (symmetric pads where TensorFlow's SAME is
asymmetric, the odd pad on the wrong side, F.pad's axes in the wrong order, SAME
pads computed without the stride, strides or dilations reversed or dropped, a
flipped kernel, a reshaped layout, ...); a mistake *explains* a verdict when the
impl's values match the oracle under that mistake within the same bound.

Per verdict, :func:`diagnose` says which mistakes explain it (and what the case
should have had). Per impl, :func:`summarize` searches for the mistake that
explains every failing verdict at once and prints its *rule*: the fix as code of
the impl's framework (:mod:`harness.backend.adapters.idioms`), said once.

The space is data plus one small function per mistake: :class:`Mistake` gives
the inputs and geometry the mistaken code really computed with (channels-first,
like :func:`harness.case.ops.evaluate`) and how its result came back; users add
their own by appending to :data:`CATALOG` (or passing a catalog to
:func:`diagnose`).
"""
from __future__ import annotations

import dataclasses
import functools
import itertools
from dataclasses import dataclass
from typing import Callable, Optional, Sequence

import numpy as np

from harness.backend.adapters.idioms import Idioms, for_framework
from harness.numerics import layouts, oracle
from harness.numerics import padding as pad
from harness.case import ops
from harness.case.model import Case
from harness.verdict.expected import expected_from_canonical, expected_second_order
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
    # a mistake in the arithmetic rather than the inputs or the geometry: what it computed
    # for one first-order function (base) while computing a grad (which)
    evaluate: Optional[Callable] = None          # (case, base, x, w, dy, which) -> array
    tangents: dict = dataclasses.field(default_factory=dict)   # tx, tw, gx, gw it used


@dataclass(frozen=True)
class Mistake:
    id: str
    summary: str
    attempts: Callable[[Case, Inputs], list[Attempt]]   # [] where it changes nothing
    fix: Callable[[Case, str, Attempt], str]             # (case, framework, attempt) -> text
    # the rule that fixes it everywhere, as code of the impl's framework
    rule: Optional[Callable[[Idioms, Case], str]] = None
    # the grads it can explain: a geometry mistake shows in all of them; one in the
    # inputs' layout in the first-order ones (whose inputs it changes); one of the
    # second-order rules only in the grads that use that rule
    grads: tuple[str, ...] = ops.GRADS


# --------------------------------------------------------------- helpers

def _canonical(case: Case, inputs: Inputs) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    return tuple(ops.to_canonical(case, n, getattr(inputs, n)) for n in ("x", "w", "dy"))


def _back(case: Case) -> Callable[[str, np.ndarray], np.ndarray]:
    return lambda grad, a: ops.from_canonical(case, grad, a)


def _explicit(case: Case, pads) -> Case:
    return dataclasses.replace(case, padding=tuple(tuple(int(v) for v in p) for p in pads))


def _pads_text(pads) -> str:
    return ", ".join(f"({b}, {a})" for b, a in pads)


def _padding_fix(case: Case, framework: str, wrong) -> str:
    """What the pads were and should be here, and how to give them in the framework."""
    dims = layouts.SPATIAL_LETTERS[case.rank]
    said = (f"your pads were {_pads_text(wrong)} ({', '.join(dims)}); "
            f"{case.padding_name} here means {_pads_text(case.pads)}")
    return f"{said}: {for_framework(framework).padding(case)}."


def _padding_rule(idioms: Idioms, case: Case) -> str:
    """The padding rule of the case's mode, in the framework's code."""
    return idioms.padding_rule(case)

# --------------------------------------------------------------- the mistakes

def _symmetric(case: Case, inputs: Inputs) -> list[Attempt]:
    if case.padding == "VALID":
        return []
    x, w, dy = _canonical(case, inputs)
    out = []
    for note, pad_of in (("k // 2", lambda a: a.kernel // 2),
                         ("d * (k - 1) // 2", lambda a: a.dilation * (a.kernel - 1) // 2),
                         ("total // 2", lambda a: a.total // 2),        # the odd one dropped
                         ("ceil(total / 2)", lambda a: a.total - a.total // 2)):
        wrong = [(pad_of(a), pad_of(a)) for a in case.axes]
        if wrong != case.pads and all(attempt.case.pads != wrong for attempt in out):
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


def _misread(a: np.ndarray, src: str, memory: str, read_as: str, canonical: str,
             canonical_shape) -> np.ndarray:
    """``a`` (laid out as ``src``) put in ``memory`` layout, its memory read as
    ``read_as`` (a reshape, where a transpose was needed), then channels-first."""
    in_memory = np.ascontiguousarray(layouts.convert(a, src, memory))
    misread = np.reshape(in_memory, layouts.shape_in(canonical_shape, canonical, read_as))
    return layouts.convert(misread, read_as, canonical)


def _written_back(a: np.ndarray, canonical: str, memory: str, read_as: str,
                  dst: str) -> np.ndarray:
    """The inverse of :func:`_misread` for a result: channels-first -> ``read_as`` ->
    reshaped to ``memory``'s shape -> laid out as ``dst``."""
    as_read = np.ascontiguousarray(layouts.convert(a, canonical, read_as))
    shape = layouts.shape_in(a.shape, canonical, memory)
    return layouts.convert(np.reshape(as_read, shape), memory, dst)


def _layout_reshaped(case: Case, inputs: Inputs) -> list[Attempt]:
    """x and dy in one data layout reshaped to the other (NHWC memory read as NCHW, or
    NCHW read as NHWC): whichever layout the code received them in."""
    canonical = layouts.canonical_data(case.rank)
    w = ops.to_canonical(case, "w", inputs.w)
    plain = _back(case)
    out = []
    for memory, read_as in itertools.permutations(layouts.data_formats(case.rank)):
        def misread(name, memory=memory, read_as=read_as):
            a = getattr(inputs, name)
            return _misread(a, case.data_format, memory, read_as, canonical,
                            layouts.shape_in(a.shape, case.data_format, canonical))

        def back(grad, a, memory=memory, read_as=read_as, output=True):
            if grad in ("dw", "ddw") or (not output and grad in ("y", "jvp", "ddy")):
                return plain(grad, a)
            return _written_back(a, canonical, memory, read_as, case.data_format)
        note = f"{memory} read as {read_as}"
        # x reshaped and y reshaped back (dy with it), or only x (y transposed back right)
        out.append(Attempt(misread("x"), w, misread("dy"), case, back, note))
        out.append(Attempt(misread("x"), w, ops.to_canonical(case, "dy", inputs.dy), case,
                           functools.partial(back, output=False), note + " (x only)"))
    return out


def _filter_misread(case: Case, inputs: Inputs) -> list[Attempt]:
    if case.kind == "depthwise":
        return []
    filt = layouts.canonical_filter(case.rank)
    x, w, dy = _canonical(case, inputs)
    out = []
    plain = _back(case)
    # the filter's memory in one layout read as another (a reshape where a permute was
    # needed): HWIO read as OIHW, OIHW read as HWIO, whichever the code received
    for memory, read_as in itertools.permutations(layouts.filter_formats(case.rank)):
        wr = _misread(inputs.w, case.filter_format, memory, read_as, filt, w.shape)

        def back(g, a, memory=memory, read_as=read_as):
            if g not in ("dw", "ddw"):
                return plain(g, a)
            return _written_back(a, filt, memory, read_as, case.filter_format)
        out.append(Attempt(x, wr, dy, case, back, "reshape"))
    o, i = w.shape[:2]
    if o == i and case.groups == 1:     # O and I swapped (HWIO read as HWOI, OIHW as IOHW)
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


def _pads_attempt(case: Case, inputs: Inputs, wrong) -> list[Attempt]:
    wrong = [tuple(int(v) for v in p) for p in wrong]
    if wrong == [tuple(p) for p in case.pads] or any(v < 0 for p in wrong for v in p):
        return []
    x, w, dy = _canonical(case, inputs)
    return [Attempt(x, w, dy, _explicit(case, wrong), _back(case))]


def _axes_reversed(case: Case, inputs: Inputs) -> list[Attempt]:
    """F.pad's tuple written first dimension first: (top, bottom, left, right) read as
    (left, right, top, bottom): the pads of the spatial axes in reverse order."""
    return _pads_attempt(case, inputs, case.pads[::-1]) if case.rank > 1 else []


def _pads_without_stride(case: Case, inputs: Inputs) -> list[Attempt]:
    """SAME's pads computed as for stride 1 (total ``d * (k - 1)``), the stride ignored."""
    if case.padding not in ("SAME", "SAME_LOWER") or set(case.strides) == {1}:
        return []
    wrong = [pad.resolve_axis(case.padding, a.size, a.kernel, 1, a.dilation) for a in case.axes]
    return _pads_attempt(case, inputs, pad.pairs(wrong))


def _no_padding(case: Case, inputs: Inputs) -> list[Attempt]:
    """SAME (or explicit pads) computed as VALID."""
    if case.padding == "VALID" or case.kind == "conv_transpose":
        return []
    return _pads_attempt(case, inputs, [(0, 0)] * case.rank)


def _one_stride(case: Case, inputs: Inputs) -> list[Attempt]:
    """One stride for every spatial axis (the first, or the last)."""
    if len(set(case.strides)) == 1:
        return []
    x, w, dy = _canonical(case, inputs)
    return [Attempt(x, w, dy, dataclasses.replace(case, strides=(s,) * case.rank),
                    _back(case), f"stride {s} on every axis")
            for s in dict.fromkeys((case.strides[0], case.strides[-1]))]


def _dilations_swapped(case: Case, inputs: Inputs) -> list[Attempt]:
    if case.dilations == case.dilations[::-1]:
        return []
    x, w, dy = _canonical(case, inputs)
    return [Attempt(x, w, dy, dataclasses.replace(case, dilations=case.dilations[::-1]),
                    _back(case))]


def _order_fix(what: str, idiom) -> Callable:
    return lambda c, f, t: (f"give {what} in {', '.join(layouts.SPATIAL_LETTERS[c.rank])} "
                            f"order: {idiom(for_framework(f), c)}")


CATALOG: list[Mistake] = [
    Mistake("symmetric-padding",
            "SAME ported as symmetric padding (k // 2 or d * (k - 1) // 2 on each side), "
            "where the total pad is odd and TensorFlow puts the extra one after the data",
            _symmetric, lambda c, f, t: _padding_fix(c, f, t.case.pads), _padding_rule),
    Mistake("pad-side-swapped", "the odd pad on the wrong side (SAME vs SAME_LOWER)",
            _swapped, lambda c, f, t: _padding_fix(c, f, t.case.pads), _padding_rule),
    Mistake("pad-axes-reversed",
            "the pads of the spatial axes given in reverse order (F.pad takes the LAST "
            "dimension first: (left, right, top, bottom), not (top, bottom, left, right))",
            _axes_reversed, lambda c, f, t: _padding_fix(c, f, t.case.pads),
            lambda i, c: i.pad_order_rule(c)),
    Mistake("pad-ignores-stride",
            "SAME's pads computed as for stride 1 (total d * (k - 1)): with a stride the "
            "total is max((ceil(n / s) - 1) * s + d * (k - 1) + 1 - n, 0)",
            _pads_without_stride, lambda c, f, t: _padding_fix(c, f, t.case.pads),
            _padding_rule),
    Mistake("no-padding", "the padding dropped: computed as VALID",
            _no_padding, lambda c, f, t: _padding_fix(c, f, t.case.pads), _padding_rule),
    Mistake("kernel-flipped",
            "a convolution (flipped kernel) where frameworks compute a cross-correlation",
            _flipped, lambda c, f, t: "do not flip the kernel: every framework's conv is a "
            "cross-correlation (no flip); a kernel flipped by hand (or scipy.signal.convolve) "
            "gives this result",
            lambda i, c: "do not flip the kernel (no w.flip(...), w[::-1, ::-1] or "
            "scipy.signal.convolve): every framework's conv is a cross-correlation"),
    Mistake("strides-swapped", "per-axis strides given in the wrong order",
            _strides_swapped, _order_fix("strides", lambda i, c: i.strides(c)),
            lambda i, c: "give one stride per spatial dimension in "
            f"{', '.join(layouts.SPATIAL_LETTERS[c.rank])} order, e.g. {i.strides(c)}"),
    Mistake("stride-one-axis", "one stride used for every spatial axis",
            _one_stride, _order_fix("strides", lambda i, c: i.strides(c)),
            lambda i, c: "pass the stride of every spatial dimension, e.g. " + i.strides(c)),
    Mistake("dilation-ignored", "the dilation dropped (computed with dilation 1)",
            _dilation_ignored, lambda c, f, t: "pass the dilation: "
            + for_framework(f).dilation(c),
            lambda i, c: "pass the dilation of every spatial dimension, e.g. " + i.dilation(c)),
    Mistake("dilation-swapped", "per-axis dilations given in the wrong order",
            _dilations_swapped, _order_fix("dilations", lambda i, c: i.dilation(c)),
            lambda i, c: "give the dilations in "
            f"{', '.join(layouts.SPATIAL_LETTERS[c.rank])} order, e.g. {i.dilation(c)}"),
    Mistake("layout-reshaped",
            "x and dy reshaped to channels-first where a transpose was needed",
            _layout_reshaped, lambda c, f, t: "transpose, do not reshape: "
            + for_framework(f).data_layout(c),
            lambda i, c: "transpose (permute) x between layouts, never reshape it: "
            + i.data_layout(c)),
    Mistake("filter-layout-misread",
            "the filter read in the wrong layout (HWIO / OIHW / HWOI confusion)",
            _filter_misread, lambda c, f, t: f"the filter is {c.filter_format}; "
            + ("permute it, do not reshape it: " if t.note == "reshape" else
               "its O and I axes are swapped: ") + for_framework(f).filter_layout(c),
            lambda i, c: f"permute the {c.filter_format} filter to the layout your conv "
            "takes, never reshape it, and keep O (output channels) and I apart: "
            + i.filter_layout(c)),
    Mistake("output-padding-misplaced",
            "a transposed conv's output_padding put before the data instead of after",
            _output_padding_misplaced, lambda c, f, t: f"output_padding "
            f"{list(c.output_padding)} adds rows AFTER the data (torch's output_padding, "
            "ONNX); " + for_framework(f).output_padding(c),
            lambda i, c: "output_padding adds rows AFTER the data: "
            + i.output_padding(c)),
]



def explains(case: Case, grad: str, actual: np.ndarray, attempt: Attempt) -> bool:
    """Whether ``actual`` is the oracle's answer under the mistake, within the bound."""
    def mistaken(c, base, x, w, dy):
        return attempt.evaluate(c, base, x, w, dy, grad)
    evaluate = ops.evaluate if attempt.evaluate is None else mistaken
    out = (lambda a: attempt.back(grad, a))
    try:
        if grad in ops.SECOND_ORDER_TERMS:
            tensors = {"x": attempt.x, "w": attempt.w, "dy": attempt.dy, **attempt.tangents}
            exp = expected_second_order(attempt.case, grad, tensors, out, evaluate=evaluate)
        else:
            exp = expected_from_canonical(attempt.case, grad, attempt.x, attempt.w, attempt.dy,
                                          out, evaluate=evaluate)
    except (ValueError, KeyError):   # the mistake makes the shapes inconsistent
        return False
    if exp.values.shape != np.shape(actual):
        return False
    return exp.compare(actual).passed


def diagnose(case: Case, inputs: Inputs, grad: str, actual: np.ndarray, framework: str,
             catalog: Optional[Sequence[Mistake]] = None) -> list[dict]:
    """Every applicable mistake of ``catalog``: ``{mistake, explains, fix, summary}``;
    the ones that explain the impl's values first."""
    out = []
    tangents = None
    for mistake in CATALOG if catalog is None else catalog:
        if grad not in mistake.grads:
            continue
        try:
            attempts = mistake.attempts(case, inputs)
        except ValueError:
            continue
        if not attempts:
            continue
        if grad in ops.SECOND_ORDER_TERMS:
            tangents = tangents or {n: ops.to_canonical(case, n, inputs.get(n))
                                    for n in ops.TENSORS[3:]}
            for a in attempts:
                a.tangents = a.tangents or tangents
        hit = next((a for a in attempts if explains(case, grad, actual, a)), None)
        out.append({"mistake": mistake.id, "explains": hit is not None,
                    "fix": mistake.fix(case, framework, hit or attempts[0]),
                    "summary": mistake.summary})
    return sorted(out, key=lambda d: not d["explains"])


# --------------------------------------------------------------- second-order mistakes

DOUBLE_BACKWARD = ("ddy", "ddx", "ddw")


def _plain(case: Case, inputs: Inputs, evaluate: Callable, note: str = "") -> list[Attempt]:
    x, w, dy = _canonical(case, inputs)
    return [Attempt(x, w, dy, case, _back(case), note, evaluate=evaluate)]


def _transposed_flag(case: Case, inputs: Inputs) -> list[Attempt]:
    """A transposed conv's double backward computed with the forward conv (pytorch#80766)."""
    if case.kind != "conv_transpose":
        return []

    def evaluate(c, base, x, w, dy, which):
        if which not in DOUBLE_BACKWARD:
            return ops.evaluate(c, base, x, w, dy)
        geometry = dict(strides=c.strides, pads=c.pads, dilations=c.dilations,
                        groups=c.conv_groups)
        if base == "y":
            return oracle.conv(x, w, **geometry)
        if base == "dx":
            return oracle.conv_dx(dy, w, input_shape=x.shape, **geometry)
        return oracle.conv_dw(x, dy, filter_shape=w.shape, **geometry)
    return _plain(case, inputs, evaluate)


def _weight_groups(case: Case, inputs: Inputs) -> list[Attempt]:
    """The filter gradient of a grouped conv reading the first group's input channels for
    every group (torch.nn.grad.conv*_weight, pytorch#51430)."""
    groups = case.conv_groups
    if groups == 1 or case.kind == "conv_transpose":
        return []

    def evaluate(c, base, x, w, dy, which):
        if base == "dw":
            per = x.shape[1] // groups
            x = np.concatenate([x[:, :per]] * groups, axis=1)
        return ops.evaluate(c, base, x, w, dy)
    return _plain(case, inputs, evaluate)


def _fwd_over_rev_groups(case: Case, inputs: Inputs) -> list[Attempt]:
    """Forward-over-reverse of a grouped conv taking the tangent's groups in another order
    (pytorch#75219, #81111)."""
    groups = case.conv_groups
    if groups == 1 or case.kind == "conv_transpose":
        return []

    def evaluate(c, base, x, w, dy, which):
        if which == "ddx":
            w = np.concatenate(np.split(w, groups, axis=0)[::-1], axis=0)
        elif which == "ddw":
            x = np.concatenate(np.split(x, groups, axis=1)[::-1], axis=1)
        return ops.evaluate(c, base, x, w, dy)
    return _plain(case, inputs, evaluate)


def _transposed_dilation(case: Case, inputs: Inputs) -> list[Attempt]:
    """The second-order rule of a transposed conv without its rhs dilation (jax#563)."""
    if case.kind != "conv_transpose" or set(case.dilations) == {1}:
        return []

    def evaluate(c, base, x, w, dy, which):
        if which in DOUBLE_BACKWARD:
            return ops.evaluate(c, base, x, w, dy, dilations=(1,) * c.rank)
        return ops.evaluate(c, base, x, w, dy)
    return _plain(case, inputs, evaluate)


SECOND_ORDER_MISTAKES = [
    Mistake("transposed-flag-dropped",
            "a transposed conv's double backward computed with the forward conv (the "
            "'transposed' flag lost: pytorch#80766)", _transposed_flag,
            lambda c, f, t: "the double backward of a transposed conv is itself transposed: "
            "differentiate the transposed conv (or upgrade past the framework's fix)",
            lambda i, c: "differentiate conv_transpose itself (autograd / jax.vjp of it), not "
            "the forward conv", DOUBLE_BACKWARD),
    Mistake("weight-grad-groups",
            "a grouped conv's filter gradient read the first group's input channels for every "
            "group (torch.nn.grad.conv*_weight, pytorch#51430)", _weight_groups,
            lambda c, f, t: f"with groups={c.conv_groups} each group's filter gradient takes "
            "its own input channels: use autograd, or a conv*_weight with the fix",
            lambda i, c: "compute each group's filter gradient from its own input channels "
            "(autograd does; torch.nn.grad.conv*_weight before pytorch#51430 did not)",
            ("dw", "ddw")),
    Mistake("fwd-over-rev-groups",
            "forward-over-reverse of a grouped conv took the tangent's groups in another "
            "order (pytorch#75219, #81111)", _fwd_over_rev_groups,
            lambda c, f, t: f"with groups={c.conv_groups}, the tangent's channel groups must "
            "keep their order: use reverse-over-reverse, or a framework with the fix",
            lambda i, c: "differentiate the grouped conv's vjp in reverse mode (double "
            "backward), or upgrade past the forward-over-reverse fix", ("ddx", "ddw")),
    Mistake("transposed-dilation-dropped",
            "the second-order rule of a transposed conv dropped the rhs dilation (jax#563)",
            _transposed_dilation,
            lambda c, f, t: f"the transposed conv's dilation {list(c.dilations)} belongs in "
            "its second-order rule too", lambda i, c: "keep the dilation in every derivative "
            "of the transposed conv: " + i.dilation(c), DOUBLE_BACKWARD),
]

# The geometry mistakes show in every grad, forward mode and second order included.
for _i, _m in enumerate(CATALOG):
    if _m.id in ("symmetric-padding", "pad-side-swapped", "pad-axes-reversed",
                 "pad-ignores-stride", "no-padding", "strides-swapped", "stride-one-axis",
                 "dilation-ignored", "dilation-swapped"):
        CATALOG[_i] = dataclasses.replace(_m, grads=ops.ALL_GRADS)
CATALOG += SECOND_ORDER_MISTAKES
MISTAKES = tuple(m.id for m in CATALOG)


def summarize(judged: Sequence[tuple[Case, object]], framework: str,
              catalog: Optional[Sequence[Mistake]] = None) -> Optional[dict]:
    """One impl's diagnosis, from its verdicts ``(case, verdict)`` (each verdict's own
    :func:`diagnose` list): the mistake that explains the most failing verdicts (all of
    them, where one does), the other mistakes that explain as many, and the rule that fixes
    it as code of ``framework``, said once. None where no verdict was diagnosed."""
    catalog = CATALOG if catalog is None else catalog
    diagnosed = [(c, v) for c, v in judged if getattr(v, "diagnosis", None)]
    if not diagnosed:
        return None
    counts: dict[str, int] = {}
    example: dict[str, tuple[Case, str]] = {}
    for case, v in diagnosed:
        for d in v.diagnosis:
            if d["explains"]:
                counts[d["mistake"]] = counts.get(d["mistake"], 0) + 1
                example.setdefault(d["mistake"], (case, d["fix"]))
    out = {"of": len(diagnosed), "explains": 0, "mistake": None,
           "tried": sorted({d["mistake"] for _, v in diagnosed for d in v.diagnosis})}
    if not counts:
        return out
    order = [m.id for m in catalog]
    ranked = sorted(counts, key=lambda m: (-counts[m], order.index(m) if m in order else 99))
    best = next((m for m in catalog if m.id == ranked[0]), None)
    case, fix = example[ranked[0]]
    rule = best.rule(for_framework(framework), case) if best and best.rule else fix
    return {**out, "mistake": ranked[0], "explains": counts[ranked[0]],
            "summary": best.summary if best else "", "rule": rule,
            "example": {"case": case.id, "fix": fix},
            "also": [m for m in ranked[1:] if counts[m] == counts[ranked[0]]]}
