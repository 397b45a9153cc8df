"""docker-compose.yaml: valid against the Compose Specification schema, and a stack that can actually work
(every component, the triggerer, consistent depends_on, the connections and settings every Airflow container
needs, the sandbox reachable from the other containers, the report on a volume)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
SCHEMA = Path(__file__).with_name("fixtures") / "compose-spec.json"
AIRFLOW_SERVICES = {
    "airflow-init": "db",
    "airflow-apiserver": "api-server",
    "airflow-scheduler": "scheduler",
    "airflow-dag-processor": "dag-processor",
    "airflow-triggerer": "triggerer",
}


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    return yaml.safe_load((ROOT / "docker-compose.yaml").read_text())


def test_validates_against_the_compose_specification(compose: dict[str, Any]) -> None:
    schema = json.loads(SCHEMA.read_text())
    jsonschema.Draft7Validator.check_schema(schema)
    errors = sorted(jsonschema.Draft7Validator(schema).iter_errors(compose), key=lambda e: list(e.path))
    assert not errors, "\n".join(f"{list(e.path)}: {e.message}" for e in errors)


def test_the_schema_catches_a_broken_file(compose: dict[str, Any]) -> None:
    """Guard against a vacuous schema: a misspelt service key must be rejected."""
    broken = json.loads(json.dumps(compose))
    broken["services"]["airflow-scheduler"]["comand"] = ["scheduler"]
    assert list(jsonschema.Draft7Validator(json.loads(SCHEMA.read_text())).iter_errors(broken))


def test_every_component_is_there(compose: dict[str, Any]) -> None:
    services = compose["services"]
    for name, command in AIRFLOW_SERVICES.items():
        assert name in services, name
        assert services[name]["command"][0] == command, name
    assert {"postgres", "sandbox"} <= set(services)


def test_depends_on_names_existing_services_and_waits_for_the_migration(compose: dict[str, Any]) -> None:
    services = compose["services"]
    for name, svc in services.items():
        for dep in svc.get("depends_on", {}):
            assert dep in services, f"{name} depends on unknown service {dep}"
    for name in set(AIRFLOW_SERVICES) - {"airflow-init"}:
        deps = services[name]["depends_on"]
        assert deps["airflow-init"]["condition"] == "service_completed_successfully", name
        assert deps["postgres"]["condition"] == "service_healthy", name
        assert "healthcheck" in services["postgres"]


def test_airflow_containers_share_settings_and_connections(compose: dict[str, Any]) -> None:
    services = compose["services"]
    envs = [services[name]["environment"] for name in AIRFLOW_SERVICES]
    assert all(env == envs[0] for env in envs), "all Airflow components need the same configuration"
    env = envs[0]
    for key in (
        "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN",
        "AIRFLOW__CORE__EXECUTION_API_SERVER_URL",
        "AIRFLOW__API_AUTH__JWT_SECRET",
        "AIRFLOW_CONN_CEKURA_DEFAULT",
        "AIRFLOW_CONN_LIVEKIT_DEFAULT",
        "CEKURA_REPORT_DESTINATION",
    ):
        assert env.get(key), key
    # The warehouse connection the DAGs use exists under the id they read.
    warehouse_id = env["CEKURA_WAREHOUSE_CONN_ID"]
    assert env[f"AIRFLOW_CONN_{warehouse_id.upper()}"].startswith("postgres://")
    # Hosts in the URLs are compose services; the execution API is the api-server.
    assert "@postgres:" in env["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"]
    assert env["AIRFLOW__CORE__EXECUTION_API_SERVER_URL"].startswith("http://airflow-apiserver:8080/")


def test_sandbox_is_reachable_with_the_urls_the_connections_use(compose: dict[str, Any]) -> None:
    services = compose["services"]
    sandbox = services["sandbox"]
    args = sandbox["command"]
    assert args[args.index("--host") + 1] == "0.0.0.0"
    cekura_port, livekit_port = args[args.index("--port") + 1], args[args.index("--livekit-port") + 1]
    assert {cekura_port, livekit_port} <= set(sandbox["expose"])
    env = services["airflow-scheduler"]["environment"]
    cekura = json.loads(env["AIRFLOW_CONN_CEKURA_DEFAULT"])
    livekit = json.loads(env["AIRFLOW_CONN_LIVEKIT_DEFAULT"])
    assert (cekura["conn_type"], cekura["host"]) == ("cekura", f"http://sandbox:{cekura_port}")
    assert (livekit["conn_type"], livekit["host"]) == ("livekit", f"http://sandbox:{livekit_port}")
    assert sandbox["build"]["target"] == "sandbox"
    assert all(services[name]["build"]["target"] == "production" for name in AIRFLOW_SERVICES)


def test_report_lands_on_a_persistent_volume(compose: dict[str, Any]) -> None:
    services = compose["services"]
    dest = str(Path(services["airflow-scheduler"]["environment"]["CEKURA_REPORT_DESTINATION"]).parent)
    for name in AIRFLOW_SERVICES:
        mounts = services[name]["volumes"]
        assert any(m.split(":")[0] in compose["volumes"] and m.split(":")[1] == dest for m in mounts), name
