"""The published Cekura contract as tests check it: the vendored OpenAPI subset, with its v2 read twins.

The subset (`fixtures/cekura-openapi-subset.json`, a copy of the project's shared one, so the tests run in any
clone) holds the v1 read endpoints, which the full spec marks deprecated. Their v2 replacements are documented
in the full spec with the same response schemas and the same parameters plus a few (read from Cekura's
`openapi.json`, operations `results-retrieve_3`, `results-list_3`, `runs-list`, `runs-bulk-retrieve_3`); they
are derived here from the v1 entries instead of copying more of the spec.

Where the contract's Decision lines, or Cekura's own documentation, deliberately differ from a published
schema, the schema is relaxed field by field, and each relaxation is listed in RELAXED with its reason.
"""

from __future__ import annotations

import copy
import json
import re
from functools import cache
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl

import jsonschema

SPEC_PATH = Path(__file__).resolve().parent / "fixtures" / "cekura-openapi-subset.json"

#: v2 path → (its deprecated v1 twin, query parameters the v2 operation adds).
V2_READS: dict[str, tuple[str, tuple[str, ...]]] = {
    "/test_framework/v2/results/{id}/": ("/test_framework/v1/results/{id}/", ()),
    "/test_framework/v2/results/": ("/test_framework/v1/results/", ("assistant_id",)),
    "/test_framework/v2/runs/": (
        "/test_framework/v1/runs/",
        ("scenario_name", "scenario_name__icontains", "scenario_name__in", "filters_v2", "ordering"),
    ),
    "/test_framework/v2/runs/bulk/": (
        "/test_framework/v1/runs/bulk/",
        ("agent_id", "result_id", "project_id"),
    ),
}

INT_OR_STRING = {"type": ["integer", "string"]}
#: schema -> field -> replacement (or "required" -> the required list), each justified.
RELAXED: dict[str, dict[str, Any]] = {
    # "Counters are integers in examples (the spec types them as strings)" (cekura-api.md).
    "ResultDetailV2": {
        **dict.fromkeys(
            ("total_runs_count", "completed_runs_count", "success_runs_count", "failed_runs_count"),
            INT_OR_STRING,
        ),
        "failed_infrastructure_runs": INT_OR_STRING,
        "is_cronjob": {"type": ["boolean", "string"]},
        # Its description: "The agent version (history record) this result ran against, or null."
        "agent_version": {"type": ["string", "null"]},
    },
    "Result": {
        **dict.fromkeys(
            ("total_runs_count", "completed_runs_count", "success_runs_count", "failed_runs_count"),
            INT_OR_STRING,
        ),
        "is_cronjob": {"type": ["boolean", "string"]},
        # "in list and submit responses it is a list".
        "runs": {"type": ["array", "object"]},
        # Its description: "… or null" (see ResultDetailV2).
        "agent_version": {"type": ["string", "null"]},
    },
    # Run object per the contract: expected_outcome is {score, explanation}, not a string.
    "Run": {
        "expected_outcome": {"type": "object"},
        # Its description: "The agent version (history record) this run's result ran against, or null."
        "agent_version": {"type": ["object", "null"]},
    },
    # A metric result. The schema describes only the legacy form; Cekura's webhook-format page and the v2
    # endpoints define binary metrics as `eval_type: "binary"` with a boolean `passed`, the legacy `type` /
    # `score` (5|0) kept for compatibility "and will be removed". So a metric carries either form.
    "CallLogListSerializerMetricsWithExplanation": {
        "eval_type": {"type": "string", "enum": ["binary"]},
        "passed": {"type": "boolean"},
        "required": ["id", "name", "explanation", "extra"],
        "anyOf": [{"required": ["type", "score"]}, {"required": ["eval_type", "passed"]}],
    },
}


def _nullable_to_type(node: Any) -> Any:
    """OpenAPI 3.0's `nullable: true` in JSON Schema terms (a type list with "null")."""
    if isinstance(node, list):
        return [_nullable_to_type(n) for n in node]
    if not isinstance(node, dict):
        return node
    out = {k: _nullable_to_type(v) for k, v in node.items()}
    if out.pop("nullable", False) and isinstance(out.get("type"), str):
        out["type"] = [out["type"], "null"]
    # `oneOf: [{}, {type: null}]` (any JSON or null) rejects null, which matches both branches: the
    # generator meant `anyOf`.
    if out.get("oneOf") == [{}, {"type": "null"}]:
        out["anyOf"] = out.pop("oneOf")
    return out


@cache
def _load() -> str:
    return SPEC_PATH.read_text()


def load_spec() -> dict[str, Any]:
    """The vendored subset, nullable-normalised, relaxed as RELAXED says, with the v2 read twins added."""
    data = _nullable_to_type(json.loads(_load()))
    schemas = data["components"]["schemas"]
    for name, fields in RELAXED.items():
        schema = schemas[name] = copy.deepcopy(schemas[name])
        fields = dict(fields)
        for key in ("required", "anyOf"):
            if key in fields:
                schema[key] = fields.pop(key)
        schema["properties"].update(fields)
    for v2, (v1, extra) in V2_READS.items():
        operation = copy.deepcopy(data["paths"][v1]["get"])
        operation.pop("deprecated", None)
        operation["parameters"] = operation.get("parameters", []) + [
            {"in": "query", "name": name, "schema": {"type": "string"}} for name in extra
        ]
        data["paths"][v2] = {"get": operation}
    return data


def check(spec: dict[str, Any], schema: dict[str, Any], instance: Any) -> None:
    wrapped = {**schema, "components": spec["components"]}
    jsonschema.Draft202012Validator(wrapped).validate(instance)


def ref(name: str) -> dict[str, Any]:
    return {"$ref": f"#/components/schemas/{name}"}


def response_schema(spec: dict[str, Any], path: str, method: str, code: str = "200") -> dict[str, Any]:
    return spec["paths"][path][method]["responses"][code]["content"]["application/json"]["schema"]


def operation_of(spec: dict[str, Any], method: str, path: str) -> tuple[str, dict[str, Any]] | None:
    """(template, operation) of the documented endpoint a concrete request path reaches, or None."""
    for template, item in spec["paths"].items():
        pattern = "^" + re.sub(r"\\\{[^}]+\\\}", r"[^/]+", re.escape(template)) + "$"
        if re.match(pattern, path) and method.lower() in item:
            return template, item[method.lower()]
    return None


def request_problems(spec: dict[str, Any], method: str, path: str, query: str) -> list[str]:
    """What is wrong with one request by the spec: an undocumented or deprecated endpoint, a query
    parameter the operation does not declare, a required one missing."""
    found = operation_of(spec, method, path)
    if found is None:
        return [f"{method} {path}: not a documented endpoint"]
    template, operation = found
    problems = []
    if operation.get("deprecated"):
        problems.append(f"{method} {template}: deprecated in the spec")
    params = {p["name"]: p for p in operation.get("parameters", []) if p.get("in") == "query"}
    sent = {name for name, _ in parse_qsl(query, keep_blank_values=True)}
    problems += [
        f"{method} {template}: undeclared query parameter {name!r}" for name in sorted(sent - set(params))
    ]
    problems += [
        f"{method} {template}: required query parameter {name!r} missing"
        for name, p in params.items()
        if p.get("required") and name not in sent
    ]
    return problems
