"""Provider metadata Airflow's ProvidersManager reads through the `apache_airflow_provider` entry point."""

from __future__ import annotations

from typing import Any

from cekura_livekit import __version__

_PKG = "cekura_livekit"


def get_provider_info() -> dict[str, Any]:
    """Everything the provider registers; kept in step with the modules that exist."""
    return {
        "package-name": "airflow-provider-cekura-livekit",
        "name": "Cekura LiveKit",
        "description": "Run Cekura voice-agent test scenarios against LiveKit agents and track success rates.",
        "versions": [__version__],
        "connection-types": [
            {
                "connection-type": "cekura",
                "hook-class-name": f"{_PKG}.hooks.cekura.CekuraHook",
                "hook-name": "Cekura",
                "ui-field-behaviour": {
                    "hidden-fields": ["schema", "port", "login"],
                    "relabeling": {"host": "Cekura API base URL", "password": "Cekura API key"},
                    "placeholders": {
                        "host": "https://api.cekura.ai",
                        "password": "X-CEKURA-API-KEY value from the Cekura dashboard",
                    },
                },
                "conn-fields": {
                    "timeout": {
                        "label": "Request timeout (s)",
                        "schema": {"type": ["integer", "null"], "minimum": 1, "default": 30},
                        "description": "Per-request timeout for Cekura API calls.",
                    },
                    "chunk_size": {
                        "label": "Run ids per bulk call",
                        "schema": {"type": ["integer", "null"], "minimum": 1, "maximum": 100, "default": 100},
                        "description": "How many run ids one runs/bulk request asks for (at most 100).",
                    },
                    "dashboard_url": {
                        "label": "Dashboard URL",
                        "schema": {"type": ["string", "null"], "format": "uri"},
                        "description": 'Base URL of the Cekura dashboard the "Cekura result" link points '
                        "to (default https://dashboard.cekura.ai).",
                    },
                },
            },
            {
                "connection-type": "livekit",
                "hook-class-name": f"{_PKG}.hooks.livekit.LiveKitHook",
                "hook-name": "LiveKit",
                "ui-field-behaviour": {
                    "hidden-fields": ["schema", "port", "extra"],
                    "relabeling": {
                        "host": "LiveKit server URL",
                        "login": "API key",
                        "password": "API secret",
                    },
                    "placeholders": {
                        "host": "wss://my-project.livekit.cloud",
                        "login": "APIxxxxxxxxxxxx (Settings → Keys in LiveKit Cloud)",
                        "password": "the secret shown once when the key was created",
                    },
                },
            },
        ],
        "hooks": [
            {"integration-name": "Cekura", "python-modules": [f"{_PKG}.hooks.cekura"]},
            {"integration-name": "LiveKit", "python-modules": [f"{_PKG}.hooks.livekit"]},
        ],
        "operators": [
            {
                "integration-name": "Cekura",
                "python-modules": [f"{_PKG}.operators.run_scenarios", f"{_PKG}.operators.warehouse"],
            }
        ],
        "sensors": [{"integration-name": "Cekura", "python-modules": [f"{_PKG}.sensors.runs"]}],
        "triggers": [{"integration-name": "Cekura", "python-modules": [f"{_PKG}.triggers.runs"]}],
        "extra-links": [f"{_PKG}.links.CekuraResultLink"],
        "notifications": [f"{_PKG}.alerts.CekuraRegressionNotifier"],
        "asset-uris": [{"schemes": ["cekura-warehouse"]}],
        "integrations": [
            {
                "integration-name": "Cekura",
                "external-doc-url": "https://docs.cekura.ai",
                "tags": ["software"],
            },
            {
                "integration-name": "LiveKit",
                "external-doc-url": "https://docs.livekit.io",
                "tags": ["software"],
            },
        ],
    }
