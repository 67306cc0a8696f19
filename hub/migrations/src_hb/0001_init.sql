-- Council Housing Benefit source (synthetic). Several councils' HB teams share this system here;
-- each claim names its council.
CREATE SCHEMA hb;

CREATE TABLE hb.claim (
    claim_ref            text PRIMARY KEY,
    council_code         text NOT NULL,
    nino                 text,               -- as keyed by the council: sometimes missing or mistyped
    given_name           text NOT NULL,
    family_name          text NOT NULL,
    date_of_birth        date NOT NULL,
    address_line1        text,
    town                 text,
    postcode             text,
    tenancy_type         text NOT NULL CHECK (tenancy_type IN ('social', 'lha')),
    weekly_rent          numeric(10, 2) NOT NULL CHECK (weekly_rent >= 0),
    weekly_award         numeric(10, 2) NOT NULL CHECK (weekly_award >= 0),
    bedroom_entitlement  smallint NOT NULL CHECK (bedroom_entitlement BETWEEN 0 AND 6),
    overnight_carer_room boolean NOT NULL DEFAULT false,
    start_date           date NOT NULL,
    end_date             date
);
CREATE INDEX claim_nino_idx ON hb.claim (nino);
CREATE INDEX claim_dob_idx ON hb.claim (date_of_birth);
CREATE INDEX claim_postcode_idx ON hb.claim (postcode);

CREATE TABLE hb.dhp_award (
    dhp_id          bigint PRIMARY KEY,
    claim_ref       text NOT NULL REFERENCES hb.claim,
    reason          text NOT NULL CHECK (reason IN ('under_occupancy', 'benefit_cap', 'lha_shortfall', 'moving_costs', 'other')),
    weekly_amount   numeric(10, 2) NOT NULL CHECK (weekly_amount >= 0),
    start_date      date NOT NULL,
    end_date        date
);
CREATE INDEX dhp_award_claim_idx ON hb.dhp_award (claim_ref);

CREATE TABLE hb.non_dependant (
    non_dependant_id     bigint PRIMARY KEY,
    claim_ref            text NOT NULL REFERENCES hb.claim,
    given_name           text NOT NULL,
    family_name          text NOT NULL,
    date_of_birth        date NOT NULL,
    gross_weekly_income  numeric(10, 2)
);
CREATE INDEX non_dependant_claim_idx ON hb.non_dependant (claim_ref);

CREATE SCHEMA synth_truth;
CREATE TABLE synth_truth.record_identity (
    record_id       text PRIMARY KEY,
    true_person_id  bigint NOT NULL,
    true_nino       text NOT NULL
);
