"""The shared realistic generator: its fast warehouse frames are what `extract` makes of its API payloads.

`tests/support/realistic.py` builds millions of rows column-wise for the benchmark and single batches as
Cekura payloads for the load path; if the two drifted apart, the benchmark would time data no load makes.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from cekura_livekit.results.frames import extract
from tests.support import realistic as R


@pytest.mark.parametrize("agent", [1, 2, 5])  # canonical binary voice, legacy binary, chat
def test_frames_equal_what_extract_makes_of_the_payloads(agent: int) -> None:
    shape = R.Shape(agents=5, scenarios=7, batches_per_day=2, quarantine_every=1)
    d = R.day_draw(shape, R._Series.draw(shape), 1)
    keep = d.result_id == d.result_id[d.agent == agent][0]
    result, runs, kwargs = R.batch_payloads(shape, d, keep)
    got = extract(result, runs, **kwargs)
    frames = R._frames(shape, d, keep, None)
    for name, mine in (("runs", got.runs), ("run_metrics", got.metrics), ("results", got.results)):
        theirs = frames[name]
        assert list(mine.columns) == list(theirs.columns), name
        for column in mine.columns:
            pd.testing.assert_series_equal(
                mine[column].reset_index(drop=True),
                theirs[column].reset_index(drop=True),
                check_names=False,
                obj=f"{name}.{column}",
            )


def test_history_has_what_the_issue_asks_for() -> None:
    shape = R.SMOKE
    days = list(R.warehouse_days(R.Shape(**{**shape.__dict__, "late_share": 0.3}), 8))
    runs = pd.concat([f["runs"] for _, f in days], ignore_index=True)
    metrics = pd.concat([f["run_metrics"] for _, f in days], ignore_index=True)
    results = pd.concat([f["results"] for _, f in days], ignore_index=True)
    assert len(runs) == 8 * shape.runs_per_day
    assert runs["run_id"].is_unique
    assert results["result_id"].is_unique
    assert len(results) == 8 * shape.agents * shape.batches_per_day
    assert runs["dashboard_url"].str.startswith("https://").all()
    assert runs.groupby("result_id")["agent_id"].nunique().max() == 1  # a batch is one agent's scenarios
    assert runs["quarantined"].any()
    assert not runs["quarantined"].all()
    assert set(metrics["metric_kind"]) == {"binary", "numeric", "rating"}
    assert set(metrics["metric_type"]) >= {"binary", "binary_workflow_adherence"}  # both binary formats
    assert set(runs["outcome"]) >= {"passed", "failed_evaluation", "infra_error"}
    # late loads: some batches arrive after a later day's runs (the physical order is not the time order)
    assert (np.diff(runs["run_date"].to_numpy().astype("datetime64[D]").astype(int)) < 0).any()


def test_a_history_grown_in_steps_is_the_same_history() -> None:
    whole = pd.concat([f["runs"] for _, f in R.warehouse_days(R.SMOKE, 6)], ignore_index=True)
    steps = [f["runs"] for _, f in R.warehouse_days(R.SMOKE, 2)]
    steps += [f["runs"] for _, f in R.warehouse_days(R.SMOKE, 6, first_day=2)]
    grown = pd.concat(steps, ignore_index=True)
    key = ["run_id"]
    pd.testing.assert_frame_equal(
        whole.sort_values(key).reset_index(drop=True), grown.sort_values(key).reset_index(drop=True)
    )


def test_next_batch_follows_the_history() -> None:
    result, runs, kwargs = R.next_batch(R.SMOKE, 4, agent=2)
    assert result["id"] == 1 + 4 * R.SMOKE.agents * R.SMOKE.batches_per_day + R.SMOKE.batches_per_day
    assert len(runs) == R.SMOKE.scenarios
    assert {r["agent"] for r in runs} == {2}
    assert kwargs["dashboard_url"].endswith(str(result["id"]))
