/*  intake_store against a real PostgreSQL: durability, idempotency, matching,
    encryption at rest, withdrawal, and that failures leave nothing behind. */
#include <criterion/criterion.h>
#include <string.h>

#include "intake_store.h"
#include "kn_agency.h"
#include "kn_test.h"

static char *url;
static kn_db_t *db;
static kn_crypto_t *crypto;
static intake_store_t *store;
static char agency[2][KN_UUID_STR];

static void
s_setup (void)
{
    url = kn_test_db_create ();
    //  Agencies are in registered districts (migration 0048).
    free (kn_test_sql (url, "INSERT INTO core.district (code) VALUES ('north')"));
    kn_error_t err;
    db = kn_db_new (url, NULL, &err);
    cr_assert (db, "%s", err.message);
    for (int i = 0; i < 2; i++) {
        zcert_t *cert = zcert_new ();
        cr_assert_eq (kn_agency_add (db, "A", "school", "north", zcert_public_txt (cert),
                                     agency[i], &err),
                      0, "%s", err.message);
        zcert_destroy (&cert);
    }
    kn_db_destroy (&db);
    //  The service runs as its least-privilege role, as in production.
    db = kn_db_new (url, "kinnet_intake", &err);
    cr_assert (db, "%s", err.message);
    uint8_t key[32] = {9};
    crypto = kn_crypto_new (key);
    store = intake_store_new (db, crypto, &err);
    cr_assert (store, "%s", err.message);
}

static void
s_teardown (void)
{
    intake_store_destroy (&store);
    kn_crypto_destroy (&crypto);
    kn_db_destroy (&db);
    free (url);
    kn_test_no_leaks ();
}

TestSuite (store, .init = s_setup, .fini = s_teardown, .timeout = 60);

static Kinnet__V1__Person child, sibling;
static Kinnet__V1__Need need;
static Kinnet__V1__Need *needs[] = {&need};
static Kinnet__V1__LawfulGround ground;
static Kinnet__V1__Person *siblings[] = {&sibling};

static Kinnet__V1__SubmitReferral
s_referral (const char *key, const char *given, const char *dob)
{
    child = (Kinnet__V1__Person)KINNET__V1__PERSON__INIT;
    child.given_name = (char *)given;
    child.family_name = "Nowak";
    child.date_of_birth = (char *)dob;
    need = (Kinnet__V1__Need)KINNET__V1__NEED__INIT;
    need.category = KINNET__V1__NEED_CATEGORY__MENTAL_HEALTH_NEED;
    need.description = "Low mood since the move; school counsellor concerned.";
    ground = (Kinnet__V1__LawfulGround)KINNET__V1__LAWFUL_GROUND__INIT;
    ground.basis = KINNET__V1__LAWFUL_BASIS__PUBLIC_TASK;
    ground.justification = "Early help assessment under the local safeguarding plan.";
    Kinnet__V1__SubmitReferral referral = KINNET__V1__SUBMIT_REFERRAL__INIT;
    referral.idempotency_key = (char *)key;
    referral.child = &child;
    referral.needs = needs;
    referral.n_needs = 1;
    referral.urgency = KINNET__V1__URGENCY__URGENT;
    referral.district = "north";
    referral.lawful_ground = &ground;
    return referral;
}

static long
s_count (const char *sql)
{
    char *value = kn_test_sql (url, sql);
    long n = atol (value);
    free (value);
    return n;
}

Test (store, submit_stores_sealed_and_reads_back)
{
    Kinnet__V1__SubmitReferral referral = s_referral ("k1", "Zofia", "2014-05-06");
    intake_submit_result_t result;
    kn_error_t err;
    cr_assert_eq (intake_store_submit (store, agency[0], &referral, &result, &err), 0,
                  "%s", err.message);
    cr_assert_not (result.family_matched);
    cr_assert_not (result.replayed);
    //  No clear text anywhere in the row.
    char sql[300];
    snprintf (sql, sizeof sql,
              "SELECT count(*) FROM intake.referral WHERE id = '%s' AND"
              " position('Zofia'::bytea IN personal) = 0 AND"
              " position('2014-05-06'::bytea IN personal) = 0 AND"
              " position('counsellor'::bytea IN personal) = 0",
              result.referral_id);
    cr_assert_eq (s_count (sql), 1);
    intake_referral_t back;
    cr_assert_eq (
        intake_store_get (store, agency[0], result.referral_id, "cw-1", 1, &back, &err),
        0, "%s", err.message);
    cr_assert_str_eq (back.submitted->child->given_name, "Zofia");
    cr_assert_str_eq (back.submitted->needs[0]->description, need.description);
    cr_assert_str_eq (back.family_id, result.family_id);
    intake_referral_free (&back);
    //  The read is a disclosure and is on record.
    snprintf (
        sql, sizeof sql,
        "SELECT count(*) FROM core.audit WHERE operation = 'get' AND object_id = '%s'"
        " AND caseworker_id = 'cw-1' AND basis = 'referring_agency'",
        result.referral_id);
    cr_assert_eq (s_count (sql), 1);
}

Test (store, other_agency_without_ground_is_refused_with_reason)
{
    Kinnet__V1__SubmitReferral referral = s_referral ("k2", "Jan", "2013-01-01");
    intake_submit_result_t result;
    kn_error_t err;
    cr_assert_eq (intake_store_submit (store, agency[0], &referral, &result, &err), 0);
    intake_referral_t back;
    cr_assert_eq (
        intake_store_get (store, agency[1], result.referral_id, "", 1, &back, &err), -1);
    cr_assert_eq (err.code, KN_E_PERMISSION_DENIED);
    cr_assert (strstr (err.message, "no consent"), "%s", err.message);
    cr_assert_eq (s_count ("SELECT count(*) FROM core.disclosure"), 0);
}

Test (store, siblings_and_spelling_variants_share_a_family)
{
    Kinnet__V1__SubmitReferral first = s_referral ("k3", "Łucja", "2012-03-04");
    sibling = (Kinnet__V1__Person)KINNET__V1__PERSON__INIT;
    sibling.given_name = "Piotr";
    sibling.family_name = "Nowak";
    sibling.date_of_birth = "2015-07-08";
    first.siblings = siblings;
    first.n_siblings = 1;
    intake_submit_result_t a, b;
    kn_error_t err;
    cr_assert_eq (intake_store_submit (store, agency[0], &first, &a, &err), 0, "%s",
                  err.message);
    //  Another agency refers the brother, spelled in capitals.
    Kinnet__V1__SubmitReferral second =
        s_referral ("other-system-1", "PIOTR", "2015-07-08");
    child.family_name = "NOWAK";
    cr_assert_eq (intake_store_submit (store, agency[1], &second, &b, &err), 0);
    cr_assert (b.family_matched);
    cr_assert_str_eq (a.family_id, b.family_id);
    cr_assert_eq (s_count ("SELECT count(*) FROM core.subject"), 2);
    cr_assert_eq (s_count ("SELECT count(*) FROM core.family"), 1);
}

Test (store, replay_and_conflict)
{
    Kinnet__V1__SubmitReferral referral = s_referral ("k4", "Ola", "2011-11-11");
    intake_submit_result_t a, b;
    kn_error_t err;
    cr_assert_eq (intake_store_submit (store, agency[0], &referral, &a, &err), 0);
    referral.caseworker_id = "another-caseworker"; // audit detail, not content
    cr_assert_eq (intake_store_submit (store, agency[0], &referral, &b, &err), 0);
    cr_assert (b.replayed);
    cr_assert_str_eq (a.referral_id, b.referral_id);
    cr_assert_eq (a.received_at_us, b.received_at_us);
    referral.urgency = KINNET__V1__URGENCY__ROUTINE;
    cr_assert_eq (intake_store_submit (store, agency[0], &referral, &b, &err), -1);
    cr_assert_eq (err.code, KN_E_CONFLICT);
    cr_assert_eq (s_count ("SELECT count(*) FROM intake.referral"), 1);
    cr_assert_eq (s_count ("SELECT count(*) FROM core.outbox"), 1);
}

Test (store, withdraw_once_replay_and_conflict)
{
    Kinnet__V1__SubmitReferral referral = s_referral ("k5", "Ewa", "2010-10-10");
    intake_submit_result_t a;
    kn_error_t err;
    cr_assert_eq (intake_store_submit (store, agency[0], &referral, &a, &err), 0);
    Kinnet__V1__WithdrawReferral withdraw = KINNET__V1__WITHDRAW_REFERRAL__INIT;
    withdraw.idempotency_key = "w5";
    withdraw.referral_id = a.referral_id;
    withdraw.reason = "Family moved to another region";
    intake_withdraw_result_t w;
    //  Not the referring agency: not found, and nothing written.
    cr_assert_eq (intake_store_withdraw (store, agency[1], &withdraw, &w, &err), -1);
    cr_assert_eq (err.code, KN_E_NOT_FOUND);
    cr_assert_eq (s_count ("SELECT count(*) FROM intake.idempotency WHERE key = 'w5'"),
                  0);
    cr_assert_eq (intake_store_withdraw (store, agency[0], &withdraw, &w, &err), 0, "%s",
                  err.message);
    cr_assert_eq (w.status, KINNET__V1__REFERRAL_STATUS__WITHDRAWN);
    cr_assert_not (w.replayed);
    intake_withdraw_result_t again;
    cr_assert_eq (intake_store_withdraw (store, agency[0], &withdraw, &again, &err), 0);
    cr_assert (again.replayed);
    cr_assert_eq (again.withdrawn_at_us, w.withdrawn_at_us);
    withdraw.idempotency_key = "w5-bis";
    cr_assert_eq (intake_store_withdraw (store, agency[0], &withdraw, &again, &err), -1);
    cr_assert_eq (err.code, KN_E_CONFLICT);
    intake_referral_t back;
    cr_assert_eq (intake_store_get (store, agency[0], a.referral_id, "", 1, &back, &err),
                  0);
    cr_assert_str_eq (back.withdraw_reason, "Family moved to another region");
    cr_assert_eq (back.status, KINNET__V1__REFERRAL_STATUS__WITHDRAWN);
    intake_referral_free (&back);
    cr_assert_eq (
        s_count ("SELECT count(*) FROM core.outbox WHERE topic = 'referral.withdrawn'"),
        1);
}

Test (store, failure_mid_transaction_leaves_nothing)
{
    //  A constraint that only the referral row breaks: the idempotency claim, the
    //  family and the subject rows are already written in the same transaction
    //  when it fires.
    free (kn_test_sql (url, "ALTER TABLE intake.referral ADD CONSTRAINT test_refuse"
                            " CHECK (district <> 'refused')"));
    //  A district the directory knows, so that the referral reaches the insert.
    free (kn_test_sql (url, "INSERT INTO core.district (code) VALUES ('refused')"));
    Kinnet__V1__SubmitReferral referral = s_referral ("k6", "Adam", "2012-12-12");
    referral.district = "refused";
    intake_submit_result_t result;
    kn_error_t err;
    cr_assert_eq (intake_store_submit (store, agency[0], &referral, &result, &err), -1);
    cr_assert_eq (err.code, KN_E_INTERNAL);
    cr_assert_eq (s_count ("SELECT count(*) FROM core.subject"), 0);
    cr_assert_eq (s_count ("SELECT count(*) FROM core.family"), 0);
    cr_assert_eq (s_count ("SELECT count(*) FROM intake.idempotency"), 0);
    cr_assert_eq (s_count ("SELECT count(*) FROM core.outbox"), 0);
    //  The session is usable afterwards, and the key was not burnt.
    referral.district = "north";
    cr_assert_eq (intake_store_submit (store, agency[0], &referral, &result, &err), 0,
                  "%s", err.message);
    cr_assert_not (result.replayed);
}

Test (store, service_role_cannot_rewrite_audit)
{
    char *role_url = NULL;
    size_t size = strlen (url) + 64;
    role_url = malloc (size);
    snprintf (role_url, size, "%s options='-c role=kinnet_intake'", url);
    PGconn *conn = PQconnectdb (role_url);
    PGresult *result = PQexec (conn, "UPDATE core.audit SET result = 'ok'");
    cr_assert_eq (PQresultStatus (result), PGRES_FATAL_ERROR);
    cr_assert_str_eq (PQresultErrorField (result, PG_DIAG_SQLSTATE), "42501");
    PQclear (result);
    result = PQexec (conn, "DELETE FROM core.audit");
    cr_assert_eq (PQresultStatus (result), PGRES_FATAL_ERROR);
    PQclear (result);
    PQfinish (conn);
    free (role_url);
}

Test (store, reconnects_after_connection_loss)
{
    //  Kill our own backend from another session, as a server restart would.
    char sql[200];
    snprintf (sql, sizeof sql, "SELECT pg_terminate_backend(%d)",
              PQbackendPID (kn_db_conn (db)));
    free (kn_test_sql (url, sql));
    Kinnet__V1__SubmitReferral referral = s_referral ("k7", "Iga", "2013-03-03");
    intake_submit_result_t result;
    kn_error_t err;
    //  The dead session is noticed and replaced within the same call.
    cr_assert_eq (intake_store_submit (store, agency[0], &referral, &result, &err), 0,
                  "%s", err.message);
    cr_assert_not (result.replayed);
    cr_assert_eq (s_count ("SELECT count(*) FROM intake.referral"), 1);
}

//  -------------------------------------------------------------------------
//  Batches: several referrals in one transaction, each answered as if alone.

typedef struct {
    Kinnet__V1__Person child;
    Kinnet__V1__Need need;
    Kinnet__V1__Need *needs[1];
    Kinnet__V1__LawfulGround ground;
    Kinnet__V1__SubmitReferral referral;
} batch_referral_t;

static void
s_batch_referral (batch_referral_t *r, const char *key, const char *given,
                  const char *dob)
{
    r->child = (Kinnet__V1__Person)KINNET__V1__PERSON__INIT;
    r->child.given_name = (char *)given;
    r->child.family_name = "Kowalski";
    r->child.date_of_birth = (char *)dob;
    r->need = (Kinnet__V1__Need)KINNET__V1__NEED__INIT;
    r->need.category = KINNET__V1__NEED_CATEGORY__HOUSING_NEED;
    r->need.description = "Overcrowded flat, damp.";
    r->needs[0] = &r->need;
    r->ground = (Kinnet__V1__LawfulGround)KINNET__V1__LAWFUL_GROUND__INIT;
    r->ground.basis = KINNET__V1__LAWFUL_BASIS__PUBLIC_TASK;
    r->ground.justification = "Early help assessment.";
    r->referral = (Kinnet__V1__SubmitReferral)KINNET__V1__SUBMIT_REFERRAL__INIT;
    r->referral.idempotency_key = (char *)key;
    r->referral.child = &r->child;
    r->referral.needs = r->needs;
    r->referral.n_needs = 1;
    r->referral.urgency = KINNET__V1__URGENCY__ROUTINE;
    r->referral.district = "north";
    r->referral.lawful_ground = &r->ground;
}

Test (store, a_batch_answers_each_referral_as_alone)
{
    //  Before the batch: a referral whose key comes back inside it.
    batch_referral_t earlier;
    s_batch_referral (&earlier, "b-earlier", "Kuba", "2013-02-02");
    intake_submit_result_t first;
    kn_error_t err;
    cr_assert_eq (intake_store_submit (store, agency[0], &earlier.referral, &first, &err),
                  0);

    batch_referral_t r[7];
    s_batch_referral (&r[0], "b0", "Hania", "2014-04-04"); // new child
    s_batch_referral (&r[1], "b1", "Hania", "2014-04-04"); // the same child, other agency
    s_batch_referral (&r[2], "b0", "Hania", "2014-04-04"); // r[0] again: a retry
    s_batch_referral (&r[3], "b0", "Hania", "2014-04-04"); // r[0]'s key, other content
    r[3].referral.urgency = KINNET__V1__URGENCY__URGENT;
    s_batch_referral (&r[4], "b4", "Lena", "2012-01-01"); // a consent that does not exist
    r[4].ground.basis = KINNET__V1__LAWFUL_BASIS__CONSENT;
    r[4].ground.consent_reference = "6f1c7e0e-0000-4000-8000-000000000001";
    s_batch_referral (&r[5], "b5", "Tymon", "2011-01-01");       // another new child
    s_batch_referral (&r[6], "b-earlier", "Kuba", "2013-02-02"); // the earlier one again
    intake_submission_t items[7];
    for (int i = 0; i < 7; i++)
        items[i] = (intake_submission_t){.agency_id = agency[i == 1],
                                         .referral = &r[i].referral};
    intake_store_submit_many (store, items, 7);

    cr_assert_eq (items[0].rc, 0, "%s", items[0].err.message);
    cr_assert_not (items[0].result.replayed);
    cr_assert_not (items[0].result.family_matched);
    cr_assert_eq (items[1].rc, 0, "%s", items[1].err.message);
    cr_assert (items[1].result.family_matched, "met the child the batch introduced");
    cr_assert_str_eq (items[1].result.family_id, items[0].result.family_id);
    cr_assert_str_eq (items[1].result.subject_ids[0], items[0].result.subject_ids[0]);
    cr_assert_eq (items[2].rc, 0, "%s", items[2].err.message);
    cr_assert (items[2].result.replayed);
    cr_assert_str_eq (items[2].result.referral_id, items[0].result.referral_id);
    cr_assert_eq (items[2].result.received_at_us, items[0].result.received_at_us);
    cr_assert_eq (items[3].rc, -1);
    cr_assert_eq (items[3].err.code, KN_E_CONFLICT);
    cr_assert_str_eq (items[3].err.field, "idempotency_key");
    cr_assert_eq (items[4].rc, -1);
    cr_assert_eq (items[4].err.code, KN_E_INVALID_ARGUMENT);
    cr_assert_str_eq (items[4].err.field, "lawful_ground.consent_reference");
    cr_assert_eq (items[5].rc, 0, "%s", items[5].err.message);
    cr_assert_str_neq (items[5].result.family_id, items[0].result.family_id);
    cr_assert_eq (items[6].rc, 0);
    cr_assert (items[6].result.replayed);
    cr_assert_str_eq (items[6].result.referral_id, first.referral_id);
    //  One transaction: one commit, one received_at for the batch's new referrals.
    cr_assert_eq (items[5].result.received_at_us, items[0].result.received_at_us);
    cr_assert_eq (s_count ("SELECT count(DISTINCT xmin::text) FROM intake.referral"
                           " WHERE id <> (SELECT object_id FROM intake.idempotency"
                           " WHERE key = 'b-earlier')"),
                  1);

    //  Exactly what the stored ones wrote, and nothing of the refused ones.
    cr_assert_eq (s_count ("SELECT count(*) FROM intake.referral"), 4);
    cr_assert_eq (s_count ("SELECT count(*) FROM intake.referral_subject"), 4);
    cr_assert_eq (s_count ("SELECT count(*) FROM core.outbox"), 4);
    cr_assert_eq (s_count ("SELECT count(*) FROM intake.idempotency"), 4);
    cr_assert_eq (s_count ("SELECT count(*) FROM core.subject"), 3, "Kuba, Hania, Tymon");
    cr_assert_eq (s_count ("SELECT count(*) FROM core.family"), 3);
    cr_assert_eq (s_count ("SELECT count(*) FROM core.audit WHERE operation = 'submit'"
                           " AND result = 'ok'"),
                  4);
    cr_assert_eq (s_count ("SELECT count(*) FROM intake.idempotency WHERE key = 'b4'"), 0,
                  "a refused referral does not burn its key");
    //  Each referral's row, event and audit row name it and its own agency.
    char sql[400];
    snprintf (
        sql, sizeof sql,
        "SELECT count(*) FROM intake.referral r JOIN core.audit a ON a.object_id = r.id"
        " AND a.agency_id = r.referring_agency_id JOIN core.outbox o"
        " ON o.aggregate_id = r.id WHERE r.id IN ('%s', '%s') AND r.referring_agency_id"
        " IN ('%s', '%s')",
        items[0].result.referral_id, items[1].result.referral_id, agency[0], agency[1]);
    cr_assert_eq (s_count (sql), 2);
    snprintf (sql, sizeof sql,
              "SELECT count(*) FROM intake.referral WHERE id = '%s'"
              " AND referring_agency_id = '%s'",
              items[1].result.referral_id, agency[1]);
    cr_assert_eq (s_count (sql), 1);
    //  Sealed per referral: each reads back as its own.
    intake_referral_t back;
    cr_assert_eq (intake_store_get (store, agency[0], items[5].result.referral_id, "", 1,
                                    &back, &err),
                  0, "%s", err.message);
    cr_assert_str_eq (back.submitted->child->given_name, "Tymon");
    intake_referral_free (&back);
}

Test (store, a_batch_that_fails_is_answered_one_by_one)
{
    free (kn_test_sql (url, "ALTER TABLE intake.referral ADD CONSTRAINT test_refuse"
                            " CHECK (district <> 'refused')"));
    //  A district the directory knows, so that the referral reaches the insert.
    free (kn_test_sql (url, "INSERT INTO core.district (code) VALUES ('refused')"));
    batch_referral_t r[3];
    s_batch_referral (&r[0], "f0", "Maja", "2015-05-05");
    s_batch_referral (&r[1], "f1", "Oskar", "2015-06-06");
    r[1].referral.district = "refused";
    s_batch_referral (&r[2], "f2", "Maja", "2015-05-05"); // Maja's sibling referral
    intake_submission_t items[3];
    for (int i = 0; i < 3; i++)
        items[i] =
            (intake_submission_t){.agency_id = agency[0], .referral = &r[i].referral};
    intake_store_submit_many (store, items, 3);
    cr_assert_eq (items[0].rc, 0, "%s", items[0].err.message);
    cr_assert_eq (items[1].rc, -1);
    cr_assert_eq (items[1].err.code, KN_E_INTERNAL);
    cr_assert_eq (items[2].rc, 0, "%s", items[2].err.message);
    cr_assert (items[2].result.family_matched);
    cr_assert_str_eq (items[2].result.family_id, items[0].result.family_id);
    cr_assert_eq (s_count ("SELECT count(*) FROM intake.referral"), 2);
    cr_assert_eq (s_count ("SELECT count(*) FROM core.outbox"), 2);
    cr_assert_eq (s_count ("SELECT count(*) FROM core.subject"), 1, "Oskar left nothing");
    cr_assert_eq (s_count ("SELECT count(*) FROM intake.idempotency WHERE key = 'f1'"),
                  0);
}

//  Standing is judged in the batch's transaction, each referral as if alone: an
//  agency without the referrer role and an unknown district are refused without
//  burning their keys; the rest of the batch is stored; a retry is answered from
//  the ledger although its agency has lost the role since.
Test (store, a_batch_refuses_each_referral_without_standing_alone)
{
    batch_referral_t earlier;
    s_batch_referral (&earlier, "s-earlier", "Iga", "2013-03-03");
    intake_submit_result_t first;
    kn_error_t err;
    cr_assert_eq (intake_store_submit (store, agency[1], &earlier.referral, &first, &err), 0,
                  "%s", err.message);
    char sql[300];
    snprintf (sql, sizeof sql,
              "DELETE FROM core.agency_role WHERE agency_id = '%s' AND role = 'referrer'",
              agency[1]);
    free (kn_test_sql (url, sql));

    batch_referral_t r[5];
    s_batch_referral (&r[0], "s0", "Ola", "2014-04-04");
    r[0].referral.district = "NORTH"; // written back as the directory spells it
    s_batch_referral (&r[1], "s1", "Ula", "2014-05-05"); // agency[1]: no referrer role
    s_batch_referral (&r[2], "s2", "Ela", "2014-06-06");
    r[2].referral.district = "atlantis"; // nobody knows it
    s_batch_referral (&r[3], "s-earlier", "Iga", "2013-03-03"); // agency[1]'s retry
    s_batch_referral (&r[4], "s4", "Ala", "2014-07-07");
    intake_submission_t items[5];
    for (int i = 0; i < 5; i++)
        items[i] = (intake_submission_t){.agency_id = agency[i == 1 || i == 3],
                                         .referral = &r[i].referral};
    intake_store_submit_many (store, items, 5);

    cr_assert_eq (items[0].rc, 0, "%s", items[0].err.message);
    cr_assert_eq (items[1].rc, -1);
    cr_assert_eq (items[1].err.code, KN_E_PERMISSION_DENIED);
    cr_assert (strstr (items[1].err.message, "referrer role"), "%s", items[1].err.message);
    cr_assert_eq (items[2].rc, -1);
    cr_assert_eq (items[2].err.code, KN_E_INVALID_ARGUMENT);
    cr_assert_str_eq (items[2].err.field, "district");
    cr_assert (strstr (items[2].err.message, "known: north"), "%s", items[2].err.message);
    cr_assert_eq (items[3].rc, 0, "%s", items[3].err.message);
    cr_assert (items[3].result.replayed);
    cr_assert_str_eq (items[3].result.referral_id, first.referral_id);
    cr_assert_eq (items[4].rc, 0, "%s", items[4].err.message);
    cr_assert_not (items[4].result.replayed);

    cr_assert_eq (s_count ("SELECT count(*) FROM intake.referral"), 3);
    cr_assert_eq (s_count ("SELECT count(*) FROM intake.referral WHERE district = 'north'"), 3);
    cr_assert_eq (s_count ("SELECT count(*) FROM intake.idempotency"
                           " WHERE key IN ('s1', 's2')"),
                  0, "a refused referral does not burn its key");
    cr_assert_eq (s_count ("SELECT count(*) FROM core.subject"), 3, "Iga, Ola, Ala");
}

//  What a batch costs in round trips, whatever the machine's speed: a batch of new
//  referrals about new children is four, however many it holds (BEGIN, the
//  agencies' standing and districts and the idempotency claims; the identities
//  locked and looked up; the new people written, with whether the agency knew each
//  family; the referrals written with the COMMIT). It was nine while each write of
//  the people waited for its own answer, six while BEGIN and the standing read
//  each had their own.
Test (store, a_batch_of_new_referrals_is_four_round_trips)
{
    enum { N = 8 };
    static const char *names[N] = {"Ada", "Bea", "Cyd", "Dot", "Eve", "Fay", "Gil", "Hal"};
    static const char *keys[N] = {"rt-0", "rt-1", "rt-2", "rt-3", "rt-4", "rt-5", "rt-6", "rt-7"};
    batch_referral_t r[N];
    intake_submission_t items[N];
    for (int i = 0; i < N; i++) {
        s_batch_referral (&r[i], keys[i], names[i], "2015-05-05");
        items[i] = (intake_submission_t){.agency_id = agency[0], .referral = &r[i].referral};
    }
    uint64_t before = kn_db_round_trips (db);
    intake_store_submit_many (store, items, N);
    uint64_t trips = kn_db_round_trips (db) - before;
    for (int i = 0; i < N; i++)
        cr_assert_eq (items[i].rc, 0, "%s", items[i].err.message);
    cr_expect_leq (trips, 4, "%llu round trips for a batch of %d",
                   (unsigned long long) trips, N);
}
