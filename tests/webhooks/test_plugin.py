"""The api-server serves the receiver: Airflow's own plugin loading mounts it at /cekura-webhooks, and a
delivery through Airflow's app reaches the receiver's secret check (no Airflow login in the way)."""

from __future__ import annotations

import json

import pytest
from cekura_plugin import WEBHOOK_URL_PREFIX
from fastapi import FastAPI
from fastapi.testclient import TestClient

from tests.webhooks.support import SECRET, body


def test_airflow_mounts_the_receiver_where_the_docs_say(monkeypatch: pytest.MonkeyPatch) -> None:
    from airflow import plugins_manager
    from airflow.api_fastapi.app import RESERVED_URL_PREFIXES, init_plugins

    apps, _ = plugins_manager.get_fastapi_plugins()
    (ours,) = [a for a in apps if a.get("url_prefix") == WEBHOOK_URL_PREFIX]
    assert ours["name"] == "Cekura webhook receiver"
    assert not any(WEBHOOK_URL_PREFIX.startswith(p) for p in RESERVED_URL_PREFIXES)

    app = FastAPI()
    init_plugins(app)  # what the api-server does with every plugin's fastapi_apps
    client = TestClient(app)
    assert client.get(f"{WEBHOOK_URL_PREFIX}/health").json() == {"status": "ok"}
    wrong = client.post(f"{WEBHOOK_URL_PREFIX}/", content=body(1), headers={"X-CEKURA-SECRET": SECRET})
    assert wrong.status_code == 401  # no cekura_webhook_default connection in the test environment
    monkeypatch.setenv(
        "AIRFLOW_CONN_CEKURA_WEBHOOK_ACME", json.dumps({"conn_type": "cekura_webhook", "password": SECRET})
    )
    monkeypatch.delenv("CEKURA_WEBHOOK_DSN", raising=False)
    right = client.post(
        f"{WEBHOOK_URL_PREFIX}/cekura_webhook_acme", content=body(1), headers={"X-CEKURA-SECRET": SECRET}
    )
    assert right.status_code == 503  # the secret passed; SQLite metadata: no channel, said so
