"""The benchmark harness at tiny sizes: every benchmark runs end to end, so `make bench` cannot rot.

Runs `python -m bench --smoke` in its own interpreter (the harness sets its own Airflow home and
connections) and checks the Markdown it writes. Numbers are not judged here: speed is benchmarked, not
asserted.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
TITLES = (
    "1. Waiting",
    "2. Submitting",
    "3. Loading",
    "4. Trends",
    "5. Extract",
    "6. DAG parsing",
    "7. Report",
    "8. Nightly work at scale",
)


@pytest.mark.timeout(600)
def test_every_benchmark_runs_at_smoke_size(tmp_path: Path) -> None:
    out = tmp_path / "BENCHMARKS.md"
    env = {k: v for k, v in os.environ.items() if not k.startswith("AIRFLOW")}
    done = subprocess.run(
        [sys.executable, "-m", "bench", "--smoke", "--out", str(out)],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    text = out.read_text()
    for title in TITLES:
        assert f"## {title}" in text, f"section {title!r} missing"
    assert "SMOKE SIZES" in text
    assert "| CPU |" in text
    assert "load average before" in text
    targets = text.split("## Targets", 1)[1].split("\n## ", 1)[0]
    assert targets.count("\n| ") >= 12, "fewer targets judged than the issue lists"
    assert "| nan" not in text.lower()


@pytest.mark.timeout(120)
def test_the_nightly_benchmark_runs_fast_at_smoke_size(tmp_path: Path) -> None:
    """Benchmark 8 alone (the DAGs' nightly paths on the realistic generator's smoke organisation): < 60 s."""
    out = tmp_path / "BENCHMARKS.md"
    env = {k: v for k, v in os.environ.items() if not k.startswith("AIRFLOW")}
    done = subprocess.run(
        [sys.executable, "-m", "bench", "--smoke", "--only", "8", "--out", str(out)],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    text = out.read_text()
    assert "## 8. Nightly work at scale" in text
    for case in (
        "one batch load",
        "trends pass: whole",
        "report (`render_report`",
        "full rebuild",
        "disk after",
    ):
        assert case in text, case
    assert "EXPLAIN (ANALYZE, BUFFERS)" in text
    assert "Growth exponents" in text
    assert "| nan" not in text.lower()
