-- Each organisation's registered operations (issue 16, item 5): the safelist a partner organisation type
-- (the register's [operations] required_for) must keep to, and the documents any organisation may send by
-- hash alone (automatic persisted queries, APQ). Hash-addressed: sha256 of the document's exact text, as a
-- client computes it. Written only by `welfare-hub operations add|remove`; read by the hub per request.
CREATE TABLE hub.persisted_operation (
    org             text NOT NULL,
    sha256          text NOT NULL CHECK (sha256 ~ '^[0-9a-f]{64}$'),
    document        text NOT NULL,
    operation_name  text,
    added_at        timestamptz NOT NULL DEFAULT clock_timestamp(),
    PRIMARY KEY (org, sha256)
);
