"""`cekura-sandbox` starts both servers, prints ready-to-paste connections, and stops on SIGTERM."""

from __future__ import annotations

import json
import re
import shutil
import signal
import subprocess
import sys
from pathlib import Path

import httpx
import pytest


def _command() -> list[str]:
    script = Path(sys.executable).with_name("cekura-sandbox")
    if script.exists():
        return [str(script)]
    found = shutil.which("cekura-sandbox")
    if found:
        return [found]
    return [sys.executable, "-m", "cekura_sandbox.cli"]


@pytest.mark.parametrize("stop_signal", [signal.SIGTERM, signal.SIGINT])
def test_cli_prints_connections_and_stops(stop_signal: signal.Signals) -> None:
    proc = subprocess.Popen(
        [*_command(), "--port", "0", "--livekit-port", "0", "--seed", "3", "--speed", "100"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        lines = []
        assert proc.stdout is not None
        for line in proc.stdout:
            lines.append(line)
            if line.startswith("export AIRFLOW_CONN_LIVEKIT_DEFAULT"):
                break
        text = "".join(lines)
        cekura = json.loads(re.search(r"AIRFLOW_CONN_CEKURA_DEFAULT='(.+)'", text).group(1))
        livekit = json.loads(re.search(r"AIRFLOW_CONN_LIVEKIT_DEFAULT='(.+)'", text).group(1))
        assert cekura["conn_type"] == "cekura"
        assert livekit["conn_type"] == "livekit"
        resp = httpx.get(
            f"{cekura['host']}/test_framework/v2/aiagents/101/",
            headers={"X-CEKURA-API-KEY": cekura["password"]},
        )
        assert resp.status_code == 200
        proc.send_signal(stop_signal)
        assert proc.wait(timeout=15) == 0
        with pytest.raises(httpx.TransportError):
            httpx.get(cekura["host"] + "/_sandbox/health", timeout=2)
    finally:
        if proc.poll() is None:
            proc.kill()
