"""The Cekura dashboard page of a result: project-scoped when the agent's project can be looked up.

One function for the operator and the sensor, so both push (and their extra links show) the same URL.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from cekura_livekit.hooks.errors import CekuraError

if TYPE_CHECKING:
    from cekura_livekit.hooks.cekura import CekuraHook

log = logging.getLogger(__name__)


def dashboard_url(
    hook: CekuraHook, result_id: int, agent: object = None, payload: Mapping[str, Any] | None = None
) -> str:
    """`…/{project}/results/{id}`; the agent comes from the argument or the result payload.

    A failed project lookup costs the link its project segment, never the task.
    """
    if agent is None and payload is not None:
        agent = payload.get("agent")
    if isinstance(agent, Mapping):
        agent = agent.get("id")
    project = None
    if agent is not None and str(agent).isdigit():
        try:
            project = hook.get_agent_project_id(int(str(agent)))
        except CekuraError as exc:
            log.warning("Could not look up the agent's project for the dashboard link: %s", exc)
    return hook.dashboard_url(int(result_id), project)
