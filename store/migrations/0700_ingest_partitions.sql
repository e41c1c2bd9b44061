-- Seal-partitioned ingest (ingest/partitioned.py). One row per partition: the fencing epoch of its
-- current owner (the broker lease's revision; a worker that lost the lease can no longer write or
-- judge) and the broker stream position up to which its messages are stored.
CREATE TABLE ingest_partitions (
    partition   integer PRIMARY KEY,
    epoch       bigint NOT NULL DEFAULT 0,
    owner       text,
    taken_at    timestamptz
);

CREATE TABLE ingest_positions (
    partition   integer PRIMARY KEY,
    written_seq bigint NOT NULL DEFAULT 0
);

-- Fixes stored but not yet judged by geofence and alerts: written in the batch's write
-- transaction, deleted in the transaction that commits their judgment. What a crash leaves
-- here is judged by whoever owns the partition next (partition 0 for unpartitioned ingest).
CREATE TABLE ingest_unjudged (
    id          bigserial PRIMARY KEY,
    partition   integer NOT NULL,
    seal_ids    text[] NOT NULL,
    ts          timestamptz[] NOT NULL,
    seqs        bigint[] NOT NULL
);
CREATE INDEX ingest_unjudged_partition ON ingest_unjudged (partition, id);
