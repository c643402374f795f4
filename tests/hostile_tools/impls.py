"""Hostile plug-ins for the tools' corpus (tests/test_hostile_tools.py): each is correct
(tests.planted.Planted) but for what its exception says, which the tools copy into
shrunk case files, fuzz findings, scripts and limitation matching.

Installed through the ``convgrad.impls`` entry-point group by :func:`install`, beside
planted.correct and the hostile impls of tests/hostile. An exception text that holds
code reads the marker path the injected code would create from ``HOSTILE_MARKER``
(set by the runner for every attempt), so that code that runs leaves evidence.
"""
from __future__ import annotations

import os

from tests.planted import Planted


# A valid case as a list item: a YAML file that takes it in holds a case of the text's choosing.
INJECTED_CASE = ("- id: injected-case\n  op: conv1d\n  grads: [y]\n  input_size: [4]\n"
                 "  kernel_size: [2]\n  x: {random: normal}\n  w: {random: normal}\n")


def _marker() -> str:
    return os.environ.get("HOSTILE_MARKER", "/tmp/convgrad-hostile-tools-PWNED")


class Raising(Planted):
    """Raises ``RuntimeError(self.text())`` for every case and grad."""
    framework = "numpy"

    def text(self) -> str:
        raise NotImplementedError

    def compute(self, case, inputs, grads):
        raise RuntimeError(self.text())


class RedosA(Raising):
    """48 a's and a '!': ``(a+)+$`` backtracks 2**48 times on it."""
    name = "tools.redos_a"

    def text(self):
        return "a" * 48 + "!"


class RedosX(Raising):
    """48 x's: ``(x+x+)+y`` backtracks exponentially on it."""
    name = "tools.redos_x"

    def text(self):
        return "x" * 48


class YamlMessage(Raising):
    """A message whose lines are a YAML case and terminal escapes: a shrunk case's or a
    finding's comment must stay one comment."""
    name = "tools.yaml_message"

    def text(self):
        return ("planted failure\nid: injected-case\n" + INJECTED_CASE
                + "# \x1b]0;pwned\x07\x1b[31m red \u202eevil\x85next\u2028line")


class CodeMessage(Raising):
    """A message that is Python code in every quoting a script could put it in."""
    name = "tools.code_message"

    def text(self):
        m = _marker()
        return (f'x"""\nopen({m!r}, "w").close()\n"""' + f"'''\nopen({m!r}, 'w').close()\n'''"
                + f"\\\nopen({m!r}, 'w').close()  #\r\nimport os; os.system('touch {m}')")


class NulMessage(Raising):
    """A NUL byte in the message: a Python source or a YAML file cannot hold one raw."""
    name = "tools.nul_message"

    def text(self):
        return "nul \x00 byte"


class SurrogateMessage(Raising):
    """A lone surrogate: not encodable in UTF-8."""
    name = "tools.surrogate_message"

    def text(self):
        return "lone \ud800 surrogate"


def impl_classes() -> list[type]:
    return [c for c in globals().values() if isinstance(c, type) and issubclass(c, Raising)
            and c is not Raising]


def install(root) -> object:
    """A throw-away distribution registering planted.correct, tests/hostile's impls and
    these (put ``root`` on PYTHONPATH)."""
    from tests.hostile import install_plugins

    return install_plugins(root, tuple(f"tools_{c.__name__.lower()} = tests.hostile_tools."
                                       f"impls:{c.__name__}" for c in impl_classes()))
