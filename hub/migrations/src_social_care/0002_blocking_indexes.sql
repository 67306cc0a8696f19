-- Blocking keys for the probabilistic fallback, indexed in the source (issue 3): candidates for a
-- person without a usable NINO are found by date of birth, postcode, the sound of the surname with the
-- year of birth or the town, the given name with the town, and the names regardless of which box they
-- were typed into. soundex() comes from fuzzystrmatch (a trusted extension: the owner may create it).
CREATE EXTENSION IF NOT EXISTS fuzzystrmatch WITH SCHEMA public;
CREATE INDEX IF NOT EXISTS client_sound_dob_idx ON social_care.client (public.soundex(family_name), date_of_birth);
CREATE INDEX IF NOT EXISTS client_sound_town_idx ON social_care.client (public.soundex(family_name), upper(town));
CREATE INDEX IF NOT EXISTS client_given_town_idx ON social_care.client (upper(given_name), upper(town));
CREATE INDEX IF NOT EXISTS client_names_idx ON social_care.client (upper(family_name), upper(given_name));
-- Council systems store the NINO as keyed ('ab 12 34 56 c'): look up by its normalised form.
CREATE INDEX IF NOT EXISTS client_nino_norm_idx ON social_care.client (upper(replace(nino, ' ', '')));
