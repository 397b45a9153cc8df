"""Airflow: one regression DAG per suite file in include/suites/*.yaml (`cekura_regression_<suite>`).

Each DAG submits the suite's scenarios to Cekura, waits without holding a worker (deferrable), loads every
run into the warehouse (`CEKURA_WAREHOUSE_CONN_ID`, default cekura_warehouse) and fails when the suite's
thresholds are not met. A malformed suite file fails this file's import with a message naming the file,
the key and the fix. Set CEKURA_SUITES_DIR to read suites from elsewhere.
"""

from __future__ import annotations

import os
from pathlib import Path

from cekura_livekit.regression_dag import build_regression_dag
from cekura_livekit.suites import load_suites, raise_for_errors

SUITES_DIR = Path(
    os.environ.get("CEKURA_SUITES_DIR") or Path(__file__).resolve().parents[1] / "include" / "suites"
)

suites, problems = load_suites(SUITES_DIR)
raise_for_errors(problems)
for suite in suites:
    globals()[suite.dag_id] = build_regression_dag(suite)
