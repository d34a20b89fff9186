/*  consent_override: safeguarding overrides, requested and reviewed. An agency
    that must share without consent to keep a child safe records an override (its
    reason, approver and scope; the details sealed); it expires, and a
    data-protection officer of another agency reviews it by a deadline. A review
    that finds it not justified stops it permitting anything, under the same
    subject lock as a withdrawal. */
#include "consent_store_int.h"
#include "kn_clock.h"
#include "kn_alloc.h"

//  now: the parameter holding kn_clock's seconds, for the overdue flag.
#define OVERRIDE_COLUMNS(now)                                                                                     \
    "id, subject_id, reason, approver_role, approver_id, recipient_agencies, "                                    \
    "recipient_sectors, categories, " EPOCH ("expires_at") ", requested_by, " EPOCH ("requested_at") ", " EPOCH ( \
        "review_due_at") ", review_due_at < to_timestamp (" now "::bigint) AND "                                  \
                         "reviewed_at IS NULL, coalesce (review_decision, 0), coalesce (" EPOCH (                 \
                             "reviewed_at") ", 0), coalesce (reviewed_by::text, '')"

static const char *s_statements[][2] = {
    {"override_insert",
     "INSERT INTO consent.override (id, subject_id, reason, details, approver_role,"
     " approver_id, recipient_agencies, recipient_sectors, categories, expires_at,"
     " requested_by, review_due_at, by_dpo, sector_members) VALUES ($1, $2, $3, $4, $5, $6,"
     " $7::uuid[], $8::smallint[], $9::smallint[],"
     " to_timestamp ($13::bigint) + make_interval (hours => $10::int),"
     " $11, to_timestamp ($13::bigint) + make_interval (hours => $12::int), " IS_DPO (
         "$11::uuid") ","
                      " " MEMBERS ("$8::smallint[]") ")"},
    {"override_get", "SELECT " OVERRIDE_COLUMNS ("$2") " FROM consent.override WHERE id = $1"},
    {"override_lock", "SELECT subject_id, reviewed_at IS NOT NULL, requested_by"
                      " FROM consent.override WHERE id = $1 FOR UPDATE"},
    {"override_review",
     "UPDATE consent.override SET reviewed_at = now (), review_decision = $2,"
     " reviewed_by = $3, review_notes = $4 WHERE id = $1"},
    {"override_list",
     "SELECT " OVERRIDE_COLUMNS ("$4")
     " FROM consent.override WHERE ($1::bool OR requested_by = $2)"
     " AND (NOT $3::bool OR reviewed_at IS NULL) ORDER BY review_due_at"},
};

int
consent_override_prepare (kn_db_t *db, kn_error_t *err)
{
    return kn_db_prepare_all (db, s_statements, sizeof s_statements / sizeof s_statements[0],
                              err);
}

static Kinnet__V1__Override *
s_override_from_row (PGresult *result, int row)
{
    Kinnet__V1__Override *o = kn_malloc (sizeof *o);
    kinnet__v1__override__init (o);
    o->override_id = kn_pb_string (PQgetvalue (result, row, 0));
    o->subject_id = kn_pb_string (PQgetvalue (result, row, 1));
    o->reason = atoi (PQgetvalue (result, row, 2));
    o->approver_role = atoi (PQgetvalue (result, row, 3));
    o->approver_id = kn_pb_string (PQgetvalue (result, row, 4));
    o->scope =
        consent_scope_from (PQgetvalue (result, row, 5), PQgetvalue (result, row, 6),
                            PQgetvalue (result, row, 7), "{}");
    o->expires_at = kn_pb_timestamp (strtoll (PQgetvalue (result, row, 8), NULL, 10));
    o->requested_by_agency_id = kn_pb_string (PQgetvalue (result, row, 9));
    o->requested_at = kn_pb_timestamp (strtoll (PQgetvalue (result, row, 10), NULL, 10));
    o->review_due_at = kn_pb_timestamp (strtoll (PQgetvalue (result, row, 11), NULL, 10));
    o->review_overdue = PQgetvalue (result, row, 12)[0] == 't';
    o->review_decision = atoi (PQgetvalue (result, row, 13));
    o->reviewed_at = kn_pb_timestamp (strtoll (PQgetvalue (result, row, 14), NULL, 10));
    o->reviewed_by_agency_id = kn_pb_string (PQgetvalue (result, row, 15));
    return o;
}

static Kinnet__V1__Override *
s_load_override (consent_store_t *self, const char *id, kn_error_t *err)
{
    char now[24];
    snprintf (now, sizeof now, "%lld", (long long) kn_clock_now ());
    const char *values[] = {id, now};
    PGresult *result = kn_db_run (self->db, "override_get", 2, values, NULL, NULL, err);
    if (!result)
        return NULL;
    Kinnet__V1__Override *o =
        PQntuples (result) == 1 ? s_override_from_row (result, 0) : NULL;
    if (!o)
        kn_error_set (err, KN_E_NOT_FOUND, "override_id", "no such override");
    PQclear (result);
    return o;
}

//  A replay's answer: the override as it is stored now, marked replayed.
static int
s_replayed (consent_store_t *self, const char *id, Kinnet__V1__Override **override,
            kn_error_t *err)
{
    *override = s_load_override (self, id, err);
    if (*override)
        (*override)->replayed = true;
    return *override ? 0 : -1;
}

int
consent_store_override (consent_store_t *self, const char *agency_id,
                        const Kinnet__V1__RequestOverride *request,
                        Kinnet__V1__Override **override, kn_error_t *err)
{
    *override = NULL;
    kn_write_t w = self->write;
    kn_uuid_generate_ordered (w.object_id);
    kn_claim_t claim = kn_write_begin (&w, agency_id, "override", &request->base, err);
    if (claim != KN_CLAIM_NEW)
        return claim == KN_CLAIM_REPLAY ? s_replayed (self, w.object_id, override, err)
                                        : -1;
    char *override_id = w.object_id;
    char subject_id[KN_UUID_STR];
    if (consent_subject (self, request->subject, subject_id, err) ||
        consent_agencies_exist (self, request->scope, err))
        goto fail;
    scope_text_t scope;
    consent_scope_text (request->scope, &scope);
    size_t sealed_len = 0;
    uint8_t *sealed = kn_keys_seal (self->db, self->crypto, subject_id,
                                    (const uint8_t *)request->details,
                                    strlen (request->details), override_id, &sealed_len,
                                    err);
    if (!sealed)
        goto fail;
    char reason[8], role[8], hours[8], review[8], now[24];
    snprintf (now, sizeof now, "%lld", (long long) kn_clock_now ());
    snprintf (reason, sizeof reason, "%d", request->reason);
    snprintf (role, sizeof role, "%d", request->approver_role);
    snprintf (hours, sizeof hours, "%d",
              request->expires_in_hours ? request->expires_in_hours : 72);
    snprintf (review, sizeof review, "%d", self->review_hours);
    const char *values[] = {override_id,
                            subject_id,
                            reason,
                            (const char *)sealed,
                            role,
                            request->approver_id,
                            scope.agencies,
                            scope.sectors,
                            scope.categories,
                            hours,
                            agency_id,
                            review,
                            now};
    int lengths[13] = {0}, formats[13] = {0};
    lengths[3] = (int)sealed_len;
    formats[3] = 1;
    PGresult *result =
        kn_db_run (self->db, "override_insert", 13, values, lengths, formats, err);
    free (sealed);
    if (!result)
        goto fail;
    PQclear (result);
    *override = s_load_override (self, override_id, err);
    if (!*override)
        goto fail;
    Kinnet__V1__OverrideRequested event = KINNET__V1__OVERRIDE_REQUESTED__INIT;
    event.override_id = override_id;
    event.subject_id = subject_id;
    event.requested_by_agency_id = (char *)agency_id;
    event.review_due_at = (*override)->review_due_at;
    w.audit.subject_ref = subject_id;
    w.audit.basis = "safeguarding_override";
    if (consent_outbox (self, "override.requested", override_id, &event.base, err) ||
        kn_write_commit (&w, err)) {
        kinnet__v1__override__free_unpacked (*override, NULL);
        *override = NULL;
        goto fail;
    }
    return 0;

fail:
    return kn_write_abort (&w);
}

int
consent_store_review (consent_store_t *self, const char *agency_id,
                      const Kinnet__V1__ReviewOverride *review,
                      Kinnet__V1__Override **override, kn_error_t *err)
{
    *override = NULL;
    if (kn_db_ensure (self->db, err))
        return -1;
    int role = consent_has_role (self, agency_id, "data_protection_officer", err);
    if (role <= 0)
        return role < 0 ? -1
                        : kn_error_set (err, KN_E_PERMISSION_DENIED, NULL,
                                        "reviews need the data_protection_officer role");
    kn_write_t w = self->write;
    snprintf (w.object_id, sizeof w.object_id, "%s", review->override_id);
    kn_claim_t claim = kn_write_begin (&w, agency_id, "review", &review->base, err);
    if (claim != KN_CLAIM_NEW)
        return claim == KN_CLAIM_REPLAY ? s_replayed (self, w.object_id, override, err)
                                        : -1;
    const char *values[] = {review->override_id};
    PGresult *result = kn_db_run (self->db, "override_lock", 1, values, NULL, NULL, err);
    if (!result)
        goto fail;
    if (PQntuples (result) != 1) {
        PQclear (result);
        kn_error_set (err, KN_E_NOT_FOUND, "override_id", "no such override");
        goto fail;
    }
    char subject_id[KN_UUID_STR];
    snprintf (subject_id, sizeof subject_id, "%s", PQgetvalue (result, 0, 0));
    bool reviewed = PQgetvalue (result, 0, 1)[0] == 't';
    bool own = strcmp (PQgetvalue (result, 0, 2), agency_id) == 0;
    PQclear (result);
    if (own) {
        kn_error_set (err, KN_E_PERMISSION_DENIED, "override_id",
                      "an override is reviewed by an agency other than the one that "
                      "requested it");
        goto fail;
    }
    if (reviewed) {
        kn_error_set (err, KN_E_CONFLICT, "override_id", "override is already reviewed");
        goto fail;
    }
    //  NOT_JUSTIFIED stops the override permitting anything: same lock as withdrawal.
    if (kn_consent_policy_lock_subject (self->db, subject_id, err))
        goto fail;
    char ad[KN_UUID_STR + 8], decision[8];
    snprintf (ad, sizeof ad, "%s:review", review->override_id);
    snprintf (decision, sizeof decision, "%d", review->decision);
    size_t sealed_len = 0;
    uint8_t *sealed =
        kn_keys_seal (self->db, self->crypto, subject_id, (const uint8_t *)review->notes,
                      strlen (review->notes), ad, &sealed_len, err);
    if (!sealed)
        goto fail;
    const char *update[] = {review->override_id, decision, agency_id,
                            (const char *)sealed};
    int lengths[] = {0, 0, 0, (int)sealed_len};
    int formats[] = {0, 0, 0, 1};
    result = kn_db_run (self->db, "override_review", 4, update, lengths, formats, err);
    free (sealed);
    if (!result)
        goto fail;
    PQclear (result);
    w.audit.subject_ref = subject_id;
    w.audit.basis = "safeguarding_override";
    if (kn_write_commit (&w, err))
        goto fail;
    *override = s_load_override (self, review->override_id, err);
    return *override ? 0 : -1;

fail:
    return kn_write_abort (&w);
}

int
consent_store_overrides (consent_store_t *self, const char *agency_id, bool open_only,
                         Kinnet__V1__OverrideList **list, kn_error_t *err)
{
    *list = NULL;
    if (kn_db_ensure (self->db, err))
        return -1;
    int dpo = consent_has_role (self, agency_id, "data_protection_officer", err);
    if (dpo < 0)
        return -1;
    //  The data-protection role sees every override; others their own requests.
    char now[24];
    snprintf (now, sizeof now, "%lld", (long long) kn_clock_now ());
    const char *values[] = {dpo ? "t" : "f", agency_id, open_only ? "t" : "f", now};
    PGresult *result = kn_db_run (self->db, "override_list", 4, values, NULL, NULL, err);
    if (!result)
        return -1;
    *list = malloc (sizeof **list);
    kinnet__v1__override_list__init (*list);
    int n = PQntuples (result);
    (*list)->overrides = kn_malloc ((n ? n : 1) * sizeof (Kinnet__V1__Override *));
    for (int i = 0; i < n; i++)
        (*list)->overrides[(*list)->n_overrides++] = s_override_from_row (result, i);
    PQclear (result);
    return 0;
}
