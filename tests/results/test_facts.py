"""The run facts that explain a change (issue 19 item 3), read as Cekura's Run object names them."""

from __future__ import annotations

import pytest

from cekura_livekit.results.frames import extract, version_label

TURNS = [
    {"role": "Main Agent", "content": "Hello"},
    {"role": "Testing Agent", "content": "Hi"},
    {"role": "Main Agent", "content": "How can I help?"},
    {"role": "Testing Agent", "content": "Bye"},
]


def _result(**run: object) -> dict[str, object]:
    base = {"id": 1, "scenario": 5, "status": "completed", "success": True, "duration": "02:00"}
    return {"id": 9, "agent": 101, "agent_version": "2026.11.1", "runs": [{**base, **run}]}


def test_voice_run_facts() -> None:
    ex = extract(
        _result(
            agent_version={"id": 9001, "version": "2026.11.1"},
            voice_recording_url="https://rec/1.wav",
            transcript="Main Agent: Hello",
            provider_call_id="call_abc123",
            trace_id="ab" * 16,
            evaluation={"metrics": [{"id": i, "eval_type": "binary", "passed": True} for i in range(5)]},
        )
    )
    run = ex.runs.iloc[0]
    assert run["agent_version"] == "2026.11.1"
    assert run["voice_recording_url"] == "https://rec/1.wav"
    assert bool(run["has_transcript"]) is True
    assert run["provider_call_id"] == "call_abc123"
    assert run["credits"] == pytest.approx(11.0)  # Cekura's own example: 2 min x 5 + 5 metrics x 0.2
    assert ex.results.iloc[0]["agent_version"] == "2026.11.1"


def test_chat_run_credits_count_the_testing_agent_messages() -> None:
    ex = extract(
        {**_result(transcript_object=TURNS, run_as_text=True, duration=None), "run_as_text": True},
        mode="chat",
    )
    assert ex.runs.iloc[0]["credits"] == pytest.approx(2 * 0.5)


def test_unknown_and_unfinished_facts_stay_null() -> None:
    ex = extract(_result(status="running", success=None, voice_recording_url="", provider_call_id=""))
    run = ex.runs.iloc[0]
    assert run["credits"] is None or run.isna()["credits"]
    assert run.isna()["has_transcript"]  # the payload does not say
    assert run.isna()["voice_recording_url"]
    assert run.isna()["provider_call_id"]
    assert version_label(None) is None
    assert version_label(17) == "17"
    assert version_label({"id": 4}) == "4"
