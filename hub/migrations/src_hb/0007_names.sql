-- The names real systems hold beside the given and family name (issue 17): middle names, the name a
-- person goes by ("known as": Bob for Robert, a middle name used as the first), a generational suffix
-- (Jnr, Snr, III: a father and son of one name at one address are told apart by nothing else), and
-- earlier surnames (changed on marriage or by deed poll; one or more, separated by ';'). Linkage compares
-- each of them (linkage/compare.py); none is required.
ALTER TABLE hb.claim
    ADD COLUMN middle_names          text,
    ADD COLUMN known_as              text,
    ADD COLUMN name_suffix           text,
    ADD COLUMN previous_family_names text;
CREATE INDEX IF NOT EXISTS claim_dob_given_idx ON hb.claim (date_of_birth, upper(given_name));
