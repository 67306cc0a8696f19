-- A person whose address must never be disclosed (fleeing violence, witness protection): DWP's flag.
ALTER TABLE dwp.person ADD COLUMN address_protected boolean NOT NULL DEFAULT false;
