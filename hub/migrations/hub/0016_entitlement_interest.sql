-- Continuing entitlement (report section 3.30): a council team that decided on a yes/no answer (a Blue
-- Badge without further assessment, say) registers an interest in the person, and is told when that answer
-- changes, only the new yes/no, only while the interest is live. The hub re-checks live interests and
-- appends changes to each organisation's feed.
CREATE TABLE hub.interest (
    interest_id        bigserial PRIMARY KEY,
    org                text NOT NULL,
    purpose            text NOT NULL,
    field              text NOT NULL,              -- the yes/no relied on (Type.field)
    subject_key_id     text NOT NULL,
    subject_hash       text NOT NULL,              -- keyed hash of the NINO; never the NINO
    person_key         uuid NOT NULL,
    subject_pseudonym  text NOT NULL,              -- the person as this organisation's pseudonym, as lookups give it
    dwp_person_id      text NOT NULL,              -- where the answer is read again
    last_answer        boolean NOT NULL,
    registered_by_hash text NOT NULL,
    registered_at      timestamptz NOT NULL DEFAULT clock_timestamp(),
    checked_at         timestamptz NOT NULL DEFAULT clock_timestamp(),
    withdrawn_at       timestamptz
);
CREATE UNIQUE INDEX interest_live_idx ON hub.interest (org, purpose, person_key) WHERE withdrawn_at IS NULL;

CREATE TABLE hub.entitlement_change (
    change_id     bigserial PRIMARY KEY,           -- the feed's cursor
    interest_id   bigint NOT NULL REFERENCES hub.interest,
    org           text NOT NULL,
    answer        boolean NOT NULL,
    changed_at    timestamptz NOT NULL DEFAULT clock_timestamp()
);
CREATE INDEX entitlement_change_org_idx ON hub.entitlement_change (org, change_id);
