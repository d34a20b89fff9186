/*  records_keeper: the retention schedules applied. See the header. */
#include "records_keeper.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <czmq.h>

#include "kn_alloc.h"
#include "kn_audit.h"
#include "kn_clock.h"
#include "kn_config.h"
#include "kn_log.h"
#include "kn_pb.h"

//  A schedule's period in force at the clock ($1) as an interval (NULL when kept
//  without limit): a pending shortening counts from its moment on (migration 0038).
#define PERIOD(type)                                                                     \
    "(SELECT make_interval (days => days) FROM core.retention_in_force (to_timestamp ($1))" \
    " WHERE record_type = '" type "')"

//  The rows of each kind a run may delete ($1 the clock, Unix seconds; $2 the batch):
//  the keys of at most $2 of them.
#define OUTBOX_DUE                                                                       \
    "SELECT o.id FROM core.outbox o WHERE o.created_at < to_timestamp ($1) - " PERIOD (  \
        "outbox") " AND EXISTS (SELECT 1 FROM routing.cursor)"                           \
    " AND NOT EXISTS (SELECT 1 FROM routing.cursor c"                                    \
    "  WHERE (o.xid, o.id) > (c.last_xid, c.last_id)) ORDER BY o.id LIMIT $2"
#define FEED_DUE                                                                         \
    "SELECT f.agency_id, f.seq FROM routing.feed f"                                      \
    " JOIN routing.feed_mark m ON m.agency_id = f.agency_id"                             \
    " WHERE f.seq <= m.read_to AND f.created_at < to_timestamp ($1) - " PERIOD ("feed")  \
    " ORDER BY f.agency_id, f.seq LIMIT $2"
#define IDEMPOTENCY_DUE(table)                                                           \
    "SELECT ctid FROM " table " WHERE created_at < to_timestamp ($1) - " PERIOD (        \
        "idempotency") " LIMIT $2"
#define IDEMPOTENCY_DELETE(table)                                                        \
    "WITH gone AS (DELETE FROM " table " WHERE ctid = ANY (ARRAY (" IDEMPOTENCY_DUE (    \
        table) ")) RETURNING 1) SELECT count(*) FROM gone"
#define IDEMPOTENCY_COUNT(table) "SELECT count(*) FROM (" IDEMPOTENCY_DUE (table) ") d"

static const char *s_ledgers[] = {"intake.idempotency", "consent.idempotency",
                                  "routing.idempotency", "admin.idempotency",
                                  "records.idempotency"};
#define N_LEDGERS (sizeof s_ledgers / sizeof s_ledgers[0])

int
records_keeper_prepare (kn_db_t *db, kn_error_t *err)
{
    static const char *statements[][2] = {
        {"keeper_run_insert",
         "INSERT INTO core.retention_run (id, clock, run_by, dry_run, erased, held, outbox,"
         " feed, idempotency) VALUES ($1, to_timestamp ($2), $3, $4, 0, 0, 0, 0, 0)"},
        {"keeper_run_update",
         "UPDATE core.retention_run SET erased = $2, held = $3, outbox = $4, feed = $5,"
         " idempotency = $6, audit = $7, disclosures = $8, finished_at = now ()"
         " WHERE id = $1"},
        {"keeper_run_get",
         "SELECT dry_run, extract (epoch FROM clock)::bigint, erased, held, outbox, feed,"
         " idempotency, finished_at IS NULL, audit, disclosures FROM core.retention_run"
         " WHERE id = $1"},
        //  The audit trail or the disclosure log ($1) pruned at $2, about $3 rows:
        //  the function decides what is due (migration 0036); $4 dry run.
        {"keeper_prune", "SELECT core.audit_prune ($1, to_timestamp ($2), $3, $4, $5)"},
        //  The people due at $1, at most $2 of those under a hold and $2 of the rest:
        //  one pass over everyone (records.due reads every person's records).
        {"keeper_due",
         "SELECT subject_id, held FROM (SELECT subject_id, held, row_number () OVER"
         " (PARTITION BY held ORDER BY retained_until, subject_id) AS n"
         " FROM records.due (to_timestamp ($1))) d WHERE n <= $2"
         " ORDER BY held, n"},
        {"keeper_due_one", "SELECT held FROM records.due (to_timestamp ($1), $2)"},
        {"keeper_outbox",
         "WITH gone AS (DELETE FROM core.outbox WHERE id IN (" OUTBOX_DUE ") RETURNING id),"
         " ledger AS (DELETE FROM routing.consumed WHERE outbox_id IN (SELECT id FROM gone))"
         " SELECT count(*) FROM gone"},
        {"keeper_outbox_count", "SELECT count(*) FROM (" OUTBOX_DUE ") d"},
        {"keeper_feed",
         "WITH d AS (" FEED_DUE "), gone AS (DELETE FROM routing.feed f USING d"
         " WHERE f.agency_id = d.agency_id AND f.seq = d.seq RETURNING 1)"
         " SELECT count(*) FROM gone"},
        {"keeper_feed_count", "SELECT count(*) FROM (" FEED_DUE ") d"},
        {"keeper_idem_0", IDEMPOTENCY_DELETE ("intake.idempotency")},
        {"keeper_idem_1", IDEMPOTENCY_DELETE ("consent.idempotency")},
        {"keeper_idem_2", IDEMPOTENCY_DELETE ("routing.idempotency")},
        {"keeper_idem_3", IDEMPOTENCY_DELETE ("admin.idempotency")},
        {"keeper_idem_4", IDEMPOTENCY_DELETE ("records.idempotency")},
        {"keeper_idem_count_0", IDEMPOTENCY_COUNT ("intake.idempotency")},
        {"keeper_idem_count_1", IDEMPOTENCY_COUNT ("consent.idempotency")},
        {"keeper_idem_count_2", IDEMPOTENCY_COUNT ("routing.idempotency")},
        {"keeper_idem_count_3", IDEMPOTENCY_COUNT ("admin.idempotency")},
        {"keeper_idem_count_4", IDEMPOTENCY_COUNT ("records.idempotency")},
    };
    return kn_db_prepare_all (db, statements, sizeof statements / sizeof statements[0], err);
}

static void
s_num (char *out, size_t size, int64_t value)
{
    snprintf (out, size, "%lld", (long long)value);
}

int
records_run_open (records_server_t *self, const char *run_id, const char *agency,
                  int64_t now, bool dry_run, kn_error_t *err)
{
    char clock[24];
    s_num (clock, sizeof clock, now);
    const char *values[] = {run_id, clock, agency, dry_run ? "t" : "f"};
    PGresult *done = kn_db_run (self->db, "keeper_run_insert", 4, values, NULL, NULL, err);
    PQclear (done);
    return done ? 0 : -1;
}

int
records_run_load (records_server_t *self, const char *run_id, Kinnet__V1__RetentionRun *run,
                  kn_error_t *err)
{
    const char *values[] = {run_id};
    PGresult *row = kn_db_run (self->db, "keeper_run_get", 1, values, NULL, NULL, err);
    if (!row)
        return -1;
    int rc = PQntuples (row) == 1
                 ? 0
                 : kn_error_set (err, KN_E_INTERNAL, NULL, "retention run %s not recorded",
                                 run_id);
    if (rc == 0) {
        run->run_id = kn_pb_string (run_id);
        run->dry_run = PQgetvalue (row, 0, 0)[0] == 't';
        run->clock = kn_pb_timestamp (strtoll (PQgetvalue (row, 0, 1), NULL, 10));
        run->erased = atoi (PQgetvalue (row, 0, 2));
        run->held = atoi (PQgetvalue (row, 0, 3));
        run->outbox = atoi (PQgetvalue (row, 0, 4));
        run->feed = atoi (PQgetvalue (row, 0, 5));
        run->idempotency = atoi (PQgetvalue (row, 0, 6));
        //  Cut short (or still going): what is due is due again at the next run.
        run->more = PQgetvalue (row, 0, 7)[0] == 't';
        run->audit = atoi (PQgetvalue (row, 0, 8));
        run->disclosures = atoi (PQgetvalue (row, 0, 9));
    }
    PQclear (row);
    return rc;
}

//  A count from row 0, column 0 of statement name; -1 with err.
static int
s_count (records_server_t *self, const char *name, const char *now, const char *batch,
         kn_error_t *err)
{
    const char *values[] = {now, batch};
    PGresult *row = kn_db_run (self->db, name, 2, values, NULL, NULL, err);
    if (!row)
        return -1;
    int n = PQntuples (row) == 1 ? atoi (PQgetvalue (row, 0, 0)) : 0;
    PQclear (row);
    return n;
}

//  Prune chain ("audit", "disclosure") at now, about batch rows: how many went (or
//  would, on a dry run); -1 with err.
static int
s_prune (records_server_t *self, const char *chain, const char *now, const char *batch,
         bool dry_run, const char *run_id, kn_error_t *err)
{
    const char *values[] = {chain, now, batch, dry_run ? "t" : "f", run_id};
    PGresult *row = kn_db_run (self->db, "keeper_prune", 5, values, NULL, NULL, err);
    if (!row)
        return -1;
    int n = PQntuples (row) == 1 ? atoi (PQgetvalue (row, 0, 0)) : 0;
    PQclear (row);
    return n;
}

//  The people due, at most batch not held (into due) and batch held (into held), as
//  new lists.
static int
s_due (records_server_t *self, const char *now, const char *batch, char ***due,
       size_t *n_due, char ***held, size_t *n_held, kn_error_t *err)
{
    const char *values[] = {now, batch};
    PGresult *rows = kn_db_run (self->db, "keeper_due", 2, values, NULL, NULL, err);
    if (!rows)
        return -1;
    size_t n = (size_t)PQntuples (rows);
    *due = kn_calloc (n + 1, sizeof **due);
    *held = kn_calloc (n + 1, sizeof **held);
    *n_due = *n_held = 0;
    for (int r = 0; r < (int)n; r++) {
        bool is_held = PQgetvalue (rows, r, 1)[0] == 't';
        char *id = kn_pb_string (PQgetvalue (rows, r, 0));
        if (is_held)
            (*held)[(*n_held)++] = id;
        else
            (*due)[(*n_due)++] = id;
    }
    PQclear (rows);
    return 0;
}

//  Erase one person found due, deciding again under their locks. 1 erased, 0 when
//  they are no longer due (a referral or a hold came meanwhile; erased already).
static int
s_erase_due (records_server_t *self, const char *agency, const char *run_id,
             const char *subject_id, const char *now, kn_error_t *err)
{
    if (kn_db_begin_write (self->db, NULL, err))
        return -1;
    char family_id[KN_UUID_STR];
    int rc = records_lock_subject (self, subject_id, family_id, err);
    PGresult *row = NULL;
    if (rc == 0) {
        const char *values[] = {now, subject_id};
        row = kn_db_run (self->db, "keeper_due_one", 2, values, NULL, NULL, err);
        rc = row ? 0 : -1;
    }
    bool due = row && PQntuples (row) == 1 && PQgetvalue (row, 0, 0)[0] == 'f';
    PQclear (row);
    char reference[64];
    snprintf (reference, sizeof reference, "retention/%s", run_id);
    records_destroy_t what = {.subject_id = subject_id,
                              .family_id = family_id,
                              .reference = reference,
                              .by = agency,
                              .cause = "retention",
                              .tell = true};
    records_destroyed_t done;
    int erased = rc == 0 && due ? records_destroy (self, &what, &done, err) : rc;
    kn_audit_entry_t entry = {.agency_id = agency,
                              .service = "records",
                              .operation = "retention_erase",
                              .subject_ref = family_id,
                              .object_id = subject_id,
                              .basis = reference,
                              .result = "ok",
                              .role = agency ? "data_protection_officer" : NULL};
    if (erased < 0 || (erased > 0 && kn_audit_append (self->db, &entry, err)) ||
        kn_db_exec (self->db, erased > 0 ? "COMMIT" : "ROLLBACK", err)) {
        kn_error_t ignored;
        kn_db_exec (self->db, "ROLLBACK", &ignored);
        return -1;
    }
    if (erased > 0)
        records_destroyed_logged (self, subject_id, reference, &done);
    return erased;
}

static void
s_free (char **ids, size_t n)
{
    for (size_t i = 0; ids && i < n; i++)
        free (ids[i]);
    free (ids);
}

int
records_keeper_apply (records_server_t *self, const char *agency, const char *run_id,
                      int64_t now, bool dry_run, int batch, Kinnet__V1__RetentionRun *run,
                      kn_error_t *err)
{
    char now_text[24], batch_text[16];
    s_num (now_text, sizeof now_text, now);
    snprintf (batch_text, sizeof batch_text, "%d", batch);
    run->run_id = kn_pb_string (run_id);
    run->dry_run = dry_run;
    run->clock = kn_pb_timestamp (now);
    size_t n_due = 0, n_held = 0;
    char **due = NULL, **held = NULL;
    if (s_due (self, now_text, batch_text, &due, &n_due, &held, &n_held, err))
        return -1;
    //  The reply owns the lists from here (freed with it).
    run->held_subjects = held;
    run->n_held_subjects = n_held;
    run->held = (int32_t)n_held;
    run->erased_subjects = kn_calloc (n_due + 1, sizeof *run->erased_subjects);
    //  1. People: each erasure its own transaction.
    int rc = 0;
    for (size_t i = 0; i < n_due; i++) {
        int erased = rc ? 0
                        : dry_run ? 1
                                  : s_erase_due (self, agency, run_id, due[i], now_text, err);
        rc = erased < 0 ? -1 : rc;
        if (erased > 0)
            run->erased_subjects[run->n_erased_subjects++] = due[i];
        else
            free (due[i]);
    }
    free (due);
    run->erased = (int32_t)run->n_erased_subjects;
    if (rc)
        return -1;
    //  2. Operational rows.
    int outbox = s_count (self, dry_run ? "keeper_outbox_count" : "keeper_outbox",
                                    now_text, batch_text, err);
    int feed = outbox < 0 ? -1
                          : s_count (self, dry_run ? "keeper_feed_count" : "keeper_feed",
                                     now_text, batch_text, err);
    int idempotency = feed < 0 ? -1 : 0;
    bool full = feed == batch || outbox == batch || n_due == (size_t)batch;
    for (size_t l = 0; l < N_LEDGERS && idempotency >= 0; l++) {
        char name[32];
        snprintf (name, sizeof name, dry_run ? "keeper_idem_count_%zu" : "keeper_idem_%zu", l);
        int n = s_count (self, name, now_text, batch_text, err);
        idempotency = n < 0 ? -1 : idempotency + n;
        full |= n == batch;
    }
    if (idempotency < 0)
        return -1;
    //  The audit trail and the disclosure log: up to a signed checkpoint, whole
    //  checkpoints at a time, each chain in one statement (one transaction).
    int audit = s_prune (self, "audit", now_text, batch_text, dry_run, run_id, err);
    int disclosures = audit < 0 ? -1
                                : s_prune (self, "disclosure", now_text, batch_text,
                                           dry_run, run_id, err);
    if (disclosures < 0)
        return -1;
    full |= audit >= batch || disclosures >= batch;
    run->audit = audit;
    run->disclosures = disclosures;
    run->outbox = outbox;
    run->feed = feed;
    run->idempotency = idempotency;
    run->more = full;
    //  3. The run's row, and its audit row.
    char counts[7][16];
    snprintf (counts[0], 16, "%d", run->erased);
    snprintf (counts[1], 16, "%d", run->held);
    snprintf (counts[2], 16, "%d", outbox);
    snprintf (counts[3], 16, "%d", feed);
    snprintf (counts[4], 16, "%d", idempotency);
    snprintf (counts[5], 16, "%d", audit);
    snprintf (counts[6], 16, "%d", disclosures);
    const char *values[] = {run_id,    counts[0], counts[1], counts[2],
                            counts[3], counts[4], counts[5], counts[6]};
    PGresult *done = kn_db_run (self->db, "keeper_run_update", 8, values, NULL, NULL, err);
    if (!done)
        return -1;
    PQclear (done);
    kn_audit_entry_t entry = {.agency_id = agency,
                              .service = "records",
                              .operation = dry_run ? "retention_run_dry_run" : "retention_run",
                              .object_id = run_id,
                              .result = "ok",
                              .role = agency ? "data_protection_officer" : NULL};
    if (kn_audit_append (self->db, &entry, err))
        return -1;
    kn_log (KN_INFO, dry_run ? "retention.dry_run" : "retention.applied", "run_id", run_id,
            "erased", counts[0], "held", counts[1], "outbox", counts[2], "feed", counts[3],
            "idempotency", counts[4], "audit", counts[5], "disclosures", counts[6], NULL);
    return 0;
}

//  -------------------------------------------------------------------------
//  The thread

struct _records_keeper_t {
    kn_crypto_t *crypto;
    char *ledger_path;
    int64_t interval_s;
    int batch;
    pthread_t thread;
    bool started;
};

//  One run of the keeper's own: its row committed first, then the work.
static int
s_run_once (records_server_t *server, int batch, bool *more, kn_error_t *err)
{
    char run_id[KN_UUID_STR];
    kn_uuid_generate_ordered (run_id);
    int64_t now = kn_clock_now ();
    Kinnet__V1__RetentionRun run = KINNET__V1__RETENTION_RUN__INIT;
    int rc = records_run_open (server, run_id, NULL, now, false, err) ||
                     records_keeper_apply (server, NULL, run_id, now, false, batch, &run, err)
                 ? -1
                 : 0;
    *more = rc == 0 && run.more;
    //  What apply allocated in run (a stack message: its members only).
    free (run.run_id);
    free (run.clock);
    s_free (run.erased_subjects, run.n_erased_subjects);
    s_free (run.held_subjects, run.n_held_subjects);
    return rc;
}

static void *
s_keeper (void *arg)
{
    records_keeper_t *self = arg;
    kn_error_t err;
    kn_error_clear (&err);
    kn_db_t *db = kn_db_new (kn_config_str ("KINNET_DATABASE_URL", ""),
                             kn_config_str ("KINNET_DB_ROLE", "kinnet_records"), &err);
    records_server_t *server =
        db ? records_server_session (db, self->crypto, self->ledger_path, &err) : NULL;
    if (!server || records_keeper_prepare (db, &err)) {
        kn_log (KN_ERROR, "keeper.start_failed", "problem", err.message, NULL);
        records_server_destroy (&server);
        kn_db_destroy (&db);
        zsys_interrupted = 1;
        return NULL;
    }
    char every[24];
    s_num (every, sizeof every, self->interval_s);
    kn_log (KN_INFO, "keeper.started", "interval_s", every, NULL);
    while (!zsys_interrupted) {
        for (int64_t slept = 0; slept < self->interval_s * 1000 && !zsys_interrupted;
             slept += 100)
            zclock_sleep (100);
        bool more = true;
        while (more && !zsys_interrupted)
            if (s_run_once (server, self->batch, &more, &err)) {
                kn_log (KN_ERROR, "keeper.failed", "problem", err.message, NULL);
                more = false;
            }
    }
    records_server_destroy (&server);
    kn_db_destroy (&db);
    return NULL;
}

records_keeper_t *
records_keeper_start (kn_crypto_t *crypto, const char *ledger_path, int64_t interval_s,
                      int batch)
{
    records_keeper_t *self = kn_calloc (1, sizeof *self);
    self->crypto = crypto;
    self->ledger_path = ledger_path && *ledger_path ? kn_strdup (ledger_path) : NULL;
    self->interval_s = interval_s;
    self->batch = batch;
    self->started = pthread_create (&self->thread, NULL, s_keeper, self) == 0;
    if (!self->started)
        records_keeper_stop (&self);
    return self;
}

void
records_keeper_stop (records_keeper_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    records_keeper_t *self = *self_p;
    zsys_interrupted = 1;
    if (self->started)
        pthread_join (self->thread, NULL);
    free (self->ledger_path);
    free (self);
    *self_p = NULL;
}
