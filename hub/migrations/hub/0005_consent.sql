-- Consent (issue 4): a person's consent to a consent-based purpose, and the notices owed to people who
-- asked to be told of each share. The person is identified only by a keyed hash of their NINO made with
-- the hub's stable secret (it survives NINO-key rotation, as consent must).

CREATE TABLE hub.consent (
    consent_id         bigserial PRIMARY KEY,
    subject_hash       text NOT NULL,
    purpose            text NOT NULL,
    granted_at         timestamptz NOT NULL DEFAULT now(),
    expires_at         timestamptz NOT NULL,
    notify_on_share    boolean NOT NULL,
    recorded_by_org    text NOT NULL,
    recorded_by_hash   text NOT NULL,        -- the user, as a keyed hash
    withdrawn_at       timestamptz,
    withdrawn_by_org   text,
    CHECK (expires_at > granted_at),
    CHECK ((withdrawn_at IS NULL) = (withdrawn_by_org IS NULL))
);
CREATE INDEX consent_subject_idx ON hub.consent (subject_hash, purpose);

-- One row per share the person asked to hear about: what was shared, with whom, when, why.
CREATE TABLE hub.subject_notification (
    notification_id    bigserial PRIMARY KEY,
    subject_hash       text NOT NULL,
    purpose            text NOT NULL,
    recipient_org      text NOT NULL,
    fields             text[] NOT NULL,
    request_id         uuid NOT NULL,
    created_at         timestamptz NOT NULL DEFAULT now(),
    sent_at            timestamptz
);
CREATE INDEX subject_notification_subject_idx ON hub.subject_notification (subject_hash);
