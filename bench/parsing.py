"""Benchmark 6, DAG parsing: each DAG file of `dags/` and the whole folder vs a trivial DAG, fresh interpreters.

Each measurement is a new interpreter that first imports `airflow.sdk` (every DAG file pays that, the trivial
one too), then times executing one file, or `DagBag` over a folder. What is left is the file's own cost.
"""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

from bench.common import ROOT, Section, Target, airflow_env

TRIVIAL = """from datetime import datetime

from airflow.sdk import dag, task


@dag(schedule=None, start_date=datetime(2025, 1, 1), catchup=False)
def trivial():
    @task
    def hello() -> None:
        print("hello")

    hello()


trivial()
"""

FILE_PROBE = """
import runpy, sys, time
import airflow.sdk  # common to every DAG file
start = time.perf_counter()
runpy.run_path(sys.argv[1], run_name="__dag__")
print(time.perf_counter() - start)
"""

FOLDER_PROBE = """
import sys, time
from airflow.dag_processing.dagbag import DagBag
start = time.perf_counter()
bag = DagBag(dag_folder=sys.argv[1], safe_mode=False)
took = time.perf_counter() - start
assert not bag.import_errors, bag.import_errors
print(took)
"""


def _probe(code: str, target: Path) -> float:
    env = {**os.environ, "PYTHONPATH": f"{ROOT}{os.pathsep}{ROOT / 'plugins'}"}
    out = subprocess.run(
        [sys.executable, "-c", code, str(target)],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    if out.returncode:
        raise RuntimeError(f"parsing {target} failed: {out.stderr[-1500:]}")
    return float(out.stdout.strip().splitlines()[-1])


def run(smoke: bool = False) -> Section:
    airflow_env()
    section = Section(
        "6. DAG parsing",
        "Fresh interpreter per repetition; `airflow.sdk` is imported before timing (all DAG files need it).",
    )
    reps = 1 if smoke else 5
    trivial_dir = Path(tempfile.mkdtemp(prefix="cekura-trivial-dag-"))
    trivial = trivial_dir / "trivial_dag.py"
    trivial.write_text(TRIVIAL)
    files = sorted((ROOT / "dags").glob("*.py"))
    if smoke:
        files = files[:1]
    base = [_probe(FILE_PROBE, trivial) for _ in range(reps)]
    t0 = section.add("trivial DAG (one @task)", "1 file", base, "s")
    worst = 0.0
    for f in files:
        samples = [_probe(FILE_PROBE, f) for _ in range(reps)]
        med = statistics.median(samples)
        worst = max(worst, med - t0.median)
        section.add(f"`dags/{f.name}`", "1 file", samples, "s", ratio=f"+{1000 * (med - t0.median):.0f} ms")
    if not smoke:
        folder_reps = 3
        ours = [_probe(FOLDER_PROBE, ROOT / "dags") for _ in range(folder_reps)]
        triv = [_probe(FOLDER_PROBE, trivial_dir) for _ in range(folder_reps)]
        o = section.add(
            "whole `dags/` folder (DagBag)", f"{len(files)} files", ours, "s", note="3 repetitions"
        )
        t = section.add("folder with the trivial DAG (DagBag)", "1 file", triv, "s", note="3 repetitions")
        section.rows[-2].ratio = f"+{1000 * (o.median - t.median):.0f} ms"
    section.targets.append(
        Target("each DAG file ≤ trivial + 100 ms", f"worst file +{1000 * worst:.0f} ms", worst <= 0.1)
    )
    return section


if __name__ == "__main__":
    print(json.dumps([r.stat.median for r in run(smoke=True).rows]))
