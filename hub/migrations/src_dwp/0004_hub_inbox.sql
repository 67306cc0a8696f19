-- Changes of circumstance the hub delivers to DWP's benefit teams (a care-home or hospital stay changes
-- some awards). The hub writes here and nowhere else in this store; item_id is the hub's delivery id, so a
-- delivery repeated after a fault lands once.
CREATE TABLE dwp.hub_inbox (
    item_id          uuid PRIMARY KEY,
    notification_id  uuid NOT NULL,
    kind             text NOT NULL CHECK (kind IN ('hospital_admission', 'hospital_discharge',
                                                   'care_home_admission', 'care_home_discharge')),
    effective_date   date NOT NULL,
    person_id        bigint NOT NULL,              -- dwp.person
    sender_org_type  text NOT NULL,                -- who knew first (council adult social care, an ALMO)
    received_at      timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX hub_inbox_person_idx ON dwp.hub_inbox (person_id);
