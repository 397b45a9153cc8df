"""docker-compose.yaml: valid against the Compose Specification schema, and a stack that can actually work
(every component, the triggerer, consistent depends_on, the connections and settings every Airflow container
needs, the sandbox reachable from the other containers, the report on a volume), and one that keeps working:
one Fernet key for all (issue 21.1), health checks that see a hung component, the warehouse database made on
every start, logs on a volume, the report served, the minimum Compose version stated (issue 21.2)."""

from __future__ import annotations

import base64
import json
import os
import re
import shutil
import subprocess
import sys
import uuid
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import yaml

from tests.support.warehouse import PG_DSN, require_postgres

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


# --- issue 21.1: one Fernet key for every Airflow container ---------------------------------------------------

KEY_VAR = "AIRFLOW__CORE__FERNET_KEY"
#: Compose's "required" interpolation: `${NAME:?message}` stops `docker compose` when NAME is unset or empty.
REQUIRED = re.compile(r"\$\{(?P<name>[A-Za-z_][A-Za-z0-9_]*):\?(?P<message>[^}]*)\}")


def interpolate(value: str, env: dict[str, str]) -> str:
    """The subset of Compose interpolation this file uses: `$$` (a literal `$`) and `${NAME:?message}`."""

    def required(m: re.Match[str]) -> str:
        if not env.get(m["name"]):
            raise ValueError(f"required variable {m['name']} is missing a value: {m['message']}")
        return env[m["name"]]

    return REQUIRED.sub(required, value.replace("$$", "\x00")).replace("\x00", "$")


def test_every_airflow_container_shares_one_fernet_key_that_is_never_committed(
    compose: dict[str, Any],
) -> None:
    """Each container generating its own key broke every deferred wait once a connection was saved in the UI
    (the triggerer could not decrypt it): issue 21.1."""
    services = compose["services"]
    keys = {name: services[name]["environment"].get(KEY_VAR) for name in AIRFLOW_SERVICES}
    assert all(keys.values()), f"{KEY_VAR} missing in {sorted(n for n, k in keys.items() if not k)}"
    assert len(set(keys.values())) == 1, keys
    (expression,) = set(keys.values())
    m = REQUIRED.fullmatch(expression)
    assert m, f"{expression!r}: expected ${{{KEY_VAR}:?…}} (from the environment/.env, failing when unset)"
    assert m["name"] == KEY_VAR, expression
    # A committed real key (44 url-safe base64 characters) would make every checkout share a public secret.
    assert not re.search(r"[A-Za-z0-9_-]{43}=", (ROOT / "docker-compose.yaml").read_text())


def test_an_unset_fernet_key_stops_compose_with_a_message_and_a_set_one_reaches_every_container(
    compose: dict[str, Any],
) -> None:
    expression = compose["services"]["airflow-triggerer"]["environment"][KEY_VAR]
    with pytest.raises(ValueError, match=rf"{KEY_VAR} is missing a value: .*\.env.*docs/docker\.md"):
        interpolate(expression, {})
    with pytest.raises(ValueError):
        interpolate(expression, {KEY_VAR: ""})
    key = base64.urlsafe_b64encode(os.urandom(32)).decode()
    seen = {
        interpolate(compose["services"][n]["environment"][KEY_VAR], {KEY_VAR: key}) for n in AIRFLOW_SERVICES
    }
    assert seen == {key}


def test_the_documented_key_generator_makes_a_valid_fernet_key() -> None:
    """docs/docker.md's one-liner needs only python3; its output is what cryptography's Fernet accepts."""
    from cryptography.fernet import Fernet

    doc = (ROOT / "docs" / "docker.md").read_text()
    (command,) = re.findall(r"python3 -c '([^']+)'", doc)
    out = subprocess.run([sys.executable, "-c", command], capture_output=True, text=True, check=True).stdout
    token = Fernet(out.strip().encode()).encrypt(b"secret")
    assert Fernet(out.strip().encode()).decrypt(token) == b"secret"


# --- issue 21.2: health checks, the sandbox waited for, logs, the warehouse database, the report ---------------

JOB_TYPES = {"airflow-triggerer": "TriggererJob", "airflow-dag-processor": "DagProcessorJob"}


def _test_command(service: dict[str, Any]) -> str:
    test = service["healthcheck"]["test"]
    return test if isinstance(test, str) else " ".join(test[1:])


def test_every_service_that_others_wait_for_has_a_healthcheck(compose: dict[str, Any]) -> None:
    services = compose["services"]
    for name, svc in services.items():
        for dep, how in svc.get("depends_on", {}).items():
            condition = how["condition"]
            assert condition in {"service_healthy", "service_completed_successfully"}, (
                f"{name} waits for {dep} only to be started ({condition}): a started service may not answer yet"
            )
            if condition == "service_healthy":
                assert "healthcheck" in services[dep], (
                    f"{name} waits for {dep} to be healthy, it has no check"
                )


def test_the_long_running_components_have_healthchecks_that_see_a_hung_process(
    compose: dict[str, Any],
) -> None:
    services = compose["services"]
    for name in (
        "sandbox",
        "airflow-apiserver",
        "airflow-scheduler",
        "airflow-triggerer",
        "airflow-dag-processor",
    ):
        assert "healthcheck" in services[name], name
    for name, job_type in JOB_TYPES.items():
        command = _test_command(services[name])
        # This container's own job (two triggerers must not vouch for each other); `$$` is compose's literal $.
        assert f"airflow jobs check --job-type {job_type} --hostname" in command, command
        assert '"$${HOSTNAME}"' in command, command
    scheduler = services["airflow-scheduler"]
    assert "http://localhost:8974/health" in _test_command(scheduler)
    assert scheduler["environment"]["AIRFLOW__SCHEDULER__ENABLE_HEALTH_CHECK"] == "true"


def test_airflow_waits_for_a_healthy_sandbox(compose: dict[str, Any]) -> None:
    services = compose["services"]
    for name in AIRFLOW_SERVICES:
        assert services[name]["depends_on"]["sandbox"]["condition"] == "service_healthy", name


def _sandbox_check(
    compose: dict[str, Any], cekura_port: int, livekit_port: int
) -> subprocess.CompletedProcess[str]:
    command = _test_command(compose["services"]["sandbox"])
    command = command.replace(":8700", f":{cekura_port}").replace(":7880", f":{livekit_port}")
    return subprocess.run(["sh", "-c", command], capture_output=True, text=True, timeout=30, check=False)


def test_the_sandbox_healthcheck_passes_on_a_running_sandbox_and_fails_on_a_stopped_one(
    compose: dict[str, Any],
) -> None:
    """The compose check, run as is against the real stand-ins (ports swapped for free ones)."""
    from cekura_sandbox.server import Sandbox

    if shutil.which("curl") is None:
        pytest.skip("curl is not installed here (the Airflow image has it)")
    with Sandbox() as sandbox:
        cekura_port, livekit_port = (
            int(u.rsplit(":", 1)[1]) for u in (sandbox.cekura_url, sandbox.livekit_url)
        )
        ok = _sandbox_check(compose, cekura_port, livekit_port)
        assert ok.returncode == 0, ok.stdout + ok.stderr
    down = _sandbox_check(compose, cekura_port, livekit_port)
    assert down.returncode != 0


def test_logs_are_on_a_volume_shared_by_every_airflow_container(compose: dict[str, Any]) -> None:
    services = compose["services"]
    for name in AIRFLOW_SERVICES:
        mounts = [m.split(":") for m in services[name]["volumes"]]
        assert any(src in compose["volumes"] and dst == "/opt/airflow/logs" for src, dst, *_ in mounts), name


def _warehouse_db(compose: dict[str, Any]) -> str:
    env = compose["services"]["airflow-scheduler"]["environment"]
    url = env[f"AIRFLOW_CONN_{env['CEKURA_WAREHOUSE_CONN_ID'].upper()}"]
    return url.rsplit("/", 1)[1]


def test_the_warehouse_database_is_made_by_a_step_that_runs_on_every_start(compose: dict[str, Any]) -> None:
    """Not only by the postgres image's first-boot scripts: those never run again on an existing volume."""
    services = compose["services"]
    init = services["warehouse-init"]
    assert init["environment"]["WAREHOUSE_DB"] == _warehouse_db(compose)
    assert init["depends_on"]["postgres"]["condition"] == "service_healthy"
    for name in AIRFLOW_SERVICES:
        assert services[name]["depends_on"]["warehouse-init"]["condition"] == "service_completed_successfully"
    assert "configs" not in services["postgres"], "one way to make the warehouse: the warehouse-init step"


def test_the_warehouse_init_step_is_idempotent_on_a_real_postgres(compose: dict[str, Any]) -> None:
    """The step's own shell command, run twice against PostgreSQL: creates the database once, then is a no-op."""
    require_postgres()
    if shutil.which("psql") is None:
        pytest.skip("psql is not installed here (the postgres image has it)")
    import psycopg

    init = compose["services"]["warehouse-init"]
    shell, flag, script = init["command"]
    database = f"cekura_wh_{uuid.uuid4().hex[:10]}"
    env = {
        **os.environ,
        "PGHOST": "127.0.0.1",
        "PGUSER": "postgres",
        "PGDATABASE": "test",
        "WAREHOUSE_DB": database,
    }
    try:
        for _ in range(2):
            proc = subprocess.run(
                [shell, flag, interpolate(script, {})], env=env, capture_output=True, text=True
            )
            assert proc.returncode == 0, proc.stdout + proc.stderr
        with psycopg.connect(PG_DSN) as conn:
            found = conn.execute(
                "SELECT count(*) FROM pg_database WHERE datname = %s", (database,)
            ).fetchone()
        assert found == (1,)
    finally:
        with psycopg.connect(PG_DSN, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{database}"')


def test_the_report_is_served_to_a_person(compose: dict[str, Any]) -> None:
    services = compose["services"]
    report_dir = str(Path(services["airflow-scheduler"]["environment"]["CEKURA_REPORT_DESTINATION"]).parent)
    server = services["report-server"]
    assert f"{report_dir}:ro" in [m.split(":", 1)[1] for m in server["volumes"] if m.startswith("reports:")]
    entry = server["entrypoint"]
    assert entry[:3] == ["python", "-m", "http.server"]
    assert entry[entry.index("--directory") + 1] == report_dir
    port = entry[3]
    assert any(str(p).endswith(f":{port}") for p in server["ports"]), server["ports"]
    assert "healthcheck" in server


# --- the minimum Compose version, kept true -------------------------------------------------------------------

#: Compose features that raise the minimum version (Compose release notes), each with a finder.
VERSION_FEATURES: list[tuple[str, tuple[int, int, int], Any]] = [
    (
        "configs.*.content",
        (2, 23, 1),
        lambda c: any("content" in v for v in (c.get("configs") or {}).values()),
    ),
    ("include", (2, 20, 0), lambda c: "include" in c),
    (
        "healthcheck.start_interval",
        (2, 20, 2),
        lambda c: any("start_interval" in s.get("healthcheck", {}) for s in c["services"].values()),
    ),
    (
        "depends_on.*.required",
        (2, 20, 0),
        lambda c: any(
            "required" in d for s in c["services"].values() for d in s.get("depends_on", {}).values()
        ),
    ),
    (
        "depends_on.*.restart",
        (2, 17, 0),
        lambda c: any(
            "restart" in d for s in c["services"].values() for d in s.get("depends_on", {}).values()
        ),
    ),
    ("develop", (2, 22, 0), lambda c: any("develop" in s for s in c["services"].values())),
]
#: depends_on conditions (service_completed_successfully), `${VAR:?msg}`, healthchecks: any Compose v2.
FLOOR = (2, 0, 0)


def test_the_docs_state_the_minimum_compose_version_the_file_needs(compose: dict[str, Any]) -> None:
    used = [(feature, version) for feature, version, found in VERSION_FEATURES if found(compose)]
    needed = max([FLOOR, *(v for _, v in used)])
    text = "v" + ".".join(map(str, needed)) + "+"
    assert f"Docker Compose {text}" in (ROOT / "docs" / "docker.md").read_text(), (needed, used)
    assert f"Docker Compose {text}" in (ROOT / "docker-compose.yaml").read_text()


def test_the_version_check_sees_configs_content(compose: dict[str, Any]) -> None:
    """Guard against a vacuous check: the old file's `configs.content` needed v2.23.1."""
    old = {**compose, "configs": {"warehouse-db": {"content": "CREATE DATABASE warehouse;"}}}
    assert [f for f, _, found in VERSION_FEATURES if found(old)] == ["configs.*.content"]
