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
            {"connection-type": "cekura", "hook-class-name": f"{_PKG}.hooks.cekura.CekuraHook"},
            {"connection-type": "livekit", "hook-class-name": f"{_PKG}.hooks.livekit.LiveKitHook"},
        ],
        "hooks": [
            {"integration-name": "Cekura", "python-modules": [f"{_PKG}.hooks.cekura"]},
            {"integration-name": "LiveKit", "python-modules": [f"{_PKG}.hooks.livekit"]},
        ],
        "integrations": [
            {"integration-name": "Cekura", "external-doc-url": "https://docs.cekura.ai", "tags": ["software"]},
            {"integration-name": "LiveKit", "external-doc-url": "https://docs.livekit.io", "tags": ["software"]},
        ],
    }
