"""`regression_dag` directly: the DAG a `Suite` becomes (shape, trigger rules, form, descriptions naming the file
it came from) and the placeholder a malformed suite file becomes (its id, never replacing a working DAG, and a
task that fails with the problem)."""

from __future__ import annotations

import warnings
from pathlib import Path

import pytest
from airflow.sdk import TriggerRule

from cekura_livekit.batch.spec import MAX_FREQUENCY
from cekura_livekit.regression_dag import (
    POLL_OVERRIDE_ENV,
    BrokenSuiteWarning,
    broken_dag_id,
    build_broken_suite_dag,
    build_regression_dag,
    suite_params,
)
from cekura_livekit.suites import Suite, parse_suite

NIGHTLY = {
    "suite": "acme_nightly",
    "agent": 101,
    "scenarios": [2001, 2002],
    "frequency": 3,
    "description": "Acme support, every night",
    "quarantine": [2002],
    "retries": 3,
    "tags": ["acme"],
}


@pytest.fixture
def suite(monkeypatch: pytest.MonkeyPatch) -> Suite:
    monkeypatch.delenv(POLL_OVERRIDE_ENV, raising=False)
    monkeypatch.setenv("CEKURA_WAREHOUSE_CONN_ID", "wh_nightly")
    return parse_suite(NIGHTLY, "acme_nightly.yaml")


def test_a_suite_becomes_run_then_load_then_verdict(suite: Suite) -> None:
    dag = build_regression_dag(suite)
    assert dag.dag_id == suite.dag_id == "cekura_regression_acme_nightly"
    run, load, verdict = (dag.get_task(t) for t in ("run_scenarios", "load_results", "verdict"))
    assert run.downstream_task_ids == {"load_results"}
    assert load.downstream_task_ids == {"verdict"}
    # A failed run still loads (a red night is history), and the verdict waits for that load.
    assert load.trigger_rule == verdict.trigger_rule == TriggerRule.ALL_DONE
    assert verdict.retries == 0
    assert load.retries == run.retries == 3
    assert load.quarantine == [2002]
    assert load.suite == "acme_nightly"
    assert load.recover_from == "run_scenarios"
    assert run.warehouse_conn_id == load.warehouse_conn_id == "wh_nightly"
    assert (dag.max_active_runs, dag.catchup) == (1, False)
    assert {"cekura", "regression", "acme"} <= set(dag.tags)


def test_the_form_values_reach_the_run_task(suite: Suite) -> None:
    run = build_regression_dag(suite).get_task("run_scenarios")
    assert run.scenarios == "{{ params.scenarios }}"
    assert run.agent == "{{ params.agent }}"
    assert run.frequency == "{{ params.frequency }}"


def test_the_descriptions_name_the_file_the_suite_came_from(suite: Suite, tmp_path: Path) -> None:
    plain = build_regression_dag(suite)
    assert plain.description == "Acme support, every night (from acme_nightly.yaml)"
    folder = tmp_path / "custom_suites"
    dag = build_regression_dag(suite, folder)
    where = str(folder / "acme_nightly.yaml")
    assert dag.description == f"Acme support, every night (from {where})"
    assert f"**acme_nightly** (from `{where}`)" in (dag.doc_md or "")
    assert "scenarios [2001, 2002] × 3" in (dag.doc_md or "")


def test_a_suite_without_description_says_what_it_is() -> None:
    bare = parse_suite({"suite": "bare", "agent": 1, "scenarios": [5]}, "bare.yaml")
    dag = build_regression_dag(bare)
    assert dag.description == "Cekura regression suite bare (from bare.yaml)"
    gate = "all must pass" if bare.min_success_rate is None else bare.min_success_rate
    assert f"min success rate {gate}, fail on" in (dag.doc_md or "")


def test_the_manual_run_form_defaults_to_the_suite_and_bounds_the_frequency(suite: Suite) -> None:
    params = suite_params(suite)
    assert params["scenarios"].value == [2001, 2002]
    assert params["frequency"].value == 3
    assert params["agent"].value == 101
    assert params["frequency"].schema["maximum"] == MAX_FREQUENCY
    assert params["scenarios"].schema["minItems"] == 1


def test_the_poll_interval_can_be_overridden_for_local_runs(
    suite: Suite, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert build_regression_dag(suite).get_task("run_scenarios").poll_interval == suite.poll_interval
    monkeypatch.setenv(POLL_OVERRIDE_ENV, "1")
    assert build_regression_dag(suite).get_task("run_scenarios").poll_interval == 1.0


@pytest.mark.parametrize(
    ("name", "taken", "expected"),
    [
        ("acme_nightly.yaml", set(), "cekura_regression_acme_nightly"),
        ("Acme Nightly-2.yml", set(), "cekura_regression_acme_nightly_2"),
        (".yaml", set(), "cekura_regression__yaml"),
        # A working suite already has that id (a copy of its file): never replace it.
        (
            "acme_nightly.yaml",
            {"cekura_regression_acme_nightly"},
            "cekura_regression_broken_acme_nightly_yaml",
        ),
        (
            "acme_nightly.yaml",
            {"cekura_regression_acme_nightly", "cekura_regression_broken_acme_nightly_yaml"},
            "cekura_regression_broken_acme_nightly_yaml_2",
        ),
    ],
)
def test_placeholder_ids(name: str, taken: set[str], expected: str) -> None:
    assert broken_dag_id(Path("/suites") / name, taken) == expected


def test_a_broken_suite_is_a_visible_placeholder_that_fails_with_the_problem(tmp_path: Path) -> None:
    from cekura_livekit.compat import AirflowFailException

    path = tmp_path / "acme_nightly.yaml"
    problem = "acme_nightly.yaml: key 'frequency': 250 must be an integer between 1 and 100"
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        dag = build_broken_suite_dag(path, problem)
    (warning,) = [w for w in caught if issubclass(w.category, BrokenSuiteWarning)]
    assert warning.filename == str(path)  # recorded against the suite file, not the DAG file
    assert problem in str(warning.message)
    assert dag.dag_id == "cekura_regression_acme_nightly"
    assert dag.schedule is None
    assert "broken-suite" in dag.tags
    assert dag.description == "BROKEN suite file acme_nightly.yaml: fix it to get the regression DAG back"
    assert problem in (dag.doc_md or "")
    (task,) = dag.tasks
    with pytest.raises(AirflowFailException, match="250 must be an integer between 1 and 100"):
        task.python_callable()
