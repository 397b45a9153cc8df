"""Benchmark 6, DAG parsing: each DAG file of `dags/` and the whole folder vs a trivial DAG, fresh interpreters.

Each measurement is a new interpreter that first imports `airflow.sdk` (every DAG file pays that, the trivial
one too), then times executing one file, or `DagBag` over a folder. What is left is the file's own cost.

The interpreters' start-up (~1.5 s of imports, ~95% of a probe, untimed) runs as many at a time as the
machine has cores, at most two; the timed part of each runs alone: a started probe waits for its turn, and
the next one starts only when it has exited.
"""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import tempfile
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path
from typing import IO, NoReturn

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

# Both probes print "ready" once imported, wait for a line on stdin, then time; `os._exit` skips the
# interpreter's (untimed) teardown so the next probe's turn comes sooner.
FILE_PROBE = """
import os, runpy, sys, time
import airflow.sdk  # common to every DAG file
print("ready", flush=True)
sys.stdin.readline()
start = time.perf_counter()
runpy.run_path(sys.argv[1], run_name="__dag__")
print(time.perf_counter() - start, flush=True)
os._exit(0)
"""

FOLDER_PROBE = """
import os, sys, time
from airflow.dag_processing.dagbag import DagBag
print("ready", flush=True)
sys.stdin.readline()
start = time.perf_counter()
bag = DagBag(dag_folder=sys.argv[1], safe_mode=False)
took = time.perf_counter() - start
assert not bag.import_errors, bag.import_errors
print(took, flush=True)
os._exit(0)
"""


@dataclass
class _Probe:
    """A probe interpreter on its way to "ready"; its stderr in a file, so warnings can never fill a pipe."""

    target: Path
    proc: subprocess.Popen[str]
    err: IO[str]


def _start(code: str, target: Path, err: IO[str]) -> _Probe:
    env = {**os.environ, "PYTHONPATH": f"{ROOT}{os.pathsep}{ROOT / 'plugins'}"}
    proc = subprocess.Popen(
        [sys.executable, "-c", code, str(target)],
        cwd=ROOT,
        env=env,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=err,
        text=True,
    )
    return _Probe(target, proc, err)


def _ready(probe: _Probe) -> None:
    """Block until the probe has imported everything and waits for its turn."""
    if probe.proc.stdout is None or probe.proc.stdout.readline().strip() != "ready":
        _failed(probe)


def _finish(probe: _Probe) -> float:
    """Let a ready probe time its part, return its seconds once it has exited."""
    proc = probe.proc
    if proc.stdin is None:
        _failed(probe)
    proc.stdin.write("go\n")
    proc.stdin.flush()
    out, _ = proc.communicate(timeout=300)
    if proc.returncode:
        _failed(probe)
    return float(out.strip().splitlines()[-1])


def _failed(probe: _Probe) -> NoReturn:
    if probe.proc.poll() is None:
        probe.proc.kill()
    probe.proc.wait()
    probe.err.seek(0)
    raise RuntimeError(f"parsing {probe.target} failed: {probe.err.read()[-1500:]}")


def _probe_all(code: str, targets: list[Path]) -> list[float]:
    """Seconds of each target's timed part, in order; start-ups overlap two at a time, timed parts never."""
    width = max(1, min(2, os.cpu_count() or 1))
    results: list[float] = []
    for i in range(0, len(targets), width):
        with ExitStack() as stack:
            probes = [
                _start(code, t, stack.enter_context(tempfile.TemporaryFile(mode="w+")))
                for t in targets[i : i + width]
            ]
            try:
                for p in probes:  # every start-up of the group done before any timed part begins
                    _ready(p)
                results.extend(_finish(p) for p in probes)
            finally:
                for p in probes:
                    if p.proc.poll() is None:
                        p.proc.kill()
                        p.proc.wait()
    return results


def run(smoke: bool = False) -> Section:
    airflow_env()
    section = Section(
        "6. DAG parsing",
        "Fresh interpreter per repetition; `airflow.sdk` is imported before timing (all DAG files need it). "
        "Two interpreters start at a time; each times its part only when both have started, alone.",
    )
    reps = 1 if smoke else 5
    trivial_dir = Path(tempfile.mkdtemp(prefix="cekura-trivial-dag-"))
    trivial = trivial_dir / "trivial_dag.py"
    trivial.write_text(TRIVIAL)
    files = sorted((ROOT / "dags").glob("*.py"))
    if smoke:
        files = files[:1]
    # Repetitions interleaved (trivial, each file, trivial, ...) so a slow spell hits every file alike.
    order = [trivial, *files] * reps
    timed = _probe_all(FILE_PROBE, order)
    by_file = {t: timed[i :: len(files) + 1] for i, t in enumerate([trivial, *files])}
    t0 = section.add("trivial DAG (one @task)", "1 file", by_file[trivial], "s")
    worst = 0.0
    for f in files:
        samples = by_file[f]
        med = statistics.median(samples)
        worst = max(worst, med - t0.median)
        section.add(f"`dags/{f.name}`", "1 file", samples, "s", ratio=f"+{1000 * (med - t0.median):.0f} ms")
    if not smoke:
        folder_reps = 3
        folders = _probe_all(FOLDER_PROBE, [ROOT / "dags", trivial_dir] * folder_reps)
        ours, triv = folders[0::2], folders[1::2]
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
