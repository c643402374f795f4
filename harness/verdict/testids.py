"""Test ids: the one name of each verdict and claim, wherever it is shown.

Every verdict (a case x impl x grad) and every grad a source claims is one test.
Its *name* is pytest's parametrized style::

    <case id>[<impl>-<grad>]        article/same-dx[tf.backprop-dx]
    <case id>[claim-<grad>]         article/same-dx[claim-dx]         (the case's first claim)
    <case id>[claim<n>-<grad>]      article/same-dx[claim2-dx]        (its n-th claim, n >= 2)

and, with its case file, its *node id* is ``<file>::<name>``
(``cases/article/3-same-dx.yaml::article/same-dx[tf.backprop-dx]``). The pytest plugin
names its items with :func:`verdict_name` and :func:`claim_name`, so pytest's node ids
are these; ``convgrad run --junit`` writes the ``classname`` and ``name`` that pytest's
``--junitxml`` derives from them (:func:`junit_pair`), and ``-k`` matches the name in
both (:mod:`harness.session.selection`). docs/ci.md, "Test ids", documents the scheme.
"""
from __future__ import annotations

import os
import re
from pathlib import Path, PurePath


def verdict_name(case_id: str, impl: str, grad: str) -> str:
    """``article/same-dx[tf.backprop-dx]``: an impl's verdict on one grad of a case."""
    return f"{case_id}[{impl}-{grad}]"


def claim_label(position: int, grad: str) -> str:
    """``claim-dx`` for the first claim of a case (``position`` 0), ``claim2-dx`` for the
    second, and so on."""
    return f"claim-{grad}" if position == 0 else f"claim{position + 1}-{grad}"


def claim_name(case_id: str, position: int, grad: str) -> str:
    """``article/same-dx[claim-dx]``: one grad claimed by the case's claim at ``position``
    (its index in the case's ``claims:`` list)."""
    return f"{case_id}[{claim_label(position, grad)}]"


def entry_name(entry: dict) -> str:
    """The name of a record's verdict or claim entry (its ``test`` field; a record of an
    older convgrad has none for verdicts, which is derived here)."""
    if entry.get("test"):
        return entry["test"]
    if "impl" in entry:
        return verdict_name(entry["case"], entry["impl"], entry["grad"])
    raise ValueError(f"claim of {entry.get('case')!r} without a test name")


def shown_path(file: str) -> str:
    """A case file as test ids show it: relative to the current directory when below it
    (pytest: relative to its rootdir), with ``/`` separators."""
    path = Path(file)
    if path.is_absolute():
        try:
            path = path.relative_to(Path.cwd())
        except ValueError:
            pass
    text = PurePath(os.path.normpath(path)).as_posix() if str(path) else ""
    return text


def node_id(file: str, name: str) -> str:
    """``cases/article/3-same-dx.yaml::article/same-dx[tf.backprop-dx]``."""
    return f"{shown_path(file)}::{name}"


def junit_pair(file: str, name: str) -> tuple[str, str]:
    """The ``(classname, name)`` pytest's ``--junitxml`` writes for the item ``name`` of
    case file ``file``: the node id's path dotted (``cases.article.3-same-dx.yaml``), with
    the parts of the name before its first ``[`` that ``::`` separates, and the last such
    part with everything from the ``[`` on as the name (``_pytest.junitxml``'s
    ``mangle_test_address``, pytest 8 and 9)."""
    path = shown_path(file).lstrip("/")   # a file outside the current directory
    head, bracket, params = name.partition("[")
    names = [re.sub(r"\.py$", "", path.replace("/", ".")), *head.split("::")]
    names[-1] += bracket + params
    return ".".join(names[:-1]), names[-1]
