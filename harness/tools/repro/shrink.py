"""Shrinking: the smallest case that still fails the same way.

Greedy delta debugging over case transformations, not Hypothesis' shrinker.
Hypothesis shrinks the *choice sequence* that generated an example; a case
loaded from a YAML file (or found by ``convgrad fuzz``) has no such sequence,
and re-expressing every case as a Hypothesis strategy draw would make the
result depend on how the strategy happens to encode shapes, while each
candidate costs a framework call in a worker process, far more than the
cheap test functions Hypothesis' shrink passes are tuned for. What makes a
case small is known here: fewer dimensions, a batch of 1, fewer channels,
smaller sizes and kernels, strides and dilations of 1, no or simpler padding,
the default layouts, float32, small integer values (the tangents and cotangents of a
forward-mode or second-order grad too). So :func:`candidates`
lists those transformations, most aggressive first; the loop applies the
first one whose case (validated by the loader) keeps the failure's
:class:`~harness.tools.repro.signature.Signature` (impl, grad, status, kind), then
starts over, until none does or the time budget is spent. Deterministic: the
same case, impl and verdicts give the same steps (only the time budget can
cut the walk shorter). Candidates are judged through the run's own
:class:`~harness.session.runner.Session` on worker processes, so a framework that
aborts on a candidate only rejects that candidate.
"""
from __future__ import annotations

import shlex
import time
from dataclasses import dataclass, field
from typing import Callable, Iterator, Optional, Sequence

import numpy as np

from harness.numerics import layouts
from harness.case.generators import default_seed
from harness.case.model import Case
from harness.render.terminal import script_command
from harness.safeio import outputs, printable
from harness.tools.repro import script as script_mod, spec as spec_mod, target as target_mod
from harness.tools.repro.judge import Judge
from harness.tools.repro.signature import Signature, signature
from harness.tools.repro.spec import CaseSpec

DISCREPANCIES = ("fail", "error", "nondeterministic")
EXPLICIT_LIMIT = 64     # a shrunk tensor this small is written out value by value


class ShrinkError(Exception):
    """Nothing to shrink (the case passes, say); ``str`` says why."""


@dataclass
class Outcome:
    original: CaseSpec
    spec: CaseSpec
    case: Case
    result: object                # harness.session.runner.CaseResult of the shrunk case
    verdict: object               # its verdict for the impl and grad
    signature: Signature
    steps: list[str] = field(default_factory=list)
    judged: int = 0
    seconds: float = 0.0
    complete: bool = True         # False when the time budget ran out first
    confirmed: Optional[bool] = None   # its script reproduces it in a fresh process
    dropped: list[str] = field(default_factory=list)   # steps walked back (see confirm)
    repeat: int = 1
    worker_env: dict = field(default_factory=dict)
    origin: str = ""
    platform: dict = field(default_factory=dict)   # what the impl's process probed

    def elements(self) -> dict[str, int]:
        """Elements per tensor: x, w, dy, and the tangents the shrunk case has."""
        return {t: self.spec.elements(t) for t in self.spec.present()}


# ------------------------------------------------------------------ transformations

def _halvings(n: int, low: int = 1) -> list[int]:
    """Smaller values to try for ``n``: the floor, half, one less (distinct, ascending)."""
    return sorted({v for v in (low, n // 2, n - 1) if low <= v < n})


def _fit(a: np.ndarray, shape: tuple[int, ...]) -> np.ndarray:
    """``a`` cut (or zero-padded) to ``shape``: the leading part of every axis."""
    out = a[tuple(slice(0, min(n, m)) for n, m in zip(a.shape, shape))]
    widths = [(0, m - n) for n, m in zip(out.shape, shape)]
    return np.pad(out, widths) if any(w for _, w in widths) else np.ascontiguousarray(out)


def _refit(s: CaseSpec) -> CaseSpec:
    """Explicit values cut to the (new) shapes; generators regenerate at any shape."""
    changes = {}
    for name in spec_mod.TENSORS:
        value = getattr(s, name)
        if isinstance(value, np.ndarray):
            shape = s.canonical_shape(name)
            if value.shape != shape:
                changes[name] = _fit(value, shape)
    return s.replace(**changes) if changes else s


def _with_axis(s: CaseSpec, axis: int, **values) -> CaseSpec:
    """``s`` with one spatial axis's size / kernel / stride / dilation / pads changed."""
    changes = {}
    for key, value in values.items():
        if key == "pads":
            pads = list(s.padding)
            pads[axis] = value
            changes["padding"] = tuple(pads)
        else:
            items = list(getattr(s, key))
            items[axis] = value
            changes[key] = tuple(items)
    return _refit(s.replace(**changes))


def drop_axis(s: CaseSpec, axis: int) -> CaseSpec:
    """The case with spatial axis ``axis`` removed (conv3d -> conv2d -> conv1d); explicit
    values keep their slice at index 0 of that axis."""
    keep = [i for i in range(s.rank) if i != axis]
    pick = lambda t: tuple(t[i] for i in keep)  # noqa: E731
    padding = s.padding if isinstance(s.padding, str) else pick(s.padding)
    values = {}
    for name in spec_mod.TENSORS:
        value = getattr(s, name)
        values[name] = np.take(value, 0, axis=2 + axis) if isinstance(value, np.ndarray) \
            else value
    out = s.replace(rank=s.rank - 1, sizes=pick(s.sizes), kernel=pick(s.kernel),
                    strides=pick(s.strides), dilations=pick(s.dilations), padding=padding,
                    **values)
    return _refit(out)


LETTERS = {1: "W", 2: "HW", 3: "DHW"}


def structure(s: CaseSpec) -> Iterator[tuple[str, CaseSpec]]:
    """Transformations of shapes and geometry, most aggressive first."""
    letters = LETTERS[s.rank]
    for axis in range(s.rank) if s.rank > 1 else ():
        yield f"conv{s.rank}d -> conv{s.rank - 1}d (drop {letters[axis]})", drop_axis(s, axis)
    for n in _halvings(s.groups):
        if s.in_channels % n == 0 and s.out_channels % n == 0:
            yield f"groups {s.groups} -> {n}", _refit(s.replace(groups=n))
    for n in _halvings(s.batch):
        yield f"batch {s.batch} -> {n}", _refit(s.replace(batch=n))
    for n in _halvings(s.out_channels):
        yield f"out_channels {s.out_channels} -> {n}", _refit(s.replace(out_channels=n))
    for n in _halvings(s.in_channels):
        yield f"in_channels {s.in_channels} -> {n}", _refit(s.replace(in_channels=n))
    for axis, letter in enumerate(letters):
        if s.strides[axis] > 1:
            for n in _halvings(s.strides[axis]):
                yield f"stride {letter} {s.strides[axis]} -> {n}", _with_axis(s, axis, strides=n)
        if s.dilations[axis] > 1:
            for n in _halvings(s.dilations[axis]):
                yield (f"dilation {letter} {s.dilations[axis]} -> {n}",
                       _with_axis(s, axis, dilations=n))
        for n in _halvings(s.kernel[axis]):
            yield f"kernel {letter} {s.kernel[axis]} -> {n}", _with_axis(s, axis, kernel=n)
        for n in _halvings(s.sizes[axis]):
            yield f"size {letter} {s.sizes[axis]} -> {n}", _with_axis(s, axis, sizes=n)
    yield from _paddings(s)
    if not s.channels_last:
        yield f"{s.data_format} -> channels-last", s.replace(channels_last=True)
    if not s.filter_spatial_first:
        yield f"{s.filter_format} -> spatial-first", s.replace(filter_spatial_first=True)
    if s.dtype != "float32":
        yield f"{s.dtype} -> float32", s.replace(dtype="float32")


def _paddings(s: CaseSpec) -> Iterator[tuple[str, CaseSpec]]:
    if s.padding == "VALID":
        return
    if s.padding == "SAME_LOWER":
        yield "SAME_LOWER -> SAME", _refit(s.replace(padding="SAME"))
    yield f"{s.padding if isinstance(s.padding, str) else 'explicit'} -> VALID", \
        _refit(s.replace(padding="VALID"))
    if isinstance(s.padding, str):
        return
    yield "explicit -> SAME", _refit(s.replace(padding="SAME"))
    for axis, letter in enumerate(LETTERS[s.rank]):
        before, after = s.padding[axis]
        if before or after:
            yield f"pads {letter} {[before, after]} -> [0, 0]", _with_axis(s, axis, pads=(0, 0))
        for b, a in ((before - 1, after), (before, after - 1)):
            if b >= 0 and a >= 0 and (b, a) != (before, after) and (b or a):
                yield (f"pads {letter} {[before, after]} -> {[b, a]}",
                       _with_axis(s, axis, pads=(b, a)))


SIMPLE_VALUES = (
    ("constant 1", {"constant": 1}),
    ("1, 2, 3, ...", {"range": 1}),
    ("integers in [-1, 1]", {"random": "integers", "low": -1, "high": 1}),
    ("integers in [0, 3]", {"random": "integers", "low": 0, "high": 3}),
    ("integers in [-3, 3]", {"random": "integers", "low": -3, "high": 3}),
)


def value_rank(value) -> int:
    """How simple a tensor's values are (lower is simpler)."""
    if isinstance(value, dict):
        for i, (_, simple) in enumerate(SIMPLE_VALUES):
            if {k: v for k, v in value.items() if k != "seed"} == simple:
                return i
    return len(SIMPLE_VALUES)


def values(s: CaseSpec, seed: int) -> Iterator[tuple[str, CaseSpec]]:
    """Simpler values for each tensor the grad uses."""
    for name in s.needed():
        current = value_rank(getattr(s, name))
        for i, (label, simple) in enumerate(SIMPLE_VALUES[:current]):
            spec = dict(simple, seed=seed) if "random" in simple else dict(simple)
            yield f"{name}: {label}", s.replace(**{name: spec})


def candidates(s: CaseSpec, seed: int = 0) -> Iterator[tuple[str, CaseSpec]]:
    yield from structure(s)
    yield from values(s, seed)


# ------------------------------------------------------------------ the loop

def _pick(result, grad: Optional[str]):
    problems = [v for v in result.verdicts if str(v.status) in DISCREPANCIES]
    if grad:
        v = next((v for v in result.verdicts if v.grad == grad), None)
        if v is None:
            raise ShrinkError(f"case {result.case.id} does not compute {grad}")
        return v
    if not problems:
        return result.verdicts[0]
    return problems[0]


def _key(s: CaseSpec) -> str:
    return s.yaml_text()


def explicit_small_values(s: CaseSpec, inputs) -> CaseSpec:
    """Random tensors of at most :data:`EXPLICIT_LIMIT` elements written out (the values
    themselves are the same: read from the materialized inputs)."""
    changes = {}
    for name in s.needed():
        value = getattr(s, name)
        if isinstance(value, dict) and "random" in value and s.elements(name) <= EXPLICIT_LIMIT:
            changes[name] = np.ascontiguousarray(
                layouts.convert(inputs.get(name), s.layout(name), s.canonical_layout(name)))
    return s.replace(**changes) if changes else s


def shrink(case: Case, impl, grad: Optional[str] = None, *, backend=None,
           judge: Optional[Judge] = None, time_budget: float = 120.0, repeat: int = 1,
           limitations=None, log: Optional[Callable[[str], None]] = None,
           first: Optional[tuple] = None, start: Sequence[CaseSpec] = (),
           new_id: Optional[str] = None,
           confirm: Optional[Callable[[object, object], bool]] = None) -> Outcome:
    """Shrink ``case`` for ``impl`` (an impl object, probed here unless ``judge`` has it).

    ``first`` is ``(result, verdict)`` when the case was judged already; ``start``:
    smaller cases that may fail the same way, tried first (the fuzzer passes the shrunk
    cases of earlier findings: one bug often fails several impls and grads).
    ``confirm(result, verdict)`` says whether a kept case fails the same way in a fresh
    process (:func:`harness.tools.repro.confirm.confirmer`: its standalone script); when the
    smallest case does not, the kept steps are walked back (a binary search) to the
    last case that does, since a worker that computed many cases may fail where a fresh
    process does not.
    """
    say = log or (lambda text: None)
    began = time.monotonic()
    deadline = began + time_budget
    own = judge is None
    judge = judge or Judge([impl], backend=backend, repeat=repeat, limitations=limitations)
    try:
        info = judge.info(impl.name)
        if not info.available:
            raise ShrinkError(f"{impl.name} is not available here: {info.version}")
        result, v = first or (None, None)
        if result is None:
            result = judge.one(case, impl.name)
            v = _pick(result, grad)
        target = signature(result, v)
        if target.status not in DISCREPANCIES:
            raise ShrinkError(f"{case.id}: {impl.name} {v.grad} is {target.status}; only a "
                              f"{', '.join(DISCREPANCIES)} verdict can be shrunk")
        grad = v.grad
        try:
            original = spec_mod.from_case(case)
        except ValueError as exc:
            raise ShrinkError(str(exc)) from None
        say(f"shrinking {case.id}: {target} ({original.summary()})")
        current = original.replace(id=new_id or original.id)
        best = (current, result, v)
        history = [("the case as given", best)]
        seen: set[str] = {_key(current)}
        steps: list[str] = []
        judged = 1

        def attempt(label: str, cand: CaseSpec):
            nonlocal judged
            key = _key(cand)
            if key in seen:
                return None
            seen.add(key)
            cand_case = cand.try_case(case.file or "<shrink>")
            if cand_case is None:
                return None
            judged += 1
            r = judge.one(cand_case, impl.name)
            cv = next(x for x in r.verdicts if x.grad == grad)
            return (cand, r, cv) if signature(r, cv) == target else None

        def accept(label: str, found) -> None:
            nonlocal best
            best = found
            history.append((label, found))
            steps.append(label)
            say(f"  kept: {label:<34} {found[0].summary()}")

        for related in start:
            found = attempt("an earlier finding's shrunk case", related.replace(id=current.id))
            if found:
                accept("an earlier finding's shrunk case", found)
                break
        found = attempt("only " + grad, spec_mod.only_grad(best[0], grad))
        if found:
            accept("only " + grad, found)
        complete = True
        progress = True
        while progress:
            progress = False
            for label, cand in candidates(best[0], seed=_seed(best[0])):
                if time.monotonic() > deadline:
                    complete = progress = False
                    break
                found = attempt(label, cand)
                if found:
                    accept(label, found)
                    progress = True
                    break
        confirmed, dropped = None, []
        if confirm is not None:
            index, confirmed = _confirmed_index(history, confirm, say)
            if index < len(history) - 1:
                dropped = [label for label, _ in history[index + 1:]]
                steps = steps[:index]
                best = history[index][1]
        spec, result, v = best
        shown = explicit_small_values(spec, result.inputs)
        if shown is not spec:
            shown_case = shown.try_case(case.file or "<shrink>")
            if shown_case is not None:
                spec = shown
        final_case = spec.to_case(case.file or "<shrink>")
        if not complete:
            say(f"  time budget ({time_budget:g} s) spent: keeping the smallest case so far")
        env = getattr(judge.session.backend, "envs", {}).get(impl.name, {})
        return Outcome(original=original, spec=spec, case=final_case, result=result,
                       verdict=v, signature=target, steps=steps, judged=judged,
                       seconds=time.monotonic() - began, complete=complete, repeat=repeat,
                       worker_env=target_mod.worker_threads(env), origin=case.file,
                       confirmed=confirmed, dropped=dropped, platform=dict(info.platform or {}))
    finally:
        if own:
            judge.close()


def _confirmed_index(history: list, confirm, say) -> tuple[int, bool]:
    """The last kept case whose failure ``confirm`` sees in a fresh process (binary search,
    assuming a step that loses the failure is not undone by later ones); (last, False)
    when not even the case as given is confirmed."""
    last = len(history) - 1
    check = lambda i: confirm(history[i][1][1], history[i][1][2])  # noqa: E731
    if check(last):
        say("  confirmed: its standalone script reproduces it in a fresh process")
        return last, True
    if last == 0 or not check(0):
        say("  NOT confirmed: the standalone script does not reproduce it in a fresh process")
        return last, False
    good, bad = 0, last
    while bad - good > 1:
        mid = (good + bad) // 2
        good, bad = (mid, bad) if check(mid) else (good, mid)
    say(f"  confirmed after walking back {last - good} step(s): the smaller cases failed in "
        "the worker only (state left by earlier cases), not in a fresh process")
    return good, True


def _seed(s: CaseSpec) -> int:
    """The seed new random values get: stable for a case id."""
    return default_seed(s.id, "shrink") % 1000


def header(outcome: Outcome, command: str = "") -> str:
    sizes = ", ".join(f"{t} {n}" for t, n in outcome.elements().items())
    lines = [f"Shrunk by convgrad shrink from case {outcome.original.id}"
             + (f" ({outcome.origin})" if outcome.origin else "") + ":",
             f"  {outcome.signature}; {len(outcome.steps)} steps kept, {outcome.judged} "
             f"candidates judged, {outcome.seconds:.0f} s"
             + ("" if outcome.complete else " (time budget spent)") + ".",
             f"  from: {outcome.original.summary()}",
             f"  to:   {outcome.spec.summary()}  (elements: {sizes})"]
    lines += [f"  step: {s}" for s in outcome.steps]
    if outcome.confirmed is not None:
        lines.append("  confirmed: its standalone script reproduces it in a fresh process"
                     if outcome.confirmed else "  NOT confirmed: its standalone script does not "
                     "reproduce it in a fresh process (state-dependent?)")
    if outcome.dropped:
        lines.append(f"  walked back (failed in the worker only): {'; '.join(outcome.dropped)}")
    if command:
        lines.append(f"  command: {command}")
    return "\n".join(lines)


def outcome_texts(outcome: Outcome, path: str, script_path: Optional[str] = None,
                  command: str = "") -> tuple[str, Optional[str]]:
    """The shrunk case as YAML (with how it was shrunk, every line of it a comment that
    cannot break the YAML), and the text of its script when ``script_path`` is given:
    both rendered before either is written (a script that cannot be written,
    :class:`~harness.tools.repro.templates.NoTemplate`, leaves no YAML behind)."""
    description = printable.line(f"shrunk from {outcome.original.id}: {outcome.signature}")
    spec = outcome.spec.replace(description=description, source=outcome.original.source)
    yaml_text = spec.yaml_text(header(outcome, command))
    if not script_path:
        return yaml_text, None
    v = outcome.verdict
    regenerate = script_command({"case": outcome.case.id, "impl": v.impl, "grad": v.grad},
                                path, {"repeat": outcome.repeat})
    regenerate = regenerate.rsplit(" -o ", 1)[0] + " -o " + shlex.quote(script_path)
    t = target_mod.from_result(outcome.result, v, runs=outcome.repeat,
                               worker_env=outcome.worker_env,
                               origin=f"shrunk from case {outcome.original.id}",
                               command=regenerate, platform=outcome.platform)
    return yaml_text, script_mod.render(t)


def write_outcome(outcome: Outcome, path: str, script_path: Optional[str] = None,
                  command: str = "", what: str = "-o") -> None:
    """The shrunk case as YAML (with how it was shrunk), and optionally its script, each
    through the checked, atomic writer (:func:`harness.safeio.outputs.write_output`);
    ``what`` names the YAML's place in an error."""
    yaml_text, script_text = outcome_texts(outcome, path, script_path, command)
    outputs.write_output(path, yaml_text, what)
    if script_path and script_text is not None:
        outputs.write_output(script_path, script_text, "--script", executable=True)
