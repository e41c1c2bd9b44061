-- Idempotency keys: a request sent again with the same Idempotency-Key (a phone retrying an action it
-- queued while offline) gets the first answer back instead of acting twice. One row per user and
-- key, written in the transaction of the action itself, so an action and its receipt commit together.
CREATE TABLE request_receipts (
    user_name   text NOT NULL,
    key         text NOT NULL CHECK (key ~ '^[A-Za-z0-9_-]{8,128}$'),
    request     text NOT NULL,          -- method, path and a hash of the body: a key names one request
    status      integer,
    body        jsonb,
    created_at  timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (user_name, key)
);
CREATE INDEX request_receipts_created ON request_receipts (created_at);
