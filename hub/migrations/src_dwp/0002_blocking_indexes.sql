-- Blocking keys for the probabilistic fallback, indexed in the source (issue 3): candidates for a
-- person without a usable NINO are found by date of birth, postcode, the sound of the surname with the
-- year of birth or the town, the given name with the town, and the names regardless of which box they
-- were typed into. soundex() comes from fuzzystrmatch (a trusted extension: the owner may create it).
CREATE EXTENSION IF NOT EXISTS fuzzystrmatch WITH SCHEMA public;
CREATE INDEX IF NOT EXISTS person_sound_dob_idx ON dwp.person (public.soundex(family_name), date_of_birth);
CREATE INDEX IF NOT EXISTS person_sound_town_idx ON dwp.person (public.soundex(family_name), upper(town));
CREATE INDEX IF NOT EXISTS person_given_town_idx ON dwp.person (upper(given_name), upper(town));
CREATE INDEX IF NOT EXISTS person_names_idx ON dwp.person (upper(family_name), upper(given_name));
