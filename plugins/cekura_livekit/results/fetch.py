"""Fetch one result and ALL its runs as full objects, and prove none is missing.

Why verify: the detail view lists every run id but may carry partial run objects; the bulk endpoint gives
full objects but silently omits ids it does not return. A warehouse that quietly lost runs would report
wrong success rates, so every id of the result must come back (bulk first, then the paginated runs list),
or the fetch fails naming the missing ids.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator, Mapping, Sequence
from typing import Any, Protocol

from cekura_livekit.models import runs_of

log = logging.getLogger(__name__)


class RunSource(Protocol):
    """The CekuraHook methods this module needs (a Protocol so tests can pass any object with them)."""

    def get_result(self, result_id: int) -> dict[str, Any]: ...

    def get_runs_bulk(self, run_ids: Sequence[int]) -> list[dict[str, Any]]: ...

    def iter_runs(
        self, *, result_id: int | None = None, page_size: int = 100
    ) -> Iterator[dict[str, Any]]: ...


class MissingRunsError(RuntimeError):
    """Runs the result lists could not be fetched by any route."""

    def __init__(self, result_id: int, missing: Sequence[int]) -> None:
        self.result_id = result_id
        self.missing = sorted(missing)
        shown = ", ".join(str(i) for i in self.missing[:20])
        more = f" (and {len(self.missing) - 20} more)" if len(self.missing) > 20 else ""
        super().__init__(
            f"result {result_id}: {len(self.missing)} run(s) listed by the result were returned neither by "
            f"runs/bulk nor by the runs list: {shown}{more}. Retry later; if it persists, the runs were deleted."
        )


def _run_id(run: Mapping[str, Any]) -> int | None:
    try:
        return int(run["id"])
    except (KeyError, TypeError, ValueError):
        return None


def fetch_result_with_runs(hook: RunSource, result_id: int) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """(result detail, full run objects in the result's order). Raises `MissingRunsError` if any stay missing."""
    if isinstance(result_id, bool) or not isinstance(result_id, int) or result_id <= 0:
        raise ValueError(f"result_id={result_id!r} must be a positive integer Cekura result id")
    result = hook.get_result(result_id)
    listed = runs_of(result)
    wanted = [rid for rid in (_run_id(r) for r in listed) if rid is not None]
    found: dict[int, dict[str, Any]] = {}
    if wanted:
        for run in hook.get_runs_bulk(wanted):
            rid = _run_id(run)
            if rid is not None:
                found[rid] = run
    missing = [rid for rid in wanted if rid not in found]
    if missing:
        log.warning(
            "result %s: runs/bulk did not return %d of %d run(s); falling back to the runs list",
            result_id,
            len(missing),
            len(wanted),
        )
        still = set(missing)
        for run in hook.iter_runs(result_id=result_id, page_size=100):
            rid = _run_id(run)
            if rid in still:
                found[rid] = run
                still.discard(rid)
                if not still:
                    break
        if still:
            raise MissingRunsError(result_id, sorted(still))
    # A listed run without an id is kept as it is, so extraction reports it instead of losing it.
    runs = [found[rid] if (rid := _run_id(r)) is not None else r for r in listed]
    return result, runs
