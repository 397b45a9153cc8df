"""What one Cekura webhook says: its event type, the object it is about, and whether Airflow submitted it.

Cekura posts `{"event_type": "result.completed", "data": {<the result>}}` (and `call_log.completed` for
observability calls) with the organisation's secret in `X-CEKURA-SECRET`; it does not sign the body, keeps
no delivery log and never replays. Only the identifiers are taken from the body: the verdict is always
read back from the API, so a forged or stale body can at most cause one extra read.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any

RESULT_COMPLETED = "result.completed"
CALL_LOG_COMPLETED = "call_log.completed"

#: Names `batch.submit.batch_name` gives the batches Airflow submits: "[<name> · ]airflow <dag>.<task> @ <run>".
_AIRFLOW_NAME = re.compile(r"(?:^|· )airflow \S+ @ ")


class MalformedDelivery(ValueError):
    """The body is not a Cekura webhook: answered 400, nothing recorded."""


@dataclass(frozen=True)
class Delivery:
    """The parts of a webhook the channel keeps; `key` makes duplicate deliveries one row."""

    event_type: str
    object_id: int | None
    result_id: int | None
    airflow_submitted: bool

    @property
    def key(self) -> str:
        return f"{self.event_type}:{self.object_id}"

    @property
    def wakes_a_wait(self) -> bool:
        return self.event_type == RESULT_COMPLETED and self.result_id is not None


def _int_or_none(value: Any) -> int | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, str) and value.isdigit():
        return int(value)
    return None


def parse_delivery(body: bytes) -> Delivery:
    """Parse a verified body; raise `MalformedDelivery` (naming what is wrong) for anything else."""
    try:
        payload = json.loads(body)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise MalformedDelivery(f"the body is not JSON ({exc.__class__.__name__})") from None
    if not isinstance(payload, dict):
        raise MalformedDelivery("the body must be a JSON object with 'event_type' and 'data'")
    event_type = payload.get("event_type")
    if not isinstance(event_type, str) or not event_type or len(event_type) > 100:
        raise MalformedDelivery("'event_type' must be a non-empty string")
    data = payload.get("data")
    if not isinstance(data, dict):
        raise MalformedDelivery("'data' must be a JSON object")
    object_id = _int_or_none(data.get("id"))
    if event_type == RESULT_COMPLETED and object_id is None:
        raise MalformedDelivery("a result.completed delivery needs the result's integer 'data.id'")
    result_id = object_id if event_type == RESULT_COMPLETED else _int_or_none(data.get("result_id"))
    name = data.get("name")
    airflow = isinstance(name, str) and bool(_AIRFLOW_NAME.search(name))
    return Delivery(event_type, object_id, result_id, airflow)
