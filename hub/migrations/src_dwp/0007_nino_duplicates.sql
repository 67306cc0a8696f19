-- DWP's customer records hold duplicates (issue 17): one person registered twice (a second claim taken
-- before the first was found, a record migrated from an older system), each carrying the same NINO. A
-- spine that refused the second record made a loader drop it, and with it that record's awards. The
-- NINO stays indexed for look-ups; the hub's link build decides whether the records sharing one are one
-- person (linked to one person key) or not (flagged for a person to decide), never silently.
ALTER TABLE dwp.person DROP CONSTRAINT person_nino_key;
CREATE INDEX person_nino_idx ON dwp.person (nino);
