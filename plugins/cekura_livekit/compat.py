"""The Airflow names this package uses that moved between 3.1, 3.2 and 3.3, each imported from its one home here.

Why: managed Airflow services and company images lag (Airflow 3.1/3.2 are common), and the task SDK's public
surface grew over those releases. Airflow 3.1 has the exception classes only in `airflow.exceptions` (the SDK
re-exports just `AirflowException`), its configuration only in `airflow.configuration`, and no task state
store. Every module imports these names from here, so supporting another version is a change in one file.
Newest home first: on 3.3 nothing below falls back, and nothing here is deprecated there.

What is degraded on older versions is written in docs/compatibility.md: without the task state store (before
3.3) a retry finds its batch by the batch name only, and `batch.submit.StateStore` says so in the task log.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:  # mypy checks against the newest Airflow (the dev install), where the SDK has them all
    from airflow.sdk.configuration import conf
    from airflow.sdk.exceptions import (
        AirflowException,
        AirflowFailException,
        AirflowNotFoundException,
        AirflowSensorTimeout,
        AirflowSkipException,
        TaskDeferred,
    )
else:
    try:  # Airflow >= 3.2: the task SDK exports the task-facing exceptions
        from airflow.sdk.exceptions import (
            AirflowException,
            AirflowFailException,
            AirflowNotFoundException,
            AirflowSensorTimeout,
            AirflowSkipException,
            TaskDeferred,
        )
    except ImportError:  # Airflow 3.1: the same classes, in core (the SDK raises and catches these there)
        from airflow.exceptions import (
            AirflowException,
            AirflowFailException,
            AirflowNotFoundException,
            AirflowSensorTimeout,
            AirflowSkipException,
            TaskDeferred,
        )
    try:  # Airflow >= 3.2
        from airflow.sdk.configuration import conf
    except ImportError:  # Airflow 3.1
        from airflow.configuration import conf

__all__ = [
    "AirflowException",
    "AirflowFailException",
    "AirflowNotFoundException",
    "AirflowSensorTimeout",
    "AirflowSkipException",
    "TaskDeferred",
    "conf",
]
