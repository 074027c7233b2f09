"""The query side of the lake: a DuckDB file of views over the Parquet zones.

``warehouse.duckdb_warehouse`` builds ``<lake>/warehouse.duckdb`` (views ``complaints``,
``daily_complaints``, ``quarantine`` and ``runs``; no data is copied into it), opens it
read-only, runs SQL and formats results as a table, CSV or JSON.
"""
