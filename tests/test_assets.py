"""Warehouse Assets: stable URIs, short names, and one producer per asset."""

from __future__ import annotations

import pytest

from cekura_livekit.assets import (
    ASSET_SCHEME,
    daily_asset,
    fact_assets,
    regressions_asset,
    runs_asset,
    warehouse_asset,
)
from cekura_livekit.warehouse.tables import RUNS


def test_fact_assets_have_stable_uris_airflow_keeps() -> None:
    assets = fact_assets("analytics_pg", "cekura")
    assert [a.uri for a in assets] == [
        f"{ASSET_SCHEME}://analytics_pg/cekura/cekura_results",
        f"{ASSET_SCHEME}://analytics_pg/cekura/cekura_runs",
        f"{ASSET_SCHEME}://analytics_pg/cekura/cekura_run_metrics",
    ]
    assert fact_assets("analytics_pg", "cekura") == assets
    assert (
        daily_asset("analytics_pg").uri == f"{ASSET_SCHEME}://analytics_pg/cekura/cekura_success_rate_daily"
    )
    assert regressions_asset("analytics_pg").uri == f"{ASSET_SCHEME}://analytics_pg/cekura/cekura_regressions"
    with pytest.raises(ValueError, match="schema="):
        fact_assets("analytics_pg", "bad schema")
    with pytest.raises(ValueError, match="conn_id="):
        warehouse_asset("a/b", RUNS)


def test_asset_names_are_short_enough_for_the_ui() -> None:
    """Issue 12: `cekura_warehouse.cekura_warehouse.cekura.cekura_runs` was truncated in the UI."""
    assert runs_asset("cekura_warehouse").name == "cekura_warehouse/cekura.runs"
    assert warehouse_asset("cekura_warehouse", "cekura_runs") == runs_asset("cekura_warehouse")
    assert regressions_asset("cekura_warehouse", "qa").name == "cekura_warehouse/qa.regressions"
    assert max(len(a.name) for a in fact_assets("cekura_warehouse")) <= 35
