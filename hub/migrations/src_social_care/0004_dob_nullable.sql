-- A date of birth may be unknown (issue 17): a client known from a hospital discharge, a safeguarding
-- referral or an anonymous contact before anyone confirmed it. Refusing NULL made loaders write a
-- placeholder (1900-01-01, as social care systems often record it), which linkage then compared as a real
-- date: it never matched the person's own record and matched every other placeholder. NULL is "not
-- known"; a placeholder still held is read as missing too (linkage/placeholders.py, per-source
-- configuration).
ALTER TABLE social_care.client ALTER COLUMN date_of_birth DROP NOT NULL;
