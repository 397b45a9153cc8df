"""`cekura-webhooks`: the receiver served on its own by uvicorn, on the host and port the flags or the
environment give (flags win)."""

from __future__ import annotations

from typing import Any

import pytest
import uvicorn
from fastapi import FastAPI

from cekura_livekit.webhooks import service


@pytest.fixture
def served(monkeypatch: pytest.MonkeyPatch) -> list[dict[str, Any]]:
    calls: list[dict[str, Any]] = []

    def run(app: object, **kwargs: Any) -> None:
        calls.append({"app": app, **kwargs})

    monkeypatch.setattr(uvicorn, "run", run)  # the one thing not run for real: it would serve forever
    for name in ("CEKURA_WEBHOOKS_HOST", "CEKURA_WEBHOOKS_PORT"):
        monkeypatch.delenv(name, raising=False)
    return calls


def test_defaults_serve_the_receiver_on_all_interfaces_port_8790_without_access_log(
    served: list[dict[str, Any]],
) -> None:
    service.main([])
    (call,) = served
    assert isinstance(call["app"], FastAPI)
    assert (call["host"], call["port"], call["access_log"]) == ("0.0.0.0", 8790, False)


def test_the_environment_and_then_the_flags_choose_host_and_port(
    served: list[dict[str, Any]], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CEKURA_WEBHOOKS_HOST", "127.0.0.1")
    monkeypatch.setenv("CEKURA_WEBHOOKS_PORT", "9000")
    service.main([])
    service.main(["--host", "10.0.0.5", "--port", "9100"])
    assert [(c["host"], c["port"]) for c in served] == [("127.0.0.1", 9000), ("10.0.0.5", 9100)]


def test_a_port_that_is_not_a_number_stops_with_the_usage(served: list[dict[str, Any]]) -> None:
    with pytest.raises(SystemExit) as caught:
        service.main(["--port", "http"])
    assert caught.value.code == 2
    assert served == []
