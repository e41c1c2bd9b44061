"""Prometheus metrics of the ingest worker.

The API serves them: with PROMETHEUS_MULTIPROC_DIR set (``sealwatch up`` sets it) every
process writes its samples there and the API's /metrics aggregates them.
"""

from __future__ import annotations

from prometheus_client import Counter, Gauge, Histogram

MESSAGES_RECEIVED = Counter("sealwatch_messages_received_total", "MQTT messages received by ingest")
FIXES_RECEIVED = Counter("sealwatch_fixes_received_total", "Fixes decoded from accepted messages")
FIXES_STORED = Counter("sealwatch_fixes_stored_total", "Fixes newly stored (duplicates excluded)")
FIXES_DUPLICATE = Counter("sealwatch_fixes_duplicate_total", "Redelivered fixes skipped as already stored")
REJECTED = Counter("sealwatch_rejected_total", "Messages or fixes sent to the dead-letter store", ["reason"])
BATCH_SECONDS = Histogram(
    "sealwatch_batch_commit_seconds",
    "Time to write and commit one batch",
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
)
BATCH_FIXES = Histogram(
    "sealwatch_batch_fixes", "Fixes per committed batch", buckets=(1, 10, 100, 500, 1000, 2500, 5000, 10000)
)
CONSUMER_LAG = Gauge(
    "sealwatch_consumer_lag_seconds",
    "Receipt-to-commit delay of the newest committed batch's oldest message",
    multiprocess_mode="livemax",
)
PENDING = Gauge(
    "sealwatch_ingest_pending_messages",
    "Messages received but not yet committed (updated as each batch is taken and committed)",
    multiprocess_mode="livesum",
)
WRITE_ERRORS = Counter("sealwatch_write_errors_total", "Batch writes that failed and were retried")
STAGE_SECONDS = Counter(
    "sealwatch_ingest_stage_seconds",
    "Time spent in each stage of ingest: decode (parse, validate, verify the signature), write (the"
    " batch's transaction), geofence, alerts",
    ["stage"],
)
