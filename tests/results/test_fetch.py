"""fetch_result_with_runs: every run the result lists comes back as a full object, or the fetch says which not."""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator, Sequence
from typing import Any

import pytest

from cekura_livekit.hooks.cekura import CekuraHook
from cekura_livekit.models import ResultSummary
from cekura_livekit.results.fetch import MissingRunsError, fetch_result_with_runs
from cekura_sandbox import Sandbox


class Source:
    """An in-memory Cekura: the detail lists `listed`; bulk answers `bulk`, the runs list `listing`."""

    def __init__(self, listed: list[int], bulk: list[int], listing: list[int]) -> None:
        self.listed, self.bulk, self.listing = listed, bulk, listing
        self.bulk_calls: list[list[int]] = []
        self.listed_pages = 0

    def get_result(self, result_id: int) -> dict[str, Any]:
        return {"id": result_id, "runs": {str(i): {"id": i, "partial": True} for i in self.listed}}

    def get_runs_bulk(self, run_ids: Sequence[int]) -> list[dict[str, Any]]:
        self.bulk_calls.append(list(run_ids))
        return [{"id": i, "full": "bulk"} for i in run_ids if i in self.bulk]

    def iter_runs(self, *, result_id: int | None = None, page_size: int = 100) -> Iterator[dict[str, Any]]:
        for i in self.listing:
            self.listed_pages += 1
            yield {"id": i, "full": "list"}


def test_all_runs_from_bulk_in_the_result_s_order() -> None:
    source = Source(listed=[3, 1, 2], bulk=[1, 2, 3], listing=[])
    result, runs = fetch_result_with_runs(source, 9)
    assert result["id"] == 9
    assert [(r["id"], r["full"]) for r in runs] == [(3, "bulk"), (1, "bulk"), (2, "bulk")]
    assert source.bulk_calls == [[3, 1, 2]]
    assert source.listed_pages == 0


def test_runs_bulk_omitted_come_from_the_runs_list(caplog: pytest.LogCaptureFixture) -> None:
    source = Source(listed=[1, 2, 3], bulk=[1], listing=[9, 2, 3, 4, 5])
    with caplog.at_level(logging.WARNING):
        _, runs = fetch_result_with_runs(source, 9)
    assert [(r["id"], r["full"]) for r in runs] == [(1, "bulk"), (2, "list"), (3, "list")]
    assert source.listed_pages == 3, "the runs list was read past the last missing run"
    assert "did not return 2 of 3 run(s)" in caplog.text


def test_runs_missing_everywhere_fail_naming_them() -> None:
    with pytest.raises(MissingRunsError) as info:
        fetch_result_with_runs(Source(listed=[1, 2, 3], bulk=[1], listing=[]), 9)
    assert info.value.missing == [2, 3]
    assert "result 9: 2 run(s)" in str(info.value)


def test_many_missing_runs_are_named_up_to_twenty() -> None:
    error = MissingRunsError(4, list(range(25, 0, -1)))
    assert error.missing == list(range(1, 26))
    assert "1, 2, 3" in str(error)
    assert "(and 5 more)" in str(error)


def test_a_listed_run_without_an_id_is_kept_for_extraction_to_report() -> None:
    class NoId(Source):
        def get_result(self, result_id: int) -> dict[str, Any]:
            return {"id": result_id, "runs": [{"id": 1}, {"status": "completed"}]}

    _, runs = fetch_result_with_runs(NoId(listed=[], bulk=[1], listing=[]), 9)
    assert runs == [{"id": 1, "full": "bulk"}, {"status": "completed"}]


@pytest.mark.parametrize("bad", [0, -3, True, "12", None, 1.0])
def test_a_bad_result_id_fails_before_any_call(bad: object) -> None:
    source = Source(listed=[1], bulk=[1], listing=[])
    with pytest.raises(ValueError, match="must be a positive integer"):
        fetch_result_with_runs(source, bad)  # type: ignore[arg-type]
    assert source.bulk_calls == []


@pytest.mark.usefixtures("cekura_sandbox_connections")
def test_fetch_against_the_sandbox_through_the_v2_reads(cekura_sandbox: Sandbox) -> None:
    hook = CekuraHook()
    submitted = hook.submit_managed({"scenarios": [{"scenario": 2001}], "agent": 101, "frequency": 5})
    deadline = time.monotonic() + 30
    while not ResultSummary.from_result(hook.get_result(submitted["id"])).is_terminal:
        assert time.monotonic() < deadline
        time.sleep(0.1)
    result, runs = fetch_result_with_runs(hook, submitted["id"])
    assert result["id"] == submitted["id"]
    assert sorted(r["id"] for r in runs) == sorted(r["id"] for r in submitted["runs"])
    assert all("evaluation" in r for r in runs)
    assert cekura_sandbox.count("GET", "/test_framework/v2/runs/bulk/") == 1
    assert cekura_sandbox.count("GET", "/test_framework/v1/") == 0
