"""Cekura payloads → pandas: `frames.extract` (typed run / metric / result frames), `fetch` (all runs of a
result, verified complete), `stats` (Wilson interval, one-sided drop test). Import the submodules directly;
this package imports nothing heavy so DAG files stay cheap to parse."""
