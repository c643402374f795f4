"""The fuzzer's case space: generators of random, valid cases, one per kind of op.

A generator is a function ``(rng, dtypes) -> CaseSpec`` registered under a name
with :func:`generator`; ``convgrad fuzz --op NAME`` picks among them (default:
all, weighted). Today there is one, ``conv``: every (grouped) convolution the loader
accepts (ranks 1-3, groups, strides, dilations, VALID / SAME / SAME_LOWER / explicit pads,
channels-last and channels-first data, both filter layouts, the four dtypes,
1 to 64 channels, kernels larger than the input where the padding allows it,
and several value distributions, wide dynamic range included); a share of them
(:data:`SECOND_ORDER_SHARE`) ask for forward mode and second order too (``jvp``, ``ddy``,
``ddx``, ``ddw``, with tangents drawn as the other values are). Depthwise
filters (HWCM) and transposed convolutions need generators of their own, with
a spec that carries their geometry: not yet.

Every draw comes from the ``numpy.random.Generator`` it is given, so a seed
gives the same cases on every machine. A generator may return a case the
loader refuses (an empty output, too much oracle work); the fuzzer then draws
again (:func:`draw`).
"""
from __future__ import annotations

import math
from typing import Callable, Optional, Sequence

import numpy as np

from harness.numerics import dtypes as dtypes_mod
from harness.case import ops
from harness.case.model import Case
from harness.case.values import materialize
from harness.tools.repro.signature import magnitudes
from harness.tools.repro.spec import CaseSpec

Generator = Callable[[np.random.Generator, Sequence[str]], CaseSpec]
GENERATORS: dict[str, tuple[Generator, float]] = {}
MAX_MACS = 400_000            # multiply-adds of one evaluation: fast in every framework
MAX_ELEMENTS = 40_000         # per tensor
DTYPES = ("float32", "float64", "float16", "bfloat16")
DTYPE_WEIGHTS = (0.4, 0.2, 0.2, 0.2)
SECOND_ORDER_SHARE = 0.3      # of the cases that ask for every grad, second order included
GROUPED_SHARE = {False: 0.25, True: 0.5}   # of the cases that can be grouped, by second order
TANGENTS = ops.TENSORS[3:]    # tx, tw, gx, gw


def generator(name: str, weight: float = 1.0):
    """Register a case generator under ``name`` (``convgrad fuzz --op name``)."""
    def register(fn: Generator) -> Generator:
        GENERATORS[name] = (fn, weight)
        return fn
    return register


def _choice(rng: np.random.Generator, options: Sequence, weights: Optional[Sequence] = None):
    p = None if weights is None else np.asarray(weights, dtype=float) / sum(weights)
    return options[int(rng.choice(len(options), p=p))]


def _channels(rng: np.random.Generator) -> int:
    """Mostly few channels, sometimes many (where blocked kernels kick in), often 1."""
    return int(_choice(rng, (1, 2, 3, 4, 5, 8, 16, 17, 32, 64),
                       (0.25, 0.15, 0.1, 0.1, 0.05, 0.1, 0.08, 0.05, 0.07, 0.05)))


def _padding(rng: np.random.Generator, rank: int):
    kind = _choice(rng, ("VALID", "SAME", "SAME_LOWER", "explicit"), (0.3, 0.3, 0.15, 0.25))
    if kind != "explicit":
        return kind
    return tuple((int(rng.integers(0, 4)), int(rng.integers(0, 4))) for _ in range(rank))


def values(rng: np.random.Generator, dtype: str, shape: tuple[int, ...]):
    """A value spec: a generator mapping, or (wide dynamic range) explicit float64 values."""
    seed = int(rng.integers(0, 2 ** 31))
    kind = _choice(rng, ("normal", "uniform", "integers", "small-integers", "wide", "constant"),
                   (0.3, 0.15, 0.15, 0.15, 0.2, 0.05))
    if kind == "normal":
        return {"random": "normal", "seed": seed,
                "scale": float(_choice(rng, (1.0, 1.0, 0.01, 100.0)))}
    if kind == "uniform":
        return {"random": "uniform", "seed": seed, "low": -1.0, "high": 1.0}
    if kind == "integers":
        return {"random": "integers", "seed": seed, "low": -8, "high": 8}
    if kind == "small-integers":
        return {"random": "integers", "seed": seed, "low": -2, "high": 2}
    if kind == "constant":
        return {"constant": float(_choice(rng, (1.0, -0.5, 3.0)))}
    return wide_range(np.random.default_rng(seed), dtype, shape)


def wide_range(rng: np.random.Generator, dtype: str, shape: tuple[int, ...]) -> np.ndarray:
    """Values spanning many binades (and both signs): sign * 2**e, e uniform over a range
    the dtype holds with room for the sums (float16's is narrow)."""
    span = {"float16": 6, "bfloat16": 20, "float32": 20, "float64": 30}[dtype]
    exponents = rng.uniform(-span, span / 2, size=shape)
    signs = rng.choice((-1.0, 1.0), size=shape)
    mantissa = rng.uniform(1.0, 2.0, size=shape)
    return dtypes_mod.round_to(signs * mantissa * np.exp2(np.floor(exponents)), dtype)


@generator("conv", weight=1.0)
def conv(rng: np.random.Generator, dtypes: Sequence[str]) -> CaseSpec:
    """A plain (ungrouped) convolution from the whole case space the loader accepts."""
    rank = int(_choice(rng, (1, 2, 3), (0.3, 0.5, 0.2)))
    max_size = {1: 40, 2: 12, 3: 6}[rank]
    # Small sizes often: an output of one or two elements per axis is where edge cases live.
    sizes = tuple(int(rng.integers(1, (4 if rng.random() < 0.4 else max_size) + 1))
                  for _ in range(rank))
    kernel = tuple(int(_choice(rng, (1, 2, 3, 4, 5, 7), (0.2, 0.25, 0.3, 0.1, 0.1, 0.05)))
                   for _ in range(rank))
    strides = tuple(int(_choice(rng, (1, 2, 3, 4), (0.5, 0.25, 0.15, 0.1))) for _ in range(rank))
    dilations = tuple(int(_choice(rng, (1, 2, 3), (0.7, 0.2, 0.1))) for _ in range(rank))
    padding = _padding(rng, rank)
    allowed = [d for d in DTYPES if d in dtypes]
    weights = [w for d, w in zip(DTYPES, DTYPE_WEIGHTS) if d in dtypes]
    dtype = str(_choice(rng, allowed, weights))
    c_in, c_out = _channels(rng), _channels(rng)
    # forward mode and second order too, for a share of the cases (with tangents)
    second = rng.random() < SECOND_ORDER_SHARE
    # grouped sometimes: a common divisor of both channel counts (groups = C: depthwise);
    # more often with second order, where the upstream bugs were (pytorch#51430, #75219)
    common = [g for g in range(2, min(c_in, c_out) + 1) if c_in % g == 0 and c_out % g == 0]
    grouped = GROUPED_SHARE[second]
    groups = int(_choice(rng, common)) if common and rng.random() < grouped else 1
    spec = CaseSpec(
        id="", rank=rank, grads=("y", "dx", "dw"), batch=int(_choice(rng, (1, 1, 2, 3))),
        groups=groups, in_channels=c_in, out_channels=c_out, sizes=sizes, kernel=kernel,
        strides=strides, dilations=dilations, padding=padding, dtype=dtype,
        channels_last=bool(rng.random() < 0.6), filter_spatial_first=bool(rng.random() < 0.6))
    spec = spec.replace(**{name: values(rng, dtype, spec.canonical_shape(name))
                           for name in ("x", "w", "dy")})
    if second:   # every grad, the tangents drawn as the other values are
        spec = spec.replace(grads=ops.ALL_GRADS,
                            **{name: values(rng, dtype, spec.canonical_shape(name))
                               for name in TANGENTS})
    return spec


def affordable(spec: CaseSpec) -> bool:
    """Small enough to judge in a fraction of a second everywhere."""
    if min(spec.output_sizes) < 1:
        return False
    macs = (math.prod(spec.canonical_shape("dy")) * (spec.in_channels // spec.groups)
            * math.prod(spec.kernel))
    return macs <= MAX_MACS and all(spec.elements(t) <= MAX_ELEMENTS for t in spec.present())


PRODUCT_OF = {"y": ("x", "w"), "dx": ("w", "dy"), "dw": ("x", "dy")}


def products(grad: str) -> list[tuple[str, str]]:
    """The pairs of tensors whose products ``grad`` sums: one pair for a first-order grad,
    one per term of a forward-mode or second-order one (``ddx``: ``gw`` and ``dy``)."""
    if grad in PRODUCT_OF:
        return [PRODUCT_OF[grad]]
    return [tuple(swap.get(t, t) for t in PRODUCT_OF[base])
            for base, swap in ops.SECOND_ORDER_TERMS[grad]]


def _smallest_normal(dtype: str) -> float:
    return {"float16": 2.0 ** -14, "bfloat16": 2.0 ** -126, "float32": 2.0 ** -126,
            "float64": 2.0 ** -1022}[dtype]


def representable(case: Case) -> bool:
    """Whether the case stays where the bound of harness/numerics/compare.py models the rounding:
    every sum of absolute products far below the dtype's overflow threshold, and no
    product that is subnormal in the dtype (its error is absolute, not relative). Outside
    that, every framework "fails" alike: a question for the bound, not a framework bug."""
    inputs = materialize(case)
    limit = dtypes_mod.largest_finite(case.dtype) / 16
    tiny = _smallest_normal(case.dtype)
    every = magnitudes(case, inputs)
    for grad in case.grads:
        m = every[grad]
        if m.size and not np.nanmax(m) < limit:
            return False
        for pair in products(grad):
            smallest = []
            for name in pair:
                a = np.abs(inputs.get(name))
                a = a[a > 0]
                smallest.append(float(a.min()) if a.size else np.inf)
            if smallest[0] * smallest[1] < tiny:
                return False
    return True


def draw(rng: np.random.Generator, case_id: str, ops: Optional[Sequence[str]] = None,
         dtypes: Optional[Sequence[str]] = None, tries: int = 200) -> tuple[CaseSpec, Case]:
    """One valid, affordable case from the registered generators (``ops``: their names)."""
    names = list(ops or GENERATORS)
    unknown = [n for n in names if n not in GENERATORS]
    if unknown:
        raise ValueError(f"unknown case generator(s) {', '.join(unknown)}; known: "
                         f"{', '.join(GENERATORS)}")
    weights = [GENERATORS[n][1] for n in names]
    for _ in range(tries):
        name = str(_choice(rng, names, weights))
        spec = GENERATORS[name][0](rng, tuple(dtypes or DTYPES)).replace(id=case_id)
        if not affordable(spec):
            continue
        case = spec.try_case("<fuzz>")
        if case is not None and representable(case):
            return spec, case
    raise RuntimeError(f"no valid case in {tries} draws: the generators' space is too narrow")
