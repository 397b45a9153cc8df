"""Bring-your-own rooms survive Cekura's queue (issue 10): a batch that waits in_queue far longer than the old
300 s room empty_timeout and 1 h join-token lifetime, against the sandbox's LiveKit rooms that close like
livekit-server's (the dispatched agent alone does not keep a room open)."""

from __future__ import annotations

import copy
from importlib import resources
from typing import Any

import pytest
import yaml

from cekura_livekit.operators.run_scenarios import CekuraRunLiveKitScenariosOperator
from cekura_sandbox import Sandbox
from cekura_sandbox.catalogue import parse_catalogue
from tests.support.task_context import MemoryStateStore, make_context

LONG_CALL = 2901  # a scenario whose calls last exactly ten minutes and always pass
RUNS = 8


def _catalogue() -> Any:
    text = resources.files("cekura_sandbox").joinpath("default_catalogue.yaml").read_text("utf-8")
    data = copy.deepcopy(yaml.safe_load(text))
    data["scenarios"].append(
        {
            "id": LONG_CALL,
            "name": "Ten-minute call",
            "agent": 101,
            "pass_rate": 1.0,
            "infra_failure_rate": 0.0,
            "timeout_rate": 0.0,
            "duration": [600, 600],
            "metrics": [901],
        }
    )
    return parse_catalogue(data)


@pytest.fixture
def queued_sandbox(monkeypatch: pytest.MonkeyPatch) -> Any:
    """One parallel call: the 8th run leaves the queue ~70 simulated minutes after the submit."""
    with Sandbox(seed=7, speed=1200.0, catalogue=_catalogue(), parallel_calls=1) as sb:
        for key, value in sb.connection_env().items():
            monkeypatch.setenv(key, value)
        yield sb


@pytest.mark.parametrize(
    "settings",
    [{}, {"room_empty_timeout": 20_000}],
    ids=["default-room-and-token-settings", "long-rooms-default-token"],
)
def test_byo_batch_queued_longer_than_old_room_and_token_limits_passes(
    queued_sandbox: Sandbox, settings: dict[str, Any]
) -> None:
    op = CekuraRunLiveKitScenariosOperator(
        task_id="run_suite",
        scenarios=[LONG_CALL],
        frequency=RUNS,
        agent=101,
        mode="bring_your_own_rooms",
        livekit_conn_id="livekit_default",
        livekit_agent_name="acme-support",
        poll_interval=0.1,
        deferrable=False,
        timeout=3 * 3600,
        **settings,
    )
    summary = op.execute(make_context(store=MemoryStateStore()))
    runs = queued_sandbox.store.runs.values()
    last_start = max((r.call_start() - r.submitted_at).total_seconds() for r in runs)
    assert last_start > 3600 + 60  # queued past the old token lifetime (and far past 300 s)
    assert summary["status"] == "completed", summary
    assert summary["passed"] == RUNS, summary
    # No run landed in a fresh, auto-created room: every room lived until its tester came.
    assert not [n for n, why in queued_sandbox.livekit_closed_rooms if why == "empty_timeout"]
