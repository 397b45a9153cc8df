"""The package's shape holds: no import cycles, the suite loader stays low in the graph, no tangled function.

Imports are read from the source (all of them, also the ones inside functions, which is where cycles used
to hide), except those under `if TYPE_CHECKING:`, which never run.
"""

from __future__ import annotations

import ast
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[2] / "plugins" / "cekura_livekit"
NAME = "cekura_livekit"


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(PACKAGE.parent).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _runtime_imports(node: ast.AST) -> Iterator[str]:
    """Every module an import statement under `node` names, skipping `if TYPE_CHECKING:` bodies."""
    if isinstance(node, ast.Import):
        yield from (alias.name for alias in node.names)
    elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
        yield node.module
        yield from (f"{node.module}.{alias.name}" for alias in node.names)
    for child in ast.iter_child_nodes(node):
        if isinstance(child, ast.If) and "TYPE_CHECKING" in ast.unparse(child.test):
            for other in child.orelse:
                yield from _runtime_imports(other)
            continue
        yield from _runtime_imports(child)


def import_graph() -> dict[str, set[str]]:
    modules = {_module_name(p): p for p in PACKAGE.rglob("*.py")}
    graph: dict[str, set[str]] = {}
    for name, path in modules.items():
        targets = {t for t in _runtime_imports(ast.parse(path.read_text())) if t in modules}
        # A module importing its own parent package is implicit in Python, not an edge worth checking.
        graph[name] = {t for t in targets if t != name and not name.startswith(f"{t}.")}
    return graph


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components with more than one module (Tarjan), plus self-imports."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in graph.get(v, ()):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1 or v in graph.get(v, ()):
                found.append(sorted(component))

    sys.setrecursionlimit(max(sys.getrecursionlimit(), 10_000))
    for v in sorted(graph):
        if v not in index:
            visit(v)
    return found


def reachable(graph: dict[str, set[str]], start: str) -> set[str]:
    seen: set[str] = set()
    todo = [start]
    while todo:
        for nxt in graph.get(todo.pop(), ()):
            if nxt not in seen:
                seen.add(nxt)
                todo.append(nxt)
    return seen


def test_cycle_finder_finds_a_cycle() -> None:
    """The checker itself: a two-module loop and a three-module loop are reported, a chain is not."""
    assert cycles({"a": {"b"}, "b": {"a"}, "c": {"a"}}) == [["a", "b"]]
    assert cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == [["a", "b", "c"]]
    assert cycles({"a": {"b"}, "b": {"c"}, "c": set()}) == []


def test_the_graph_sees_lazy_imports_but_not_type_checking_ones() -> None:
    source = (
        "from typing import TYPE_CHECKING\n"
        "if TYPE_CHECKING:\n    from pkg.only_for_types import T\n"
        "def f():\n    from pkg.lazy import g\n"
        "import pkg.top\n"
    )
    found = set(_runtime_imports(ast.parse(source)))
    assert {"pkg.lazy", "pkg.top"} <= found
    assert not any(m.startswith("pkg.only_for_types") for m in found)
    assert f"{NAME}.batch.submit" in import_graph()[f"{NAME}.operators.run_scenarios"]  # inside execute()


def test_no_module_imports_a_module_that_imports_it() -> None:
    assert cycles(import_graph()) == []


def test_suite_loader_imports_neither_operators_nor_triggers() -> None:
    graph = import_graph()
    below = reachable(graph, f"{NAME}.suites")
    assert not {m for m in below if m.startswith((f"{NAME}.operators", f"{NAME}.triggers"))}


def test_triggers_package_holds_only_triggers() -> None:
    from airflow.triggers.base import BaseTrigger

    for path in (PACKAGE / "triggers").glob("*.py"):
        if path.name == "__init__.py":
            continue
        tree = ast.parse(path.read_text())
        classes = [n for n in tree.body if isinstance(n, ast.ClassDef)]
        functions = [n for n in tree.body if isinstance(n, ast.FunctionDef | ast.AsyncFunctionDef)]
        assert classes, f"{path.name} defines no trigger"
        assert not functions, f"{path.name} has module-level functions: they belong in batch/"
        module = __import__(_module_name(path), fromlist=["x"])
        for cls in classes:
            assert issubclass(getattr(module, cls.name), BaseTrigger), (
                f"{path.name}:{cls.name} is not a trigger"
            )


def test_no_function_is_too_tangled_to_review() -> None:
    """`radon cc -n D` lists every function of cyclomatic complexity above 20: there must be none."""
    radon = shutil.which("radon", path=str(Path(sys.executable).parent)) or shutil.which("radon")
    if radon is None:
        pytest.fail("radon is not installed: it is in the dev extras (make install)")
    out = subprocess.run(
        [radon, "cc", "-n", "D", "-s", str(PACKAGE)], capture_output=True, text=True, check=True
    )
    assert out.stdout.strip() == ""
