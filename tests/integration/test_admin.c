/*  The admin service through the real broker with CURVE: every operation works for
    the administrator agency (KN_TEST_ADMIN) and is audited; agencies without the
    role are refused and the refusal is on record; writes replay under their
    idempotency key; bad input names its field and writes nothing. */
#include <criterion/criterion.h>
#include <string.h>

#include "kinnet/v1/admin.pb-c.h"
#include "kn_agency.h"
#include "kn_test.h"
#include "kn_uuid.h"

static kn_test_stack_t *stack;
static char data[512]; // tests/data/hsds

static void
s_setup (void)
{
    stack = kn_test_stack_new ();
    snprintf (data, sizeof data, "%s/hsds", kn_test_data_dir ());
}

static void
s_teardown (void)
{
    kn_test_stack_destroy (&stack);
    kn_test_no_leaks ();
}

TestSuite (admin, .init = s_setup, .fini = s_teardown, .timeout = 120);

//  One request to the admin service as agency; the decoded reply (caller frees).
static Kinnet__V1__AdminReply *
s_admin (int agency, Kinnet__V1__AdminRequest *request)
{
    size_t len = kinnet__v1__admin_request__get_packed_size (request);
    uint8_t *buf = malloc (len ? len : 1);
    kinnet__v1__admin_request__pack (request, buf);
    kn_client_t *client = kn_test_stack_client (stack, agency, 10000, 1);
    kn_error_t err;
    zframe_t *frame = kn_client_call (client, "admin", buf, len, &err);
    kn_client_destroy (&client);
    free (buf);
    cr_assert (frame, "%s", err.message);
    Kinnet__V1__AdminReply *reply =
        kinnet__v1__admin_reply__unpack (NULL, zframe_size (frame), zframe_data (frame));
    zframe_destroy (&frame);
    cr_assert (reply);
    return reply;
}

//  The reply must be an answer, not an error.
static void
s_ok (Kinnet__V1__AdminReply *reply)
{
    cr_assert_null (reply->error, "%s (field %s)",
                    reply->error ? reply->error->message : "",
                    reply->error ? reply->error->field : "");
}

//  The reply must be the error code on field.
static void
s_refused (Kinnet__V1__AdminReply *reply, Kinnet__V1__ErrorCode code, const char *field)
{
    cr_assert (reply->error, "answered where %s was expected", field);
    cr_expect_eq (reply->error->code, code, "code %d, field %s: %s", reply->error->code,
                  reply->error->field, reply->error->message);
    cr_expect_str_eq (reply->error->field, field, "%s", reply->error->message);
}

static int
s_count (const char *sql)
{
    return kn_test_count (kn_test_stack_db_url (stack), sql);
}

#define REQUEST(member, MEMBER, value)                                                   \
    (Kinnet__V1__AdminRequest)                                                           \
    {                                                                                    \
        .base = PROTOBUF_C_MESSAGE_INIT (&kinnet__v1__admin_request__descriptor),        \
        .op_case = KINNET__V1__ADMIN_REQUEST__OP_##MEMBER, .member = (value)             \
    }

static Kinnet__V1__AdminReply *
s_register (int agency, const char *key, const char *name, const char *public_key)
{
    Kinnet__V1__RegisterAgency op = KINNET__V1__REGISTER_AGENCY__INIT;
    op.idempotency_key = (char *)key;
    op.name = (char *)name;
    op.sector = KINNET__V1__AGENCY_SECTOR__HEALTH;
    op.district = "north";
    op.public_key = (char *)public_key;
    Kinnet__V1__AdminRequest request = REQUEST (register_agency, REGISTER_AGENCY, &op);
    return s_admin (agency, &request);
}

static Kinnet__V1__AdminReply *
s_set_role (int agency, const char *key, const char *target, const char *role, bool grant)
{
    Kinnet__V1__SetRole op = KINNET__V1__SET_ROLE__INIT;
    op.idempotency_key = (char *)key;
    op.agency_id = (char *)target;
    op.role = (char *)role;
    op.grant = grant;
    Kinnet__V1__AdminRequest request = REQUEST (set_role, SET_ROLE, &op);
    return s_admin (agency, &request);
}

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

Test (admin, agencies_are_registered_with_roles_and_revoked)
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

Test (admin, bad_agencies_are_refused_by_field_and_write_nothing)
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

Test (admin, refused_without_the_role_and_on_record)
{
    //  Agency 0 is a referrer: every operation is refused, and audited.
    Kinnet__V1__ShowDirectory show = KINNET__V1__SHOW_DIRECTORY__INIT;
    Kinnet__V1__AdminRequest request = REQUEST (show_directory, SHOW_DIRECTORY, &show);
    Kinnet__V1__AdminReply *reply = s_admin (0, &request);
    s_refused (reply, KINNET__V1__ERROR_CODE__PERMISSION_DENIED, "op");
    kinnet__v1__admin_reply__free_unpacked (reply, NULL);
    zcert_t *cert = zcert_new ();
    reply = s_register (0, "sneaky", "Sneaky", zcert_public_txt (cert));
    zcert_destroy (&cert);
    s_refused (reply, KINNET__V1__ERROR_CODE__PERMISSION_DENIED, "op");
    kinnet__v1__admin_reply__free_unpacked (reply, NULL);
    cr_expect_eq (s_count ("SELECT count (*) FROM core.agency WHERE name = 'Sneaky'"), 0);
    char sql[400];
    snprintf (
        sql, sizeof sql,
        "SELECT count (*) FROM core.audit WHERE service = 'admin' AND agency_id = '%s'"
        " AND result = 'permission_denied' AND role = 'administrator'"
        " AND operation IN ('show_directory', 'register_agency')",
        kn_test_stack_agency_id (stack, 0));
    cr_expect_eq (s_count (sql), 2);

    //  The audit export needs the auditor role, which the administrator lacks.
    Kinnet__V1__ExportAudit export = KINNET__V1__EXPORT_AUDIT__INIT;
    export.from = "2000-01-01";
    export.to = "2200-01-01";
    request = REQUEST (export_audit, EXPORT_AUDIT, &export);
    reply = s_admin (KN_TEST_ADMIN, &request);
    s_refused (reply, KINNET__V1__ERROR_CODE__PERMISSION_DENIED, "op");
    kinnet__v1__admin_reply__free_unpacked (reply, NULL);

    //  An auditor exports it, a page at a time, its own refusals included.
    reply = s_set_role (KN_TEST_ADMIN, "aud", kn_test_stack_agency_id (stack, 1),
                        "auditor", true);
    s_ok (reply);
    kinnet__v1__admin_reply__free_unpacked (reply, NULL);
    int total = s_count ("SELECT count (*) FROM core.audit");
    cr_assert_geq (total, 5);
    export.limit = 2;
    int seen = 0;
    int64_t last = 0, unsealed = 0;
    do {
        reply = s_admin (1, &request);
        s_ok (reply);
        for (size_t i = 0; i < reply->audit->n_records; i++) {
            //  Every chain position in turn: the whole period is in the window.
            cr_expect_eq (reply->audit->records[i]->chain_seq, last + 1);
            last = reply->audit->records[i]->chain_seq;
            cr_expect_eq (strlen (reply->audit->records[i]->at), 27, "%s",
                          reply->audit->records[i]->at);
        }
        seen += (int)reply->audit->n_records;
        cr_assert_leq (reply->audit->n_records, 2);
        export.after = reply->audit->next_after;
        unsealed = reply->audit->unsealed;
        kinnet__v1__admin_reply__free_unpacked (reply, NULL);
    } while (export.after);
    //  Every record up to the export's first page, sealed or counted as not yet.
    cr_expect_geq (seen + unsealed, total);
    snprintf (sql, sizeof sql,
              "SELECT count (*) FROM core.audit WHERE operation = 'export_audit'"
              " AND agency_id = '%s' AND result = 'ok' AND role = 'auditor'",
              kn_test_stack_agency_id (stack, 1));
    cr_expect_geq (s_count (sql), 1);

    //  Dates are real dates, and to comes after from.
    const char *bad[][3] = {{"2024-02-30", "2024-03-01", "from"},
                            {"2024-02-01", "2024-13-01", "to"},
                            {"2024-02-01", "2024-02-01", "to"},
                            {"yesterday", "2024-02-01", "from"}};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        export.from = (char *)bad[i][0];
        export.to = (char *)bad[i][1];
        reply = s_admin (1, &request);
        s_refused (reply, KINNET__V1__ERROR_CODE__INVALID_ARGUMENT, bad[i][2]);
        kinnet__v1__admin_reply__free_unpacked (reply, NULL);
    }
}

static Kinnet__V1__AdminReply *
s_import (const char *key, const char *hsds, const char *mapping, bool dry_run)
{
    Kinnet__V1__ImportDirectory op = KINNET__V1__IMPORT_DIRECTORY__INIT;
    char *documents[] = {(char *)hsds};
    op.idempotency_key = (char *)key;
    op.n_hsds = 1;
    op.hsds = documents;
    op.mapping = (char *)mapping;
    op.dry_run = dry_run;
    Kinnet__V1__AdminRequest request = REQUEST (import_directory, IMPORT_DIRECTORY, &op);
    return s_admin (KN_TEST_ADMIN, &request);
}

static char *
s_data (const char *name)
{
    char path[600];
    snprintf (path, sizeof path, "%s/%s", data, name);
    char *text = kn_test_read_file (path);
    cr_assert (text, "cannot read %s", path);
    return text;
}

Test (admin, the_directory_is_imported_shown_and_changed)
{
    char *hsds = s_data ("directory.json");
    char *mapping = s_data ("mapping.json");
    int before = s_count ("SELECT count (*) FROM core.agency");
    //  The mapping's districts besides the stack's south and east.
    free (kn_test_sql (kn_test_stack_db_url (stack),
                       "INSERT INTO core.district (code) VALUES ('central'), ('north')"));

    //  A dry run reports and writes nothing.
    Kinnet__V1__AdminReply *reply = s_import ("imp-dry", hsds, mapping, true);
    s_ok (reply);
    cr_expect (reply->import_report->dry_run);
    cr_assert_gt (reply->import_report->totals->added, 0);
    int64_t added = reply->import_report->totals->added;
    kinnet__v1__admin_reply__free_unpacked (reply, NULL);
    cr_expect_eq (s_count ("SELECT count (*) FROM core.agency"), before);

    reply = s_import ("imp-1", hsds, mapping, false);
    s_ok (reply);
    cr_expect_not (reply->import_report->dry_run);
    cr_expect_eq (reply->import_report->totals->added, added);
    cr_expect_eq (reply->import_report->n_agencies, (size_t)added);
    kinnet__v1__admin_reply__free_unpacked (reply, NULL);
    cr_expect_eq (s_count ("SELECT count (*) FROM core.agency"), before + added);
    //  The mapping sent as text means what the same file does (test_directory).
    cr_expect_eq (added, 8);
    //  A retry answers with what the document means now: nothing more to do.
    reply = s_import ("imp-1", hsds, mapping, false);
    s_ok (reply);
    cr_expect_eq (reply->import_report->totals->unchanged, 8);
    cr_expect_eq (reply->import_report->totals->ignored, 6);
    kinnet__v1__admin_reply__free_unpacked (reply, NULL);
    cr_expect_eq (s_count ("SELECT count (*) FROM core.agency"), before + added);

    //  A wrong record names its path; a wrong mapping member its; nothing written.
    const char *broken =
        "[{\"id\": \"x1\", \"name\": \"X\", \"services\": [{\"id\": \"s1\","
        " \"name\": \"S\", \"service_areas\": [{\"id\": 7}]}]}]";
    reply = s_import ("imp-bad", broken, mapping, false);
    cr_assert (reply->error);
    cr_expect_eq (reply->error->code, KINNET__V1__ERROR_CODE__INVALID_ARGUMENT);
    cr_expect (strncmp (reply->error->field, "[0].services[0]", 15) == 0 ||
                   strncmp (reply->error->field, "organizations[0]", 16) == 0,
               "field %s: %s", reply->error->field, reply->error->message);
    kinnet__v1__admin_reply__free_unpacked (reply, NULL);
    reply = s_import ("imp-bad2", "{not json", "", false);
    s_refused (reply, KINNET__V1__ERROR_CODE__INVALID_ARGUMENT,
               reply->error ? reply->error->field : "?");
    kinnet__v1__admin_reply__free_unpacked (reply, NULL);
    reply = s_import ("imp-bad3", hsds,
                      "{\"needs\": {\"Counselling\": \"no_such_need\"}}", false);
    s_refused (reply, KINNET__V1__ERROR_CODE__INVALID_ARGUMENT,
               "mapping.needs.Counselling");
    kinnet__v1__admin_reply__free_unpacked (reply, NULL);
    cr_expect_eq (s_count ("SELECT count (*) FROM core.agency"), before + added);
    cr_expect_eq (s_count ("SELECT count (*) FROM admin.idempotency"), 2);

    //  The listing: every agency, with has_key and -1 for no limit.
    Kinnet__V1__ShowDirectory show = KINNET__V1__SHOW_DIRECTORY__INIT;
    Kinnet__V1__AdminRequest request = REQUEST (show_directory, SHOW_DIRECTORY, &show);
    reply = s_admin (KN_TEST_ADMIN, &request);
    s_ok (reply);
    cr_expect_eq (reply->directory->n_agencies, (size_t)(before + added));
    int with_key = 0, unlimited = 0;
    for (size_t i = 0; i < reply->directory->n_agencies; i++) {
        with_key += reply->directory->agencies[i]->has_key;
        unlimited += reply->directory->agencies[i]->capacity == -1;
    }
    cr_expect_eq (with_key, before, "the stack's agencies hold keys, imported ones none");
    cr_expect_gt (unlimited, 0);
    kinnet__v1__admin_reply__free_unpacked (reply, NULL);
    show.agency = "c5b6b2c3-f06b-4203-91ad-a729d2ab0089"; // the school, by directory id
    reply = s_admin (KN_TEST_ADMIN, &request);
    s_ok (reply);
    cr_assert_eq (reply->directory->n_agencies, 1);
    char school[KN_UUID_STR];
    snprintf (school, sizeof school, "%s", reply->directory->agencies[0]->agency_id);
    kinnet__v1__admin_reply__free_unpacked (reply, NULL);
    show.agency = "nobody";
    reply = s_admin (KN_TEST_ADMIN, &request);
    s_refused (reply, KINNET__V1__ERROR_CODE__NOT_FOUND, "agency");
    kinnet__v1__admin_reply__free_unpacked (reply, NULL);

    //  A manual change, then the same again: unchanged.
    Kinnet__V1__SetDirectoryEntry set = KINNET__V1__SET_DIRECTORY_ENTRY__INIT;
    set.idempotency_key = "set-1";
    set.agency_id = school;
    set.accepting = KINNET__V1__SWITCH__SWITCH_OFF;
    set.set_capacity = true;
    set.capacity = 7;
    request = REQUEST (set_directory, SET_DIRECTORY, &set);
    reply = s_admin (KN_TEST_ADMIN, &request);
    s_ok (reply);
    cr_expect_str_eq (reply->change->result, "changed");
    cr_expect_eq (reply->change->n_changes, 2);
    kinnet__v1__admin_reply__free_unpacked (reply, NULL);
    set.idempotency_key = "set-2";
    reply = s_admin (KN_TEST_ADMIN, &request);
    s_ok (reply);
    cr_expect_str_eq (reply->change->result, "unchanged");
    kinnet__v1__admin_reply__free_unpacked (reply, NULL);
    char sql[300];
    snprintf (sql, sizeof sql,
              "SELECT count (*) FROM core.agency WHERE id = '%s' AND capacity = 7"
              " AND NOT accepting",
              school);
    cr_expect_eq (s_count (sql), 1);
    set.idempotency_key = "set-3";
    set.capacity = -2;
    reply = s_admin (KN_TEST_ADMIN, &request);
    s_refused (reply, KINNET__V1__ERROR_CODE__INVALID_ARGUMENT, "capacity");
    kinnet__v1__admin_reply__free_unpacked (reply, NULL);

    //  Districts: one added with a lead, listed with the agencies serving it.
    Kinnet__V1__SetDistrict district = KINNET__V1__SET_DISTRICT__INIT;
    district.idempotency_key = "dist-1";
    district.code = "harbour";
    district.name = "Harbour";
    district.lead = school;
    request = REQUEST (set_district, SET_DISTRICT, &district);
    reply = s_admin (KN_TEST_ADMIN, &request);
    s_ok (reply);
    cr_expect_str_eq (reply->change->id, "harbour");
    cr_expect_str_eq (reply->change->result, "added");
    kinnet__v1__admin_reply__free_unpacked (reply, NULL);
    //  The trail says which district changed.
    cr_expect_eq (s_count ("SELECT count (*) FROM core.audit WHERE operation ="
                           " 'set_district' AND basis = 'harbour' AND result = 'ok'"),
                  1);
    district.idempotency_key = "dist-2";
    district.lead = "00000000-0000-4000-8000-000000000009";
    reply = s_admin (KN_TEST_ADMIN, &request);
    s_refused (reply, KINNET__V1__ERROR_CODE__NOT_FOUND, "lead");
    kinnet__v1__admin_reply__free_unpacked (reply, NULL);
    Kinnet__V1__ListDistricts list = KINNET__V1__LIST_DISTRICTS__INIT;
    request = REQUEST (list_districts, LIST_DISTRICTS, &list);
    reply = s_admin (KN_TEST_ADMIN, &request);
    s_ok (reply);
    bool found = false;
    for (size_t i = 0; i < reply->districts->n_districts; i++) {
        Kinnet__V1__District *d = reply->districts->districts[i];
        if (strcmp (d->code, "harbour") == 0) {
            found = true;
            cr_expect_str_eq (d->child_protection_lead, school);
            cr_expect_str_eq (d->name, "Harbour");
        }
        if (strcmp (d->code, "north") == 0)
            cr_expect_geq (d->n_agencies, 4);
    }
    cr_expect (found);
    kinnet__v1__admin_reply__free_unpacked (reply, NULL);
    free (hsds);
    free (mapping);
}

static Kinnet__V1__AdminReply *
s_set_routing (const char *key, const char *name, const char *value)
{
    Kinnet__V1__SetRoutingSetting op = KINNET__V1__SET_ROUTING_SETTING__INIT;
    op.idempotency_key = (char *)key;
    op.key = (char *)name;
    op.value = (char *)value;
    Kinnet__V1__AdminRequest request = REQUEST (set_routing, SET_ROUTING, &op);
    return s_admin (KN_TEST_ADMIN, &request);
}

//  The setting called key in a RoutingSettings reply.
static const Kinnet__V1__RoutingSetting *
s_setting (const Kinnet__V1__RoutingSettings *settings, const char *key)
{
    for (size_t i = 0; i < settings->n_settings; i++)
        if (strcmp (settings->settings[i]->key, key) == 0)
            return settings->settings[i];
    cr_assert_fail ("no setting %s", key);
    return NULL;
}

Test (admin, routing_rules_are_shown_and_set)
{
    //  Migrations write every rule; one without a row is shown at its default.
    free (kn_test_sql (kn_test_stack_db_url (stack),
                       "DELETE FROM routing.setting WHERE key = 'contact.urgent'"));
    Kinnet__V1__ShowRoutingSettings show = KINNET__V1__SHOW_ROUTING_SETTINGS__INIT;
    Kinnet__V1__AdminRequest request = REQUEST (show_routing, SHOW_ROUTING, &show);
    Kinnet__V1__AdminReply *reply = s_admin (KN_TEST_ADMIN, &request);
    s_ok (reply);
    cr_expect_eq (reply->routing->n_settings, 11);
    const Kinnet__V1__RoutingSetting *contact =
        s_setting (reply->routing, "contact.urgent");
    cr_expect_str_eq (contact->value, "2 days");
    cr_expect_str_eq (contact->default_value, "2 days");
    cr_expect_null (contact->updated_at, "never set: no updated_at");
    kinnet__v1__admin_reply__free_unpacked (reply, NULL);

    reply = s_set_routing ("rt-1", "contact.urgent", "36 hours");
    s_ok (reply);
    contact = s_setting (reply->routing, "contact.urgent");
    cr_expect_str_eq (contact->value, "36 hours");
    cr_expect (contact->updated_at && contact->updated_at->seconds > 0);
    kinnet__v1__admin_reply__free_unpacked (reply, NULL);
    //  The trail says which rule changed.
    cr_expect_eq (s_count ("SELECT count (*) FROM core.audit WHERE operation ="
                           " 'set_routing' AND basis = 'contact.urgent'"
                           " AND result = 'ok'"),
                  1);
    cr_expect_eq (
        s_count ("SELECT count (*) FROM routing.setting WHERE key = 'contact.urgent'"
                 " AND value = '36 hours'"),
        1);

    reply = s_set_routing ("rt-2", "contact.urgent", "soonish");
    s_refused (reply, KINNET__V1__ERROR_CODE__INVALID_ARGUMENT, "contact.urgent");
    kinnet__v1__admin_reply__free_unpacked (reply, NULL);
    reply = s_set_routing ("rt-3", "colour", "blue");
    s_refused (reply, KINNET__V1__ERROR_CODE__INVALID_ARGUMENT, "key");
    kinnet__v1__admin_reply__free_unpacked (reply, NULL);
    cr_expect_eq (
        s_count ("SELECT count (*) FROM routing.setting WHERE key = 'contact.urgent'"
                 " AND value = '36 hours'"),
        1);
}

Test (admin, population_figures_load_whole_or_not_at_all)
{
    Kinnet__V1__PopulationFigure figures[3] = {KINNET__V1__POPULATION_FIGURE__INIT,
                                               KINNET__V1__POPULATION_FIGURE__INIT,
                                               KINNET__V1__POPULATION_FIGURE__INIT};
    Kinnet__V1__PopulationFigure *list[3] = {&figures[0], &figures[1], &figures[2]};
    const char *districts[] = {"north", "south", "east"};
    for (int i = 0; i < 3; i++) {
        figures[i].district = (char *)districts[i];
        figures[i].year = 2024;
        figures[i].children = 1000 * (i + 1);
    }
    figures[1].year = 1800;
    Kinnet__V1__ImportPopulation op = KINNET__V1__IMPORT_POPULATION__INIT;
    op.idempotency_key = "pop-1";
    op.figures = list;
    op.n_figures = 3;
    Kinnet__V1__AdminRequest request =
        REQUEST (import_population, IMPORT_POPULATION, &op);
    Kinnet__V1__AdminReply *reply = s_admin (KN_TEST_ADMIN, &request);
    s_refused (reply, KINNET__V1__ERROR_CODE__INVALID_ARGUMENT, "figures[1].year");
    kinnet__v1__admin_reply__free_unpacked (reply, NULL);
    cr_expect_eq (s_count ("SELECT count (*) FROM core.population"), 0);

    figures[1].year = 2024;
    figures[2].children = -1;
    reply = s_admin (KN_TEST_ADMIN, &request);
    s_refused (reply, KINNET__V1__ERROR_CODE__INVALID_ARGUMENT, "figures[2].children");
    kinnet__v1__admin_reply__free_unpacked (reply, NULL);
    cr_expect_eq (s_count ("SELECT count (*) FROM core.population"), 0);

    figures[2].children = 3000;
    reply = s_admin (KN_TEST_ADMIN, &request);
    s_ok (reply);
    cr_expect_eq (reply->population_loaded->loaded, 3);
    kinnet__v1__admin_reply__free_unpacked (reply, NULL);
    //  A figure held already is replaced.
    figures[0].children = 1234;
    op.idempotency_key = "pop-2";
    op.n_figures = 1;
    reply = s_admin (KN_TEST_ADMIN, &request);
    s_ok (reply);
    kinnet__v1__admin_reply__free_unpacked (reply, NULL);

    Kinnet__V1__ShowPopulation show = KINNET__V1__SHOW_POPULATION__INIT;
    request = REQUEST (show_population, SHOW_POPULATION, &show);
    reply = s_admin (KN_TEST_ADMIN, &request);
    s_ok (reply);
    cr_assert_eq (reply->population->n_figures, 3);
    //  By district, then year.
    cr_expect_str_eq (reply->population->figures[0]->district, "east");
    cr_expect_str_eq (reply->population->figures[1]->district, "north");
    cr_expect_eq (reply->population->figures[1]->children, 1234);
    cr_expect_eq (reply->population->figures[1]->year, 2024);
    kinnet__v1__admin_reply__free_unpacked (reply, NULL);
}

//  Wait until the records of the period [from, to) the chain holds number n.
static void
s_sealed (const char *from, const char *to, int n)
{
    char sql[400];
    snprintf (sql, sizeof sql,
              "SELECT count (*) FROM core.audit_chain c JOIN core.audit a ON a.id ="
              " c.audit_id WHERE a.at >= '%s' AND a.at < '%s'",
              from, to);
    int64_t deadline = zclock_mono () + 20000;
    while (s_count (sql) < n && zclock_mono () < deadline)
        zclock_sleep (100);
    cr_assert_eq (s_count (sql), n, "the sealer did not seal %d records", n);
}

//  The whole export of [from, to) after chain position after, as agency 1, pages of
//  two: the audit ids in order into ids (n), the last page's unsealed count.
static int64_t
s_export_all (const char *from, const char *to, int64_t after, int64_t *ids, int *n,
              int64_t *last_seq)
{
    Kinnet__V1__ExportAudit export = KINNET__V1__EXPORT_AUDIT__INIT;
    export.from = (char *)from;
    export.to = (char *)to;
    export.after = after;
    export.limit = 2;
    Kinnet__V1__AdminRequest request = REQUEST (export_audit, EXPORT_AUDIT, &export);
    int64_t unsealed = 0;
    *n = 0;
    do {
        Kinnet__V1__AdminReply *reply = s_admin (1, &request);
        s_ok (reply);
        cr_assert_leq (reply->audit->n_records, 2);
        for (size_t i = 0; i < reply->audit->n_records; i++) {
            cr_assert_gt (reply->audit->records[i]->chain_seq, *last_seq,
                          "not in chain order");
            *last_seq = reply->audit->records[i]->chain_seq;
            ids[(*n)++] = reply->audit->records[i]->audit_id;
        }
        if (reply->audit->next_after)
            cr_assert_eq (reply->audit->next_after, *last_seq);
        export.after = reply->audit->next_after;
        unsealed = reply->audit->unsealed;
        kinnet__v1__admin_reply__free_unpacked (reply, NULL);
    } while (export.after);
    return unsealed;
}

//  The sealed records of [from, to) after chain position after, as the chain orders
//  them, must be ids (n) exactly.
static void
s_expect_chain (const char *from, const char *to, int64_t after, const int64_t *ids,
                int n)
{
    char sql[600];
    snprintf (sql, sizeof sql,
              "SELECT coalesce (string_agg (a.id::text, ',' ORDER BY c.seq), '')"
              " FROM core.audit_chain c JOIN core.audit a ON a.id = c.audit_id"
              " WHERE a.at >= '%s' AND a.at < '%s' AND c.seq > %lld",
              from, to, (long long)after);
    char *expected = kn_test_sql (kn_test_stack_db_url (stack), sql);
    char got[2000] = "";
    for (int i = 0; i < n; i++)
        snprintf (got + strlen (got), sizeof got - strlen (got), "%s%lld", i ? "," : "",
                  (long long)ids[i]);
    cr_expect_str_eq (got, expected ? expected : "");
    free (expected);
}

Test (admin, audit_export_is_the_sealed_chain_and_skips_nothing)
{
    const char *url = kn_test_stack_db_url (stack);
    Kinnet__V1__AdminReply *reply = s_set_role (
        KN_TEST_ADMIN, "aud", kn_test_stack_agency_id (stack, 1), "auditor", true);
    s_ok (reply);
    kinnet__v1__admin_reply__free_unpacked (reply, NULL);
    const char *from = "2001-05-01", *to = "2001-05-02";
    //  Five in the period, one either side of it.
    free (kn_test_sql (url, "INSERT INTO core.audit (at, service, operation, result)"
                            " SELECT '2001-05-01 10:00:00+00', 'test', 'early', 'ok'"
                            " FROM generate_series (1, 5);"
                            " INSERT INTO core.audit (at, service, operation, result)"
                            " VALUES ('2001-04-30 23:59:59+00', 'test', 'before', 'ok'),"
                            " ('2001-05-02 00:00:00+00', 'test', 'after', 'ok')"));
    s_sealed (from, to, 5);

    //  A writer whose row takes an id now and commits late: the rows after it commit
    //  first but cannot be sealed before it.
    PGconn *late = PQconnectdb (url);
    cr_assert_eq (PQstatus (late), CONNECTION_OK);
    PQclear (PQexec (late, "BEGIN"));
    PGresult *result =
        PQexec (late, "INSERT INTO core.audit (at, service, operation, result)"
                      " VALUES ('2001-05-01 11:00:00+00', 'test', 'late', 'ok')"
                      " RETURNING id");
    cr_assert_eq (PQresultStatus (result), PGRES_TUPLES_OK, "%s", PQerrorMessage (late));
    int64_t late_id = atoll (PQgetvalue (result, 0, 0));
    PQclear (result);
    free (kn_test_sql (url, "INSERT INTO core.audit (at, service, operation, result)"
                            " SELECT '2001-05-01 12:00:00+00', 'test', 'later', 'ok'"
                            " FROM generate_series (1, 3)"));
    zclock_sleep (600); //  the sealer runs every 200 ms in tests: it had its chance

    int64_t ids[64], seq = 0;
    int n = 0;
    int64_t unsealed = s_export_all (from, to, 0, ids, &n, &seq);
    cr_expect_eq (n, 5, "only sealed records are exported");
    s_expect_chain (from, to, 0, ids, n);
    cr_expect_eq (unsealed, 3, "the committed rows not sealed yet are counted");

    //  The late writer commits: everything is sealed, and the export from where the
    //  last one stopped holds the late row too.
    PQclear (PQexec (late, "COMMIT"));
    PQfinish (late);
    s_sealed (from, to, 9);
    int64_t more[64];
    int m = 0;
    int64_t after = seq;
    unsealed = s_export_all (from, to, after, more, &m, &seq);
    cr_expect_eq (m, 4);
    s_expect_chain (from, to, after, more, m);
    cr_expect_eq (unsealed, 0);
    bool found = false;
    for (int i = 0; i < m; i++)
        found |= more[i] == late_id;
    cr_expect (found, "the late record was skipped");

    //  A page too large for a message is refused, not sent: the worker stays.
    free (kn_test_sql (url, "INSERT INTO core.audit (at, service, operation, basis,"
                            " result) SELECT '2002-01-01 10:00:00+00', 'test', 'big',"
                            " repeat ('x', 700), 'ok' FROM generate_series (1, 2000)"));
    s_sealed ("2002-01-01", "2002-01-02", 2000);
    Kinnet__V1__ExportAudit export = KINNET__V1__EXPORT_AUDIT__INIT;
    export.from = "2002-01-01";
    export.to = "2002-01-02";
    export.limit = 2000;
    Kinnet__V1__AdminRequest request = REQUEST (export_audit, EXPORT_AUDIT, &export);
    reply = s_admin (1, &request);
    s_refused (reply, KINNET__V1__ERROR_CODE__TOO_LARGE, "");
    kinnet__v1__admin_reply__free_unpacked (reply, NULL);
    export.limit = 100;
    reply = s_admin (1, &request);
    s_ok (reply);
    cr_expect_eq (reply->audit->n_records, 100);
    kinnet__v1__admin_reply__free_unpacked (reply, NULL);
    export.limit = 2001;
    reply = s_admin (1, &request);
    s_refused (reply, KINNET__V1__ERROR_CODE__INVALID_ARGUMENT, "limit");
    kinnet__v1__admin_reply__free_unpacked (reply, NULL);
}

Test (admin, an_import_report_lists_at_most_1000_ignored_records)
{
    //  1,100 organizations none of whose services maps to a need: each is ignored.
    size_t cap = 1100 * 64 + 16, len = 0;
    char *hsds = malloc (cap);
    len += (size_t)snprintf (hsds + len, cap - len, "[");
    for (int i = 0; i < 1100; i++)
        len += (size_t)snprintf (hsds + len, cap - len,
                                 "%s{\"id\": \"org-%d\", \"name\": \"Org %d\"}",
                                 i ? "," : "", i, i);
    snprintf (hsds + len, cap - len, "]");
    Kinnet__V1__AdminReply *reply = s_import ("imp-many", hsds, "", true);
    s_ok (reply);
    cr_expect_eq (reply->import_report->n_ignored, 1000);
    cr_expect_geq (reply->import_report->totals->ignored, 1100, "totals count them all");
    kinnet__v1__admin_reply__free_unpacked (reply, NULL);
    free (hsds);
}
