"""CekuraSyncResultsOperator: argument checks before any call, and what it tells downstream DAGs."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from cekura_livekit.assets import RUN_DATES_EXTRA, fact_assets
from cekura_livekit.compat import AirflowFailException
from cekura_livekit.operators.sync import CekuraSyncResultsOperator
from cekura_livekit.sync.source import SourceRules
from cekura_sandbox import Sandbox
from tests.support.warehouse import WarehouseTarget


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"agent_ids": ["101", "x"]}, "not a Cekura agent id"),
        ({"agent_ids": [True]}, "not a Cekura agent id"),
        ({"project_id": "eleven"}, "project_id='eleven'"),
        ({"initial_days": -1}, "initial_days=-1"),
        ({"overlap_minutes": "15"}, "overlap_minutes='15'"),
        ({"ci_pattern": "("}, "ci_pattern='\\('"),
        ({"schema": "bad schema"}, "plain SQL identifier"),
    ],
)
def test_bad_arguments_fail_when_the_dag_is_parsed(kwargs: dict[str, Any], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        CekuraSyncResultsOperator(task_id="sync", warehouse_conn_id="wh", **kwargs)


def test_a_backfill_with_bounds_reversed_is_refused_before_any_call() -> None:
    op = CekuraSyncResultsOperator(
        task_id="sync", warehouse_conn_id="wh", since="2026-06-02", until="2026-06-01"
    )
    # Permanent (`batch.errors.reported`): a retry cannot fix the bounds.
    with pytest.raises(AirflowFailException, match="is not before until"):
        op.execute({})
    op = CekuraSyncResultsOperator(task_id="sync", warehouse_conn_id="wh", since="yesterday")
    with pytest.raises(AirflowFailException, match="since='yesterday' is not an ISO date"):
        op.execute({})


def test_source_rules() -> None:
    rules = SourceRules()
    assert rules.classify({"is_cronjob": "true", "name": "ci: x"}) == "cron"  # the spec types it as a string
    assert rules.classify({"is_cronjob": True}) == "cron"
    assert rules.classify({"is_cronjob": False, "name": "airflow d.t @ manual__2026"}) == "airflow"
    assert rules.classify({"name": "nightly · airflow dag.run[3] @ scheduled__x (attempt 2)"}) == "airflow"
    assert rules.classify({"name": "ci: agent-tests #12"}) == "ci"
    assert rules.classify({"name": "GitHub Actions smoke"}) == "ci"
    assert rules.classify({"name": "Run 2026-06-01"}) == "unknown"
    assert rules.classify({"name": None}) == "unknown"
    mine = SourceRules(api_pattern=r"^script: ", dashboard_pattern=r"^Run \d")
    assert mine.classify({"name": "script: nightly export"}) == "api"
    assert mine.classify({"name": "Run 2026-06-01"}) == "dashboard"
    assert mine.classify({"name": "circle"}) == "unknown"  # 'ci' must start the name or be a word


class _Event:
    def __init__(self) -> None:
        self.extra: dict[str, Any] = {}


def test_the_sync_announces_the_run_dates_it_touched(
    cekura_sandbox: Sandbox, cekura_sandbox_connections: dict[str, str], sqlite_warehouse: WarehouseTarget
) -> None:
    from cekura_livekit.hooks.cekura import CekuraHook
    from cekura_livekit.models import ResultSummary

    cekura_sandbox.set_time(datetime.now(UTC) - timedelta(hours=2))
    rid = int(cekura_sandbox.create_result("cron", 102, [2101])["id"])
    deadline = time.monotonic() + 60
    while not ResultSummary.from_result(CekuraHook().get_result(rid)).is_terminal:
        assert time.monotonic() < deadline
        time.sleep(0.1)
    op = CekuraSyncResultsOperator(
        task_id="sync", warehouse_conn_id=sqlite_warehouse.conn_id, agent_ids="101,102"
    )
    events = {asset: _Event() for asset in fact_assets(sqlite_warehouse.conn_id)}
    out = op.execute({"outlet_events": events})
    assert out["results"] == 1
    assert [s["sync_id"] for s in out["scopes"]] == ["agent:101", "agent:102"]  # one watermark per agent
    assert out["run_dates"]
    for event in events.values():
        assert event.extra[RUN_DATES_EXTRA] == out["run_dates"]
