"""What the bundled `cekura_sync` DAG syncs and how often, from the environment (read at DAG parse time).

- `CEKURA_SYNC_SCHEDULE`: cron expression or preset (default `@hourly`); `none` turns the schedule off
  (manual and backfill runs only).
- `CEKURA_SYNC_AGENT_IDS`: comma-separated Cekura agent ids, each with its own watermark.
- `CEKURA_SYNC_PROJECT_ID`: a Cekura project, when no agent ids are set. Neither: every result the key sees.
"""

from __future__ import annotations

import os

DEFAULT_SCHEDULE = "@hourly"


def sync_schedule() -> str | None:
    raw = os.environ.get("CEKURA_SYNC_SCHEDULE", DEFAULT_SCHEDULE).strip()
    return None if raw.lower() in ("", "none", "null") else raw


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
