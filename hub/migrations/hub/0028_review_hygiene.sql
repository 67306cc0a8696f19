-- Review queue hygiene (issue 17, item 4): a rebuild closes the items it no longer proposes. Before, a
-- rebuild with new thresholds or a new model left every earlier item open, stale, beside the new ones.
--
-- An item is now 'superseded' when a later run re-decides its record and no longer puts this candidate to
-- review: the record linked ('linked'), was found to be no one in the spine ('not_linked'), or is still in
-- review with other candidates ('candidate_dropped'). Nothing is deleted: the item keeps its evidence, and
-- which run closed it and when, beside the decisions people made (which a rebuild never reopens).
--
-- Each item also keeps the run that last proposed it and the thresholds it was weighed against, so that a
-- reviewer can be told why it is there (its probability between which bands, or the NINO that disagrees).
ALTER TABLE hub.review_item DROP CONSTRAINT review_item_status_check;
ALTER TABLE hub.review_item
    ADD CONSTRAINT review_item_status_check CHECK (status IN ('open', 'accepted', 'rejected', 'superseded')),
    ADD COLUMN run_id bigint REFERENCES hub.link_run (run_id),
    ADD COLUMN link_threshold double precision,
    ADD COLUMN review_threshold double precision,
    ADD COLUMN superseded_by_run bigint REFERENCES hub.link_run (run_id),
    ADD COLUMN superseded_at timestamptz,
    ADD COLUMN superseded_because text
        CHECK (superseded_because IN ('linked', 'not_linked', 'candidate_dropped')),
    ADD CONSTRAINT review_item_superseded_check
        CHECK ((status = 'superseded') = (superseded_at IS NOT NULL AND superseded_because IS NOT NULL));
CREATE INDEX review_item_record_idx ON hub.review_item (source, source_record_id) WHERE status = 'open';

-- What each run did to the queue: opened, refreshed, superseded, and how many items were open at its end.
ALTER TABLE hub.link_run ADD COLUMN review jsonb NOT NULL DEFAULT '{}';

-- The bands each link was decided with: a rebuild with new thresholds decides every record again (before,
-- only new data or a new model did, so new thresholds changed nothing already decided).
ALTER TABLE hub.link ADD COLUMN thresholds text;
