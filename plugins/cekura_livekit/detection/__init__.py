"""Statistics of the trends pass (issue 25): pure functions of per-series counts, no database.

The warehouse reads the counts, calls these, and stores what they return:

- `drops.detect_drops_many({key: (days, passed, evaluated)})` -> {key: [DropEpisode]}: success-rate drops per
  agent × scenario × mode × suite from daily counts (an anchored Bernoulli max-CUSUM, thresholds per series from
  `calibration`); `drops.detect_drops` for one series. Deterministic: recompute after late data.
- `identity.carry_ids(key, [(started_on, flagged_on, resolved_on)], stored)` -> ids that survive late data.
- `evidence.describe(episode)` / `evidence.drop_interval(...)`: the alert sentence (effect, 95 % CI, runs).
- `flakiness.flaky_status(outcomes_in_run_order, previous_status)` -> row with status, runs test and pass^k.
- `metric_shift.detect_metric_shifts(days, daily_medians)` -> [MetricEpisode], per series × metric.
- `quality.quality_alerts([DayCounts(day, runs, infra)], as_of)` -> freshness / volume / infra alert rows.

Measured on designed truths by `python -m bench.detection` (bench/detection.py).
"""
