"""Text from case files, run records, plug-ins and frameworks, made safe to print.

Anything convgrad prints that it did not write itself (a case id, a source, a
framework's message, a file name) may hold ANSI escape sequences, BEL, NUL or
bidirectional-override characters that would recolour, retitle or reorder a
terminal. Every such character is shown escaped, the way Python's ``repr``
spells it (``\\x1b``, ``\\u202e``); ordinary text, non-ASCII letters included,
is left alone.
"""
from __future__ import annotations

import re


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


def comment(text: object, limit: int = 500) -> str:
    """``text`` for a ``#`` comment of a generated YAML or Python file: one line (a newline
    in it would start code or YAML of the text's choosing), every character that either
    language refuses or treats as a line break (NUL, ESC, NEL, U+2028, lone surrogates)
    escaped, at most ``limit`` characters."""
    return excerpt(text, limit)


# What can start markup inside a line: emphasis, code spans, links and images ("[", "]",
# "!"), headings, table cells, tags (with "<" an entity). "-", ".", "(" and ">" only matter at a
# line's start, where this text never is.
_MARKDOWN_SPECIAL = re.compile(r"([\\`*_\[\]#!|~])")


def markdown(text: object, limit: int = 500) -> str:
    """``text`` as inline Markdown (a CI step summary, a PR comment): one line, escaped like
    :func:`line`, Markdown's punctuation backslash-escaped and ``<``, ``&`` as entities, so
    no heading, link, image, table cell or HTML tag can come from it."""
    shown = excerpt(text, limit)
    shown = shown.replace("&", "&amp;").replace("<", "&lt;")
    return _MARKDOWN_SPECIAL.sub(r"\\\1", shown)
