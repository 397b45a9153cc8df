"""What the bundled `cekura_sync` DAG syncs and how often, from the environment (read at DAG parse time).

- `CEKURA_SYNC_SCHEDULE`: cron expression or preset (default `@hourly`); `none` turns the schedule off
  (manual and backfill runs only).
- `CEKURA_SYNC_AGENT_IDS`: comma-separated Cekura agent ids, each with its own watermark.
- `CEKURA_SYNC_PROJECT_ID`: a Cekura project, when no agent ids are set. Neither: every result the key sees.
- `CEKURA_SYNC_ON_WEBHOOKS`: `true` to also run the sync when Cekura's `result.completed` webhook reports a
  result no Airflow task submitted (the webhooks feed asset, docs/webhooks.md); needs the webhook channel.
"""

from __future__ import annotations

import os

DEFAULT_SCHEDULE = "@hourly"


def sync_schedule() -> str | None:
    raw = os.environ.get("CEKURA_SYNC_SCHEDULE", DEFAULT_SCHEDULE).strip()
    return None if raw.lower() in ("", "none", "null") else raw


def sync_on_webhooks() -> bool:
    raw = os.environ.get("CEKURA_SYNC_ON_WEBHOOKS", "").strip().lower()
    if raw not in ("", "0", "1", "false", "true", "no", "yes"):
        raise ValueError(f"CEKURA_SYNC_ON_WEBHOOKS={raw!r} must be true or false")
    return raw in ("1", "true", "yes")


def sync_dag_schedule() -> object:
    """The sync DAG's schedule: the time schedule, or-ed with the webhooks feed asset when asked for, so a cron
    or CI result lands within a minute instead of at the next hour."""
    schedule = sync_schedule()
    if not sync_on_webhooks():
        return schedule
    from airflow.sdk import AssetOrTimeSchedule, CronTriggerTimetable

    from cekura_livekit.webhooks.feed import watched_results_asset

    feed = watched_results_asset()
    if schedule is None:
        return [feed]
    return AssetOrTimeSchedule(timetable=CronTriggerTimetable(schedule, timezone="UTC"), assets=[feed])


def sync_agent_ids() -> list[int]:
    raw = os.environ.get("CEKURA_SYNC_AGENT_IDS", "")
    parts = [p.strip() for p in raw.split(",") if p.strip()]
    bad = [p for p in parts if not p.isdigit()]
    if bad:
        raise ValueError(
            f"CEKURA_SYNC_AGENT_IDS={raw!r} has {bad!r}, which are not Cekura agent ids: write e.g. '101,102'"
        )
    return [int(p) for p in parts]


def sync_project_id() -> int | None:
    raw = os.environ.get("CEKURA_SYNC_PROJECT_ID", "").strip()
    if not raw:
        return None
    if not raw.isdigit():
        raise ValueError(f"CEKURA_SYNC_PROJECT_ID={raw!r} is not a Cekura project id: write e.g. '11'")
    return int(raw)
