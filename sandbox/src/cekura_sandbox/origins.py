"""Results that no Airflow task submitted: Cekura cron jobs, CI, the dashboard and other API scripts.

A team's warehouse must hold every result of its agents, whoever started them (issue 19 item 2). Cekura tells
them apart by only two fields: `is_cronjob` (true for its scheduled cron jobs) and the result `name` (free
text). So this module makes results the way each origin does, on the simulated clock:

- `cron`: `is_cronjob: true`, named like Cekura's scheduler does ("Cronjob: <agent> <time>" here; the real
  text is not documented, so clients must not rely on it — only on `is_cronjob`);
- `ci`: `is_cronjob: false`, named by the convention docs/sync.md recommends for Cekura's GitHub Action
  (`ci: <workflow> #<run>`);
- `dashboard`: `is_cronjob: false`, named "Run <date>" (a person clicked Run);
- `api`: `is_cronjob: false`, any name the script chose.

`CronJob` is the cron-like generator: every `every_minutes` of simulated time it creates one result of its
scenarios, fired lazily whenever the store is read (so a test that moves the clock sees the due results).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from cekura_sandbox.errors import ApiError, field_error
from cekura_sandbox.validation import Submission, SubmitItem

if TYPE_CHECKING:
    from cekura_sandbox.store import CekuraStore

ORIGINS = ("cron", "ci", "dashboard", "api")


def default_name(origin: str, agent_name: str, at: datetime, serial: int) -> str:
    """The name a result of `origin` gets when the caller gives none (see the module docstring)."""
    stamp = at.strftime("%Y-%m-%d %H:%M")
    return {
        "cron": f"Cronjob: {agent_name} {stamp}",
        "ci": f"ci: agent-tests #{serial}",
        "dashboard": f"Run {stamp}",
        "api": f"script run {serial}",
    }[origin]


def create_result(
    store: CekuraStore,
    *,
    origin: str,
    agent_id: int,
    scenario_ids: list[int],
    name: str | None = None,
    at: datetime | None = None,
    frequency: int = 1,
) -> dict[str, Any]:
    """One managed result as `origin` would start it, created at `at` (simulated; default now)."""
    if origin not in ORIGINS:
        raise field_error("origin", f"{origin!r} is not one of {list(ORIGINS)}.")
    agent = store.catalogue.agents.get(agent_id)
    if agent is None:
        raise field_error("agent", f'Invalid pk "{agent_id}" - object does not exist.')
    items = []
    for sid in scenario_ids:
        scenario = store.catalogue.scenarios.get(sid)
        if scenario is None or scenario.agent != agent_id:
            raise field_error("scenarios", f"scenario {sid} does not belong to agent {agent_id}.")
        items.append(SubmitItem(scenario=scenario))
    if not items:
        raise field_error("scenarios", "This list may not be empty.")
    with store.lock:
        when = at or store.clock.now()
        label = name or default_name(origin, agent.name, when, store._next_result)
        sub = Submission(mode="v2", agent_id=agent_id, name=label, items=items, frequency=frequency)
        view = store.submit(sub)
        result = store.results[int(view["id"])]
        result.is_cronjob = origin == "cron"
        _backdate(store, result.id, when)
        return store._result_view(result, store.clock.now(), runs_as="list", full_runs=False)


def _backdate(store: CekuraStore, result_id: int, at: datetime) -> None:
    """Move a just-created result and its runs to `at`: run timings are offsets from `submitted_at`."""
    result = store.results[result_id]
    result.created_at = at
    for run_id in result.run_ids:
        store.runs[run_id].submitted_at = at


@dataclass
class CronJob:
    """A Cekura cron job: `scenario_ids` of `agent_id` every `every_minutes`, from `start` on."""

    agent_id: int
    scenario_ids: list[int]
    every_minutes: float
    start: datetime
    fired: list[int] = field(default_factory=list)
    _next: datetime | None = None

    def fire_due(self, store: CekuraStore, now: datetime) -> list[int]:
        """Create the results due between the last firing and `now` (each dated at its own tick)."""
        if self.every_minutes <= 0:
            raise ApiError(400, {"every_minutes": ["Ensure this value is greater than 0."]})
        tick = self._next or self.start
        made: list[int] = []
        while tick <= now:
            view = create_result(
                store, origin="cron", agent_id=self.agent_id, scenario_ids=self.scenario_ids, at=tick
            )
            made.append(int(view["id"]))
            tick += timedelta(minutes=self.every_minutes)
        self._next = tick
        self.fired.extend(made)
        return made


def fire_cron_jobs(store: CekuraStore) -> None:
    """Fire every due cron job of the store (called on every read, under the store's lock)."""
    jobs: list[CronJob] = getattr(store, "cron_jobs", [])
    if not jobs:
        return
    with store.lock:
        now = store.clock.now()
        for job in jobs:
            job.fire_due(store, now)
