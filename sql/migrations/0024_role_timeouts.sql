-- Every service role's sessions are bounded (issue 16): one statement, one lock wait
-- and one idle open transaction cannot hold the others up for good. An open
-- transaction pins the cluster's oldest running transaction, below which the routing
-- consumer and the audit sealer read: without a bound, an operator's forgotten BEGIN
-- or a half-open connection stops routing and sealing.
--
-- PostgreSQL applies these at login only, never at SET ROLE: a daemon that logs in as
-- another role and switches has kn_db apply its role's values after the switch, and
-- KINNET_DB_*_TIMEOUT_MS in a daemon's environment overrides them (docs/operations.md,
-- "Timeouts", gives the reasons for each value).
--
-- Request paths (broker, intake, consent, routing, admin): a statement 30 s (the
-- client's whole retry budget is 3 x 5 s; nothing on these paths takes a second), a
-- lock wait 5 s (a row held longer is held by something stuck: answer
-- SERVICE_UNAVAILABLE and let the client retry), an idle open transaction 60 s.
ALTER ROLE kinnet_broker SET statement_timeout = '30s';
ALTER ROLE kinnet_broker SET lock_timeout = '5s';
ALTER ROLE kinnet_broker SET idle_in_transaction_session_timeout = '60s';
ALTER ROLE kinnet_intake SET statement_timeout = '30s';
ALTER ROLE kinnet_intake SET lock_timeout = '5s';
ALTER ROLE kinnet_intake SET idle_in_transaction_session_timeout = '60s';
ALTER ROLE kinnet_consent SET statement_timeout = '30s';
ALTER ROLE kinnet_consent SET lock_timeout = '5s';
ALTER ROLE kinnet_consent SET idle_in_transaction_session_timeout = '60s';
ALTER ROLE kinnet_routing SET statement_timeout = '30s';
ALTER ROLE kinnet_routing SET lock_timeout = '5s';
ALTER ROLE kinnet_routing SET idle_in_transaction_session_timeout = '60s';
ALTER ROLE kinnet_admin SET statement_timeout = '30s';
ALTER ROLE kinnet_admin SET lock_timeout = '5s';
ALTER ROLE kinnet_admin SET idle_in_transaction_session_timeout = '60s';

-- Reports and audit checks scan whole tables and the whole chain: 5 minutes a
-- statement. One report runs on several sessions in one snapshot; the first waits,
-- idle in its transaction, while the others run their queries, so it may stay idle
-- as long as a statement may run.
ALTER ROLE kinnet_reporting SET statement_timeout = '300s';
ALTER ROLE kinnet_reporting SET lock_timeout = '5s';
ALTER ROLE kinnet_reporting SET idle_in_transaction_session_timeout = '300s';

-- The audit sealer links a backlog of records in one transaction after an outage.
ALTER ROLE kinnet_audit SET statement_timeout = '300s';
ALTER ROLE kinnet_audit SET lock_timeout = '5s';
ALTER ROLE kinnet_audit SET idle_in_transaction_session_timeout = '60s';
