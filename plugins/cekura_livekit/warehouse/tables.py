"""The warehouse tables: one declaration per table, turned into DDL per engine by its adapter (`engines/`).

Logical column types keep PostgreSQL and SQLite in step: int, float, text, bool, timestamp (UTC), date.
Counts are stored next to rates so any window can be re-aggregated later. Primary keys are the natural keys,
so reloading the same runs upserts instead of duplicating.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import cached_property

from cekura_livekit.results.schema import DAY, METRIC_COLUMNS, RESULT_COLUMNS, RUN_COLUMNS, STR, TS

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
    comment: str = ""
    #: Secondary indexes (column tuples) beside the primary key: what the trends' date-range reads need.
    indexes: tuple[tuple[str, ...], ...] = ()

    # Cached: writers look types up per value (hundreds of thousands of times in a rebuild).
    @cached_property
    def column_names(self) -> list[str]:
        return [c for c, _ in self.columns]

    @cached_property
    def types(self) -> dict[str, str]:
        return dict(self.columns)

    @property
    def value_columns(self) -> list[str]:
        """Columns compared on upsert: everything but the key and the load stamp."""
        return [c for c in self.column_names if c not in self.key and c != "loaded_at"]


_FRAME_TO_LOGICAL = {
    "Int64": "int",
    "Float64": "float",
    STR: "text",  # pandas 3's `str`, pandas 2's `object` (results.schema.STR)
    "boolean": "bool",
    TS: "timestamp",
    DAY: "date",
}


def _from_frame(
    columns: dict[str, str], overrides: dict[str, str] | None = None
) -> tuple[tuple[str, str], ...]:
    overrides = overrides or {}
    return tuple((name, overrides.get(name, _FRAME_TO_LOGICAL[dtype])) for name, dtype in columns.items())


RESULTS = Table(
    "results",
    (*_from_frame(RESULT_COLUMNS), ("loaded_at", "timestamp")),
    ("result_id",),
    "One Cekura result (a submitted batch) per row, with its dashboard URL, mode and suite.",
    # A load's batch diff looks up the suite's previous batch: 1,000 batches a night over a year of results.
    indexes=(("suite", "created_at"),),
)
RUNS = Table(
    "runs",
    (*_from_frame(RUN_COLUMNS, {"run_date": "date"}), ("loaded_at", "timestamp")),
    ("run_id",),
    "One Cekura run (call) per row; run_date is the UTC calendar day of started_at.",
    # A trends refresh reads the runs of the days it rebuilds: without this, every refresh scans all history.
    # A load's batch diff reads one batch's runs by result_id: without it, two scans of all history a batch.
    indexes=(("run_date",), ("result_id",)),
)
RUN_METRICS = Table(
    "run_metrics",
    (*_from_frame(METRIC_COLUMNS), ("loaded_at", "timestamp")),
    ("run_id", "metric_id"),
    "One metric result per run, typed by Cekura output type (binary, rating, numeric, enum).",
)
#: The dimensions that change what a rate means: a chat run and a voice run of one scenario never share a
#: rate, nor do two suites running it. `mode` is `<voice|chat>/<managed|byo|unknown>` (see
#: `results.frames.grain_mode`); `suite` is the suite id of the regression DAG that loaded it, '' if unknown.
GRAIN = (("mode", "text"), ("suite", "text"))
_GRAIN_KEY = tuple(c for c, _ in GRAIN)
_DAY_KEY = (("run_date", "date"), ("agent_id", "int"), ("scenario_id", "int"), *GRAIN)
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
    ("run_date", "agent_id", "scenario_id", *_GRAIN_KEY),
    "Daily success rate per agent x scenario x mode x suite from summed counts; rolling 7/28-day rates.",
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
        ("q_value", "float"),
        ("severity", "text"),
        ("detected_at", "timestamp"),
        ("episode_id", "text"),
        ("started_on", "date"),
    ),
    ("run_date", "agent_id", "scenario_id", *_GRAIN_KEY),
    "Drops in effect per day: one row per day x series on which a detected drop episode "
    "(cekura_regression_episodes, by episode_id) was in effect and already flagged.",
)

#: One row per success-rate drop episode (`detection.drops.detect_drops_many` over the daily counts): what
#: people see and what alerts are keyed on (`episode_id`, stable across late data: `detection.identity`).
EPISODES = Table(
    "regression_episodes",
    (
        ("agent_id", "int"),
        ("scenario_id", "int"),
        *GRAIN,
        ("started_on", "date"),
        ("agent_name", "text"),
        ("scenario_name", "text"),
        ("last_seen", "date"),
        ("flagged_days", "int"),
        ("baseline_rate", "float"),
        ("baseline_n", "int"),
        ("current_rate", "float"),
        ("current_n", "int"),
        ("q_value", "float"),
        ("worst_rate", "float"),
        ("peak_drop", "float"),
        ("severity", "text"),
        ("state", "text"),
        ("resolved_on", "date"),
        ("quarantined", "bool"),
        ("dashboard_url", "text"),
        ("updated_at", "timestamp"),
        ("episode_id", "text"),
        ("flagged_on", "date"),
        ("resolution_shown_on", "date"),
        ("post_passed", "int"),
        ("post_n", "int"),
        ("post_rate", "float"),
        ("rate_drop", "float"),
        ("threshold", "float"),
        ("evidence", "text"),
    ),
    ("agent_id", "scenario_id", *_GRAIN_KEY, "started_on"),
    "Success-rate drop episodes (anchored CUSUM): start at the change point, flagged_on, resolved_on.",
    indexes=(("episode_id",),),
)

#: Call duration enters the metric tables as a metric of its own (from `cekura_runs.duration_s`).
CALL_DURATION_METRIC_ID = 0
_METRIC_KEY = ("run_date", "agent_id", "scenario_id", *_GRAIN_KEY, "metric_id")
#: Per day × agent × scenario × mode × suite × metric: exact percentiles (linear interpolation over every
#: value, like PostgreSQL's percentile_cont) and, for binary metrics, the pass rate with Wilson bounds.
METRIC_DAILY = Table(
    "metric_daily",
    (
        *_DAY_KEY,
        ("metric_id", "int"),
        ("metric_name", "text"),
        ("metric_kind", "text"),
        ("unit", "text"),
        ("count", "int"),
        ("mean", "float"),
        ("p50", "float"),
        ("p90", "float"),
        ("p95", "float"),
        ("passed", "int"),
        ("evaluated", "int"),
        ("pass_rate", "float"),
        ("wilson_low", "float"),
        ("wilson_high", "float"),
        ("updated_at", "timestamp"),
    ),
    _METRIC_KEY,
    "Daily metric statistics: exact percentiles (linear interpolation), Wilson bounds for binary metrics.",
)
#: Per window end, the numeric-metric episodes in effect (`metric_episodes.py`: an anchored CUSUM on the daily p50).
METRIC_REGRESSIONS = Table(
    "metric_regressions",
    (
        *_DAY_KEY,
        ("metric_id", "int"),
        ("metric_name", "text"),
        ("unit", "text"),
        ("agent_name", "text"),
        ("scenario_name", "text"),
        ("baseline_n", "int"),
        ("baseline_median", "float"),
        ("current_n", "int"),
        ("current_median", "float"),
        ("relative_shift", "float"),
        ("u", "float"),
        ("z", "float"),
        ("p_value", "float"),
        ("q_value", "float"),
        ("detected_at", "timestamp"),
        ("episode_id", "text"),
        ("started_on", "date"),
    ),
    _METRIC_KEY,
    "Metric shifts in effect per day: one row per day x series x metric on which a metric episode "
    "(cekura_metric_episodes) was in effect and already flagged.",
)

#: Flakiness per agent × scenario × mode × suite over a trailing window (`flaky.py`): the flip rate between
#: consecutive evaluated outcomes, batches lost to infrastructure excluded.
FLAKY_SCENARIOS = Table(
    "flaky_scenarios",
    (
        ("agent_id", "int"),
        ("scenario_id", "int"),
        *GRAIN,
        ("agent_name", "text"),
        ("scenario_name", "text"),
        ("window_start", "date"),
        ("window_end", "date"),
        ("runs", "int"),
        ("passed", "int"),
        ("failed_evaluation", "int"),
        ("batches", "int"),
        ("mixed_batches", "int"),
        ("flips", "int"),
        ("score", "float"),
        ("status", "text"),
        ("first_seen", "date"),
        ("last_seen", "date"),
        ("updated_at", "timestamp"),
        ("expected_flips", "float"),
        ("runs_z", "float"),
        ("runs_p", "float"),
        ("pass_hat_1", "float"),
        ("pass_hat_3", "float"),
        ("pass_hat_5", "float"),
    ),
    ("agent_id", "scenario_id", *_GRAIN_KEY),
    "Flakiness per scenario over a trailing window: runs test of consecutive evaluated outcomes (runs_z), pass^k.",
)

#: Per batch × scenario, the change against the previous batch of the same suite (`batch_diff.py`).
BATCH_DIFFS = Table(
    "batch_diffs",
    (
        ("result_id", "int"),
        ("scenario_id", "int"),
        ("previous_result_id", "int"),
        ("agent_id", "int"),
        *GRAIN,
        ("scenario_name", "text"),
        ("change", "text"),
        ("passed", "int"),
        ("failed_evaluation", "int"),
        ("previous_passed", "int"),
        ("previous_failed_evaluation", "int"),
        ("diffed_at", "timestamp"),
        ("usual_pass_rate", "float"),
        ("chance", "float"),
    ),
    ("result_id", "scenario_id"),
    "Per batch x scenario: change against the previous batch of the same suite.",
)

#: One row per episode or monitor alert already alerted (`alert_memory.py`): the memory that alerts only once.
#: `kind`: '' for a success-rate drop episode (rows from before the column existed are drops), else `metric:<id>`,
#: `freshness`, `volume` or `infra`; `episode_id`: the episode's (or quality alert's) stable id.
ALERTS = Table(
    "regression_alerts",
    (
        ("agent_id", "int"),
        ("scenario_id", "int"),
        *GRAIN,
        ("first_detected", "date"),
        ("last_seen", "date"),
        ("severity", "text"),
        ("alerted_at", "timestamp"),
        ("kind", "text"),
        ("episode_id", "text"),
    ),
    ("agent_id", "scenario_id", *_GRAIN_KEY, "first_detected", "kind"),
    "Episodes and monitor alerts already alerted (alert once memory, matched on kind and episode_id).",
    indexes=(("episode_id",),),
)

#: Column comments (PostgreSQL) for the columns analysts meet in several tables.
COLUMN_COMMENTS: dict[str, str] = {
    "run_date": "UTC calendar day (YYYY-MM-DD) of the run's start.",
    "mode": "voice/chat x managed/byo (results.frames.grain_mode); a chat and a voice rate never mix.",
    "suite": "Suite id of the regression DAG that loaded the runs; empty when unknown.",
    "success_rate": "passed / (passed + failed_evaluation); infra errors, timeouts, cancellations excluded.",
    "evaluated": "passed + failed_evaluation: the denominator of every success rate.",
    "wilson_low": "Lower bound of the Wilson 95% score interval.",
    "wilson_high": "Upper bound of the Wilson 95% score interval.",
    "q_value": "Benjamini-Hochberg adjusted p-value across the day's tests.",
    "dashboard_url": "The result's page in the Cekura dashboard.",
    "outcome": "passed / failed_evaluation / infra_error / timeout / cancelled.",
    "score": "Flakiness: flip rate between consecutive evaluated outcomes (0 stable .. 1 alternating).",
    "p50": "Exact median (linear interpolation over every value of the day).",
    "p95": "Exact 95th percentile (linear interpolation over every value of the day).",
    "passed": "COUNT of passed runs (outcome 'passed') in the row's group; a boolean only in run_metrics.",
    "infra_error_rate": "infra_error / runs: the infrastructure's own failures.",
    "not_evaluated_rate": "(infra_error + timeout + cancelled) / runs: every run without a verdict.",
    # Issue 19: who started a result, the load context kept across reloads, and the facts that explain a change.
    "source": "Who started the result: airflow / cron / ci / dashboard / api / unknown (results.source).",
    "quarantine": "JSON list of the suite's quarantined scenario ids given at load; NULL when none was given.",
    "agent_version": "Cekura agent version (history record) the result / run ran against; NULL when unversioned.",
    "voice_recording_url": "Cekura's URL of the call recording; NULL for chat runs and runs without a call.",
    "has_transcript": "TRUE when Cekura holds a transcript of the run; NULL when the payload did not say.",
    "provider_call_id": "The call's id at the voice provider (Cekura's provider_call_id), for support tickets.",
    "trace_id": "OpenTelemetry trace id (32 hex) of the run, when tracing is enabled: the trace link.",
    "ended_reason": "Why the call ended, in Cekura's vocabulary (metadata.ended_reason), as sent.",
    "credits": "Credits the run consumed by Cekura's documented rates (5/voice min, 0.5/chat msg, 0.2/metric).",
    "version_before": "Agent version of the key's last run before the episode started (read.versions_around).",
    "version_after": "Agent version of the key's first run from the episode's start on (read.versions_around).",
}

#: Comments that differ by table for a column name analysts meet with two meanings (`mode`, `passed`).
TABLE_COLUMN_COMMENTS: dict[tuple[str, str], str] = {
    ("results", "mode"): (
        "SUBMISSION mode of the batch (managed / bring_your_own_rooms / chat: models.SUBMISSION_MODES), "
        "not the run grain; cekura_runs.mode is the grain (voice/chat x managed/byo)."
    ),
    ("run_metrics", "passed"): "BOOLEAN: this binary metric passed for this run (NULL for other kinds).",
    ("metric_daily", "passed"): "COUNT of runs whose binary metric passed that day (NULL for other kinds).",
    ("batch_diffs", "passed"): "COUNT of this scenario's runs that passed in this batch.",
}


def column_comments(table: Table) -> dict[str, str]:
    """The comment of each of `table`'s columns that has one: its table-specific one, else the shared one."""
    out = {}
    for column in table.column_names:
        text = TABLE_COLUMN_COMMENTS.get((table.name, column), COLUMN_COMMENTS.get(column))
        if text:
            out[column] = text
    return out


#: One row per metric shift episode per series x metric (`detection.metric_shift`, on the daily p50).
METRIC_EPISODES = Table(
    "metric_episodes",
    (
        ("agent_id", "int"),
        ("scenario_id", "int"),
        *GRAIN,
        ("metric_id", "int"),
        ("started_on", "date"),
        ("episode_id", "text"),
        ("metric_name", "text"),
        ("unit", "text"),
        ("agent_name", "text"),
        ("scenario_name", "text"),
        ("flagged_on", "date"),
        ("resolved_on", "date"),
        ("baseline_median", "float"),
        ("episode_median", "float"),
        ("relative_shift", "float"),
        ("state", "text"),
        ("updated_at", "timestamp"),
    ),
    ("agent_id", "scenario_id", *_GRAIN_KEY, "metric_id", "started_on"),
    "Numeric-metric shift episodes (CUSUM on the daily median, per metric, never pooled).",
)
#: Data-quality monitors as of the newest day (`detection.quality`): freshness, volume, infra share.
QUALITY_ALERTS = Table(
    "quality_alerts",
    (
        ("agent_id", "int"),
        ("scenario_id", "int"),
        *GRAIN,
        ("kind", "text"),
        ("day", "date"),
        ("agent_name", "text"),
        ("scenario_name", "text"),
        ("observed", "float"),
        ("expected", "float"),
        ("p_value", "float"),
        ("message", "text"),
        ("updated_at", "timestamp"),
    ),
    ("agent_id", "scenario_id", *_GRAIN_KEY, "kind", "day"),
    "Data-quality alerts per series: freshness (overdue), volume (far fewer runs), infra share jump.",
)
#: Facts a load writes (and the load task's Asset outlets).
FACT_TABLES: tuple[Table, ...] = (RESULTS, RUNS, RUN_METRICS)
#: Derived from the facts by the trends step (and the trends DAG's Asset outlets).
TREND_TABLES: tuple[Table, ...] = (
    SUCCESS_RATE_DAILY,
    REGRESSIONS,
    EPISODES,
    METRIC_DAILY,
    METRIC_REGRESSIONS,
    FLAKY_SCENARIOS,
    METRIC_EPISODES,
    QUALITY_ALERTS,
)
#: Every table `ddl.ensure_tables` creates.
#: The sync of all results (`cekura_livekit.sync`): one row per scope.
SYNC_STATE = Table(
    "sync_state",
    (
        ("sync_id", "text"),
        ("watermark", "timestamp"),
        ("pending_result_ids", "text"),
        ("synced_at", "timestamp"),
        ("last_summary", "text"),
    ),
    ("sync_id",),
    "How far the sync of all Cekura results got, per scope (agent:<id>, project:<id> or all): results "
    "created before `watermark` are loaded; `pending_result_ids` (JSON) are revisited until terminal.",
)

ALL_TABLES: tuple[Table, ...] = (*FACT_TABLES, *TREND_TABLES, ALERTS, BATCH_DIFFS, SYNC_STATE)
#: Trend tables use -1 for a run without an agent or a scenario: key columns cannot be NULL.
UNKNOWN_ID = -1
