"""argparse value types shared by the CLI and the pytest plugin (standard library only).

Each refuses, as a usage error (exit 2, one line), what would otherwise reach a
computation unbounded: a negative or 250-digit seed, a repeat count that never ends,
an infinite or NaN time. Digits are ASCII digits (``'²'.isdigit()`` is true, and
``int('²')`` raises).
"""
from __future__ import annotations

import argparse
import math

MAX_REPEAT = 1000          # evaluations of a verdict (--repeat; a record's environment.run.repeat)
MAX_SEED = 2 ** 63 - 1     # a seed: what numpy's default_rng, a case id and a record all take
MAX_SECONDS = 10_000_000   # a time budget or timeout (115 days): finite for every clock call


def _digits(text: str) -> bool:
    return bool(text) and text.isascii() and text.isdigit()


def positive_int(text: str) -> int:
    if not _digits(text) or int(text) < 1:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text!r}")
    return int(text)


def bounded_int(low: int, high: int, what: str = "an integer"):
    """An argparse type: an integer (ASCII digits) from ``low`` to ``high``."""
    def parse(text: str) -> int:
        value = int(text) if _digits(text) and len(text) <= 30 else None
        if value is None or not low <= value <= high:
            raise argparse.ArgumentTypeError(f"expected {what} from {low} to {high}, got "
                                             f"{text[:40]!r}")
        return value
    parse.__name__ = "integer"   # argparse names the type in its messages
    return parse


def seed(text: str) -> int:
    """A random seed: an integer from 0 to :data:`MAX_SEED` (2**63 - 1)."""
    return bounded_int(0, MAX_SEED, "a seed")(text)


def repeat(text: str) -> int:
    """``--repeat N``: 1 to :data:`MAX_REPEAT` evaluations."""
    return bounded_int(1, MAX_REPEAT, "a repeat count")(text)


def positive_float(text: str) -> float:
    """A finite number > 0: ``inf`` and ``nan`` are refused here, not after the run (a run
    record cannot hold them as numbers, and an infinite timeout is no timeout)."""
    try:
        value = float(text)
    except ValueError:
        value = -1.0
    if not (value > 0 and math.isfinite(value)):
        raise argparse.ArgumentTypeError(f"expected a positive finite number, got {text!r}")
    return value


def seconds(text: str) -> float:
    """A time budget or a timeout: a positive number of seconds up to :data:`MAX_SECONDS`."""
    value = positive_float(text)
    if value > MAX_SECONDS:
        raise argparse.ArgumentTypeError(f"expected at most {MAX_SECONDS} seconds, got "
                                         f"{text[:40]!r}")
    return value
