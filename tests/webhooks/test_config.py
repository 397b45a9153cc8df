"""Where the webhook channel lives (`ChannelConfig`): the first source that names a PostgreSQL wins, anything
else means "no channel" (waits poll), and a schema or channel name that is not an identifier is refused."""

from __future__ import annotations

import json
from typing import Any, ClassVar

import pytest

from cekura_livekit.webhooks import config as config_module
from cekura_livekit.webhooks.config import CHANNEL_CONN_ID, DEFAULT_CHANNEL, ChannelConfig, postgres_dsn

ENV = ("CEKURA_WEBHOOK_DSN", "CEKURA_WEBHOOK_SCHEMA", "CEKURA_WEBHOOK_CHANNEL", "CEKURA_WEBHOOKS")
CONN_ENV = f"AIRFLOW_CONN_{CHANNEL_CONN_ID.upper()}"


@pytest.fixture(autouse=True)
def _clean(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in (*ENV, CONN_ENV):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setattr(config_module, "_metadata_url", lambda: None)  # the test Airflow's own database
    monkeypatch.setattr(config_module, "_metadata_schema", lambda: None)


@pytest.mark.parametrize(
    ("url", "dsn"),
    [
        ("postgresql://u:p@h:5432/db", "postgresql://u:p@h:5432/db"),
        ("postgres://u@h/db", "postgresql://u@h/db"),
        ("postgresql+psycopg2://u:p@h/db?sslmode=require", "postgresql://u:p@h/db?sslmode=require"),
        ("  host=h dbname=db  ", "host=h dbname=db"),  # libpq key=value form passes as written
        ("sqlite:////tmp/airflow.db", None),
        ("mysql+pymysql://u@h/db", None),
        ("just-a-word", None),
    ],
)
def test_postgres_dsn_reads_every_sqlalchemy_spelling_and_refuses_other_engines(
    url: str, dsn: str | None
) -> None:
    assert postgres_dsn(url) == dsn


@pytest.mark.parametrize("field", ["schema", "channel"])
@pytest.mark.parametrize("value", ["Public", "x; DROP TABLE y", "1abc", "", "a" * 64])
def test_a_name_that_is_not_an_identifier_is_refused_naming_it(field: str, value: str) -> None:
    with pytest.raises(ValueError, match=f"webhook {field} .* must be a lower-case SQL identifier"):
        ChannelConfig(dsn="host=h", **{field: value})


def test_the_dsn_never_shows_in_repr() -> None:
    config = ChannelConfig(dsn="host=h password=hunter2-secret", schema="chan")
    assert "hunter2-secret" not in repr(config)
    assert config.table == '"chan".cekura_webhook_delivery'


def test_the_environment_wins_with_its_schema_and_channel(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CEKURA_WEBHOOK_DSN", "postgresql+psycopg://u@db/airflow")
    monkeypatch.setenv("CEKURA_WEBHOOK_SCHEMA", "hooks")
    monkeypatch.setenv("CEKURA_WEBHOOK_CHANNEL", "wake_up")
    assert ChannelConfig.resolve() == ChannelConfig(
        dsn="postgresql://u@db/airflow", schema="hooks", channel="wake_up"
    )


def test_the_airflow_connection_gives_dsn_and_channel_schema(monkeypatch: pytest.MonkeyPatch) -> None:
    conn = {"conn_type": "postgres", "host": "db", "port": 5433, "login": "trig", "password": "pw",
            "schema": "airflow", "extra": {"channel_schema": "cekura_hooks"}}  # fmt: skip
    monkeypatch.setenv(CONN_ENV, json.dumps(conn))
    resolved = ChannelConfig.resolve()
    assert resolved is not None
    for part in ("host=db", "port=5433", "user=trig", "password=pw", "dbname=airflow"):
        assert part in resolved.dsn
    assert (resolved.schema, resolved.channel) == ("cekura_hooks", DEFAULT_CHANNEL)


def test_a_connection_without_host_falls_through_to_the_metadata_database(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv(CONN_ENV, json.dumps({"conn_type": "postgres", "schema": "airflow"}))
    monkeypatch.setattr(config_module, "_metadata_url", lambda: "postgresql+psycopg2://af@meta/airflow")
    monkeypatch.setattr(config_module, "_metadata_schema", lambda: "af_schema")
    resolved = ChannelConfig.resolve()
    assert resolved == ChannelConfig(dsn="postgresql://af@meta/airflow", schema="af_schema")


def test_no_postgres_anywhere_is_no_channel(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(config_module, "_metadata_url", lambda: "sqlite:////tmp/airflow.db")
    assert ChannelConfig.resolve() is None


@pytest.mark.parametrize("off", ["off", "FALSE", "0", "no"])
async def test_cekura_webhooks_off_wins_over_any_dsn(monkeypatch: pytest.MonkeyPatch, off: str) -> None:
    monkeypatch.setenv("CEKURA_WEBHOOK_DSN", "postgresql://u@db/airflow")
    monkeypatch.setenv("CEKURA_WEBHOOKS", off)
    assert ChannelConfig.resolve() is None
    assert await ChannelConfig.aresolve() is None


async def test_aresolve_reads_the_connection_through_the_async_path(monkeypatch: pytest.MonkeyPatch) -> None:
    seen: list[str] = []

    class Conn:
        host, port, login, password, schema = "db", None, "trig", None, "airflow"
        extra_dejson: ClassVar[dict[str, Any]] = {}

    async def aget_connection(conn_id: str) -> Conn:
        seen.append(conn_id)
        return Conn()

    from airflow.sdk import BaseHook

    monkeypatch.setattr(BaseHook, "aget_connection", staticmethod(aget_connection))
    resolved = await ChannelConfig.aresolve()
    assert seen == [CHANNEL_CONN_ID]
    assert resolved is not None
    assert "host=db" in resolved.dsn
    assert resolved.schema == "public"
