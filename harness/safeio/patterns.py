"""Regular expressions that come from users, matched in linear time (RE2, google-re2).

A pattern in a ``--limitations`` file, or a ``-k`` word, is matched in convgrad's own
process, where ``--timeout`` does not reach: with Python's backtracking ``re`` a pattern
such as ``(a+)+$`` takes exponential time and hangs the run. RE2's matching time is
linear in the text. It has no backreferences, lookaround or possessive quantifiers:
:func:`compile_pattern` refuses a pattern that needs them (``ValueError`` saying why).
"""
from __future__ import annotations

import re2

MAX_PATTERN = 1000          # characters of a pattern


def _options() -> "re2.Options":
    options = re2.Options()
    options.log_errors = False     # RE2's own complaints on stderr: the error says it
    return options


def compile_pattern(text: str) -> "re2._Regexp":
    """``text`` compiled by RE2 (linear-time matching); ``ValueError`` saying why not."""
    if len(text) > MAX_PATTERN:
        raise ValueError(f"the pattern is {len(text)} characters; at most {MAX_PATTERN}")
    try:
        return re2.compile(text, _options())
    except re2.error as exc:
        reason = exc.args[0] if exc.args else exc
        if isinstance(reason, bytes):
            reason = reason.decode("utf-8", "replace")
        raise ValueError(f"{reason} (RE2 syntax: no backreferences, lookaround or "
                         "possessive quantifiers)") from None


def matchable(text: str) -> str:
    """``text`` as RE2 can take it: UTF-8 encodable (a lone surrogate becomes U+FFFD)."""
    try:
        text.encode("utf-8")
        return text
    except UnicodeEncodeError:
        return text.encode("utf-8", "replace").decode("utf-8")
