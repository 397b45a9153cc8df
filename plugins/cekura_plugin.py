"""Airflow plugin for plugins-folder installs (Astro / official image): registers the operator extra link.

Pip installs get the same link through the provider's `extra-links` entry; registering it twice is harmless.
"""

from __future__ import annotations

from airflow.plugins_manager import AirflowPlugin

from cekura_livekit.links import CekuraResultLink


class CekuraLiveKitPlugin(AirflowPlugin):
    name = "cekura_livekit"
    operator_extra_links = [CekuraResultLink()]  # noqa: RUF012 (the plugin manager reads a plain list)
