"""Who started a Cekura result: the `source` column of `cekura_results` and `cekura_runs`.

Why a column: the warehouse holds every result of the team, not only Airflow's (issue 19), and an analyst
asking "all results of agent X, whoever started them" must be able to tell them apart. Cekura says little:
a result carries `is_cronjob` (its scheduled cron jobs); everything else is known only to the caller that
loads it (this provider's load operator knows it submitted the batch; a sync only knows what Cekura says).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any, Final

AIRFLOW: Final = "airflow"
CRON: Final = "cron"
CI: Final = "ci"
DASHBOARD: Final = "dashboard"
API: Final = "api"
UNKNOWN: Final = "unknown"
#: Every value `source` takes; `unknown` when neither the caller nor Cekura's fields tell.
SOURCES: Final = (AIRFLOW, CRON, CI, DASHBOARD, API, UNKNOWN)


def check_source(value: object, what: str = "source") -> str | None:
    """`value` if it is one of SOURCES (None passes: "not given"); a ValueError naming the fix otherwise."""
    if value is None or value in SOURCES:
        return value
    raise ValueError(f"{what}={value!r} is not a result source: use one of {list(SOURCES)}, or None")


#: The name this provider gives every batch it submits (`batch.submit.batch_name`):
#: "[<spec name> · ]airflow <dag>.<task>[<map index>] @ <run id> · <deployment>[ (attempt n)]".
_AIRFLOW_NAME = re.compile(r"(?:^|· )airflow \S+ @ \S")


def source_from_payload(result: Mapping[str, Any] | None) -> str | None:
    """What a result's own fields say about who started it: `cron` for Cekura's cron jobs, `airflow` for a
    batch named by this provider, else None (Cekura records nothing else: CI, dashboard and API runs look
    alike, and a v1 submit may drop the name).

    `is_cronjob` is typed as a string in Cekura's spec and sent as a boolean: both spellings are read.
    """
    result = result or {}
    flag = result.get("is_cronjob")
    if flag is True or (isinstance(flag, str) and flag.strip().lower() in {"true", "1", "yes"}):
        return CRON
    name = result.get("name")
    if isinstance(name, str) and _AIRFLOW_NAME.search(name):
        return AIRFLOW
    return None


def resolve_source(given: str | None, result: Mapping[str, Any] | None) -> str | None:
    """The caller's source when it gives a known one, else what the payload says, else None (the writer
    then keeps the source a previous load stored, and stores `unknown` only when there is none)."""
    check_source(given)
    if given is not None and given != UNKNOWN:
        return given
    return source_from_payload(result) or given
