/*  reporting_subject: a subject access export: everything Kinnet holds about one
    person, opened from its sealed columns, every disclosure of it and every audit
    record that names it, as one JSON document. Other people named in the same
    referrals (siblings, guardians) are third parties: they are counted, not
    exported. */
#include "reporting_subject.h"

#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "consent_store.h"
#include "kinnet/v1/intake.pb-c.h"
#include "kn_keys.h"
#include "kn_pbjson.h"
#include "kn_alloc.h"

#define TS(c) "to_char (" c " AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"')"

//  A JSON array of the rows of sql (one parameter, $1), each an object keyed by the
//  column names; NULL columns are JSON null.
static json_t *
s_rows (kn_db_t *db, const char *sql, const char *param, kn_error_t *err)
{
    const char *values[] = {param};
    PGresult *rows = kn_db_query (db, sql, 1, values, err);
    if (!rows)
        return NULL;
    json_t *array = json_array ();
    for (int r = 0; r < PQntuples (rows); r++) {
        json_t *object = json_object ();
        for (int c = 0; c < PQnfields (rows); c++)
            json_object_set_new (object, PQfname (rows, c),
                                 PQgetisnull (rows, r, c) ? json_null ()
                                                          : json_string (PQgetvalue (rows, r, c)));
        json_array_append_new (array, object);
    }
    PQclear (rows);
    return array;
}

//  Open a sealed bytea column (text form) bound to ad; a malloc'd NUL-terminated
//  string, or NULL when empty, erased (*erased set, when not NULL) or unreadable.
static char *
s_open_text (kn_db_t *db, kn_crypto_t *crypto, PGresult *rows, int r, int c,
             const char *ad, size_t *len, bool *erased)
{
    uint8_t *plain = NULL;
    size_t plain_len = 0;
    kn_error_t ignored;
    int rc = kn_keys_open_column (db, crypto, rows, r, c, ad, &plain, &plain_len, &ignored);
    if (erased)
        *erased = rc == KN_ERASED;
    if (!plain)
        return NULL;
    char *text = kn_malloc (plain_len + 1);
    memcpy (text, plain, plain_len);
    text[plain_len] = 0;
    sodium_memzero (plain, plain_len);
    free (plain);
    if (len)
        *len = plain_len;
    return text;
}

//  Replace the sealed column `field` of each object by its opened text under `as`;
//  ad is the object's "id" followed by suffix.
static void
s_open_field (kn_crypto_t *crypto, kn_db_t *db, json_t *array, const char *table,
              const char *field, const char *suffix, const char *as)
{
    size_t i;
    json_t *object;
    json_array_foreach (array, i, object)
    {
        const char *id = json_string_value (json_object_get (object, "id"));
        char sql[256];
        snprintf (sql, sizeof sql, "SELECT %s FROM %s WHERE id = $1", field, table);
        kn_error_t err;
        const char *values[] = {id};
        PGresult *rows = id ? kn_db_query (db, sql, 1, values, &err) : NULL;
        char ad[KN_UUID_STR + 16];
        snprintf (ad, sizeof ad, "%s%s", id ? id : "", suffix);
        char *text = rows && PQntuples (rows) ? s_open_text (db, crypto, rows, 0, 0, ad, NULL, NULL) : NULL;
        json_object_set_new (object, as, text ? json_string (text) : json_null ());
        free (text);
        PQclear (rows);
    }
}

//  The subject's referrals: metadata, and of the sealed referral only what is
//  about this person (their entry, the needs and the ground given).
static json_t *
s_referrals (kn_db_t *db, kn_crypto_t *crypto, const char *subject_id, kn_error_t *err)
{
    const char *values[] = {subject_id};
    PGresult *rows = kn_db_query (
        db,
        "SELECT r.id, r.referring_agency_id, a.name, r.status, " TS ("r.received_at")
        ", r.urgency, r.district, rs.role, rs.position, r.personal, r.withdraw_reason, "
        TS ("r.withdrawn_at") ", rs.personal, r.children FROM intake.referral_subject rs"
        " JOIN intake.referral r ON r.id = rs.referral_id"
        " JOIN core.agency a ON a.id = r.referring_agency_id"
        " WHERE rs.subject_id = $1 ORDER BY r.received_at",
        1, values, err);
    if (!rows)
        return NULL;
    json_t *array = json_array ();
    for (int r = 0; r < PQntuples (rows); r++) {
        const char *id = PQgetvalue (rows, r, 0);
        int position = atoi (PQgetvalue (rows, r, 8));
        json_t *referral = json_pack (
            "{s:s,s:s,s:s,s:s,s:s,s:s,s:s,s:s}", "referral_id", id, "referring_agency_id",
            PQgetvalue (rows, r, 1), "referring_agency", PQgetvalue (rows, r, 2), "status",
            PQgetvalue (rows, r, 3), "received_at", PQgetvalue (rows, r, 4), "urgency",
            PQgetvalue (rows, r, 5), "district", PQgetvalue (rows, r, 6), "named_as",
            PQgetvalue (rows, r, 7));
        size_t len = 0;
        bool erased = false;
        char *plain = s_open_text (db, crypto, rows, r, 9, id, &len, &erased);
        Kinnet__V1__SubmitReferral *submitted
            = plain ? kinnet__v1__submit_referral__unpack (NULL, len, (const uint8_t *) plain)
                    : NULL;
        //  Their own part: under their own key (or, stored before per-person parts,
        //  inside the referral).
        if (!PQgetisnull (rows, r, 12)) {
            char person_ad[2 * KN_UUID_STR + 2];
            snprintf (person_ad, sizeof person_ad, "%s:%s", id, subject_id);
            size_t person_len = 0;
            bool person_erased = false;
            char *own = s_open_text (db, crypto, rows, r, 12, person_ad, &person_len,
                                     &person_erased);
            Kinnet__V1__Person *person =
                own ? kinnet__v1__person__unpack (NULL, person_len, (const uint8_t *)own)
                    : NULL;
            if (person)
                json_object_set_new (referral, "person", kn_pbjson_encode (&person->base));
            else
                json_object_set_new (referral, "person",
                                     json_pack ("{s:b}", "erased", person_erased));
            if (person)
                kinnet__v1__person__free_unpacked (person, NULL);
            if (own)
                sodium_memzero (own, person_len);
            free (own);
        }
        if (submitted) {
            const Kinnet__V1__Person *person
                = position == 0 ? submitted->child
                  : (size_t) position <= submitted->n_siblings ? submitted->siblings[position - 1]
                                                               : NULL;
            if (person && PQgetisnull (rows, r, 12))
                json_object_set_new (referral, "person", kn_pbjson_encode (&person->base));
            json_t *needs = json_array ();
            for (size_t n = 0; n < submitted->n_needs; n++)
                json_array_append_new (needs, kn_pbjson_encode (&submitted->needs[n]->base));
            json_object_set_new (referral, "needs", needs);
            if (submitted->lawful_ground)
                json_object_set_new (referral, "lawful_ground",
                                     kn_pbjson_encode (&submitted->lawful_ground->base));
            json_object_set_new (referral, "caseworker_id",
                                 json_string (submitted->caseworker_id));
            //  The other children: counted from the referral's people, not opened.
            json_object_set_new (
                referral, "other_people_named",
                json_pack ("{s:i,s:i}", "children",
                           atoi (PQgetvalue (rows, r, 13)) - 1, "guardians",
                           (int) submitted->n_guardians));
            kinnet__v1__submit_referral__free_unpacked (submitted, NULL);
        }
        else
            json_object_set_new (referral, "sealed_part",
                                 json_string (erased ? "erased" : "could not be opened"));
        free (plain);
        char ad[KN_UUID_STR + 16];
        snprintf (ad, sizeof ad, "%s:withdraw", id);
        char *reason = s_open_text (db, crypto, rows, r, 10, ad, NULL, NULL);
        if (reason) {
            json_object_set_new (referral, "withdrawn_at", json_string (PQgetvalue (rows, r, 11)));
            json_object_set_new (referral, "withdraw_reason", json_string (reason));
            free (reason);
        }
        json_array_append_new (array, referral);
    }
    PQclear (rows);
    return array;
}

//  Those merged into the person $1 (in force).
#define MERGED_INTO "SELECT id FROM core.subject WHERE merged_into = $1"
//  A split that moved the record a disclosure d was made from (or under) away from
//  d's subject, to the person it names as merged_id, where cond.
#define SPLIT_ROW(cond)                                                                  \
    "SELECT 1 FROM core.subject_merge m JOIN core.subject_merge_row r"                   \
    " ON r.merge_id = m.id WHERE m.kind = 'split' AND (m.subject_id = d.subject_id"      \
    " OR m.subject_id = (SELECT s.merged_into FROM core.subject s WHERE s.id = d.subject_id))"\
    " AND r.row_id IN (d.object_id, d.ground_id) AND " cond
//  The merges and splits the person $1 is part of, either way.
#define MERGES_SQL                                                                       \
    "SELECT id AS merge_id, kind, subject_id, merged_id AS merged_subject_id, merged_by, "     \
    TS ("merged_at") " AS merged_at, reference, referrals, consents, holds, "             \
    TS ("unmerged_at") " AS unmerged_at, unmerge_reference FROM core.subject_merge"      \
    " WHERE subject_id = $1 OR merged_id = $1 ORDER BY merged_at, id"

int
reporting_subject_export (kn_db_t *db, kn_crypto_t *crypto, consent_store_t *consents,
                          const char *dpo_agency_id, const char *subject_id, json_t **out,
                          kn_error_t *err)
{
    *out = NULL;
    if (kn_db_ensure (db, err)
        || kn_db_exec (db, "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY", err))
        return -1;
    json_t *document = NULL;
    const char *values[] = {subject_id};
    PGresult *subject = kn_db_query (db,
                                     "SELECT family_id, " TS ("created_at") ", birth_date,"
                                     " coalesce (merged_into::text, '')"
                                     " FROM core.subject WHERE id = $1",
                                     1, values, err);
    if (!subject)
        goto done;
    if (PQntuples (subject) == 0) {
        PQclear (subject);
        kn_error_set (err, KN_E_NOT_FOUND, "subject_id", "no such subject");
        goto done;
    }
    char family_id[KN_UUID_STR];
    snprintf (family_id, sizeof family_id, "%s", PQgetvalue (subject, 0, 0));
    //  An erased person is exported as the fact and date of their erasure only.
    PGresult *erasure = kn_db_query (db,
                                     "SELECT " TS ("erased_at") ", reference"
                                     " FROM core.erasure WHERE subject_id = $1",
                                     1, values, err);
    if (!erasure) {
        PQclear (subject);
        goto done;
    }
    if (PQntuples (erasure) == 1) {
        document = json_pack ("{s:s,s:b,s:s,s:s}", "subject_id", subject_id, "erased", 1,
                              "erased_at", PQgetvalue (erasure, 0, 0), "erasure_reference",
                              PQgetvalue (erasure, 0, 1));
        PQclear (erasure);
        PQclear (subject);
        goto done;
    }
    PQclear (erasure);
    //  One merged into another is exported as the fact of the merge: their records
    //  are that other's, exported under that other's id.
    if (PQgetvalue (subject, 0, 3)[0]) {
        document = json_pack ("{s:s,s:s}", "subject_id", subject_id, "merged_into",
                              PQgetvalue (subject, 0, 3));
        json_t *merges = document ? s_rows (db, MERGES_SQL, subject_id, err) : NULL;
        PQclear (subject);
        if (!merges)
            goto fail;
        json_object_set_new (document, "merges", merges);
        goto done;
    }
    char *birth = s_open_text (db, crypto, subject, 0, 2, subject_id, NULL, NULL);
    document = json_pack ("{s:s,s:s,s:s,s:s*}", "subject_id", subject_id, "family_id", family_id,
                          "known_since", PQgetvalue (subject, 0, 1), "date_of_birth", birth);
    free (birth);
    PQclear (subject);

    json_t *referrals = s_referrals (db, crypto, subject_id, err);
    if (!referrals)
        goto fail;
    json_object_set_new (document, "referrals", referrals);
    //  Merges into them or of them (undone ones too): the disclosures and audit
    //  records below include those about the people merged into them.
    json_t *merges = s_rows (db, MERGES_SQL, subject_id, err);
    if (!merges)
        goto fail;
    json_object_set_new (document, "merges", merges);

    //  Legal holds on the person or on a case of theirs, in force or lifted, with
    //  their reasons.
    json_t *holds = s_rows (db,
                            "SELECT id, case_id, placed_by, " TS ("placed_at") " AS placed_at, lifted_by, "
                            TS ("lifted_at") " AS lifted_at FROM core.legal_hold WHERE subject_id = $1"
                            " OR case_id IN (SELECT cr.case_id FROM routing.case_referral cr"
                            "  JOIN intake.referral_subject rs"
                            "  ON rs.referral_id = cr.referral_id WHERE rs.subject_id = $1)"
                            " ORDER BY placed_at",
                            subject_id, err);
    if (!holds)
        goto fail;
    s_open_field (crypto, db, holds, "core.legal_hold", "reason", "", "reason");
    s_open_field (crypto, db, holds, "core.legal_hold", "lift_reason", ":lift", "lift_reason");
    json_object_set_new (document, "legal_holds", holds);

    //  Consents, with the consent service's own reading of them (the DPO's standing
    //  sees them all).
    Kinnet__V1__ConsentList *list = NULL;
    if (consent_store_subject_consents (consents, dpo_agency_id, subject_id, &list, err))
        goto fail;
    json_object_set_new (document, "consents", kn_pbjson_encode (&list->base));
    kinnet__v1__consent_list__free_unpacked (list, NULL);

    json_t *bases = s_rows (db,
                            "SELECT id, basis, special_condition, categories, purposes,"
                            " recipient_agencies, recipient_sectors, " TS ("valid_from")
                            " AS valid_from, " TS ("valid_until") " AS valid_until, recorded_by, "
                            TS ("recorded_at") " AS recorded_at, " TS ("ended_at")
                            " AS ended_at FROM consent.basis b WHERE subject_id = $1"
                            " ORDER BY b.recorded_at, b.id",   // the column, not its text
                            subject_id, err);
    json_t *overrides = bases ? s_rows (db,
                                        "SELECT id, reason, approver_role, approver_id,"
                                        " categories, recipient_agencies, recipient_sectors, "
                                        TS ("expires_at") " AS expires_at, requested_by, "
                                        TS ("requested_at") " AS requested_at, "
                                        TS ("reviewed_at") " AS reviewed_at, review_decision,"
                                        " reviewed_by FROM consent.override o WHERE subject_id = $1"
                                        " ORDER BY o.requested_at, o.id",
                                        subject_id, err)
                              : NULL;
    if (!overrides) {
        json_decref (bases);
        goto fail;
    }
    s_open_field (crypto, db, bases, "consent.basis", "justification", "", "justification");
    s_open_field (crypto, db, overrides, "consent.override", "details", "", "details");
    s_open_field (crypto, db, overrides, "consent.override", "review_notes", ":review",
                  "review_notes");
    json_object_set_new (document, "statutory_bases", bases);
    json_object_set_new (document, "safeguarding_overrides", overrides);

    //  Routing: the family's cases, their needs and the agencies involved.
    json_t *cases = s_rows (
        db,
        "SELECT c.id, c.status, " TS ("c.opened_at") " AS opened_at, " TS ("c.closed_at")
        " AS closed_at, c.lead_agency_id, c.lead_caseworker_id,"
        " (SELECT json_agg (json_build_object ('need', n.category, 'status', n.status,"
        "   'referral_id', n.referral_id) ORDER BY n.created_at) FROM routing.need n"
        "   WHERE n.case_id = c.id)::text AS needs,"
        " (SELECT json_agg (json_build_object ('agency_id', i.agency_id, 'agency', a.name,"
        "   'need', n.category, 'status', i.status, 'offered_at', i.offered_at,"
        "   'decided_at', i.decided_at, 'first_contact_at', i.first_contact_at,"
        "   'closed_at', i.closed_at, 'outcome', i.outcome) ORDER BY i.offered_at)"
        "   FROM routing.involvement i JOIN routing.need n ON n.id = i.need_id"
        "   JOIN core.agency a ON a.id = i.agency_id WHERE i.case_id = c.id)::text"
        "   AS involvements"
        " FROM routing.case c WHERE c.family_id = (SELECT family_id FROM core.subject"
        " WHERE id = $1) ORDER BY c.opened_at",
        subject_id, err);
    if (!cases)
        goto fail;
    //  The aggregated columns came back as JSON text: make them JSON.
    size_t i;
    json_t *row;
    json_array_foreach (cases, i, row)
    {
        const char *names[] = {"needs", "involvements"};
        for (int k = 0; k < 2; k++) {
            const char *text = json_string_value (json_object_get (row, names[k]));
            json_object_set_new (row, names[k],
                                 text ? json_loads (text, 0, NULL) : json_array ());
        }
    }
    json_object_set_new (document, "cases", cases);

    json_t *disclosures = s_rows (
        db,
        "SELECT " TS ("d.at") " AS at, d.recipient_id, a.name AS recipient, d.categories,"
        " d.purpose, d.basis, d.ground_id, d.service, d.object_id FROM core.disclosure d"
        " JOIN core.agency a ON a.id = d.recipient_id"
        " WHERE ((d.subject_id = $1 OR d.subject_id IN (" MERGED_INTO "))"
        "        AND NOT EXISTS (" SPLIT_ROW ("true") "))"
        " OR EXISTS (" SPLIT_ROW ("m.merged_id = $1") ") ORDER BY d.at",
        subject_id, err);
    //  Audit records about the person: naming them, their family, or an object about
    //  them (their referrals, consents, bases and overrides).
    json_t *audit = disclosures ? s_rows (
                                      db,
                                      "SELECT id, " TS ("at") " AS at, agency_id, caseworker_id,"
                                      " role, service, operation, subject_ref, object_id, basis,"
                                      " result FROM core.audit WHERE subject_ref = $1"
                                      " OR subject_ref IN (SELECT family_id FROM core.subject"
                                      "  WHERE id = $1 OR merged_into = $1)"
                                      " OR subject_ref IN (" MERGED_INTO ")"
                                      " OR object_id IN (SELECT referral_id FROM"
                                      "  intake.referral_subject WHERE subject_id = $1"
                                      "  UNION SELECT id FROM consent.record WHERE subject_id = $1"
                                      "  UNION SELECT id FROM consent.basis WHERE subject_id = $1"
                                      "  UNION SELECT id FROM consent.override"
                                      "  WHERE subject_id = $1)"
                                      " ORDER BY id",
                                      subject_id, err)
                                : NULL;
    if (!audit) {
        json_decref (disclosures);
        goto fail;
    }
    json_object_set_new (document, "disclosures", disclosures);
    json_object_set_new (document, "audit", audit);
    goto done;
fail:
    json_decref (document);
    document = NULL;
done:;
    kn_error_t ignored;
    kn_db_exec (db, "ROLLBACK", &ignored);
    *out = document;
    return document ? 0 : -1;
}
