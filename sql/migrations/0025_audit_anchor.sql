-- An audit trail whose tail cannot be cut (issue 16). Three changes:
--
-- 1. Checkpoints are numbered and chained: a new (version 2) checkpoint signs its
--    number, the audit chain's head (position = records chained), the disclosure
--    chain's head (position = disclosures chained) and the SHA-256 of the checkpoint
--    before it, so none can be taken out of the middle, and an auditor who keeps the
--    last one verified (kinnet audit verify --anchor FILE) sees a cut tail or a
--    rewritten history. The checkpoints signed before this migration keep their
--    version 1 form and are verified as before; they are numbered here in chain
--    order, and the first version 2 checkpoint chains to the last of them.
-- 2. The disclosure log is chained like the audit trail (core.disclosure_chain), by
--    the same sealer, in commit order; it carries its writing transaction (xid) for
--    that. Rows logged before this migration are chained by the first seal after it:
--    what happened to them before that cannot be shown.
-- 3. Nothing else changes for the services: they keep inserting.

ALTER TABLE core.audit_checkpoint ADD COLUMN number bigint;
UPDATE core.audit_checkpoint c SET number = o.n
  FROM (SELECT seq, row_number () OVER (ORDER BY seq) AS n FROM core.audit_checkpoint) o
 WHERE o.seq = c.seq;
ALTER TABLE core.audit_checkpoint ALTER COLUMN number SET NOT NULL;
ALTER TABLE core.audit_checkpoint DROP CONSTRAINT audit_checkpoint_pkey;
ALTER TABLE core.audit_checkpoint ADD PRIMARY KEY (number);
ALTER TABLE core.audit_checkpoint ADD CONSTRAINT audit_checkpoint_number CHECK (number >= 1);
ALTER TABLE core.audit_checkpoint
  ADD COLUMN version smallint NOT NULL DEFAULT 1 CHECK (version IN (1, 2)),
  ADD COLUMN disclosure_seq bigint,
  ADD COLUMN disclosure_link bytea CHECK (length(disclosure_link) = 32),
  ADD COLUMN previous bytea CHECK (length(previous) = 32),
  ADD CONSTRAINT audit_checkpoint_v2 CHECK (version = 1 OR (disclosure_seq IS NOT NULL
    AND disclosure_link IS NOT NULL AND previous IS NOT NULL));
ALTER TABLE core.audit_checkpoint ALTER COLUMN version SET DEFAULT 2;
CREATE INDEX audit_checkpoint_seq ON core.audit_checkpoint (seq);

ALTER TABLE core.disclosure ADD COLUMN xid xid8 NOT NULL DEFAULT pg_current_xact_id ();
CREATE INDEX disclosure_xid ON core.disclosure (xid, id);

CREATE TABLE core.disclosure_chain (
  seq             bigint PRIMARY KEY CHECK (seq >= 1),
  disclosure_id   bigint NOT NULL UNIQUE,
  disclosure_xid  xid8 NOT NULL,
  link            bytea NOT NULL CHECK (length(link) = 32),
  sealed_at       timestamptz NOT NULL DEFAULT now()
);

GRANT SELECT ON core.disclosure TO kinnet_audit;
GRANT SELECT, INSERT ON core.disclosure_chain TO kinnet_audit;
GRANT SELECT ON core.disclosure_chain TO kinnet_reporting;
