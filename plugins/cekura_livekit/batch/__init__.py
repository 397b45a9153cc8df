"""What a batch needs besides Airflow: input validation, submit/re-attach, waiting, verdict, own rooms.

Plain code the operator, the sensor and the trigger call, so each Airflow class stays a thin shell:
`spec` (validated inputs), `identity` (which task instance a batch belongs to), `submit` (state store, batch
name, attach-or-submit), `rooms` (bring-your-own LiveKit rooms), `leftover_rooms` (rooms an outage kept
open, deleted at the next try or run), `wait` (the one poll loop, driven sync or async), `event` (the wait's
typed event and its trigger payload), `verdict` (the pass/fail policy), `dashboard` (the result's link),
`errors` (permanent vs transient failures), `preflight` (checks before the first paid call), `outcome` (the
suite verdict's account of what failed).
"""

from typing import Any, Protocol


class TaskLog(Protocol):
    """What batch code logs through: a stdlib logger, or the task's own `self.log` (Airflow's structlog)."""

    def info(self, msg: str, /, *args: Any) -> Any: ...

    def warning(self, msg: str, /, *args: Any) -> Any: ...
