"""No import inside a function without a comment saying why. A function-level import hides
an edge of the import graph and costs a lookup at every call; it is right only where the
module must not load with the file (a framework that costs seconds, a heavy optional
module only some commands need, an import that would point upward or close a cycle), and
then the line says which. Pure ast and tokenize: no framework loads here."""
from __future__ import annotations

import ast
import io
import re
import tokenize
from pathlib import Path

HARNESS = Path(__file__).resolve().parents[1] / "harness"
ROOT = HARNESS.parent

HOW_TO_FIX = (
    "Each import above sits inside a function with no comment saying why. Move it to the "
    "top of its module if it is cheap and neither points up the layers of pyproject.toml's "
    "[tool.importlinter] contract nor closes a cycle; if it must stay lazy, put a short '#' "
    "comment on its line or the line above saying why (e.g. '# torch costs ~2 s at import: "
    "only in a worker that runs a torch impl').")


# A linter's directive alone says what is silenced, not why.
DIRECTIVE = re.compile(r"#\s*(noqa(:\s*[A-Z]+[0-9]+([\s,]+[A-Z]+[0-9]+)*)?"
                       r"|type:\s*ignore(\[[^\]]*\])?|pragma:.*|pylint:.*)\s*$")


def comment_lines(source: str) -> set[int]:
    """The lines that hold a '#' comment (tokenize, so a '#' inside a string does not
    count) other than a bare linter directive."""
    tokens = tokenize.generate_tokens(io.StringIO(source).readline)
    return {tok.start[0] for tok in tokens
            if tok.type == tokenize.COMMENT and not DIRECTIVE.match(tok.string)}


def function_imports(tree: ast.AST) -> list[ast.Import | ast.ImportFrom]:
    """Every import statement nested anywhere inside a function or method body."""
    found: list[ast.Import | ast.ImportFrom] = []

    def visit(node: ast.AST, in_function: bool) -> None:
        for child in ast.iter_child_nodes(node):
            if isinstance(child, (ast.Import, ast.ImportFrom)) and in_function:
                found.append(child)
            visit(child, in_function or isinstance(
                child, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda)))

    visit(tree, False)
    return found


def uncommented_imports(source: str) -> list[int]:
    """The first lines of the function-level imports with no comment on that line or the
    line directly above it."""
    comments = comment_lines(source)
    return sorted(node.lineno for node in function_imports(ast.parse(source))
                  if node.lineno not in comments and node.lineno - 1 not in comments)


def violations() -> list[str]:
    return [f"{path.relative_to(ROOT)}:{line}"
            for path in sorted(HARNESS.rglob("*.py"))
            for line in uncommented_imports(path.read_text())]


def test_every_function_level_import_says_why():
    found = violations()
    assert not found, (f"{len(found)} function-level import(s) with no comment:\n  "
                       + "\n  ".join(found) + "\n" + HOW_TO_FIX)


def test_the_checker_tells_a_commented_import_from_a_bare_one():
    source = '''\
import os


def top():
    import json
    # torch costs seconds: only here
    import torch
    from a import (  # cycle: a imports this module
        b, c)
    x = "# not a comment"; import re
    return os


class K:
    def method(self):
        import sys  # upward: the frontends sit above
        sys.exit
        import json  # noqa: PLC0415
        import os  # noqa: PLC0415 - os must not load before the fork

        def inner():
            from . import m
            # a comment two lines above does not count

            import ast
        return inner
'''
    assert uncommented_imports(source) == [5, 10, 18, 22, 25]


def test_a_module_level_import_is_not_asked_for_a_comment():
    source = "import os\nif os.name:\n    import json\ntry:\n    import yaml\nexcept ImportError:\n    pass\n"
    assert uncommented_imports(source) == []
