"""The load context a reload does not give is taken from the stored result row (issue 19 item 5)."""

from __future__ import annotations

import pytest

from cekura_livekit.results.context import inherit_context, is_given, quarantine_ids
from cekura_livekit.results.frames import extract
from cekura_livekit.results.source import check_source, source_from_payload

RESULT = {
    "id": 7,
    "agent": 101,
    "status": "completed",
    "created_at": "2026-06-01T10:00:00Z",
    "runs": [
        {"id": 1, "scenario": 11, "status": "completed", "success": True},
        {"id": 2, "scenario": 12, "status": "completed", "success": False},
    ],
}
STORED = {
    7: {
        "suite": "nightly",
        "quarantine": "[12]",
        "dashboard_url": "https://dashboard.cekura.ai/1/results/7",
        "dag_id": "regression_nightly",
        "dag_run_id": "scheduled__1",
        "source": "airflow",
    }
}


def test_a_reload_without_context_keeps_the_stored_one() -> None:
    ex = extract(RESULT)
    results, runs = inherit_context(ex.results, ex.runs, STORED)
    assert results.loc[0, "suite"] == "nightly"
    assert results.loc[0, "quarantine"] == "[12]"
    assert results.loc[0, "source"] == "airflow"
    assert runs["suite"].tolist() == ["nightly", "nightly"]
    assert runs["quarantined"].tolist() == [False, True]
    assert set(runs["dashboard_url"]) == {STORED[7]["dashboard_url"]}
    assert set(runs["dag_run_id"]) == {"scheduled__1"}


def test_given_context_wins_and_blanks_become_the_defaults() -> None:
    ex = extract(RESULT, suite="smoke", quarantine=[], source="ci")
    results, runs = inherit_context(ex.results, ex.runs, STORED)
    assert results.loc[0, "suite"] == "smoke"
    assert results.loc[0, "quarantine"] == "[]"
    assert runs["quarantined"].tolist() == [False, False]
    assert results.loc[0, "source"] == "ci"
    fresh, fresh_runs = inherit_context(extract(RESULT).results, extract(RESULT).runs, {})
    assert fresh.loc[0, "suite"] == ""
    assert fresh.loc[0, "source"] == "unknown"
    assert fresh.loc[0, "quarantine"] is None or not is_given("quarantine", fresh.loc[0, "quarantine"])
    assert set(fresh_runs["source"]) == {"unknown"}


def test_source_from_cekura_fields_and_batch_names() -> None:
    assert source_from_payload({"is_cronjob": True}) == "cron"
    assert source_from_payload({"is_cronjob": "true"}) == "cron"
    assert (
        source_from_payload({"name": "nightly · airflow regression.run_scenarios @ scheduled__x"})
        == "airflow"
    )
    assert source_from_payload({"name": "my airflowish batch"}) is None
    assert extract({**RESULT, "is_cronjob": True}).runs["source"].unique().tolist() == ["cron"]
    with pytest.raises(ValueError, match=r"source='github' is not a result source: use one of"):
        check_source("github")
    assert quarantine_ids("not json") is None
    assert quarantine_ids("[3, 4]") == frozenset({3, 4})
