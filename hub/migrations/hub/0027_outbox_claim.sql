-- Each claim of a delivery is fenced by a token of its own (security review): a dispatcher whose round
-- outlived its lease could clear the lease of the one that had claimed the delivery since (its "retry
-- later" left the row due while the other was still writing, so a third claimed it too), and write
-- NOT_RECORDED onto a row already delivered. The dispatcher now changes a pending row only while it holds
-- the row's current claim (claim_id = its token); NULL when no one holds it.
ALTER TABLE hub.outbox ADD COLUMN claim_id uuid;
