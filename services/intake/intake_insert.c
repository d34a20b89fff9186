/*  intake_insert: the rows a batch's new referrals write (the referral, its
    subjects, its referral.received event, its audit row), one statement per table
    for the whole batch, deferred and sent with the COMMIT in one round trip. Each
    person's own details (their Person) are sealed under their own data key, bound
    to '<referral id>:<subject id>'; the rest of the referral (guardians, needs, the
    ground) under the child's, bound to the referral id. The event routing reads
    carries no personal data. */
#include "intake_store_int.h"
#include "kn_alloc.h"

static const char *s_statements[][2] = {
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
    //  Each person's own part: their Person, under their own key.
    {"referral_subject_insert",
     "INSERT INTO intake.referral_subject (referral_id, subject_id, role, position,"
     " personal)"
     " SELECT * FROM unnest ($1::uuid[], $2::uuid[], $3::text[], $4::smallint[],"
     " $5::bytea[])"
     " ON CONFLICT DO NOTHING"},
};

int
intake_insert_prepare (kn_db_t *db, kn_error_t *err)
{
    return kn_db_prepare_all (db, s_statements, sizeof s_statements / sizeof s_statements[0],
                              err);
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

//  Everything a new referral writes, for every new referral of the batch in one
//  statement per table: the referral, its subjects, its event and its audit row.
//  They are deferred (the batch's transaction is in pipeline mode from its start):
//  sent with the COMMIT in one round trip (kn_db_defer_commit). received_us is the
//  transaction's now (), the referrals' received_at.
int
intake_insert_referrals (intake_store_t *self, pending_t **news, size_t n,
                         int64_t received_us, kn_error_t *err)
{
    kn_pgarray_t *columns[13];
    kn_pgarray_columns (columns, 13);
    for (size_t i = 0; i < n; i++) {
        const Kinnet__V1__SubmitReferral *referral = news[i]->item->referral;
        intake_submit_result_t *result = &news[i]->item->result;
        //  The referral without its people (they are sealed each under their own
        //  key, below), sealed under the child's data key, bound to the referral id.
        Kinnet__V1__SubmitReferral rest = *referral;
        rest.child = NULL;
        rest.siblings = NULL;
        rest.n_siblings = 0;
        size_t plain_len = kinnet__v1__submit_referral__get_packed_size (&rest);
        uint8_t *plain = kn_malloc (plain_len ? plain_len : 1);
        kinnet__v1__submit_referral__pack (&rest, plain);
        size_t sealed_len = 0;
        uint8_t *sealed = kn_crypto_seal_under (&news[i]->keys[0], plain, plain_len,
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
        bool on_consent =
            referral->lawful_ground->basis == KINNET__V1__LAWFUL_BASIS__CONSENT;
        kn_pgarray_add (columns[12],
                        on_consent ? referral->lawful_ground->consent_reference : NULL);
        free (sealed);
    }
    //  Plain INSERT … SELECT: every row or an error (what a deferred statement must be).
    if (kn_pgarray_exec (self->db, "referral_insert", columns, 13, err))
        return -1;

    kn_pgarray_t *links[5];
    kn_pgarray_columns (links, 5);
    for (size_t i = 0; i < n; i++) {
        const Kinnet__V1__SubmitReferral *referral = news[i]->item->referral;
        intake_submit_result_t *result = &news[i]->item->result;
        result->received_at_us = received_us;
        for (size_t k = 0; k < result->subject_count; k++) {
            const Kinnet__V1__Person *person =
                k == 0 ? referral->child : referral->siblings[k - 1];
            size_t plain_len = kinnet__v1__person__get_packed_size (person);
            uint8_t *plain = kn_malloc (plain_len ? plain_len : 1);
            kinnet__v1__person__pack (person, plain);
            char ad[2 * KN_UUID_STR + 2];
            snprintf (ad, sizeof ad, "%s:%s", result->referral_id, result->subject_ids[k]);
            size_t sealed_len = 0;
            uint8_t *sealed = kn_crypto_seal_under (&news[i]->keys[k], plain, plain_len,
                                                    ad, &sealed_len);
            sodium_memzero (plain, plain_len);
            free (plain);
            kn_pgarray_add (links[0], result->referral_id);
            kn_pgarray_add (links[1], result->subject_ids[k]);
            kn_pgarray_add (links[2], k ? "sibling" : "child");
            kn_pgarray_add_int (links[3], (long long)k);
            kn_pgarray_add_bytes (links[4], sealed, sealed_len);
            free (sealed);
        }
    }
    if (kn_pgarray_exec (self->db, "referral_subject_insert", links, 5, err))
        return -1;

    //  The events routing consumes: no personal data.
    const char **ids = kn_calloc (n, sizeof *ids);
    uint8_t **payloads = kn_calloc (n, sizeof *payloads);
    size_t *lens = kn_calloc (n, sizeof *lens);
    kn_audit_entry_t *audits = kn_calloc (n, sizeof *audits);
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
        payloads[i] = kn_malloc (lens[i] ? lens[i] : 1);
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
