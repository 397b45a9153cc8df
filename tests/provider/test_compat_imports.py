"""Every Airflow name that moved between 3.1 and 3.3 is imported through `cekura_livekit.compat` (its one home),
so the compatibility job (Airflow 3.1) imports the same code the main suite tests (issue 21.11)."""

from __future__ import annotations

from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
MOVED = ("from airflow.sdk.exceptions import", "from airflow.sdk.configuration import")


def test_moved_names_come_from_compat() -> None:
    offenders = [
        str(path.relative_to(ROOT))
        for folder in ("plugins/cekura_livekit", "dags", "include")
        for path in (ROOT / folder).rglob("*.py")
        if path.name != "compat.py" and any(m in path.read_text() for m in MOVED)
    ]
    assert offenders == [], f"import these from cekura_livekit.compat instead: {offenders}"
