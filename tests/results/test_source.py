"""`results.source`: the `source` vocabulary, what a payload itself says (cron flag in either spelling, this
provider's batch names) and how a caller's value combines with it."""

from __future__ import annotations

from typing import Any

import pytest

from cekura_livekit.batch.identity import TaskIdentity
from cekura_livekit.batch.spec import BatchSpec
from cekura_livekit.batch.submit import batch_name
from cekura_livekit.results.source import (
    AIRFLOW,
    CI,
    CRON,
    SOURCES,
    UNKNOWN,
    check_source,
    resolve_source,
    source_from_payload,
)


@pytest.mark.parametrize("value", [*SOURCES, None])
def test_known_sources_and_none_pass(value: str | None) -> None:
    assert check_source(value) == value


@pytest.mark.parametrize("value", ["Airflow", "github", "", 1])
def test_an_unknown_source_names_the_field_the_value_and_the_choices(value: object) -> None:
    with pytest.raises(ValueError) as caught:
        check_source(value, "load.source")
    assert str(caught.value).startswith(f"load.source={value!r} is not a result source: use one of ")
    assert "'dashboard'" in str(caught.value)


@pytest.mark.parametrize(
    ("payload", "source"),
    [
        ({"is_cronjob": True}, CRON),
        ({"is_cronjob": "true"}, CRON),  # typed as a string in Cekura's spec
        ({"is_cronjob": " Yes "}, CRON),
        ({"is_cronjob": "1", "name": "airflow d.t @ r · prod"}, CRON),  # the cron flag is checked first
        ({"is_cronjob": False, "name": "airflow nightly.run @ scheduled__2024 · prod"}, AIRFLOW),
        ({"name": "smoke · airflow nightly.run[3] @ manual__x · prod (attempt 2)"}, AIRFLOW),
        ({"is_cronjob": "false", "name": "nightly"}, None),
        ({"name": "airflow without the run id"}, None),
        ({"name": "my airflow dag @ noon"}, None),  # "airflow" must start the name or follow "· "
        ({"name": None}, None),
        ({}, None),
        (None, None),
    ],
)
def test_what_the_payload_itself_says(payload: dict[str, Any] | None, source: str | None) -> None:
    assert source_from_payload(payload) == source


def test_the_names_submit_gives_are_recognised() -> None:
    identity = TaskIdentity("nightly", "run_suite", "scheduled__2026-01-01T00:00:00+00:00", map_index=3)
    spec = BatchSpec.__new__(BatchSpec)  # batch_name reads only the spec's name
    for named in (None, "Smoke"):
        object.__setattr__(spec, "name", named)
        for attempt in (1, 2):
            name = batch_name(spec, identity, attempt=attempt, deployment="prod")
            assert source_from_payload({"name": name}) == AIRFLOW, name


@pytest.mark.parametrize(
    ("given", "payload", "resolved"),
    [
        (CI, {"is_cronjob": True}, CI),  # the caller knows better than the payload
        (None, {"is_cronjob": True}, CRON),
        (UNKNOWN, {"is_cronjob": True}, CRON),  # "unknown" is not knowledge: the payload may tell
        (UNKNOWN, {}, UNKNOWN),
        (None, {}, None),  # nothing known: the writer keeps what a previous load stored
    ],
)
def test_resolve_source(given: str | None, payload: dict[str, Any], resolved: str | None) -> None:
    assert resolve_source(given, payload) == resolved


def test_resolve_source_refuses_an_unknown_given_value() -> None:
    with pytest.raises(ValueError, match="source='robot'"):
        resolve_source("robot", {})
