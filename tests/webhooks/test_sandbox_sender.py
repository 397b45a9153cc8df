"""The sandbox's sender: Cekura's body and header (the real receiver accepts them), per-project URLs,
nothing for results that finished before the webhook was set, and faults refused when unknown."""

from __future__ import annotations

import asyncio
import time

import pytest

from cekura_livekit.hooks.cekura import CekuraHook
from cekura_livekit.webhooks.config import ChannelConfig
from cekura_sandbox import Sandbox
from tests.webhooks.conftest import Receiver
from tests.webhooks.support import SECRET, rows


def _submit() -> int:
    return int(CekuraHook().submit_managed({"scenarios": [{"scenario": 2001}], "agent": 101})["id"])


async def _sent(sb: Sandbox, result_id: int, seconds: float = 20.0) -> list:
    deadline = time.monotonic() + seconds
    while not sb.webhooks.sent(result_id) and time.monotonic() < deadline:
        await asyncio.sleep(0.05)
    return sb.webhooks.sent(result_id)


async def test_results_go_to_their_projects_url_as_cekura_posts_them(
    channel: ChannelConfig, receiver: Receiver, cekura_sandbox: Sandbox, cekura_sandbox_connections: dict
) -> None:
    earlier = _submit()
    await asyncio.sleep(1.0)  # finished before the webhook was configured: never announced
    cekura_sandbox.webhooks.configure("http://127.0.0.1:1/", SECRET)  # every other project
    cekura_sandbox.webhooks.configure(receiver.url, SECRET, project_id=11)  # agent 101's project
    result_id = _submit()
    (delivery,) = await _sent(cekura_sandbox, result_id)
    assert (delivery.url, delivery.status_code, delivery.event_type) == (
        receiver.url,
        200,
        "result.completed",
    )
    assert [r[2] for r in rows(channel)] == [result_id]  # the real receiver parsed body and header
    assert cekura_sandbox.webhooks.sent(earlier) == []


def test_unknown_faults_and_bad_targets_are_refused(cekura_sandbox: Sandbox) -> None:
    with pytest.raises(ValueError, match="not one of"):
        cekura_sandbox.webhooks.add_fault("explode")
    with pytest.raises(ValueError, match="http"):
        cekura_sandbox.webhooks.configure("ftp://x", SECRET)
