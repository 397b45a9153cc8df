"""`SourceRules`: steps 3–5 of the source rule (CI/API/dashboard name conventions, else unknown), after what
the payload itself says; a bad pattern is refused at construction naming the field and an example."""

from __future__ import annotations

from typing import Any

import pytest

from cekura_livekit.results.source import AIRFLOW, API, CI, CRON, DASHBOARD, UNKNOWN
from cekura_livekit.sync.source import DEFAULT_CI_PATTERN, SourceRules


@pytest.mark.parametrize(
    ("name", "source"),
    [
        ("ci: smoke on PR 12", CI),
        ("CI-nightly", CI),
        ("ci regression", CI),
        ("Run from GitHub Actions #41", CI),
        ("github-action deploy check", CI),
        ("circus test", UNKNOWN),  # "ci" must be followed by ":", "-" or " "
        ("nightly", UNKNOWN),
        ("", UNKNOWN),
    ],
)
def test_the_default_ci_convention(name: str, source: str) -> None:
    assert SourceRules().classify({"name": name}) == source


@pytest.mark.parametrize(
    ("result", "source"),
    [
        ({"is_cronjob": True, "name": "ci: smoke"}, CRON),  # what Cekura records wins over a name convention
        ({"name": "ci: x · airflow nightly.run @ manual__1 · prod"}, AIRFLOW),
        ({"name": None}, UNKNOWN),
        ({}, UNKNOWN),
    ],
)
def test_the_payloads_own_word_comes_first(result: dict[str, Any], source: str) -> None:
    assert SourceRules().classify(result) == source


def test_api_and_dashboard_conventions_are_opt_in_and_ci_is_tried_first() -> None:
    rules = SourceRules(api_pattern=r"^script:", dashboard_pattern=r"(?i)^manual")
    assert rules.classify({"name": "script: load test"}) == API
    assert rules.classify({"name": "Manual check"}) == DASHBOARD
    assert rules.classify({"name": "ci: script: both"}) == CI
    assert SourceRules().classify({"name": "script: load test"}) == UNKNOWN


def test_no_ci_pattern_turns_ci_detection_off() -> None:
    assert SourceRules(ci_pattern=None).classify({"name": "ci: smoke"}) == UNKNOWN
    assert SourceRules(ci_pattern="").classify({"name": "ci: smoke"}) == UNKNOWN


@pytest.mark.parametrize("field", ["ci_pattern", "api_pattern", "dashboard_pattern"])
def test_a_bad_pattern_is_refused_naming_the_field_and_an_example(field: str) -> None:
    with pytest.raises(ValueError) as caught:
        SourceRules(**{field: "(unclosed"})
    message = str(caught.value)
    assert message.startswith(f"{field}='(unclosed' is not a valid regular expression")
    assert repr(DEFAULT_CI_PATTERN) in message
