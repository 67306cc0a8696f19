-- Complaints across organisations (report 3.77): one record, linked to the audit events it concerns, seen by
-- every organisation involved (those events' callers, and whoever raised it) and by auditors, with its
-- history of responses. Nothing is deleted; a response appends.
CREATE TABLE hub.complaint (
    complaint_id      bigserial PRIMARY KEY,
    raised_by_org     text NOT NULL,
    raised_by_hash    text NOT NULL,
    summary           text NOT NULL CHECK (length(summary) BETWEEN 1 AND 2000),
    event_seqs        bigint[] NOT NULL CHECK (cardinality(event_seqs) BETWEEN 1 AND 100),
    organisations     text[] NOT NULL,             -- involved: the events' callers and the raiser
    status            text NOT NULL DEFAULT 'open' CHECK (status IN ('open', 'investigating', 'resolved', 'rejected')),
    created_at        timestamptz NOT NULL DEFAULT clock_timestamp(),
    updated_at        timestamptz NOT NULL DEFAULT clock_timestamp()
);
CREATE INDEX complaint_organisations_idx ON hub.complaint USING gin (organisations);

CREATE TABLE hub.complaint_response (
    response_id   bigserial PRIMARY KEY,
    complaint_id  bigint NOT NULL REFERENCES hub.complaint,
    org           text NOT NULL,
    user_hash     text NOT NULL,
    status        text NOT NULL CHECK (status IN ('open', 'investigating', 'resolved', 'rejected')),
    note          text NOT NULL CHECK (length(note) BETWEEN 1 AND 2000),
    responded_at  timestamptz NOT NULL DEFAULT clock_timestamp()
);
CREATE INDEX complaint_response_idx ON hub.complaint_response (complaint_id, response_id);
