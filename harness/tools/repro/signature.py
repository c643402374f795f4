"""What makes two discrepancies "the same": their :class:`Signature`.

A signature is the impl, the grad, the status and the *kind* of the problem:

* ``fail``: ``nonfinite`` (a NaN or an infinity where the oracle has none, or
  the other way round), ``gross`` (an element off by more than
  :data:`GROSS` of ``M``, the sum of the absolute values of its products: no
  rounding explains that; garbage, a wrong padding side, a dropped tap), or
  ``rounding`` (within that: an accumulation less accurate than the bound
  allows);
* ``error``: the exception's type and message with numbers masked
  (``exception:ValueError: depth # vs #``), a worker that died
  (``crash:SIGABRT``, ``exit:3``), ``timeout``, ``out-of-memory``, or
  ``shape`` (a result of the wrong shape);
* ``nondeterministic``, ``pass`` and the other statuses: no kind.

The shrinker keeps a transformation only when the signature stays the same,
so a shrunk case fails the way the original did (not merely "fails"); the
fuzzer reports one finding per signature.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Optional

import numpy as np

from harness.verdict.expected import Expected, expected
from harness.case.values import Inputs

GROSS = 2.0 ** -4
_HEX = re.compile(r"0x[0-9a-fA-F]+")
_NUMBER = re.compile(r"\d+")


@dataclass(frozen=True)
class Signature:
    impl: str
    grad: str
    status: str
    kind: str = ""

    def __str__(self) -> str:
        kind = f" ({self.kind})" if self.kind else ""
        return f"{self.impl} {self.grad} {self.status}{kind}"

    def to_dict(self) -> dict:
        return {"impl": self.impl, "grad": self.grad, "status": self.status, "kind": self.kind}

    @property
    def family(self) -> tuple[str, str, str, str]:
        """What the fuzzer de-duplicates (and matches documented discrepancies) on: the
        signature with ``gross`` and ``nonfinite`` taken as one kind, ``wrong``. A bug
        that returns garbage returns huge numbers in one process and NaN or infinity in
        another; the shrinker still keeps the exact kind."""
        kind = "wrong" if self.kind in ("gross", "nonfinite") else self.kind
        return self.impl, self.grad, self.status, kind


def masked(text: str, limit: int = 160) -> str:
    """``text`` with addresses and numbers masked and whitespace collapsed: shapes and
    sizes in a message change while a case shrinks, the message itself does not."""
    text = _NUMBER.sub("#", _HEX.sub("#", text))
    return " ".join(text.split())[:limit]


def error_kind(message: str) -> str:
    """The kind of an ``error`` verdict, from its message (see the module docstring)."""
    first = (message or "").strip().split("\n", 1)[0]
    m = re.match(r"worker killed by (\S+)", first)
    if m:
        return f"crash:{m[1]}"
    m = re.match(r"worker exited with status (-?\d+)", first)
    if m:
        return f"exit:{m[1]}"
    if first.startswith("timeout:"):
        return "timeout"
    if first.startswith("out of memory:"):
        return "out-of-memory"
    if re.search(r" returned \w+ of shape \[", first):
        return "shape"
    return "exception:" + masked(first)


def magnitudes(case, inputs: Inputs) -> dict[str, np.ndarray]:
    """``M`` per element of every grad of the case: the oracle run on the absolute values
    (of the tangents too, for forward-mode and second-order grads)."""
    absolute = Inputs(**{name: np.abs(value) for name, value in vars(inputs).items()
                         if value is not None})
    with np.errstate(invalid="ignore", over="ignore"):
        return {grad: e.values for grad, e in expected(case, absolute).items()}


def magnitude(case, inputs: Inputs, grad: str) -> np.ndarray:
    """``M`` per element of ``grad`` (:func:`magnitudes`)."""
    return magnitudes(case, inputs)[grad]


def fail_kind(case, inputs: Inputs, grad: str, exp: Expected, actual: np.ndarray) -> str:
    """``nonfinite``, ``gross`` or ``rounding`` (see the module docstring)."""
    actual = np.asarray(actual, dtype=np.float64)
    exact, bound = exp.values, exp.bound
    if actual.shape != exact.shape:
        return "shape"
    with np.errstate(invalid="ignore", over="ignore"):
        finite_a, finite_e = np.isfinite(actual), np.isfinite(exact)
        same_nonfinite = (np.isnan(actual) & np.isnan(exact)) | (
            np.isinf(exact) & (actual == exact))
        if np.any((finite_a != finite_e) | (~finite_a & ~finite_e & ~same_nonfinite)):
            return "nonfinite"
        err = np.abs(actual - exact)
        bad = err > bound
        if not np.any(bad):
            return "rounding"
        m = magnitude(case, inputs, grad)
        scale = np.where(np.isfinite(m), m, np.inf)
        relative = err[bad] / np.maximum(scale[bad], np.finfo(np.float64).tiny)
    return "gross" if np.nanmax(relative) > GROSS else "rounding"


def signature(result, v, exp: Optional[Expected] = None) -> Signature:
    """The signature of verdict ``v`` of a :class:`harness.session.runner.CaseResult`."""
    status = str(v.status)
    kind = ""
    if status == "fail":
        exp = exp or result.expected[v.grad]
        kind = fail_kind(result.case, result.inputs, v.grad, exp, v.actual)
    elif status == "error":
        kind = error_kind(v.message)
    return Signature(v.impl, v.grad, status, kind)
