#!/usr/bin/env bash
# Compatibility job: a reduced test set on one supported (Airflow, pandas) pair (docs/compatibility.md), in that
# pair's venv (COMPAT_VENV, built by `make compat-3.1` / `make compat-3.2` and reused while the declarations do not
# change). The main suite runs on the newest pair in .venv; this one proves the package imports, builds its frames
# and loads them on what managed Airflow services ship. PostgreSQL only where the pandas version changes the bytes
# sent (the binary COPY encoder, warehouse/pgcopy.py, and the load through it): the other PostgreSQL, the other
# engines and the e2e tests are engine/deployment checks the main suite makes.
set -euo pipefail
cd "$(dirname "$0")/.."
VENV="${COMPAT_VENV:-.venv-compat-3.1}"
export PYTHONPATH="$PWD/plugins:$PWD/sandbox/src:$PWD"
# One Airflow home per venv: an airflow.cfg written by one Airflow version is not read by another.
export AIRFLOW_HOME="${AIRFLOW_HOME_COMPAT:-$PWD/.airflow-compat-$(basename "$VENV")}"
"$VENV/bin/python" -c 'import airflow, pandas; print(f"compat job: Airflow {airflow.__version__}, pandas {pandas.__version__}")'
"$VENV/bin/python" -m pytest -p no:cacheprovider -q -rfEs -W ignore::DeprecationWarning \
  tests/test_compat.py tests/batch tests/results tests/warehouse \
  -k "not mysql and not mariadb and not duckdb and not snowflake and (not postgres or test_pgcopy or test_writer)" "$@"
