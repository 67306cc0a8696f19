-- Changes of circumstance told to the hub (social care, ALMOs) and delivered to DWP and the HB team of the
-- right council through a transactional outbox: the notification and its deliveries are written in one
-- transaction, and a dispatcher delivers each with retries until it lands (hub.dispatch).
CREATE TABLE hub.notification (
    notification_id   uuid PRIMARY KEY,
    sender_org        text NOT NULL,
    sender_org_type   text NOT NULL,
    sender_user_hash  text NOT NULL,
    idempotency_key   text NOT NULL CHECK (length(idempotency_key) BETWEEN 1 AND 200),
    request_hash      text NOT NULL,               -- keyed hash of what was asked: a reused key with other content is refused
    kind              text NOT NULL CHECK (kind IN ('hospital_admission', 'hospital_discharge',
                                                    'care_home_admission', 'care_home_discharge')),
    effective_date    date NOT NULL,
    subject_key_id    text,
    subject_hash      text,                        -- keyed hash of the NINO given or found; never the NINO
    person_key        uuid,                        -- null while the person is not linked (status review)
    status            text NOT NULL CHECK (status IN ('accepted', 'review')),
    created_at        timestamptz NOT NULL DEFAULT clock_timestamp(),
    UNIQUE (sender_org, idempotency_key)
);

CREATE TABLE hub.outbox (
    delivery_id       uuid PRIMARY KEY,            -- also the item id in the target's inbox
    notification_id   uuid NOT NULL REFERENCES hub.notification,
    target            text NOT NULL CHECK (target IN ('dwp', 'hb')),
    target_ref        text NOT NULL,               -- the record there: a DWP person id, an HB claim ref
    council_code      text,                        -- for HB: whose team
    status            text NOT NULL DEFAULT 'pending' CHECK (status IN ('pending', 'delivered')),
    attempts          integer NOT NULL DEFAULT 0,
    next_attempt_at   timestamptz NOT NULL DEFAULT clock_timestamp(),
    lease_until       timestamptz,                 -- a dispatcher is delivering it until then
    last_error        text,                        -- an error code, never a message
    delivered_at      timestamptz,
    created_at        timestamptz NOT NULL DEFAULT clock_timestamp()
);
CREATE INDEX outbox_due_idx ON hub.outbox (next_attempt_at) WHERE status = 'pending';
CREATE INDEX outbox_notification_idx ON hub.outbox (notification_id);
