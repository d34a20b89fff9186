/*  consent_store: consents, withdrawals, statutory bases, overrides and reviews. */
#include "consent_store.h"

#include <jansson.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "kinnet/v1/events.pb-c.h"
#include "kn_audit.h"
#include "kn_config.h"
#include "kn_idempotency.h"
#include "kn_log.h"
#include "kn_outbox.h"
#include "kn_pb.h"
#include "kn_subject.h"

#define IDEM "consent.idempotency"
#define EPOCH(c) "floor (extract (epoch FROM " c "))::bigint"

struct _consent_store_t {
    kn_db_t *db;
    kn_crypto_t *crypto;
    kn_policy_config_t policy;
    int review_hours;
};

//  Standing on a subject: recorded or received something about them, referred
//  their family, or holds the data-protection role.
#define STANDING                                                                              \
    "SELECT EXISTS (SELECT 1 FROM consent.record WHERE subject_id = $1"                      \
    "   AND (recorded_by = $2 OR $2 = ANY (recipient_agencies)))"                              \
    " OR EXISTS (SELECT 1 FROM consent.basis WHERE subject_id = $1"                           \
    "   AND (recorded_by = $2 OR $2 = ANY (recipient_agencies)))"                              \
    " OR EXISTS (SELECT 1 FROM consent.override WHERE subject_id = $1"                        \
    "   AND (requested_by = $2 OR $2 = ANY (recipient_agencies)))"                             \
    " OR EXISTS (SELECT 1 FROM intake.referral_subject rs JOIN intake.referral r"             \
    "   ON r.id = rs.referral_id WHERE rs.subject_id = $1 AND r.referring_agency_id = $2)"    \
    " OR EXISTS (SELECT 1 FROM core.agency_role WHERE agency_id = $2"                         \
    "   AND role = 'data_protection_officer')"

//  The active agencies in the sectors of parameter p now: kept with a grant, so that a
//  sector grant covers its members at recording and never those who join later.
#define MEMBERS(p)                                                                            \
    "coalesce ((SELECT array_agg (a.id) FROM core.agency a JOIN core.sector s"              \
    " ON s.name = a.sector WHERE a.active AND s.value = ANY (" p ")), '{}')"

//  Whether the agency in parameter p holds the data-protection role now: stored with
//  a ground, so the ground counts for every controller's data (kn_consent_policy).
#define IS_DPO(p)                                                                             \
    "EXISTS (SELECT 1 FROM core.agency_role WHERE agency_id = " p                           \
    " AND role = 'data_protection_officer')"

#define RECORD_COLUMNS                                                                        \
    "id, subject_id, given_by, recipient_agencies, recipient_sectors, categories, purposes, " \
    EPOCH ("valid_from") ", coalesce (" EPOCH ("valid_until") ", 0), method, "              \
    "notice_version, notice_language, interpreter_used, personal, recorded_by, "             \
    EPOCH ("recorded_at")

#define OVERRIDE_COLUMNS                                                                      \
    "id, subject_id, reason, approver_role, approver_id, recipient_agencies, "              \
    "recipient_sectors, categories, " EPOCH ("expires_at") ", requested_by, "               \
    EPOCH ("requested_at") ", " EPOCH ("review_due_at") ", review_due_at < now () AND "     \
    "reviewed_at IS NULL, coalesce (review_decision, 0), coalesce (" EPOCH ("reviewed_at")  \
    ", 0), coalesce (reviewed_by::text, '')"

static const char *s_statements[][2] = {
    {"standing", STANDING},
    {"agencies_exist", "SELECT count (*) FROM core.agency WHERE id = ANY ($1::uuid[])"},
    {"has_role", "SELECT 1 FROM core.agency_role WHERE agency_id = $1 AND role = $2"},
    {"record_insert",
     "INSERT INTO consent.record (id, subject_id, given_by, recipient_agencies,"
     " recipient_sectors, categories, purposes, valid_from, valid_until, method,"
     " notice_version, notice_language, interpreter_used, personal, recorded_by, by_dpo,"
     " sector_members)"
     " VALUES ($1, $2, $3, $4::uuid[], $5::smallint[], $6::smallint[], $7::smallint[],"
     " coalesce (to_timestamp ($8::bigint), now ()), to_timestamp ($9::bigint), $10, $11,"
     " $12, $13, $14, $15, " IS_DPO ("$15::uuid") ", " MEMBERS ("$5::smallint[]") ")"},
    {"record_get", "SELECT " RECORD_COLUMNS " FROM consent.record WHERE id = $1"},
    //  Of a subject's consents an agency sees those it recorded or is named in, and
    //  the data-protection role sees all. Referring a child gives no view of other
    //  agencies' consents about them: a name and a date of birth open nothing.
    {"record_by_subject",
     "SELECT " RECORD_COLUMNS " FROM consent.record WHERE subject_id = $1"
     " AND (recorded_by = $2 OR $2 = ANY (recipient_agencies)"
     "  OR EXISTS (SELECT 1 FROM core.agency_role WHERE agency_id = $2"
     "   AND role = 'data_protection_officer'))"
     " ORDER BY recorded_at"},
    {"record_visible",
     "SELECT 1 FROM consent.record c WHERE c.id = $1"
     " AND (c.recorded_by = $2 OR $2 = ANY (c.recipient_agencies)"
     "  OR EXISTS (SELECT 1 FROM core.agency_role WHERE agency_id = $2"
     "   AND role = 'data_protection_officer'))"},
    //  Who records a family's withdrawal: the consent's recorder, an agency working
    //  with the family (an accepted involvement on its case), a data-protection
    //  officer. Returns the recorder.
    {"may_withdraw",
     "SELECT c.recorded_by FROM consent.record c WHERE c.id = $1"
     " AND (c.recorded_by = $2"
     "  OR EXISTS (SELECT 1 FROM core.agency_role WHERE agency_id = $2"
     "   AND role = 'data_protection_officer')"
     "  OR EXISTS (SELECT 1 FROM core.subject s JOIN routing.case k ON k.family_id = s.family_id"
     "   JOIN routing.involvement i ON i.case_id = k.id WHERE s.id = c.subject_id"
     "   AND i.agency_id = $2 AND i.status = 'accepted'))"},
    {"record_expiring",
     "SELECT " RECORD_COLUMNS " FROM consent.record r WHERE recorded_by = $1"
     " AND valid_until > now () AND valid_until <= now () + make_interval (days => $2::int)"
     " AND NOT EXISTS (SELECT 1 FROM consent.withdrawal w WHERE w.consent_id = r.id"
     "  AND cardinality (w.recipient_agencies) = 0 AND cardinality (w.recipient_sectors) = 0"
     "  AND cardinality (w.categories) = 0 AND cardinality (w.purposes) = 0)"
     " ORDER BY valid_until"},
    {"withdrawals",
     "SELECT id, recipient_agencies, recipient_sectors, categories, purposes, channel,"
     " recorded_by, " EPOCH ("at") " FROM consent.withdrawal WHERE consent_id = $1 ORDER BY at"},
    {"withdrawal_insert",
     "INSERT INTO consent.withdrawal (id, consent_id, recipient_agencies, recipient_sectors,"
     " categories, purposes, channel, recorded_by, caseworker_id)"
     " VALUES ($1, $2, $3::uuid[], $4::smallint[], $5::smallint[], $6::smallint[], $7, $8,"
     " nullif ($9, '')) RETURNING " EPOCH ("at")},
    {"withdrawal_of", "SELECT consent_id FROM consent.withdrawal WHERE id = $1"},
    {"recipients_under",
     "SELECT DISTINCT recipient_id FROM core.disclosure WHERE ground_id = $1"},
    {"basis_insert",
     "INSERT INTO consent.basis (id, subject_id, basis, special_condition,"
     " recipient_agencies, recipient_sectors, categories, purposes, valid_until,"
     " justification, recorded_by, by_dpo, sector_members) VALUES ($1, $2, $3, $4, $5::uuid[],"
     " $6::smallint[], $7::smallint[], $8::smallint[], to_timestamp ($9::bigint), $10, $11,"
     " " IS_DPO ("$11::uuid") ", " MEMBERS ("$6::smallint[]") ")"},
    {"basis_subject", "SELECT subject_id FROM consent.basis WHERE id = $1"},
    {"override_insert",
     "INSERT INTO consent.override (id, subject_id, reason, details, approver_role,"
     " approver_id, recipient_agencies, recipient_sectors, categories, expires_at,"
     " requested_by, review_due_at, by_dpo, sector_members) VALUES ($1, $2, $3, $4, $5, $6,"
     " $7::uuid[], $8::smallint[], $9::smallint[], now () + make_interval (hours => $10::int),"
     " $11, now () + make_interval (hours => $12::int), " IS_DPO ("$11::uuid") ","
     " " MEMBERS ("$8::smallint[]") ")"},
    {"override_get", "SELECT " OVERRIDE_COLUMNS " FROM consent.override WHERE id = $1"},
    {"override_lock", "SELECT subject_id, reviewed_at IS NOT NULL, requested_by"
                      " FROM consent.override WHERE id = $1 FOR UPDATE"},
    {"override_review",
     "UPDATE consent.override SET reviewed_at = now (), review_decision = $2,"
     " reviewed_by = $3, review_notes = $4 WHERE id = $1"},
    {"override_list",
     "SELECT " OVERRIDE_COLUMNS " FROM consent.override WHERE ($1::bool OR requested_by = $2)"
     " AND (NOT $3::bool OR reviewed_at IS NULL) ORDER BY review_due_at"},
    {"agency_name", "SELECT name, sector FROM core.agency WHERE id = $1"},
    //  A data-protection officer's read of a consent's personal part: no ground of
    //  the policy's, logged as oversight (purpose 0: none of the recipient's own).
    {"disclose_oversight",
     "INSERT INTO core.disclosure (subject_id, recipient_id, categories, purpose, basis,"
     " ground_id, service, object_id) VALUES ($1, $2, '{6}', 0, 'data_protection_officer',"
     " NULL, 'consent', $3)"},
};

consent_store_t *
consent_store_new (kn_db_t *db, kn_crypto_t *crypto, kn_error_t *err)
{
    for (size_t i = 0; i < sizeof s_statements / sizeof s_statements[0]; i++)
        if (kn_db_prepare (db, s_statements[i][0], s_statements[i][1], err))
            return NULL;
    if (kn_outbox_prepare (db, err) || kn_audit_prepare (db, err) || kn_subject_prepare (db, err)
        || kn_idempotency_prepare (db, IDEM, err) || kn_consent_policy_prepare (db, err))
        return NULL;
    consent_store_t *self = calloc (1, sizeof *self);
    self->db = db;
    self->crypto = crypto;
    self->policy = kn_consent_policy_config ();
    long hours = kn_config_int ("KINNET_OVERRIDE_REVIEW_HOURS", 72);
    self->review_hours = (hours > 0 && hours <= 24 * 60) ? (int) hours : 72;
    return self;
}

void
consent_store_destroy (consent_store_t **self_p)
{
    if (self_p && *self_p) {
        free (*self_p);
        *self_p = NULL;
    }
}

//  -------------------------------------------------------------------------
//  Small helpers

static void
s_rollback (consent_store_t *self)
{
    kn_error_t ignored;
    kn_db_exec (self->db, "ROLLBACK", &ignored);
}

//  Postgres array literal {a,b} of ints or of (validated) uuids.
static void
s_int_array (char *out, size_t size, const int *values, size_t n)
{
    size_t pos = (size_t) snprintf (out, size, "{");
    for (size_t i = 0; i < n && pos < size; i++)
        pos += (size_t) snprintf (out + pos, size - pos, "%s%d", i ? "," : "", values[i]);
    snprintf (out + pos, size > pos ? size - pos : 0, "}");
}

static void
s_uuid_array (char *out, size_t size, char *const *values, size_t n)
{
    size_t pos = (size_t) snprintf (out, size, "{");
    for (size_t i = 0; i < n && pos < size; i++)
        pos += (size_t) snprintf (out + pos, size - pos, "%s%s", i ? "," : "", values[i]);
    snprintf (out + pos, size > pos ? size - pos : 0, "}");
}

//  Scope as four array literals.
typedef struct {
    char agencies[2048];
    char sectors[256];
    char categories[256];
    char purposes[256];
} scope_text_t;

static void
s_scope_text (const Kinnet__V1__Scope *scope, scope_text_t *out)
{
    static const Kinnet__V1__Scope empty = KINNET__V1__SCOPE__INIT;
    if (!scope)
        scope = &empty;
    s_uuid_array (out->agencies, sizeof out->agencies, scope->agencies, scope->n_agencies);
    s_int_array (out->sectors, sizeof out->sectors, (const int *) scope->sectors, scope->n_sectors);
    s_int_array (out->categories, sizeof out->categories, (const int *) scope->categories,
                 scope->n_categories);
    s_int_array (out->purposes, sizeof out->purposes, (const int *) scope->purposes,
                 scope->n_purposes);
}

//  Parse a Postgres array literal {a,b,c} (no quoting needed for uuids and ints).
static size_t
s_split (const char *text, char items[][40], size_t max)
{
    size_t n = 0;
    const char *p = text && *text == '{' ? text + 1 : "";
    while (*p && *p != '}' && n < max) {
        size_t len = strcspn (p, ",}");
        snprintf (items[n++], 40, "%.*s", (int) len, p);
        p += len;
        if (*p == ',')
            p++;
    }
    return n;
}

static Kinnet__V1__Scope *
s_scope_from (const char *agencies, const char *sectors, const char *categories,
              const char *purposes)
{
    Kinnet__V1__Scope *scope = malloc (sizeof *scope);
    kinnet__v1__scope__init (scope);
    char items[64][40];
    size_t n = s_split (agencies, items, 64);
    scope->agencies = malloc ((n ? n : 1) * sizeof (char *));
    for (size_t i = 0; i < n; i++)
        scope->agencies[i] = strdup (items[i]);
    scope->n_agencies = n;
    const char *lists[] = {sectors, categories, purposes};
    int **targets[] = {(int **) &scope->sectors, (int **) &scope->categories,
                       (int **) &scope->purposes};
    size_t *counts[] = {&scope->n_sectors, &scope->n_categories, &scope->n_purposes};
    for (int k = 0; k < 3; k++) {
        n = s_split (lists[k], items, 64);
        *targets[k] = malloc ((n ? n : 1) * sizeof (int));
        for (size_t i = 0; i < n; i++)
            (*targets[k])[i] = atoi (items[i]);
        *counts[k] = n;
    }
    return scope;
}

static int
s_standing (consent_store_t *self, const char *subject_id, const char *agency_id,
            const char *field, kn_error_t *err)
{
    const char *values[] = {subject_id, agency_id};
    PGresult *result = kn_db_run (self->db, "standing", 2, values, NULL, NULL, err);
    if (!result)
        return -1;
    bool standing = PQgetvalue (result, 0, 0)[0] == 't';
    PQclear (result);
    return standing ? 0
                    : kn_error_set (err, KN_E_PERMISSION_DENIED, field,
                                    "your agency has no standing for this subject (it has "
                                    "not recorded, received or referred anything about them)");
}

static int
s_has_role (consent_store_t *self, const char *agency_id, const char *role, kn_error_t *err)
{
    const char *values[] = {agency_id, role};
    PGresult *result = kn_db_run (self->db, "has_role", 2, values, NULL, NULL, err);
    if (!result)
        return -1;
    int has = PQntuples (result) > 0;
    PQclear (result);
    return has;
}

//  A consent the caller may not see is reported exactly like a missing one: it sees
//  those it recorded or is named in, the data-protection role and the agencies that
//  referred the subject see all.
static int
s_visible (consent_store_t *self, const char *consent_id, const char *agency_id,
           kn_error_t *err)
{
    const char *values[] = {consent_id, agency_id};
    PGresult *result = kn_db_run (self->db, "record_visible", 2, values, NULL, NULL, err);
    if (!result)
        return -1;
    int rows = PQntuples (result);
    PQclear (result);
    return rows ? 0 : kn_error_set (err, KN_E_NOT_FOUND, "consent_id", "no such consent");
}

//  The subject of a request: by id (must exist) or by identity (created if new).
static int
s_subject (consent_store_t *self, const Kinnet__V1__SubjectRef *ref,
           char subject_id[KN_UUID_STR], kn_error_t *err)
{
    if (*ref->subject_id) {
        int exists = kn_subject_exists (self->db, ref->subject_id, NULL, err);
        if (exists < 0)
            return -1;
        if (!exists)
            return kn_error_set (err, KN_E_NOT_FOUND, "subject.subject_id", "no such subject");
        snprintf (subject_id, KN_UUID_STR, "%s", ref->subject_id);
        return 0;
    }
    kn_person_t person = {ref->person->given_name, ref->person->family_name,
                          ref->person->date_of_birth};
    char subjects[1][KN_UUID_STR], family[KN_UUID_STR];
    bool matched;
    if (kn_subject_resolve (self->db, self->crypto, &person, 1, subjects, family, &matched, err))
        return -1;
    snprintf (subject_id, KN_UUID_STR, "%s", subjects[0]);
    return 0;
}

//  Every named recipient agency must exist.
static int
s_agencies_exist (consent_store_t *self, const Kinnet__V1__Scope *scope, kn_error_t *err)
{
    if (!scope || scope->n_agencies == 0)
        return 0;
    char array[2048];
    s_uuid_array (array, sizeof array, scope->agencies, scope->n_agencies);
    const char *values[] = {array};
    PGresult *result = kn_db_run (self->db, "agencies_exist", 1, values, NULL, NULL, err);
    if (!result)
        return -1;
    size_t found = (size_t) atol (PQgetvalue (result, 0, 0));
    PQclear (result);
    //  Duplicates in the list count once in the database.
    size_t distinct = 0;
    for (size_t i = 0; i < scope->n_agencies; i++) {
        bool seen = false;
        for (size_t k = 0; k < i && !seen; k++)
            seen = strcasecmp (scope->agencies[i], scope->agencies[k]) == 0;
        distinct += !seen;
    }
    return found == distinct ? 0
                             : kn_error_set (err, KN_E_INVALID_ARGUMENT, "scope.agencies",
                                             "a recipient agency is not registered");
}

static int
s_audit (consent_store_t *self, const char *agency_id, const char *caseworker_id,
         const char *operation, const char *subject_id, const char *object_id,
         const char *basis, const char *result, kn_error_t *err)
{
    kn_audit_entry_t entry = {.agency_id = agency_id,     .caseworker_id = caseworker_id,
                              .service = "consent",       .operation = operation,
                              .subject_ref = subject_id,  .object_id = object_id,
                              .basis = basis,             .result = result};
    return kn_audit_append (self->db, &entry, err);
}

void
consent_store_audit (consent_store_t *self, const char *agency_id, const char *caseworker_id,
                     const char *operation, const char *subject_id, const char *object_id,
                     const char *basis, kn_code_t code)
{
    kn_error_t err;
    if (kn_db_ensure (self->db, &err) == 0)
        s_audit (self, agency_id, caseworker_id, operation,
                 kn_uuid_valid (subject_id) ? subject_id : NULL,
                 kn_uuid_valid (object_id) ? object_id : NULL, basis, kn_code_name (code), &err);
}

static int
s_outbox (consent_store_t *self, const char *topic, const char *id,
          const ProtobufCMessage *event, kn_error_t *err)
{
    size_t len = protobuf_c_message_get_packed_size (event);
    uint8_t *payload = malloc (len ? len : 1);
    protobuf_c_message_pack (event, payload);
    int rc = kn_outbox_append (self->db, topic, id, payload, len, err);
    free (payload);
    return rc;
}

static uint8_t *
s_open (consent_store_t *self, PGresult *result, int row, int column, const char *ad,
        size_t *len)
{
    size_t sealed_len = 0;
    unsigned char *sealed = PQunescapeBytea (
        (const unsigned char *) PQgetvalue (result, row, column), &sealed_len);
    uint8_t *plain = sealed ? kn_crypto_open (self->crypto, sealed, sealed_len, ad, len) : NULL;
    PQfreemem (sealed);
    return plain;
}

//  -------------------------------------------------------------------------
//  Reading consents

static Kinnet__V1__Consent *
s_consent_from_row (consent_store_t *self, PGresult *result, int row, kn_error_t *err)
{
    const char *id = PQgetvalue (result, row, 0);
    size_t plain_len = 0;
    uint8_t *plain = s_open (self, result, row, 13, id, &plain_len);
    Kinnet__V1__RecordConsent *original
        = plain ? kinnet__v1__record_consent__unpack (NULL, plain_len, plain) : NULL;
    if (plain)
        sodium_memzero (plain, plain_len);
    free (plain);
    if (!original) {
        kn_error_set (err, KN_E_INTERNAL, NULL, "stored consent cannot be decrypted");
        return NULL;
    }
    Kinnet__V1__Consent *consent = malloc (sizeof *consent);
    kinnet__v1__consent__init (consent);
    consent->consent_id = kn_pb_string (id);
    consent->subject_id = kn_pb_string (PQgetvalue (result, row, 1));
    consent->given_by = atoi (PQgetvalue (result, row, 2));
    consent->guardian = original->guardian;   // moved
    original->guardian = NULL;
    consent->scope = s_scope_from (PQgetvalue (result, row, 3), PQgetvalue (result, row, 4),
                                   PQgetvalue (result, row, 5), PQgetvalue (result, row, 6));
    int64_t from = strtoll (PQgetvalue (result, row, 7), NULL, 10);
    int64_t until = strtoll (PQgetvalue (result, row, 8), NULL, 10);
    consent->valid_from = kn_pb_timestamp (from);
    consent->valid_until = kn_pb_timestamp (until);
    consent->method = atoi (PQgetvalue (result, row, 9));
    consent->evidence_reference = kn_pb_string (original->evidence_reference);
    consent->privacy_notice_version = kn_pb_string (PQgetvalue (result, row, 10));
    consent->privacy_notice_language = kn_pb_string (PQgetvalue (result, row, 11));
    consent->interpreter_used = PQgetvalue (result, row, 12)[0] == 't';
    consent->recorded_by_agency_id = kn_pb_string (PQgetvalue (result, row, 14));
    consent->caseworker_id = kn_pb_string (original->caseworker_id);
    consent->recorded_at = kn_pb_timestamp (strtoll (PQgetvalue (result, row, 15), NULL, 10));
    kinnet__v1__record_consent__free_unpacked (original, NULL);

    const char *values[] = {id};
    PGresult *rows = kn_db_run (self->db, "withdrawals", 1, values, NULL, NULL, err);
    if (!rows) {
        kinnet__v1__consent__free_unpacked (consent, NULL);
        return NULL;
    }
    int n = PQntuples (rows);
    consent->withdrawals = malloc ((n ? n : 1) * sizeof (Kinnet__V1__Withdrawal *));
    consent->n_withdrawals = (size_t) n;
    bool full = false;
    for (int i = 0; i < n; i++) {
        Kinnet__V1__Withdrawal *w = malloc (sizeof *w);
        kinnet__v1__withdrawal__init (w);
        w->withdrawal_id = kn_pb_string (PQgetvalue (rows, i, 0));
        w->scope = s_scope_from (PQgetvalue (rows, i, 1), PQgetvalue (rows, i, 2),
                                 PQgetvalue (rows, i, 3), PQgetvalue (rows, i, 4));
        w->channel = atoi (PQgetvalue (rows, i, 5));
        w->recorded_by_agency_id = kn_pb_string (PQgetvalue (rows, i, 6));
        w->at = kn_pb_timestamp (strtoll (PQgetvalue (rows, i, 7), NULL, 10));
        full |= w->scope->n_agencies + w->scope->n_sectors + w->scope->n_categories
                    + w->scope->n_purposes
                == 0;
        consent->withdrawals[i] = w;
    }
    PQclear (rows);
    time_t now = time (NULL);
    consent->status = full                   ? KINNET__V1__CONSENT_STATUS__FULLY_WITHDRAWN
                      : until && until <= now ? KINNET__V1__CONSENT_STATUS__EXPIRED
                      : from > now            ? KINNET__V1__CONSENT_STATUS__NOT_YET_VALID
                      : n > 0                 ? KINNET__V1__CONSENT_STATUS__PARTLY_WITHDRAWN
                                              : KINNET__V1__CONSENT_STATUS__ACTIVE;
    return consent;
}

static Kinnet__V1__Consent *
s_load_consent (consent_store_t *self, const char *consent_id, kn_error_t *err)
{
    const char *values[] = {consent_id};
    PGresult *result = kn_db_run (self->db, "record_get", 1, values, NULL, NULL, err);
    if (!result)
        return NULL;
    Kinnet__V1__Consent *consent = NULL;
    if (PQntuples (result) == 1)
        consent = s_consent_from_row (self, result, 0, err);
    else
        kn_error_set (err, KN_E_NOT_FOUND, "consent_id", "no such consent");
    PQclear (result);
    return consent;
}

static Kinnet__V1__ConsentList *
s_consent_list (consent_store_t *self, PGresult *result, kn_error_t *err)
{
    Kinnet__V1__ConsentList *list = malloc (sizeof *list);
    kinnet__v1__consent_list__init (list);
    int n = PQntuples (result);
    list->consents = malloc ((n ? n : 1) * sizeof (Kinnet__V1__Consent *));
    for (int i = 0; i < n; i++) {
        Kinnet__V1__Consent *consent = s_consent_from_row (self, result, i, err);
        if (!consent) {
            kinnet__v1__consent_list__free_unpacked (list, NULL);
            return NULL;
        }
        list->consents[list->n_consents++] = consent;
    }
    return list;
}

//  -------------------------------------------------------------------------
//  Record

//  Open the write's transaction and claim its idempotency key. Anything but
//  KN_CLAIM_NEW has already rolled back: a replay's first object is in object_id.
static kn_claim_t
s_begin (consent_store_t *self, const char *agency_id, const char *key, const char *operation,
         const ProtobufCMessage *content, char object_id[KN_UUID_STR], kn_error_t *err)
{
    return kn_idempotency_begin (self->db, self->crypto, IDEM, agency_id, key, operation,
                                 content, object_id, err);
}


int
consent_store_record (consent_store_t *self, const char *agency_id,
                      const Kinnet__V1__RecordConsent *record, Kinnet__V1__Consent **consent,
                      kn_error_t *err)
{
    *consent = NULL;
    Kinnet__V1__RecordConsent content = *record;
    content.caseworker_id = "";   // audit detail, not content
    char consent_id[KN_UUID_STR], subject_id[KN_UUID_STR];
    kn_uuid_generate_ordered (consent_id);
    kn_claim_t claim = s_begin (self, agency_id, record->idempotency_key, "record",
                                &content.base, consent_id, err);
    if (claim != KN_CLAIM_NEW) {
        if (claim == KN_CLAIM_FAILED)
            return -1;
        *consent = s_load_consent (self, consent_id, err);
        if (*consent)
            (*consent)->replayed = true;
        return *consent ? 0 : -1;
    }
    if (s_subject (self, record->subject, subject_id, err)
        || s_agencies_exist (self, record->scope, err))
        goto fail;

    scope_text_t scope;
    s_scope_text (record->scope, &scope);
    size_t plain_len = kinnet__v1__record_consent__get_packed_size (record);
    uint8_t *plain = malloc (plain_len ? plain_len : 1);
    kinnet__v1__record_consent__pack (record, plain);
    size_t sealed_len = 0;
    uint8_t *sealed = kn_crypto_seal (self->crypto, plain, plain_len, consent_id, &sealed_len);
    sodium_memzero (plain, plain_len);
    free (plain);
    char given_by[8], from[24] = "", until[24] = "", method[8];
    snprintf (given_by, sizeof given_by, "%d", record->given_by);
    if (record->valid_from)
        snprintf (from, sizeof from, "%lld", (long long) record->valid_from->seconds);
    if (record->valid_until)
        snprintf (until, sizeof until, "%lld", (long long) record->valid_until->seconds);
    snprintf (method, sizeof method, "%d", record->method);
    const char *values[] = {consent_id, subject_id, given_by, scope.agencies, scope.sectors,
                            scope.categories, scope.purposes, from[0] ? from : NULL,
                            until[0] ? until : NULL, method, record->privacy_notice_version,
                            record->privacy_notice_language,
                            record->interpreter_used ? "t" : "f", (const char *) sealed,
                            agency_id};
    int lengths[15] = {0};
    int formats[15] = {0};
    lengths[13] = (int) sealed_len;
    formats[13] = 1;
    PGresult *result
        = kn_db_run (self->db, "record_insert", 15, values, lengths, formats, err);
    free (sealed);
    if (!result)
        goto fail;
    PQclear (result);

    Kinnet__V1__ConsentRecorded event = KINNET__V1__CONSENT_RECORDED__INIT;
    Kinnet__V1__Timestamp at = KINNET__V1__TIMESTAMP__INIT;
    at.seconds = time (NULL);
    event.consent_id = consent_id;
    event.subject_id = subject_id;
    event.recorded_by_agency_id = (char *) agency_id;
    event.recorded_at = &at;
    if (s_outbox (self, "consent.recorded", consent_id, &event.base, err)
        || s_audit (self, agency_id, record->caseworker_id, "record", subject_id, consent_id,
                    "consent", "ok", err)
        || kn_db_exec (self->db, "COMMIT", err))
        goto fail;
    *consent = s_load_consent (self, consent_id, err);
    return *consent ? 0 : -1;

fail:
    s_rollback (self);
    return -1;
}

//  -------------------------------------------------------------------------
//  Withdraw

//  One consent.withdrawn event with the withdrawal's scope w, addressed to
//  recipient ("" for the one that records the withdrawal itself).
static int
s_announce_withdrawal (consent_store_t *self, const char *consent_id, const char *subject_id,
                       const char *recipient, const Kinnet__V1__Scope *w,
                       Kinnet__V1__Timestamp *at, kn_error_t *err)
{
    Kinnet__V1__ConsentWithdrawn event = KINNET__V1__CONSENT_WITHDRAWN__INIT;
    event.consent_id = (char *) consent_id;
    event.subject_id = (char *) subject_id;
    event.recipient_agency_id = (char *) recipient;
    event.agencies = w->agencies;
    event.n_agencies = w->n_agencies;
    event.sectors = w->sectors;
    event.n_sectors = w->n_sectors;
    event.categories = w->categories;
    event.n_categories = w->n_categories;
    event.purposes = w->purposes;
    event.n_purposes = w->n_purposes;
    event.withdrawn_at = at;
    return s_outbox (self, "consent.withdrawn", consent_id, &event.base, err);
}

int
consent_store_withdraw (consent_store_t *self, const char *agency_id,
                        const Kinnet__V1__WithdrawConsent *withdraw,
                        Kinnet__V1__Consent **consent, kn_error_t *err)
{
    *consent = NULL;
    Kinnet__V1__WithdrawConsent content = *withdraw;
    content.caseworker_id = "";
    char withdrawal_id[KN_UUID_STR];
    kn_uuid_generate_ordered (withdrawal_id);
    kn_claim_t claim = s_begin (self, agency_id, withdraw->idempotency_key, "withdraw",
                                &content.base, withdrawal_id, err);
    if (claim != KN_CLAIM_NEW) {
        if (claim == KN_CLAIM_FAILED)
            return -1;
        *consent = s_load_consent (self, withdraw->consent_id, err);
        if (*consent)
            (*consent)->replayed = true;
        return *consent ? 0 : -1;
    }
    //  Not any agency that can see the consent: one named in it could be the very
    //  person the family is protecting itself from (see may_withdraw).
    char recorder[KN_UUID_STR] = "";
    const char *who[] = {withdraw->consent_id, agency_id};
    PGresult *allowed = kn_db_run (self->db, "may_withdraw", 2, who, NULL, NULL, err);
    if (!allowed)
        goto fail;
    if (PQntuples (allowed))
        snprintf (recorder, sizeof recorder, "%s", PQgetvalue (allowed, 0, 0));
    PQclear (allowed);
    if (!*recorder) {
        if (s_visible (self, withdraw->consent_id, agency_id, err) == 0)
            kn_error_set (err, KN_E_PERMISSION_DENIED, "consent_id",
                          "a withdrawal is recorded by the consent's recorder, an agency "
                          "working with the family or a data-protection officer");
        goto fail;
    }
    Kinnet__V1__Consent *current = s_load_consent (self, withdraw->consent_id, err);
    if (!current)
        goto fail;
    char subject_id[KN_UUID_STR];
    snprintf (subject_id, sizeof subject_id, "%s", current->subject_id);
    kinnet__v1__consent__free_unpacked (current, NULL);
    //  Exclusive on the subject: disclosures deciding now wait, and see this. The
    //  status is read again under the lock, so two withdrawals are ordered too.
    if (kn_consent_policy_lock_subject (self->db, subject_id, err))
        goto fail;
    current = s_load_consent (self, withdraw->consent_id, err);
    if (!current)
        goto fail;
    bool full = current->status == KINNET__V1__CONSENT_STATUS__FULLY_WITHDRAWN;
    kinnet__v1__consent__free_unpacked (current, NULL);
    if (full) {
        kn_error_set (err, KN_E_CONFLICT, "consent_id", "consent is already fully withdrawn");
        goto fail;
    }
    if (s_agencies_exist (self, withdraw->scope, err))
        goto fail;
    scope_text_t scope;
    s_scope_text (withdraw->scope, &scope);
    char channel[8];
    snprintf (channel, sizeof channel, "%d", withdraw->channel);
    const char *values[] = {withdrawal_id, withdraw->consent_id, scope.agencies, scope.sectors,
                            scope.categories, scope.purposes, channel, agency_id,
                            withdraw->caseworker_id};
    PGresult *result = kn_db_run (self->db, "withdrawal_insert", 9, values, NULL, NULL, err);
    if (!result)
        goto fail;
    int64_t at_seconds = strtoll (PQgetvalue (result, 0, 0), NULL, 10);
    PQclear (result);

    //  Tell every agency that received data under this consent to stop using it;
    //  one event addressed to nobody records the withdrawal itself.
    const char *ground[] = {withdraw->consent_id};
    result = kn_db_run (self->db, "recipients_under", 1, ground, NULL, NULL, err);
    if (!result)
        goto fail;
    static const Kinnet__V1__Scope empty = KINNET__V1__SCOPE__INIT;
    const Kinnet__V1__Scope *w = withdraw->scope ? withdraw->scope : &empty;
    Kinnet__V1__Timestamp at = KINNET__V1__TIMESTAMP__INIT;
    at.seconds = at_seconds;
    int rc = 0;
    for (int row = -1; rc == 0 && row < PQntuples (result); row++)
        rc = s_announce_withdrawal (self, withdraw->consent_id, subject_id,
                                    row < 0 ? "" : PQgetvalue (result, row, 0), w, &at, err);
    //  The recorder is told when another agency recorded the withdrawal (unless it
    //  already was, as an agency that received data under the consent).
    bool told = strcmp (recorder, agency_id) == 0;
    for (int row = 0; !told && row < PQntuples (result); row++)
        told = strcmp (PQgetvalue (result, row, 0), recorder) == 0;
    if (rc == 0 && !told)
        rc = s_announce_withdrawal (self, withdraw->consent_id, subject_id, recorder, w, &at,
                                    err);
    PQclear (result);
    if (rc
        || s_audit (self, agency_id, withdraw->caseworker_id, "withdraw", subject_id,
                    withdraw->consent_id, "consent", "ok", err)
        || kn_db_exec (self->db, "COMMIT", err))
        goto fail;
    *consent = s_load_consent (self, withdraw->consent_id, err);
    return *consent ? 0 : -1;

fail:
    s_rollback (self);
    return -1;
}

//  -------------------------------------------------------------------------
//  Reads

//  What of a consent's personal part (the guardian, the evidence reference, the
//  recorder's caseworker) may go to agency_id, decided and logged in the caller's
//  transaction; what may not is blanked. Its controller is the recorder: the
//  recorder reads its own; a data-protection officer reads it in oversight, logged
//  as such; anyone else only where the policy permits FAMILY_CIRCUMSTANCES for one
//  of the consent's purposes on a ground the recorder decided.
static int
s_disclose_consent (consent_store_t *self, const char *agency_id, bool dpo,
                    Kinnet__V1__Consent *consent, kn_error_t *err)
{
    if (strcmp (consent->recorded_by_agency_id, agency_id) == 0)
        return 0;
    static const int family = KINNET__V1__DATA_CATEGORY__FAMILY_CIRCUMSTANCES;
    if (dpo) {
        const char *values[] = {consent->subject_id, agency_id, consent->consent_id};
        PGresult *result = kn_db_run (self->db, "disclose_oversight", 3, values, NULL, NULL, err);
        PQclear (result);
        return result ? 0 : -1;
    }
    kn_policy_decision_t decision = {0};
    int purpose = 0;
    for (size_t i = 0; consent->scope && i < consent->scope->n_purposes; i++) {
        purpose = consent->scope->purposes[i];
        if (kn_consent_policy_decide (self->db, self->crypto, &self->policy, consent->subject_id,
                                      agency_id, consent->recorded_by_agency_id, &family, 1,
                                      purpose, &decision, err))
            return -1;
        if (decision.decision == KINNET__V1__DECISION__PERMITTED)
            return kn_consent_policy_record (self->db, &decision, consent->subject_id, agency_id,
                                             purpose, "consent", consent->consent_id, err);
    }
    if (consent->guardian)
        kinnet__v1__guardian__free_unpacked (consent->guardian, NULL);
    consent->guardian = NULL;
    free (consent->evidence_reference);
    consent->evidence_reference = kn_pb_string ("");
    free (consent->caseworker_id);
    consent->caseworker_id = kn_pb_string ("");
    return 0;
}

//  A read of consents: decided, logged and audited in one transaction, so that no
//  personal data leaves without its record (if the log or audit write fails, the
//  read fails). consents[0..n) are changed in place.
static int
s_read_consents (consent_store_t *self, const char *agency_id, const char *operation,
                 const char *subject_id, const char *object_id, Kinnet__V1__Consent **consents,
                 size_t n, kn_error_t *err)
{
    int dpo = s_has_role (self, agency_id, "data_protection_officer", err);
    if (dpo < 0)
        return -1;
    for (size_t i = 0; i < n; i++)
        if (s_disclose_consent (self, agency_id, dpo, consents[i], err))
            return -1;
    return s_audit (self, agency_id, NULL, operation, subject_id, object_id, NULL, "ok", err)
           ?: kn_db_exec (self->db, "COMMIT", err);
}

int
consent_store_get (consent_store_t *self, const char *agency_id, const char *consent_id,
                   Kinnet__V1__Consent **consent, kn_error_t *err)
{
    return consent_store_read (self, agency_id, "get", consent_id, consent, err);
}

int
consent_store_read (consent_store_t *self, const char *agency_id, const char *operation,
                    const char *consent_id, Kinnet__V1__Consent **consent, kn_error_t *err)
{
    *consent = NULL;
    if (kn_db_ensure (self->db, err) || kn_db_exec (self->db, "BEGIN", err))
        return -1;
    *consent = s_visible (self, consent_id, agency_id, err) == 0
                   ? s_load_consent (self, consent_id, err)
                   : NULL;
    if (*consent
        && s_read_consents (self, agency_id, operation, (*consent)->subject_id, consent_id,
                            consent, 1, err)) {
        kinnet__v1__consent__free_unpacked (*consent, NULL);
        *consent = NULL;
    }
    if (!*consent)
        s_rollback (self);
    return *consent ? 0 : -1;
}

int
consent_store_list (consent_store_t *self, const char *agency_id, const char *subject_id,
                    Kinnet__V1__ConsentList **list, kn_error_t *err)
{
    *list = NULL;
    if (kn_db_ensure (self->db, err))
        return -1;
    int exists = kn_subject_exists (self->db, subject_id, NULL, err);
    if (exists <= 0)
        return exists < 0 ? -1 : kn_error_set (err, KN_E_NOT_FOUND, "subject_id", "no such subject");
    if (s_standing (self, subject_id, agency_id, "subject_id", err)
        || kn_db_exec (self->db, "BEGIN", err))
        return -1;
    const char *values[] = {subject_id, agency_id};
    PGresult *result = kn_db_run (self->db, "record_by_subject", 2, values, NULL, NULL, err);
    *list = result ? s_consent_list (self, result, err) : NULL;
    PQclear (result);
    if (*list
        && s_read_consents (self, agency_id, "list", subject_id, NULL, (*list)->consents,
                            (*list)->n_consents, err)) {
        kinnet__v1__consent_list__free_unpacked (*list, NULL);
        *list = NULL;
    }
    if (!*list)
        s_rollback (self);
    return *list ? 0 : -1;
}

int
consent_store_subject_consents (consent_store_t *self, const char *agency_id,
                                 const char *subject_id, Kinnet__V1__ConsentList **list,
                                 kn_error_t *err)
{
    const char *values[] = {subject_id, agency_id};
    PGresult *result = kn_db_run (self->db, "record_by_subject", 2, values, NULL, NULL, err);
    *list = result ? s_consent_list (self, result, err) : NULL;
    PQclear (result);
    return *list ? 0 : -1;
}

int
consent_store_expiring (consent_store_t *self, const char *agency_id, int days,
                        Kinnet__V1__ConsentList **list, kn_error_t *err)
{
    *list = NULL;
    if (days < 1 || days > 366)
        return kn_error_set (err, KN_E_INVALID_ARGUMENT, "days", "days must be 1 to 366");
    if (kn_db_ensure (self->db, err))
        return -1;
    char days_text[8];
    snprintf (days_text, sizeof days_text, "%d", days);
    const char *values[] = {agency_id, days_text};
    PGresult *result = kn_db_run (self->db, "record_expiring", 2, values, NULL, NULL, err);
    if (!result)
        return -1;
    *list = s_consent_list (self, result, err);
    PQclear (result);
    return *list ? 0 : -1;
}

int
consent_store_check (consent_store_t *self, const char *agency_id,
                     const Kinnet__V1__CheckDisclosure *check, kn_policy_decision_t *decision,
                     kn_error_t *err)
{
    if (kn_db_ensure (self->db, err))
        return -1;
    int exists = kn_subject_exists (self->db, check->subject_id, NULL, err);
    if (exists <= 0)
        return exists < 0 ? -1 : kn_error_set (err, KN_E_NOT_FOUND, "subject_id", "no such subject");
    if (s_standing (self, check->subject_id, agency_id, "subject_id", err)
        || kn_db_exec (self->db, "BEGIN", err))
        return -1;
    int categories[KN_POLICY_MAX_CATEGORIES];
    for (size_t i = 0; i < check->n_categories && i < KN_POLICY_MAX_CATEGORIES; i++)
        categories[i] = check->categories[i];
    //  Whose data: the caller's own unless it names another controller.
    const char *controller = check->controller_agency_id && *check->controller_agency_id
                                 ? check->controller_agency_id
                                 : agency_id;
    if (!kn_uuid_valid (controller)) {
        s_rollback (self);
        return kn_error_set (err, KN_E_INVALID_ARGUMENT, "controller_agency_id",
                             "not an agency id");
    }
    //  A check is about the caller's own disclosures: as the recipient or as the
    //  controller. Otherwise it would tell anyone with standing which grounds other
    //  agencies hold about the subject, and for whom (a safeguarding override above
    //  all). A DPO oversees every disclosure.
    bool recipient = strcmp (check->agency_id, agency_id) == 0;
    bool own_data = strcmp (controller, agency_id) == 0;
    int dpo = recipient || own_data
                  ? 0
                  : s_has_role (self, agency_id, "data_protection_officer", err);
    if (dpo < 0 || (!recipient && !own_data && !dpo)) {
        s_rollback (self);
        return dpo < 0 ? -1
                       : kn_error_set (err, KN_E_PERMISSION_DENIED, "agency_id",
                                       "a check must be about your agency: as the "
                                       "recipient, or as the controller of the data");
    }
    int rc = kn_consent_policy_decide (self->db, self->crypto, &self->policy, check->subject_id,
                                       check->agency_id, controller, categories,
                                       check->n_categories, check->purpose, decision, err);
    s_rollback (self);   // a check discloses nothing and writes nothing
    //  A controller asking about another recipient learns what it decided, not which
    //  grounds other agencies recorded for that recipient.
    for (size_t i = 0; rc == 0 && !recipient && !dpo && i < decision->count; i++)
        if (!decision->categories[i].permitted && decision->categories[i].undecided)
            snprintf (decision->categories[i].reason, sizeof decision->categories[i].reason,
                      "nothing your agency decided covers this recipient, category and "
                      "purpose");
    return rc;
}

//  -------------------------------------------------------------------------
//  Receipt (Kantara Consent Receipt v1.1 fields; ISO/IEC TS 27560 record events)

static const char *
s_enum_name (const ProtobufCEnumDescriptor *descriptor, int value, char *out, size_t size)
{
    const ProtobufCEnumValue *v = protobuf_c_enum_descriptor_get_value (descriptor, value);
    snprintf (out, size, "%s", v ? v->name : "unknown");
    for (char *c = out; *c; c++)
        *c = (char) ((*c >= 'A' && *c <= 'Z') ? *c + 32 : *c);
    return out;
}

static json_t *
s_enum_array (const ProtobufCEnumDescriptor *descriptor, const int *values, size_t n)
{
    json_t *array = json_array ();
    char name[64];
    for (size_t i = 0; i < n; i++)
        json_array_append_new (array,
                               json_string (s_enum_name (descriptor, values[i], name, sizeof name)));
    return array;
}

static json_t *
s_receipt (consent_store_t *self, const Kinnet__V1__Consent *consent)
{
    char name[64];
    json_t *controllers = json_array ();
    const char *values[] = {consent->recorded_by_agency_id};
    kn_error_t err;
    PGresult *result = kn_db_run (self->db, "agency_name", 1, values, NULL, NULL, &err);
    if (result && PQntuples (result) == 1)
        json_array_append_new (controllers,
                               json_pack ("{s:s,s:s,s:s}", "piiController",
                                          PQgetvalue (result, 0, 0), "piiControllerId",
                                          consent->recorded_by_agency_id, "sector",
                                          PQgetvalue (result, 0, 1)));
    PQclear (result);
    const Kinnet__V1__Scope *scope = consent->scope;
    json_t *third_parties = json_array ();
    for (size_t i = 0; i < scope->n_agencies; i++) {
        const char *agency[] = {scope->agencies[i]};
        result = kn_db_run (self->db, "agency_name", 1, agency, NULL, NULL, &err);
        json_array_append_new (third_parties,
                               json_pack ("{s:s,s:s}", "agencyId", scope->agencies[i], "name",
                                          result && PQntuples (result) ? PQgetvalue (result, 0, 0)
                                                                       : ""));
        PQclear (result);
    }
    for (size_t i = 0; i < scope->n_sectors; i++)
        json_array_append_new (third_parties,
                               json_pack ("{s:s}", "sector",
                                          s_enum_name (&kinnet__v1__agency_sector__descriptor,
                                                       scope->sectors[i], name, sizeof name)));
    bool sensitive = false;
    for (size_t i = 0; i < scope->n_categories; i++)
        sensitive |= scope->categories[i] != KINNET__V1__DATA_CATEGORY__IDENTITY_AND_CONTACT
                     && scope->categories[i] != KINNET__V1__DATA_CATEGORY__EDUCATION;
    json_t *purposes = json_array ();
    for (size_t i = 0; i < scope->n_purposes; i++) {
        s_enum_name (&kinnet__v1__purpose__descriptor, scope->purposes[i], name, sizeof name);
        json_array_append_new (
            purposes,
            json_pack ("{s:s,s:[s],s:s,s:o,s:b,s:s,s:b,s:O}", "purpose", name,
                       "purposeCategory", name, "consentType", "EXPLICIT", "piiCategory",
                       s_enum_array (&kinnet__v1__data_category__descriptor,
                                     (const int *) scope->categories, scope->n_categories),
                       "primaryPurpose", i == 0, "termination",
                       consent->valid_until ? "at valid_until, or on withdrawal"
                                            : "on withdrawal",
                       "thirdPartyDisclosure", json_array_size (third_parties) > 0,
                       "thirdPartyName", third_parties));
    }
    json_t *events = json_array ();
    json_array_append_new (events, json_pack ("{s:s,s:I,s:s}", "event", "given", "timestamp",
                                              (json_int_t) consent->recorded_at->seconds,
                                              "by", consent->recorded_by_agency_id));
    for (size_t i = 0; i < consent->n_withdrawals; i++) {
        const Kinnet__V1__Withdrawal *w = consent->withdrawals[i];
        const Kinnet__V1__Scope *ws = w->scope;
        bool all = ws->n_agencies + ws->n_sectors + ws->n_categories + ws->n_purposes == 0;
        json_array_append_new (
            events,
            json_pack ("{s:s,s:I,s:s,s:s,s:o,s:o}", "event",
                       all ? "withdrawn" : "partly_withdrawn", "timestamp",
                       (json_int_t) (w->at ? w->at->seconds : 0), "by",
                       w->recorded_by_agency_id, "channel",
                       s_enum_name (&kinnet__v1__collection_method__descriptor, w->channel, name,
                                    sizeof name),
                       "categories",
                       s_enum_array (&kinnet__v1__data_category__descriptor,
                                     (const int *) ws->categories, ws->n_categories),
                       "purposes",
                       s_enum_array (&kinnet__v1__purpose__descriptor,
                                     (const int *) ws->purposes, ws->n_purposes)));
    }
    json_decref (third_parties);
    char method[32], status[32], giver[32];
    json_t *receipt = json_pack (
        "{s:s,s:s,s:I,s:s,s:s,s:s,s:s,s:s,s:o,s:s,s:[{s:s,s:o}],s:b,s:o,s:s,s:s,s:b,s:s,s:o}",
        "version", "KI-CR-v1.1.0", "jurisdiction", kn_config_str ("KINNET_JURISDICTION", "GB"),
        "consentTimestamp", (json_int_t) consent->recorded_at->seconds, "collectionMethod",
        s_enum_name (&kinnet__v1__collection_method__descriptor, consent->method, method,
                     sizeof method),
        "consentReceiptID", consent->consent_id, "language", consent->privacy_notice_language,
        "piiPrincipalId", consent->subject_id, "policyUrl",
        consent->privacy_notice_version, "piiControllers", controllers, "publicKey", "",
        "services", "service", "Kinnet: coordination of support around a family", "purposes",
        purposes, "sensitive", sensitive, "spiCat",
        s_enum_array (&kinnet__v1__data_category__descriptor, (const int *) scope->categories,
                      scope->n_categories),
        "givenBy",
        s_enum_name (&kinnet__v1__consent_giver__descriptor, consent->given_by, giver,
                     sizeof giver),
        "evidenceReference", consent->evidence_reference, "interpreterUsed",
        consent->interpreter_used, "status",
        s_enum_name (&kinnet__v1__consent_status__descriptor, consent->status, status,
                     sizeof status),
        "events", events);
    if (consent->valid_until)
        json_object_set_new (receipt, "validUntil",
                             json_integer ((json_int_t) consent->valid_until->seconds));
    return receipt;
}

int
consent_store_receipt (consent_store_t *self, const char *agency_id, const char *consent_id,
                       char **json, kn_error_t *err)
{
    *json = NULL;
    Kinnet__V1__Consent *consent = NULL;
    if (consent_store_read (self, agency_id, "receipt", consent_id, &consent, err))
        return -1;
    json_t *receipt = s_receipt (self, consent);
    kinnet__v1__consent__free_unpacked (consent, NULL);
    *json = receipt ? json_dumps (receipt, JSON_INDENT (2) | JSON_PRESERVE_ORDER) : NULL;
    json_decref (receipt);
    return *json ? 0 : kn_error_set (err, KN_E_INTERNAL, NULL, "receipt could not be built");
}

//  -------------------------------------------------------------------------
//  Statutory bases

int
consent_store_basis (consent_store_t *self, const char *agency_id,
                     const Kinnet__V1__RecordBasis *basis, Kinnet__V1__BasisRecorded **recorded,
                     kn_error_t *err)
{
    *recorded = NULL;
    Kinnet__V1__RecordBasis content = *basis;
    content.caseworker_id = "";
    char basis_id[KN_UUID_STR], subject_id[KN_UUID_STR] = "";
    kn_uuid_generate_ordered (basis_id);
    kn_claim_t claim
        = s_begin (self, agency_id, basis->idempotency_key, "basis", &content.base, basis_id, err);
    bool replayed = claim == KN_CLAIM_REPLAY;
    if (claim == KN_CLAIM_NEW) {
        if (s_subject (self, basis->subject, subject_id, err)
            || s_agencies_exist (self, basis->scope, err))
            goto fail;
        scope_text_t scope;
        s_scope_text (basis->scope, &scope);
        size_t sealed_len = 0;
        uint8_t *sealed = kn_crypto_seal (self->crypto, (const uint8_t *) basis->justification,
                                          strlen (basis->justification), basis_id, &sealed_len);
        char kind[8], condition[8], until[24] = "";
        snprintf (kind, sizeof kind, "%d", basis->basis);
        snprintf (condition, sizeof condition, "%d", basis->special_condition);
        if (basis->valid_until)
            snprintf (until, sizeof until, "%lld", (long long) basis->valid_until->seconds);
        const char *values[] = {basis_id,         subject_id,       kind,
                                condition,        scope.agencies,   scope.sectors,
                                scope.categories, scope.purposes,   until[0] ? until : NULL,
                                (const char *) sealed, agency_id};
        int lengths[11] = {0}, formats[11] = {0};
        lengths[9] = (int) sealed_len;
        formats[9] = 1;
        PGresult *result = kn_db_run (self->db, "basis_insert", 11, values, lengths, formats, err);
        free (sealed);
        if (!result)
            goto fail;
        PQclear (result);
        char basis_name[48];
        s_enum_name (&kinnet__v1__lawful_basis__descriptor, basis->basis, basis_name,
                     sizeof basis_name);
        if (s_audit (self, agency_id, basis->caseworker_id, "basis", subject_id, basis_id,
                     basis_name, "ok", err)
            || kn_db_exec (self->db, "COMMIT", err))
            goto fail;
    }
    else {
        if (claim == KN_CLAIM_FAILED)
            return -1;
        const char *values[] = {basis_id};
        PGresult *result = kn_db_run (self->db, "basis_subject", 1, values, NULL, NULL, err);
        if (!result)
            return -1;
        if (PQntuples (result) == 1)
            snprintf (subject_id, sizeof subject_id, "%s", PQgetvalue (result, 0, 0));
        PQclear (result);
    }
    *recorded = malloc (sizeof **recorded);
    kinnet__v1__basis_recorded__init (*recorded);
    (*recorded)->basis_id = kn_pb_string (basis_id);
    (*recorded)->subject_id = kn_pb_string (subject_id);
    (*recorded)->replayed = replayed;
    return 0;

fail:
    s_rollback (self);
    return -1;
}

//  -------------------------------------------------------------------------
//  Safeguarding overrides

static Kinnet__V1__Override *
s_override_from_row (PGresult *result, int row)
{
    Kinnet__V1__Override *o = malloc (sizeof *o);
    kinnet__v1__override__init (o);
    o->override_id = kn_pb_string (PQgetvalue (result, row, 0));
    o->subject_id = kn_pb_string (PQgetvalue (result, row, 1));
    o->reason = atoi (PQgetvalue (result, row, 2));
    o->approver_role = atoi (PQgetvalue (result, row, 3));
    o->approver_id = kn_pb_string (PQgetvalue (result, row, 4));
    o->scope = s_scope_from (PQgetvalue (result, row, 5), PQgetvalue (result, row, 6),
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
    const char *values[] = {id};
    PGresult *result = kn_db_run (self->db, "override_get", 1, values, NULL, NULL, err);
    if (!result)
        return NULL;
    Kinnet__V1__Override *o = PQntuples (result) == 1 ? s_override_from_row (result, 0) : NULL;
    if (!o)
        kn_error_set (err, KN_E_NOT_FOUND, "override_id", "no such override");
    PQclear (result);
    return o;
}

int
consent_store_override (consent_store_t *self, const char *agency_id,
                        const Kinnet__V1__RequestOverride *request,
                        Kinnet__V1__Override **override, kn_error_t *err)
{
    *override = NULL;
    Kinnet__V1__RequestOverride content = *request;
    content.caseworker_id = "";
    char override_id[KN_UUID_STR], subject_id[KN_UUID_STR];
    kn_uuid_generate_ordered (override_id);
    kn_claim_t claim = s_begin (self, agency_id, request->idempotency_key, "override",
                                &content.base, override_id, err);
    if (claim != KN_CLAIM_NEW) {
        if (claim == KN_CLAIM_FAILED)
            return -1;
        *override = s_load_override (self, override_id, err);
        if (*override)
            (*override)->replayed = true;
        return *override ? 0 : -1;
    }
    if (s_subject (self, request->subject, subject_id, err)
        || s_agencies_exist (self, request->scope, err))
        goto fail;
    scope_text_t scope;
    s_scope_text (request->scope, &scope);
    size_t sealed_len = 0;
    uint8_t *sealed = kn_crypto_seal (self->crypto, (const uint8_t *) request->details,
                                      strlen (request->details), override_id, &sealed_len);
    char reason[8], role[8], hours[8], review[8];
    snprintf (reason, sizeof reason, "%d", request->reason);
    snprintf (role, sizeof role, "%d", request->approver_role);
    snprintf (hours, sizeof hours, "%d", request->expires_in_hours ? request->expires_in_hours : 72);
    snprintf (review, sizeof review, "%d", self->review_hours);
    const char *values[] = {override_id,      subject_id,     reason,
                            (const char *) sealed, role,       request->approver_id,
                            scope.agencies,   scope.sectors,  scope.categories,
                            hours,            agency_id,      review};
    int lengths[12] = {0}, formats[12] = {0};
    lengths[3] = (int) sealed_len;
    formats[3] = 1;
    PGresult *result = kn_db_run (self->db, "override_insert", 12, values, lengths, formats, err);
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
    event.requested_by_agency_id = (char *) agency_id;
    event.review_due_at = (*override)->review_due_at;
    if (s_outbox (self, "override.requested", override_id, &event.base, err)
        || s_audit (self, agency_id, request->caseworker_id, "override", subject_id, override_id,
                    "safeguarding_override", "ok", err)
        || kn_db_exec (self->db, "COMMIT", err)) {
        kinnet__v1__override__free_unpacked (*override, NULL);
        *override = NULL;
        goto fail;
    }
    return 0;

fail:
    s_rollback (self);
    return -1;
}

int
consent_store_review (consent_store_t *self, const char *agency_id,
                      const Kinnet__V1__ReviewOverride *review, Kinnet__V1__Override **override,
                      kn_error_t *err)
{
    *override = NULL;
    if (kn_db_ensure (self->db, err))
        return -1;
    int role = s_has_role (self, agency_id, "data_protection_officer", err);
    if (role <= 0)
        return role < 0 ? -1
                        : kn_error_set (err, KN_E_PERMISSION_DENIED, NULL,
                                        "reviews need the data_protection_officer role");
    Kinnet__V1__ReviewOverride content = *review;
    content.caseworker_id = "";
    char claimed[KN_UUID_STR];
    snprintf (claimed, sizeof claimed, "%s", review->override_id);
    kn_claim_t claim = s_begin (self, agency_id, review->idempotency_key, "review",
                                &content.base, claimed, err);
    if (claim != KN_CLAIM_NEW) {
        if (claim == KN_CLAIM_FAILED)
            return -1;
        *override = s_load_override (self, claimed, err);
        if (*override)
            (*override)->replayed = true;
        return *override ? 0 : -1;
    }
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
    uint8_t *sealed = kn_crypto_seal (self->crypto, (const uint8_t *) review->notes,
                                      strlen (review->notes), ad, &sealed_len);
    const char *update[] = {review->override_id, decision, agency_id, (const char *) sealed};
    int lengths[] = {0, 0, 0, (int) sealed_len};
    int formats[] = {0, 0, 0, 1};
    result = kn_db_run (self->db, "override_review", 4, update, lengths, formats, err);
    free (sealed);
    if (!result)
        goto fail;
    PQclear (result);
    if (s_audit (self, agency_id, review->caseworker_id, "review", subject_id,
                 review->override_id, "safeguarding_override", "ok", err)
        || kn_db_exec (self->db, "COMMIT", err))
        goto fail;
    *override = s_load_override (self, review->override_id, err);
    return *override ? 0 : -1;

fail:
    s_rollback (self);
    return -1;
}

int
consent_store_overrides (consent_store_t *self, const char *agency_id, bool open_only,
                         Kinnet__V1__OverrideList **list, kn_error_t *err)
{
    *list = NULL;
    if (kn_db_ensure (self->db, err))
        return -1;
    int dpo = s_has_role (self, agency_id, "data_protection_officer", err);
    if (dpo < 0)
        return -1;
    //  The data-protection role sees every override; others their own requests.
    const char *values[] = {dpo ? "t" : "f", agency_id, open_only ? "t" : "f"};
    PGresult *result = kn_db_run (self->db, "override_list", 3, values, NULL, NULL, err);
    if (!result)
        return -1;
    *list = malloc (sizeof **list);
    kinnet__v1__override_list__init (*list);
    int n = PQntuples (result);
    (*list)->overrides = malloc ((n ? n : 1) * sizeof (Kinnet__V1__Override *));
    for (int i = 0; i < n; i++)
        (*list)->overrides[(*list)->n_overrides++] = s_override_from_row (result, i);
    PQclear (result);
    return 0;
}
