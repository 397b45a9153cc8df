"""deploy/helm: values for the official Apache Airflow Helm chart (issue 21.3), checked two ways.

1. Against the chart's own `values.schema.json` (what `helm install` enforces; the chart rejects unknown keys), for
   values-cekura.yaml alone and with the values-gitsync.yaml overlay merged as Helm merges.
2. For what this project needs there, whatever the schema allows: two triggerers, connections from Kubernetes
   Secrets in every Airflow container, one pre-created Fernet key, the report and the logs in object storage,
   suites reaching the dag-processor and the workers, and docs/kubernetes.md naming the settings it relies on.

The schema is a published spec, not this project's code, so it is not committed here: the test reads it from
`CEKURA_HELM_VALUES_SCHEMA`, `tests/deploy/fixtures/airflow-chart-values.schema.json` or the shared folder next to
the repository (`../shared/airflow-chart-values.schema.json`, like the Cekura OpenAPI subset), and skips with
where to get it when none is there (tests/deploy/fixtures/README.md).
"""

from __future__ import annotations

import copy
import json
import os
import re
from datetime import timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import jsonschema
import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
HELM = ROOT / "deploy" / "helm"
BASE = HELM / "values-cekura.yaml"
GITSYNC = HELM / "values-gitsync.yaml"
KUBERNETES_MD = ROOT / "docs" / "kubernetes.md"
SCHEMA_NAME = "airflow-chart-values.schema.json"
#: Every connection the bundled DAGs use (the compose file defines the same three).
CONNECTIONS = ("AIRFLOW_CONN_CEKURA_DEFAULT", "AIRFLOW_CONN_LIVEKIT_DEFAULT", "AIRFLOW_CONN_CEKURA_WAREHOUSE")
OBJECT_STORES = {"s3", "gs", "gcs", "abfs", "az", "wasb"}


def _schema_path() -> Path | None:
    candidates = [
        os.environ.get("CEKURA_HELM_VALUES_SCHEMA"),
        Path(__file__).with_name("fixtures") / SCHEMA_NAME,
        ROOT.parent / "shared" / SCHEMA_NAME,
    ]
    return next((Path(c) for c in candidates if c and Path(c).is_file()), None)


@pytest.fixture(scope="module")
def validator() -> jsonschema.Draft7Validator:
    path = _schema_path()
    if path is None:
        pytest.skip(
            f"the Airflow chart's values.schema.json is not here: put apache/airflow's chart/values.schema.json "
            f"(chart 1.22+) at ../shared/{SCHEMA_NAME} or set CEKURA_HELM_VALUES_SCHEMA to its path"
        )
    schema = json.loads(path.read_text())
    jsonschema.Draft7Validator.check_schema(schema)
    return jsonschema.Draft7Validator(schema)


def _load(path: Path) -> dict[str, Any]:
    data = yaml.safe_load(path.read_text())
    assert isinstance(data, dict), path
    return data


def helm_merge(base: Any, overlay: Any) -> Any:
    """`helm -f a -f b`: maps merge key by key, anything else (lists included) is replaced by the later file."""
    if isinstance(base, dict) and isinstance(overlay, dict):
        merged = dict(base)
        for key, value in overlay.items():
            merged[key] = helm_merge(base[key], value) if key in base else copy.deepcopy(value)
        return merged
    return copy.deepcopy(overlay)


@pytest.fixture(scope="module")
def base() -> dict[str, Any]:
    return _load(BASE)


@pytest.fixture(scope="module")
def gitsync(base: dict[str, Any]) -> dict[str, Any]:
    return helm_merge(base, _load(GITSYNC))


def _errors(validator: jsonschema.Draft7Validator, values: dict[str, Any]) -> list[str]:
    found = sorted(validator.iter_errors(values), key=lambda e: list(e.path))
    return [f"{list(e.path)}: {e.message[:300]}" for e in found]


# --- 1. the chart's schema ------------------------------------------------------------------------------------


def test_values_validate_against_the_chart_schema(
    validator: jsonschema.Draft7Validator, base: dict[str, Any]
) -> None:
    errors = _errors(validator, base)
    assert not errors, "\n".join(errors)


def test_the_gitsync_overlay_validates_once_merged(
    validator: jsonschema.Draft7Validator, gitsync: dict[str, Any]
) -> None:
    errors = _errors(validator, gitsync)
    assert not errors, "\n".join(errors)


def test_the_schema_catches_a_broken_values_file(
    validator: jsonschema.Draft7Validator, base: dict[str, Any]
) -> None:
    """Guard against a vacuous schema: a misspelt key and a wrongly typed value must be rejected."""
    typo = helm_merge(base, {"triggerer": {"replica": 2}})
    assert any("replica" in e for e in _errors(validator, typo))
    wrong = helm_merge(base, {"secret": [{"envName": "AIRFLOW_CONN_X", "secret": "s"}]})
    assert _errors(validator, wrong)


# --- 2. what this project needs -------------------------------------------------------------------------------


def _env(values: dict[str, Any]) -> dict[str, str]:
    return {item["name"]: item["value"] for item in values.get("env", [])}


def test_two_triggerers_on_different_nodes(base: dict[str, Any]) -> None:
    triggerer = base["triggerer"]
    assert triggerer["replicas"] >= 2
    assert triggerer["podDisruptionBudget"]["enabled"] is True
    (spread,) = triggerer["topologySpreadConstraints"]
    assert spread["topologyKey"] == "kubernetes.io/hostname"
    assert spread["labelSelector"]["matchLabels"] == {"component": "triggerer"}


def test_connections_come_from_kubernetes_secrets_into_every_airflow_container(base: dict[str, Any]) -> None:
    """Top-level `secret`/`env` are rendered into every Airflow container by the chart (its
    `custom_airflow_environment` helper: scheduler, workers, triggerer, dag-processor, api-server, jobs)."""
    from_secrets = {item["envName"]: item for item in base["secret"]}
    for name in CONNECTIONS:
        assert name in from_secrets, name
        assert from_secrets[name]["secretName"], name
    for name, value in _env(base).items():
        if name.startswith("AIRFLOW_CONN_"):  # a literal connection must carry no credential
            assert name not in CONNECTIONS, name
            assert not re.search(r"password|login|secret|://[^/]*@", value, re.I), name
    for component in ("scheduler", "triggerer", "workers", "dagProcessor", "apiServer"):
        assert "env" not in base.get(component, {}), f"{component}.env would reach only that component"


def test_one_fernet_key_and_the_other_secrets_are_pre_created_secrets(base: dict[str, Any]) -> None:
    for key in ("fernetKeySecretName", "jwtSecretName", "apiSecretKeySecretName"):
        assert base[key], key
    assert base["data"]["metadataSecretName"]
    assert "fernetKey" not in base


def test_the_report_goes_to_object_storage(base: dict[str, Any]) -> None:
    from cekura_livekit.report.output import is_uri

    destination = _env(base)["CEKURA_REPORT_DESTINATION"]
    assert urlsplit(destination).scheme in OBJECT_STORES, destination
    assert is_uri(destination), "write_report must route it through ObjectStoragePath, not the local disk"


def test_logs_go_to_object_storage_with_a_defined_connection(base: dict[str, Any]) -> None:
    logging = base["config"]["logging"]
    assert logging["remote_logging"] == "True"
    assert urlsplit(logging["remote_base_log_folder"]).scheme in OBJECT_STORES
    conn = f"AIRFLOW_CONN_{logging['remote_log_conn_id'].upper()}"
    assert conn in _env(base) or conn in {item["envName"] for item in base["secret"]}, conn


def test_suites_are_baked_into_the_image_the_values_run(base: dict[str, Any]) -> None:
    """No git-sync and no DAG volume: the suites must be where the Dockerfile puts them."""
    assert base["dags"]["gitSync"]["enabled"] is False
    assert base["dags"]["persistence"]["enabled"] is False
    dockerfile = (ROOT / "Dockerfile").read_text()
    suites = _env(base)["CEKURA_SUITES_DIR"]
    assert f"CEKURA_SUITES_DIR={suites}" in dockerfile
    assert "COPY --chown=airflow:root include /opt/airflow/include" in dockerfile
    assert suites.startswith("/opt/airflow/include/")


def test_gitsync_ships_the_suites_to_the_dag_processor_and_the_workers(
    base: dict[str, Any], gitsync: dict[str, Any]
) -> None:
    sync = gitsync["dags"]["gitSync"]
    assert sync["enabled"] is True
    assert gitsync["dagProcessor"]["enabled"] is True  # git-sync runs beside it (and beside every worker)
    # The chart's DAG folder is <airflowHome>/dags/repo/<subPath>; this repository's layout must match.
    assert (ROOT / sync["subPath"] / "cekura_regression_suites.py").is_file(), sync["subPath"]
    suites = _env(gitsync)["CEKURA_SUITES_DIR"]
    assert suites.startswith("/opt/airflow/dags/repo/")
    assert any((ROOT / suites.removeprefix("/opt/airflow/dags/repo/")).glob("*.yaml"))
    # Helm replaces lists: the overlay repeats `env`, and only the suites folder may differ.
    changed = {
        k for k in _env(base).keys() | _env(gitsync).keys() if _env(base).get(k) != _env(gitsync).get(k)
    }
    assert changed == {"CEKURA_SUITES_DIR"}, changed


# --- docs/kubernetes.md ---------------------------------------------------------------------------------------


def test_the_docs_name_the_settings_that_decide_a_lost_workers_recovery(base: dict[str, Any]) -> None:
    text = KUBERNETES_MD.read_text()
    for setting in (
        "[scheduler] task_instance_heartbeat_timeout",
        "[scheduler] task_instance_heartbeat_timeout_detection_interval",
        "[triggerer] triggerer_health_check_threshold",
        "[workers] min_heartbeat_interval",
        "AIRFLOW__SCHEDULER__TASK_INSTANCE_HEARTBEAT_TIMEOUT",
    ):
        assert setting in text, setting
    assert "451–457 s" in text
    assert "`retries: 0`" in text
    # The values file states Airflow's defaults, so the figure in the docs is for the file as shipped.
    assert base["config"]["scheduler"]["task_instance_heartbeat_timeout"] == 300
    assert base["config"]["scheduler"]["task_instance_heartbeat_timeout_detection_interval"] == 10


def test_the_retry_delay_the_docs_use_is_the_one_the_suites_get() -> None:
    """docs/kubernetes.md's arithmetic uses the suites' retry delay: keep it equal to the generated DAGs'."""
    from cekura_livekit.regression_dag import build_regression_dag
    from cekura_livekit.suites import load_suite_file

    dag = build_regression_dag(load_suite_file(ROOT / "include" / "suites" / "acme_support_nightly.yaml"))
    run = dag.get_task("run_scenarios")
    assert run.retry_delay == timedelta(minutes=2)
    assert run.retry_exponential_backoff
    assert "retry delay of 2 minutes" in KUBERNETES_MD.read_text()
