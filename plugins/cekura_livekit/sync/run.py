"""Load every Cekura result of a scope created since its watermark: cron jobs, CI, dashboard and API runs alike.

One pass over one scope (`agent:<id>`, `project:<id>` or `all`):

1. read the scope's state (`warehouse.sync_state`): watermark and the results still in progress at the last pass;
2. revisit those pending results (re-fetch, reload) and keep the ones still not finished;
3. list the results created in the window — [watermark − overlap, now), or a backfill's [since, until) —
   newest first, stopping at the first page older than the window (`CekuraHook.iter_results_created`);
4. load each one (fetch with all runs, extract with its `source`, upsert in its own transaction);
5. only then write the new state: watermark = the newest `created_at` seen (never moved back; a backfill
   never moves it), pending = the results not finished yet.

Idempotent with the per-batch load: both upsert by result and run id, so a result loaded by both is one row.
The sync passes no load context (suite, quarantine, dag ids): the per-batch load's context stored with the
result is kept (the warehouse keeps stored context when a load passes none). A crash anywhere before step 5
leaves the old state: the next pass repeats the window, and the upserts change nothing.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from cekura_livekit.hooks.cekura import created_at_of
from cekura_livekit.models import parse_status, runs_of
from cekura_livekit.sync.source import SourceRules
from cekura_livekit.warehouse.sync_state import SyncState, read_state, save_state

if TYPE_CHECKING:
    from cekura_livekit.hooks.cekura import CekuraHook
    from cekura_livekit.results.frames import Extract

log = logging.getLogger(__name__)

DEFAULT_OVERLAP = timedelta(minutes=15)
DEFAULT_INITIAL_DAYS = 7


@dataclass(frozen=True)
class Scope:
    """What one watermark covers: one agent, one project, or everything the API key sees."""

    sync_id: str
    agent_id: int | None = None
    project_id: int | None = None

    @classmethod
    def of(cls, agent_ids: Iterable[int] | None, project_id: int | None) -> list[Scope]:
        """One scope per agent (each agent keeps its own watermark, so adding one starts its own history);
        else the project; else everything."""
        agents = sorted({int(a) for a in agent_ids or []})
        if agents:
            return [cls(f"agent:{a}", agent_id=a) for a in agents]
        if project_id is not None:
            return [cls(f"project:{int(project_id)}", project_id=int(project_id))]
        return [cls("all")]


@dataclass(frozen=True)
class SyncSettings:
    warehouse_conn_id: str
    schema: str
    overlap: timedelta = DEFAULT_OVERLAP
    initial_days: int = DEFAULT_INITIAL_DAYS
    rules: SourceRules = field(default_factory=SourceRules)
    skip_unparseable: bool = True


@dataclass
class ScopeSummary:
    """What one pass did, JSON-safe for XCom and the state row."""

    sync_id: str
    since: str | None
    until: str | None
    loaded: list[int] = field(default_factory=list)
    revisited: list[int] = field(default_factory=list)
    pending: list[int] = field(default_factory=list)
    sources: dict[str, int] = field(default_factory=dict)
    runs: int = 0
    run_dates: list[str] = field(default_factory=list)
    watermark: str | None = None
    backfill: bool = False

    def to_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


def finished(result: Mapping[str, Any], runs: Iterable[Mapping[str, Any]]) -> bool:
    """Terminal result and every run terminal: nothing about it will change any more (re-scoring aside)."""
    if not parse_status(result.get("status")).is_terminal:
        return False
    return all(parse_status(r.get("status")).is_terminal for r in runs)


class ScopeSync:
    """One pass over one scope; `hook` is a CekuraHook (the loads use the warehouse of `settings`)."""

    def __init__(self, hook: CekuraHook, settings: SyncSettings, scope: Scope) -> None:
        self.hook = hook
        self.settings = settings
        self.scope = scope
        self._projects: dict[int, int | None] = {}

    # ---------------------------------------------------------------- one result
    def _dashboard_url(self, result: Mapping[str, Any], result_id: int) -> str:
        agent = result.get("agent")
        agent_id = int(agent) if agent is not None and str(agent).isdigit() else None
        if agent_id is not None and agent_id not in self._projects:
            from cekura_livekit.hooks.errors import CekuraError

            try:
                self._projects[agent_id] = self.hook.get_agent_project_id(agent_id)
            except CekuraError as exc:  # the link loses its project segment, never the load
                log.warning("Could not look up agent %s's project for dashboard links: %s", agent_id, exc)
                self._projects[agent_id] = None
        project = self._projects.get(agent_id) if agent_id is not None else None
        return self.hook.dashboard_url(result_id, project)

    def _mode(self, result: Mapping[str, Any], source: str) -> str:
        """The submission mode to load `result` with. Not part of the stored context (`results.context`), so
        an Airflow batch's mode is read back from its row (the per-batch load stored the true one, e.g.
        bring_your_own_rooms); any other result was started in Cekura, which created its rooms."""
        from cekura_livekit.models import learned_mode
        from cekura_livekit.warehouse.connection import open_warehouse
        from cekura_livekit.warehouse.tables import RESULTS

        if source == "airflow":
            with open_warehouse(self.settings.warehouse_conn_id, self.settings.schema) as wh:
                cur = wh.conn.cursor()
                try:
                    exists = wh.dialect.table_exists(cur, RESULTS)
                finally:
                    cur.close()
                    wh.dialect.end_read(wh.conn)
                if exists:
                    _, rows = wh.query(
                        f"SELECT mode FROM {wh.dialect.table(RESULTS)} WHERE result_id = {wh.dialect.param}",
                        [int(result["id"])],
                    )
                    if rows and rows[0][0]:
                        return str(rows[0][0])
        return learned_mode(result)[0]

    def _extract(self, result: Mapping[str, Any], runs: list[dict[str, Any]], source: str) -> Extract:
        from cekura_livekit.results.frames import extract

        # No suite, quarantine or DAG ids: the warehouse keeps what the per-batch load stored with the result.
        return extract(
            result,
            runs,
            mode=self._mode(result, source),
            source=source,
            dashboard_url=self._dashboard_url(result, int(result["id"])),
            skip_unparseable=self.settings.skip_unparseable,
        )

    def load(self, result_id: int) -> tuple[bool, str, dict[str, Any]]:
        """Fetch, extract and upsert one result: (finished, source, load summary)."""
        from cekura_livekit.results.fetch import fetch_result_with_runs
        from cekura_livekit.warehouse.writer import load_extract

        result, runs = fetch_result_with_runs(self.hook, result_id)
        source = self.settings.rules.classify(result)
        frames = self._extract(result, runs, source)
        for problem in frames.problems:
            log.warning(
                "Result %s: skipped unparseable run %s: %s", result_id, problem.run_id, problem.reason
            )
        summary = load_extract(self.settings.warehouse_conn_id, frames, self.settings.schema).to_dict()
        return finished(result, runs or runs_of(result)), source, summary

    # ---------------------------------------------------------------- one pass
    def window(self, state: SyncState, now: datetime) -> tuple[datetime, datetime | None]:
        if state.watermark is not None:
            return state.watermark - self.settings.overlap, None
        return now - timedelta(days=self.settings.initial_days), None

    def run(
        self,
        *,
        now: datetime | None = None,
        since: datetime | None = None,
        until: datetime | None = None,
        before_save: Any = None,
    ) -> ScopeSummary:
        """One pass; `since`/`until` make it a backfill of that range (the watermark stays where it is).

        `before_save` is a test seam: called after every load committed and before the state is written.
        """
        from cekura_livekit.warehouse.connection import open_warehouse

        now = now or datetime.now(UTC)
        with open_warehouse(self.settings.warehouse_conn_id, self.settings.schema) as wh:
            state = read_state(wh, self.scope.sync_id)
        backfill = since is not None or until is not None
        start, end = (since, until) if backfill else self.window(state, now)
        out = ScopeSummary(
            self.scope.sync_id,
            start.isoformat() if start else None,
            end.isoformat() if end else None,
            backfill=backfill,
        )
        dates: set[str] = set()
        pending: set[int] = set()
        done: set[int] = set()
        for result_id in state.pending:  # in progress at the last pass: revisit until terminal
            if self._load_into(result_id, out, dates, pending):
                out.revisited.append(result_id)
            done.add(result_id)
        newest = state.watermark
        for listed in self.hook.iter_results_created(
            start, end, agent_id=self.scope.agent_id, project_id=self.scope.project_id
        ):
            result_id = int(listed["id"])
            created = created_at_of(listed)
            if created is not None and (newest is None or created > newest):
                newest = created
            if result_id in done:
                continue
            done.add(result_id)
            self._load_into(result_id, out, dates, pending)
        out.run_dates = sorted(dates)
        out.pending = sorted(pending)
        new_state = SyncState(
            self.scope.sync_id,
            state.watermark if backfill else newest,
            sorted(pending | (set(state.pending) - done) if backfill else pending),
            now,
        )
        out.watermark = new_state.watermark.isoformat() if new_state.watermark else None
        if before_save is not None:
            before_save(out)
        with open_warehouse(self.settings.warehouse_conn_id, self.settings.schema) as wh:
            save_state(wh, new_state, out.to_dict())
        return out

    def _load_into(self, result_id: int, out: ScopeSummary, dates: set[str], pending: set[int]) -> bool:
        """Load one result into the pass's summary; False when Cekura no longer has it (deleted)."""
        from cekura_livekit.hooks.errors import CekuraNotFoundError

        try:
            is_finished, source, summary = self.load(result_id)
        except CekuraNotFoundError:
            log.warning("Result %s is gone from Cekura (deleted?): no longer revisited.", result_id)
            return False
        out.loaded.append(result_id)
        out.sources[source] = out.sources.get(source, 0) + 1
        out.runs += int(summary.get("runs") or 0)
        dates.update(summary.get("run_dates") or [])
        if not is_finished:
            pending.add(result_id)
        return True
