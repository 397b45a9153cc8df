"""An open warehouse: a DB-API connection plus its engine adapter, from an Airflow connection id.

Engine-neutral: the adapter comes from the registry (`engines.engine_for`) by the connection's type, and
every engine difference — how a transaction begins, how a read ends, how a failure is explained — is the
adapter's.

Everything a load does runs inside `Warehouse.transaction()`: one transaction, DDL included, so a failure
leaves the tables exactly as they were.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any

from cekura_livekit.warehouse.engines import Dialect, engine_for
from cekura_livekit.warehouse.tables import DEFAULT_SCHEMA, check_identifier


class Warehouse:
    """An open warehouse connection with its dialect; use `transaction()` for every write."""

    def __init__(self, conn: Any, dialect: Dialect, conn_id: str) -> None:
        self.conn = conn
        self.dialect = dialect
        self.conn_id = conn_id

    @contextmanager
    def transaction(self) -> Iterator[Any]:
        """One write transaction: committed when the block ends, rolled back on any error (which the
        adapter may replace by a clearer one, e.g. a lock timeout naming the blocking session)."""
        cur = self.conn.cursor()
        try:
            self.dialect.begin(cur)
            yield cur
        except BaseException as exc:
            self.conn.rollback()
            clearer = self.dialect.explain_failure(self.conn, exc, self.conn_id)
            if clearer is not None:
                raise clearer from exc
            raise
        else:
            self.conn.commit()
        finally:
            cur.close()

    def query(self, sql: str, params: Sequence[Any] = ()) -> tuple[list[str], list[tuple[Any, ...]]]:
        """A read: column names and rows; whatever the read opened is ended (nothing was written)."""
        cur = self.conn.cursor()
        try:
            cur.execute(sql, tuple(params))
            names = [d[0] for d in cur.description]
            return names, [tuple(r) for r in cur.fetchall()]
        finally:
            cur.close()
            self.dialect.end_read(self.conn)

    def close(self) -> None:
        self.conn.close()


def connection_of(conn_id: str) -> Any:
    """The Airflow connection `conn_id` (raises Airflow's not-found error when it is not defined)."""
    from airflow.sdk import BaseHook

    return BaseHook.get_connection(conn_id)


@contextmanager
def open_warehouse(conn_id: str, schema: str = DEFAULT_SCHEMA) -> Iterator[Warehouse]:
    """Connect through the Airflow connection `conn_id`, choosing the engine adapter from its conn type."""
    check_identifier(schema)
    connection = connection_of(conn_id)
    dialect = engine_for(connection.conn_type, conn_id)(schema)
    warehouse = Warehouse(dialect.connect(conn_id, connection), dialect, conn_id)
    try:
        yield warehouse
    finally:
        warehouse.close()
