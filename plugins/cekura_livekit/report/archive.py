"""Dated weekly reports and the index that lists them (newest first), in a local folder or an object store.

Why dated files: a weekly read is compared with last week's; overwriting one file loses that. The index is
rebuilt from the folder's listing every time, so it never drifts from what is there.
"""

from __future__ import annotations

import html
import re
from datetime import date
from pathlib import Path

from cekura_livekit.report.output import MARKER, is_uri, write_report

_DATED = re.compile(r"^cekura_report_(\d{4}-\d{2}-\d{2})\.html$")


def dated_name(day: date) -> str:
    return f"cekura_report_{day.isoformat()}.html"


def _listing(folder: str) -> list[str]:
    if is_uri(folder):
        from airflow.sdk import ObjectStoragePath

        path = ObjectStoragePath(folder)
        return [p.name for p in path.iterdir()] if path.exists() else []
    local = Path(folder).expanduser()
    return [p.name for p in local.iterdir()] if local.is_dir() else []


def index_html(names: list[str]) -> str:
    """The index page: one link per dated report, newest first (self-contained, opens offline)."""
    dated = sorted(((m.group(1), n) for n in names if (m := _DATED.match(n))), reverse=True)
    items = "".join(
        f'<li><a href="{html.escape(name, quote=True)}">{html.escape(day)}</a></li>' for day, name in dated
    )
    body = f"<ul>{items}</ul>" if items else "<p>No weekly reports yet.</p>"
    return (
        f'<!DOCTYPE html>{MARKER}<html lang="en"><head><meta charset="utf-8"><title>Cekura weekly reports</title>'
        "<style>body{font-family:system-ui,sans-serif;margin:2rem auto;max-width:40rem}li{margin:.3rem 0}</style>"
        f"</head><body><h1>Cekura weekly reports</h1><p>{len(dated)} report(s), newest first.</p>{body}</body></html>"
    )


def write_index(folder: str) -> tuple[str, int]:
    """Rebuild `index.html` in `folder`; returns (where, number of reports listed)."""
    names = _listing(folder)
    count = sum(1 for n in names if _DATED.match(n))
    return write_report(index_html(names), f"{folder.rstrip('/')}/index.html"), count
