-- Corrections (the Ombudsman's ask, report 3.76-3.77): a holder reports that a released field was wrong; the
-- source that owns it confirms or rejects; once confirmed, every organisation that received that field for
-- that person (found in the audit log) is sent a correction notice through the outbox, and the person's
-- subject access report shows it.
CREATE TABLE hub.correction (
    correction_id       bigserial PRIMARY KEY,
    reporter_org        text NOT NULL,
    reporter_user_hash  text NOT NULL,
    field               text NOT NULL,               -- Type.field as released
    source              text NOT NULL CHECK (source IN ('dwp', 'hb', 'social_care')),
    source_record_ids   text[] NOT NULL,             -- the owner's own records of the person, to check
    subject_hashes      text[] NOT NULL,             -- the person's keyed hashes (every key of the ring)
    evidence            text NOT NULL CHECK (length(evidence) BETWEEN 1 AND 2000),
    status              text NOT NULL DEFAULT 'reported' CHECK (status IN ('reported', 'confirmed', 'rejected')),
    reported_at         timestamptz NOT NULL DEFAULT clock_timestamp(),
    decided_at          timestamptz,
    decided_by_org      text,
    decided_by_hash     text
);
CREATE INDEX correction_open_idx ON hub.correction (source, correction_id) WHERE status = 'reported';
CREATE INDEX correction_subject_idx ON hub.correction USING gin (subject_hashes);

-- A recipient's notice: which of its own requests released the field that was wrong.
CREATE TABLE hub.correction_notice (
    notice_id      uuid PRIMARY KEY,                 -- the outbox delivery id: a repeat lands once
    correction_id  bigint NOT NULL REFERENCES hub.correction,
    org            text NOT NULL,
    field          text NOT NULL,
    request_ids    uuid[] NOT NULL,
    delivered_at   timestamptz NOT NULL DEFAULT clock_timestamp()
);
CREATE INDEX correction_notice_org_idx ON hub.correction_notice (org, delivered_at);

-- The outbox carries correction notices to organisations too.
ALTER TABLE hub.outbox ALTER COLUMN notification_id DROP NOT NULL;
ALTER TABLE hub.outbox ADD COLUMN correction_id bigint REFERENCES hub.correction;
ALTER TABLE hub.outbox ADD COLUMN request_ids uuid[];
ALTER TABLE hub.outbox DROP CONSTRAINT outbox_target_check;
ALTER TABLE hub.outbox ADD CONSTRAINT outbox_target_check CHECK (target IN ('dwp', 'hb', 'org'));
ALTER TABLE hub.outbox ADD CONSTRAINT outbox_one_cause CHECK ((notification_id IS NULL) <> (correction_id IS NULL));
