"""Airflow: one regression DAG per suite file (`*.yaml` / `*.yml`) in the suites folder (`cekura_regression_<suite>`).

Each DAG submits the suite's scenarios to Cekura, waits without holding a worker (deferrable), loads every
run into the warehouse (`CEKURA_WAREHOUSE_CONN_ID`, default cekura_warehouse) and fails when the suite's
thresholds are not met. A malformed suite file takes down only its own DAG: the good suites keep loading,
and the broken file becomes a placeholder DAG (its failing task and description carry the message naming
the file, the key and the fix) plus a parse warning recorded against the suite file itself. Two files with
one suite id: the file named after the id (else the first by name) keeps it; only the other is flagged.

The suites folder is CEKURA_SUITES_DIR when set, else `include/suites` next to this file's `dags/` folder.
Copy this file into your own dags folder and set CEKURA_SUITES_DIR to your suites (docs/suites.md).
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
built: set[str] = set()
for suite in suites:
    try:
        dag = build_regression_dag(suite, SUITES_DIR)
    except Exception as exc:  # a rule the suite checks missed must still cost only this suite its DAG
        broken[SUITES_DIR / suite.source] = f"{suite.source}: {type(exc).__name__}: {exc}"
        continue
    globals()[dag.dag_id] = dag
    built.add(dag.dag_id)
for path, problem in sorted(broken.items()):
    placeholder = build_broken_suite_dag(path, problem, built)
    globals()[placeholder.dag_id] = placeholder
    built.add(placeholder.dag_id)
