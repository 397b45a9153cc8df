"""A CekuraHook stand-in with scripted answers, sync and async, for fast tests of the wait loop.

Each call pops the next scripted answer for that method: a value is returned, an exception is raised.
Every call is recorded, so tests assert on exactly which requests the loop made.
"""

from __future__ import annotations

from collections import defaultdict, deque
from typing import Any


class ScriptedHook:
    def __init__(self, **script: list[Any]) -> None:
        self.script: dict[str, deque[Any]] = defaultdict(deque, {k: deque(v) for k, v in script.items()})
        self.calls: list[tuple[str, tuple[Any, ...]]] = []

    def _answer(self, name: str, args: tuple[Any, ...]) -> Any:
        self.calls.append((name, args))
        if not self.script[name]:
            raise AssertionError(f"unscripted call {name}{args}")
        answer = self.script[name].popleft()
        if isinstance(answer, BaseException):
            raise answer
        return answer

    def names(self) -> list[str]:
        return [name for name, _ in self.calls]

    # sync
    def get_result(self, result_id: int) -> Any:
        return self._answer("get_result", (result_id,))

    def get_runs_bulk(self, run_ids: Any) -> Any:
        return self._answer("get_runs_bulk", (tuple(run_ids),))

    def end_calls(self, result_id: int) -> Any:
        return self._answer("end_calls", (result_id,))

    def end_call(self, run_id: int) -> Any:
        return self._answer("end_call", (run_id,))

    # async
    async def aget_result(self, result_id: int) -> Any:
        return self.get_result(result_id)

    async def aget_runs_bulk(self, run_ids: Any) -> Any:
        return self.get_runs_bulk(run_ids)

    async def aend_calls(self, result_id: int) -> Any:
        return self.end_calls(result_id)

    async def aend_call(self, run_id: int) -> Any:
        return self.end_call(run_id)

    async def __aenter__(self) -> ScriptedHook:
        return self

    async def __aexit__(self, *exc: object) -> None:
        return None


def result(status: str, runs: list[tuple[str, bool | None]], result_id: int = 7) -> dict[str, Any]:
    """A result detail payload: `runs` keyed by id as a string, as the API's detail view sends them."""
    return {
        "id": result_id,
        "name": "n",
        "status": status,
        "total_runs_count": len(runs),
        "runs": {
            str(100 + i): {"status": st, "success": ok, "scenario": 2000 + i, "scenario_name": f"S{i}"}
            for i, (st, ok) in enumerate(runs)
        },
    }
