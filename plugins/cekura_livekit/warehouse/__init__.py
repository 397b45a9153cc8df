"""The warehouse, one owner per concept:

- `tables`: every table's declaration (facts, trends, the alert memory) in logical types;
- `engines`: one adapter per engine (PostgreSQL, SQLite) and the registry choosing one by conn type;
- `connection`: `open_warehouse` / `Warehouse`, engine-neutral (asks the registry);
- `measures`: the one SQL statement of each rate, bound and percentile;
- `loadable`: the pre-flight check that a load could write (connect, schema, tables, privileges);
- `ddl`: creating and evolving the tables (`ensure_tables`), called by writers only, race-free;
- `locks`: transaction-scoped locks that serialise DDL and trend recomputes across concurrent loads;
- `writer`: `load_extract`, the one-transaction upsert of the facts;
- `trends`: daily rates and regressions computed in SQL (run by the trends DAG after each load);
- `read`: read-only typed frames for reports and notebooks;
- `dates`: the one parser of calendar days.

Import the submodules directly; this package imports nothing heavy so DAG files stay cheap to parse.
"""
