"""Loading the plugins folder registers our plugin and never shadows other modules with our file names."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]

_PROBE = """
import json, sys
from airflow import plugins_manager
plugins_manager.ensure_plugins_loaded()
import cekura, cekura_livekit
print(json.dumps({
    "plugins": sorted(p["name"] for p in plugins_manager.get_plugin_info()),
    "errors": plugins_manager.get_import_errors(),
    "cekura": cekura.__file__,
    "stray": sorted(m for m in ("models", "stats", "livekit_app", "frames") if m in sys.modules),
}))
"""


def test_plugins_folder_loads_only_the_plugin_module(tmp_path: Path) -> None:
    env = {**os.environ, "AIRFLOW__CORE__PLUGINS_FOLDER": str(ROOT / "plugins")}
    out = subprocess.run(
        [sys.executable, "-c", _PROBE], capture_output=True, text=True, env=env, cwd=tmp_path, check=True
    )
    info = json.loads(out.stdout.strip().splitlines()[-1])
    assert "cekura_livekit" in info["plugins"]
    assert info["errors"] == {}
    # The official SDK stays importable: hooks/cekura.py is not loaded as a top-level `cekura` module.
    assert "site-packages" in info["cekura"]
    assert info["stray"] == []
