-- A record can now go to review because the spine record it matches is itself waiting for a person: DWP
-- holds that record's NINO on another person's record too (a duplicate the build could not call one
-- person: hub/ops/linking/build.py). Nothing links to such a record until a person decides whose it is.
ALTER TABLE hub.review_item DROP CONSTRAINT review_item_reason_check;
ALTER TABLE hub.review_item ADD CONSTRAINT review_item_reason_check
    CHECK (reason IN ('probabilistic', 'nino_conflict', 'spine_record_in_review'));
