"""OpenLineage: the load reports its input (the result) and outputs (fact tables) — and nothing without it."""

from __future__ import annotations

import sys
import types
from dataclasses import dataclass, field
from typing import Any

import pytest

from cekura_livekit.operators.warehouse import CekuraResultsToWarehouseOperator


def _op() -> CekuraResultsToWarehouseOperator:
    op = CekuraResultsToWarehouseOperator(task_id="load", result_id=501, warehouse_conn_id="wh")
    op._loaded_result_id = 501  # what execute() records once it knows the rendered id
    return op


def test_without_the_openlineage_provider_nothing_is_reported() -> None:
    pytest.importorskip("airflow")
    if "airflow.providers.openlineage" in sys.modules or _provider_installed():
        pytest.skip("the OpenLineage provider is installed here")
    assert _op().get_openlineage_facets_on_complete(None) is None


def _provider_installed() -> bool:
    try:
        import airflow.providers.openlineage  # noqa: F401
    except ImportError:
        return False
    return True


def test_with_the_provider_the_result_flows_into_the_fact_tables(monkeypatch: pytest.MonkeyPatch) -> None:
    """The provider is not installed in this environment: stand its two entry points in (the only mock)."""

    @dataclass
    class Dataset:
        namespace: str
        name: str

    @dataclass
    class OperatorLineage:
        inputs: list[Any] = field(default_factory=list)
        outputs: list[Any] = field(default_factory=list)

    facet = types.ModuleType("airflow.providers.common.compat.openlineage.facet")
    facet.Dataset = Dataset  # type: ignore[attr-defined]
    extractors = types.ModuleType("airflow.providers.openlineage.extractors")
    extractors.OperatorLineage = OperatorLineage  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "airflow.providers.common.compat.openlineage.facet", facet)
    monkeypatch.setitem(
        sys.modules, "airflow.providers.openlineage", types.ModuleType("airflow.providers.openlineage")
    )
    monkeypatch.setitem(sys.modules, "airflow.providers.openlineage.extractors", extractors)

    lineage = _op().get_openlineage_facets_on_complete(None)
    assert lineage.inputs == [Dataset("cekura://cekura_default", "results/501")]
    assert [o.name for o in lineage.outputs] == [
        "cekura.cekura_results",
        "cekura.cekura_runs",
        "cekura.cekura_run_metrics",
    ]
    assert {o.namespace for o in lineage.outputs} == {"cekura-warehouse://wh"}
