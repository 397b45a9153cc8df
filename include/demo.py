"""`make demo`: the whole product end to end on the embedded default, in about a minute.

Starts the sandbox (Cekura + LiveKit stand-ins), points the Airflow connections at it and at a SQLite
warehouse in `.demo/`, runs every regression-suite DAG once per simulated day, then the trends and report DAGs,
all with `dag.test()`. A second `make demo` continues the calendar by one day: loads are idempotent and the
sandbox continues the id sequence, so nothing is duplicated.

Why 37 days: the drop detector watches a series only once its baseline holds 100 evaluated runs over 28 days
(`detection.drops.DropPolicy`), so a demo must show a month of healthy history before the sandbox's seeded
regression ("Cancel subscription", 95 % → 55 % from 2026-11-15) for that regression to be found: 30 healthy
days (two of slack), then seven days of the drop, within which the detector flags it in 98 % of random draws
(five days: 90 %; tests/test_demo.py). The DAGs poll the sandbox every 0.2 s (its clock runs 600x faster than real
time, so a call of 2 simulated minutes ends in 0.2 s): a simulated day costs about its CPU work, not waiting.
A faster sandbox clock is no option: the bring-your-own-rooms suite's LiveKit join tokens would expire (in
simulated time) before the tester joins.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import sqlite3
import sys
import time
from datetime import UTC, date, datetime, timedelta
from datetime import time as dtime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
DEMO = Path(os.environ.get("CEKURA_DEMO_DIR", ROOT / ".demo"))
HOME = DEMO / "airflow"
WAREHOUSE_DB = DEMO / "warehouse.db"
REPORT = DEMO / "reports" / "cekura_report.html"
LOG = DEMO / "demo.log"
FIRST_DAY = date(2026, 10, 16)
REGRESSION_DAY = date(
    2026, 11, 15
)  # the sandbox catalogue's seeded drop (default_catalogue.yaml, scenario 2004)
FIRST_RUN_DAYS = 37  # 2026-10-16 … 2026-11-21: 30 healthy days (a full baseline), then 7 days of the drop
#: A trends pass refreshes the last 29 days of the daily tables; the demo runs one every 14 simulated days (as a
#: nightly schedule would, at least once per window), else the first days' runs never reach the daily table the
#: detector reads and the baseline stays short of 28 days.
TRENDS_EVERY_DAYS = 14
DESIGNED_SCENARIO = "Cancel subscription"
SANDBOX_SPEED = 600.0  # simulated seconds per real second (faster expires the BYO suite's join tokens)
RUN_HOUR = dtime(3, 0, tzinfo=UTC)
SEED = 7


def _configure_environment() -> None:
    """Everything Airflow reads at import time: an isolated home, SQLite metadata, our DAGs and plugins."""
    HOME.mkdir(parents=True, exist_ok=True)
    os.environ.update(
        {
            "AIRFLOW_HOME": str(HOME),
            "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
            "AIRFLOW__CORE__DAGS_FOLDER": str(ROOT / "dags"),
            "AIRFLOW__CORE__PLUGINS_FOLDER": str(ROOT / "plugins"),
            "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": f"sqlite:///{HOME / 'airflow.db'}",
            "AIRFLOW__LOGGING__LOGGING_LEVEL": os.environ.get("DEMO_LOG_LEVEL", "WARNING"),
            "CEKURA_WAREHOUSE_CONN_ID": "cekura_warehouse",
            "AIRFLOW_CONN_CEKURA_WAREHOUSE": json.dumps({"conn_type": "sqlite", "host": str(WAREHOUSE_DB)}),
            "CEKURA_REPORT_DESTINATION": str(REPORT),
            # The sandbox's clock runs SANDBOX_SPEED times faster than real time; poll it every 0.2 s.
            "CEKURA_POLL_INTERVAL_SECONDS": "0.2",
        }
    )
    for var in ("LIVEKIT_TOKEN", "LIVEKIT_API_KEY", "LIVEKIT_API_SECRET"):
        os.environ.pop(var, None)


def _warehouse_state() -> tuple[date | None, int, int]:
    """Last simulated day already loaded, and the next free result / run ids (derived, never stored)."""
    if not WAREHOUSE_DB.exists():
        return None, 501, 1001
    with sqlite3.connect(WAREHOUSE_DB) as db:
        try:
            last, max_result, max_run = db.execute(
                "SELECT MAX(run_date), MAX(result_id), MAX(run_id) FROM cekura_runs"
            ).fetchone()
        except sqlite3.OperationalError:  # tables not created yet
            return None, 501, 1001
    if last is None:
        return None, 501, 1001
    return date.fromisoformat(str(last)[:10]), int(max_result) + 1, int(max_run) + 1


def _days_to_run(last_loaded: date | None) -> list[date]:
    if last_loaded is None:
        return [FIRST_DAY + timedelta(days=i) for i in range(FIRST_RUN_DAYS)]
    return [last_loaded + timedelta(days=1)]


def _summary() -> dict[str, Any]:
    with sqlite3.connect(WAREHOUSE_DB) as db:
        batches, runs = db.execute("SELECT COUNT(*), SUM(total_runs) FROM cekura_results").fetchone()
        run_rows, first, last = db.execute(
            "SELECT COUNT(*), MIN(run_date), MAX(run_date) FROM cekura_runs"
        ).fetchone()
        per_agent = db.execute(
            "SELECT agent_name, SUM(passed), SUM(passed + failed_evaluation), SUM(infra_errors + timeouts) "
            "FROM cekura_success_rate_daily GROUP BY agent_name ORDER BY agent_name"
        ).fetchall()
        regressions = db.execute("SELECT COUNT(*) FROM cekura_regressions").fetchone()[0]
        episodes = db.execute(
            "SELECT started_on, flagged_on, state, agent_name, scenario_name, mode, suite, baseline_rate, "
            "post_rate, post_n, severity, evidence FROM cekura_regression_episodes "
            "ORDER BY state DESC, started_on DESC, peak_drop DESC"
        ).fetchall()
        flaky = db.execute(
            "SELECT agent_name, scenario_name, mode, score, runs, status FROM cekura_flaky_scenarios "
            "WHERE status IN ('flaky', 'regressed') ORDER BY status = 'flaky' DESC, score DESC LIMIT 5"
        ).fetchall()
        latency = db.execute(
            "SELECT r.agent_name || ' · ' || m.metric_name, r.run_date, m.value_num FROM cekura_run_metrics m "
            "JOIN cekura_runs r ON r.run_id = m.run_id WHERE m.metric_kind = 'numeric' AND m.unit = 'ms' "
            "AND m.value_num IS NOT NULL AND r.outcome IN ('passed', 'failed_evaluation')"
        ).fetchall()
        metric_regressions = db.execute(
            "SELECT run_date, agent_name, scenario_name, metric_name, baseline_median, current_median, unit, "
            "q_value FROM cekura_metric_regressions ORDER BY run_date DESC, relative_shift DESC"
        ).fetchall()
    return {
        "flaky": flaky,
        "latency": _latency_trend(latency),
        "metric_regressions": metric_regressions,
        "batches": batches,
        "runs": run_rows,
        "runs_reported_by_results": runs,
        "period": (first, last),
        "per_agent": per_agent,
        "regressions": regressions,
        "episodes": episodes,
    }


def _latency_trend(rows: list[tuple[str, str, float]]) -> dict[str, tuple[float, float, float, float]]:
    """Per agent × metric (two metrics are never pooled): (p50, p95) before the last 3 days and over the last
    3 days, by the report's percentile (linear interpolation, as `cekura_metric_daily`)."""
    from cekura_livekit.report.stats import percentile

    if not rows:
        return {}
    last_day = date.fromisoformat(max(str(r[1])[:10] for r in rows))
    cut = (last_day - timedelta(days=2)).isoformat()
    trend = {}
    for agent in sorted({r[0] for r in rows}):
        before = [float(v) for a, d, v in rows if a == agent and str(d)[:10] < cut]
        recent = [float(v) for a, d, v in rows if a == agent and str(d)[:10] >= cut]
        if before and recent:
            trend[agent] = (
                percentile(before, 0.5),
                percentile(before, 0.95),
                percentile(recent, 0.5),
                percentile(recent, 0.95),
            )
    return trend


def _print_analytics(summary: dict[str, Any]) -> None:
    print("  top flaky scenarios (runs test: more outcome flips than the scenario's own rate predicts):")
    for agent, scenario, mode, score, runs, status in summary["flaky"]:
        print(f"    {score:5.2f} {status:<9} {agent} / {scenario} [{mode}] ({runs} evaluated runs)")
    print("  latency per agent and metric (p50 / p95 ms, exact; before the last 3 days → last 3 days):")
    for agent, (b50, b95, r50, r95) in summary["latency"].items():
        print(f"    {agent:<38} p50 {b50:5.0f} → {r50:5.0f}   p95 {b95:5.0f} → {r95:5.0f}")
    regs = summary["metric_regressions"]
    print(f"  metric regressions       : {len(regs)} (CUSUM on daily medians per metric, anchored baseline)")
    for day, agent, scenario, metric, base, current, unit, q_value in regs[:3]:
        # A CUSUM episode has no per-day q-value, and a day may lack a median: print what is there.
        level = "" if base is None or current is None else f" median {base:.0f} → {current:.0f} {unit or ''}"
        print(
            f"    {day} {agent} / {scenario}: {metric}{level}"
            + ("" if q_value is None else f" (q={q_value:.2g})")
        )


def _print_drops(summary: dict[str, Any]) -> None:
    """The drop episodes, and whether the sandbox's seeded regression is among them (what the demo shows)."""
    episodes = summary["episodes"]
    print(
        f"  drop episodes            : {len(episodes)} ({summary['regressions']} series-day(s) in effect): one "
        "anchored CUSUM per agent × scenario × mode × suite, watching once its baseline holds 100 evaluated runs "
        "over 28 days; started = the estimated change point, flagged = the day the evidence crossed the threshold"
    )
    for (
        start,
        flagged,
        state,
        agent,
        scenario,
        mode,
        suite,
        base,
        post,
        post_n,
        severity,
        evidence,
    ) in episodes[:5]:
        print(
            f"    {state:<8} started {start}, flagged {flagged} {severity:<8} {agent} / {scenario} "
            f"[{mode} · {suite}]: {base:.0%} → {post:.0%} over {post_n} runs"
        )
        if evidence:
            print(f"      {evidence}")
    found = [
        e for e in episodes if e[4] == DESIGNED_SCENARIO and str(e[0])[:10] >= REGRESSION_DAY.isoformat()
    ]
    last = summary["period"][1]
    if last is not None and str(last)[:10] >= REGRESSION_DAY.isoformat():
        print(
            f"  seeded regression        : {DESIGNED_SCENARIO} 95 % → 55 % from {REGRESSION_DAY}: "
            + (
                f"found, flagged on {found[0][1]}"
                if found
                else "not found (see docs/analytics.md for its power)"
            )
        )


def _print_summary(summary: dict[str, Any], seconds: float, dag_runs: dict[str, str]) -> None:
    first, last = summary["period"]
    print("\n" + "=" * 78)
    print(f"Cekura × LiveKit demo: {seconds:.0f} s")
    print(f"  batches (results) loaded : {summary['batches']}")
    print(f"  runs loaded              : {summary['runs']}  ({first} … {last})")
    failed = [f"{d} {state}" for d, state in dag_runs.items() if state != "success"]
    print(
        f"  DAG runs this session    : {len(dag_runs)}"
        + (f" ({len(failed)} not green: gates)" if failed else "")
    )
    print("  success rate per agent (evaluated runs; infra errors and timeouts excluded):")
    for agent, passed, evaluated, infra in summary["per_agent"]:
        rate = passed / evaluated if evaluated else float("nan")
        print(f"    {agent:<28} {rate:6.1%}  ({passed}/{evaluated}, {infra} infra errors/timeouts)")
    _print_drops(summary)
    _print_analytics(summary)
    print(f"  warehouse (SQLite)       : {WAREHOUSE_DB}")
    print(f"  report (open offline)    : {REPORT}")
    print("=" * 78)


@contextlib.contextmanager
def _airflow_output_to_log() -> Any:
    """Send Airflow's own logging (task logs, tracebacks of failed gates) to .demo/demo.log; yield a
    stream to the real terminal for the demo's progress lines."""
    sys.stdout.flush()
    sys.stderr.flush()
    saved = os.dup(1), os.dup(2)
    terminal = os.fdopen(os.dup(saved[0]), "w", buffering=1)
    log_fd = os.open(LOG, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
    os.dup2(log_fd, 1)
    os.dup2(log_fd, 2)
    try:
        yield terminal
    finally:
        sys.stdout.flush()
        sys.stderr.flush()
        os.dup2(saved[0], 1)
        os.dup2(saved[1], 2)
        for fd in (*saved, log_fd):
            os.close(fd)
        terminal.close()


def main() -> int:
    started = time.monotonic()
    DEMO.mkdir(parents=True, exist_ok=True)
    with _airflow_output_to_log() as terminal:
        dag_runs, ok = _run(terminal)
    _print_summary(_summary(), time.monotonic() - started, dag_runs)
    print(f"  Airflow's task logs      : {LOG}")
    return 0 if ok else 1


def _run(terminal: Any) -> tuple[dict[str, str], bool]:
    def say(text: str) -> None:
        print(text, file=terminal, flush=True)

    _configure_environment()
    last_loaded, next_result, next_run = _warehouse_state()
    days = _days_to_run(last_loaded)

    from airflow.dag_processing.dagbag import DagBag
    from airflow.utils import db

    from cekura_sandbox import Sandbox

    logging.getLogger().setLevel(logging.WARNING)
    db.initdb()
    bag = DagBag(dag_folder=str(ROOT / "dags"))
    if bag.import_errors:
        for path, error in bag.import_errors.items():
            say(f"DAG import error in {path}:\n{error}")
        return {}, False
    suites = sorted(d for d in bag.dags if d.startswith("cekura_regression_"))
    dag_runs: dict[str, str] = {}

    with Sandbox(
        seed=SEED, speed=SANDBOX_SPEED, first_result_id=next_result, first_run_id=next_run
    ) as sandbox:
        os.environ.update(sandbox.connection_env())
        say(f"Sandbox up: Cekura {sandbox.cekura_url}, LiveKit {sandbox.livekit_url}")
        say(f"Simulating {len(days)} day(s): {days[0]} … {days[-1]} × {len(suites)} suite(s)")
        for day in days:
            when = datetime.combine(day, RUN_HOUR)
            sandbox.set_time(when)
            for dag_id in suites:
                run = bag.dags[dag_id].test(logical_date=when)
                dag_runs[f"{dag_id}@{day}"] = str(run.state)
                say(f"  {day} {dag_id}: {run.state}")
            if (day - days[0]).days % TRENDS_EVERY_DAYS == TRENDS_EVERY_DAYS - 1 and day != days[-1]:
                run = bag.dags["cekura_trends"].test(
                    logical_date=datetime.combine(day, dtime(6, 0, tzinfo=UTC))
                )
                dag_runs[f"cekura_trends@{day}"] = str(run.state)
                say(f"  {day} cekura_trends: {run.state}")
        for dag_id in ("cekura_trends", "cekura_report"):
            run = bag.dags[dag_id].test(logical_date=datetime.combine(days[-1], dtime(6, 0, tzinfo=UTC)))
            dag_runs[f"{dag_id}@{days[-1]}"] = str(run.state)
            say(f"  {dag_id}: {run.state}")

    broken = [k for k, v in dag_runs.items() if v != "success" and not k.startswith("cekura_regression_")]
    return dag_runs, not broken and REPORT.exists()


if __name__ == "__main__":
    sys.exit(main())
