"""Bad outputs and payloads: report destinations given as a run parameter of `cekura_report` (the way the REST
API or the trigger form passes them), and Cekura payloads the extractor and the warehouse must survive.

A report case validates the run's params against the DAG's Param schema (what a trigger does), then runs the
DAG's task body with them; a report written where the operator did not configure it is accepted, and the case
returns where it went. The configured root is `<tmp>/reports-N/` (CEKURA_REPORT_DESTINATION).
"""

from __future__ import annotations

import copy
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

from tests.reliability.case import Case, Env, Harm

REPORT = "report destination"
PAYLOAD = "API payload"
ROOT = Path(__file__).resolve().parents[2]


def _report_dag(env: Env) -> Any:
    """The cekura_report DAG, parsed once against a small SQLite warehouse seeded with one result."""
    if "report_dag" not in env.cache:
        from airflow.dag_processing.dagbag import DagBag

        from cekura_livekit.results.frames import extract
        from cekura_livekit.warehouse.writer import load_extract
        from tests.support.warehouse import make_result, make_run, sqlite_connection_json

        env.setenv("AIRFLOW_CONN_WH_REPORT", sqlite_connection_json(env.tmp / "report-warehouse.db"))
        env.setenv("CEKURA_WAREHOUSE_CONN_ID", "wh_report")
        runs = [make_run(9_100 + i, day="2026-11-01", result_id=91) for i in range(3)]
        load_extract("wh_report", extract(make_result(91, runs)), "cekura")
        bag = DagBag(dag_folder=str(ROOT / "dags" / "cekura_report.py"))
        assert not bag.import_errors, bag.import_errors
        env.cache["report_dag"] = bag.dags["cekura_report"]
    return env.cache["report_dag"]


def _report(make_destination: Callable[[Path], str]) -> Callable[[Env], Any]:
    def run(env: Env) -> Any:
        dag = _report_dag(env)
        root = env.scratch("reports")
        env.setenv("CEKURA_REPORT_DESTINATION", str(root / "cekura_report.html"))
        destination = make_destination(root)
        params = copy.deepcopy(dag.params)
        params["destination"] = destination
        resolved = params.validate()  # a trigger (REST API, form) validates the params first
        cwd = os.getcwd()
        os.chdir(root)  # a relative destination resolves inside the scratch area, never the checkout
        try:
            out = dag.get_task("render_report").python_callable(params=resolved)
        finally:
            os.chdir(cwd)
        where = str(out.get("destination"))
        target = _link_target(root)
        if target.exists() and target.read_text() != "not the project's\n":
            raise Harm(f"the report overwrote a file outside the root through a link: {target.name}")
        inside = where.startswith(str(root.resolve())) or where.startswith(str(root))
        return f"{'inside' if inside else 'OUTSIDE'} the reports root: {where.replace(str(env.tmp), '<tmp>')}"

    return run


def _foreign_file(root: Path) -> str:
    target = root.parent / f"notes-{root.name}.txt"
    target.write_text("a file the project did not write\n")
    return str(target)


def _symlink_out(root: Path) -> str:
    outside = root.parent / f"outside-{root.name}"
    outside.mkdir()
    (root / "link").symlink_to(outside, target_is_directory=True)
    return str(root / "link" / "r.html")


def _link_target(root: Path) -> Path:
    return root.parent / f"elsewhere-{root.name}.html"


def _file_link(root: Path) -> str:
    """A link inside the root to a file outside it that the project did not write."""
    _link_target(root).write_text("not the project's\n")
    (root / "latest.html").symlink_to(_link_target(root))
    return str(root / "latest.html")


def report_cases() -> list[Case]:
    rows: list[tuple[str, Callable[[Path], str], str, str]] = [
        ("'../..' traversal", lambda r: str(r / "x" / ".." / ".." / f"escaped-{r.name}.html"), "24.2", ""),
        ("relative '../x.html'", lambda r: f"../escape-{r.name}.html", "24.2", ""),
        ("file:// URL", lambda r: f"file://{r.parent}/via-file-url-{r.name}.html", "24.2", ""),
        (
            "absolute path outside the root",
            lambda r: str(r.parent / "elsewhere" / f"{r.name}.html"),
            "24.2",
            "",
        ),
        ("an existing foreign file", _foreign_file, "24.2", ""),
        ("a symlinked folder pointing out", _symlink_out, "24.2", ""),
        (
            "a symlink to a file outside",
            _file_link,
            "",
            "the link itself is replaced by an atomic rename; the file it pointed to is untouched (checked)",
        ),
        (
            "new nested directories outside",
            lambda r: str(r.parent / f"n-{r.name}" / "a" / "b" / "r.html"),
            "24.2",
            "",
        ),
        ("memory:// URL", lambda r: f"memory://reports/{r.name}.html", "24.2", ""),
        ("path with a NUL byte", lambda r: str(r / "r\x00.html"), "", ""),
        (
            "a plain file name inside the root",
            lambda r: str(r / "today.html"),
            "",
            "a file inside the configured reports root is what the parameter is for",
        ),
    ]
    return [
        Case(REPORT, name, _report(make), ("destination",), issue=issue, accepted_ok=ok)
        for name, make, issue, ok in rows
    ]


# ------------------------------------------------------------------------------------------ payloads
def _payload(result: Any, runs: Any = None) -> Callable[[Env], Any]:
    def run(env: Env) -> Any:
        from cekura_livekit.batch.wait import snapshot_of_result
        from cekura_livekit.results.frames import extract

        snapshot_of_result(result)
        frames = extract(result, runs)
        shown = [c for c in ("metric_type", "metric_kind", "passed", "score") if c in frames.metrics.columns]
        metrics = frames.metrics[shown].to_dict("records") if shown else []
        return f"{len(frames.runs)} runs, metric rows {metrics}"

    return run


def _payload_loaded(runs: list[dict[str, Any]], conn: str = "sqlite") -> Callable[[Env], Any]:
    """Extract and load into a warehouse (the load is where a name's bad characters bite)."""

    def run(env: Env) -> Any:
        from cekura_livekit.results.frames import extract
        from cekura_livekit.warehouse.writer import load_extract
        from tests.support.warehouse import make_result, sqlite_connection_json

        conn_id, schema = env.cache["pg"] if conn == "pg" else ("wh_payload", "cekura")
        if conn == "sqlite":
            env.setenv("AIRFLOW_CONN_WH_PAYLOAD", sqlite_connection_json(env.scratch("wh") / "w.db"))
        result_id = runs[0].get("result_id", 1)
        load_extract(conn_id, extract(make_result(result_id, runs)), schema)
        return f"{len(runs)} runs loaded into {conn}"

    return run


def _run(run_id: int = 10, **overrides: Any) -> dict[str, Any]:
    from tests.support.warehouse import make_run

    return {**make_run(run_id, day="2026-11-01"), **overrides}


def _metrics(*metrics: Any) -> dict[str, Any]:
    return {"evaluation": {"metrics": list(metrics)}}


def payload_cases() -> list[Case]:
    ok = {"id": 5, "status": "completed", "runs": []}
    cases = [
        Case(PAYLOAD, "result is a list", _payload([1, 2]), ("expected an object",)),
        Case(PAYLOAD, "result without id", _payload({"status": "completed"}), ("id",)),
        Case(PAYLOAD, "result id 'abc'", _payload({**ok, "id": "abc"}), ("id", "abc")),
        Case(PAYLOAD, "runs is a string", _payload({**ok, "runs": "lots"}), ("runs",)),
        Case(
            PAYLOAD,
            "a run is null",
            _payload({**ok, "runs": [None]}),
            ("run",),
            accepted_ok="a null entry carries no run to lose; the counters still say how many ran",
        ),
        Case(
            PAYLOAD,
            "total_runs_count 'many'",
            _payload({**ok, "total_runs_count": "many"}),
            ("total_runs_count", "many"),
        ),
        Case(
            PAYLOAD,
            "unknown status 'provisioning'",
            _payload({**ok, "status": "provisioning"}),
            (),
            accepted_ok="an unknown status is read as not yet terminal (the wait keeps polling), never a verdict",
        ),
        Case(
            PAYLOAD,
            "run timestamp 'yesterday'",
            _payload(ok, [_run(timestamp="yesterday")]),
            ("timestamp", "yesterday"),
        ),
        Case(PAYLOAD, "run duration '-5'", _payload(ok, [_run(duration="-5")]), ("duration", "-5")),
        Case(PAYLOAD, "run without id", _payload(ok, [_run(id=None)]), ("id",)),
        Case(PAYLOAD, "metric is a string", _payload(ok, [_run(**_metrics("x"))]), ("metric",)),
        Case(PAYLOAD, "success 'maybe'", _payload(ok, [_run(success="maybe")]), ("success", "maybe")),
    ]
    odd_metrics = [
        ("metric value is a nested object", {"id": 1, "name": "m", "type": "binary", "value": {"a": 1}}, ""),
        ("metric value is a list", {"id": 1, "name": "m", "type": "numeric", "value": [1, 2]}, ""),
        ("metric score 'NaN'", {"id": 1, "name": "m", "type": "numeric", "score": "NaN"}, ""),
        ("metric score Infinity", {"id": 1, "name": "m", "type": "numeric", "score": float("inf")}, ""),
        (
            # Read as binary (issue 19.1); without `passed` it has no verdict: stored, counted in the load's
            # metric problems, never dropped.
            "eval_type binary without type",
            {"id": 1, "name": "m", "eval_type": "binary", "value": True},
            "",
        ),
        ("metric of an unknown type 'vibes'", {"id": 1, "name": "m", "type": "vibes", "value": 3}, ""),
        ("metric without id or name", {"type": "binary", "value": True}, ""),
    ]
    cases += [
        Case(
            PAYLOAD,
            name,
            _payload(ok, [_run(**_metrics(metric))]),
            ("metric",),
            issue=issue,
            accepted_ok=""
            if issue
            else "an unknown metric shape is kept as it came (raw JSON), never dropped",
        )
        for name, metric, issue in odd_metrics
    ]
    loaded = [
        (
            "scenario name with a lone surrogate (SQLite)",
            {"scenario_name": "Book\ud800ing"},
            "sqlite",
            "24.7",
        ),
        ("agent name with a lone surrogate (SQLite)", {"agent_name": "acme\udfff"}, "sqlite", "24.7"),
        ("scenario name with a NUL (SQLite)", {"scenario_name": "Book\x00ing"}, "sqlite", ""),
        (
            "scenario name with a lone surrogate (PostgreSQL)",
            {"scenario_name": "Book\ud800ing"},
            "pg",
            "24.7",
        ),
        ("scenario name with a NUL (PostgreSQL)", {"scenario_name": "Book\x00ing"}, "pg", ""),
    ]
    cases += [
        Case(
            PAYLOAD,
            name,
            _payload_loaded([_run(9_500 + i, result_id=95 + i, **fields)], conn),
            (next(iter(fields)),),
            issue=issue,
            accepted_ok=""
            if issue
            else "text is stored as it came; only what the database cannot hold is refused",
        )
        for i, (name, fields, conn, issue) in enumerate(loaded)
    ]
    return cases


def output_cases() -> list[Case]:
    return [*report_cases(), *payload_cases()]
