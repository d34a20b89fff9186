/*  records_retention: the retention schedules (core.retention_schedule) as data: a
    DPO or an administrator lists and changes them; a DPO runs them now
    (records_keeper.c applies them, on a request or on its own). */
#include "records_ops.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kn_alloc.h"
#include "kn_clock.h"
#include "kn_log.h"
#include "kn_pb.h"
#include "kn_validate.h"
#include "records_keeper.h"

//  Every record type, in the order they are listed, with the event its period is
//  counted from (docs/privacy.md, "Retention").
static const struct {
    const char *type;
    const char *counted_from;
    bool prunable;   // false: only 0 (kept without limit) is accepted
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
        return kn_error_set (err, KN_E_INVALID_ARGUMENT, "record_type",
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

//  Row r of records_schedules as a RetentionSchedule.
static Kinnet__V1__RetentionSchedule *
s_schedule (PGresult *rows, int r)
{
    Kinnet__V1__RetentionSchedule *out = kn_malloc (sizeof *out);
    kinnet__v1__retention_schedule__init (out);
    const char *type = PQgetvalue (rows, r, 0);
    int t = s_type (type);
    out->record_type = kn_pb_string (type);
    out->days = atoi (PQgetvalue (rows, r, 1));
    out->counted_from = kn_pb_string (t >= 0 ? s_types[t].counted_from : "");
    out->changed_by = kn_pb_string (PQgetvalue (rows, r, 2));
    if (out->changed_by[0])
        out->changed_at = kn_pb_timestamp (strtoll (PQgetvalue (rows, r, 3), NULL, 10));
    return out;
}

//  The schedules (type NULL: all) as rows of records_schedules.
static PGresult *
s_rows (records_server_t *self, const char *type, kn_error_t *err)
{
    const char *values[] = {type};
    return kn_db_run (self->db, "records_schedules", 1, values, NULL, NULL, err);
}

int
records_retention (records_server_t *self, const char *agency,
                   const records_request_t *request, records_reply_t *reply, kn_error_t *err)
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
        return claim == KN_CLAIM_REPLAY ? s_answer (self, op->record_type, true, reply, err)
                                        : -1;
    char days[16];
    snprintf (days, sizeof days, "%d", op->days);
    const char *values[] = {op->record_type, days, agency};
    PGresult *done = kn_db_run (self->db, "records_schedule_set", 3, values, NULL, NULL, err);
    if (!done)
        goto fail;
    PQclear (done);
    if (kn_write_commit (&w, err))
        goto fail;
    kn_log (KN_INFO, "retention.changed", "record_type", op->record_type, "days", days,
            "agency_id", agency, NULL);
    return s_answer (self, op->record_type, false, reply, err);
fail:
    return kn_write_abort (&w);
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
    kn_claim_t claim = records_write_begin (self, &w, agency, op->dry_run
                                                                  ? "run_retention_dry_run"
                                                                  : "run_retention",
                                            NULL, &op->base, err);
    if (claim == KN_CLAIM_FAILED)
        return -1;
    if (claim == KN_CLAIM_REPLAY) {
        run->replayed = true;
        return records_run_load (self, w.object_id, run, err);
    }
    int64_t now = kn_clock_now ();
    if (records_run_open (self, w.object_id, agency, now, op->dry_run, err) ||
        kn_write_commit (&w, err))
        return kn_write_abort (&w);
    return records_keeper_apply (self, agency, w.object_id, now, op->dry_run,
                                 op->batch ? op->batch : RECORDS_BATCH_DEFAULT, run, err);
}
