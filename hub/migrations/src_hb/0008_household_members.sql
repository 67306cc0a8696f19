-- Every member of an HB claim is a person (issue 17): the claimant, the partner who claims with them (a
-- couple claims jointly: the partner's income and circumstances are the claim's), and the non-dependants
-- who live in the household (adult children, relatives: deducted from the award, not claimants). Before,
-- only the claimant was a record, so the partner who needs overnight care and the household's other adults
-- were never found in HB, or were found as the claimant.
--
-- A member's record id is the claim's reference with the member's own id: 'HB000123' the claimant,
-- 'HB000123/P5' partner 5, 'HB000123/N17' non-dependant 17 (a person, never a place on the claim: a new
-- partner on a continuing claim is a new record, not the old one's). hb.claim_person lists them all, for
-- linkage; hb.claim_holder the claimant and current partner, whose claim it is: what a fetch by record id or
-- NINO answers, the council a record ties its person to, where a change about them goes. A non-dependant's
-- record, or a former partner's, names the person to the hub and nothing more.
CREATE TABLE hb.partner (
    partner_id            bigint PRIMARY KEY,
    claim_ref             text NOT NULL REFERENCES hb.claim,
    left_on               date,               -- no longer the claimant's partner (separated, died) from
    nino                  text,               -- as keyed by the council: sometimes missing or mistyped
    given_name            text NOT NULL,
    family_name           text NOT NULL,
    date_of_birth         date,
    middle_names          text,
    known_as              text,
    name_suffix           text,
    previous_family_names text
);
CREATE UNIQUE INDEX partner_one_current_idx ON hb.partner (claim_ref) WHERE left_on IS NULL;

ALTER TABLE hb.non_dependant
    ADD COLUMN nino                  text,
    ADD COLUMN middle_names          text,
    ADD COLUMN known_as              text,
    ADD COLUMN name_suffix           text,
    ADD COLUMN previous_family_names text;

-- The members live at the claim's address, and belong to its council for as long as it does. The claim's
-- columns are read by scalar subqueries (one primary-key look-up each), not a join: a UNION ALL branch over
-- one table is an append member, so a keyset scan (WHERE record_ref > $1 ORDER BY record_ref LIMIT n, the
-- batch build's read) is a merge of three index scans; a branch with a join is planned on its own, and
-- sorted whole for every page.
CREATE VIEW hb.claim_person AS
SELECT c.claim_ref AS record_ref, c.claim_ref, 'claimant'::text AS role, c.council_code, c.nino,
       c.given_name, c.family_name, c.middle_names, c.known_as, c.name_suffix, c.previous_family_names,
       c.date_of_birth, c.address_line1, c.town, c.postcode, c.start_date, c.end_date
  FROM hb.claim c
UNION ALL
SELECT p.claim_ref || '/P' || p.partner_id, p.claim_ref, CASE WHEN p.left_on IS NULL THEN 'partner' ELSE 'former_partner' END, (SELECT c.council_code FROM hb.claim c WHERE c.claim_ref = p.claim_ref),
       p.nino, p.given_name, p.family_name, p.middle_names, p.known_as, p.name_suffix, p.previous_family_names,
       p.date_of_birth,
       (SELECT c.address_line1 FROM hb.claim c WHERE c.claim_ref = p.claim_ref),
       (SELECT c.town FROM hb.claim c WHERE c.claim_ref = p.claim_ref),
       (SELECT c.postcode FROM hb.claim c WHERE c.claim_ref = p.claim_ref),
       (SELECT c.start_date FROM hb.claim c WHERE c.claim_ref = p.claim_ref),
       (SELECT c.end_date FROM hb.claim c WHERE c.claim_ref = p.claim_ref)
  FROM hb.partner p
UNION ALL
SELECT n.claim_ref || '/N' || n.non_dependant_id, n.claim_ref, 'non_dependant',
       (SELECT c.council_code FROM hb.claim c WHERE c.claim_ref = n.claim_ref),
       n.nino, n.given_name, n.family_name, n.middle_names, n.known_as, n.name_suffix, n.previous_family_names,
       n.date_of_birth,
       (SELECT c.address_line1 FROM hb.claim c WHERE c.claim_ref = n.claim_ref),
       (SELECT c.town FROM hb.claim c WHERE c.claim_ref = n.claim_ref),
       (SELECT c.postcode FROM hb.claim c WHERE c.claim_ref = n.claim_ref),
       (SELECT c.start_date FROM hb.claim c WHERE c.claim_ref = n.claim_ref),
       (SELECT c.end_date FROM hb.claim c WHERE c.claim_ref = n.claim_ref)
  FROM hb.non_dependant n;

CREATE VIEW hb.claim_holder AS
SELECT * FROM hb.claim_person WHERE role IN ('claimant', 'partner');

-- Each member's record id, NINO and name and date-of-birth blocking keys indexed as the claimant's are
-- (0002, 0007): a read by id or NINO, a keyset scan, and a candidate search on names and date of birth use
-- an index in every branch. (A candidate search on the claim's postcode or town reads each member's claim:
-- the hub asks only DWP, the spine, for candidates.)
CREATE INDEX partner_record_ref_idx ON hb.partner ((claim_ref || '/P' || partner_id));
CREATE INDEX partner_claim_idx ON hb.partner (claim_ref);
CREATE INDEX partner_nino_norm_idx ON hb.partner (upper(replace(nino, ' ', '')));
CREATE INDEX partner_nino_idx ON hb.partner (nino);
CREATE INDEX partner_sound_dob_idx ON hb.partner (public.soundex(family_name), date_of_birth);
CREATE INDEX partner_names_idx ON hb.partner (upper(family_name), upper(given_name));
CREATE INDEX partner_dob_given_idx ON hb.partner (date_of_birth, upper(given_name));
CREATE INDEX non_dependant_record_ref_idx ON hb.non_dependant ((claim_ref || '/N' || non_dependant_id));
CREATE INDEX non_dependant_nino_norm_idx ON hb.non_dependant (upper(replace(nino, ' ', '')));
CREATE INDEX non_dependant_sound_dob_idx ON hb.non_dependant (public.soundex(family_name), date_of_birth);
CREATE INDEX non_dependant_names_idx ON hb.non_dependant (upper(family_name), upper(given_name));
CREATE INDEX non_dependant_dob_given_idx ON hb.non_dependant (date_of_birth, upper(given_name));
