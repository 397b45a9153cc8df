"""dashboard_url: project-scoped when the agent's project is known; a failed lookup costs only the segment."""

from __future__ import annotations

from cekura_livekit.batch.dashboard import dashboard_url
from cekura_livekit.hooks.cekura import CekuraHook
from cekura_sandbox import Sandbox


def test_project_scoped_from_the_argument_or_the_payload(
    cekura_sandbox: Sandbox, cekura_sandbox_connections: dict
) -> None:
    hook = CekuraHook()
    scoped = dashboard_url(hook, 501, agent=101)
    assert scoped.endswith("/results/501")
    project = scoped.rsplit("/results/", 1)[0].rsplit("/", 1)[1]
    assert project.isdigit()
    assert dashboard_url(hook, 501, payload={"agent": {"id": 101}}) == scoped
    assert dashboard_url(hook, 501, payload={"agent": "101"}) == scoped


def test_unknown_or_failing_agent_lookup_gives_the_unscoped_link(
    cekura_sandbox: Sandbox, cekura_sandbox_connections: dict
) -> None:
    hook = CekuraHook(retry_limit=0)
    assert dashboard_url(hook, 7).endswith("/results/7")  # no agent at all: no lookup
    assert cekura_sandbox.count("GET", "agents") == 0
    cekura_sandbox.inject_fault(path_contains="agents", kind="500", times=10)
    url = dashboard_url(hook, 7, agent=101)
    assert url == hook.dashboard_url(7, None)
