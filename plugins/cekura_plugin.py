"""Airflow plugin for plugins-folder installs (Astro / official image): registers the operator extra link
and serves the Cekura webhook receiver from the api-server.

Pip installs get the same link through the provider's `extra-links` entry; registering it twice is harmless.
The receiver is mounted at `/cekura-webhooks` (`POST /cekura-webhooks/` for `cekura_webhook_default`,
`POST /cekura-webhooks/<webhook_conn_id>` for others); it checks `X-CEKURA-SECRET` itself, since Cekura
cannot log in to Airflow (docs/webhooks.md).
"""

from __future__ import annotations

from airflow.plugins_manager import AirflowPlugin

from cekura_livekit.links import CekuraResultLink
from cekura_livekit.webhooks.app import create_app

#: Where the api-server serves the receiver; register `https://<airflow>/cekura-webhooks/` in Cekura.
WEBHOOK_URL_PREFIX = "/cekura-webhooks"


class CekuraLiveKitPlugin(AirflowPlugin):
    name = "cekura_livekit"
    operator_extra_links = [CekuraResultLink()]  # noqa: RUF012 (the plugin manager reads a plain list)
    fastapi_apps = [  # noqa: RUF012
        {"app": create_app(), "url_prefix": WEBHOOK_URL_PREFIX, "name": "Cekura webhook receiver"}
    ]
