"""batch/outcome.py: the verdict says the gate, the load and the link, in that order (issue 20.4, 24.3).

The `ti` here is a stand-in for the task runner's (XComs and task states only): the real path is covered
through `dag.test()` in tests/dags/test_suite_verdict.py.
"""

from __future__ import annotations

from typing import Any

from cekura_livekit.batch.errors import FAILURE_KEY
from cekura_livekit.batch.outcome import explain, something_failed
from cekura_livekit.batch.recovery import RECOVERED_KEY

URL = "https://dashboard.cekura.ai/p/1/results/509"


class _Ti:
    dag_id, run_id = "cekura_regression_s", "manual__1"

    def __init__(self, xcoms: dict[tuple[str, str], Any], states: dict[str, str]) -> None:
        self.xcoms, self.states = xcoms, states

    def xcom_pull(self, task_ids: str, key: str = "return_value") -> Any:
        return self.xcoms.get((task_ids, key))

    def get_task_states(self, **_: Any) -> dict[str, dict[str, str]]:
        return {"manual__1": self.states}


GATE = {"stage": "gate", "message": "2/4 evaluated runs passed (50.0%), below min_success_rate 0.9"}


def test_gate_then_load_with_run_count_then_link() -> None:
    ti = _Ti(
        {
            ("run_scenarios", FAILURE_KEY): GATE,
            ("run_scenarios", "result_id"): 509,
            ("run_scenarios", "dashboard_url"): URL,
            ("load_results", "return_value"): {"result_id": 509, "runs": 4},
        },
        {"run_scenarios": "failed", "load_results": "success"},
    )
    assert something_failed(ti)
    message = explain("s", ti)
    assert message == (
        "Suite s: run_scenarios ran the batch and it failed its gate: 2/4 evaluated runs passed (50.0%), "
        "below min_success_rate 0.9. The results of Cekura result 509 were loaded: 4 runs stored. "
        f"Link: {URL}"
    )


def test_a_recovered_batch_is_never_called_nothing_submitted() -> None:
    ti = _Ti(
        {
            ("run_scenarios", FAILURE_KEY): {"stage": "submit", "message": "worker killed"},
            ("load_results", RECOVERED_KEY): {
                "result_id": 612,
                "how": "found in Cekura by its batch name 'n'",
            },
            ("load_results", "return_value"): {"result_id": 612, "runs": 2, "dashboard_url": URL},
        },
        {"run_scenarios": "failed", "load_results": "success"},
    )
    message = explain("s", ti)
    assert "Nothing was submitted" not in message
    assert (
        "612 were loaded: 2 runs stored (run_scenarios died before announcing it; found in Cekura" in message
    )
    assert message.endswith(f"Link: {URL}")


def test_the_verdict_asks_cekura_when_the_load_found_nothing_either() -> None:
    class _Hook:
        def find_results_by_name(self, name: str) -> list[dict[str, Any]]:
            first_attempt = (
                "@ manual__1 · " in name and "(attempt" not in name
            )  # names end with the deployment
            return [{"id": 700, "name": name}] if first_attempt else []

    ti = _Ti({}, {"run_scenarios": "failed", "load_results": "failed"})
    message = explain("s", ti, hook=_Hook)
    assert (
        "Cekura result 700 was NOT loaded (run_scenarios died before announcing it; found in Cekura"
        in message
    )
    nothing = explain("s", _Ti({}, {"run_scenarios": "failed", "load_results": "skipped"}))
    assert nothing.endswith("Nothing was submitted, so nothing was loaded.")


def test_nothing_failed_means_no_verdict() -> None:
    assert not something_failed(_Ti({}, {"run_scenarios": "success", "load_results": "success"}))
