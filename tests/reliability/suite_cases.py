"""Bad suite files: first one file through the validator, then whole suite folders through the real DAG file.

The folder cases parse `dags/cekura_regression_suites.py` in a DagBag (what the dag-processor does) with
CEKURA_SUITES_DIR pointing at a folder holding one good suite (`s0.yaml`) and the bad file(s). The bad input
is measured by what the DagBag shows: an import error of the whole DAG file, or the good suite's DAG missing
or replaced, is a `Harm` (one file took another down); a placeholder DAG for the bad file is a refusal whose
message is its parse warning; anything else means the file was accepted, and the case says what it became.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from tests.reliability.case import Case, Env, Harm

AREA = "suite file"
FOLDER = "suite folder (DAG file)"
ROOT = Path(__file__).resolve().parents[2]
SUITE = "suite: s1\nagent: 101\nscenarios: [2001]\n"
GOOD_DESCRIPTION = "the good suite"
GOOD = f"suite: s0\nagent: 101\nscenarios: [2001]\ndescription: {GOOD_DESCRIPTION}\n"
COPY = GOOD.replace(GOOD_DESCRIPTION, "a copy")
GOOD_DAG = "cekura_regression_s0"
BYO = "mode: bring_your_own_rooms\nlivekit_agent_name: acme\n"
CHAT = "mode: chat\nlivekit_agent_name: acme\n"

SUITE_CASES: list[tuple[str, str, tuple[str, ...]]] = [
    ("frequency 250", SUITE + "frequency: 250\n", ("s1.yaml", "frequency", "250")),
    ("invalid cron", SUITE + "schedule: '61 * * * *'\n", ("s1.yaml", "schedule", "61 * * * *")),
    ("unknown key", SUITE + "frequncy: 2\n", ("s1.yaml", "frequncy")),
    ("missing agent", "suite: s1\nscenarios: [2001]\n", ("s1.yaml", "agent")),
    ("not YAML", "suite: [s1\n", ("s1.yaml", "line")),
    ("not a mapping", "- 1\n- 2\n", ("s1.yaml",)),
    ("scenario id 0", "suite: s1\nagent: 101\nscenarios: [0]\n", ("s1.yaml", "scenarios")),
    ("fail_on typo", SUITE + "fail_on: [infra]\n", ("s1.yaml", "fail_on", "infra")),
    ("start_date garbage", SUITE + "start_date: soon\n", ("s1.yaml", "start_date", "soon")),
    ("rate 80 instead of 0.8", SUITE + "min_success_rate: 80\n", ("s1.yaml", "min_success_rate", "80")),
    ("byo without agent name", SUITE + "mode: bring_your_own_rooms\n", ("s1.yaml", "livekit_agent_name")),
    (
        "above max_runs",
        SUITE.replace("[2001]", "[2001, 2002, 2003]") + "frequency: 100\n",
        ("s1.yaml", "max_runs"),
    ),
    ("two problems at once", SUITE + "frequency: 0\nretries: -1\n", ("frequency", "retries")),
    ("upper-case suite id", "suite: S1\nagent: 101\nscenarios: [2001]\n", ("s1.yaml", "suite", "S1")),
    ("connection id with spaces", SUITE + "cekura_conn_id: ' x '\n", ("s1.yaml", "cekura_conn_id")),
]


def _suite_file(text: str) -> Callable[[Env], Any]:
    def run(env: Env) -> Any:
        from cekura_livekit.suites import load_suite_file

        path = env.scratch("suite") / "s1.yaml"
        path.write_text(text)
        return load_suite_file(path).suite

    return run


def file_cases() -> list[Case]:
    return [Case(AREA, name, _suite_file(text), names) for name, text, names in SUITE_CASES]


# ------------------------------------------------------------------------------------------ folders
def _parse_folder(env: Env, files: dict[str, str | bytes]) -> Any:
    """Write the folder, parse the suite DAG file like the dag-processor, and judge what it shows."""
    from airflow.dag_processing.dagbag import DagBag

    folder = env.scratch("suites")
    for name, content in {"s0.yaml": GOOD, **files}.items():
        target = folder / name
        if isinstance(content, bytes):
            target.write_bytes(content)
        else:
            target.write_text(content, encoding="utf-8", errors="surrogatepass")
    env.setenv("CEKURA_SUITES_DIR", str(folder))
    bag = DagBag(dag_folder=str(ROOT / "dags" / "cekura_regression_suites.py"))
    if bag.import_errors:
        error = next(iter(bag.import_errors.values())).strip().splitlines()[-1]
        raise Harm(f"the DAG file failed to import, so every suite's DAG is gone: {error}")
    good = bag.dags.get(GOOD_DAG)
    if good is None or _broken(good):
        raise Harm(f"the good suite s0.yaml lost its DAG: {good.description if good else 'no DAG'}")
    # The description names the file it was read from (issue 20.8): "<description> (from <path>)".
    if (good.description or "").split(" (from ")[0] != GOOD_DESCRIPTION:
        raise Harm(f"the good suite's DAG {GOOD_DAG} is now built from another file ({good.description!r})")
    others = {dag_id: dag for dag_id, dag in bag.dags.items() if dag_id != GOOD_DAG}
    problems = [_problem(dag) for dag in others.values() if _broken(dag)]
    if problems:
        raise ValueError("; ".join(problems))
    if not others:
        return "ignored: no DAG, no warning"
    return {dag_id: _what(dag) for dag_id, dag in others.items()}


def _broken(dag: Any) -> bool:
    return "broken-suite" in (dag.tags or ())


def _problem(dag: Any) -> str:
    """The placeholder's message: the problem block of its doc (what the UI shows), else its description."""
    doc = dag.doc_md or ""
    return doc.split("```")[1].strip() if doc.count("```") >= 2 else str(dag.description)


def _what(dag: Any) -> str:
    """A short description of a built suite DAG (what the bad file silently became)."""
    run = dag.task_dict["run_scenarios"]
    extras = {k: getattr(run, k) for k in ("personality_ids", "quarantine", "mode") if getattr(run, k, None)}
    schedule = getattr(dag.timetable, "description", None) or type(dag.timetable).__name__
    return f"schedule {schedule!r}, frequency {dag.params['frequency']!r}, {extras}"


def _folder(files: dict[str, str | bytes]) -> Callable[[Env], Any]:
    return lambda env: _parse_folder(env, files)


#: (name, files besides the good s0.yaml, what a clear message names, issue)
FOLDER_CASES: list[tuple[str, dict[str, str | bytes], tuple[str, ...], str]] = [
    (
        "duplicated key (frequency 2, then 100)",
        {"s1.yaml": SUITE + "frequency: 2\nfrequency: 100\n"},
        ("s1.yaml", "frequency"),
        "24.7",
    ),
    (
        "schedule '@dailly'",
        {"s1.yaml": SUITE + "schedule: '@dailly'\n"},
        ("s1.yaml", "schedule", "@dailly"),
        "20.1",
    ),
    ("schedule 'every day'", {"s1.yaml": SUITE + "schedule: every day\n"}, ("s1.yaml", "schedule"), ""),
    ("schedule '* * *' (3 fields)", {"s1.yaml": SUITE + "schedule: '* * *'\n"}, ("s1.yaml", "schedule"), ""),
    ("schedule as a number", {"s1.yaml": SUITE + "schedule: 5\n"}, ("s1.yaml", "schedule"), ""),
    (
        "personality_ids in bring_your_own_rooms",
        {"s1.yaml": SUITE + BYO + "personality_ids: [1]\n"},
        ("s1.yaml", "personality_ids"),
        "24.8",
    ),
    (
        "personality_ids in chat",
        {"s1.yaml": SUITE + CHAT + "personality_ids: [1]\n"},
        ("s1.yaml", "personality_ids"),
        "24.8",
    ),
    (
        "test_profile_ids in chat",
        {"s1.yaml": SUITE + CHAT + "test_profile_ids: [301]\n"},
        ("s1.yaml", "test_profile_ids"),
        "24.8",
    ),
    (
        "quarantine id not in the suite",
        {"s1.yaml": SUITE + "quarantine: [2999]\n"},
        ("s1.yaml", "quarantine", "2999"),
        "20.5",
    ),
    ("a .yml suite file", {"s1.yml": SUITE}, ("s1.yml",), "20.5"),
    ("copy sorted first, same suite id", {"a_copy_of_s0.yaml": COPY}, ("a_copy_of_s0.yaml", "suite"), "20.2"),
    ("copy sorted last, same suite id", {"z_copy_of_s0.yaml": COPY}, ("z_copy_of_s0.yaml", "suite"), ""),
    ("empty file", {"s1.yaml": ""}, ("s1.yaml",), ""),
    ("only a comment", {"s1.yaml": "# TODO\n"}, ("s1.yaml",), ""),
    ("list at top level", {"s1.yaml": "- suite: s1\n  agent: 101\n"}, ("s1.yaml",), ""),
    ("binary file", {"s1.yaml": bytes(range(256))}, ("s1.yaml",), "20.1"),
    ("UTF-16 file", {"s1.yaml": SUITE.encode("utf-16")}, ("s1.yaml",), "20.1"),
    ("frequency '²'", {"s1.yaml": SUITE + "frequency: '²'\n"}, ("s1.yaml", "frequency"), ""),
    ("frequency .nan", {"s1.yaml": SUITE + "frequency: .nan\n"}, ("s1.yaml", "frequency"), ""),
    ("poll_interval .inf", {"s1.yaml": SUITE + "poll_interval: .inf\n"}, ("s1.yaml", "poll_interval"), ""),
    (
        "min_success_rate .nan",
        {"s1.yaml": SUITE + "min_success_rate: .nan\n"},
        ("s1.yaml", "min_success_rate"),
        "24.7",
    ),
    (
        "agent as a string '101'",
        {"s1.yaml": "suite: s1\nagent: '101'\nscenarios: [2001]\n"},
        ("s1.yaml", "agent"),
        "",
    ),
    ("retries: yes (a boolean)", {"s1.yaml": SUITE + "retries: yes\n"}, ("s1.yaml", "retries"), ""),
    (
        "description with a lone surrogate",
        {"s1.yaml": SUITE + 'description: "nightly \\ud800"\n'},
        ("s1.yaml", "description"),
        "24.7",
    ),
    (
        "agent name with a control character",
        {"s1.yaml": SUITE + BYO.replace("acme", '"ac\\x1bme"')},
        ("s1.yaml", "livekit_agent_name"),
        "24.7",
    ),
    ("tag with a newline", {"s1.yaml": SUITE + 'tags: ["a\\nb"]\n'}, ("s1.yaml", "tags"), "24.7"),
    (
        "suite id in a non-Latin script",
        {"s1.yaml": "suite: ночь\nagent: 101\nscenarios: [2001]\n"},
        ("s1.yaml", "suite"),
        "",
    ),
    (
        "YAML anchor bomb",
        {"s1.yaml": SUITE + "description: &a [x, x, x]\ntags: [*a, *a]\n"},
        ("s1.yaml", "tags"),
        "",
    ),
]


#: Folder cases whose acceptance is the intended behaviour, with why (generated into the doc).
ACCEPTED_BY_DESIGN = {
    "a .yml suite file": "loaded as a suite (issue 20.5's choice): whoever named a file .yml meant it as one",
}


def folder_cases() -> list[Case]:
    return [
        Case(
            FOLDER,
            name,
            _folder(files),
            names,
            issue="" if name in ACCEPTED_BY_DESIGN else issue,
            accepted_ok=ACCEPTED_BY_DESIGN.get(name, ""),
        )
        for name, files, names, issue in FOLDER_CASES
    ]


def suite_cases() -> list[Case]:
    return [*file_cases(), *folder_cases()]
