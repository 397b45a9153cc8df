"""CekuraSyncResultsOperator: load every Cekura result of the configured agents (or project) since the last sync.

The per-batch load only sees the batches Airflow submitted; Cekura cron jobs, CI, the dashboard and other
scripts produce results too, and a warehouse that misses them reports a partial history. This operator is the
Airflow shell around `cekura_livekit.sync.run` (watermark, pending results, source classification). Like the
load operator, its outlets are the fact tables and every event's extra lists the run dates it touched, so
`cekura_trends` recomputes exactly those days after a sync.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

from airflow.sdk import Asset, BaseOperator

from cekura_livekit.assets import RUN_DATES_EXTRA, fact_assets
from cekura_livekit.sync.source import DEFAULT_CI_PATTERN, SourceRules
from cekura_livekit.warehouse.tables import DEFAULT_SCHEMA, check_identifier


def _when(value: object, what: str) -> datetime | None:
    """A backfill bound: None/'' (open), a datetime, or an ISO date/datetime string (UTC when naive)."""
    if value in (None, "", "None"):
        return None
    if isinstance(value, datetime):
        parsed = value
    else:
        try:
            parsed = datetime.fromisoformat(str(value).strip().replace("Z", "+00:00"))
        except ValueError:
            raise ValueError(
                f"{what}={value!r} is not an ISO date or datetime: write e.g. {what}='2026-06-01' or "
                f"'2026-06-01T00:00:00Z', or leave it empty for a normal incremental sync."
            ) from None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def _agent_ids(value: object) -> list[int]:
    if value in (None, "", []):
        return []
    items = value.split(",") if isinstance(value, str) else value
    if not isinstance(items, Sequence):
        raise ValueError(f"agent_ids={value!r} must be a list of Cekura agent ids, e.g. [101, 102]")
    out = []
    for item in items:
        text = str(item).strip()
        if isinstance(item, bool) or not text.isdigit() or int(text) <= 0:
            raise ValueError(
                f"agent_ids has {item!r}, which is not a Cekura agent id: pass positive integers"
            )
        out.append(int(text))
    return out


class CekuraSyncResultsOperator(BaseOperator):
    """Load all results of `agent_ids` (each with its own watermark), else of `project_id`, else every result
    the key sees, created since the last sync — whoever started them — into the warehouse.

    :param agent_ids: Cekura agent ids (templated; a list or "101,102"). Empty: `project_id`, else all.
    :param project_id: Cekura project id, when no agent ids are given.
    :param warehouse_conn_id: the warehouse (PostgreSQL or SQLite connection); the watermark is stored there.
    :param schema: warehouse schema (SQLite: table prefix).
    :param since, until: a backfill of results created in [since, until) (templated; ISO dates or datetimes).
        The watermark does not move; results still in progress join the revisit list. Empty: incremental.
    :param overlap_minutes: each window starts this long before the watermark (late-listed results).
    :param initial_days: how far the first sync of a scope looks back.
    :param ci_pattern, api_pattern, dashboard_pattern: name conventions telling the sources apart
        (`sync.source`; `is_cronjob` and this provider's batch names need none).
    :param trailing_days: days back from the newest day whose regressions the trends DAG re-judges after a
        late load (and the window a manual trends run rebuilds); the daily rows are refreshed for exactly the
        touched days.
    """

    template_fields: Sequence[str] = ("agent_ids", "since", "until")
    ui_color = "#d9f2e6"

    def __init__(
        self,
        *,
        warehouse_conn_id: str,
        agent_ids: Sequence[int] | str | None = None,
        project_id: int | None = None,
        cekura_conn_id: str = "cekura_default",
        schema: str = DEFAULT_SCHEMA,
        since: str | datetime | None = None,
        until: str | datetime | None = None,
        overlap_minutes: float = 15,
        initial_days: int = 7,
        ci_pattern: str | None = DEFAULT_CI_PATTERN,
        api_pattern: str | None = None,
        dashboard_pattern: str | None = None,
        trailing_days: int = 28,
        **kwargs: Any,
    ) -> None:
        check_identifier(schema)
        if isinstance(initial_days, bool) or not isinstance(initial_days, int) or initial_days < 0:
            raise ValueError(f"initial_days={initial_days!r} must be a whole number of days >= 0, e.g. 7")
        if (
            isinstance(overlap_minutes, bool)
            or not isinstance(overlap_minutes, int | float)
            or overlap_minutes < 0
        ):
            raise ValueError(f"overlap_minutes={overlap_minutes!r} must be a number of minutes >= 0, e.g. 15")
        if project_id is not None and (isinstance(project_id, bool) or not str(project_id).isdigit()):
            raise ValueError(f"project_id={project_id!r} is not a Cekura project id: pass a positive integer")
        self.rules = SourceRules(ci_pattern, api_pattern, dashboard_pattern)  # a bad pattern fails at parse
        kwargs.setdefault("outlets", fact_assets(warehouse_conn_id, schema))
        super().__init__(**kwargs)
        self.agent_ids = agent_ids
        if not isinstance(agent_ids, str) or "{{" not in agent_ids:
            _agent_ids(agent_ids)
        self.project_id = int(project_id) if project_id is not None else None
        self.cekura_conn_id = cekura_conn_id
        self.warehouse_conn_id = warehouse_conn_id
        self.schema = schema
        self.since = since
        self.until = until
        self.overlap_minutes = overlap_minutes
        self.initial_days = initial_days
        self.trailing_days = trailing_days

    def execute(self, context: Any) -> dict[str, Any]:
        from cekura_livekit.batch.errors import reported

        with reported(context.get("ti"), lambda: "load"):
            return self._sync(context)

    def _sync(self, context: Any) -> dict[str, Any]:
        from cekura_livekit.hooks.cekura import CekuraHook
        from cekura_livekit.sync.run import Scope, ScopeSync, SyncSettings

        since, until = _when(self.since, "since"), _when(self.until, "until")
        if since is not None and until is not None and since >= until:
            raise ValueError(f"since={self.since!r} is not before until={self.until!r}: nothing to backfill")
        settings = SyncSettings(
            self.warehouse_conn_id,
            self.schema,
            overlap=timedelta(minutes=float(self.overlap_minutes)),
            initial_days=self.initial_days,
            rules=self.rules,
        )
        hook = CekuraHook(cekura_conn_id=self.cekura_conn_id)
        scopes = Scope.of(_agent_ids(self.agent_ids), self.project_id)
        summaries = []
        for scope in scopes:
            summary = ScopeSync(hook, settings, scope).run(since=since, until=until)
            self.log.info(
                "Sync %s%s: loaded %d result(s) %s (%d runs), revisited %s, still in progress %s; watermark %s.",
                scope.sync_id,
                f" (backfill {summary.since} .. {summary.until})" if summary.backfill else "",
                len(summary.loaded),
                summary.sources,
                summary.runs,
                summary.revisited,
                summary.pending,
                summary.watermark,
            )
            summaries.append(summary.to_dict())
        run_dates = sorted({d for s in summaries for d in s["run_dates"]})
        self._announce(context, run_dates)
        return {
            "scopes": summaries,
            "results": sum(len(s["loaded"]) for s in summaries),
            "run_dates": run_dates,
        }

    def _announce(self, context: Any, run_dates: list[str]) -> None:
        """The run dates the sync touched, in every outlet's Asset event (as the per-batch load does)."""
        events = context.get("outlet_events") if hasattr(context, "get") else None
        if events is None:
            return
        extra = {RUN_DATES_EXTRA: run_dates, "trailing_days": self.trailing_days, "sync": True}
        for asset in self.outlets:
            if isinstance(asset, Asset):
                events[asset].extra = dict(extra)
