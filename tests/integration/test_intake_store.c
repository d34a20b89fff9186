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
    child = (Kinnet__V1__Person) KINNET__V1__PERSON__INIT;
    child.given_name = (char *) given;
    child.family_name = "Nowak";
    child.date_of_birth = (char *) dob;
    need = (Kinnet__V1__Need) KINNET__V1__NEED__INIT;
    need.category = KINNET__V1__NEED_CATEGORY__MENTAL_HEALTH_NEED;
    need.description = "Low mood since the move; school counsellor concerned.";
    ground = (Kinnet__V1__LawfulGround) KINNET__V1__LAWFUL_GROUND__INIT;
    ground.basis = KINNET__V1__LAWFUL_BASIS__PUBLIC_TASK;
    ground.justification = "Early help assessment under the local safeguarding plan.";
    Kinnet__V1__SubmitReferral referral = KINNET__V1__SUBMIT_REFERRAL__INIT;
    referral.idempotency_key = (char *) key;
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
    cr_assert_eq (intake_store_submit (store, agency[0], &referral, &result, &err), 0, "%s",
                  err.message);
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
    cr_assert_eq (intake_store_get (store, agency[0], result.referral_id, "cw-1", 1, &back, &err),
                  0, "%s", err.message);
    cr_assert_str_eq (back.submitted->child->given_name, "Zofia");
    cr_assert_str_eq (back.submitted->needs[0]->description, need.description);
    cr_assert_str_eq (back.family_id, result.family_id);
    intake_referral_free (&back);
    //  The read is a disclosure and is on record.
    snprintf (sql, sizeof sql,
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
    cr_assert_eq (intake_store_get (store, agency[1], result.referral_id, "", 1, &back, &err), -1);
    cr_assert_eq (err.code, KN_E_PERMISSION_DENIED);
    cr_assert (strstr (err.message, "no consent"), "%s", err.message);
    cr_assert_eq (s_count ("SELECT count(*) FROM core.disclosure"), 0);
}

Test (store, siblings_and_spelling_variants_share_a_family)
{
    Kinnet__V1__SubmitReferral first = s_referral ("k3", "Łucja", "2012-03-04");
    sibling = (Kinnet__V1__Person) KINNET__V1__PERSON__INIT;
    sibling.given_name = "Piotr";
    sibling.family_name = "Nowak";
    sibling.date_of_birth = "2015-07-08";
    first.siblings = siblings;
    first.n_siblings = 1;
    intake_submit_result_t a, b;
    kn_error_t err;
    cr_assert_eq (intake_store_submit (store, agency[0], &first, &a, &err), 0, "%s", err.message);
    //  Another agency refers the brother, spelled in capitals.
    Kinnet__V1__SubmitReferral second = s_referral ("other-system-1", "PIOTR", "2015-07-08");
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
    referral.caseworker_id = "another-caseworker";   // audit detail, not content
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
    cr_assert_eq (s_count ("SELECT count(*) FROM intake.idempotency WHERE key = 'w5'"), 0);
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
    cr_assert_eq (intake_store_get (store, agency[0], a.referral_id, "", 1, &back, &err), 0);
    cr_assert_str_eq (back.withdraw_reason, "Family moved to another region");
    cr_assert_eq (back.status, KINNET__V1__REFERRAL_STATUS__WITHDRAWN);
    intake_referral_free (&back);
    cr_assert_eq (s_count ("SELECT count(*) FROM core.outbox WHERE topic = 'referral.withdrawn'"),
                  1);
}

Test (store, failure_mid_transaction_leaves_nothing)
{
    //  A constraint that only the referral row breaks: the idempotency claim, the
    //  family and the subject rows are already written in the same transaction
    //  when it fires.
    free (kn_test_sql (url, "ALTER TABLE intake.referral ADD CONSTRAINT test_refuse"
                            " CHECK (district <> 'refused')"));
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
    cr_assert_eq (intake_store_submit (store, agency[0], &referral, &result, &err), 0, "%s",
                  err.message);
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
    cr_assert_eq (intake_store_submit (store, agency[0], &referral, &result, &err), 0, "%s",
                  err.message);
    cr_assert_not (result.replayed);
    cr_assert_eq (s_count ("SELECT count(*) FROM intake.referral"), 1);
}
