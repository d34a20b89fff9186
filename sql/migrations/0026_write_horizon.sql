-- An open transaction no longer stops routing and sealing (issue 16).
--
-- The routing consumer and the audit sealer read core.outbox, core.audit and
-- core.disclosure in (xid, id) order behind a position (kn_cursor). Until now they
-- read only below the oldest transaction still running in the cluster, so any open
-- transaction with an xid (an operator's forgotten BEGIN, a SELECT txid_current ()
-- in psql, a session of another database) stopped both until it ended.
--
-- Now every transaction that writes those three tables announces itself before it
-- has an xid: core.begin_write () takes advisory lock K in shared mode, for the
-- rest of the transaction, and refuses once the transaction has an xid. Triggers on
-- the three tables refuse a row from a transaction that has an xid and did not
-- announce itself; a statement that is its transaction's first write announces it
-- itself (an autocommit INSERT, an operator's single statement). So a running
-- transaction whose backend does not hold K never wrote, and never will write, a row
-- the cursors read, and core.write_horizon () lets the cursors read past it.
-- services/lib/kn_cursor.h gives the whole argument.
--
-- K = 5426370611957220657 = 0x4B4E575249544531, the ASCII bytes 'KNWRITE1'. In
-- pg_locks: locktype 'advisory', classid 1263425362 (0x4B4E5752), objid 1230259505
-- (0x49544531), objsubid 1 (a bigint key). Nobody takes K exclusively: that would
-- stop every writer until it ended.

CREATE FUNCTION core.begin_write () RETURNS void
  LANGUAGE plpgsql SECURITY INVOKER AS $$
BEGIN
  IF pg_current_xact_id_if_assigned () IS NOT NULL THEN
    RAISE EXCEPTION 'core.begin_write () must come before the transaction writes anything'
      USING ERRCODE = 'object_not_in_prerequisite_state',
            HINT = 'Start the transaction with BEGIN; SELECT core.begin_write ();';
  END IF;
  PERFORM pg_advisory_xact_lock_shared (5426370611957220657);
  -- The mark the triggers check. Set with K and undone with it (a savepoint rolled
  -- back undoes both; a transaction-level K cannot be released by hand), so it
  -- stands for K held. It names the transaction (its start time), so a value set
  -- for the session, the role or the database stands for nothing.
  PERFORM set_config ('kinnet.write_begun', extract (epoch FROM now ())::text, true);
END $$;

-- BEFORE INSERT, once a statement: the statement's first row gets its xid after
-- this runs (the xid column's default assigns it), so a transaction without one
-- yet may still announce itself here. Otherwise the transaction must hold K taken
-- by core.begin_write (), told by its mark: K taken by hand after the xid does not
-- count. The mark and not pg_locks, because reading pg_locks takes every lock
-- partition's lock and costs some 200 us, on every write statement of every service.
CREATE FUNCTION core.write_announced () RETURNS trigger
  LANGUAGE plpgsql SECURITY INVOKER AS $$
BEGIN
  IF pg_current_xact_id_if_assigned () IS NULL THEN
    PERFORM core.begin_write ();
  ELSIF current_setting ('kinnet.write_begun', true)
        IS DISTINCT FROM extract (epoch FROM now ())::text THEN
    RAISE EXCEPTION 'a row of %.% from a transaction that did not begin with core.begin_write ()',
                    TG_TABLE_SCHEMA, TG_TABLE_NAME
      USING ERRCODE = 'object_not_in_prerequisite_state',
            HINT = 'Start the transaction with BEGIN; SELECT core.begin_write ();';
  END IF;
  RETURN NULL;
END $$;

CREATE TRIGGER outbox_write_announced BEFORE INSERT ON core.outbox
  FOR EACH STATEMENT EXECUTE FUNCTION core.write_announced ();
CREATE TRIGGER audit_write_announced BEFORE INSERT ON core.audit
  FOR EACH STATEMENT EXECUTE FUNCTION core.write_announced ();
CREATE TRIGGER disclosure_write_announced BEFORE INSERT ON core.disclosure
  FOR EACH STATEMENT EXECUTE FUNCTION core.write_announced ();
-- A role granted or taken away writes its audit row from a trigger after the
-- agency_role row (migration 0014), and a new agency gets its first role from a
-- trigger (a deleted one loses its roles by cascade): an operator's single statement
-- on either table announces itself before its first row gives it an xid.
CREATE TRIGGER agency_role_write_announced BEFORE INSERT OR DELETE ON core.agency_role
  FOR EACH STATEMENT EXECUTE FUNCTION core.write_announced ();
CREATE TRIGGER agency_write_announced BEFORE INSERT OR DELETE ON core.agency
  FOR EACH STATEMENT EXECUTE FUNCTION core.write_announced ();

-- Rows of transactions below the result are final in snapshot: committed and
-- visible in it, or never to be seen. The result is the smallest xid running in
-- snapshot that is not proven harmless, else the snapshot's xmax; never above the
-- caller's own xid (its own rows are not committed). A running xid is harmless when
-- the lock manager, read once, shows it held (its own ExclusiveLock, granted) by a
-- backend that neither holds nor waits for K in this database: K comes before any
-- xid and stays to the end, so that transaction never wrote and cannot write a row
-- here. Anything else (it holds K, it ended after the snapshot so its rows are not in
-- it, a prepared transaction, its lock not there yet) holds the horizon. Takes the
-- caller's snapshot as an argument so that it judges the snapshot the scan uses.
CREATE FUNCTION core.write_horizon (snapshot pg_snapshot) RETURNS xid8
  LANGUAGE plpgsql STABLE SECURITY INVOKER AS $$
DECLARE
  horizon xid8 := pg_snapshot_xmax (snapshot);
BEGIN
  IF EXISTS (SELECT FROM pg_snapshot_xip (snapshot)) THEN
    WITH locks AS MATERIALIZED (   -- one read of the lock manager, used twice
      SELECT locktype, pid, mode, granted, transactionid, database, classid, objid,
             objsubid
        FROM pg_catalog.pg_locks
       WHERE locktype IN ('transactionid', 'advisory')),
    writers AS (
      SELECT pid FROM locks
       WHERE locktype = 'advisory' AND pid IS NOT NULL
         AND database = (SELECT oid FROM pg_catalog.pg_database
                          WHERE datname = current_database ())
         AND classid = 1263425362 AND objid = 1230259505 AND objsubid = 1),
    harmless AS (
      -- pg_locks names the 32-bit xid. The xids running in one snapshot lie within
      -- 2^31 of each other (wraparound protection stops xid assignment before that),
      -- so no two of them, nor one of them and any xid running at the same time,
      -- share their low 32 bits. Where a prepared transaction may exist its locks
      -- move to it one lock partition at a time, so nothing counts as harmless there.
      SELECT transactionid::text::bigint AS xid32 FROM locks
       WHERE locktype = 'transactionid' AND mode = 'ExclusiveLock' AND granted
         AND pid IS NOT NULL AND pid NOT IN (SELECT pid FROM writers)
         AND current_setting ('max_prepared_transactions')::int = 0)
    SELECT coalesce (min (x), horizon) INTO horizon
      FROM pg_snapshot_xip (snapshot) AS x
     WHERE (x::text::numeric % 4294967296)::bigint NOT IN (SELECT xid32 FROM harmless);
  END IF;
  RETURN LEAST (horizon, pg_current_xact_id_if_assigned ());
END $$;

REVOKE ALL ON FUNCTION core.begin_write () FROM PUBLIC;
GRANT EXECUTE ON FUNCTION core.begin_write ()
  TO kinnet_intake, kinnet_consent, kinnet_routing, kinnet_audit, kinnet_reporting,
     kinnet_admin;
-- The horizon reads only what pg_locks shows everyone: the cursors' roles and any
-- operator may ask for it (docs/operations.md, "Timeouts").
GRANT EXECUTE ON FUNCTION core.write_horizon (pg_snapshot) TO PUBLIC;

-- Operators' sessions too: an open transaction left idle for 10 minutes is ended
-- (a forgotten BEGIN holds locks and, if it wrote, the cursors). Daemons' sessions
-- keep their role's shorter bound (migration 0024, applied by kn_db after SET ROLE);
-- pg_dump turns it off for itself. Set on the database the migration runs in, so
-- an ALTER DATABASE ... RESET undoes it; new sessions pick it up at login.
DO $$
BEGIN
  EXECUTE format ('ALTER DATABASE %I SET idle_in_transaction_session_timeout = %L',
                  current_database (), '10min');
END $$;
