-- A date of birth may be unknown (issue 17): a claim taken before the evidence arrived, a non-dependant
-- whose date the claimant did not give, a record migrated from a system that never held one. Refusing
-- NULL made loaders write a placeholder (1900-01-01) instead, which linkage then compared as a real date:
-- it never matched the person's own record and matched every other placeholder. NULL is "not known";
-- a placeholder still held is read as missing too (linkage/placeholders.py, per-source configuration).
ALTER TABLE hb.claim ALTER COLUMN date_of_birth DROP NOT NULL;
ALTER TABLE hb.non_dependant ALTER COLUMN date_of_birth DROP NOT NULL;
