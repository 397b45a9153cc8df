"""Airflow: one regression DAG per suite file in include/suites/*.yaml (`cekura_regression_<suite>`).

Each DAG submits the suite's scenarios to Cekura, waits without holding a worker (deferrable), loads every
run into the warehouse (`CEKURA_WAREHOUSE_CONN_ID`, default cekura_warehouse) and fails when the suite's
thresholds are not met. A malformed suite file takes down only its own DAG: the good suites keep loading,
and the broken file becomes a placeholder DAG (its failing task and description carry the message naming
the file, the key and the fix) plus a parse warning recorded against the suite file itself.
Set CEKURA_SUITES_DIR to read suites from elsewhere.
"""

from __future__ import annotations

import os
from pathlib import Path

from cekura_livekit.regression_dag import build_broken_suite_dag, build_regression_dag
from cekura_livekit.suites import load_suites_by_file

SUITES_DIR = Path(
    os.environ.get("CEKURA_SUITES_DIR") or Path(__file__).resolve().parents[1] / "include" / "suites"
)

suites, broken = load_suites_by_file(SUITES_DIR)
for suite in suites:
    globals()[suite.dag_id] = build_regression_dag(suite)
for path, problem in broken.items():
    placeholder = build_broken_suite_dag(path, problem)
    globals()[placeholder.dag_id] = placeholder
