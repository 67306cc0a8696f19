-- Rate limits (issue 13.10): one token bucket per organisation ('org:<org id>') and per user
-- ('user:<keyed user hash>', never the user's own identifier), shared by every hub pod. Each check is one
-- INSERT ... ON CONFLICT DO UPDATE that refills the bucket from updated_at by the database's clock (one
-- clock for every pod) and takes from it, under the row's lock: two pods never both spend the last token.
--
-- UNLOGGED: a bucket is worth nothing after a crash (they come back empty of rows, that is full), and a
-- check is then no WAL write and no replication traffic. capacity and per_second are the parameters the
-- bucket was last checked with, so the statement can refill it (an ON CONFLICT update sees only columns).
CREATE UNLOGGED TABLE hub.rate_bucket (
    bucket      text PRIMARY KEY CHECK (length(bucket) BETWEEN 5 AND 300),
    tokens      double precision NOT NULL,
    capacity    double precision NOT NULL CHECK (capacity > 0),
    per_second  double precision NOT NULL CHECK (per_second > 0),
    granted     boolean NOT NULL,                   -- whether the last take found the cost in the bucket
    updated_at  timestamptz NOT NULL
);
