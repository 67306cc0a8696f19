-- Overnight care confirmations from social care reach the HB team's inbox too (no care detail: the kind
-- and its date).
ALTER TABLE hb.hub_inbox DROP CONSTRAINT hub_inbox_kind_check;
ALTER TABLE hb.hub_inbox ADD CONSTRAINT hub_inbox_kind_check CHECK (kind IN (
    'hospital_admission', 'hospital_discharge', 'care_home_admission', 'care_home_discharge',
    'overnight_care_started', 'overnight_care_ended'));
