"""The warehouse tables: one declaration per table, turned into DDL per dialect by `dialects.py`.

Logical column types keep PostgreSQL and SQLite in step: int, float, text, bool, timestamp (UTC), date.
Counts are stored next to rates so any window can be re-aggregated later. Primary keys are the natural keys,
so reloading the same runs upserts instead of duplicating.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from cekura_livekit.results.schema import METRIC_COLUMNS, RESULT_COLUMNS, RUN_COLUMNS, TS

DEFAULT_SCHEMA = "cekura"
_IDENT = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,40}")


def check_identifier(value: object, what: str = "schema") -> str:
    """Schema names become SQL identifiers: allow only plain names, and say so before any side effect."""
    # fullmatch: `$` would accept a trailing newline and create a schema named "x\n" (issue 11 item 11).
    if not isinstance(value, str) or not _IDENT.fullmatch(value):
        raise ValueError(
            f"{what}={value!r} is not a plain SQL identifier; use letters, digits and underscores "
            "(not starting with a digit, at most 41 characters), e.g. 'cekura'"
        )
    return value


@dataclass(frozen=True)
class Table:
    """`name` is the logical suffix: PostgreSQL table `cekura_<name>` in the schema; SQLite `<schema>_<name>`."""

    name: str
    columns: tuple[tuple[str, str], ...]
    key: tuple[str, ...]

    @property
    def column_names(self) -> list[str]:
        return [c for c, _ in self.columns]

    @property
    def types(self) -> dict[str, str]:
        return dict(self.columns)

    @property
    def value_columns(self) -> list[str]:
        """Columns compared on upsert: everything but the key and the load stamp."""
        return [c for c in self.column_names if c not in self.key and c != "loaded_at"]


_FRAME_TO_LOGICAL = {"Int64": "int", "Float64": "float", "str": "text", "boolean": "bool", TS: "timestamp"}


def _from_frame(
    columns: dict[str, str], overrides: dict[str, str] | None = None
) -> tuple[tuple[str, str], ...]:
    overrides = overrides or {}
    return tuple((name, overrides.get(name, _FRAME_TO_LOGICAL[dtype])) for name, dtype in columns.items())


RESULTS = Table("results", (*_from_frame(RESULT_COLUMNS), ("loaded_at", "timestamp")), ("result_id",))
RUNS = Table(
    "runs", (*_from_frame(RUN_COLUMNS, {"run_date": "date"}), ("loaded_at", "timestamp")), ("run_id",)
)
RUN_METRICS = Table(
    "run_metrics", (*_from_frame(METRIC_COLUMNS), ("loaded_at", "timestamp")), ("run_id", "metric_id")
)
_DAY_KEY = (("run_date", "date"), ("agent_id", "int"), ("scenario_id", "int"))
SUCCESS_RATE_DAILY = Table(
    "success_rate_daily",
    (
        *_DAY_KEY,
        ("agent_name", "text"),
        ("scenario_name", "text"),
        ("runs", "int"),
        ("passed", "int"),
        ("failed_evaluation", "int"),
        ("infra_errors", "int"),
        ("timeouts", "int"),
        ("cancelled", "int"),
        ("evaluated", "int"),
        ("success_rate", "float"),
        ("wilson_low", "float"),
        ("wilson_high", "float"),
        ("passed_7d", "int"),
        ("evaluated_7d", "int"),
        ("rate_7d", "float"),
        ("passed_28d", "int"),
        ("evaluated_28d", "int"),
        ("rate_28d", "float"),
        ("updated_at", "timestamp"),
    ),
    ("run_date", "agent_id", "scenario_id"),
)
REGRESSIONS = Table(
    "regressions",
    (
        *_DAY_KEY,
        ("agent_name", "text"),
        ("scenario_name", "text"),
        ("current_start", "date"),
        ("baseline_start", "date"),
        ("baseline_end", "date"),
        ("baseline_passed", "int"),
        ("baseline_n", "int"),
        ("baseline_rate", "float"),
        ("current_passed", "int"),
        ("current_n", "int"),
        ("current_rate", "float"),
        ("rate_drop", "float"),
        ("z", "float"),
        ("p_value", "float"),
        ("severity", "text"),
        ("detected_at", "timestamp"),
    ),
    ("run_date", "agent_id", "scenario_id"),
)

#: One row per regression episode already alerted (see `alerts.py`): the memory that alerts only once.
ALERTS = Table(
    "regression_alerts",
    (
        ("agent_id", "int"),
        ("scenario_id", "int"),
        ("first_detected", "date"),
        ("last_seen", "date"),
        ("severity", "text"),
        ("alerted_at", "timestamp"),
    ),
    ("agent_id", "scenario_id", "first_detected"),
)

#: Facts a load writes (and the load task's Asset outlets).
FACT_TABLES: tuple[Table, ...] = (RESULTS, RUNS, RUN_METRICS)
#: Derived from the facts by the trends step (and the trends DAG's Asset outlets).
TREND_TABLES: tuple[Table, ...] = (SUCCESS_RATE_DAILY, REGRESSIONS)
#: Every table `ddl.ensure_tables` creates.
ALL_TABLES: tuple[Table, ...] = (*FACT_TABLES, *TREND_TABLES, ALERTS)
#: Trend tables use -1 for a run without an agent or a scenario: key columns cannot be NULL.
UNKNOWN_ID = -1
