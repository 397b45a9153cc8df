"""The warehouse's layering, checked on the source: no import cycles, and reads never reach DDL."""

from __future__ import annotations

import ast
import inspect
from pathlib import Path

import cekura_livekit
from cekura_livekit.tasks import report as report_tasks

PACKAGE = Path(cekura_livekit.__file__).parent


def _imports(path: Path) -> set[str]:
    """Modules of this package imported anywhere in `path` (module level or inside functions)."""
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("cekura_livekit"):
            found.add(node.module)
        elif isinstance(node, ast.Import):
            found.update(a.name for a in node.names if a.name.startswith("cekura_livekit"))
    return found


def _graph() -> dict[str, set[str]]:
    graph: dict[str, set[str]] = {}
    for path in PACKAGE.rglob("*.py"):
        parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
        name = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
        graph[name] = _imports(path)
    return graph


def _reaches(graph: dict[str, set[str]], start: str, target: str) -> bool:
    seen: set[str] = set()
    todo = list(graph.get(start, ()))
    while todo:
        name = todo.pop()
        if name == target:
            return True
        if name not in seen:
            seen.add(name)
            todo.extend(graph.get(name, ()))
    return False


def test_no_warehouse_module_imports_a_module_that_imports_it() -> None:
    graph = _graph()
    warehouse = [m for m in graph if m.startswith(("cekura_livekit.warehouse", "cekura_livekit.stats"))]
    cycles = [m for m in warehouse if _reaches(graph, m, m)]
    assert cycles == []


def test_reads_never_reach_ddl_or_writes() -> None:
    graph = _graph()
    for writer in (
        "cekura_livekit.warehouse.ddl",
        "cekura_livekit.warehouse.writer",
        "cekura_livekit.warehouse.trends",
    ):
        assert not _reaches(graph, "cekura_livekit.warehouse.read", writer), writer
    source = inspect.getsource(report_tasks.latest_run_date) + inspect.getsource(report_tasks.render_report)
    assert "ensure_tables" not in source
    assert "transaction" not in source


def test_one_statistics_module() -> None:
    assert not (PACKAGE / "results" / "stats.py").exists()
    graph = _graph()
    users = {m for m, deps in graph.items() if "cekura_livekit.stats" in deps}
    assert {"cekura_livekit.warehouse.metrics", "cekura_livekit.report.stats"} <= users
