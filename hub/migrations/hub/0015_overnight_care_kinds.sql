-- Social care confirms to a council's HB team, unasked, that overnight care started or ended (a care plan
-- began or finished): two more kinds of notification, delivered to HB only.
ALTER TABLE hub.notification DROP CONSTRAINT notification_kind_check;
ALTER TABLE hub.notification ADD CONSTRAINT notification_kind_check CHECK (kind IN (
    'hospital_admission', 'hospital_discharge', 'care_home_admission', 'care_home_discharge',
    'overnight_care_started', 'overnight_care_ended'));
