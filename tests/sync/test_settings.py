"""The `cekura_sync` DAG's settings from the environment: defaults, the ways to switch off, and errors that name
the variable, the value and the fix."""

from __future__ import annotations

import pytest

from cekura_livekit.sync import settings

VARIABLES = (
    "CEKURA_SYNC_SCHEDULE",
    "CEKURA_SYNC_AGENT_IDS",
    "CEKURA_SYNC_PROJECT_ID",
    "CEKURA_SYNC_ON_WEBHOOKS",
)


@pytest.fixture(autouse=True)
def _clean(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in VARIABLES:
        monkeypatch.delenv(name, raising=False)


def test_defaults_sync_hourly_everything_the_key_sees_without_webhooks() -> None:
    assert settings.sync_schedule() == "@hourly" == settings.DEFAULT_SCHEDULE
    assert settings.sync_agent_ids() == []
    assert settings.sync_project_id() is None
    assert settings.sync_on_webhooks() is False
    assert settings.sync_dag_schedule() == "@hourly"


@pytest.mark.parametrize("raw", ["none", "None", "NULL", "", "  "])
def test_the_schedule_can_be_turned_off(monkeypatch: pytest.MonkeyPatch, raw: str) -> None:
    monkeypatch.setenv("CEKURA_SYNC_SCHEDULE", raw)
    assert settings.sync_schedule() is None


def test_a_cron_expression_is_kept_as_written(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CEKURA_SYNC_SCHEDULE", " */15 * * * * ")
    assert settings.sync_schedule() == "*/15 * * * *"


def test_agent_ids_are_a_comma_list_and_blanks_are_ignored(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CEKURA_SYNC_AGENT_IDS", " 101, 102,,103 ")
    assert settings.sync_agent_ids() == [101, 102, 103]


def test_a_bad_agent_id_names_the_variable_the_values_and_the_fix(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CEKURA_SYNC_AGENT_IDS", "101,abc,-2")
    with pytest.raises(ValueError) as caught:
        settings.sync_agent_ids()
    message = str(caught.value)
    assert "CEKURA_SYNC_AGENT_IDS='101,abc,-2'" in message
    assert "['abc', '-2']" in message
    assert "'101,102'" in message


def test_the_project_id(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CEKURA_SYNC_PROJECT_ID", " 11 ")
    assert settings.sync_project_id() == 11
    monkeypatch.setenv("CEKURA_SYNC_PROJECT_ID", "project-11")
    with pytest.raises(
        ValueError, match=r"CEKURA_SYNC_PROJECT_ID='project-11' is not a Cekura project id.*'11'"
    ):
        settings.sync_project_id()


@pytest.mark.parametrize(
    ("raw", "on"), [("true", True), ("YES", True), ("1", True), ("false", False), ("no", False)]
)
def test_sync_on_webhooks_reads_booleans(monkeypatch: pytest.MonkeyPatch, raw: str, on: bool) -> None:
    monkeypatch.setenv("CEKURA_SYNC_ON_WEBHOOKS", raw)
    assert settings.sync_on_webhooks() is on


def test_sync_on_webhooks_refuses_anything_else(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CEKURA_SYNC_ON_WEBHOOKS", "sometimes")
    with pytest.raises(ValueError, match=r"CEKURA_SYNC_ON_WEBHOOKS='sometimes' must be true or false"):
        settings.sync_on_webhooks()


def test_with_webhooks_the_schedule_is_the_time_or_the_feed(monkeypatch: pytest.MonkeyPatch) -> None:
    from airflow.sdk import AssetOrTimeSchedule

    from cekura_livekit.webhooks.feed import watched_results_asset

    monkeypatch.setenv("CEKURA_SYNC_ON_WEBHOOKS", "true")
    schedule = settings.sync_dag_schedule()
    assert isinstance(schedule, AssetOrTimeSchedule)
    monkeypatch.setenv("CEKURA_SYNC_SCHEDULE", "none")
    only_feed = settings.sync_dag_schedule()
    assert isinstance(only_feed, list)
    assert len(only_feed) == 1
    assert only_feed[0].name == watched_results_asset().name
