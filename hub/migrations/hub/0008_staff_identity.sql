-- Who the hub's users are, as people (issue 4): a user looking up their own record is refused and the
-- attempt flagged for the auditor. Both sides are keyed hashes made with the hub's stable secret: the user
-- as the audit log keys them, the person as consent records do. No NINO, no name.
CREATE TABLE hub.staff_identity (
    user_hash     text PRIMARY KEY,
    subject_hash  text NOT NULL,
    recorded_at   timestamptz NOT NULL DEFAULT now()
);
