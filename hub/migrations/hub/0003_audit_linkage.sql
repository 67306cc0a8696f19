-- How the subject was found, for the auditor: the match probability and the model that gave it
-- (link_method already says nino, link_index or probabilistic).
ALTER TABLE hub.audit_event ADD COLUMN link_probability double precision;
ALTER TABLE hub.audit_event ADD COLUMN model_version text;
