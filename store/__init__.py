"""PostgreSQL storage: schema and migrations, bulk writes of fixes, history queries.

The fixes table is a TimescaleDB hypertable when the extension is available and natively
range-partitioned by day otherwise; everything above this package sees one ``fixes`` table.
"""
