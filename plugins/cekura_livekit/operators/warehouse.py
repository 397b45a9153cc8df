"""CekuraResultsToWarehouseOperator: fetch a finished result, extract frames, load the facts.

Returns a small JSON summary (counts, touched days, skipped runs), never rows. Its outlets are the fact
tables only (results, runs, run_metrics); each event's extra carries the run dates the load touched, which
the `cekura_trends` DAG (scheduled on the runs asset) recomputes: trends are derived there, once per load.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from airflow.sdk import Asset, BaseOperator

from cekura_livekit.assets import RUN_DATES_EXTRA, fact_assets
from cekura_livekit.compat import AirflowNotFoundException
from cekura_livekit.warehouse.tables import DEFAULT_SCHEMA, check_identifier


class WarehouseLoadError(RuntimeError):
    """The warehouse refused or could not be reached during a load; transient (Airflow retries)."""


def coerce_result_id(value: object) -> int:
    """Accept an int, a numeric string, or the run operator's XCom dict ({"result_id": …} or {"id": …})."""
    raw = value
    if isinstance(value, Mapping):
        raw = value.get("result_id", value.get("id"))
    if isinstance(raw, bool):
        raise ValueError(f"result_id={value!r} is a boolean; pass the Cekura result id (an integer)")
    from cekura_livekit.batch.spec import positive_id

    # One rule for ids (batch.spec): ASCII digits only, so '²' is refused with the field named, not int()'s crash.
    return positive_id(
        "result_id", raw, fix=f"got {value!r}: pass an integer, or the XCom of the run operator"
    )


class CekuraResultsToWarehouseOperator(BaseOperator):
    """Load one Cekura result (all its runs and metrics) into the warehouse; the trends DAG derives the rest.

    :param result_id: the Cekura result id (templated), e.g. ``"{{ ti.xcom_pull('run_scenarios') }}"``.
    :param cekura_conn_id: Airflow connection of the Cekura API.
    :param warehouse_conn_id: a PostgreSQL or SQLite Airflow connection.
    :param schema: PostgreSQL schema (default ``cekura``); on SQLite the table prefix.
    :param skip_unparseable: load the parseable runs and list the others in the summary, instead of failing.
    :param trailing_days: days back from the newest day whose regressions the trends DAG re-judges after a
        late load (and the window a manual trends run rebuilds); the daily rows are refreshed for exactly the
        touched days. Sent with the run dates in the Asset event's extra.
    :param mode: submission mode recorded on the result row ("managed" / "bring_your_own_rooms" / "chat");
        with the runs' `run_as_text` it gives the runs' `mode` grain (voice/chat × managed/byo). None: learned
        from the result (`learned_mode`: chat for text runs, else managed), and logged.
    :param suite: suite id recorded on the result and run rows (the trend grain); '' when unknown.
    :param quarantine: the suite's quarantined scenario ids, recorded on their runs (`quarantined`): their
        regressions are not alerted.
    :param refresh_stale_days: also re-fetch results of the last N days that were loaded while some of
        their runs were not finished (e.g. a deadline passed and ending the calls failed), so their rows do
        not stay `in_progress` forever; 0 turns it off. Best-effort: a failed refresh never fails the load.
    :param recover_from: task id of the submit task whose batch to load when `result_id` renders empty (the
        task died after submitting, before pushing the id): the batch is found by its deterministic name
        (`batch.recovery`), loaded, and the summary says so. None: an empty id skips the load.
    :param recover_batch_name: the `name` argument that submit task used (part of its batch names).
    :param source: who started the result (`results.source.SOURCES`), stored on the result and its runs.
        None: ``airflow`` when `recover_from` names the submit task, else what the result says (Cekura's
        cron flag, this provider's batch names), else what an earlier load stored, else ``unknown``.

    The load context (suite, quarantine, dashboard link, DAG ids, source) is stored with the result: a later
    reload that does not give it (the stale refresh below, a sync, a backfill) keeps the stored one.
    """

    template_fields: Sequence[str] = ("result_id",)
    ui_color = "#d9f2e6"

    def __init__(
        self,
        *,
        result_id: int | str | Mapping[str, Any],
        cekura_conn_id: str = "cekura_default",
        warehouse_conn_id: str,
        schema: str = DEFAULT_SCHEMA,
        skip_unparseable: bool = False,
        trailing_days: int = 28,
        mode: str | None = None,
        suite: str | None = None,
        quarantine: Sequence[int] | None = None,
        refresh_stale_days: int = 7,
        recover_from: str | None = None,
        recover_batch_name: str | None = None,
        source: str | None = None,
        **kwargs: Any,
    ) -> None:
        from cekura_livekit.batch.spec import FIELDS, flag, text_value, whole
        from cekura_livekit.models import MODES
        from cekura_livekit.results.source import AIRFLOW, check_source

        # The run operator's validators (batch/spec.py): one rule per kind of value, refused before any call.
        skip_unparseable = flag("skip_unparseable", skip_unparseable)
        if suite is not None:
            text_value("suite", suite if isinstance(suite, str) else str(suite))
        if quarantine is not None and not isinstance(quarantine, str):  # a template renders later
            quarantine = sorted(FIELDS["quarantine"](quarantine))
        whole("trailing_days", trailing_days, 0, 366, why=" of days (how far back a load's trends recompute)")
        whole("refresh_stale_days", refresh_stale_days, 0, 366, why=" of days")
        check_identifier(schema)
        check_source(source)
        if mode is not None and mode not in MODES:
            raise ValueError(f"mode={mode!r} is not a submission mode: use one of {list(MODES)}, or None.")
        if (
            not isinstance(refresh_stale_days, int)
            or isinstance(refresh_stale_days, bool)
            or refresh_stale_days < 0
        ):
            raise ValueError(f"refresh_stale_days={refresh_stale_days!r} must be a whole number of days >= 0")
        if not isinstance(trailing_days, int) or isinstance(trailing_days, bool) or trailing_days < 0:
            raise ValueError(f"trailing_days={trailing_days!r} must be a whole number of days >= 0, e.g. 28")
        kwargs.setdefault("outlets", fact_assets(warehouse_conn_id, schema))
        super().__init__(**kwargs)
        self.result_id = result_id
        self.cekura_conn_id = cekura_conn_id
        self.warehouse_conn_id = warehouse_conn_id
        self.schema = schema
        self.skip_unparseable = skip_unparseable
        self.trailing_days = trailing_days
        self.mode = mode
        self.suite = suite
        self.quarantine = quarantine
        self.refresh_stale_days = refresh_stale_days
        self.recover_from = recover_from
        self.recover_batch_name = recover_batch_name
        self.source = source if source is not None or not recover_from else AIRFLOW
        self._loaded_result_id: int | None = None  # for lineage, once execute() knows the rendered id

    def execute(self, context: Any) -> dict[str, Any]:
        """Load; permanent errors (unsupported warehouse, rejected key, bad id) fail without retry."""
        from cekura_livekit.batch.errors import reported

        with reported(context.get("ti"), lambda: "load"):
            return self._load(context)

    def _load(self, context: Any) -> dict[str, Any]:
        from cekura_livekit.hooks.cekura import CekuraHook

        hook = CekuraHook(cekura_conn_id=self.cekura_conn_id)
        recovered = self._recover(context, hook) if self.result_id in (None, "", "None") else None
        result_id = recovered.result_id if recovered else coerce_result_id(self.result_id)
        self._loaded_result_id = result_id
        summary, url = self._load_one(context, hook, result_id)
        earlier = [r for r in self._superseded(context) if r != result_id]
        dates = set(summary["run_dates"])
        for dead in earlier:  # paid for and replaced by a retry: their infra errors belong in the trends too
            dates |= set(self._load_one(context, hook, dead)[0]["run_dates"])
        refreshed, stale_dates = self._refresh_stale(hook, result_id)
        run_dates = sorted(dates | set(stale_dates))
        self._announce(context, result_id, run_dates)
        out = {"result_id": result_id, **summary, "run_dates": run_dates, "refreshed_results": refreshed}
        if earlier:
            out["superseded_results_loaded"] = earlier
            self.log.info("Also loaded %d earlier batch(es) of the submit task: %s", len(earlier), earlier)
        if recovered is not None:
            out["recovered"] = recovered.how
        return {**out, "dashboard_url": url}

    def _load_one(self, context: Any, hook: Any, result_id: int) -> tuple[dict[str, Any], str]:
        """Fetch, extract and upsert one result with this task's context (mode, suite, quarantine, link)."""
        from cekura_livekit.batch.dashboard import dashboard_url
        from cekura_livekit.results.fetch import fetch_result_with_runs
        from cekura_livekit.results.frames import extract
        from cekura_livekit.warehouse.writer import load_extract

        dag_run = context.get("dag_run")
        result, runs = fetch_result_with_runs(hook, result_id)
        mode = self.mode
        if mode is None:
            from cekura_livekit.models import learned_mode

            mode, why = learned_mode(result)
            self.log.info("No mode given: loading Cekura result %s as %r (%s).", result_id, mode, why)
        url = dashboard_url(hook, result_id, payload=result)
        frames = extract(
            result,
            runs,
            dashboard_url=url,
            mode=mode,
            suite=self.suite,
            quarantine=self.quarantine,
            skip_unparseable=self.skip_unparseable,
            dag_id=getattr(dag_run, "dag_id", None) or getattr(self, "dag_id", None),
            dag_run_id=getattr(dag_run, "run_id", None),
            source=self.source,
        )
        for problem in frames.problems:
            self.log.warning("Skipped unparseable run %s: %s", problem.run_id, problem.reason)
        try:
            summary = load_extract(self.warehouse_conn_id, frames, self.schema).to_dict()
        except (ValueError, AirflowNotFoundException):
            raise  # configuration errors: they name the connection already, and are permanent
        except Exception as exc:  # driver errors ("unable to open database file") name neither
            raise WarehouseLoadError(
                f"Loading Cekura result {result_id} into warehouse_conn_id={self.warehouse_conn_id!r} "
                f"(schema {self.schema!r}) failed: {type(exc).__name__}: {exc}. Check that the connection's "
                "database is reachable and writable; the task retries."
            ) from exc
        return summary, url

    def _superseded(self, context: Any) -> list[int]:
        """Earlier batches the submit task paid for and replaced (its XCom `superseded_result_ids`)."""
        from cekura_livekit.batch.submit import SUPERSEDED_KEY

        ti = context.get("ti")
        if not self.recover_from or ti is None:
            return []
        try:
            value = ti.xcom_pull(task_ids=self.recover_from, key=SUPERSEDED_KEY)
        except Exception as exc:  # a courtesy: never the reason the main load fails
            self.log.warning("Could not read the submit task's superseded batches: %s", exc)
            return []
        return [int(v) for v in value or [] if str(v).isdigit()]

    def _recover(self, context: Any, hook: Any) -> Any:
        """The batch the submit task paid for but never announced; skip when there is none."""
        from cekura_livekit.batch.recovery import RECOVERED_KEY, find_submitted_batch
        from cekura_livekit.compat import AirflowSkipException

        ti = context.get("ti")
        found = None
        if self.recover_from and ti is not None:
            found = find_submitted_batch(
                ti, lambda: hook, run_task=self.recover_from, spec_name=self.recover_batch_name
            )
        if found is None:
            where = f" and Cekura has no batch named after {self.recover_from}" if self.recover_from else ""
            # Upstream never got as far as submitting (e.g. invalid input): there is nothing to load.
            raise AirflowSkipException(
                f"No Cekura result id was pushed upstream{where}: nothing was submitted to load."
            )
        self.log.warning(
            "No result id was pushed by %s, but it did submit: Cekura result %s (%s); loading it.",
            self.recover_from,
            found.result_id,
            found.how,
        )
        ti.xcom_push(key=RECOVERED_KEY, value=found.to_xcom())
        return found

    def get_openlineage_facets_on_complete(self, task_instance: Any) -> Any | None:
        """Input: the Cekura result; outputs: the fact tables (None without the OpenLineage provider)."""
        from cekura_livekit.lineage import load_lineage
        from cekura_livekit.warehouse.tables import FACT_TABLES

        result_id = self._loaded_result_id
        tables = [f"cekura_{t.name}" for t in FACT_TABLES]
        return load_lineage(result_id, self.cekura_conn_id, self.warehouse_conn_id, self.schema, tables)

    def _refresh_stale(self, hook: Any, loaded: int) -> tuple[list[int], list[str]]:
        """Reload earlier results whose runs were not terminal when loaded; the rows are upserts."""
        if not self.refresh_stale_days:
            return [], []
        from datetime import UTC, datetime, timedelta

        from cekura_livekit.results.fetch import fetch_result_with_runs
        from cekura_livekit.results.frames import extract
        from cekura_livekit.warehouse.connection import open_warehouse
        from cekura_livekit.warehouse.read import select_stale_results
        from cekura_livekit.warehouse.writer import load_extract

        since = datetime.now(UTC).date() - timedelta(days=self.refresh_stale_days)
        refreshed: list[int] = []
        dates: set[str] = set()
        try:
            with open_warehouse(self.warehouse_conn_id, self.schema) as wh:
                stale = select_stale_results(wh, since, exclude=loaded)
            for result_id, mode in stale:
                result, runs = fetch_result_with_runs(hook, result_id)
                # No context given: the writer keeps the suite, quarantine, link and DAG ids stored with it.
                frames = extract(result, runs, mode=mode, skip_unparseable=True)
                dates |= set(load_extract(self.warehouse_conn_id, frames, self.schema).to_dict()["run_dates"])
                refreshed.append(result_id)
        except Exception as exc:  # the refresh is a courtesy to earlier runs; this load already succeeded
            self.log.warning("Refreshing results with unfinished runs stopped: %s", exc)
        if refreshed:
            self.log.info("Reloaded %d result(s) that had unfinished runs: %s", len(refreshed), refreshed)
        return refreshed, sorted(dates)

    def _announce(self, context: Any, result_id: int, run_dates: list[str]) -> None:
        """Tell downstream DAGs which days changed: the extra of every outlet's Asset event."""
        events = context.get("outlet_events") if hasattr(context, "get") else None
        if events is None:  # called outside a task run (tests, notebooks): no events to annotate
            return
        extra = {RUN_DATES_EXTRA: run_dates, "trailing_days": self.trailing_days, "result_id": result_id}
        for asset in self.outlets:
            if isinstance(asset, Asset):
                events[asset].extra = dict(extra)
