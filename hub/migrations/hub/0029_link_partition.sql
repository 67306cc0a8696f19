-- Partitioned link builds (issue 17, item 5): `welfare-hub link build --partition I/N` in N processes or pods,
-- each deciding the council records (and the DWP records) of its own share, against the whole spine.
--
-- A run is split into `partitions` shares when it is made, and each share keeps its own progress: the cursor
-- each source reached, what it counted, and what it did to the review queue. A share's progress is written
-- in the same transaction as the links and review items of the chunk it covers, so a share that stops
-- resumes exactly after its last committed chunk: nothing it wrote is decided twice. The process building a
-- share holds a session advisory lock on (run, share) for as long as its connection lives, so a second
-- process cannot take it (hub.ops.linking.rows.open_run).
--
-- The run ends once, when its last share does: that process, holding the run's row, supersedes nothing more
-- (each chunk closed the stale items of its own records already) but adds up the shares' review changes and
-- reports the queue's size before the run (`open_before`, taken when the run was made) and after it.
ALTER TABLE hub.link_run
    ADD COLUMN partitions integer NOT NULL DEFAULT 1 CHECK (partitions BETWEEN 1 AND 1024),
    ADD COLUMN open_before integer;

CREATE TABLE hub.link_run_partition (
    run_id       bigint NOT NULL REFERENCES hub.link_run (run_id) ON DELETE CASCADE,
    partition    integer NOT NULL CHECK (partition >= 0),
    cursors      jsonb NOT NULL DEFAULT '{}',   -- the last record id each source reached (record ids, no values)
    counts       jsonb NOT NULL DEFAULT '{}',   -- per source: decisions by method and band, and unchanged
    review       jsonb NOT NULL DEFAULT '{}',   -- new, proposed again, superseded by why
    started_at   timestamptz,                   -- first taken by a process
    claimed_at   timestamptz,                   -- last taken (a resume)
    claims       integer NOT NULL DEFAULT 0,    -- how many processes took it: 1, and one more per resume
    finished_at  timestamptz,
    PRIMARY KEY (run_id, partition)
);

-- A run left unfinished by an older release carries on as the one share of a whole build.
INSERT INTO hub.link_run_partition (run_id, partition, cursors, counts)
SELECT run_id, 0, cursors, counts FROM hub.link_run WHERE finished_at IS NULL;
