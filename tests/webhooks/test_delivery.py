"""What a delivery says: Cekura's body shapes, the Airflow-name rule, and the malformed cases (400)."""

from __future__ import annotations

import pytest

from cekura_livekit.batch.identity import TaskIdentity
from cekura_livekit.batch.spec import BatchSpec
from cekura_livekit.batch.submit import batch_name
from cekura_livekit.webhooks.delivery import MalformedDelivery, parse_delivery
from tests.webhooks.support import body


def test_result_completed_names_its_result() -> None:
    d = parse_delivery(body(512))
    assert (d.event_type, d.result_id, d.key, d.wakes_a_wait) == (
        "result.completed",
        512,
        "result.completed:512",
        True,
    )
    assert d.airflow_submitted is False


def test_batches_airflow_submitted_are_recognised_by_the_name_submit_gives_them() -> None:
    identity = TaskIdentity("nightly", "run_suite", "scheduled__2026-01-01")
    spec = BatchSpec.__new__(BatchSpec)
    for named in (None, "Smoke"):
        object.__setattr__(spec, "name", named)
        name = batch_name(spec, identity, attempt=2)
        assert parse_delivery(body(7, name=name)).airflow_submitted, name
    assert not parse_delivery(body(7, name="airflow migration check")).airflow_submitted


def test_call_log_completed_is_kept_but_wakes_nothing() -> None:
    d = parse_delivery(body(9, event="call_log.completed"))
    assert d.result_id is None
    assert not d.wakes_a_wait
    assert d.key == "call_log.completed:9"


@pytest.mark.parametrize(
    ("raw", "says"),
    [
        (b"not json", "not JSON"),
        (b"\xff\xfe", "not JSON"),
        (b"[1, 2]", "JSON object"),
        (b'{"data": {"id": 1}}', "event_type"),
        (b'{"event_type": "result.completed", "data": []}', "'data'"),
        (b'{"event_type": "result.completed", "data": {"id": "x"}}', "data.id"),
        (b'{"event_type": "result.completed", "data": {"id": true}}', "data.id"),
    ],
)
def test_malformed_bodies_are_refused_naming_the_field(raw: bytes, says: str) -> None:
    with pytest.raises(MalformedDelivery, match=says):
        parse_delivery(raw)
