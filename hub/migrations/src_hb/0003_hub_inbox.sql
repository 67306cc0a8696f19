-- Changes of circumstance the hub delivers to a council's Housing Benefit team, for one of its claims.
-- The hub writes here and nowhere else in this store; item_id is the hub's delivery id, so a delivery
-- repeated after a fault lands once.
CREATE TABLE hb.hub_inbox (
    item_id          uuid PRIMARY KEY,
    notification_id  uuid NOT NULL,
    kind             text NOT NULL CHECK (kind IN ('hospital_admission', 'hospital_discharge',
                                                   'care_home_admission', 'care_home_discharge')),
    effective_date   date NOT NULL,
    claim_ref        text NOT NULL,                -- hb.claim
    council_code     text NOT NULL,                -- the team it is for
    sender_org_type  text NOT NULL,
    received_at      timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX hub_inbox_council_idx ON hb.hub_inbox (council_code, received_at);
