"""How a fix is written in a framework: the calls a porting-mistake diagnosis prints.

:class:`Idioms` words each fix in general terms; a framework's adapter module holds
``IDIOMS``, a subclass that writes the fix as code of its own API (``F.pad(x, ...)``,
``padding=[(1, 2), ...]``). :func:`for_framework` finds it through the framework
registry, so a new framework's wording lives in its adapter, nowhere else.
"""
from __future__ import annotations

from harness.backend import frameworks
from harness.case.model import Case
from harness.numerics import layouts


def pads_text(pads) -> str:
    return ", ".join(f"({b}, {a})" for b, a in pads)


def dims(case: Case) -> str:
    return ", ".join(layouts.SPATIAL_LETTERS[case.rank])


class Idioms:
    """The framework-neutral wording; each method returns the *how* of one fix."""

    def padding(self, case: Case) -> str:
        """How to pad as the case does (``case.pads``, before and after per spatial dim)."""
        return f"pad {pads_text(case.pads)} (before, after) per spatial dimension ({dims(case)})"

    def padding_rule(self, case: Case) -> str:
        """The rule of the case's padding mode, for every case (not this one's numbers)."""
        if case.padding in ("SAME", "SAME_LOWER"):
            side = "AFTER" if case.padding == "SAME" else "BEFORE"
            return (f"{case.padding} pads each spatial dimension by total = max((ceil(n / s) - 1)"
                    f" * s + (k - 1) * d + 1 - n, 0), the odd element {side} the data "
                    f"(here: {pads_text(case.pads)}, {dims(case)})")
        if case.padding == "VALID":
            return "VALID: no padding"
        return f"pad the explicit (before, after) pairs exactly: {pads_text(case.pads)}"

    def pad_order_rule(self, case: Case) -> str:
        return (f"give the pads of the spatial dimensions in {dims(case)} order: "
                f"{pads_text(case.pads)}")

    def strides(self, case: Case) -> str:
        return f"strides={list(case.strides)} ({dims(case)} order)"

    def dilation(self, case: Case) -> str:
        return f"dilation {list(case.dilations)} ({dims(case)} order)"

    def groups(self, case: Case) -> str:
        return f"groups={case.conv_groups}"

    def data_layout(self, case: Case) -> str:
        """How to bring x (and dy) from the case's layout to the one the conv reads."""
        return (f"transpose x from {case.data_format} to {layouts.canonical_data(case.rank)} "
                "with the axes permutation " + str(list(layouts.permutation(
                    case.data_format, layouts.canonical_data(case.rank)))))

    def filter_layout(self, case: Case) -> str:
        return "transpose the filter to the layout your API takes (permute, not reshape)"

    def output_padding(self, case: Case) -> str:
        return "crop or pad at the end, not the start"


def for_framework(module: str) -> Idioms:
    """The framework's ``IDIOMS`` (its adapter's), or the neutral wording."""
    adapter = frameworks.adapter(module)
    return getattr(adapter, "IDIOMS", None) or Idioms()
