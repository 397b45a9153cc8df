"""Responses and requests validate against the published OpenAPI contract (the vendored subset, see
`openapi_contract`): the v1 families the official SDK and CLI still call, and the v2 read endpoints the
project's client uses. Never skipped: the spec travels with the tests.
"""

from __future__ import annotations

import time
from typing import Any

import httpx
import jsonschema
import pytest
from openapi_contract import SPEC_PATH, check, load_spec, ref, request_problems, response_schema

from cekura_sandbox import Sandbox
from cekura_sandbox.catalogue import load_catalogue

V2 = "/test_framework/v1/scenarios-external/run_scenarios_livekit_v2/"


@pytest.fixture(scope="module")
def spec() -> dict[str, Any]:
    assert SPEC_PATH.is_file(), (
        f"{SPEC_PATH} is missing: the vendored OpenAPI subset belongs to the repository"
    )
    return load_spec()


def _client(sb: Sandbox) -> httpx.Client:
    return httpx.Client(base_url=sb.cekura_url, headers={"X-CEKURA-API-KEY": sb.api_key}, timeout=30)


def _finished(c: httpx.Client, rid: int, family: str = "v1") -> dict[str, Any]:
    for _ in range(400):
        detail = c.get(f"/test_framework/{family}/results/{rid}/").json()
        if detail["status"] in {"completed", "failed", "timeout", "cancelled"}:
            return detail
        time.sleep(0.05)
    raise AssertionError(f"result {rid} did not finish")


def test_responses_match_openapi(cekura_sandbox: Sandbox, spec: dict[str, Any]) -> None:
    with _client(cekura_sandbox) as c:
        submitted = c.post(
            V2,
            json={
                "scenarios": [{"scenario": 2001}, {"scenario": 2006}],
                "frequency": 4,
                "test_profile_ids": [301],
            },
        ).json()
        # the published enum of the submit response lists only four statuses; runs start as "pending"
        check(spec, response_schema(spec, V2, "post"), submitted)
        rid = submitted["id"]
        detail = _finished(c, rid)
        check(spec, ref("ResultDetailV2"), detail)
        for run in detail["runs"].values():
            check(spec, ref("Run"), run)
        ids = ",".join(detail["runs"])
        for family in ("v1", "v2"):
            check(spec, ref("ResultDetailV2"), c.get(f"/test_framework/{family}/results/{rid}/").json())
            check(
                spec,
                response_schema(spec, f"/test_framework/{family}/runs/bulk/", "get"),
                c.get(f"/test_framework/{family}/runs/bulk/", params={"run_ids": ids}).json(),
            )
            check(spec, ref("PaginatedResultList"), c.get(f"/test_framework/{family}/results/").json())
            check(
                spec,
                ref("PaginatedRunListList"),
                c.get(f"/test_framework/{family}/runs/", params={"result_id": rid}).json(),
            )
            missing = c.get(f"/test_framework/{family}/results/9999/")
            check(
                spec,
                response_schema(spec, f"/test_framework/{family}/results/{{id}}/", "get", "404"),
                missing.json(),
            )
        check(spec, ref("AIAgentV2"), c.get("/test_framework/v2/aiagents/101/").json())
        check(
            spec,
            ref("SchemaCreateShareableLinkTokenResponse"),
            c.post(f"/test_framework/v1/results/{rid}/create_shareable_link_token/").json(),
        )
        bad = c.post(V2, json={"scenarios": [], "frequency": 5})
        check(
            spec,
            {"type": "object", "additionalProperties": {"type": "array", "items": {"type": "string"}}},
            bad.json(),
        )


def test_the_v2_reads_are_the_spec_s_replacements_of_the_deprecated_v1_reads(spec: dict[str, Any]) -> None:
    for path in (
        "/test_framework/v1/results/",
        "/test_framework/v1/results/{id}/",
        "/test_framework/v1/runs/",
    ):
        assert spec["paths"][path]["get"]["deprecated"] is True
    assert not request_problems(spec, "GET", "/test_framework/v2/runs/bulk/", "run_ids=1,2")
    assert request_problems(spec, "GET", "/test_framework/v1/runs/bulk/", "run_ids=1") == [
        "GET /test_framework/v1/runs/bulk/: deprecated in the spec"
    ]
    metric = ref("CallLogListSerializerMetricsWithExplanation")
    shape = {"id": 1, "name": "Politeness", "explanation": [], "extra": {}, "enum": "", "value": ""}
    check(spec, metric, {**shape, "eval_type": "binary", "passed": False})
    check(spec, metric, {**shape, "type": "binary_qualitative", "score": 0})
    with pytest.raises(jsonschema.ValidationError):  # neither form: not a metric the contract knows
        check(spec, metric, shape)
    assert request_problems(spec, "GET", "/test_framework/v2/runs/bulk/", "ids=1") == [
        "GET /test_framework/v2/runs/bulk/: undeclared query parameter 'ids'",
        "GET /test_framework/v2/runs/bulk/: required query parameter 'run_ids' missing",
    ]


@pytest.mark.parametrize("metric_format", ["canonical", "legacy", "both"])
def test_binary_metrics_in_each_format_match_the_contract(metric_format: str, spec: dict[str, Any]) -> None:
    """Both binary forms Cekura documents validate; the sandbox writes the agent's configured one."""
    with Sandbox(speed=6000.0, metric_format=metric_format) as sb, _client(sb) as c:
        sub = c.post(V2, json={"scenarios": [{"scenario": 2002}, {"scenario": 2001}], "frequency": 4}).json()
        detail = _finished(c, sub["id"], "v2")
        runs = [r for r in detail["runs"].values() if r["status"] == "completed"]
        assert runs, "no run was evaluated"
        binary = [m for r in runs for m in r["evaluation"]["metrics"] if m["id"] in (901, 904)]
        assert binary
        for run in runs:
            check(spec, ref("Run"), run)
    for metric in binary:
        canonical = {"eval_type", "passed"} <= metric.keys()
        legacy = {"type", "score"} <= metric.keys()
        assert (canonical, legacy) == {
            "canonical": (True, False),
            "legacy": (False, True),
            "both": (True, True),
        }[metric_format]
        if legacy:
            assert metric["score"] in (0.0, 5.0)
            assert metric["type"].startswith("binary")
        if canonical:
            assert metric["eval_type"] == "binary"
            assert isinstance(metric["passed"], bool)


def test_default_catalogue_mixes_the_metric_formats_per_agent() -> None:
    formats = {a.id: a.metric_format for a in load_catalogue().agents.values()}
    assert formats == {101: "canonical", 102: "legacy"}
