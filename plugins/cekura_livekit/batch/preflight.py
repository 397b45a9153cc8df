"""Checks that must pass before any paid call: a batch whose results cannot be stored is not submitted.

The load task runs after the calls were paid for; a warehouse that cannot take the load (an unknown conn id,
a conn type this package cannot load into, a server that does not answer, a missing database, a role that
may not create or write the tables) would only be found then. So the pre-flight connects the way the load
will and checks what the load needs (`warehouse.loadable.check_loadable`), changing nothing.
"""

from __future__ import annotations

import logging
import os
from typing import Any

from cekura_livekit.batch.cost import CostEstimate, check_balance, check_budget, estimate
from cekura_livekit.batch.spec import BatchSpec
from cekura_livekit.warehouse.tables import DEFAULT_SCHEMA

log = logging.getLogger(__name__)


def check_warehouse_connection(conn_id: str, schema: str = DEFAULT_SCHEMA) -> None:
    """Raise a ValueError naming the connection, what failed and the fix when a load through `conn_id`
    into `schema` could not work."""
    from airflow.sdk import BaseHook

    from cekura_livekit.compat import AirflowNotFoundException
    from cekura_livekit.warehouse.engines import ENGINES, REGISTRY, SUPPORTED
    from cekura_livekit.warehouse.loadable import check_loadable

    try:
        connection = BaseHook.get_connection(conn_id)
    except AirflowNotFoundException:
        raise ValueError(
            f"warehouse_conn_id={conn_id!r} is not a defined Airflow connection: create it (a "
            f"{' or '.join(e.name for e in ENGINES)} connection), or set CEKURA_WAREHOUSE_CONN_ID / the suite's "
            "warehouse_conn_id to one that exists. Nothing was submitted."
        ) from None
    conn_type = (connection.conn_type or "").lower()
    if conn_type not in REGISTRY:
        raise ValueError(
            f"warehouse_conn_id={conn_id!r} has conn_type={connection.conn_type!r}, which this package cannot "
            f"load into (supported: {', '.join(SUPPORTED)}); point it at a "
            f"{' or '.join(e.name for e in ENGINES)} connection. Nothing was submitted."
        )
    check_loadable(conn_id, schema)


def preflight(spec: BatchSpec, hook: Any | None = None) -> CostEstimate:
    """Everything that can be known to fail later, checked before the first side effect; returns the
    batch's estimated credits (`batch.cost`), logged, after refusing a batch over `max_credits` or, with
    the Cekura `hook`, over the account's remaining credits."""
    if spec.warehouse_conn_id:
        check_warehouse_connection(spec.warehouse_conn_id, _schema(spec))
    cost = estimate(spec)
    check_budget(spec, cost)
    remaining = check_balance(hook, cost) if hook is not None else None
    log.info(
        "Estimated Cekura cost of this batch: %g credits (%d runs; %s)%s.",
        cost.estimated_credits,
        cost.runs,
        cost.basis,
        f"; {remaining:g} credits remaining" if remaining is not None else "",
    )
    return cost


def _schema(spec: BatchSpec) -> str:
    """The schema the regression DAG's load writes: CEKURA_WAREHOUSE_SCHEMA (the rule of
    `pipelines.warehouse_schema`, which this low module cannot import), else the default."""
    return os.environ.get("CEKURA_WAREHOUSE_SCHEMA") or DEFAULT_SCHEMA
