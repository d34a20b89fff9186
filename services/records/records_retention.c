/*  records_retention: the retention schedules (core.retention_schedule) as data: a
    DPO or an administrator lists them and lengthens one; a DPO runs them now
    (records_keeper.c applies them, on a request or on its own).
    A shorter period erases people, irreversibly, at the keeper's next pass, so one
    account must not be able to shorten one at once: only a DPO may, and the shorter
    period is pending for self->shorten_delay_days, announced to every DPO's feed,
    and any DPO cancels it meanwhile (migration 0038). Nothing applies it when its
    moment comes: every reader asks for the schedule in force at its own moment
    (core.retention_in_force), so a run's clock alone decides. A run that is not a
    dry run starts at most once a minute (RECORDS_RUN_GAP_S), whoever asks. */
#include "records_ops.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kn_alloc.h"
#include "kn_clock.h"
#include "kn_log.h"
#include "kn_outbox.h"
#include "kn_pb.h"
#include "kn_validate.h"
#include "records_keeper.h"
#include "kinnet/v1/events.pb-c.h"

#define DPO "data_protection_officer"

//  Every record type, in the order they are listed, with the event its period is
//  counted from (docs/privacy.md, "Retention").
static const struct {
    const char *type;
    const char *counted_from;
    bool prunable; // false: only 0 (kept without limit) is accepted
} s_types[] = {
    {"referral", "the referral's withdrawal (a referral not withdrawn follows its case)",
     true},
    {"case", "the case's closing (for every referral routed to it)", true},
    {"consent",
     "the end of a consent (valid_until, or a withdrawal of all of it), of a statutory"
     " basis (ended or valid_until) or the decision on a release request",
     true},
    {"override", "the override's expiry, once it has been reviewed", true},
    {"disclosure_log",
     "the signing of the checkpoint that seals the disclosure (pruned up to a signed"
     " checkpoint)",
     true},
    {"audit_trail",
     "the signing of the checkpoint that seals the record (pruned up to a signed"
     " checkpoint)",
     true},
    {"outbox", "the event's creation, once every consumer has passed it", true},
    {"feed", "the event's creation, once its agency has read past it", true},
    {"idempotency", "the request (a retry after it is a new request)", true},
};
#define N_TYPES (sizeof s_types / sizeof s_types[0])

static int
s_type (const char *type)
{
    for (size_t i = 0; type && i < N_TYPES; i++)
        if (strcmp (s_types[i].type, type) == 0)
            return (int)i;
    return -1;
}

int
records_validate_retention (const records_request_t *request, kn_error_t *err)
{
    (void)request;
    (void)err;
    return 0;
}

int
records_validate_set_retention (const records_request_t *request, kn_error_t *err)
{
    const Kinnet__V1__SetRetention *op = request->set_retention;
    if (kn_validate_text (op->idempotency_key, "idempotency_key", 1, 128, false, err))
        return -1;
    int type = s_type (op->record_type);
    if (type < 0)
        return kn_error_set (
            err, KN_E_INVALID_ARGUMENT, "record_type",
            "record_type must be one of referral, case, consent, override,"
            " disclosure_log, audit_trail, outbox, feed, idempotency");
    if (op->days < 0 || op->days > 36500)
        return kn_error_set (err, KN_E_INVALID_ARGUMENT, "days",
                             "days must be 0 (kept without limit) to 36500");
    if (op->days > 0 && !s_types[type].prunable)
        return kn_error_set (err, KN_E_INVALID_ARGUMENT, "days",
                             "%s can only be kept without limit (days 0)",
                             op->record_type);
    return 0;
}

int
records_validate_cancel_retention (const records_request_t *request, kn_error_t *err)
{
    const Kinnet__V1__CancelRetention *op = request->cancel_retention;
    if (kn_validate_text (op->idempotency_key, "idempotency_key", 1, 128, false, err))
        return -1;
    return s_type (op->record_type) < 0
               ? kn_error_set (err, KN_E_INVALID_ARGUMENT, "record_type",
                               "record_type must be one of referral, case, consent,"
                               " override, disclosure_log, audit_trail, outbox, feed,"
                               " idempotency")
               : 0;
}

int
records_validate_run_retention (const records_request_t *request, kn_error_t *err)
{
    const Kinnet__V1__RunRetention *op = request->run_retention;
    if (kn_validate_text (op->idempotency_key, "idempotency_key", 1, 128, false, err))
        return -1;
    return op->batch < 0 || op->batch > RECORDS_BATCH_MAX
               ? kn_error_set (err, KN_E_INVALID_ARGUMENT, "batch",
                               "batch must be 0 (500) to %d", RECORDS_BATCH_MAX)
               : 0;
}

//  A schedule as in force at a moment ($2, Unix seconds): the record type; the
//  period in force (0: without limit), who set it and when (epoch; 0 for none);
//  then the shortening still pending after that moment: its days (0: none), the
//  moment it applies and its DPO. The pending period is in force from pending_from.
#define IN_FORCE "s.pending_from <= to_timestamp ($2)"
#define SCHEDULE_COLUMNS                                                                 \
    "s.record_type,"                                                                     \
    " coalesce (CASE WHEN " IN_FORCE " THEN s.pending_days ELSE s.days END, 0),"         \
    " coalesce ((CASE WHEN " IN_FORCE " THEN s.pending_by ELSE s.changed_by END)::text," \
    " ''),"                                                                              \
    " coalesce (extract (epoch FROM CASE WHEN " IN_FORCE " THEN s.pending_from"          \
    "  ELSE s.changed_at END)::bigint, 0),"                                              \
    " CASE WHEN " IN_FORCE " THEN 0 ELSE coalesce (s.pending_days, 0) END,"              \
    " CASE WHEN " IN_FORCE " THEN 0"                                                     \
    "  ELSE coalesce (extract (epoch FROM s.pending_from)::bigint, 0) END,"              \
    " CASE WHEN " IN_FORCE " THEN '' ELSE coalesce (s.pending_by::text, '') END"

int
records_retention_prepare (kn_db_t *db, kn_error_t *err)
{
    static const char *statements[][2] = {
        {"retention_schedules",
         "SELECT " SCHEDULE_COLUMNS " FROM core.retention_schedule s"
         " WHERE $1::text IS NULL OR s.record_type = $1"},
        //  The one row a change decides on, locked until it commits.
        {"retention_schedule_lock",
         "SELECT " SCHEDULE_COLUMNS " FROM core.retention_schedule s"
         " WHERE s.record_type = $1 FOR UPDATE"},
        //  The whole row, as decided: in force ($2 days, set by $3 at $4; 0: now) and
        //  pending ($5 days from $6 by $7; 0 and '': none).
        {"retention_schedule_write",
         "UPDATE core.retention_schedule SET days = nullif ($2::integer, 0),"
         " changed_by = nullif ($3::text, '')::uuid,"
         " changed_at = coalesce (to_timestamp (nullif ($4::bigint, 0)), now ()),"
         " pending_days = nullif ($5::integer, 0),"
         " pending_from = to_timestamp (nullif ($6::bigint, 0)),"
         " pending_by = nullif ($7::text, '')::uuid WHERE record_type = $1"},
        //  Runs are serialised while one decides whether it may start, so two at
        //  once cannot both see no run in the last minute.
        {"retention_run_gate",
         "SELECT pg_advisory_xact_lock (hashtext ('kinnet.retention.run'))"},
        //  A DPO's run that was no dry run, within $2 seconds of the clock $1.
        {"retention_run_recent",
         "SELECT count(*) FROM core.retention_run WHERE NOT dry_run AND run_by IS NOT NULL"
         " AND abs (extract (epoch FROM clock) - $1::bigint) < $2::integer"},
    };
    return kn_db_prepare_all (db, statements, sizeof statements / sizeof statements[0],
                              err);
}

//  One schedule row (SCHEDULE_COLUMNS), as C.
typedef struct {
    int days; // in force; 0: without limit
    char changed_by[KN_UUID_STR];
    int64_t changed_at;
    int pending_days; // pending after the moment asked about; 0: none
    int64_t pending_from;
    char pending_by[KN_UUID_STR];
} s_row_t;

static void
s_row_read (PGresult *rows, int r, s_row_t *row)
{
    row->days = atoi (PQgetvalue (rows, r, 1));
    snprintf (row->changed_by, sizeof row->changed_by, "%s", PQgetvalue (rows, r, 2));
    row->changed_at = strtoll (PQgetvalue (rows, r, 3), NULL, 10);
    row->pending_days = atoi (PQgetvalue (rows, r, 4));
    row->pending_from = strtoll (PQgetvalue (rows, r, 5), NULL, 10);
    snprintf (row->pending_by, sizeof row->pending_by, "%s", PQgetvalue (rows, r, 6));
}

//  Row r of retention_schedules as a RetentionSchedule.
static Kinnet__V1__RetentionSchedule *
s_schedule (PGresult *rows, int r)
{
    Kinnet__V1__RetentionSchedule *out = kn_malloc (sizeof *out);
    kinnet__v1__retention_schedule__init (out);
    const char *type = PQgetvalue (rows, r, 0);
    int t = s_type (type);
    s_row_t row;
    s_row_read (rows, r, &row);
    out->record_type = kn_pb_string (type);
    out->days = row.days;
    out->counted_from = kn_pb_string (t >= 0 ? s_types[t].counted_from : "");
    out->changed_by = kn_pb_string (row.changed_by);
    if (out->changed_by[0])
        out->changed_at = kn_pb_timestamp (row.changed_at);
    out->pending_days = row.pending_days;
    out->pending_by = kn_pb_string (row.pending_by);
    if (row.pending_days)
        out->pending_from = kn_pb_timestamp (row.pending_from);
    return out;
}

//  The schedules (type NULL: all) as in force at the clock now, as rows of
//  retention_schedules.
static PGresult *
s_rows (records_server_t *self, const char *type, kn_error_t *err)
{
    char now[24];
    snprintf (now, sizeof now, "%lld", (long long)kn_clock_now ());
    const char *values[] = {type, now};
    return kn_db_run (self->db, "retention_schedules", 2, values, NULL, NULL, err);
}

int
records_retention (records_server_t *self, const char *agency,
                   const records_request_t *request, records_reply_t *reply,
                   kn_error_t *err)
{
    (void)agency;
    (void)request;
    PGresult *rows = s_rows (self, NULL, err);
    if (!rows)
        return -1;
    Kinnet__V1__RetentionList *list = kn_malloc (sizeof *list);
    kinnet__v1__retention_list__init (list);
    list->schedules = kn_calloc (N_TYPES, sizeof *list->schedules);
    //  In the order of s_types, whatever order the rows come in.
    for (size_t t = 0; t < N_TYPES; t++)
        for (int r = 0; r < PQntuples (rows); r++)
            if (strcmp (PQgetvalue (rows, r, 0), s_types[t].type) == 0)
                list->schedules[list->n_schedules++] = s_schedule (rows, r);
    PQclear (rows);
    reply->retention = list;
    return 0;
}

//  The schedule of type as the reply.
static int
s_answer (records_server_t *self, const char *type, bool replayed, records_reply_t *reply,
          kn_error_t *err)
{
    PGresult *rows = s_rows (self, type, err);
    if (!rows)
        return -1;
    int rc = PQntuples (rows) == 1
                 ? 0
                 : kn_error_set (err, KN_E_INTERNAL, NULL, "no schedule for %s", type);
    if (rc == 0) {
        reply->schedule = s_schedule (rows, 0);
        reply->schedule->replayed = replayed;
    }
    PQclear (rows);
    return rc;
}

//  Whether days is a shortening of in_force (0 for both: without limit).
static bool
s_shorter (int days, int in_force)
{
    return days > 0 && (in_force == 0 || days < in_force);
}

//  The row of type locked for this transaction, as in force at now.
static int
s_lock (records_server_t *self, const char *type, int64_t now, s_row_t *row,
        kn_error_t *err)
{
    char clock[24];
    snprintf (clock, sizeof clock, "%lld", (long long)now);
    const char *values[] = {type, clock};
    PGresult *rows =
        kn_db_run (self->db, "retention_schedule_lock", 2, values, NULL, NULL, err);
    if (!rows)
        return -1;
    int rc = PQntuples (rows) == 1
                 ? 0
                 : kn_error_set (err, KN_E_INTERNAL, NULL, "no schedule for %s", type);
    if (rc == 0)
        s_row_read (rows, 0, row);
    PQclear (rows);
    return rc;
}

//  The row of type written whole: row's in-force part and its pending part.
static int
s_write (records_server_t *self, const char *type, const s_row_t *row, kn_error_t *err)
{
    char days[16], at[24], pending[16], from[24];
    snprintf (days, sizeof days, "%d", row->days);
    snprintf (at, sizeof at, "%lld", (long long)row->changed_at);
    snprintf (pending, sizeof pending, "%d", row->pending_days);
    snprintf (from, sizeof from, "%lld", (long long)row->pending_from);
    const char *values[] = {type,    days, row->changed_by, at,
                            pending, from, row->pending_by};
    PGresult *done =
        kn_db_run (self->db, "retention_schedule_write", 7, values, NULL, NULL, err);
    PQclear (done);
    return done ? 0 : -1;
}

//  A shortening made pending or cancelled, for every DPO's feed (routing copies it
//  to each, routing_feed_dpos), in the write's transaction.
static int
s_tell_dpos (records_server_t *self, const kn_write_t *w, const char *type,
             const s_row_t *row, int pending_days, int64_t effective_at,
             const char *proposed_by, kn_error_t *err)
{
    Kinnet__V1__Timestamp at = KINNET__V1__TIMESTAMP__INIT;
    at.seconds = effective_at;
    Kinnet__V1__RetentionChanging event = KINNET__V1__RETENTION_CHANGING__INIT;
    event.record_type = (char *)type;
    event.days = row->days;
    event.pending_days = pending_days;
    event.effective_at = &at;
    event.by_agency_id = (char *)w->agency_id;
    event.cancelled = proposed_by != NULL;
    event.proposed_by_agency_id = (char *)(proposed_by ? proposed_by : "");
    size_t len = protobuf_c_message_get_packed_size (&event.base);
    uint8_t *payload = kn_malloc (len ? len : 1);
    protobuf_c_message_pack (&event.base, payload);
    int rc = kn_outbox_append (
        self->db, proposed_by ? "retention.shortening_cancelled" : "retention.shortening",
        w->object_id, payload, len, err);
    free (payload);
    return rc;
}

int
records_set_retention (records_server_t *self, const char *agency,
                       const records_request_t *request, records_reply_t *reply,
                       kn_error_t *err)
{
    const Kinnet__V1__SetRetention *op = request->set_retention;
    kn_write_t w;
    kn_claim_t claim =
        records_write_begin (self, &w, agency, "set_retention", NULL, &op->base, err);
    if (claim != KN_CLAIM_NEW)
        return claim == KN_CLAIM_REPLAY
                   ? s_answer (self, op->record_type, true, reply, err)
                   : -1;
    int64_t now = kn_clock_now ();
    s_row_t row;
    if (s_lock (self, op->record_type, now, &row, err))
        goto fail;
    bool shorter = s_shorter (op->days, row.days);
    if (shorter && strcmp (self->role, DPO) != 0) {
        kn_error_set (err, KN_E_PERMISSION_DENIED, "days",
                      "a shorter %s period erases people: only a data_protection_officer"
                      " may make it (and it applies %d days later); an administrator may"
                      " only lengthen one",
                      op->record_type, self->shorten_delay_days);
        goto fail;
    }
    s_row_t was = row;
    if (shorter) {
        //  What is in force stays (a pending period already in force included);
        //  the shorter one replaces any pending and waits the whole delay again.
        row.pending_days = op->days;
        row.pending_from = now + (int64_t)self->shorten_delay_days * 86400;
        snprintf (row.pending_by, sizeof row.pending_by, "%s", agency);
    } else {
        //  In force at once; a pending shortening goes with it.
        row.days = op->days;
        snprintf (row.changed_by, sizeof row.changed_by, "%s", agency);
        row.changed_at = 0;
        row.pending_days = 0;
        row.pending_from = 0;
        row.pending_by[0] = 0;
    }
    if (s_write (self, op->record_type, &row, err))
        goto fail;
    if (shorter && s_tell_dpos (self, &w, op->record_type, &row, row.pending_days,
                                row.pending_from, NULL, err))
        goto fail;
    if (!shorter && was.pending_days &&
        s_tell_dpos (self, &w, op->record_type, &row, was.pending_days, was.pending_from,
                     was.pending_by, err))
        goto fail;
    if (kn_write_commit (&w, err))
        goto fail;
    char days[16];
    snprintf (days, sizeof days, "%d", op->days);
    kn_log (KN_INFO, shorter ? "retention.shortening" : "retention.changed",
            "record_type", op->record_type, "days", days, "agency_id", agency, NULL);
    return s_answer (self, op->record_type, false, reply, err);
fail:
    return kn_write_abort (&w);
}

int
records_cancel_retention (records_server_t *self, const char *agency,
                          const records_request_t *request, records_reply_t *reply,
                          kn_error_t *err)
{
    const Kinnet__V1__CancelRetention *op = request->cancel_retention;
    kn_write_t w;
    kn_claim_t claim =
        records_write_begin (self, &w, agency, "cancel_retention", NULL, &op->base, err);
    if (claim != KN_CLAIM_NEW)
        return claim == KN_CLAIM_REPLAY
                   ? s_answer (self, op->record_type, true, reply, err)
                   : -1;
    s_row_t row;
    if (s_lock (self, op->record_type, kn_clock_now (), &row, err))
        goto fail;
    if (!row.pending_days) {
        kn_error_set (err, KN_E_CONFLICT, "record_type",
                      "no shortening of the %s period is pending (none was made, or it is"
                      " in force already)",
                      op->record_type);
        goto fail;
    }
    s_row_t was = row;
    row.pending_days = 0;
    row.pending_from = 0;
    row.pending_by[0] = 0;
    if (s_write (self, op->record_type, &row, err) ||
        s_tell_dpos (self, &w, op->record_type, &row, was.pending_days, was.pending_from,
                     was.pending_by, err) ||
        kn_write_commit (&w, err))
        goto fail;
    kn_log (KN_INFO, "retention.shortening_cancelled", "record_type", op->record_type,
            "agency_id", agency, NULL);
    return s_answer (self, op->record_type, false, reply, err);
fail:
    return kn_write_abort (&w);
}

//  Refuse a run that is no dry run when a DPO's run started within a minute of now:
//  each can erase RECORDS_BATCH_MAX people. 0, or -1 with RESOURCE_EXHAUSTED or err.
static int
s_run_gate (records_server_t *self, int64_t now, kn_error_t *err)
{
    PGresult *locked =
        kn_db_run (self->db, "retention_run_gate", 0, NULL, NULL, NULL, err);
    if (!locked)
        return -1;
    PQclear (locked);
    char clock[24], gap[16];
    snprintf (clock, sizeof clock, "%lld", (long long)now);
    snprintf (gap, sizeof gap, "%d", RECORDS_RUN_GAP_S);
    const char *values[] = {clock, gap};
    PGresult *row =
        kn_db_run (self->db, "retention_run_recent", 2, values, NULL, NULL, err);
    if (!row)
        return -1;
    int recent = PQntuples (row) == 1 ? atoi (PQgetvalue (row, 0, 0)) : 0;
    PQclear (row);
    return recent == 0 ? 0
                       : kn_error_set (err, KN_E_RESOURCE_EXHAUSTED, NULL,
                                       "a retention run started less than %d seconds ago:"
                                       " at most one a minute (each can erase up to %d"
                                       " people); ask again later, or do a dry run",
                                       RECORDS_RUN_GAP_S, RECORDS_BATCH_MAX);
}

int
records_run_retention (records_server_t *self, const char *agency,
                       const records_request_t *request, records_reply_t *reply,
                       kn_error_t *err)
{
    const Kinnet__V1__RunRetention *op = request->run_retention;
    Kinnet__V1__RetentionRun *run = kn_malloc (sizeof *run);
    kinnet__v1__retention_run__init (run);
    reply->run = run;
    //  The claim commits with the run's row: a retry finds the run (finished or as
    //  far as it got), and the work itself is done after, step by step.
    kn_write_t w;
    kn_claim_t claim = records_write_begin (
        self, &w, agency, op->dry_run ? "run_retention_dry_run" : "run_retention", NULL,
        &op->base, err);
    if (claim == KN_CLAIM_FAILED)
        return -1;
    if (claim == KN_CLAIM_REPLAY) {
        run->replayed = true;
        return records_run_load (self, w.object_id, run, err);
    }
    int64_t now = kn_clock_now ();
    if ((!op->dry_run && s_run_gate (self, now, err)) ||
        records_run_open (self, w.object_id, agency, now, op->dry_run, err) ||
        kn_write_commit (&w, err))
        return kn_write_abort (&w);
    return records_keeper_apply (self, agency, w.object_id, now, op->dry_run,
                                 op->batch ? op->batch : RECORDS_BATCH_DEFAULT, run, err);
}
