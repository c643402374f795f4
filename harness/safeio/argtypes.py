"""argparse value types shared by the CLI and the pytest plugin (standard library only)."""
from __future__ import annotations

import argparse
import math


def positive_int(text: str) -> int:
    if not text.isdigit() or int(text) < 1:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text!r}")
    return int(text)


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
