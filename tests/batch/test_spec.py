"""batch/spec.py, the one home of the input rules (issue 18.2): values that slipped through before (issue 24.7).

Each case failed on the old code: NaN and infinity passed every `<`/`>` bound, `'²'.isdigit()` is True but
`int('²')` raised a bare ValueError naming no field, `deferrable='false'` was never checked (a truthy
string), and a lone surrogate reached the load as a bare UnicodeEncodeError.
"""

from __future__ import annotations

import math
from datetime import timedelta
from typing import Any

import pytest

from cekura_livekit.batch.spec import MAX_FREQUENCY, build_spec, positive_id, seconds, whole
from cekura_livekit.models import SUBMISSION_MODES

BYO = {"mode": "bring_your_own_rooms", "livekit_conn_id": "livekit_default", "livekit_agent_name": "acme"}


def _spec(**raw: Any) -> Any:
    return build_spec({"scenarios": [2001], **raw}, strict=True)


@pytest.mark.parametrize(
    ("raw", "field", "value"),
    [
        ({"poll_interval": math.nan}, "poll_interval", "nan"),
        ({"poll_interval": math.inf}, "poll_interval", "inf"),
        ({"timeout": math.nan}, "timeout", "nan"),
        ({"timeout": math.inf}, "timeout", "inf"),
        ({"timeout": timedelta.max}, "timeout", None),  # finite, kept: a deadline far away is a deadline
        ({"deferrable": "false"}, "deferrable", "'false'"),
        ({"deferrable": "true"}, "deferrable", "'true'"),
        ({"deferrable": 1}, "deferrable", "1"),
        ({"agent": "²"}, "agent", "'²'"),
        ({"agent": "٣"}, "agent", "'٣'"),  # int('٣') == 3: an Arabic-Indic digit is not an id anyone typed
        ({"scenarios": ["²"]}, "scenarios", "'²'"),
        ({"scenarios": "1,²"}, "scenarios", "'²'"),
        ({"frequency": "²"}, "frequency", "'²'"),
        ({"max_runs": "١٠"}, "max_runs", "'١٠'"),
        ({"name": "nightly \udc80"}, "name", "nightly"),
        ({**BYO, "livekit_agent_name": "acme\ud800"}, "livekit_agent_name", "acme"),
        ({"cekura_conn_id": "cekura\udcff"}, "cekura_conn_id", "cekura"),
        ({"hook_params": {"retry_delay": math.nan}}, "retry_delay", "nan"),
    ],
)
def test_bad_values_are_refused_naming_field_and_value(
    raw: dict[str, Any], field: str, value: str | None
) -> None:
    if value is None:
        assert _spec(**raw).timeout is not None
        return
    with pytest.raises(ValueError) as info:
        _spec(**raw)
    message = str(info.value)
    assert field in message
    assert value in message
    assert any(w in message for w in ("pass", "must", "retype", "use"))


def test_good_values_still_pass() -> None:
    spec = _spec(agent="101", frequency="3", poll_interval=0.5, timeout=timedelta(minutes=5), deferrable=True)
    assert (spec.agent, spec.frequency, spec.poll_interval, spec.timeout, spec.deferrable) == (
        101,
        3,
        0.5,
        300.0,
        True,
    )
    assert _spec(timeout=None).timeout is None  # None still means: no deadline
    assert whole("frequency", MAX_FREQUENCY, 1, MAX_FREQUENCY) == MAX_FREQUENCY


def test_scalar_helpers_refuse_what_int_would_crash_on() -> None:
    with pytest.raises(ValueError, match=r"agent='²' is not a positive integer id"):
        positive_id("agent", "²", fix="pass the agent id")
    with pytest.raises(ValueError, match=r"poll_interval=nan must be a positive, finite number"):
        seconds("poll_interval", math.nan)


@pytest.mark.parametrize("name", list(SUBMISSION_MODES))
def test_mode_rules_read_the_mode_object(name: str) -> None:
    """Which options a mode accepts comes from its SubmissionMode fields, not from comparing names."""
    mode = SUBMISSION_MODES[name]
    base = {"mode": name, "livekit_conn_id": "lk", "livekit_agent_name": "acme"}
    spec = _spec(**base)
    assert spec.submission_mode is mode
    assert spec.own_rooms is mode.owns_rooms
    if mode.accepts_v2_options:
        assert _spec(**base, personality_ids=[1]).personality_ids == [1]
    else:
        with pytest.raises(ValueError, match=rf"personality_ids=\[1\] is only supported by mode .*{name!r}"):
            _spec(**base, personality_ids=[1])
    entry = [{"scenario": 1, "publish_data_message": "hi"}]
    if mode.accepts_publish_data_message:
        assert _spec(**{**base, "scenarios": entry}).scenarios[0]["publish_data_message"] == "hi"
    else:
        with pytest.raises(ValueError, match="publish_data_message"):
            _spec(**{**base, "scenarios": entry})
    if mode.owns_rooms:
        with pytest.raises(ValueError, match=r"livekit_agent_name is required in mode"):
            _spec(**{**base, "livekit_agent_name": None})


def test_an_id_too_large_to_store_is_refused() -> None:
    with pytest.raises(ValueError, match=r"agent=9223372036854775808 is not a positive integer id"):
        _spec(agent=2**63)
    assert _spec(agent=2**63 - 1).agent == 2**63 - 1
