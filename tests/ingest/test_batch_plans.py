"""Per-batch statements keep a good plan once psycopg prepares them.

After five executions psycopg prepares a statement and PostgreSQL may settle on a generic plan.
Testing a batch's seal ids with ``= ANY($1)`` as a filter then compares every row against the
whole array (no hashing for a parameter): at 1,500 seals a batch's context read went from 6 ms
to 60-120 ms. An index condition on ``= ANY($1)`` is fine; a filter is not.
"""

from __future__ import annotations

import psycopg
import pytest

from alerts.service import _CONTEXT_SQL
from ingest.auth import _WATERMARKS
from launcher.demo import release_fleet

BATCH_STATEMENTS = {"transit contexts": _CONTEXT_SQL, "seq watermarks": _WATERMARKS}


@pytest.mark.parametrize("name", sorted(BATCH_STATEMENTS))
def test_the_generic_plan_does_not_filter_rows_against_the_batch_array(migrated_db: str, name: str) -> None:
    release_fleet(migrated_db, 60, seed=3, faults=False)
    sql = BATCH_STATEMENTS[name].replace("%s::text[]", "$1").replace("%s", "$1")
    with psycopg.connect(migrated_db, autocommit=True) as conn:
        conn.execute("ANALYZE")
        conn.execute("SET plan_cache_mode = force_generic_plan")
        conn.execute(f"PREPARE batch(text[]) AS {sql}")
        plan = [str(row[0]).strip() for row in conn.execute("EXPLAIN EXECUTE batch('{AZS-00001}')")]
    assert plan
    filters = [line for line in plan if line.startswith("Filter:") and "ANY ($1)" in line]
    assert not filters, "\n".join(plan)
