"""pytest fixtures that run the sandbox, registered through the `pytest11` entry point.

Installing `cekura-sandbox` makes them available to every test suite in the environment, so users can test
their own DAGs against the stand-ins without copying fixtures. The servers are imported only when a fixture is
used: a pytest run that never asks for one pays nothing for the plugin.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    from cekura_sandbox.server import Sandbox

#: The seed every fixture uses: the same seed gives the same outcomes, so tests can rely on them.
SEED = 7
#: Simulated seconds per real second for the fast fixtures: a call of a few minutes ends in well under a second.
FAST_SPEED = 600.0
#: Real time, for tests whose deadlines must expire before the calls end.
REAL_TIME = 1.0


def _start(speed: float) -> Sandbox:
    from cekura_sandbox.server import Sandbox

    return Sandbox(seed=SEED, speed=speed)


def _set_connections(sandbox: Sandbox, monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    env = sandbox.connection_env()
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    return env


@pytest.fixture
def cekura_sandbox() -> Iterator[Sandbox]:
    """A sandbox of its own for one test (own state, own free ports): counts and ids start fresh."""
    with _start(FAST_SPEED) as sb:
        yield sb


@pytest.fixture(scope="session")
def cekura_sandbox_session() -> Iterator[Sandbox]:
    """One sandbox shared by the session: cheaper, for tests that add their own batches and never depend on
    global counts or the clock."""
    with _start(FAST_SPEED) as sb:
        yield sb


@pytest.fixture
def cekura_sandbox_connections(cekura_sandbox: Sandbox, monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    """Point the `cekura_default` and `livekit_default` Airflow connections (AIRFLOW_CONN_* variables) at
    `cekura_sandbox` for this test; returns the variables it set."""
    return _set_connections(cekura_sandbox, monkeypatch)


@pytest.fixture
def cekura_slow_sandbox(monkeypatch: pytest.MonkeyPatch) -> Iterator[Sandbox]:
    """A real-time clock (calls last about a minute), connections set: short deadlines always hit."""
    with _start(REAL_TIME) as sb:
        _set_connections(sb, monkeypatch)
        yield sb
