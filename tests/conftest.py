"""Test harness: an isolated Airflow home, the shared fixtures, and the PostgreSQL rule for CI.

Environment is set before anything imports Airflow, so every test sees the same throw-away home.
"""

from __future__ import annotations

import importlib
import json
import os
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
_HOME = ROOT / ".airflow-test"
os.environ["AIRFLOW_HOME"] = str(_HOME)
os.environ["AIRFLOW__CORE__LOAD_EXAMPLES"] = "False"
os.environ["AIRFLOW__CORE__DAGS_FOLDER"] = str(ROOT / "dags")
os.environ["AIRFLOW__CORE__PLUGINS_FOLDER"] = str(ROOT / "plugins")
# dag.test() only runs DAGs found in a bundle: the project's dags/ plus the test-only DAG files.
os.environ["AIRFLOW__DAG_PROCESSOR__DAG_BUNDLE_CONFIG_LIST"] = json.dumps(
    [
        {
            "name": name,
            "classpath": "airflow.dag_processing.bundles.local.LocalDagBundle",
            "kwargs": {"path": str(path)},
        }
        for name, path in (("dags-folder", ROOT / "dags"), ("test-dags", ROOT / "tests" / "dag_files"))
    ]
)
os.environ["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"] = f"sqlite:///{_HOME / 'airflow.db'}"
os.environ.setdefault("AIRFLOW__LOGGING__LOGGING_LEVEL", "INFO")
# Tests must never pick up a developer's real credentials.
for _var in list(os.environ):
    if _var.startswith("AIRFLOW_CONN_") or _var in {"LIVEKIT_TOKEN", "LIVEKIT_API_KEY", "LIVEKIT_API_SECRET"}:
        del os.environ[_var]
_HOME.mkdir(exist_ok=True)

# The support modules that define fixtures are pytest plugins (the sandbox's come from its own pytest11 plugin).
pytest_plugins = ["tests.support.airflow_db", "tests.support.warehouse"]

ARTIFACTS = ROOT / "artifacts"


def in_ci() -> bool:
    return os.environ.get("CI", "").lower() in {"1", "true", "yes"}


def import_optional(name: str) -> object | None:
    try:
        return importlib.import_module(name)
    except ImportError:
        return None
