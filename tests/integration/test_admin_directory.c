/*  The admin service's directory, through the real broker with CURVE: an HSDS
    import (dry run, replay, bad records and mappings named by path, at most 1,000
    ignored records listed), the listing, a manual change, the districts. */
#include "admin_fixture.h"

TestSuite (admin_directory, .init = s_fixture_setup, .fini = s_fixture_teardown,
           .timeout = 120);

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

//  tests/data/hsds/name (caller frees).
static char *
s_data (const char *name)
{
    char path[600];
    snprintf (path, sizeof path, "%s/hsds/%s", kn_test_data_dir (), name);
    char *text = kn_test_read_file (path);
    cr_assert (text, "cannot read %s", path);
    return text;
}

Test (admin_directory, the_directory_is_imported_shown_and_changed)
{
    char *hsds = s_data ("directory.json");
    char *mapping = s_data ("mapping.json");
    int before = s_count ("SELECT count (*) FROM core.agency");
    //  The mapping's district besides the stack's north, south and east.
    free (kn_test_sql (kn_test_stack_db_url (stack),
                       "INSERT INTO core.district (code) VALUES ('central')"));

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

Test (admin_directory, an_import_report_lists_at_most_1000_ignored_records)
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
