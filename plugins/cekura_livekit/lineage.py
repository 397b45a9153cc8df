"""OpenLineage for the load task: its input is the Cekura result, its outputs are the warehouse fact tables.

Optional by design: when the OpenLineage provider is not installed, every function here returns None and
Airflow's listener (absent too) asks nothing, so the integration costs nothing where it is not wanted.
Namespaces use connection ids, never hosts or credentials, like the Asset URIs.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any


def load_lineage(
    result_id: int | None, cekura_conn_id: str, warehouse_conn_id: str, schema: str, tables: Sequence[str]
) -> Any | None:
    """`OperatorLineage(inputs=[the result], outputs=[each table])`, or None without the provider."""
    try:
        from airflow.providers.common.compat.openlineage.facet import Dataset
        from airflow.providers.openlineage.extractors import OperatorLineage
    except ImportError:
        return None
    inputs = (
        [Dataset(namespace=f"cekura://{cekura_conn_id}", name=f"results/{result_id}")] if result_id else []
    )
    outputs = [
        Dataset(namespace=f"cekura-warehouse://{warehouse_conn_id}", name=f"{schema}.{t}") for t in tables
    ]
    return OperatorLineage(inputs=inputs, outputs=outputs)
