"""Impls that misbehave on purpose, one way per article case: the run must survive them."""
from __future__ import annotations

import os
import time

from tests.planted import Planted

LEAK_CHUNK = 64 << 20


class Faulty(Planted):
    """Correct, except: aborts on valid-dx, hangs on valid-dw, leaks on same-dx,
    raises on same-dw."""

    name = "faulty.numpy"

    def compute(self, case, inputs, grads):
        if case.id == "article/valid-dx":
            os.abort()
        if case.id == "article/valid-dw":
            time.sleep(10_000)
        if case.id == "article/same-dx":
            hoard = []
            while True:
                hoard.append(bytearray(LEAK_CHUNK))
                for i in range(0, LEAK_CHUNK, 4096):  # touch the pages: make them resident
                    hoard[-1][i] = 1
        if case.id == "article/same-dw":
            raise RuntimeError("planted failure in compute")
        return super().compute(case, inputs, grads)


class Flaky(Planted):
    """Correct values, but each evaluation perturbs one element by a different amount."""

    name = "flaky.numpy"
    calls = 0

    def compute(self, case, inputs, grads):
        out = super().compute(case, inputs, grads)
        Flaky.calls += 1
        for outcome in out.values():
            outcome.values = outcome.values.copy()
            outcome.values.flat[0] *= 1 + Flaky.calls * 2.0 ** -20  # visible in float32
        return out
