-- A national body (a DWP benefit team, an auditor, the hub's identity team) serves no one council's area.
-- Only such an organisation may look up people without a local tie: an organisation with neither this
-- flag nor an area is refused, so an operator's omission never opens the whole country.
ALTER TABLE hub.organisation ADD COLUMN national boolean NOT NULL DEFAULT false;
