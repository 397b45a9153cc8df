"""Statistics of the trends pass, pure functions of per-series counts (no database): success-rate drops
(`drops`), their thresholds (`calibration`), flakiness and pass^k (`flakiness`), numeric-metric shifts
(`metric_shift`) and data-quality monitors (`quality`). The warehouse feeds them and stores what they return."""
