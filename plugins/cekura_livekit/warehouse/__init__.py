"""The warehouse: `writer.load_extract` (one-transaction upsert + trend recompute), `trends` (SQL daily rates,
regressions), `read` (trends back as DataFrames), `dialects` (PostgreSQL / SQLite), `tables` (the model).
Import the submodules directly; this package imports nothing heavy so DAG files stay cheap to parse."""
