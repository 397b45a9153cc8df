"""LiveKitHook with the real livekit-api client against the LiveKit stand-in."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest
from livekit.api import TokenVerifier

from cekura_livekit.hooks.livekit import LiveKitError, LiveKitHook, RoomSpec
from cekura_sandbox import Sandbox


def test_rooms_dispatch_and_idempotent_delete(
    cekura_sandbox: Sandbox, cekura_sandbox_connections: dict
) -> None:
    hook = LiveKitHook()
    sids = hook.create_rooms([RoomSpec("r1", 60, 3, '{"a": 1}'), RoomSpec("r2")], concurrency=2)
    assert len(sids) == 2
    assert all(s.startswith("RM_") for s in sids)
    assert cekura_sandbox.livekit_rooms["r1"]["metadata"] == '{"a": 1}'
    assert cekura_sandbox.livekit_rooms["r1"]["empty_timeout"] == 60
    assert hook.create_rooms([RoomSpec("r1")]) == sids[:1]  # existing name: same room
    hook.dispatch_agents("acme-support", [("r1", {"scenario_id": 1, "run_id": 2})])
    assert hook.list_dispatched_rooms(["r1", "r2"]) == {"r1"}
    assert sorted(hook.list_rooms()) == ["r1", "r2"]
    assert hook.delete_rooms(["r1", "r2", "never-existed"]) == 2  # 404 counts as already gone
    assert cekura_sandbox.livekit_rooms == {}


def test_join_token_is_scoped_and_short_lived(
    cekura_sandbox: Sandbox, cekura_sandbox_connections: dict
) -> None:
    token = LiveKitHook().mint_join_token("room-x", identity="tester", ttl=timedelta(minutes=5))
    claims = TokenVerifier(cekura_sandbox.livekit_api_key, cekura_sandbox.livekit_api_secret).verify(token)
    assert claims.video.room == "room-x"
    assert claims.video.room_join
    assert not claims.video.room_create
    assert claims.identity == "tester"


def test_stray_livekit_token_env_does_not_win(
    cekura_sandbox: Sandbox, cekura_sandbox_connections: dict, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("LIVEKIT_TOKEN", "not-a-valid-token")
    monkeypatch.setenv("LIVEKIT_API_SECRET", "wrong-secret-wrong-secret-wrong-secret")
    LiveKitHook().create_rooms([RoomSpec("env-room")])
    assert "env-room" in cekura_sandbox.livekit_rooms


def test_test_connection(
    cekura_sandbox: Sandbox, cekura_sandbox_connections: dict, monkeypatch: pytest.MonkeyPatch
) -> None:
    ok, message = LiveKitHook().test_connection()
    assert ok, message
    bad = json.loads(cekura_sandbox_connections["AIRFLOW_CONN_LIVEKIT_DEFAULT"])
    bad["password"] = "x" * 40
    monkeypatch.setenv("AIRFLOW_CONN_LIVEKIT_BAD", json.dumps(bad))
    ok, message = LiveKitHook("livekit_bad").test_connection()
    assert not ok
    assert "401" in message
    assert "x" * 40 not in message


def test_failures_name_the_call_not_the_secret(
    cekura_sandbox: Sandbox, cekura_sandbox_connections: dict
) -> None:
    # A persistent failure (one 500 alone is retried away: see the next test).
    cekura_sandbox.inject_fault(path_contains="CreateRoom", kind="500", times=100, server="livekit")
    with pytest.raises(LiveKitError, match="CreateRoom failed for 1 of 1") as err:
        LiveKitHook().create_rooms([RoomSpec("boom")])
    assert cekura_sandbox.livekit_api_secret not in str(err.value)


def test_transient_errors_are_retried_and_a_lost_dispatch_is_not_doubled(
    cekura_sandbox: Sandbox, cekura_sandbox_connections: dict
) -> None:
    hook = LiveKitHook()
    cekura_sandbox.inject_fault(path_contains="CreateRoom", kind="503", times=1, server="livekit")
    # A day of simulated time (~2.4 min at the fixture's 600x): the default 300 s is half a real second,
    # after which the agent-only room closes and takes the landed dispatch with it (seen under CI load).
    hook.create_rooms([RoomSpec("flaky", empty_timeout=86_400)])
    assert "flaky" in cekura_sandbox.livekit_rooms
    # The dispatch lands but its answer is lost: the retry finds it instead of sending a second agent.
    cekura_sandbox.inject_fault(path_contains="CreateDispatch", kind="drop", times=1, server="livekit")
    (dispatch_id,) = hook.dispatch_agents("acme-support", [("flaky", {"scenario_id": 1, "run_id": 2})])
    assert [d["id"] for d in cekura_sandbox.livekit_dispatches] == [dispatch_id]
    assert cekura_sandbox.count("POST", "CreateDispatch", server="livekit") == 1


def test_connection_without_credentials_is_a_clear_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(
        "AIRFLOW_CONN_LK_EMPTY", json.dumps({"conn_type": "livekit", "host": "wss://x.livekit.cloud"})
    )
    with pytest.raises(ValueError, match="API key in its login"):
        _ = LiveKitHook("lk_empty").credentials
    assert LiveKitHook.get_ui_field_behaviour()["relabeling"]["password"] == "API secret"


def _conn_with(monkeypatch: pytest.MonkeyPatch, connections: dict, conn_id: str, **fields: str) -> str:
    conn = json.loads(connections["AIRFLOW_CONN_LIVEKIT_DEFAULT"])
    conn.update(fields)
    monkeypatch.setenv(f"AIRFLOW_CONN_{conn_id.upper()}", json.dumps(conn))
    return conn_id


@pytest.mark.parametrize("mistake", ["wrong_secret", "swapped"])
def test_refused_credentials_are_permanent_and_name_the_connection(
    cekura_sandbox: Sandbox,
    cekura_sandbox_connections: dict,
    monkeypatch: pytest.MonkeyPatch,
    mistake: str,
) -> None:
    """Issue 20 item 7: a wrong secret was `ServerError(code=unknown, status=401)`, classed transient and retried."""
    from cekura_livekit.batch.errors import is_permanent
    from cekura_livekit.hooks.livekit import LiveKitAuthError

    key, secret = cekura_sandbox.livekit_api_key, cekura_sandbox.livekit_api_secret
    fields = {"password": "s" * 40} if mistake == "wrong_secret" else {"login": secret, "password": key}
    conn_id = _conn_with(monkeypatch, cekura_sandbox_connections, "lk_wrong", **fields)
    for call in (
        lambda hook: hook.check_credentials(),
        lambda hook: hook.create_rooms([RoomSpec("never")]),
    ):
        with pytest.raises(LiveKitAuthError) as err:
            call(LiveKitHook(conn_id))
        assert is_permanent(err.value)
        message = str(err.value)
        for part in ("'lk_wrong'", "401", "swapped"):
            assert part in message
        assert secret not in message
        assert "s" * 40 not in message
    assert cekura_sandbox.livekit_rooms == {}
    # One probe, not four: a refused credential is not retried inside the hook either.
    assert cekura_sandbox.count("POST", "ListRooms", server="livekit") == 1


def test_outage_is_not_a_credential_error(cekura_sandbox: Sandbox, cekura_sandbox_connections: dict) -> None:
    from cekura_livekit.batch.errors import is_permanent

    cekura_sandbox.inject_fault(path_contains="ListRooms", kind="503", times=100, server="livekit")
    with pytest.raises(Exception) as err:
        LiveKitHook().check_credentials()
    assert not is_permanent(err.value)


def test_failed_rooms_are_listed_on_the_error(
    cekura_sandbox: Sandbox, cekura_sandbox_connections: dict
) -> None:
    hook = LiveKitHook()
    hook.create_rooms([RoomSpec("a", 86_400), RoomSpec("b", 86_400)])
    cekura_sandbox.inject_fault(path_contains="DeleteRoom", kind="500", times=100, server="livekit")
    with pytest.raises(LiveKitError) as err:
        hook.delete_rooms(["a", "b"])
    assert sorted(err.value.failed_rooms) == ["a", "b"]


async def test_async_calls_also_raise_the_permanent_error(
    cekura_sandbox: Sandbox, cekura_sandbox_connections: dict, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The async API (triggers, or callers with their own loop) classifies a refused key the same way."""
    from cekura_livekit.hooks.livekit import LiveKitAuthError

    conn_id = _conn_with(monkeypatch, cekura_sandbox_connections, "lk_async", password="t" * 40)
    hook = LiveKitHook(conn_id)
    with pytest.raises(LiveKitAuthError, match="'lk_async'"):
        await hook.acreate_rooms([RoomSpec("never")])
    with pytest.raises(LiveKitAuthError):
        await hook.alist_rooms()
    with pytest.raises(LiveKitAuthError):
        await hook.alist_dispatched_rooms(["a"])
    assert cekura_sandbox.livekit_rooms == {}


# ---- issue 21.5/6/8 ----------------------------------------------------------------------------------------
def test_probe_finds_a_served_agent_and_remembers_it(
    cekura_sandbox: Sandbox, cekura_sandbox_connections: dict
) -> None:
    hook = LiveKitHook("livekit_default")
    hook.probe_agent("acme-support", "probe-a")
    hook.probe_agent("acme-support", "probe-b")  # remembered: no second throw-away room
    assert cekura_sandbox.count("POST", "CreateDispatch", server="livekit") == 1
    assert cekura_sandbox.livekit_rooms == {}  # the probe room (and its job) is deleted at once
    assert cekura_sandbox.livekit_deleted_rooms == ["probe-a"]


def test_probe_of_an_unserved_name_is_permanent_and_names_the_fix(
    cekura_sandbox: Sandbox, cekura_sandbox_connections: dict
) -> None:
    from cekura_livekit.batch.errors import is_permanent
    from cekura_livekit.hooks.livekit import LiveKitAgentUnavailableError

    with pytest.raises(LiveKitAgentUnavailableError) as missing:
        LiveKitHook("livekit_default").probe_agent("acme-suport", "probe-typo", wait=0.5)
    assert is_permanent(missing.value)
    assert "'acme-suport'" in str(missing.value)
    assert cekura_sandbox.livekit_rooms == {}


def test_probe_failures_name_the_probe_and_stay_transient(
    cekura_sandbox: Sandbox, cekura_sandbox_connections: dict
) -> None:
    from cekura_livekit.batch.errors import is_permanent

    cekura_sandbox.inject_fault("CreateDispatch", kind="500", times=10, server="livekit")
    with pytest.raises(LiveKitError, match="agent probe for 'acme-support'") as failed:
        LiveKitHook("livekit_default").probe_agent("acme-support", "probe-500")
    assert not is_permanent(failed.value)


@pytest.mark.parametrize(
    ("extra", "expected"),
    [({}, None), ({"agent_slots": 5}, 5), ({"agent_slots": "7"}, 7)],
)
def test_agent_slots_from_the_connection_extra(
    monkeypatch: pytest.MonkeyPatch, extra: dict, expected: object
) -> None:
    conn = {"conn_type": "livekit", "host": "http://lk", "login": "k", "password": "s" * 32, "extra": extra}
    monkeypatch.setenv("AIRFLOW_CONN_LK_SLOTS", json.dumps(conn))
    assert LiveKitHook("lk_slots").credentials.agent_slots == expected


@pytest.mark.parametrize("bad", [0, -1, "five", 2.5, True])
def test_bad_agent_slots_name_the_field_and_the_value(monkeypatch: pytest.MonkeyPatch, bad: object) -> None:
    conn = {"conn_type": "livekit", "host": "http://lk", "login": "k", "password": "s" * 32}
    monkeypatch.setenv("AIRFLOW_CONN_LK_SLOTS", json.dumps({**conn, "extra": {"agent_slots": bad}}))
    with pytest.raises(ValueError, match=r"'lk_slots' extra agent_slots=") as err:
        _ = LiveKitHook("lk_slots").credentials
    assert repr(bad) in str(err.value)


def test_room_metadata_up_to_livekits_512_kib(
    cekura_sandbox: Sandbox, cekura_sandbox_connections: dict
) -> None:
    """pkg/config/config.go `max_metadata_size: 512 KiB` (the old 64 KiB cap refused valid configs)."""
    hook = LiveKitHook("livekit_default")
    hook.create_rooms([RoomSpec("big-config", metadata="m" * (200 * 1024))])
    with pytest.raises(ValueError, match="at most 524288"):
        hook.create_rooms([RoomSpec("too-big", metadata="m" * (512 * 1024 + 1))])
