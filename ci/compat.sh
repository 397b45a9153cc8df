#!/usr/bin/env bash
# Compatibility job: a reduced test set on the OLDEST supported pair (docs/compatibility.md), in its own venv
# (.venv-compat, built once by `make compat` and reused while the declarations do not change). The main suite
# runs on the newest pair in .venv; this one proves the package still imports and loads on what managed
# Airflow services ship. No PostgreSQL-only or e2e tests: those are engine/deployment checks the main suite makes.
set -euo pipefail
cd "$(dirname "$0")/.."
VENV="${COMPAT_VENV:-.venv-compat}"
export PYTHONPATH="$PWD/plugins:$PWD/sandbox/src:$PWD"
export AIRFLOW_HOME="${AIRFLOW_HOME_COMPAT:-$PWD/.airflow-compat}"
"$VENV/bin/python" -c 'import airflow, pandas; print(f"compat job: Airflow {airflow.__version__}, pandas {pandas.__version__}")'
"$VENV/bin/python" -m pytest -p no:cacheprovider -q -rfEs -W ignore::DeprecationWarning \
  tests/batch tests/results tests/warehouse -k "not postgres and not mysql and not mariadb and not duckdb and not snowflake" "$@"
