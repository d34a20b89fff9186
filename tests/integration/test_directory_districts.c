/*  The districts of the directory against a real PostgreSQL (issue 20): an import
    refuses district codes that are not registered districts, naming every unknown
    code at once and leaving everything as it was; a district is created or changed
    with its child-protection lead; the list shows every district, registered or
    only served by an agency, with how many agencies serve it. Built on
    tests/data/hsds/directory.json, whose mapping names central, north, south and
    east (the fixture registers them). */
#include <criterion/criterion.h>
#include <jansson.h>
#include <stdlib.h>
#include <string.h>

#include "directory_fixture.h"
#include "kn_agency.h"
#include "kn_directory.h"
#include "kn_directory_import.h"
#include "kn_directory_mapping.h"
#include "kn_test.h"

static void
s_setup (void)
{
    s_fixture_setup ("/tmp/kn-directory-districts-XXXXXX");
}

static void
s_teardown (void)
{
    s_fixture_teardown ();
}

TestSuite (directory_districts, .init = s_setup, .fini = s_teardown, .timeout = 120);

//  Import directory.json with the mapping at mapping_path (NULL: mapping.json).
static json_t *
s_import (const char *mapping_path, bool dry_run, kn_error_t *err)
{
    char *file = s_data ("directory.json");
    json_t *report = s_import_with (file, mapping_path, dry_run, err);
    free (file);
    return report;
}

//  The district code of list (NULL when absent).
static json_t *
s_district (json_t *list, const char *code)
{
    size_t index;
    json_t *item;
    json_array_foreach (
        list, index, item) if (strcmp (json_string_value (json_object_get (item, "code")),
                                       code) == 0) return item;
    return NULL;
}

//  A mistyped code would make an agency unreachable for referrals in the district
//  it means: the import is refused, every unknown code named, nothing written.
Test (directory_districts, unknown_codes_are_refused_all_at_once)
{
    char path[600];
    snprintf (path, sizeof path, "%s/mapping.json", data);
    json_error_t error;
    json_t *map = json_load_file (path, 0, &error);
    cr_assert (map, "%s", error.text);
    json_t *districts = json_object_get (map, "districts");
    json_object_set_new (districts, "North Riverside", json_string ("nroth"));
    json_object_set_new (districts, "Riverside (city-wide)",
                         json_pack ("[s,s,s]", "central", "nroth", "sotuh"));
    json_object_set_new (json_object_get (map, "organizations"), CARERS,
                         json_pack ("{s:s}", "district", "westt"));
    snprintf (path, sizeof path, "%s/typo.json", dir);
    cr_assert_eq (json_dump_file (map, path, 0), 0);
    json_decref (map);

    for (int dry_run = 0; dry_run <= 1; dry_run++) {
        kn_error_t err;
        json_t *report = s_import (path, dry_run, &err);
        cr_expect_null (report, "imported with unknown districts");
        json_decref (report);
        cr_expect_eq (err.code, KN_E_INVALID_ARGUMENT, "%s", err.message);
        cr_expect_str_eq (err.field, "mapping.districts.North Riverside");
        //  Each unknown code once, whichever member gives it.
        cr_expect (strstr (err.message, "3 district codes are not registered"), "%s",
                   err.message);
        cr_expect (strstr (err.message, "'nroth'") && strstr (err.message, "'sotuh'") &&
                       strstr (err.message, "'westt'"),
                   "%s", err.message);
        cr_expect (strstr (err.message, "kinnet admin directory district set"), "%s",
                   err.message);
    }
    char *agencies = s_sql ("SELECT count(*) FROM core.agency");
    cr_expect_str_eq (agencies, "0", "nothing written");
    free (agencies);

    //  Registered, the same mapping imports.
    kn_error_t err;
    const char *codes[] = {"nroth", "sotuh", "westt"};
    for (size_t i = 0; i < 3; i++)
        json_decref (kn_directory_district_set (db, codes[i], NULL, NULL, &err));
    json_t *report = s_import (path, false, &err);
    cr_expect (report, "%s (%s)", err.message, err.field);
    json_decref (report);
    char *home =
        s_sql ("SELECT district FROM core.agency WHERE directory_id = '" CARERS "'");
    cr_expect_str_eq (home, "westt");
    free (home);
}

Test (directory_districts, districts_and_their_lead)
{
    kn_error_t err;
    json_decref (s_import (NULL, false, &err));
    char social_care[KN_UUID_STR];
    s_agency_id (SOCIAL_CARE, social_care);
    json_t *report = kn_directory_district_set (db, "west", "West Riverside", NULL, &err);
    cr_assert (report, "%s", err.message);
    cr_expect_str_eq (json_string_value (json_object_get (report, "result")), "added");
    json_decref (report);
    report = kn_directory_district_set (db, "north", "North Riverside", NULL, &err);
    cr_expect_str_eq (json_string_value (json_object_get (report, "result")), "changed");
    json_decref (report);
    report = kn_directory_district_set (db, "north", NULL, social_care, &err);
    cr_expect_str_eq (json_string_value (json_object_get (report, "result")), "changed");
    cr_expect_str_eq (
        json_string_value (json_array_get (json_object_get (report, "changes"), 0)),
        "child_protection_lead");
    json_decref (report);
    report =
        kn_directory_district_set (db, "north", "North Riverside", social_care, &err);
    cr_expect_str_eq (json_string_value (json_object_get (report, "result")),
                      "unchanged");
    json_decref (report);

    json_t *list = kn_directory_district_list (db, &err);
    cr_assert (list, "%s", err.message);
    cr_assert_eq (json_array_size (list), 5, "central, east, north, south, west");
    json_t *north = s_district (list, "north");
    cr_assert (north);
    cr_expect_str_eq (
        json_string_value (json_object_get (north, "child_protection_lead")),
        social_care);
    cr_expect_str_eq (json_string_value (json_object_get (north, "lead_name")),
                      "Riverside City Council Children's Social Care");
    //  Home or catchment: school, social care, Safe Haven, New Roots.
    cr_expect_eq (json_array_size (json_object_get (north, "agencies")), 4);
    cr_expect (json_is_true (json_object_get (north, "registered")));
    json_t *west = s_district (list, "west");
    cr_expect (json_is_null (json_object_get (west, "child_protection_lead")));
    cr_expect_str_eq (json_string_value (json_object_get (west, "name")),
                      "West Riverside");
    cr_expect_eq (json_array_size (json_object_get (west, "agencies")), 0);
    json_decref (list);

    cr_expect_null (kn_directory_district_set (
        db, "north", NULL, "00000000-0000-4000-8000-000000000009", &err));
    cr_expect_eq (err.code, KN_E_NOT_FOUND);
    cr_expect_str_eq (err.field, "lead");
    cr_expect_null (kn_directory_district_set (db, "", NULL, NULL, &err));
    cr_expect_str_eq (err.field, "code");
    report = kn_directory_district_set (db, "north", NULL, "", &err);
    cr_expect_str_eq (
        json_string_value (json_array_get (json_object_get (report, "changes"), 0)),
        "child_protection_lead");
    json_decref (report);
    char *lead =
        s_sql ("SELECT coalesce(child_protection_lead::text, 'none') FROM core.district"
               " WHERE code = 'north'");
    cr_expect_str_eq (lead, "none");
    free (lead);
}

//  An agency put in a district nobody registered before migration 0048 (whose keys
//  then stay NOT VALID) still serves it: the list shows the district, unregistered,
//  with its agency, not "no districts", so the operator sees what to register.
Test (directory_districts, the_list_shows_districts_only_agencies_serve)
{
    free (s_sql ("DELETE FROM core.district RETURNING 1"));
    kn_error_t err;
    json_t *list = kn_directory_district_list (db, &err);
    cr_assert (list, "%s", err.message);
    cr_expect_eq (json_array_size (list), 0);
    json_decref (list);
    //  Rows as an older Kinnet wrote them: the foreign keys' triggers do not fire.
    const char *harbour = "00000000-0000-4000-8000-0000000000b1";
    free (s_sql ("SET session_replication_role = replica;"
                 " INSERT INTO core.agency (id, name, sector, district) VALUES"
                 "  ('00000000-0000-4000-8000-0000000000b1', 'Harbour Family Hub',"
                 "   'ngo_community', 'harbour');"
                 " INSERT INTO core.agency_district (agency_id, district)"
                 "  SELECT id, 'quay' FROM core.agency RETURNING 1"));
    list = kn_directory_district_list (db, &err);
    cr_assert (list, "%s", err.message);
    cr_assert_eq (json_array_size (list), 2, "harbour (home) and quay (catchment)");
    for (size_t i = 0; i < 2; i++) {
        json_t *district = json_array_get (list, i);
        cr_expect_str_eq (json_string_value (json_object_get (district, "code")),
                          i ? "quay" : "harbour");
        cr_expect (json_is_false (json_object_get (district, "registered")));
        cr_expect (json_is_null (json_object_get (district, "name")));
        json_t *agencies = json_object_get (district, "agencies");
        cr_expect_eq (json_array_size (agencies), 1);
        cr_expect_str_eq (json_string_value (json_array_get (agencies, 0)), harbour);
    }
    json_decref (list);
    //  Revoked, it serves nothing.
    cr_assert_eq (kn_agency_revoke (db, harbour, &err), 0, "%s", err.message);
    list = kn_directory_district_list (db, &err);
    cr_expect_eq (json_array_size (list), 0);
    json_decref (list);
}

//  Routing reaches an agency only through its district: kn_agency_add (as the admin
//  service's registration) refuses a code nobody registered, naming `district set`,
//  and writes nothing; a registered code is accepted.
Test (directory_districts, an_agency_is_added_only_in_a_registered_district)
{
    kn_error_t err;
    zcert_t *cert = zcert_new ();
    char id[KN_UUID_STR];
    cr_assert_eq (kn_agency_add (db, "Typo Hub", "ngo_community", "nrth",
                                 zcert_public_txt (cert), id, &err),
                  -1);
    cr_expect_eq (err.code, KN_E_INVALID_ARGUMENT);
    cr_expect_str_eq (err.field, "district");
    cr_expect (strstr (err.message, "'nrth'") &&
                   strstr (err.message, "district set nrth"),
               "%s", err.message);
    cr_expect_eq (kn_test_count (url, "SELECT count (*) FROM core.agency"), 0);
    cr_expect_eq (kn_test_count (url, "SELECT count (*) FROM core.agency_key"), 0);
    cr_assert_eq (kn_agency_add (db, "Typo Hub", "ngo_community", "north",
                                 zcert_public_txt (cert), id, &err),
                  0, "%s", err.message);
    zcert_destroy (&cert);
}

//  A first administrator (or, replace, its replacement) in district partnership.
static void
s_administrator (bool replace)
{
    kn_error_t err;
    zcert_t *cert = zcert_new ();
    char id[KN_UUID_STR];
    int rc = (replace ? kn_agency_replace_administrators : kn_agency_init_administrator) (
        db, "Partnership administration", "local_authority", "partnership",
        zcert_public_txt (cert), id, &err);
    cr_assert_eq (rc, 0, "%s", err.message);
    zcert_destroy (&cert);
}

//  The bootstrap makes the first administrator before anyone could register a
//  district: its district is registered with it (no name), once.
Test (directory_districts, the_first_administrator_registers_its_district)
{
    s_administrator (false);
    cr_expect_eq (kn_test_count (url, "SELECT count (*) FROM core.district"
                                      " WHERE code = 'partnership' AND name IS NULL"),
                  1);
    //  Its replacement, in a district registered already, changes nothing there.
    s_administrator (true);
    cr_expect_eq (kn_test_count (url, "SELECT count (*) FROM core.district"
                                      " WHERE code = 'partnership'"),
                  1);
}
