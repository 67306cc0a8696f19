-- Council adult social care source (synthetic). The NI number is often missing here; the NHS number
-- is the care system's own identifier.
CREATE SCHEMA social_care;

CREATE TABLE social_care.client (
    client_id       text PRIMARY KEY,
    council_code    text NOT NULL,
    nhs_number      text CHECK (nhs_number ~ '^[0-9]{10}$'),
    nino            text,
    given_name      text NOT NULL,
    family_name     text NOT NULL,
    date_of_birth   date NOT NULL,
    address_line1   text,
    town            text,
    postcode        text
);
CREATE INDEX client_nino_idx ON social_care.client (nino);
CREATE INDEX client_dob_idx ON social_care.client (date_of_birth);
CREATE INDEX client_postcode_idx ON social_care.client (postcode);
CREATE INDEX client_nhs_idx ON social_care.client (nhs_number);

CREATE TABLE social_care.care_plan (
    plan_id                     bigint PRIMARY KEY,
    client_id                   text NOT NULL REFERENCES social_care.client,
    start_date                  date NOT NULL,
    end_date                    date,
    overnight_care_required     boolean NOT NULL,
    domiciliary_hours_per_week  numeric(5, 1) NOT NULL CHECK (domiciliary_hours_per_week >= 0)
);
CREATE INDEX care_plan_client_idx ON social_care.care_plan (client_id);

CREATE TABLE social_care.placement (
    placement_id    bigint PRIMARY KEY,
    client_id       text NOT NULL REFERENCES social_care.client,
    kind            text NOT NULL CHECK (kind IN ('hospital', 'care_home')),
    provider        text NOT NULL,
    admitted_on     date NOT NULL,
    discharged_on   date,
    CHECK (discharged_on IS NULL OR discharged_on >= admitted_on)
);
CREATE INDEX placement_client_idx ON social_care.placement (client_id);

CREATE TABLE social_care.financial_assessment (
    assessment_id           bigint PRIMARY KEY,
    client_id               text NOT NULL REFERENCES social_care.client,
    assessed_on             date NOT NULL,
    weekly_assessed_charge  numeric(10, 2) NOT NULL CHECK (weekly_assessed_charge >= 0),
    capital_band            text NOT NULL CHECK (capital_band IN ('below_lower_limit', 'tariff', 'above_upper_limit'))
);
CREATE INDEX financial_assessment_client_idx ON social_care.financial_assessment (client_id);

CREATE SCHEMA synth_truth;
CREATE TABLE synth_truth.record_identity (
    record_id       text PRIMARY KEY,
    true_person_id  bigint NOT NULL,
    true_nino       text NOT NULL
);
