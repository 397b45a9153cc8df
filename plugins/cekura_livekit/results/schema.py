"""Column names and pandas dtypes of the extracted frames (no pandas import: DAG files stay cheap to parse).

The warehouse table declarations derive from these, so a column added here reaches the tables (and is
added to existing tables on the next load).

The text dtype is the one dtype that depends on the pandas version (docs/compatibility.md), and this is its
one home: every frame builder, reader and test takes `STR` from here rather than spelling a dtype.
"""

from __future__ import annotations

import sys
from importlib.metadata import version


def _pandas_major() -> int:
    """pandas' major version without importing pandas: the loaded module's if any, else the installed one's."""
    loaded = getattr(sys.modules.get("pandas"), "__version__", None)
    return int((loaded or version("pandas")).split(".")[0])


INT = "Int64"
FLOAT = "Float64"
BOOL = "boolean"
#: Text columns. pandas 3: its `str` dtype (missing = NaN). pandas 2 has that dtype only with pyarrow and
#: `future.infer_string`; without them `astype("str")` gives `object` and writes a missing value as the text
#: 'None' or 'nan'. So on pandas 2 text columns are `object` columns of str with None/NaN for missing, the
#: representation pandas 2 itself uses for text, and converting to them never stringifies a missing value.
STR = "str" if _pandas_major() >= 3 else "object"
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
    # Facts that explain a change (issue 19 item 3), as Cekura's Run object names them:
    "agent_version": STR,  # the agent version (history record) the run ran against: its label, else its id
    "voice_recording_url": STR,  # the call's recording; None for chat runs and runs without a call
    "has_transcript": BOOL,  # Cekura holds a transcript of the run (None when the payload does not say)
    "provider_call_id": STR,  # the call's id at the voice provider (LiveKit room / SIP call), for support
    "credits": FLOAT,  # credits the run consumed by Cekura's documented rates (batch.cost); None while running
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
    "agent_version": STR,  # the agent version this result ran against (Cekura's `agent_version`)
}

__all__ = ["BOOL", "DAY", "FLOAT", "INT", "METRIC_COLUMNS", "RESULT_COLUMNS", "RUN_COLUMNS", "STR", "TS"]
