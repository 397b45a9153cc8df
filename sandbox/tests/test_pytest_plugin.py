"""The fixtures reach any test suite through the `pytest11` entry point, as a user's project would see them.

The user's suite runs in a child pytest with nothing but the installed distribution: no conftest, no config.
"""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from importlib.metadata import entry_points
from pathlib import Path

USER_TESTS = """
import json
import os

import httpx

CONN = "AIRFLOW_CONN_CEKURA_DEFAULT"
SHARED = []


def _host(name=CONN):
    return json.loads(os.environ[name])["host"]


def test_fresh_one_gets_traffic(cekura_sandbox):
    assert (cekura_sandbox.seed, cekura_sandbox.clock.speed) == (7, 600.0)
    url = cekura_sandbox.cekura_url + "/test_framework/v2/aiagents/101/"
    assert httpx.get(url, headers={"X-CEKURA-API-KEY": cekura_sandbox.api_key}).status_code == 200
    assert cekura_sandbox.count("GET", "aiagents") == 1


def test_fresh_one_starts_clean(cekura_sandbox):
    assert cekura_sandbox.requests == []
    assert CONN not in os.environ


def test_session_first(cekura_sandbox_session):
    SHARED.append(cekura_sandbox_session)


def test_session_second(cekura_sandbox_session):
    assert SHARED == [cekura_sandbox_session]
    assert cekura_sandbox_session.clock.speed == 600.0


def test_connections(cekura_sandbox_connections, cekura_sandbox):
    assert cekura_sandbox_connections == cekura_sandbox.connection_env()
    assert _host() == cekura_sandbox.cekura_url
    assert json.loads(os.environ["AIRFLOW_CONN_LIVEKIT_DEFAULT"])["host"] == cekura_sandbox.livekit_url


def test_slow(cekura_slow_sandbox):
    assert cekura_slow_sandbox.clock.speed == 1.0
    assert _host() == cekura_slow_sandbox.cekura_url


def test_connections_are_undone_after_each_test():
    assert CONN not in os.environ
"""


def test_plugin_is_registered() -> None:
    (plugin,) = [ep for ep in entry_points(group="pytest11") if ep.name == "cekura_sandbox"]
    assert plugin.value == "cekura_sandbox.pytest_plugin"


def test_fixtures_work_in_a_foreign_suite(tmp_path: Path) -> None:
    (tmp_path / "test_user.py").write_text(textwrap.dedent(USER_TESTS))
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AIRFLOW_CONN_", "PYTEST_"))}
    proc = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "test_user.py"],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=240,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "7 passed" in proc.stdout
