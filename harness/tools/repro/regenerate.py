"""A case's inputs as source a standalone script runs: regenerated, not embedded.

A case gives ``x``, ``w`` and ``dy`` as explicit values or as seeded generators
(:mod:`harness.case.generators`). Embedding generated values makes a script
thousands of lines long (a 38 -> 37 channel case: 3,000 lines of base64) for
nothing: the generator is NumPy's own ``default_rng(seed)``, so the script can
call it. :func:`source` writes, per tensor and in the case's own layout, the
very call :func:`harness.case.generators.generate` makes (the seed resolved: a
case without one gets the seed derived from its id), then the rounding to the
case dtype, in NumPy alone (:data:`ROUND`). NumPy has no bfloat16: ``rnd`` rounds
float64 to it correctly by its bits (through float32 rounded to odd); convgrad's
inputs went through float32 rounded to nearest first (ml_dtypes' cast, which
:func:`harness.numerics.dtypes.round_to` uses, rounds twice), so the script rounds
them to float32 before ``rnd``, and gets them bit for bit. Explicit values stay
embedded (:mod:`harness.tools.repro.literals`). The tangents ``tx``, ``tw`` and
cotangents ``gx``, ``gw`` of a forward-mode or second-order grad are regenerated (or
embedded) the same way, in the layout of the tensor each goes with (:data:`TANGENTS`).

NumPy does not promise the same stream from ``default_rng`` in every version,
so the script checks what it regenerated against a CRC-32 of the values convgrad
materialized (:func:`crc`) and exits 2 ("cannot run here") when they differ,
rather than judging other inputs than convgrad did.
"""
from __future__ import annotations

import math
import zlib
from types import MappingProxyType
from typing import Mapping, Sequence

import numpy as np

from harness.numerics import layouts
from harness.case import generators, ops
from harness.case.model import Case
from harness.tools.repro import literals

TENSORS = ("x", "w", "dy")
TANGENTS = tuple(t for t in ops.TENSORS if t not in TENSORS)   # tx, tw, gx, gw

ROUND = {
    "bfloat16": '''\
def rnd(a):
    """float64 -> bfloat16 -> float64, correctly rounded: to float32 rounding to odd, then to even."""
    f = a.astype(np.float32)
    b = np.where(abs(f) > abs(a), np.nextafter(f, np.float32(0)), f).view(np.uint32) | (f != a)
    return ((b + 0x7FFF + ((b >> 16) & 1)) & 0xFFFF0000).view(np.float32).astype(np.float64)
''',
    "other": '''\
def rnd(a):
    """float64 -> DTYPE (to nearest, ties to even) -> float64."""
    return a.astype(DTYPE).astype(np.float64)
'''}


def round_source(dtype: str) -> str:
    """``def rnd(a)``: float64 values correctly rounded to ``dtype``, in NumPy alone (the
    script defines ``DTYPE``)."""
    return ROUND["bfloat16" if dtype == "bfloat16" else "other"]


CHECK = '''\
if [zlib.crc32(a.astype("<f8").tobytes()) for a in ({names})] != {crcs}:   # exit 2: cannot run
    sys.exit(print(f"cannot run: NumPy {{np.__version__}} generates other inputs than convgrad's") or 2)
'''


def crc(a: np.ndarray) -> int:
    """CRC-32 of little-endian float64 bytes, C order: what the script's check computes."""
    return zlib.crc32(np.ascontiguousarray(a, dtype="<f8").tobytes())


def regenerable(case: Case, tensors: Sequence[str] = TENSORS) -> bool:
    """Whether some tensor of the case (of ``tensors``) comes from a generator (else nothing
    to regenerate)."""
    return any(isinstance(getattr(case, name), Mapping) for name in tensors)


def _number(v) -> str:
    """Python source of a generator's parameter: an integer, or a float (``float("nan")`` and
    ``float("inf")`` where ``repr`` would write a bare ``nan``, a NameError in the script)."""
    if isinstance(v, int) and not isinstance(v, bool):
        return repr(int(v))
    v = float(v)
    return repr(v) if math.isfinite(v) else f'float("{v!r}")'


def generator_call(case: Case, name: str) -> str:
    """The expression :func:`harness.case.generators.generate` evaluates for tensor ``name``
    (float64, the case's layout, not yet rounded; a tangent shaped as the tensor it goes
    with); zeros for a tensor the case leaves out; '' for explicit values."""
    spec, shape = getattr(case, name), tuple(int(n) for n in case.shape_of(name))
    if spec is None:
        return f"np.zeros({shape!r})"
    if not isinstance(spec, Mapping):
        return ""
    if "constant" in spec:
        return f"np.full({shape!r}, {_number(float(spec['constant']))})"
    if "range" in spec:
        start = spec["range"] if isinstance(spec["range"], int) else spec["range"][0]
        return (f"np.arange({int(start)}, {int(start) + math.prod(shape)}, "
                f"dtype=np.float64).reshape({shape!r})")
    seed = spec.get("seed", generators.default_seed(case.id, name))
    rng = f"np.random.default_rng({int(seed)})"
    kind = spec["random"]
    if kind == "normal":
        scale = float(spec.get("scale", 1.0))
        return f"{rng}.standard_normal({shape!r})" + (f" * {_number(scale)}" if scale != 1.0
                                                      else "")
    if kind == "uniform":
        return (f"{rng}.uniform({_number(spec.get('low', -1.0))}, "
                f"{_number(spec.get('high', 1.0))}, {shape!r})")
    return (f"{rng}.integers({_number(spec['low'])}, {_number(spec['high'])}, {shape!r}, "
            "endpoint=True).astype(np.float64)")


def transposed(src: str, dst: str) -> str:
    """``.transpose(...)`` taking an array from layout ``src`` to ``dst`` ('' if the same)."""
    perm = layouts.permutation(src, dst)
    return "" if perm == tuple(range(len(perm))) else f".transpose{perm!r}"


def source(case: Case, inputs, names: Mapping[str, str] = MappingProxyType({}),
           tensors: Sequence[str] = TENSORS) -> tuple[str, bool]:
    """Lines defining each of ``tensors`` (:data:`TENSORS`, and the tangents a grad takes;
    float64, the case's layouts, rounded to its dtype; as the variable ``names`` gives,
    else its own name) and checking them against ``inputs``; and whether they need the
    base64 decoder."""
    lines, decoder = [], False
    for tensor in tensors:
        name, call = names.get(tensor, tensor), generator_call(case, tensor)
        layout = case.layout_of(tensor)
        if call and getattr(case, tensor) is None:
            unused = "not in the case: zeros" if tensor in TANGENTS else "unused by this grad"
            lines.append(f"{name} = {call}   # {layout}: {unused}")
        elif call and case.dtype == "bfloat16":   # ml_dtypes rounds float64 through float32
            call = f"({call})" if " * " in call else call
            lines.append(f"{name} = rnd({call}.astype(np.float32))   # {layout}, as ml_dtypes rounds")
        elif call:
            lines.append(f"{name} = rnd({call})   # {layout}")
        else:
            values = inputs.get(tensor)
            decoder = decoder or literals.needs_decoder([values])
            lines.append(f"{name} = {literals.literal(values)}   # {layout}, given in the case")
    crcs = [crc(inputs.get(tensor)) for tensor in tensors]
    held = ", ".join(names.get(tensor, tensor) for tensor in tensors)
    return "\n".join(lines) + "\n" + CHECK.format(crcs=crcs, names=held), decoder


def script_inputs(case: Case, inputs, sources: Mapping[str, tuple[str, str]],
                  framework: str) -> tuple[str, bool, dict[str, str]]:
    """``rnd``, the tensors and their check, and the arrays a template's ``compute()`` reads
    (``sources``: NAME -> (tensor, layout)): an array laid out as the case is generated under
    its own name, the others transposed from it. Also whether the decoder is needed, and the
    variable holding each tensor in the case's layout. The tangents among ``sources`` are
    generated after ``x``, ``w``, ``dy``."""
    tensors = TENSORS + tuple(t for t in TANGENTS
                              if any(tensor == t for tensor, _ in sources.values()))
    held = {tensor: tensor for tensor in tensors}
    for name, (tensor, layout) in sources.items():
        if layout == case.layout_of(tensor):
            held[tensor] = name
    text, decoder = source(case, inputs, held, tensors)
    moved = [(name, f"{held[tensor]}{transposed(case.layout_of(tensor), layout)}")
             for name, (tensor, layout) in sources.items() if held[tensor] != name]
    if moved:
        text += (f"{', '.join(n for n, _ in moved)} = {', '.join(e for _, e in moved)}   "
                 f"# as {framework} takes them\n")
    return round_source(case.dtype) + text, decoder, held
