"""Cekura payloads → pandas: `frames.extract` (typed run / metric / result frames), `fetch` (all runs of a
result, verified complete). Import the submodules directly; this package imports nothing heavy so DAG files
stay cheap to parse."""
