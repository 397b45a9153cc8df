"""The load context of a result (suite, quarantine, dashboard link, DAG ids, source) kept across reloads.

Why: a result is loaded more than once: by the regression DAG that submitted it (which knows its suite, the
suite's quarantined scenarios and its dashboard link), then again by a stale refresh, the sync of every
result, or a backfill, which know none of that. The upsert compares every column, so a reload without the
context used to overwrite it: runs moved to suite '' (a phantom series), quarantined scenarios became
alertable, links disappeared (issue 19 item 5). The context therefore lives WITH the result
(`cekura_results`), and every load takes from the stored row what its caller did not give.

"Not given" is None (and '' for `suite`, `unknown` for `source`, the extract's "unknown" spellings).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

import pandas as pd

from cekura_livekit.results.source import UNKNOWN

#: Context columns of `cekura_results`, in the order the writer reads them back.
RESULT_CONTEXT = ("suite", "quarantine", "dashboard_url", "dag_id", "dag_run_id", "source")
#: The ones each run repeats (its result's value); `quarantined` is derived from `quarantine` instead.
RUN_CONTEXT = ("suite", "dashboard_url", "dag_id", "dag_run_id", "source")
_EMPTY: dict[str, tuple[Any, ...]] = {"suite": ("",), "source": (UNKNOWN,)}


def is_given(column: str, value: Any) -> bool:
    """Whether `value` of context `column` says something (None, NA and the column's blanks do not)."""
    if value is None or value is pd.NA or (isinstance(value, float) and value != value):
        return False
    return value not in _EMPTY.get(column, ())


def _resolved(row: Mapping[str, Any], stored: Mapping[str, Any] | None) -> dict[str, Any]:
    """The context of one result: the caller's value where given, else the stored one, else the blank."""
    out: dict[str, Any] = {}
    for column in RESULT_CONTEXT:
        value = row.get(column)
        if not is_given(column, value) and stored is not None and is_given(column, stored.get(column)):
            value = stored[column]
        if not is_given(column, value):
            value = {"suite": "", "source": UNKNOWN}.get(column)
        out[column] = value
    return out


def quarantine_ids(text: object) -> frozenset[int] | None:
    """The scenario ids of a stored `quarantine` (JSON text); None when none was ever given."""
    if not is_given("quarantine", text):
        return None
    try:
        return frozenset(int(i) for i in json.loads(str(text)))
    except (TypeError, ValueError):  # written by hand or by an older tool: not a reason to fail a load
        return None


def inherit_context(
    results: pd.DataFrame, runs: pd.DataFrame, stored: Mapping[int, Mapping[str, Any]]
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """`results` and `runs` with every context value the caller left blank taken from `stored` (the
    `cekura_results` rows already in the warehouse, by result id); runs take their result's final context,
    and `quarantined` follows the result's quarantine when one is known."""
    if results.empty:
        return results, runs
    results = results.copy()
    finals: dict[int, dict[str, Any]] = {}
    for index, row in results.iterrows():
        result_id = int(row["result_id"])
        finals[result_id] = _resolved(row.to_dict(), stored.get(result_id))
        for column, value in finals[result_id].items():
            results.at[index, column] = value
    if runs.empty:
        return results, runs
    runs = runs.copy()
    ids = runs["result_id"]
    mine = ids.isin(list(finals))
    for column in RUN_CONTEXT:
        values = ids[mine].map(lambda r, c=column: finals[int(r)][c])
        runs.loc[mine, column] = values.astype(runs[column].dtype)
    quarantines = {r: quarantine_ids(f["quarantine"]) for r, f in finals.items()}
    known = mine & ids.map(lambda r: quarantines.get(int(r)) is not None if pd.notna(r) else False)
    if known.any():
        flags = [
            pd.notna(s) and int(s) in (quarantines[int(r)] or ())
            for r, s in zip(ids[known], runs.loc[known, "scenario_id"], strict=True)
        ]
        runs.loc[known, "quarantined"] = pd.Series(flags, index=runs.index[known], dtype="boolean")
    return results, runs
