/*  kn_db: one PostgreSQL session with the settings every Kinnet service relies on.
    On connect: TCP keepalives (a vanished server is noticed in about a minute),
    synchronous_commit=on (an acknowledgement means the WAL is flushed), UTC, the
    service's own login role (never the owner's: no SET ROLE) with its statement,
    lock and idle-in-transaction timeouts, and every statement the owner registered with
    kn_db_prepare. A broken connection is re-made, statements and all, by
    kn_db_ensure, so callers never hold stale prepared statements.
    Failures are sorted for the caller's client: a database that is gone, restarting,
    full or that gave up waiting is KN_E_SERVICE_UNAVAILABLE (retry with the same
    idempotency key); anything else is KN_E_INTERNAL, a bug to look at. */
#ifndef KN_DB_H_INCLUDED
#define KN_DB_H_INCLUDED

#include <libpq-fe.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "kn_error.h"
#include "kn_log.h"

typedef struct _kn_db_t kn_db_t;

//  A service session's timeouts, in ms, when neither its role (ALTER ROLE ... SET,
//  migration 0024) nor the process (KINNET_DB_STATEMENT_TIMEOUT_MS,
//  KINNET_DB_LOCK_TIMEOUT_MS, KINNET_DB_IDLE_IN_TRANSACTION_TIMEOUT_MS; 0: none)
//  says otherwise. docs/operations.md, "Timeouts", gives the reasons.
#define KN_DB_STATEMENT_TIMEOUT_MS           30000
#define KN_DB_LOCK_TIMEOUT_MS                5000
#define KN_DB_IDLE_IN_TRANSACTION_TIMEOUT_MS 60000

//  The longest database password read from KINNET_DB_SECRETS.
#define KN_DB_PASSWORD_MAX 256

//  Connect to url (libpq conninfo or URI; keepalives=1, keepalives_idle=30,
//  keepalives_interval=10, keepalives_count=3, tcp_user_timeout=60000 and
//  connect_timeout=10 unless it says otherwise). role may be NULL: log in as the
//  url's user, with no timeouts set (the owner's migration runs unbounded). With a
//  role, log in as that role whatever user the url names, with the password in the
//  file KINNET_DB_SECRETS/<role> (mode 600 or stricter) when KINNET_DB_SECRETS is
//  set (else peer, trust or the url's passfile), and the session gets that role's
//  timeouts, then the process's. application_name defaults to role (or "kinnet").
kn_db_t *kn_db_new (const char *url, const char *role, kn_error_t *err);

//  The same for a server that may be down now and come later (a standby): the
//  object is made even when the first connect fails (logged as db.unavailable),
//  and kn_db_ensure connects on first use, preparing every statement registered
//  meanwhile. A connect that gets no answer gives up after connect_timeout_s
//  (2 or more, unless the url says otherwise), so a silent host costs its caller
//  that long, not kn_db_new's 10 s. Clones are lazy too.
kn_db_t *kn_db_new_lazy (const char *url, const char *role, int connect_timeout_s,
                         kn_error_t *err);

//  Close the session (an open transaction ends with it); the next kn_db_ensure
//  makes a new one, which for a multi-host url picks its server again.
void kn_db_disconnect (kn_db_t *self);

//  The roles Kinnet's daemons log in as (migration 0027), NULL-terminated.
extern const char *const kn_db_service_roles[];

//  As the database owner: set role's password. What is sent is its SCRAM-SHA-256
//  verifier, computed here, so the clear text never reaches the server (nor its
//  log, were statements logged).
int kn_db_set_password (kn_db_t *self, const char *role, const char *password,
                        kn_error_t *err);
void kn_db_destroy (kn_db_t **self_p);

//  Plan this session's prepared statements for any values
//  (plan_cache_mode = force_generic_plan), now and in every session after a
//  reconnect, and make the plans again (DISCARD PLANS, at a kn_db_ensure outside a
//  transaction) every every_ms, so that they follow the tables' growth: a plan made
//  while a table was nearly empty scans it whole. For a session that runs a few
//  statements at volume whose best plan does not depend on the values (routing's
//  consumer): left to choose, the server re-plans some of them (many subqueries,
//  so costly to plan) on every call.
int kn_db_prefer_generic_plans (kn_db_t *self, int64_t every_ms, kn_error_t *err);

//  Another session to the same database in the same role (none of self's prepared
//  statements or channels).
kn_db_t *kn_db_clone (kn_db_t *self, kn_error_t *err);

PGconn *kn_db_conn (kn_db_t *self);

//  Prepare name now and again after every reconnect. Preparing the same name with
//  the same SQL again is a no-op (classes sharing a session share helpers).
int kn_db_prepare (kn_db_t *self, const char *name, const char *sql, kn_error_t *err);

//  Prepare each of statements[0..n), given as {name, sql} pairs: a file's table.
int kn_db_prepare_all (kn_db_t *self, const char *statements[][2], size_t n,
                       kn_error_t *err);

//  Reconnect (and re-prepare) if the connection went bad. 0 when usable.
int kn_db_ensure (kn_db_t *self, kn_error_t *err);

//  Run a parameterless command (BEGIN, COMMIT, ...).
int kn_db_exec (kn_db_t *self, const char *sql, kn_error_t *err);

//  Run a prepared statement with text parameters (NULL values are SQL NULL;
//  lengths/formats may be NULL for all-text). Returns the result on success, which
//  the caller PQclear()s; NULL on failure with err set and kn_db_sqlstate() telling
//  the SQLSTATE; err's code is kn_db_classify's.
PGresult *kn_db_run (kn_db_t *self, const char *name, int nparams,
                     const char *const *values, const int *lengths, const int *formats,
                     kn_error_t *err);

//  Start a transaction and tell its timestamp (now (), in microseconds since the
//  epoch), in one round trip: what the rows it writes will say they were made at.
int kn_db_begin_at (kn_db_t *self, int64_t *now_us, kn_error_t *err);

//  The same (now_us may be NULL) for a transaction that may write core.outbox,
//  core.audit or core.disclosure: BEGIN, then core.begin_write (), which announces
//  the writer before it has an xid (kn_cursor.h says why), in the same round trip.
//  On failure no transaction is left open.
int kn_db_begin_write (kn_db_t *self, int64_t *now_us, kn_error_t *err);

//  Run a prepared statement for its effect. When expect_rows >= 0 it must affect
//  exactly that many rows, or it fails (KN_E_INTERNAL). Between kn_db_defer_begin
//  and kn_db_defer_commit it is only sent (libpq pipeline mode), and its outcome is
//  known at the next kn_db_run (which reads the answers of every statement sent
//  before its own, and fails with the first failure among them) or at the commit:
//  the writes a transaction makes between its reads, and at its end with its COMMIT,
//  cost no round trip of their own. A deferred statement with expect_rows >= 0 is
//  read before the COMMIT is sent (one round trip more); with -1 it goes out with it.
int kn_db_do (kn_db_t *self, const char *name, int nparams, const char *const *values,
              long expect_rows, kn_error_t *err);

//  How many times this session has sent the server something and waited for its
//  answer: what a request or a batch costs in round trips, whatever the machine's
//  speed (tests bound it; a statement sent without waiting costs none).
uint64_t kn_db_round_trips (const kn_db_t *self);

//  Several prepared reads, in one round trip (libpq pipeline mode, in or out of
//  kn_db_defer_*), run one after another in the order given: each statement sees
//  what the ones before it did (a lock one takes is held when the next starts).
//  results[i] is reads[i]'s result, to PQclear. 0, or -1 with err for the first
//  that failed and every results[i] NULL.
typedef struct {
    const char *name;
    int nparams;
    const char *const *values;
} kn_db_read_t;
int kn_db_run_each (kn_db_t *self, size_t n, const kn_db_read_t *reads, PGresult **results,
                    kn_error_t *err);

//  The same for reads that all take the same parameters.
int kn_db_run_all (kn_db_t *self, size_t n, const char *const *names, int nparams,
                   const char *const *values, PGresult **results, kn_error_t *err);
int kn_db_defer_begin (kn_db_t *self, kn_error_t *err);

//  kn_db_begin_write, then kn_db_defer_begin, at no round trip of its own: BEGIN,
//  the announcement and the read of now () are sent, and answered with the
//  transaction's first read (or its COMMIT). *now_us (0 until then) must outlive the
//  pipeline. A failure of any of them is reported as a deferred write's is, and the
//  caller rolls back.
int kn_db_defer_begin_write (kn_db_t *self, int64_t *now_us, kn_error_t *err);

//  Between kn_db_defer_begin and kn_db_defer_commit: send a read whose answer is
//  read with the next read's or the COMMIT's, and kept in *answer (the caller
//  PQclears it). *answer is NULL until then, and stays NULL when the read or a
//  statement before it failed (reported as a deferred write's failure is).
int kn_db_defer_read (kn_db_t *self, const char *name, int nparams,
                      const char *const *values, PGresult **answer, kn_error_t *err);

//  Send COMMIT after the deferred statements and wait for all of them. 0 when every
//  one did what it should and the transaction committed. Otherwise -1, err and
//  kn_db_sqlstate () tell the first failure (the statements after it and the COMMIT
//  did nothing), and the transaction is still to be rolled back (kn_db_exec
//  ROLLBACK). Either way the session is out of pipeline mode.
int kn_db_defer_commit (kn_db_t *self, kn_error_t *err);

//  One-off parameterised statement (admin paths, not hot paths). Same contract as
//  kn_db_run.
PGresult *kn_db_query (kn_db_t *self, const char *sql, int nparams,
                       const char *const *values, kn_error_t *err);

//  The same one-off statement without waiting for its answer, so that one caller can
//  keep several sessions busy: kn_db_send sends it; kn_db_socket turns readable as
//  the answer arrives; kn_db_ready reads what came (1: all of it is in, 0: not yet,
//  -1: the connection failed); kn_db_receive takes it, with kn_db_query's contract
//  (it waits if called early). One statement in flight per session.
int kn_db_send (kn_db_t *self, const char *sql, int nparams, const char *const *values,
                kn_error_t *err);
int kn_db_ready (kn_db_t *self);
PGresult *kn_db_receive (kn_db_t *self, kn_error_t *err);

//  The error code for a failure with sqlstate ("" when none came) on a session that
//  is (connected) or is not still up: KN_E_SERVICE_UNAVAILABLE for a lost or
//  unreachable server (class 08, no answer at all), one shutting down or starting
//  (57P01-57P03), out of connections (53300), and for statements that gave up
//  (statement or lock timeout, deadlock, serialisation failure, idle transaction
//  ended, a read-only standby after a failover); KN_E_CONFLICT for a unique
//  violation; KN_E_INTERNAL otherwise.
kn_code_t kn_db_classify (const char *sqlstate, bool connected);

//  Log an effect of the open transaction (kn_log's arguments) only once it is
//  durable: the line is written when a COMMIT on this session succeeds (kn_db_exec,
//  kn_db_defer_commit) and dropped when the transaction rolls back, its COMMIT fails
//  or the session is lost. Outside a transaction it is written at once. So a log
//  never names an offer, a case or a referral that does not exist.
void kn_db_log_committed (kn_db_t *self, kn_level_t level, const char *event, ...)
    __attribute__ ((sentinel));

//  SQLSTATE of the last failed statement ("" when none since the last clear); a
//  later ROLLBACK does not clear it, so a caller can still ask why it rolled back.
const char *kn_db_sqlstate (kn_db_t *self);
void kn_db_clear_sqlstate (kn_db_t *self);

//  LISTEN on channel (re-issued after reconnect). Wake-ups only: the data is in tables.
int kn_db_listen (kn_db_t *self, const char *channel, kn_error_t *err);

//  Socket to poll for notifications; -1 when not connected.
int kn_db_socket (kn_db_t *self);

//  Read input and drop pending notifications; returns how many there were, -1 when
//  the connection failed.
int kn_db_drain_notifies (kn_db_t *self);

#endif
