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


# ---------------------------------------------------------------------------------------- issues 20, 24, 18
GOOD = "suite: x\nagent: 1\nscenarios: [1, 2]\n"


@pytest.mark.parametrize(
    ("extra", "fragment"),
    [
        # 20.1: a preset typo passed ("only strings not starting with @ are checked") and killed every suite.
        ("schedule: '@dailly'\n", "key 'schedule': '@dailly' is not a preset Airflow knows"),
        ("schedule: '@dailly'\n", "did you mean '@daily'?"),
        ("schedule: '@reboot'\n", "key 'schedule': '@reboot'"),
        ("schedule: '@continuous'\n", "'@continuous' would start a new paid batch"),
        ("schedule: 'P1D'\n", "key 'schedule': 'P1D' is not a valid cron expression"),
        ("schedule: 5\n", "key 'schedule': 5 is not a schedule"),
        # 20.5: a quarantine id the suite does not run quarantined nothing, silently.
        ("quarantine: [3]\n", "key 'quarantine': [3] is not among the suite's scenarios [1, 2]"),
        # 24.8: options the mode does not allow passed the suite checks and raised while the DAG was built.
        (
            "mode: bring_your_own_rooms\nlivekit_agent_name: acme\npersonality_ids: [7]\n",
            "key 'personality_ids': personality_ids=[7] is only supported by mode 'managed'",
        ),
        ("mode: chat\nlivekit_agent_name: acme\ntest_profile_ids: [7]\n", "key 'test_profile_ids'"),
        # 24.7: a duplicated key kept the last value silently (frequency 2 became 100).
        ("frequency: 2\nfrequency: 100\n", "key 'frequency' appears twice (lines 4 and 5)"),
        ("poll_interval: .nan\n", "key 'poll_interval': nan must be a number"),
        ("timeout_minutes: .inf\n", "key 'timeout_minutes'"),
        ('description: "bad \\udc80 text"\n', "key 'description'"),
        ("agent: 100000000000000000000000\n", "key 'agent'"),
    ],
)
def test_what_slipped_through_is_now_this_files_problem(tmp_path: Path, extra: str, fragment: str) -> None:
    text = GOOD.replace("agent: 1\n", "") if extra.startswith("agent:") else GOOD
    with pytest.raises(SuiteConfigError) as info:
        load_suite_file(write(tmp_path, text + extra))
    assert fragment in str(info.value)
    assert str(info.value).startswith("bad.yaml: ")


@pytest.mark.parametrize(
    "schedule", ["@daily", "@hourly", "@once", "0 3 * * MON-FRI", "*/15 * * * *", "null"]
)
def test_schedules_airflow_accepts_are_accepted(tmp_path: Path, schedule: str) -> None:
    assert load_suite_file(write(tmp_path, GOOD + f"schedule: {schedule!r}\n".replace("'null'", "null")))


def test_yml_files_are_suites_too(tmp_path: Path) -> None:
    """20.5: `voice.yml` used to be ignored without a word; a file someone named so is meant as a suite."""
    write(tmp_path, "suite: a\nagent: 1\nscenarios: [1]\n", "a.yaml")
    write(tmp_path, "suite: b\nagent: 1\nscenarios: [1]\n", "b.yml")
    suites, errors = load_suites(tmp_path)
    assert sorted(s.suite for s in suites) == ["a", "b"]
    assert errors == []


def test_a_copied_file_does_not_take_the_original_suite(tmp_path: Path) -> None:
    """20.2: `a_copy_of_voice.yaml` sorts before `qa_support_voice.yaml`; the file named after the id keeps it."""
    from cekura_livekit.suites import load_suites_by_file

    write(tmp_path, "suite: qa_support_voice\nagent: 1\nscenarios: [1]\n", "qa_support_voice.yaml")
    write(tmp_path, "suite: qa_support_voice\nagent: 2\nscenarios: [2]\n", "a_copy_of_voice.yaml")
    suites, broken = load_suites_by_file(tmp_path)
    assert [(s.suite, s.source, s.agent) for s in suites] == [
        ("qa_support_voice", "qa_support_voice.yaml", 1)
    ]
    assert list(broken) == [tmp_path / "a_copy_of_voice.yaml"]
    assert (
        "a_copy_of_voice.yaml: key 'suite': 'qa_support_voice' is already used by qa_support_voice.yaml"
        in (broken[tmp_path / "a_copy_of_voice.yaml"])
    )


def test_max_credits_is_a_suite_key_the_operator_receives(tmp_path: Path) -> None:
    """Issue 19.4: the cost guard's budget is set per suite, checked when the file loads, and passed on."""
    suite = load_suite_file(
        write(tmp_path, "suite: x\nagent: 1\nscenarios: [1]\nmax_credits: 250\n", "x.yaml")
    )
    assert suite.max_credits == 250.0
    assert suite.run_arguments()["max_credits"] == 250.0
    with pytest.raises(SuiteConfigError, match="key 'max_credits': -1 must be a number"):
        load_suite_file(write(tmp_path, "suite: x\nagent: 1\nscenarios: [1]\nmax_credits: -1\n"))
