"""The package's import graph has no cycles (issue 19): every module stands on the ones
below it, so any of them can be read, tested and moved without the ones above. Function-
level imports count too: they hide an edge, they do not remove it."""
from __future__ import annotations

import ast
import tomllib
from pathlib import Path

HARNESS = Path(__file__).resolve().parents[1] / "harness"


def module_name(path: Path) -> str:
    parts = path.relative_to(HARNESS.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def import_graph() -> dict[str, set[str]]:
    modules = {module_name(p): p for p in HARNESS.rglob("*.py")}

    def owner(name: str) -> str | None:
        while name and name not in modules:
            name = name.rpartition(".")[0]
        return name or None

    graph: dict[str, set[str]] = {m: set() for m in modules}
    for name, path in modules.items():
        package = name if path.name == "__init__.py" else name.rpartition(".")[0]
        for node in ast.walk(ast.parse(path.read_text())):
            targets: list[str] = []
            if isinstance(node, ast.Import):
                targets = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom):
                base = node.module or ""
                if node.level:
                    up = package.split(".")[:len(package.split(".")) - node.level + 1]
                    base = ".".join(up + ([base] if base else []))
                targets = [f"{base}.{a.name}" for a in node.names] + [base]
            for target in targets:
                found = owner(target) if target.startswith("harness") else None
                if found and found != name:
                    graph[name].add(found)
    return graph


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components of more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    found: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        for w in graph[v]:
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return found


def test_the_harness_has_no_import_cycle():
    assert cycles(import_graph()) == []


def test_the_cycle_finder_finds_a_planted_cycle():
    graph = {"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}
    assert cycles(graph) == [["a", "b", "c"]]
    assert cycles({"a": {"b"}, "b": set()}) == []


def test_the_graph_sees_function_level_and_relative_imports():
    graph = import_graph()
    # harness.frontends.pytest_plugin imports harness.frontends.pytest_items inside a function
    assert "harness.frontends.pytest_items" in graph["harness.frontends.pytest_plugin"]
    assert "harness.backend.platforms" in graph["harness.session.runner"]


# The house, top to bottom: the layers of import-linter's contract in pyproject.toml (one
# list, checked here without import-linter too). A module imports only from its own
# subpackage or those below it. harness.api and the old plug-in paths kept for
# compatibility (harness.adapters, harness.port) stand above them all.
LAYERS = tuple(name.removeprefix("harness.") for name in tomllib.loads(
    (HARNESS.parent / "pyproject.toml").read_text())["tool"]["importlinter"]["contracts"][0]
    ["layers"])
FACES = {"harness", "harness.api", "harness.adapters", "harness.adapters.base", "harness.port"}


def layer(module: str) -> int:
    parts = module.split(".")
    if module in FACES or len(parts) < 2 or parts[1] not in LAYERS:
        return -1
    return LAYERS.index(parts[1])


def upward_imports(graph: dict[str, set[str]]) -> list[tuple[str, str]]:
    return sorted((a, b) for a, targets in graph.items() for b in targets
                  if layer(a) >= 0 and layer(b) >= 0 and layer(b) < layer(a))


def test_every_module_is_in_a_layer_and_imports_only_down():
    graph = import_graph()
    homeless = sorted(m for m in graph if layer(m) < 0 and m not in FACES
                      and m != "harness.data")
    assert homeless == []
    assert upward_imports(graph) == []


def test_an_upward_import_is_found():
    graph = {"harness.numerics.oracle": {"harness.case.model"}, "harness.case.model": set()}
    assert upward_imports(graph) == [("harness.numerics.oracle", "harness.case.model")]
