-- The user's own hub person key (from the link index when they were recorded): their record is refused
-- however it is reached (another NINO linked to them, or their details), not only by their own NINO.
ALTER TABLE hub.staff_identity ADD COLUMN person_key uuid;
