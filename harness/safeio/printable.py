"""Text from case files, run records, plug-ins and frameworks, made safe to print.

Anything convgrad prints that it did not write itself (a case id, a source, a
framework's message, a file name) may hold ANSI escape sequences, BEL, NUL or
bidirectional-override characters that would recolour, retitle or reorder a
terminal. Every such character is shown escaped, the way Python's ``repr``
spells it (``\\x1b``, ``\\u202e``); ordinary text, non-ASCII letters included,
is left alone.
"""
from __future__ import annotations


def _escape(c: str) -> str:
    return c if c.isprintable() else repr(c)[1:-1]


def line(text: object) -> str:
    """``text`` on one line: every non-printable character escaped, newlines included."""
    return "".join(map(_escape, str(text)))


def block(text: object) -> str:
    """``text`` with its line breaks kept and every other non-printable character escaped."""
    return "\n".join(line(part) for part in str(text).split("\n"))


def excerpt(text: object, limit: int = 60) -> str:
    """At most ``limit`` characters of ``text`` on one line, escaped, ``...`` where cut."""
    shown = line(str(text)[:limit + 1])
    return shown if len(shown) <= limit else shown[:limit - 3] + "..."
