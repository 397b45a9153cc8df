"""Every fenced ```sql / ```python block in docs/ runs: SQL against a seeded PostgreSQL warehouse, Python in a
fresh namespace. Only blocks preceded by `<!-- no-run -->` (shell/docker snippets) are exempt."""

from __future__ import annotations

import re
from datetime import date, timedelta
from pathlib import Path

import pytest

from cekura_livekit.results.frames import extract
from cekura_livekit.tasks.trends import refresh_trends
from cekura_livekit.warehouse.writer import load_extract
from tests.support.warehouse import PG_DSN, WarehouseTarget, make_result, synthetic_runs

DOCS = Path(__file__).resolve().parents[2] / "docs"
FENCE = re.compile(r"(<!-- no-run -->\s*)?```(\w+)\n(.*?)```", re.S)


def blocks() -> list[tuple[str, str, str, bool]]:
    found = []
    for page in sorted(DOCS.glob("*.md")):
        for n, m in enumerate(FENCE.finditer(page.read_text())):
            found.append((f"{page.name}#{n}", m.group(2), m.group(3), bool(m.group(1))))
    return found


def test_every_block_runs_or_is_marked_no_run() -> None:
    for name, lang, _, no_run in blocks():
        assert no_run or lang in {"sql", "python", "yaml"}, (
            f"{name}: ```{lang} needs <!-- no-run --> or a test"
        )


@pytest.fixture
def seeded(pg_warehouse: WarehouseTarget) -> WarehouseTarget:
    start = date.today() - timedelta(days=40)
    runs = list(synthetic_runs(600, start=start, days=40))
    load_extract(pg_warehouse.conn_id, extract(make_result(1, runs)), pg_warehouse.schema)
    refresh_trends(pg_warehouse.conn_id, pg_warehouse.schema)
    return pg_warehouse


SQL = [(name, code) for name, lang, code, no_run in blocks() if lang == "sql" and not no_run]


@pytest.mark.postgres
@pytest.mark.parametrize(("name", "code"), SQL, ids=[n for n, _ in SQL])
def test_sql_sample_runs(name: str, code: str, seeded: WarehouseTarget) -> None:
    import psycopg

    with psycopg.connect(PG_DSN) as conn:
        conn.execute(f'SET search_path TO "{seeded.schema}"')
        rows = conn.execute(code).fetchall()
    if "cekura_regressions" not in code:  # no regression is guaranteed in random data
        assert rows, name


def test_there_are_sql_samples() -> None:
    assert len(SQL) >= 5


YAML = [(name, code) for name, lang, code, no_run in blocks() if lang == "yaml" and not no_run]


@pytest.mark.parametrize(("name", "code"), YAML, ids=[n for n, _ in YAML])
def test_yaml_sample_is_a_valid_suite_file(name: str, code: str) -> None:
    """A suite file shown in the docs loads as one: the example a reader copies works."""
    import yaml

    from cekura_livekit.suites import parse_suite

    suite = parse_suite(yaml.safe_load(code), name)
    assert suite.dag_id.startswith("cekura_regression_")


def test_there_are_yaml_samples() -> None:
    assert YAML
