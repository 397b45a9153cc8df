"""The warehouse, one owner per concept:

- `tables`: every table's declaration (facts, trends, the alert memory) in logical types, with comments;
- `engines`: one adapter per engine (`base.Dialect`; PostgreSQL, SQLite) and the registry choosing one by
  conn type — the only place that knows an engine;
- `connection`: `open_warehouse` / `Warehouse`, engine-neutral (asks the registry);
- `measures`: the one SQL statement of each rate, Wilson bound and percentile;
- `loadable`: the pre-flight check that a load could write (connect, schema, tables, privileges);
- `ddl`: creating and evolving the tables (`ensure_tables`), called by writers only, race-free;
- `views`: the analyst views (and comments) that `ddl` creates;
- `locks`: transaction-scoped locks that serialise DDL and trend recomputes across concurrent loads;
- `scan`: how a refresh reads the runs (index or scan) and the session settings it needs;
- `pgcopy`: PostgreSQL binary COPY data built column-wise (the PostgreSQL adapter's bulk path);
- `writer`: `load_extract`, the one-transaction upsert of the facts (and each batch's diff);
- `batch_diff`: per batch × scenario, the change against the suite's previous batch;
- `trends`: daily rates and regressions computed in SQL (run by the trends DAG after each load);
- `metrics`: the daily metric table (exact percentiles) and numeric-metric regressions;
- `episodes`: regression episodes derived from the daily detections;
- `flaky`: flakiness scores, and the one definition of a flaky scenario;
- `read`: read-only typed frames for reports and notebooks;
- `dates`: the one parser of calendar days.

Import the submodules directly; this package imports nothing heavy so DAG files stay cheap to parse.
"""
