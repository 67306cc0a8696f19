-- The organisation register (issue 4): who may call the hub at all. Each organisation (a council team, a
-- DWP benefit team, an ALMO, an accredited voluntary agency, an auditor) has one type from the purpose
-- register; a partner names the council that is data controller for what it receives, and may carry an
-- accreditation expiry after which it gets nothing.
CREATE TABLE hub.organisation (
    org_id            text PRIMARY KEY CHECK (org_id <> ''),
    name              text NOT NULL,
    org_type          text NOT NULL,
    council_code      text,                 -- the council area it serves (a legitimate relationship's tie)
    controller_org    text REFERENCES hub.organisation (org_id),
    accredited_until  date,                 -- null: not subject to accreditation
    active            boolean NOT NULL DEFAULT true,
    updated_at        timestamptz NOT NULL DEFAULT now(),
    CHECK (controller_org IS NULL OR controller_org <> org_id)
);
