"""Column names and pandas dtypes of the extracted frames (no pandas import: DAG files stay cheap to parse).

The warehouse table declarations derive from these, so a column added here reaches the tables (and is
added to existing tables on the next load).
"""

from __future__ import annotations

INT = "Int64"
FLOAT = "Float64"
BOOL = "boolean"
STR = "str"
TS = "datetime64[us, UTC]"
#: A calendar day (UTC), as the warehouse readers return it: naive midnight timestamps.
DAY = "datetime64[us]"

RUN_COLUMNS: dict[str, str] = {
    "run_id": INT,
    "result_id": INT,
    "agent_id": INT,
    "agent_name": STR,
    "scenario_id": INT,
    "scenario_name": STR,
    "personality_id": INT,
    "personality_name": STR,
    "status": STR,
    "success": BOOL,
    "evaluation_status": STR,
    "outcome": STR,
    "error_message": STR,
    "ended_reason": STR,
    "duration_s": FLOAT,
    "expected_outcome_score": FLOAT,
    "started_at": TS,
    "run_date": DAY,  # UTC calendar day of started_at (the readers' type: datetime64[us], midnight)
    "run_as_text": BOOL,
    "mode": STR,  # `<voice|chat>/<managed|byo|unknown>`: results.frames.grain_mode
    "suite": STR,  # suite id of the regression DAG that loaded the run, '' when unknown
    "dashboard_url": STR,  # the run's result page in the Cekura dashboard (runs are shown on it)
    "quarantined": BOOL,  # the scenario was quarantined in its suite when the run was loaded
    "trace_id": STR,
    "dag_id": STR,
    "dag_run_id": STR,
    "source": STR,  # who started the run's result: results.source.SOURCES (airflow, cron, ci, …, unknown)
}

METRIC_COLUMNS: dict[str, str] = {
    "run_id": INT,
    "metric_id": INT,
    "metric_name": STR,
    "metric_type": STR,
    "score": FLOAT,
    "value": STR,  # any JSON value the metric reports, as text (numbers and booleans JSON-encoded)
    "passed": BOOL,
    "explanation": STR,  # the explanation list, JSON-encoded
    # Typed values by Cekura's metric output type (results.frames.metric_kind):
    "metric_kind": STR,  # binary / rating / numeric / enum (None when the type is unknown)
    "value_num": FLOAT,  # numeric metrics: the value (else the reported p50), in `unit`
    "unit": STR,  # numeric metrics: the unit Cekura gives (e.g. "ms"), None when it gives none
    "value_enum": STR,  # enum metrics: the chosen category
    "rating": FLOAT,  # rating (continuous_qualitative) metrics: the score, 0–100
}

RESULT_COLUMNS: dict[str, str] = {
    "result_id": INT,
    "agent_id": INT,
    "agent_name": STR,
    "name": STR,
    "mode": STR,
    "status": STR,
    "total_runs": INT,
    "completed_runs": INT,
    "success_runs": INT,
    "failed_runs": INT,
    "run_as_text": BOOL,
    "is_cronjob": BOOL,
    "suite": STR,
    "dashboard_url": STR,  # the result's page in the Cekura dashboard
    "created_at": TS,
    "updated_at": TS,
    "dag_id": STR,
    "dag_run_id": STR,
    "source": STR,  # who started the result: results.source.SOURCES (airflow, cron, ci, …, unknown)
    # The suite's quarantined scenario ids the load was given, JSON text ("[12, 40]"); NULL when none was
    # given. Stored WITH the result so a later reload (stale refresh, sync, backfill) keeps the grain.
    "quarantine": STR,
}

__all__ = ["BOOL", "DAY", "FLOAT", "INT", "METRIC_COLUMNS", "RESULT_COLUMNS", "RUN_COLUMNS", "STR", "TS"]
