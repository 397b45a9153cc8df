"""Suite files: the shipped ones load, and every malformed one names the file, the key and the fix."""

from __future__ import annotations

from pathlib import Path

import pytest

from cekura_livekit.suites import SuiteConfigError, load_suite_file, load_suites, raise_for_errors

SUITES = Path(__file__).resolve().parents[1] / "include" / "suites"


def test_shipped_suites_load() -> None:
    suites, errors = load_suites(SUITES)
    assert errors == []
    by_id = {s.suite: s for s in suites}
    nightly = by_id["acme_support_nightly"]
    assert nightly.dag_id == "cekura_regression_acme_support_nightly"
    assert nightly.scenarios == (2001, 2002, 2004, 2003, 2006, 2005)
    assert nightly.frequency == 5
    assert by_id["acme_bookings_byo"].mode == "bring_your_own_rooms"


def write(tmp_path: Path, text: str, name: str = "bad.yaml") -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


@pytest.mark.parametrize(
    ("text", "fragment"),
    [
        (
            "suite: x\nagent: 1\nscenarios: [1]\nfrequency: 250\n",
            "bad.yaml: key 'frequency': 250 must be an integer between 1 and 100",
        ),
        ("suite: x\nagent: 1\nscenarios: []\n", "bad.yaml: key 'scenarios': no scenarios"),
        (
            "suite: x\nagent: 1\nscenarios: [1, two]\n",
            "bad.yaml: key 'scenarios': [1, 'two'] must be a list of integer ids",
        ),
        (
            "suite: x\nagent: abc\nscenarios: [1]\n",
            "bad.yaml: key 'agent': 'abc' must be the Cekura agent's integer id",
        ),
        ("suite: x\nscenarios: [1]\n", "bad.yaml: key 'agent': is required"),
        (
            "suite: x\nagent: 1\nscenarios: [1]\nmode: byo\n",
            "bad.yaml: key 'mode': 'byo' is not one of managed",
        ),
        (
            "suite: x\nagent: 1\nscenarios: [1]\nmode: chat\n",
            "key 'livekit_agent_name': is required in mode 'chat'",
        ),
        (
            "suite: x\nagent: 1\nscenarios: [1]\nmin_success_rate: 80\n",
            "key 'min_success_rate': 80 must be a number between 0 and 1",
        ),
        ("suite: x\nagent: 1\nscenarios: [1]\nfail_on: [crash]\n", "key 'fail_on': 'crash' is not one of"),
        (
            "suite: x\nagent: 1\nscenarios: [1]\nschedul: daily\n",
            "key 'schedul': unknown key; allowed keys are",
        ),
        ("suite: Bad-Name\nagent: 1\nscenarios: [1]\n", "key 'suite': 'Bad-Name' must be lower-case"),
        ("suite: x\nagent: 1\nscenarios: [1]\nstart_date: soon\n", "key 'start_date': 'soon' must be a date"),
        ("suite: x\nagent: 1\n  scenarios: [1]\n", "bad.yaml: not valid YAML at line"),
        ("- just\n- a list\n", "bad.yaml: the file must hold a mapping"),
    ],
)
def test_malformed_suite_messages(tmp_path: Path, text: str, fragment: str) -> None:
    with pytest.raises(SuiteConfigError) as info:
        load_suite_file(write(tmp_path, text))
    assert fragment in str(info.value)


def test_all_problems_reported_together_and_duplicates_caught(tmp_path: Path) -> None:
    write(tmp_path, "suite: a\nagent: 1\nscenarios: [1]\n", "a.yaml")
    write(tmp_path, "suite: a\nagent: 2\nscenarios: [2]\n", "b.yaml")
    write(tmp_path, "suite: c\nagent: 1\nscenarios: [1]\nfrequency: 0\n", "c.yaml")
    suites, errors = load_suites(tmp_path)
    assert [s.suite for s in suites] == ["a"]
    assert errors == [
        "b.yaml: key 'suite': 'a' is already used by a.yaml, which keeps it: give this file its own suite id",
        "c.yaml: key 'frequency': 0 must be an integer between 1 and 100",
    ]
    with pytest.raises(SuiteConfigError, match=r"(?s)Malformed suite file\(s\):.*b\.yaml.*c\.yaml"):
        raise_for_errors(errors)


def test_every_problem_of_one_file_is_reported_at_once(tmp_path: Path) -> None:
    """A person fixing a suite file sees all its problems in one go, not one per parse."""
    text = "suite: x\nagent: 0\nscenarios: [1]\nfrequency: 250\nschedule: '61 * * * *'\nmode: chat\n"
    with pytest.raises(SuiteConfigError) as info:
        load_suite_file(write(tmp_path, text))
    message = str(info.value)
    for fragment in (
        "bad.yaml: key 'agent': 0 must be the Cekura agent's integer id",
        "bad.yaml: key 'frequency': 250 must be an integer between 1 and 100",
        "bad.yaml: key 'schedule': '61 * * * *' is not a valid cron expression",
        "bad.yaml: key 'livekit_agent_name': is required in mode 'chat'",
    ):
        assert fragment in message


@pytest.mark.parametrize(
    ("text", "fragment"),
    [
        ("suite: x\nagent: 1\nscenarios: [0]\n", "key 'scenarios': [0] must be a list of integer ids"),
        ("suite: x\nagent: 1\nscenarios: [1]\ncekura_conn_id: null\n", "key 'cekura_conn_id': None must be"),
        ("suite: x\nagent: 1\nscenarios: [1]\nschedule: 'every day'\n", "key 'schedule': 'every day' is not"),
    ],
)
def test_values_airflow_would_reject_later_are_named_with_file_and_key(
    tmp_path: Path, text: str, fragment: str
) -> None:
    with pytest.raises(SuiteConfigError, match=r"bad\.yaml") as info:
        load_suite_file(write(tmp_path, text))
    assert fragment in str(info.value)


def test_max_runs_guards_a_suite_and_its_dag(monkeypatch: pytest.MonkeyPatch) -> None:
    """Issue 11 items 13/14: max_runs per suite; the load honours the suite's retries; warehouse pre-flight."""
    from cekura_livekit.regression_dag import build_regression_dag
    from cekura_livekit.suites import SuiteConfigError, parse_suite

    big = {"suite": "big", "agent": 101, "scenarios": [1, 2, 3], "frequency": 100}
    with pytest.raises(SuiteConfigError, match=r"big.yaml: key 'max_runs': This batch would place 300 runs"):
        parse_suite(big, "big.yaml")
    suite = parse_suite({**big, "max_runs": 300, "retries": 4}, "big.yaml")
    monkeypatch.setenv("CEKURA_WAREHOUSE_CONN_ID", "wh_somewhere")
    dag = build_regression_dag(suite)
    run, load = dag.get_task("run_scenarios"), dag.get_task("load_results")
    assert load.retries == 4  # was hard-coded to 2
    assert run.max_runs == 300
    assert run.warehouse_conn_id == "wh_somewhere"  # checked before submitting
    assert run.timeout is not None
