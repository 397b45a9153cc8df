"""Every bad input is a ValueError naming the field, the value and the fix, before any network call."""

from __future__ import annotations

from typing import Any

import pytest

from cekura_livekit.operators.run_scenarios import CekuraRunLiveKitScenariosOperator
from tests.support.task_context import MemoryStateStore, make_context

BYO = {"mode": "bring_your_own_rooms", "livekit_conn_id": "livekit_default", "livekit_agent_name": "acme"}

CASES: list[tuple[str, dict[str, Any], str]] = [
    ("empty scenarios", {"scenarios": []}, "scenarios"),
    ("non-integer id", {"scenarios": [2001, "abc"]}, "scenarios"),
    ("float id", {"scenarios": [1.5]}, "scenarios"),
    ("bool id", {"scenarios": [True]}, "scenarios"),
    ("dict without scenario", {"scenarios": [{"publish_data_message": "x"}]}, "scenario"),
    ("dict with unknown key", {"scenarios": [{"scenario": 1, "frequency": 2}]}, "unknown keys"),
    ("frequency 0", {"frequency": 0}, "frequency"),
    ("frequency 101", {"frequency": 101}, "frequency"),
    ("frequency text", {"frequency": "many"}, "frequency"),
    ("unknown mode", {"mode": "cloud"}, "mode"),
    (
        "byo without livekit conn",
        {"mode": "bring_your_own_rooms", "livekit_agent_name": "a"},
        "livekit_conn_id",
    ),
    ("chat without livekit conn", {"mode": "chat", "livekit_agent_name": "a"}, "livekit_conn_id"),
    (
        "byo without agent name",
        {"mode": "bring_your_own_rooms", "livekit_conn_id": "lk"},
        "livekit_agent_name",
    ),
    ("v2-only personality_ids", {**BYO, "personality_ids": [1]}, "personality_ids"),
    ("v2-only test_profile_ids", {**BYO, "test_profile_ids": [301]}, "test_profile_ids"),
    ("v2-only mock_tool_names", {**BYO, "mock_tool_names": ["lookup"]}, "mock_tool_names"),
    ("v2-only concurrency_limit", {**BYO, "concurrency_limit": 2}, "concurrency_limit"),
    ("v2-only livekit_data", {**BYO, "livekit_data": {"agent_name": "x"}}, "livekit_data"),
    (
        "publish_data_message in voice byo",
        {**BYO, "scenarios": [{"scenario": 1, "publish_data_message": 1}]},
        "publish_data_message",
    ),
    ("rate above 1", {"min_success_rate": 90}, "min_success_rate"),
    ("rate below 0", {"min_success_rate": -0.1}, "min_success_rate"),
    ("rate not a number", {"min_success_rate": "high"}, "min_success_rate"),
    ("unknown fail_on", {"fail_on": ["infra_error", "flaky"]}, "fail_on"),
    ("agent not an id", {"agent": "acme"}, "agent"),
    ("personality_ids not ints", {"personality_ids": ["x"]}, "personality_ids"),
    ("livekit_data unknown key", {"livekit_data": {"room": "x"}}, "livekit_data"),
    ("mock tools not strings", {"mock_tool_names": [1]}, "mock_tool_names"),
    ("hook_params unknown", {"hook_params": {"retries": 3}}, "hook_params"),
    ("poll interval 0", {"poll_interval": 0}, "poll_interval"),
    ("negative timeout", {"timeout": -5}, "timeout"),
    ("room with one participant", {**BYO, "room_max_participants": 1}, "room_max_participants"),
    # issue 11 item 11: each refused before any side effect, naming the field and the value
    ("negative token_ttl", {**BYO, "token_ttl": -60}, "token_ttl"),
    ("token_ttl as text", {**BYO, "token_ttl": "1h"}, "token_ttl"),
    ("agent 0", {"agent": 0}, "agent"),
    ("scenario id 0", {"scenarios": [0]}, "scenarios"),
    ("wait_for_completion as text", {"wait_for_completion": "false"}, "wait_for_completion"),
    ("cekura_conn_id None", {"cekura_conn_id": None}, "cekura_conn_id"),
    ("retry_limit not a number", {"hook_params": {"retry_limit": "five"}}, "retry_limit"),
    ("room_concurrency as text", {**BYO, "room_concurrency": "many"}, "room_concurrency"),
    ("negative poll interval", {"poll_interval": -1}, "poll_interval"),
    ("negative hook timeout", {"hook_params": {"timeout": -3}}, "timeout"),
    ("room_empty_timeout -1", {**BYO, "room_empty_timeout": -1}, "room_empty_timeout"),
    ("max_runs 0", {"max_runs": 0}, "max_runs"),
    ("batch above max_runs", {"scenarios": [1, 2, 3], "frequency": 100}, "max_runs"),
    (
        "personalities multiply runs",
        {"personality_ids": [1, 2], "frequency": 100, "max_runs": 150},
        "max_runs",
    ),
    ("warehouse conn with spaces", {"warehouse_conn_id": " wh "}, "warehouse_conn_id"),
]


def _make(**kwargs: Any) -> CekuraRunLiveKitScenariosOperator:
    return CekuraRunLiveKitScenariosOperator(**{"task_id": "t", "scenarios": [2001], "agent": 101, **kwargs})


@pytest.mark.parametrize(("case", "kwargs", "field"), CASES, ids=[c[0] for c in CASES])
def test_bad_input_fails_at_construction(case: str, kwargs: dict[str, Any], field: str) -> None:
    with pytest.raises(ValueError, match=field) as err:
        _make(**kwargs)
    # The message names the offending value and says what to do.
    offending = kwargs[field] if field in kwargs else kwargs.get("scenarios", kwargs.get("livekit_conn_id"))
    if offending not in (None, "lk") and not isinstance(offending, list | dict):
        assert repr(offending) in str(err.value)
    assert any(w in str(err.value) for w in ("pass", "use", "must", "allowed", "Remove", "outside", "needs"))


@pytest.mark.parametrize(
    ("field", "rendered"),
    [
        ("scenarios", "[]"),
        ("scenarios", "2001, x"),
        ("frequency", "0"),
        ("min_success_rate", "1.5"),
        ("agent", "acme"),
    ],
)
def test_templated_values_are_validated_after_rendering_before_any_call(
    field: str, rendered: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Jinja values pass construction; after rendering, execute rejects them before touching a connection.

    No connection is configured here: reaching the network (or even the connection lookup) would raise
    a different error than the ValueError we expect.
    """
    from cekura_livekit.compat import AirflowFailException

    op = _make(**{field: "{{ params.value }}"})
    setattr(op, field, rendered)  # what template rendering does
    context = make_context(store=MemoryStateStore())
    # A configuration error is permanent: the task fails without retry (issue 11 item 1).
    with pytest.raises(AirflowFailException, match=field) as err:
        op.execute(context)
    assert isinstance(err.value.__cause__, ValueError)


def test_digit_strings_from_templates_are_accepted_as_numbers() -> None:
    """retry_limit='5' (a rendered template) is read as 5, not refused and not silently ignored."""
    spec = _make(hook_params={"retry_limit": "5"}, frequency="3")._spec(strict=True)
    assert spec.hook_params["retry_limit"] == 5
    assert spec.frequency == 3


def test_the_default_deadline_is_finite() -> None:
    """Issue 11 item 14: without a timeout argument a batch that never finishes must not wait forever."""
    spec = _make()._spec(strict=True)
    assert spec.timeout is not None
    assert 0 < spec.timeout <= 24 * 3600
    assert spec.max_runs == 200


def test_templated_scenarios_json_string_is_accepted() -> None:
    op = _make(scenarios="{{ params.ids }}")
    op.scenarios = "[2001, 2002]"
    spec = op._spec(strict=True)
    assert [s["scenario"] for s in spec.scenarios] == [2001, 2002]
    op.scenarios = "2001,2002"
    assert [s["scenario"] for s in op._spec(strict=True).scenarios] == [2001, 2002]


def test_byo_frequency_repeats_scenarios() -> None:
    """v1 has no frequency field: own-room modes repeat each scenario element instead."""
    from cekura_livekit.batch.identity import TaskIdentity
    from cekura_livekit.batch.rooms import plan_slots

    op = _make(**BYO, scenarios=[2001, 2002], frequency=3)
    spec = op._spec(strict=True)
    slots = plan_slots(TaskIdentity("d", "t", "r"), 1, spec.scenarios, spec.frequency)
    assert [s.scenario_id for s in slots] == [2001, 2002] * 3
    assert len({s.room for s in slots}) == 6
    assert slots == plan_slots(TaskIdentity("d", "t", "r"), 1, spec.scenarios, spec.frequency)
    other = plan_slots(TaskIdentity("d", "t", "r", map_index=0), 1, spec.scenarios, spec.frequency)
    assert not {s.room for s in slots} & {s.room for s in other}


def test_deferrable_default_follows_config(monkeypatch: pytest.MonkeyPatch) -> None:
    assert _make().deferrable is False  # [operators] default_deferrable defaults to False
