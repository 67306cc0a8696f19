-- The link index (issue 3): which source records are the same person, how we know, and how sure we are.
-- No NINO in clear: a record's NINO is kept only as a keyed hash with its key id.

-- One hub person per DWP customer record (DWP is the spine: every NINO holder is there).
CREATE TABLE hub.link (
    source            text NOT NULL CHECK (source IN ('dwp', 'hb', 'social_care')),
    source_record_id  text NOT NULL,
    person_key        uuid,                 -- null unless band = 'link'
    nino_key_id       text,
    nino_hash         text,                 -- keyed hash of the NINO the record holds, if valid
    method            text NOT NULL CHECK (method IN ('nino', 'probabilistic', 'clerical')),
    band              text NOT NULL CHECK (band IN ('link', 'review', 'non_link')),
    probability       double precision,     -- match probability of the chosen candidate
    match_weight      double precision,
    model_version     text,
    evidence          jsonb,                -- per-field levels and weights: no values, no names
    fingerprint       text NOT NULL,        -- keyed hash of what was compared: skip unchanged records
    linked_at         timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (source, source_record_id),
    CHECK ((band = 'link') = (person_key IS NOT NULL))
);
CREATE INDEX link_person_idx ON hub.link (person_key);
CREATE INDEX link_nino_idx ON hub.link (nino_hash);

-- Candidates between the bands wait for a person: nothing is released for them meanwhile.
CREATE TABLE hub.review_item (
    review_id         bigserial PRIMARY KEY,
    source            text NOT NULL,
    source_record_id  text NOT NULL,
    candidate_person  uuid NOT NULL,
    reason            text NOT NULL CHECK (reason IN ('probabilistic', 'nino_conflict')),
    probability       double precision,
    match_weight      double precision,
    model_version     text,
    evidence          jsonb NOT NULL,
    status            text NOT NULL DEFAULT 'open' CHECK (status IN ('open', 'accepted', 'rejected')),
    created_at        timestamptz NOT NULL DEFAULT now(),
    decided_at        timestamptz,
    decided_by_hash   text,
    UNIQUE (source, source_record_id, candidate_person)
);
CREATE INDEX review_item_open_idx ON hub.review_item (created_at) WHERE status = 'open';

-- Batch runs, resumable from the last record each source reached.
CREATE TABLE hub.link_run (
    run_id            bigserial PRIMARY KEY,
    started_at        timestamptz NOT NULL DEFAULT now(),
    finished_at       timestamptz,
    model_version     text NOT NULL,
    cursors           jsonb NOT NULL DEFAULT '{}',
    counts            jsonb NOT NULL DEFAULT '{}'
);
