/*  The admin service's agencies, through the real broker with CURVE: registered
    (audited, replayed under their idempotency key), given and refused roles (four
    eyes), revoked; bad input, an unregistered district among it, names its field
    and writes nothing; the bootstrap makes the first administrator only. */
#include "admin_fixture.h"
#include "kn_agency.h"

TestSuite (admin_agencies, .init = s_fixture_setup, .fini = s_fixture_teardown,
           .timeout = 120);

//  Whether the broker answers a client holding cert (MMI: the admin service is up).
static bool
s_admitted (zcert_t *cert)
{
    kn_error_t err;
    kn_client_t *client = kn_client_new (kn_test_stack_frontend (stack), cert,
                                         kn_test_stack_server_key (stack), &err);
    cr_assert (client, "%s", err.message);
    kn_client_set_timeout (client, 500);
    kn_client_set_retries (client, 0);
    zframe_t *reply = kn_client_call (client, "mmi.service", "admin", 5, &err);
    bool admitted = reply && zframe_streq (reply, "200");
    zframe_destroy (&reply);
    kn_client_destroy (&client);
    return admitted;
}

Test (admin_agencies, agencies_are_registered_with_roles_and_revoked)
{
    const char *admin_id = kn_test_stack_agency_id (stack, KN_TEST_ADMIN);
    zcert_t *cert = zcert_new ();
    cr_assert_not (s_admitted (cert), "an unknown key was admitted");

    Kinnet__V1__AdminReply *reply =
        s_register (KN_TEST_ADMIN, "reg-1", "Riverside Health", zcert_public_txt (cert));
    s_ok (reply);
    char id[KN_UUID_STR];
    snprintf (id, sizeof id, "%s", reply->registered->agency_id);
    kinnet__v1__admin_reply__free_unpacked (reply, NULL);
    char sql[400];
    snprintf (
        sql, sizeof sql,
        "SELECT count (*) FROM core.agency a JOIN core.agency_key k ON k.agency_id = a.id"
        " WHERE a.id = '%s' AND a.sector = 'health' AND a.name = 'Riverside Health'",
        id);
    cr_expect_eq (s_count (sql), 1);
    snprintf (
        sql, sizeof sql,
        "SELECT count (*) FROM core.audit WHERE service = 'admin' AND operation ="
        " 'register_agency' AND agency_id = '%s' AND object_id = '%s' AND result = 'ok'",
        admin_id, id);
    cr_expect_eq (s_count (sql), 1);

    //  A retry answers as the first did; other content under the key is a conflict.
    reply =
        s_register (KN_TEST_ADMIN, "reg-1", "Riverside Health", zcert_public_txt (cert));
    s_ok (reply);
    cr_expect_str_eq (reply->registered->agency_id, id);
    kinnet__v1__admin_reply__free_unpacked (reply, NULL);
    reply = s_register (KN_TEST_ADMIN, "reg-1", "Another Name", zcert_public_txt (cert));
    s_refused (reply, KINNET__V1__ERROR_CODE__CONFLICT, "idempotency_key");
    kinnet__v1__admin_reply__free_unpacked (reply, NULL);
    //  The same key registered again under another request: the key is taken.
    reply = s_register (KN_TEST_ADMIN, "reg-2", "Copycat", zcert_public_txt (cert));
    s_refused (reply, KINNET__V1__ERROR_CODE__CONFLICT, "public_key");
    kinnet__v1__admin_reply__free_unpacked (reply, NULL);
    cr_expect_eq (s_count ("SELECT count (*) FROM core.agency WHERE name = 'Copycat'"),
                  0);

    //  The broker admits the new key (it reloads keys on a change).
    bool admitted = false;
    for (int i = 0; i < 50 && !admitted; i++)
        admitted = s_admitted (cert) || (zclock_sleep (100), false);
    cr_expect (admitted, "the new agency's key was not admitted");

    //  Roles: granted once, audited naming the administrator's agency.
    reply = s_set_role (KN_TEST_ADMIN, "role-1", id, "auditor", true);
    s_ok (reply);
    cr_expect (reply->role->held);
    cr_expect (reply->role->changed);
    kinnet__v1__admin_reply__free_unpacked (reply, NULL);
    reply = s_set_role (KN_TEST_ADMIN, "role-2", id, "auditor", true);
    s_ok (reply);
    cr_expect (reply->role->held);
    cr_expect_not (reply->role->changed);
    kinnet__v1__admin_reply__free_unpacked (reply, NULL);
    snprintf (sql, sizeof sql,
              "SELECT count (*) FROM core.audit WHERE operation = 'role_grant'"
              " AND agency_id = '%s' AND object_id = '%s' AND role = 'auditor'",
              admin_id, id);
    cr_expect_eq (s_count (sql), 1);
    reply = s_set_role (KN_TEST_ADMIN, "role-3", id, "overlord", true);
    s_refused (reply, KINNET__V1__ERROR_CODE__INVALID_ARGUMENT, "role");
    kinnet__v1__admin_reply__free_unpacked (reply, NULL);

    //  An administrator cannot lock its own agency out.
    reply = s_set_role (KN_TEST_ADMIN, "role-4", admin_id, "administrator", false);
    s_refused (reply, KINNET__V1__ERROR_CODE__CONFLICT, "role");
    kinnet__v1__admin_reply__free_unpacked (reply, NULL);
    snprintf (sql, sizeof sql,
              "SELECT count (*) FROM core.agency_role WHERE agency_id = '%s'"
              " AND role = 'administrator'",
              admin_id);
    cr_expect_eq (s_count (sql), 1);

    //  Four eyes: an administrator grants its own agency no role that opens personal
    //  data or the trail, and does not revoke it; the refusals are on record.
    const char *guarded[] = {"data_protection_officer", "auditor", "administrator"};
    for (int i = 0; i < 3; i++) {
        char key[32];
        snprintf (key, sizeof key, "self-%d", i);
        reply = s_set_role (KN_TEST_ADMIN, key, admin_id, guarded[i], true);
        s_refused (reply, KINNET__V1__ERROR_CODE__PERMISSION_DENIED, "agency_id");
        cr_expect (reply->error &&
                       strstr (reply->error->message, "another administrator"),
                   "%s", reply->error ? reply->error->message : "");
        kinnet__v1__admin_reply__free_unpacked (reply, NULL);
    }
    snprintf (sql, sizeof sql,
              "SELECT count (*) FROM core.agency_role WHERE agency_id = '%s'"
              " AND role IN ('data_protection_officer', 'auditor')",
              admin_id);
    cr_expect_eq (s_count (sql), 0, "the administrator granted itself a role");
    Kinnet__V1__RevokeAgency self_revoke = KINNET__V1__REVOKE_AGENCY__INIT;
    self_revoke.idempotency_key = "rev-self";
    self_revoke.agency_id = (char *)admin_id;
    Kinnet__V1__AdminRequest self_request =
        REQUEST (revoke_agency, REVOKE_AGENCY, &self_revoke);
    reply = s_admin (KN_TEST_ADMIN, &self_request);
    s_refused (reply, KINNET__V1__ERROR_CODE__PERMISSION_DENIED, "agency_id");
    kinnet__v1__admin_reply__free_unpacked (reply, NULL);
    snprintf (sql, sizeof sql,
              "SELECT count (*) FROM core.agency_key WHERE agency_id = '%s'"
              " AND revoked_at IS NULL",
              admin_id);
    cr_expect_eq (s_count (sql), 1, "the administrator revoked its own agency");
    snprintf (sql, sizeof sql,
              "SELECT count (*) FROM core.audit WHERE service = 'admin'"
              " AND agency_id = '%s' AND object_id = '%s'"
              " AND result = 'permission_denied'"
              " AND operation IN ('set_role', 'revoke_agency')",
              admin_id, admin_id);
    cr_expect_eq (s_count (sql), 4);
    //  Another agency may be granted them.
    reply = s_set_role (KN_TEST_ADMIN, "role-dpo", id, "data_protection_officer", true);
    s_ok (reply);
    cr_expect (reply->role->held);
    kinnet__v1__admin_reply__free_unpacked (reply, NULL);

    //  Revoked: inactive, its keys revoked, and the broker stops admitting it.
    Kinnet__V1__RevokeAgency revoke = KINNET__V1__REVOKE_AGENCY__INIT;
    revoke.idempotency_key = "rev-1";
    revoke.agency_id = id;
    Kinnet__V1__AdminRequest request = REQUEST (revoke_agency, REVOKE_AGENCY, &revoke);
    reply = s_admin (KN_TEST_ADMIN, &request);
    s_ok (reply);
    cr_expect_str_eq (reply->revoked->agency_id, id);
    kinnet__v1__admin_reply__free_unpacked (reply, NULL);
    snprintf (sql, sizeof sql,
              "SELECT count (*) FROM core.agency_key WHERE agency_id = '%s'"
              " AND revoked_at IS NULL",
              id);
    cr_expect_eq (s_count (sql), 0);
    revoke.agency_id = "00000000-0000-4000-8000-000000000009";
    revoke.idempotency_key = "rev-2";
    reply = s_admin (KN_TEST_ADMIN, &request);
    s_refused (reply, KINNET__V1__ERROR_CODE__NOT_FOUND, "agency_id");
    kinnet__v1__admin_reply__free_unpacked (reply, NULL);
    zcert_destroy (&cert);
}

Test (admin_agencies, bad_agencies_are_refused_by_field_and_write_nothing)
{
    zcert_t *cert = zcert_new ();
    Kinnet__V1__AdminReply *reply =
        s_register (KN_TEST_ADMIN, "bad-1", "Tab\tName", zcert_public_txt (cert));
    s_refused (reply, KINNET__V1__ERROR_CODE__INVALID_ARGUMENT, "name");
    kinnet__v1__admin_reply__free_unpacked (reply, NULL);
    reply = s_register (KN_TEST_ADMIN, "bad-2", "Fine Name", "not a key");
    s_refused (reply, KINNET__V1__ERROR_CODE__INVALID_ARGUMENT, "public_key");
    kinnet__v1__admin_reply__free_unpacked (reply, NULL);
    Kinnet__V1__RegisterAgency op = KINNET__V1__REGISTER_AGENCY__INIT;
    op.idempotency_key = "bad-3";
    op.name = "No Sector";
    op.district = "north";
    op.public_key = (char *)zcert_public_txt (cert);
    Kinnet__V1__AdminRequest request = REQUEST (register_agency, REGISTER_AGENCY, &op);
    reply = s_admin (KN_TEST_ADMIN, &request);
    s_refused (reply, KINNET__V1__ERROR_CODE__INVALID_ARGUMENT, "sector");
    kinnet__v1__admin_reply__free_unpacked (reply, NULL);
    cr_expect_eq (s_count ("SELECT count (*) FROM core.agency"), 3);
    cr_expect_eq (s_count ("SELECT count (*) FROM admin.idempotency"), 0);

    //  The bootstrap makes the first administrator only.
    kn_error_t err;
    kn_db_t *db = kn_db_new (kn_test_stack_db_url (stack), NULL, &err);
    cr_assert (db, "%s", err.message);
    char id[KN_UUID_STR];
    cr_expect_eq (kn_agency_init_administrator (db, "Second Admin", "local_authority",
                                                "north", zcert_public_txt (cert), id,
                                                &err),
                  -1);
    cr_expect_eq (err.code, KN_E_CONFLICT);
    cr_expect_str_eq (err.field, "administrator");
    kn_db_destroy (&db);
    cr_expect_eq (s_count ("SELECT count (*) FROM core.agency"), 3);
    zcert_destroy (&cert);
}

//  Routing reaches an agency only through its district: a code nobody registered
//  (a typo) is refused, naming the command that registers one, and nothing is
//  written; the idempotency key stays free for the corrected request.
Test (admin_agencies, an_unregistered_district_is_refused_and_writes_nothing)
{
    zcert_t *cert = zcert_new ();
    int agencies = s_count ("SELECT count (*) FROM core.agency");
    Kinnet__V1__AdminReply *reply = s_register_in (KN_TEST_ADMIN, "typo", "Typo Health",
                                                   "nrth", zcert_public_txt (cert));
    s_refused (reply, KINNET__V1__ERROR_CODE__INVALID_ARGUMENT, "district");
    cr_expect (reply->error && strstr (reply->error->message, "'nrth'") &&
                   strstr (reply->error->message, "district set"),
               "%s", reply->error ? reply->error->message : "");
    kinnet__v1__admin_reply__free_unpacked (reply, NULL);
    cr_expect_eq (s_count ("SELECT count (*) FROM core.agency"), agencies);
    cr_expect_eq (s_count ("SELECT count (*) FROM core.agency WHERE district = 'nrth'"),
                  0);
    cr_expect_eq (s_count ("SELECT count (*) FROM admin.idempotency"), 0);
    char sql[300];
    snprintf (sql, sizeof sql,
              "SELECT count (*) FROM core.agency_key WHERE public_key = '%s'",
              zcert_public_txt (cert));
    cr_expect_eq (s_count (sql), 0);
    //  Codes are exact: the registered "north" spelt otherwise is another code.
    reply = s_register_in (KN_TEST_ADMIN, "typo-case", "Typo Health", "North",
                           zcert_public_txt (cert));
    s_refused (reply, KINNET__V1__ERROR_CODE__INVALID_ARGUMENT, "district");
    kinnet__v1__admin_reply__free_unpacked (reply, NULL);

    //  The same request with a registered district is accepted under the same key.
    reply = s_register_in (KN_TEST_ADMIN, "typo", "Typo Health", "south",
                           zcert_public_txt (cert));
    s_ok (reply);
    kinnet__v1__admin_reply__free_unpacked (reply, NULL);
    cr_expect_eq (s_count ("SELECT count (*) FROM core.agency WHERE name = 'Typo Health'"
                           " AND district = 'south'"),
                  1);
    cr_expect_eq (s_count (sql), 1);
    zcert_destroy (&cert);
}
