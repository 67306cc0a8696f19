-- DWP benefits source (synthetic stand-in for DWP's customer and award systems).
-- The hub reads this through a read-only role; it never writes here.
CREATE SCHEMA dwp;

CREATE TABLE dwp.person (
    person_id       bigint PRIMARY KEY,
    nino            text NOT NULL UNIQUE,          -- normalised: 2 letters, 6 digits, suffix A-D
    title           text,
    given_name      text NOT NULL,
    middle_names    text,
    family_name     text NOT NULL,
    date_of_birth   date NOT NULL,
    sex             text CHECK (sex IN ('F', 'M')),
    address_line1   text,
    address_line2   text,
    town            text,
    postcode        text,                          -- normalised 'AA9A 9AA'
    household_id    bigint,
    household_role  text CHECK (household_role IN ('claimant', 'partner', 'child', 'non_dependant')),
    date_of_death   date
);
-- Blocking keys for the probabilistic fallback (issue 3) are indexed in the source.
CREATE INDEX person_dob_idx ON dwp.person (date_of_birth);
CREATE INDEX person_postcode_idx ON dwp.person (postcode);
CREATE INDEX person_household_idx ON dwp.person (household_id);

CREATE TABLE dwp.benefit_award (
    award_id        bigint PRIMARY KEY,
    person_id       bigint NOT NULL REFERENCES dwp.person,
    benefit         text NOT NULL CHECK (benefit IN ('DLA', 'PIP', 'AA', 'PC', 'ESA', 'JSA', 'IS', 'UC', 'SP', 'CA')),
    -- DLA: care | mobility; PIP: daily_living | mobility; PC: guarantee | savings;
    -- ESA/JSA: contribution | income; others: null
    component       text,
    -- DLA care: lowest | middle | highest; DLA mobility: lower | higher; PIP: standard | enhanced;
    -- AA: lower | higher; others: null
    rate            text,
    weekly_amount   numeric(10, 2) NOT NULL CHECK (weekly_amount >= 0),
    start_date      date NOT NULL,
    end_date        date,
    -- PIP mobility assessment detail, needed for the Blue Badge automatic criteria:
    -- points scored on the "moving around" activity (0..12) and the descriptor awarded on
    -- "planning and following journeys" (a..f).
    pip_moving_around_points         smallint CHECK (pip_moving_around_points BETWEEN 0 AND 12),
    pip_planning_journeys_descriptor text CHECK (pip_planning_journeys_descriptor IN ('a', 'b', 'c', 'd', 'e', 'f')),
    CHECK (end_date IS NULL OR end_date >= start_date)
);
CREATE INDEX benefit_award_person_idx ON dwp.benefit_award (person_id);

CREATE TABLE dwp.declared_income (
    income_id       bigint PRIMARY KEY,
    person_id       bigint NOT NULL REFERENCES dwp.person,
    kind            text NOT NULL CHECK (kind IN ('earnings', 'occupational_pension', 'private_pension', 'other')),
    weekly_amount   numeric(10, 2) NOT NULL CHECK (weekly_amount >= 0),
    declared_on     date NOT NULL
);
CREATE INDEX declared_income_person_idx ON dwp.declared_income (person_id);

CREATE TABLE dwp.declared_capital (
    capital_id      bigint PRIMARY KEY,
    person_id       bigint NOT NULL REFERENCES dwp.person,
    kind            text NOT NULL CHECK (kind IN ('savings', 'investments', 'property')),
    amount          numeric(12, 2) NOT NULL CHECK (amount >= 0),
    declared_on     date NOT NULL
);
CREATE INDEX declared_capital_person_idx ON dwp.declared_capital (person_id);

-- Ground truth of the synthetic data: which true person each record belongs to. Kept apart for tests
-- and benchmarks; the hub's read-only role is never granted this schema.
CREATE SCHEMA synth_truth;
CREATE TABLE synth_truth.record_identity (
    record_id       text PRIMARY KEY,
    true_person_id  bigint NOT NULL,
    true_nino       text NOT NULL
);
