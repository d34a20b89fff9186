/*  intake_store: referrals, subjects, idempotency ledger, outbox and audit, each
    operation in one transaction.
    Matching: every child gets a keyed blind index; a transaction-scoped advisory
    lock per index (taken in sorted order, so never a deadlock) serialises two
    referrals of the same new child, so they resolve to one subject and family. */
#include "intake_store.h"

#include <ctype.h>
#include <inttypes.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kinnet/v1/consent.pb-c.h"
#include "kinnet/v1/events.pb-c.h"
#include "kn_audit.h"
#include "kn_log.h"
#include "kn_consent_policy.h"
#include "kn_idempotency.h"
#include "kn_language.h"
#include "kn_outbox.h"
#include "kn_pgarray.h"
#include "kn_subject.h"

#define MAX_CHILDREN          (1 + 15)
#define INTAKE_LANGUAGE_SLOTS 32 // distinct languages carried per referral

struct _intake_store_t {
    kn_db_t *db;
    kn_crypto_t *crypto;
    kn_policy_config_t policy;
};

//  The districts Kinnet knows: the directory's, and those its active agencies are
//  in or serve. A referral names one of them, or routing could never place it.
#define KNOWN_DISTRICTS                                                                  \
    "SELECT code FROM core.district UNION SELECT district FROM core.agency WHERE active"  \
    " UNION SELECT ad.district FROM core.agency_district ad JOIN core.agency a"           \
    "  ON a.id = ad.agency_id WHERE a.active"

static const struct {
    const char *name;
    const char *sql;
} s_statements[] = {
    //  A batch's referrals, one column per parameter; needs and languages are array
    //  literals inside a text array. received_at is the transaction's, one for all.
    {"referral_insert",
     "INSERT INTO intake.referral (id, referring_agency_id, family_id, urgency, district,"
     " needs, languages, children, family_matched, lawful_basis, personal,"
     " family_disclosed, consent_id)"
     " SELECT id, ag, fa, ur, di, ne::smallint[], la::text[], ch, fm, lb, pe, fd, co"
     " FROM unnest ($1::uuid[], $2::uuid[], $3::uuid[], $4::smallint[], $5::text[],"
     " $6::text[], $7::text[], $8::smallint[], $9::boolean[], $10::smallint[], "
     "$11::bytea[], $12::boolean[], $13::uuid[])"
     " AS t (id, ag, fa, ur, di, ne, la, ch, fm, lb, pe, fd, co)"},
    //  Per referral of a batch, before it is stored: had its agency standing with
    //  the family it was matched to? Only what the agency cannot make for itself
    //  counts: the data-protection role, a place on the family's team (an accepted
    //  involvement, current or past), or an earlier referral that was shown the
    //  family. A name and date of birth are all it takes to record a ground or to
    //  refer, so neither opens a family that others know.
    {"family_standing",
     "SELECT EXISTS (SELECT 1 FROM core.agency_role g WHERE g.agency_id = t.a"
     "  AND g.role = 'data_protection_officer')"
     " OR EXISTS (SELECT 1 FROM routing.involvement i JOIN routing.case c ON c.id = i.case_id"
     "  WHERE c.family_id = t.f AND i.agency_id = t.a"
     "  AND i.status IN ('accepted', 'closed', 'transferred'))"
     " OR EXISTS (SELECT 1 FROM intake.referral r WHERE r.family_id = t.f"
     "  AND r.referring_agency_id = t.a AND r.family_disclosed)"
     " FROM unnest ($1::uuid[], $2::uuid[]) WITH ORDINALITY AS t (f, a, i) ORDER BY t.i"},
    {"referral_subject_insert",
     "INSERT INTO intake.referral_subject (referral_id, subject_id, role, position)"
     " SELECT * FROM unnest ($1::uuid[], $2::uuid[], $3::text[], $4::smallint[])"
     " ON CONFLICT DO NOTHING"},
    {"referral_subjects", "SELECT subject_id FROM intake.referral_subject"
                          " WHERE referral_id = $1 ORDER BY position"},
    {"referral_summary",
     "SELECT family_id, family_matched,"
     " (extract(epoch FROM received_at) * 1000000)::bigint, family_disclosed"
     " FROM intake.referral WHERE id = $1"},
    {"referral_get", "SELECT referring_agency_id, family_id, status,"
                     " (extract(epoch FROM received_at) * 1000000)::bigint,"
                     " coalesce((extract(epoch FROM withdrawn_at) * 1000000)::bigint, 0),"
                     " personal, withdraw_reason, family_disclosed"
                     " FROM intake.referral WHERE id = $1"},
    //  Per referral of a batch: the district as the directory spells it (NULL when
    //  nobody knows it), whether the agency holds the referrer role, and whether its
    //  key was used already (a retry gets its first answer, whatever changed since).
    {"submit_standing",
     "SELECT (SELECT k.code FROM (" KNOWN_DISTRICTS ") k (code)"
     "  WHERE lower (k.code) = lower (t.d) ORDER BY k.code LIMIT 1),"
     " EXISTS (SELECT 1 FROM core.agency_role r WHERE r.agency_id = t.a"
     "  AND r.role = 'referrer'),"
     " EXISTS (SELECT 1 FROM intake.idempotency y WHERE y.agency_id = t.a AND y.key = t.k)"
     " FROM unnest ($1::text[], $2::uuid[], $3::text[]) WITH ORDINALITY AS t (d, a, k, i)"
     " ORDER BY t.i"},
    {"known_districts",
     "SELECT count (*), string_agg (code, ', ' ORDER BY code) FILTER (WHERE n <= 20)"
     " FROM (SELECT code, row_number () OVER (ORDER BY code) AS n"
     "  FROM (" KNOWN_DISTRICTS ") k (code)) d"},
    {"referral_lock", "SELECT referring_agency_id, status, family_id FROM intake.referral"
                      " WHERE id = $1 FOR UPDATE"},
    {"referral_withdraw",
     "UPDATE intake.referral SET status = 'withdrawn', withdrawn_at = now(),"
     " withdraw_reason = $2 WHERE id = $1"
     " RETURNING (extract(epoch FROM withdrawn_at) * 1000000)::bigint"},
};

intake_store_t *
intake_store_new (kn_db_t *db, kn_crypto_t *crypto, kn_error_t *err)
{
    for (size_t i = 0; i < sizeof s_statements / sizeof s_statements[0]; i++)
        if (kn_db_prepare (db, s_statements[i].name, s_statements[i].sql, err))
            return NULL;
    if (kn_outbox_prepare (db, err) || kn_audit_prepare (db, err) ||
        kn_subject_prepare (db, err) ||
        kn_idempotency_prepare (db, "intake.idempotency", err))
        return NULL;
    if (kn_consent_policy_prepare (db, err))
        return NULL;
    intake_store_t *self = calloc (1, sizeof *self);
    self->db = db;
    self->crypto = crypto;
    self->policy = kn_consent_policy_config ();
    return self;
}

void
intake_store_destroy (intake_store_t **self_p)
{
    if (self_p && *self_p) {
        free (*self_p);
        *self_p = NULL;
    }
}

//  -------------------------------------------------------------------------

static void
s_rollback (intake_store_t *self)
{
    kn_error_t ignored;
    kn_db_exec (self->db, "ROLLBACK", &ignored);
}

//  Run a prepared statement; the single text value of row 0 col 0 into out (may be
//  NULL). Returns rows, or -1.
static int
s_run (intake_store_t *self, const char *name, int n, const char *const *values,
       const int *lengths, const int *formats, char *out, size_t out_size,
       kn_error_t *err)
{
    PGresult *result = kn_db_run (self->db, name, n, values, lengths, formats, err);
    if (!result)
        return -1;
    int rows = PQntuples (result);
    if (out && rows > 0)
        snprintf (out, out_size, "%s", PQgetvalue (result, 0, 0));
    PQclear (result);
    return rows;
}

static int
s_audit (intake_store_t *self, const char *agency_id, const char *caseworker_id,
         const char *operation, const char *family_id, const char *object_id,
         const char *basis, const char *result, kn_error_t *err)
{
    kn_audit_entry_t entry = {
        .agency_id = agency_id,
        .caseworker_id = caseworker_id,
        .service = "intake",
        .operation = operation,
        .subject_ref = family_id,
        .object_id = object_id,
        .basis = basis,
        .result = result,
    };
    return kn_audit_append (self->db, &entry, err);
}

void
intake_store_audit_failure (intake_store_t *self, const char *agency_id,
                            const char *caseworker_id, const char *operation,
                            const char *object_id, kn_code_t code)
{
    kn_error_t err;
    if (kn_db_ensure (self->db, &err) == 0)
        s_audit (self, agency_id, caseworker_id, operation, NULL,
                 (object_id && kn_uuid_valid (object_id)) ? object_id : NULL, NULL,
                 kn_code_name (code), &err);
}

//  -------------------------------------------------------------------------
//  Submit

//  A referral on consent must name an active consent of the referred child that
//  covers the referring agency, the referral narrative and referral and assessment.
static int
s_check_consent (intake_store_t *self, const char *agency_id, const char *child_subject,
                 const char *consent_id, kn_error_t *err)
{
    static const int narrative[] = {KINNET__V1__DATA_CATEGORY__REFERRAL_NARRATIVE};
    kn_policy_decision_t decision;
    if (kn_consent_policy_decide (
            self->db, self->crypto, &self->policy, child_subject, agency_id, NULL, narrative, 1,
            KINNET__V1__PURPOSE__REFERRAL_AND_ASSESSMENT, &decision, err))
        return -1;
    const kn_policy_category_t *entry = &decision.categories[0];
    for (size_t i = 0;
         entry->basis == KINNET__V1__LAWFUL_BASIS__CONSENT && i < entry->n_consents; i++)
        if (strcasecmp (entry->consents[i], consent_id) == 0)
            return 0;
    return kn_error_set (
        err, KN_E_INVALID_ARGUMENT, "lawful_ground.consent_reference",
        "that consent does not permit this child's referral by your agency "
        "(%s)",
        entry->basis == KINNET__V1__LAWFUL_BASIS__CONSENT
            ? "it is not one of the consents that count"
        : entry->permitted ? "no consent applies; another ground does"
                           : entry->reason);
}

static int
s_replay_submit (intake_store_t *self, intake_submit_result_t *result, kn_error_t *err)
{
    const char *values[] = {result->referral_id};
    PGresult *row = kn_db_run (self->db, "referral_summary", 1, values, NULL, NULL, err);
    if (!row)
        return -1;
    int rc = 0;
    if (PQntuples (row) == 1) {
        snprintf (result->family_id, KN_UUID_STR, "%s", PQgetvalue (row, 0, 0));
        result->family_matched = PQgetvalue (row, 0, 1)[0] == 't';
        result->received_at_us = strtoll (PQgetvalue (row, 0, 2), NULL, 10);
        result->family_known = PQgetvalue (row, 0, 3)[0] == 't';
        result->replayed = true;
    } else
        rc = kn_error_set (err, KN_E_INTERNAL, NULL, "replayed referral missing");
    PQclear (row);
    if (rc == 0) {
        row = kn_db_run (self->db, "referral_subjects", 1, values, NULL, NULL, err);
        if (!row)
            return -1;
        for (int i = 0; i < PQntuples (row) && i < 16; i++)
            snprintf (result->subject_ids[i], KN_UUID_STR, "%s", PQgetvalue (row, i, 0));
        result->subject_count = (size_t)(PQntuples (row) < 16 ? PQntuples (row) : 16);
        PQclear (row);
    }
    return rc;
}

//  Postgres array literal of the need categories, e.g. {1,4}.
static void
s_needs_array (const Kinnet__V1__SubmitReferral *referral, char *out, size_t size)
{
    size_t pos = (size_t)snprintf (out, size, "{");
    for (size_t i = 0; i < referral->n_needs && pos < size; i++)
        pos += (size_t)snprintf (out + pos, size - pos, "%s%d", i ? "," : "",
                                 (int)referral->needs[i]->category);
    snprintf (out + pos, size > pos ? size - pos : 0, "}");
}

//  Distinct languages of every child as primary subtags (kn_language, as the
//  directory stores them: "ara", "ar-SY" and "ar" are one), as an array literal;
//  subtags are [a-z] so they need no quoting. event->languages point into slots.
static void
s_languages_array (const Kinnet__V1__SubmitReferral *referral, char *out, size_t size,
                   Kinnet__V1__ReferralReceived *event, char (*slots)[9])
{
    size_t pos = (size_t)snprintf (out, size, "{");
    const Kinnet__V1__Person *people[MAX_CHILDREN];
    size_t count = 0;
    people[count++] = referral->child;
    for (size_t i = 0; i < referral->n_siblings && count < MAX_CHILDREN; i++)
        people[count++] = referral->siblings[i];
    size_t n = 0;
    for (size_t p = 0; p < count; p++)
        for (size_t l = 0; l < people[p]->n_languages; l++) {
            char subtag[9];
            if (kn_language_primary (people[p]->languages[l], subtag))
                continue; // validated already: cannot happen
            bool seen = false;
            for (size_t k = 0; k < n && !seen; k++)
                seen = strcmp (slots[k], subtag) == 0;
            if (seen || n >= event->n_languages)
                continue;
            memcpy (slots[n], subtag, sizeof subtag);
            event->languages[n] = slots[n];
            n++;
            pos += (size_t)snprintf (out + pos, size > pos ? size - pos : 0, "%s%s",
                                     n > 1 ? "," : "", subtag);
        }
    event->n_languages = n;
    snprintf (out + pos, size > pos ? size - pos : 0, "}");
}

//  One referral of a batch on its way through s_store_batch.
typedef struct {
    intake_submission_t *item;
    kn_idempotency_claim_t claim;
    kn_person_t people[MAX_CHILDREN];
    char subjects[MAX_CHILDREN][KN_UUID_STR];
    char basis[48]; // the lawful basis's name, for the audit row
    //  Its children's distinct languages, found once for the row and the event.
    char *languages[INTAKE_LANGUAGE_SLOTS];
    char language_slots[INTAKE_LANGUAGE_SLOTS][9];
    size_t n_languages;
} pending_t;

typedef enum {
    BATCH_COMMITTED, // every item has its answer
    BATCH_REFUSED,   // one item was refused after writing; rolled back, retry the rest
    BATCH_FAILED     // the transaction failed; rolled back, nothing answered
} batch_outcome_t;

static void
s_basis_name (const Kinnet__V1__SubmitReferral *referral, char *out, size_t size)
{
    const ProtobufCEnumValue *value = protobuf_c_enum_descriptor_get_value (
        &kinnet__v1__lawful_basis__descriptor, referral->lawful_ground->basis);
    size_t k = 0;
    for (; value && value->name[k] && k + 1 < size; k++)
        out[k] = (char)tolower ((unsigned char)value->name[k]);
    out[k] = '\0';
}

//  Everything a new referral writes, for every new referral of the batch in one
//  statement per table: the referral, its subjects, its event and its audit row.
//  They are deferred: sent with the COMMIT in one round trip (kn_db_defer_commit).
//  received_us is the transaction's now (), the referrals' received_at.
static int
s_insert_referrals (intake_store_t *self, pending_t **news, size_t n, int64_t received_us,
                    kn_error_t *err)
{
    if (kn_db_defer_begin (self->db, err))
        return -1;
    kn_pgarray_t *columns[13];
    kn_pgarray_columns (columns, 13);
    for (size_t i = 0; i < n; i++) {
        const Kinnet__V1__SubmitReferral *referral = news[i]->item->referral;
        intake_submit_result_t *result = &news[i]->item->result;
        //  The personal part, sealed and bound to the referral id.
        size_t plain_len = kinnet__v1__submit_referral__get_packed_size (referral);
        uint8_t *plain = malloc (plain_len ? plain_len : 1);
        kinnet__v1__submit_referral__pack (referral, plain);
        size_t sealed_len = 0;
        uint8_t *sealed = kn_crypto_seal (self->crypto, plain, plain_len,
                                          result->referral_id, &sealed_len);
        sodium_memzero (plain, plain_len);
        free (plain);
        char needs[256], languages[INTAKE_LANGUAGE_SLOTS * 36 + 4];
        Kinnet__V1__ReferralReceived languages_only = KINNET__V1__REFERRAL_RECEIVED__INIT;
        languages_only.languages = news[i]->languages;
        languages_only.n_languages = INTAKE_LANGUAGE_SLOTS;
        s_needs_array (referral, needs, sizeof needs);
        s_languages_array (referral, languages, sizeof languages, &languages_only,
                           news[i]->language_slots);
        news[i]->n_languages = languages_only.n_languages;
        kn_pgarray_add (columns[0], result->referral_id);
        kn_pgarray_add (columns[1], news[i]->item->agency_id);
        kn_pgarray_add (columns[2], result->family_id);
        kn_pgarray_add_int (columns[3], referral->urgency);
        kn_pgarray_add (columns[4], news[i]->item->district);
        kn_pgarray_add (columns[5], needs);
        kn_pgarray_add (columns[6], languages);
        kn_pgarray_add_int (columns[7], (long long)result->subject_count);
        kn_pgarray_add (columns[8], result->family_matched ? "t" : "f");
        kn_pgarray_add_int (columns[9], referral->lawful_ground->basis);
        kn_pgarray_add_bytes (columns[10], sealed, sealed_len);
        kn_pgarray_add (columns[11], result->family_known ? "t" : "f");
        //  The consent it rests on (checked to count, and so a UUID), in the clear.
        bool on_consent = referral->lawful_ground->basis == KINNET__V1__LAWFUL_BASIS__CONSENT;
        kn_pgarray_add (columns[12], on_consent ? referral->lawful_ground->consent_reference : NULL);
        free (sealed);
    }
    //  Plain INSERT … SELECT: every row or an error (what a deferred statement must be).
    if (kn_pgarray_exec (self->db, "referral_insert", columns, 13, err))
        return -1;

    kn_pgarray_t *links[4];
    kn_pgarray_columns (links, 4);
    for (size_t i = 0; i < n; i++) {
        intake_submit_result_t *result = &news[i]->item->result;
        result->received_at_us = received_us;
        for (size_t k = 0; k < result->subject_count; k++) {
            kn_pgarray_add (links[0], result->referral_id);
            kn_pgarray_add (links[1], result->subject_ids[k]);
            kn_pgarray_add (links[2], k ? "sibling" : "child");
            kn_pgarray_add_int (links[3], (long long)k);
        }
    }
    if (kn_pgarray_exec (self->db, "referral_subject_insert", links, 4, err))
        return -1;

    //  The events routing consumes: no personal data.
    const char **ids = calloc (n, sizeof *ids);
    uint8_t **payloads = calloc (n, sizeof *payloads);
    size_t *lens = calloc (n, sizeof *lens);
    kn_audit_entry_t *audits = calloc (n, sizeof *audits);
    for (size_t i = 0; i < n; i++) {
        const Kinnet__V1__SubmitReferral *referral = news[i]->item->referral;
        intake_submit_result_t *result = &news[i]->item->result;
        Kinnet__V1__NeedCategory need_values[32];
        Kinnet__V1__Timestamp at = KINNET__V1__TIMESTAMP__INIT;
        at.seconds = result->received_at_us / 1000000;
        at.nanos = (int32_t)(result->received_at_us % 1000000) * 1000;
        Kinnet__V1__ReferralReceived event = KINNET__V1__REFERRAL_RECEIVED__INIT;
        event.languages = news[i]->languages;
        event.n_languages = news[i]->n_languages;
        for (size_t k = 0; k < referral->n_needs && k < 32; k++)
            need_values[k] = referral->needs[k]->category;
        event.referral_id = result->referral_id;
        event.family_id = result->family_id;
        event.referring_agency_id = (char *)news[i]->item->agency_id;
        event.urgency = referral->urgency;
        event.district = (char *)news[i]->item->district;
        event.n_needs = referral->n_needs < 32 ? referral->n_needs : 32;
        event.needs = need_values;
        event.children = (int32_t)result->subject_count;
        event.family_matched = result->family_matched;
        event.referrer_knows_family = result->family_known;
        event.received_at = &at;
        lens[i] = kinnet__v1__referral_received__get_packed_size (&event);
        payloads[i] = malloc (lens[i] ? lens[i] : 1);
        kinnet__v1__referral_received__pack (&event, payloads[i]);
        ids[i] = result->referral_id;
        audits[i] = (kn_audit_entry_t){
            .agency_id = news[i]->item->agency_id,
            .caseworker_id = referral->caseworker_id,
            .service = "intake",
            .operation = "submit",
            .subject_ref = result->family_id,
            .object_id = result->referral_id,
            .basis = news[i]->basis,
            .result = "ok",
        };
    }
    int rc = kn_outbox_append_many (self->db, "referral.received", ids,
                                    (const uint8_t *const *)payloads, lens, n, err) ||
                     kn_audit_append_many (self->db, audits, n, err)
                 ? -1
                 : 0;
    for (size_t i = 0; i < n; i++)
        free (payloads[i]);
    free (payloads);
    free (lens);
    free (ids);
    free (audits);
    return rc;
}

//  One pass over items in one transaction. On BATCH_REFUSED *refused is the item
//  refused (its rc and err set); the caller tries again without it.
static batch_outcome_t
s_store_batch (intake_store_t *self, intake_submission_t **items, size_t n,
               size_t *refused, kn_error_t *err)
{
    if (kn_db_ensure (self->db, err))
        return BATCH_FAILED;
    pending_t *pending = calloc (n, sizeof *pending);
    pending_t **news = calloc (n, sizeof *news);
    kn_idempotency_claim_t *claims = calloc (n, sizeof *claims);
    kn_subject_group_t *groups = calloc (n, sizeof *groups);
    for (size_t i = 0; i < n; i++) {
        pending_t *p = &pending[i];
        p->item = items[i];
        memset (&p->item->result, 0, sizeof p->item->result);
        kn_error_clear (&p->item->err);
        const Kinnet__V1__SubmitReferral *referral = p->item->referral;
        //  The caseworker id is audit detail, not content: a retry from another
        //  caseworker of the same agency is still the same referral.
        Kinnet__V1__SubmitReferral content = *referral;
        content.caseworker_id = "";
        claims[i] = (kn_idempotency_claim_t){.agency_id = p->item->agency_id,
                                             .key = referral->idempotency_key,
                                             .operation = "submit"};
        kn_idempotency_digest (self->crypto, &content.base, claims[i].digest);
        kn_uuid_generate_ordered (claims[i].object_id);
        memcpy (p->item->result.referral_id, claims[i].object_id, KN_UUID_STR);
    }
    batch_outcome_t outcome = BATCH_FAILED;
    int64_t began_us = 0;
    if (kn_db_begin_at (self->db, &began_us, err))
        goto done;
    if (kn_idempotency_claim_many (self->db, "intake.idempotency", claims, n, err))
        goto fail;

    size_t n_new = 0;
    for (size_t i = 0; i < n; i++) {
        pending_t *p = &pending[i];
        intake_submission_t *item = p->item;
        if (claims[i].claim == KN_CLAIM_REPLAY) {
            memcpy (item->result.referral_id, claims[i].object_id, KN_UUID_STR);
            if (s_replay_submit (self, &item->result, err))
                goto fail;
            item->rc = 0;
            continue;
        }
        if (claims[i].claim == KN_CLAIM_FAILED) {
            item->rc = -1;
            item->err = claims[i].err;
            continue;
        }
        //  The child and siblings, to be resolved to subjects of one family.
        const Kinnet__V1__SubmitReferral *referral = item->referral;
        size_t count = 0;
        p->people[count++] =
            (kn_person_t){referral->child->given_name, referral->child->family_name,
                          referral->child->date_of_birth};
        for (size_t k = 0; k < referral->n_siblings && count < MAX_CHILDREN; k++) {
            const Kinnet__V1__Person *sibling = referral->siblings[k];
            p->people[count++] = (kn_person_t){sibling->given_name, sibling->family_name,
                                               sibling->date_of_birth};
        }
        groups[n_new] = (kn_subject_group_t){
            .people = p->people, .count = count, .subjects = p->subjects};
        news[n_new++] = p;
    }
    if (n_new > 0 && kn_subject_resolve_many (self->db, self->crypto, groups, n_new, err))
        goto fail;
    if (n_new > 0) {
        kn_pgarray_t *columns[2];
        kn_pgarray_columns (columns, 2);
        for (size_t i = 0; i < n_new; i++) {
            kn_pgarray_add (columns[0], groups[i].family_id);
            kn_pgarray_add (columns[1], news[i]->item->agency_id);
        }
        PGresult *known = kn_pgarray_run (self->db, "family_standing", columns, 2, err);
        if (!known)
            goto fail;
        for (size_t i = 0; i < n_new && i < (size_t)PQntuples (known); i++)
            news[i]->item->result.family_known = PQgetvalue (known, (int)i, 0)[0] == 't';
        PQclear (known);
    }
    for (size_t i = 0; i < n_new; i++) {
        pending_t *p = news[i];
        intake_submit_result_t *result = &p->item->result;
        memcpy (result->family_id, groups[i].family_id, KN_UUID_STR);
        result->family_matched = groups[i].matched;
        result->subject_count = groups[i].count;
        for (size_t k = 0; k < groups[i].count; k++)
            memcpy (result->subject_ids[k], p->subjects[k], KN_UUID_STR);
        s_basis_name (p->item->referral, p->basis, sizeof p->basis);
        const Kinnet__V1__LawfulGround *ground = p->item->referral->lawful_ground;
        if (ground->basis == KINNET__V1__LAWFUL_BASIS__CONSENT &&
            s_check_consent (self, p->item->agency_id, p->subjects[0],
                             ground->consent_reference, &p->item->err)) {
            if (p->item->err.code == KN_E_INTERNAL) {
                *err = p->item->err; // the check itself failed: the batch did
                goto fail;
            }
            p->item->rc = -1;
            *refused = (size_t)(p - pending);
            outcome = BATCH_REFUSED;
            goto fail;
        }
    }
    if (n_new > 0 ? s_insert_referrals (self, news, n_new, began_us, err)
                        || kn_db_defer_commit (self->db, err)
                  : kn_db_exec (self->db, "COMMIT", err))
        goto fail;
    for (size_t i = 0; i < n_new; i++)
        news[i]->item->rc = 0;
    outcome = BATCH_COMMITTED;
    goto done;

fail:
    s_rollback (self);
done:
    free (groups);
    free (claims);
    free (news);
    free (pending);
    return outcome;
}

static bool s_reconnected (intake_store_t *self, const kn_error_t *err);

//  Store items, by as few transactions as their answers allow.
static void
s_store (intake_store_t *self, intake_submission_t **items, size_t n)
{
    bool retried = false;
    while (n > 0) {
        kn_error_t err;
        kn_error_clear (&err);
        size_t refused = 0;
        batch_outcome_t outcome = s_store_batch (self, items, n, &refused, &err);
        if (outcome == BATCH_COMMITTED)
            return;
        if (outcome == BATCH_REFUSED) {
            items[refused] = items[--n]; // answered; the rest again
            continue;
        }
        if (n > 1) { // one of them may be the cause: alone, it fails alone
            for (size_t i = 0; i < n; i++)
                s_store (self, &items[i], 1);
            return;
        }
        if (!retried && s_reconnected (self, &err)) {
            retried = true;
            continue;
        }
        items[0]->rc = -1;
        items[0]->err = err;
        return;
    }
}

//  The refusal for an unknown district, naming the ones Kinnet knows.
static void
s_unknown_district (intake_store_t *self, const char *district, kn_error_t *err)
{
    kn_error_t ignored;
    PGresult *known = kn_db_run (self->db, "known_districts", 0, NULL, NULL, NULL, &ignored);
    int count = known ? atoi (PQgetvalue (known, 0, 0)) : 0;
    kn_error_set (err, KN_E_INVALID_ARGUMENT, "district",
                  "unknown district '%.64s'; known: %.200s%s", district,
                  known && count ? PQgetvalue (known, 0, 1) : "none",
                  count > 20 ? ", ..." : "");
    PQclear (known);
}

//  What does not depend on the batch's transaction, for every item in one round
//  trip: the district is one Kinnet knows (written back as the directory spells
//  it) and the agency may refer. Refused items are answered here (rc -1) and true
//  is returned for those that go on. -1 when the statement failed (each item then
//  carries the error).
static int
s_check_standing (intake_store_t *self, intake_submission_t *items, size_t n, bool *go_on)
{
    kn_error_t err;
    kn_error_clear (&err);
    PGresult *rows = NULL;
    //  A session found dead here is replaced once, as for the batch itself.
    for (int attempt = 0; attempt < 2 && !rows; attempt++) {
        if (attempt && !s_reconnected (self, &err))
            break;
        kn_error_clear (&err);
        if (kn_db_ensure (self->db, &err))
            continue;
        kn_pgarray_t *columns[3];
        kn_pgarray_columns (columns, 3);
        for (size_t i = 0; i < n; i++) {
            kn_pgarray_add (columns[0], items[i].referral->district);
            kn_pgarray_add (columns[1], items[i].agency_id);
            kn_pgarray_add (columns[2], items[i].referral->idempotency_key);
        }
        rows = kn_pgarray_run (self->db, "submit_standing", columns, 3, &err);
    }
    if (!rows || (size_t)PQntuples (rows) != n) {
        if (rows)
            kn_error_set (&err, KN_E_INTERNAL, NULL, "district check returned %d rows",
                          PQntuples (rows));
        PQclear (rows);
        for (size_t i = 0; i < n; i++) {
            items[i].rc = -1;
            items[i].err = err;
            go_on[i] = false;
        }
        return -1;
    }
    for (size_t i = 0; i < n; i++) {
        go_on[i] = false;
        items[i].rc = -1;
        kn_error_clear (&items[i].err);
        if (PQgetvalue (rows, (int)i, 2)[0] == 't') {
            //  A retry: the batch answers it from the ledger (or finds the conflict).
            items[i].rc = 0;
            go_on[i] = true;
        }
        else if (PQgetvalue (rows, (int)i, 1)[0] != 't')
            kn_error_set (&items[i].err, KN_E_PERMISSION_DENIED, NULL,
                          "your agency does not hold the referrer role");
        else if (PQgetisnull (rows, (int)i, 0))
            s_unknown_district (self, items[i].referral->district, &items[i].err);
        else {
            snprintf (items[i].district, sizeof items[i].district, "%s",
                      PQgetvalue (rows, (int)i, 0));
            items[i].rc = 0;
            go_on[i] = true;
        }
    }
    PQclear (rows);
    return 0;
}

void
intake_store_submit_many (intake_store_t *self, intake_submission_t *items, size_t n)
{
    bool *go_on = calloc (n ? n : 1, sizeof *go_on);
    s_check_standing (self, items, n, go_on);
    //  A key repeated within the batch waits for its first use to commit, and is then
    //  answered as the retry it is.
    intake_submission_t **first = calloc (n ? n : 1, sizeof *first);
    intake_submission_t **again = calloc (n ? n : 1, sizeof *again);
    size_t n_first = 0, n_again = 0;
    for (size_t i = 0; i < n; i++) {
        if (!go_on[i])
            continue; // answered
        bool repeated = false;
        for (size_t k = 0; k < n_first && !repeated; k++)
            repeated = strcasecmp (first[k]->agency_id, items[i].agency_id) == 0 &&
                       strcmp (first[k]->referral->idempotency_key,
                               items[i].referral->idempotency_key) == 0;
        if (repeated)
            again[n_again++] = &items[i];
        else
            first[n_first++] = &items[i];
    }
    s_store (self, first, n_first);
    for (size_t i = 0; i < n_again; i++)
        s_store (self, &again[i], 1);
    free (first);
    free (again);
    free (go_on);
}

//  -------------------------------------------------------------------------
//  Get

static int
s_status_value (const char *status)
{
    return strcmp (status, "withdrawn") == 0 ? KINNET__V1__REFERRAL_STATUS__WITHDRAWN
                                             : KINNET__V1__REFERRAL_STATUS__RECEIVED;
}

void
intake_referral_free (intake_referral_t *referral)
{
    if (!referral)
        return;
    free (referral->withdraw_reason);
    referral->withdraw_reason = NULL;
    if (referral->submitted)
        kinnet__v1__submit_referral__free_unpacked (referral->submitted, NULL);
    referral->submitted = NULL;
}

//  Open a sealed bytea column (text-format result) into a malloc'd buffer.
static uint8_t *
s_open_column (intake_store_t *self, PGresult *row, int column, const char *ad,
               size_t *len)
{
    size_t sealed_len = 0;
    unsigned char *sealed =
        PQunescapeBytea ((const unsigned char *)PQgetvalue (row, 0, column), &sealed_len);
    uint8_t *plain =
        sealed ? kn_crypto_open (self->crypto, sealed, sealed_len, ad, len) : NULL;
    PQfreemem (sealed);
    return plain;
}

//  Empty a string field of an unpacked message. An absent field points at
//  protobuf-c's shared empty string, which is not ours to free.
static void
s_blank (char **text)
{
    if (*text && *text != protobuf_c_empty_string)
        free (*text);
    *text = strdup ("");
}

static void
s_blank_person (Kinnet__V1__Person *person)
{
    s_blank (&person->given_name);
    s_blank (&person->family_name);
    s_blank (&person->date_of_birth);
    for (size_t i = 0; i < person->n_languages; i++)
        free (person->languages[i]);
    person->n_languages = 0;
}

static bool
s_permitted (const kn_policy_decision_t *decision, int category)
{
    for (size_t i = 0; i < decision->count; i++)
        if (decision->categories[i].category == category)
            return decision->categories[i].permitted;
    return false;
}

//  Decide, withhold and record what another agency may see of a referral.
static int
s_disclose (intake_store_t *self, const char *agency_id, int purpose,
            intake_referral_t *referral, char *basis, size_t basis_size, kn_error_t *err)
{
    //  Identity, the guardians, the narrative, and the category each need implies
    //  (core.need_data_category): a mental-health need's description goes out only
    //  where mental-health data may.
    Kinnet__V1__SubmitReferral *submitted = referral->submitted;
    int categories[KN_POLICY_MAX_CATEGORIES] = {
        KINNET__V1__DATA_CATEGORY__IDENTITY_AND_CONTACT,
        KINNET__V1__DATA_CATEGORY__FAMILY_CIRCUMSTANCES,
        KINNET__V1__DATA_CATEGORY__REFERRAL_NARRATIVE};
    size_t n_categories = 3;
    int needs[32], need_categories[32];
    size_t n_needs = submitted->n_needs < 32 ? submitted->n_needs : 32;
    for (size_t i = 0; i < n_needs; i++)
        needs[i] = submitted->needs[i]->category;
    if (n_needs && kn_consent_policy_need_categories (self->db, needs, n_needs,
                                                      need_categories, err))
        return -1;
    for (size_t i = 0; i < n_needs; i++) {
        bool seen = false;
        for (size_t k = 0; k < n_categories && !seen; k++)
            seen = categories[k] == need_categories[i];
        if (!seen && n_categories < KN_POLICY_MAX_CATEGORIES)
            categories[n_categories++] = need_categories[i];
    }
    const char *values[] = {referral->referral_id};
    PGresult *rows =
        kn_db_run (self->db, "referral_subjects", 1, values, NULL, NULL, err);
    if (!rows)
        return -1;
    int people = PQntuples (rows);
    char subjects[16][KN_UUID_STR];
    for (int i = 0; i < people && i < 16; i++)
        snprintf (subjects[i], KN_UUID_STR, "%s", PQgetvalue (rows, i, 0));
    PQclear (rows);
    if (people == 0)
        return kn_error_set (err, KN_E_INTERNAL, NULL, "referral has no subjects");
    kn_policy_decision_t decision;
    if (kn_consent_policy_decide (self->db, self->crypto, &self->policy, subjects[0],
                                  agency_id, referral->agency_id, categories, n_categories,
                                  purpose, &decision, err))
        return -1;
    if (decision.decision == KINNET__V1__DECISION__DENIED)
        return kn_error_set (
            err, KN_E_PERMISSION_DENIED, "referral_id",
            "nothing of this referral may be disclosed to your agency: %s",
            decision.categories[0].reason);
    for (size_t i = 0; i < decision.count; i++) {
        const kn_policy_category_t *entry = &decision.categories[i];
        if (!entry->permitted) {
            referral->withheld[referral->n_withheld++] = entry->category;
            continue;
        }
        if (!referral->disclosure_basis) {
            referral->disclosure_basis = entry->basis;
            snprintf (referral->ground_id, KN_UUID_STR, "%s", entry->ground_id);
            const ProtobufCEnumValue *name = protobuf_c_enum_descriptor_get_value (
                &kinnet__v1__lawful_basis__descriptor, entry->basis);
            for (size_t k = 0; name && name->name[k] && k + 1 < basis_size; k++)
                basis[k] = (char)tolower ((unsigned char)name->name[k]),
                basis[k + 1] = '\0';
        }
    }
    if (!s_permitted (&decision, KINNET__V1__DATA_CATEGORY__IDENTITY_AND_CONTACT))
        s_blank_person (submitted->child);
    if (!s_permitted (&decision, KINNET__V1__DATA_CATEGORY__FAMILY_CIRCUMSTANCES)) {
        for (size_t i = 0; i < submitted->n_guardians; i++)
            kinnet__v1__guardian__free_unpacked (submitted->guardians[i], NULL);
        submitted->n_guardians = 0;
    }
    //  What a need is is part of its story too (a mental-health or domestic-abuse
    //  need says as much as its description): both go under the need's category.
    for (size_t i = 0; i < n_needs; i++)
        if (!s_permitted (&decision, need_categories[i])) {
            s_blank (&submitted->needs[i]->description);
            submitted->needs[i]->category = KINNET__V1__NEED_CATEGORY__NEED_CATEGORY_UNSPECIFIED;
        }
    if (!s_permitted (&decision, KINNET__V1__DATA_CATEGORY__REFERRAL_NARRATIVE)) {
        s_blank (&submitted->lawful_ground->justification);
        s_blank (&submitted->lawful_ground->consent_reference);
        free (referral->withdraw_reason);
        referral->withdraw_reason = NULL;
    }
    s_blank (&submitted->idempotency_key); // the referrer's own reference
    s_blank (&submitted->caseworker_id);
    if (kn_consent_policy_record (self->db, &decision, subjects[0], agency_id, purpose,
                                  "intake", referral->referral_id, err))
        return -1;
    //  Each sibling is a subject of their own: their identity needs its own ground.
    size_t kept = 0;
    for (size_t i = 0; i < submitted->n_siblings; i++) {
        Kinnet__V1__Person *sibling = submitted->siblings[i];
        bool shown = false;
        if ((int)i + 1 < people) {
            kn_policy_decision_t own;
            if (kn_consent_policy_decide (self->db, self->crypto, &self->policy,
                                          subjects[i + 1], agency_id, referral->agency_id,
                                          categories, 1,
                                          purpose, &own, err))
                return -1;
            shown = own.decision == KINNET__V1__DECISION__PERMITTED;
            if (shown &&
                kn_consent_policy_record (self->db, &own, subjects[i + 1], agency_id,
                                          purpose, "intake", referral->referral_id, err))
                return -1;
        }
        if (shown)
            submitted->siblings[kept++] = sibling;
        else
            kinnet__v1__person__free_unpacked (sibling, NULL);
    }
    submitted->n_siblings = kept;
    return 0;
}

static int
s_get_once (intake_store_t *self, const char *agency_id, const char *referral_id,
            const char *caseworker_id, int purpose, intake_referral_t *referral,
            kn_error_t *err)
{
    memset (referral, 0, sizeof *referral);
    if (kn_db_ensure (self->db, err))
        return -1;
    if (kn_db_exec (self->db, "BEGIN", err))
        return -1;
    const char *values[] = {referral_id};
    PGresult *row = kn_db_run (self->db, "referral_get", 1, values, NULL, NULL, err);
    if (!row) {
        s_rollback (self);
        return -1;
    }
    if (PQntuples (row) != 1) {
        PQclear (row);
        s_rollback (self);
        return kn_error_set (err, KN_E_NOT_FOUND, "referral_id", "no such referral");
    }
    bool own = strcmp (PQgetvalue (row, 0, 0), agency_id) == 0;
    snprintf (referral->referral_id, KN_UUID_STR, "%s", referral_id);
    snprintf (referral->agency_id, KN_UUID_STR, "%s", PQgetvalue (row, 0, 0));
    snprintf (referral->family_id, KN_UUID_STR, "%s", PQgetvalue (row, 0, 1));
    referral->status = s_status_value (PQgetvalue (row, 0, 2));
    referral->received_at_us = strtoll (PQgetvalue (row, 0, 3), NULL, 10);
    referral->withdrawn_at_us = strtoll (PQgetvalue (row, 0, 4), NULL, 10);
    referral->family_known = PQgetvalue (row, 0, 7)[0] == 't';

    size_t plain_len = 0;
    uint8_t *plain = s_open_column (self, row, 5, referral_id, &plain_len);
    if (plain) {
        referral->submitted =
            kinnet__v1__submit_referral__unpack (NULL, plain_len, plain);
        sodium_memzero (plain, plain_len);
        free (plain);
    }
    if (!PQgetisnull (row, 0, 6)) {
        char ad[KN_UUID_STR + 16];
        snprintf (ad, sizeof ad, "%s:withdraw", referral_id);
        size_t reason_len = 0;
        uint8_t *reason = s_open_column (self, row, 6, ad, &reason_len);
        if (reason) {
            referral->withdraw_reason = malloc (reason_len + 1);
            memcpy (referral->withdraw_reason, reason, reason_len);
            referral->withdraw_reason[reason_len] = '\0';
            free (reason);
        }
    }
    PQclear (row);
    if (!referral->submitted) {
        s_rollback (self);
        intake_referral_free (referral);
        kn_log (KN_ERROR, "referral.decrypt_failed", "referral_id", referral_id, NULL);
        return kn_error_set (err, KN_E_INTERNAL, NULL,
                             "stored referral cannot be decrypted with the current key");
    }
    //  The disclosure and its ground are on record before the data leaves.
    char basis[48] = "referring_agency";
    if (!own &&
        s_disclose (self, agency_id, purpose, referral, basis, sizeof basis, err)) {
        s_rollback (self);
        intake_referral_free (referral);
        return -1;
    }
    if (s_audit (self, agency_id, caseworker_id, "get", referral->family_id, referral_id,
                 basis, "ok", err) ||
        kn_db_exec (self->db, "COMMIT", err)) {
        s_rollback (self);
        intake_referral_free (referral);
        return -1;
    }
    return 0;
}

//  -------------------------------------------------------------------------
//  Withdraw

static int
s_withdrawn_state (intake_store_t *self, intake_withdraw_result_t *result,
                   kn_error_t *err)
{
    const char *values[] = {result->referral_id};
    PGresult *row = kn_db_run (self->db, "referral_get", 1, values, NULL, NULL, err);
    if (!row)
        return -1;
    int rc = 0;
    if (PQntuples (row) == 1) {
        result->status = s_status_value (PQgetvalue (row, 0, 2));
        result->withdrawn_at_us = strtoll (PQgetvalue (row, 0, 4), NULL, 10);
        result->replayed = true;
    } else
        rc = kn_error_set (err, KN_E_INTERNAL, NULL, "replayed referral missing");
    PQclear (row);
    return rc;
}

static int
s_withdraw_once (intake_store_t *self, const char *agency_id,
                 const Kinnet__V1__WithdrawReferral *withdraw,
                 intake_withdraw_result_t *result, kn_error_t *err)
{
    memset (result, 0, sizeof *result);
    if (kn_db_ensure (self->db, err))
        return -1;
    //  The caseworker id is audit detail, not content: a retry from another
    //  caseworker of the same agency is still the same request.
    Kinnet__V1__WithdrawReferral content = *withdraw;
    content.caseworker_id = "";
    uint8_t digest[32];
    kn_idempotency_digest (self->crypto, &content.base, digest);
    snprintf (result->referral_id, KN_UUID_STR, "%s", withdraw->referral_id);

    if (kn_db_exec (self->db, "BEGIN", err))
        return -1;
    char claimed[KN_UUID_STR];
    snprintf (claimed, sizeof claimed, "%s", withdraw->referral_id);
    kn_claim_t claim = kn_idempotency_claim (self->db, "intake.idempotency", agency_id,
                                             withdraw->idempotency_key, "withdraw",
                                             digest, claimed, err);
    if (claim != KN_CLAIM_NEW) {
        s_rollback (self);
        return claim == KN_CLAIM_REPLAY ? s_withdrawn_state (self, result, err) : -1;
    }
    const char *values[] = {withdraw->referral_id};
    PGresult *row = kn_db_run (self->db, "referral_lock", 1, values, NULL, NULL, err);
    if (!row)
        goto fail;
    if (PQntuples (row) != 1 || strcmp (PQgetvalue (row, 0, 0), agency_id) != 0) {
        PQclear (row);
        kn_error_set (err, KN_E_NOT_FOUND, "referral_id", "no such referral");
        goto fail;
    }
    bool withdrawn = strcmp (PQgetvalue (row, 0, 1), "withdrawn") == 0;
    char family_id[KN_UUID_STR];
    snprintf (family_id, sizeof family_id, "%s", PQgetvalue (row, 0, 2));
    PQclear (row);
    if (withdrawn) {
        kn_error_set (err, KN_E_CONFLICT, "referral_id", "referral is already withdrawn");
        goto fail;
    }
    char ad[KN_UUID_STR + 16];
    snprintf (ad, sizeof ad, "%s:withdraw", withdraw->referral_id);
    size_t sealed_len = 0;
    uint8_t *sealed = kn_crypto_seal (self->crypto, (const uint8_t *)withdraw->reason,
                                      strlen (withdraw->reason), ad, &sealed_len);
    const char *update[] = {withdraw->referral_id, (const char *)sealed};
    int lengths[] = {0, (int)sealed_len};
    int formats[] = {0, 1};
    char withdrawn_at[32] = "";
    int rows = s_run (self, "referral_withdraw", 2, update, lengths, formats,
                      withdrawn_at, sizeof withdrawn_at, err);
    free (sealed);
    if (rows != 1)
        goto fail;
    result->withdrawn_at_us = strtoll (withdrawn_at, NULL, 10);
    result->status = KINNET__V1__REFERRAL_STATUS__WITHDRAWN;

    Kinnet__V1__Timestamp at = KINNET__V1__TIMESTAMP__INIT;
    at.seconds = result->withdrawn_at_us / 1000000;
    at.nanos = (int32_t)(result->withdrawn_at_us % 1000000) * 1000;
    Kinnet__V1__ReferralWithdrawn event = KINNET__V1__REFERRAL_WITHDRAWN__INIT;
    event.referral_id = withdraw->referral_id;
    event.family_id = family_id;
    event.referring_agency_id = (char *)agency_id;
    event.withdrawn_at = &at;
    uint8_t payload[512];
    size_t payload_len = kinnet__v1__referral_withdrawn__pack (&event, payload);
    if (kn_outbox_append (self->db, "referral.withdrawn", withdraw->referral_id, payload,
                          payload_len, err) ||
        s_audit (self, agency_id, withdraw->caseworker_id, "withdraw", family_id,
                 withdraw->referral_id, NULL, "ok", err) ||
        kn_db_exec (self->db, "COMMIT", err))
        goto fail;
    return 0;

fail:
    s_rollback (self);
    return -1;
}

//  -------------------------------------------------------------------------
//  A connection lost mid-operation (server restart, failover) gets one retry on a
//  fresh session. Safe: writes are idempotent by key, so a transaction whose COMMIT
//  did land is found and replayed, not repeated.

static bool
s_reconnected (intake_store_t *self, const kn_error_t *err)
{
    if (err->code != KN_E_INTERNAL || PQstatus (kn_db_conn (self->db)) == CONNECTION_OK)
        return false;
    kn_error_t ignored;
    return kn_db_ensure (self->db, &ignored) == 0;
}

int
intake_store_submit (intake_store_t *self, const char *agency_id,
                     const Kinnet__V1__SubmitReferral *referral,
                     intake_submit_result_t *result, kn_error_t *err)
{
    intake_submission_t item = {.agency_id = agency_id, .referral = referral};
    intake_store_submit_many (self, &item, 1);
    *result = item.result;
    *err = item.err;
    return item.rc;
}

int
intake_store_get (intake_store_t *self, const char *agency_id, const char *referral_id,
                  const char *caseworker_id, int purpose, intake_referral_t *referral,
                  kn_error_t *err)
{
    int rc =
        s_get_once (self, agency_id, referral_id, caseworker_id, purpose, referral, err);
    if (rc && s_reconnected (self, err))
        rc = s_get_once (self, agency_id, referral_id, caseworker_id, purpose, referral,
                         err);
    return rc;
}

int
intake_store_withdraw (intake_store_t *self, const char *agency_id,
                       const Kinnet__V1__WithdrawReferral *withdraw,
                       intake_withdraw_result_t *result, kn_error_t *err)
{
    int rc = s_withdraw_once (self, agency_id, withdraw, result, err);
    if (rc && s_reconnected (self, err))
        rc = s_withdraw_once (self, agency_id, withdraw, result, err);
    return rc;
}
