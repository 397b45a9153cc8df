"""No code outside the engine adapters branches on a warehouse engine's name (issue 18 item 1).

Why: every `if dialect.name == "postgres"` outside `warehouse/engines/` is a place a new engine must be
written into (and an `else` that silently means another engine). The scan reads the source's AST, so
docstrings, comments and log text may name engines freely; what it forbids is using a name to decide:
- a comparison (`==`, `!=`, `in`, `not in`, …) with an engine name anywhere in it;
- a dict keyed by an engine name (a lookup table is a branch);
- `.startswith` / `.endswith` with an engine name;
- comparing the `.name` of a dialect or engine object with anything.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

import pytest

from cekura_livekit.warehouse.engines import ENGINES, REGISTRY

PACKAGE = Path(__file__).resolve().parents[2] / "plugins" / "cekura_livekit"
ADAPTERS = PACKAGE / "warehouse" / "engines"
ENGINE_NAMES = frozenset(
    {"postgres", "postgresql", "sqlite", *REGISTRY, *(engine.name.lower() for engine in ENGINES)}
)


def _strings(node: ast.AST) -> Iterator[str]:
    for child in ast.walk(node):
        if isinstance(child, ast.Constant) and isinstance(child.value, str):
            yield child.value.lower()


def _is_engine_name_attr(node: ast.AST) -> bool:
    """`<…dialect…>.name` / `<…engine…>.name`: the display name of an adapter."""
    if not (isinstance(node, ast.Attribute) and node.attr == "name"):
        return False
    owner = ast.unparse(node.value).lower()
    return "dialect" in owner or "engine" in owner


def engine_name_branches(source: str, filename: str = "<source>") -> list[str]:
    """Every place in `source` that decides by a warehouse engine's name, as `file:line: code`."""
    found: list[str] = []

    def flag(node: ast.AST) -> None:
        found.append(f"{filename}:{getattr(node, 'lineno', '?')}: {ast.unparse(node)[:120]}")

    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Compare):
            operands = [node.left, *node.comparators]
            if ENGINE_NAMES & set(_strings(node)) or any(_is_engine_name_attr(o) for o in operands):
                flag(node)
        elif isinstance(node, ast.Dict):
            keys = [k for k in node.keys if isinstance(k, ast.Constant) and isinstance(k.value, str)]
            if any(k.value.lower() in ENGINE_NAMES for k in keys):
                flag(node)
        elif isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute):
            if node.func.attr in {"startswith", "endswith"} and ENGINE_NAMES & set(_strings(node)):
                flag(node)
        elif isinstance(node, ast.match_case) and ENGINE_NAMES & set(_strings(node.pattern)):
            flag(node.pattern)
    return found


def package_branches(package: Path = PACKAGE) -> list[str]:
    """Engine-name branches in every module of `package` outside the adapters."""
    found: list[str] = []
    for path in sorted(package.rglob("*.py")):
        if ADAPTERS in path.parents:
            continue
        found.extend(engine_name_branches(path.read_text(), str(path.relative_to(package.parent))))
    return found


def test_no_engine_name_decides_anything_outside_the_adapters() -> None:
    assert package_branches() == []


@pytest.mark.parametrize(
    "code",
    [
        'if dialect.name == "postgres":\n    pass',
        'if wh.dialect.name != "sqlite":\n    pass',
        'x = "table prefix" if d.name == "SQLite" else "schema"',
        'ok = conn_type in {"postgres", "postgresql"}',
        'TYPES = {"sqlite": 1}',
        'if conn_type.startswith("postgres"):\n    pass',
        "if self.engine.name == KIND:\n    pass",
        'match kind:\n    case "sqlite":\n        pass',
    ],
)
def test_the_scan_catches_each_form_of_branch(code: str) -> None:
    assert engine_name_branches(code) != []


@pytest.mark.parametrize(
    "code",
    [
        '"""Works on PostgreSQL and SQLite."""',
        'log.info("loaded into postgres schema %s", schema)',
        "# sqlite: one writer at a time",
        'if table.name == "runs":\n    pass',
        'raise ValueError("point it at a postgres or sqlite connection")',
    ],
)
def test_the_scan_allows_names_in_prose(code: str) -> None:
    assert engine_name_branches(code) == []
