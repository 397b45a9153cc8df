"""Every request the hook makes is one the published spec documents, not deprecated, with exactly the
parameters that operation declares (issue 19.1): checked on the sandbox's record of real HTTP requests."""

from __future__ import annotations

import importlib.util
import time
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

from cekura_livekit.hooks.cekura import API_PATHS, CekuraHook
from cekura_livekit.models import ResultSummary
from cekura_sandbox import Sandbox

pytestmark = pytest.mark.usefixtures("cekura_sandbox_connections")


def _contract() -> ModuleType:
    """The sandbox tests' view of the spec (the vendored subset plus the v2 read twins)."""
    path = Path(__file__).resolve().parents[2] / "sandbox" / "tests" / "openapi_contract.py"
    spec = importlib.util.spec_from_file_location("openapi_contract", path)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


contract = _contract()


@pytest.fixture(scope="module")
def spec() -> dict[str, Any]:
    return contract.load_spec()


def test_no_path_of_the_client_is_deprecated(spec: dict[str, Any]) -> None:
    for name, path in API_PATHS.items():
        concrete = path.format(result_id=5, run_id=6, agent_id=7)
        for method in ("get", "post"):
            found = contract.operation_of(spec, method, concrete)
            if found is not None:
                assert not found[1].get("deprecated"), (
                    f"API_PATHS[{name!r}] = {path} is deprecated ({method})"
                )


def test_every_request_of_the_hook_follows_the_spec(cekura_sandbox: Sandbox, spec: dict[str, Any]) -> None:
    hook = CekuraHook()
    submitted = hook.submit_managed({"scenarios": [{"scenario": 2001}, {"scenario": 2005}], "agent": 101})
    result_id = submitted["id"]
    deadline = time.monotonic() + 30
    while not ResultSummary.from_result(hook.get_result(result_id)).is_terminal:
        assert time.monotonic() < deadline, "the result did not finish"
        time.sleep(0.1)
    run_ids = [r["id"] for r in submitted["runs"]]
    assert len(hook.get_runs_bulk(run_ids)) == 2
    assert len(list(hook.iter_runs(result_id=result_id, status_in=["completed", "failed"], page_size=1))) <= 2
    assert next(hook.iter_results(agent_id=101), None) is not None
    assert hook.find_results_by_name("no such batch", agent_id=101) == []
    hook.end_calls(result_id)
    hook.end_call(run_ids[0])
    assert hook.get_agent_project_id(101) == 11
    assert hook.create_shareable_link(result_id)
    requests = [
        r for r in cekura_sandbox.requests if r.server == "cekura" and not r.path.startswith("/_sandbox")
    ]
    reads = {r.path.split("/")[2] for r in requests if r.method == "GET" and "aiagents" not in r.path}
    assert reads == {"v2"}, "a read went to a deprecated v1 endpoint"
    problems = [p for r in requests for p in contract.request_problems(spec, r.method, r.path, r.query)]
    assert problems == []
