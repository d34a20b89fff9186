/*  Every shape HSDS 3.0 publishes, and several documents read as one directory,
    without PostgreSQL. The fixtures are written here from the HSDS 3.0 schema and
    API reference (schema/organization.json, service.json, service_at_location.json,
    location.json, service_capacity.json; the list pages' total_items, total_pages,
    page_number, size, first_page, last_page, empty and contents): each case is one
    or more documents, and what the reader must make of them, as in test_hsds.c:
    every organization on one line, the paths of what it ignored, or the error with
    the path of the record at fault. */
#include <criterion/criterion.h>
#include <string.h>

#include "hsds_table.h"
#include "kn_hsds.h"
#include "kn_hsds_shape.h"
#include "kn_test.h"

static void
s_fini (void)
{
    kn_test_no_leaks ();
}

TestSuite (hsds_shapes, .fini = s_fini);

//  Quotes are written ' and become ".
#define MAP                                                                              \
    "{'needs': {'HSG': 'housing_need', 'CNS': 'mental_health_need'},"                    \
    " 'sectors': {'VCS': 'ngo_community'},"                                              \
    " 'districts': {'North side': 'north', 'area-s': 'south'},"                          \
    " 'capacity_units': ['families']}"

//  An organization as the API's list and detail endpoints send it: every direct
//  property, some of them null.
#define ORG_MEMBERS(id)                                                                  \
    "'id': '" id "', 'name': 'Org " id "', 'description': 'What " id " does',"           \
    " 'email': null, 'website': 'http://example.org/" id "', 'logo': null,"              \
    " 'legal_status': 'Charity', 'parent_organization_id': null"
#define ORG(id)                "{" ORG_MEMBERS (id) "}"
#define ORG_WITH(id, services) "{" ORG_MEMBERS (id) ", 'services': [" services "]}"
//  A service's required members (id, name, status) and a term of the mapping.
#define SERVICE(id, status, members)                                                     \
    "{'id': '" id "', 'name': 'Service " id                                              \
    "', 'description': 'Help', 'status': '" status "', 'attributes': [{'id': 'a-" id     \
    "', 'taxonomy_term': {'id': 't1',"                                                   \
    " 'code': 'HSG', 'name': 'Housing'}}]" members "}"
#define OF(org)    ", 'organization': " org
#define OF_ID(id)  ", 'organization_id': '" id "'"
#define AREA(name) ", 'service_areas': [{'id': 'sa-" name "', 'name': '" name "'}]"
#define FAMILIES(n)                                                                      \
    ", 'capacities': [{'id': 'c1', 'unit': {'id': 'u1', 'name': 'families'},"            \
    " 'available': 1, 'maximum': " #n ", 'updated': '2024-09-25T14:23:06.5+01:00'}]"
//  A location with what Kinnet does not read: an address is not a catchment.
#define LOCATION                                                                         \
    "{'id': 'loc1', 'location_type': 'physical', 'name': 'Civic Centre',"                \
    " 'latitude': 51.5, 'longitude': -0.1, 'addresses': [{'id': 'ad1',"                  \
    " 'address_1': '1 Main Street', 'city': 'North side', 'postal_code': 'AB1 2CD',"     \
    " 'country': 'GB', 'address_type': 'physical'}]}"
#define AT(id, service, members)                                                         \
    "{'id': '" id "', 'description': 'At the centre', 'location': " LOCATION             \
    ", 'service': " service members "}"
#define PAGE(number, pages, items)                                                       \
    "{'total_items': 9, 'total_pages': " #pages ", 'page_number': " #number              \
    ", 'size': 3, 'first_page': " FIRST_##number                                         \
        ", 'last_page': " LAST_##number##_##pages                                        \
        ", 'empty': false, 'contents': [" items "]}"
#define FIRST_1  "true"
#define FIRST_2  "false"
#define LAST_1_1 "true"
#define LAST_1_2 "false"
#define LAST_2_2 "true"

//  What an organization is when read: id, sector, needs, districts, capacity,
//  active/mapped services (as test_hsds.c, languages and interpreters aside).
#define LINE(id, sector, needs, districts, capacity, active)                             \
    id " " sector " needs=" needs " districts=" districts " capacity=" capacity          \
       " active=" active "\n"

typedef struct {
    const char *name;
    const char *docs[4];  // NULL-ended; JSON text with ' as "
    const char *expected; // the organizations; NULL: the read fails
    const char *ignored;  // paths of the ignored records, "|" between them
    const char *field;    // the error's path when the read fails
    const char *message;  // a part of the error's message
} shape_case_t;

static const shape_case_t s_cases[] = {
    //  One record alone: the API's /organizations/{id}, /services/{id},
    //  /service_at_locations/{id}
    {"an organization with its services",
     {ORG_WITH ("o1",
                SERVICE ("s1", "active", AREA ("North side") FAMILIES (4)) "," SERVICE (
                    "s2", "inactive", AREA ("area-s")))},
     LINE ("o1", "-", "6", "north", "4", "1/2"),
     "",
     NULL,
     NULL},
    {"an organization without services, as organization_simple: read, offering nothing",
     {ORG ("o1")},
     LINE ("o1", "-", "", "", "none", "0/0"),
     "",
     NULL,
     NULL},
    {"a service carrying its organization",
     {SERVICE ("s1", "active", AREA ("North side") OF (ORG ("o1")))},
     LINE ("o1", "-", "6", "north", "none", "1/1"),
     "",
     NULL,
     NULL},
    {"a service_at_location: its service and organization, and the areas of the place",
     {AT ("sal1", SERVICE ("s1", "active", OF (ORG ("o1"))), AREA ("area-s"))},
     LINE ("o1", "-", "6", "south", "none", "1/1"),
     "",
     NULL,
     NULL},
    {"a service's own service_at_locations give areas too",
     {SERVICE ("s1", "active",
               OF (ORG ("o1")) ", 'service_at_locations': [" AT (
                   "sal1", "null", AREA ("North side")) "]")},
     LINE ("o1", "-", "6", "north", "none", "1/1"),
     "",
     NULL,
     NULL},
    {"a service_at_location without its service object is reported, not refused",
     {"[{'id': 'sal1', 'service_id': 's1', 'location_id': 'loc1'}]"},
     "",
     "service_at_locations[0]",
     NULL,
     NULL},

    //  Arrays and list pages: each record told by its own members
    {"an API page of organizations",
     {PAGE (1, 1, ORG ("o1") "," ORG ("o2"))},
     LINE ("o1", "-", "", "", "none", "0/0") LINE ("o2", "-", "", "", "none", "0/0"),
     "",
     NULL,
     NULL},
    {"an API page of services, each with its organization",
     {PAGE (1, 1,
            SERVICE ("s1", "active", OF (ORG ("o1"))) "," SERVICE (
                "s2", "active", FAMILIES (3) OF (ORG ("o1"))))},
     LINE ("o1", "-", "6", "", "3", "2/2"),
     "",
     NULL,
     NULL},
    {"an API page of service_at_locations",
     {PAGE (1, 1, AT ("sal1", SERVICE ("s1", "active", OF (ORG ("o1"))), ""))},
     LINE ("o1", "-", "6", "", "none", "1/1"),
     "",
     NULL,
     NULL},
    {"an array of service_at_locations is not taken for organizations",
     {"[" AT ("sal1", SERVICE ("s1", "active", OF (ORG ("o1"))), "") "]"},
     LINE ("o1", "-", "6", "", "none", "1/1"),
     "",
     NULL,
     NULL},
    {"a service with an organization's optional member is still a service",
     {"[" SERVICE ("s1", "active",
                   OF_ID ("o1") ", 'website': 'http://x'") "," ORG ("o1") "]"},
     LINE ("o1", "-", "6", "", "none", "1/1"),
     "",
     NULL,
     NULL},
    {"an organization with a service's optional member is still an organization",
     {"[{" ORG_MEMBERS ("o1") ", 'services': [], 'program': null}]"},
     LINE ("o1", "-", "", "", "none", "0/0"),
     "",
     NULL,
     NULL},
    {"an empty page",
     {"{'total_items': 0, 'empty': true, 'contents': []}"},
     "",
     "",
     NULL,
     NULL},
    {"a service may come before the organization it names by organization_id",
     {"[" SERVICE ("s1", "active", OF_ID ("o1")) "," ORG ("o1") "]"},
     LINE ("o1", "-", "6", "", "none", "1/1"),
     "",
     NULL,
     NULL},
    {"one service at two locations counts once, with the areas of both",
     {PAGE (1, 1,
            AT ("sal1", SERVICE ("s1", "active", FAMILIES (5) OF (ORG ("o1"))),
                AREA ("North side")) "," AT ("sal2",
                                             SERVICE ("s1", "active",
                                                      FAMILIES (5) OF (ORG ("o1"))),
                                             AREA ("area-s")))},
     LINE ("o1", "-", "6", "north,south", "5", "1/1"),
     "",
     NULL,
     NULL},
    {"an organization's own record says its sector though a service's copy came first",
     {"[" SERVICE ("s1", "active", OF (ORG ("o1"))) ", {" ORG_MEMBERS (
         "o1") ", 'attributes': [{'taxonomy_term': {'code': 'VCS'}}]}]"},
     LINE ("o1", "ngo_community", "6", "", "none", "1/1"),
     "",
     NULL,
     NULL},
    {"what a repeated service cannot map is reported once",
     {PAGE (1, 1,
            AT ("sal1", SERVICE ("s1", "active", AREA ("Atlantis") OF (ORG ("o1"))),
                "") "," AT ("sal2",
                            SERVICE ("s1", "active", AREA ("Atlantis") OF (ORG ("o1"))),
                            ""))},
     LINE ("o1", "-", "6", "", "none", "1/1"),
     "contents[0].service.service_areas[0]",
     NULL,
     NULL},

    //  Several documents, one directory
    {"a service on one page, its organization on another",
     {PAGE (1, 2, SERVICE ("s1", "active", OF_ID ("o1") FAMILIES (2))),
      PAGE (2, 2, ORG ("o1"))},
     LINE ("o1", "-", "6", "", "2", "1/1"),
     "",
     NULL,
     NULL},
    {"an organization's services spread over pages add up; pages in any order",
     {PAGE (2, 2, SERVICE ("s2", "active", OF_ID ("o1") FAMILIES (3) AREA ("area-s"))),
      PAGE (1, 2,
            ORG_WITH ("o1", SERVICE ("s1", "active", FAMILIES (2) AREA ("North side"))))},
     LINE ("o1", "-", "6", "north,south", "5", "2/2"),
     "",
     NULL,
     NULL},
    {"an organization given again on another page is the same organization",
     {PAGE (1, 2, ORG_WITH ("o1", SERVICE ("s1", "active", ""))),
      PAGE (2, 2, ORG_WITH ("o1", SERVICE ("s1", "active", "")))},
     LINE ("o1", "-", "6", "", "none", "1/1"),
     "",
     NULL,
     NULL},
    {"every shape at once",
     {ORG ("o1"), SERVICE ("s1", "active", OF (ORG ("o2"))),
      AT ("sal1", SERVICE ("s2", "active", OF_ID ("o1")), ""),
      "{'organizations': [" ORG ("o3") "], 'services': [" SERVICE ("s3", "active",
                                                                   OF_ID ("o3")) "]}"},
     LINE ("o1", "-", "6", "", "none", "1/1") LINE ("o2", "-", "6", "", "none", "1/1")
         LINE ("o3", "-", "6", "", "none", "1/1"),
     "",
     NULL,
     NULL},
    {"ignored paths name the document",
     {ORG ("o1"), SERVICE ("s1", "active", AREA ("Atlantis") OF_ID ("o1"))},
     NULL,
     "hsds[1].service.service_areas[0]",
     NULL,
     NULL},

    //  Not a record Kinnet reads: the path, what was found, what is accepted
    {"an empty object",
     {"{}"},
     NULL,
     NULL,
     "",
     "not an HSDS 3.0 document: an empty object"},
    {"a location alone",
     {"{'id': 'loc1', 'location_type': 'physical', 'name': 'Centre'}"},
     NULL,
     NULL,
     "",
     "a location (it has 'location_type'), not a record Kinnet reads"},
    {"a page of taxonomy terms",
     {PAGE (1, 1, "{'id': 't1', 'code': 'HSG', 'name': 'Housing', 'parent_id': null}")},
     NULL,
     NULL,
     "contents[0]",
     "a taxonomy term (it has 'code', 'parent_id'), not a record Kinnet reads: Kinnet "
     "reads an organization, a service or a service_at_location"},
    {"a record with members of two kinds",
     {"[" ORG ("o1") ", {'id': 'x', 'name': 'X', 'status': 'active', 'services': []}]"},
     NULL,
     NULL,
     "[1]",
     "members of a service ('status') and of an organization ('services'): Kinnet reads"},
    {"a record that is not an object",
     {"[" ORG ("o1") ", 42]"},
     NULL,
     NULL,
     "[1]",
     "a record must be an object"},
    {"contents that is not an array",
     {"{'contents': {}}"},
     NULL,
     NULL,
     "contents",
     "'contents' must be an array (found an object)"},
    {"two names for one organization",
     {"[" SERVICE ("s1", "active", OF (ORG ("o1"))) ", {'id': 'o1', 'name': 'Other'}]"},
     NULL,
     NULL,
     "organizations[1].name",
     "the name is 'Other' here but 'Org o1' at services[0].organization"},
    {"one service given for two organizations",
     {SERVICE ("s1", "active", OF (ORG ("o1"))),
      SERVICE ("s1", "active", OF (ORG ("o2")))},
     NULL,
     NULL,
     "hsds[1].service",
     "service 's1' is given for organization 'o1' at hsds[0].service"},
    {"one service active on one page, closed on another",
     {SERVICE ("s1", "active", OF (ORG ("o1"))),
      SERVICE ("s1", "inactive", OF (ORG ("o1")))},
     NULL,
     NULL,
     "hsds[1].service.status",
     "service 's1' is not active here but active at hsds[0].service"},
    {"a service in one organization's list naming another",
     {ORG_WITH ("o1", SERVICE ("s1", "active", OF_ID ("o2")))},
     NULL,
     NULL,
     "organization.services[0].organization_id",
     "'organization_id' is 'o2', not its"},
    {"an organization twice in one document",
     {PAGE (1, 1, ORG ("o1") "," ORG ("o1"))},
     NULL,
     NULL,
     "contents[1].id",
     "given twice (first at contents[0])"},
    {"a service naming an organization no document gives",
     {PAGE (1, 2, ORG ("o1")), PAGE (2, 2, SERVICE ("s1", "active", OF_ID ("o9")))},
     NULL,
     NULL,
     "hsds[1].contents[0].organization",
     "'o9' is none"},
    {"a service naming no organization at all",
     {"{'services': [{'id': 's1', 'name': 'S', 'status': 'active'}]}"},
     NULL,
     NULL,
     "services[0].organization",
     "'organization' is required"},
    {"a capacity with only the tabular form's unit_id",
     {SERVICE ("s1", "active",
               OF (ORG ("o1")) ", 'capacities': [{'id': 'c1', 'unit_id': 'u1', "
                               "'available': 2}]")},
     NULL,
     NULL,
     "service.capacities[0].unit",
     "found only the tabular form's unit_id"},
    {"a document that is not JSON names its index",
     {ORG ("o1"), "{'id': "},
     NULL,
     NULL,
     "hsds[1]",
     "invalid JSON at line 1"},
};

//  -------------------------------------------------------------------------
//  Helpers

//  text with ' as ". Caller frees.
static char *
s_text (const char *spec)
{
    char *text = strdup (spec);
    for (char *c = text; *c; c++)
        if (*c == '\'')
            *c = '"';
    return text;
}

static void
s_summary (const kn_hsds_t *hsds, char *out, size_t size)
{
    *out = '\0';
    for (size_t i = 0; i < kn_hsds_size (hsds); i++) {
        const kn_hsds_org_t *org = kn_hsds_get (hsds, i);
        const kn_hsds_offer_t *offer = kn_hsds_offer (org);
        char line[200];
        snprintf (line, sizeof line, "%s %s needs=", org->id,
                  *org->sector ? org->sector : "-");
        s_append (out, size, line);
        const char *comma = "";
        for (int need = 1; need <= 100; need++) {
            if (kn_directory_needs_has (&offer->needs, need)) {
                snprintf (line, sizeof line, "%s%d", comma, need);
                s_append (out, size, line);
                comma = ",";
            }
        }
        s_append (out, size, " districts=");
        comma = "";
        for (const char *code = zlistx_first (offer->districts); code;
             code = zlistx_next (offer->districts)) {
            s_append (out, size, comma);
            s_append (out, size, code);
            comma = ",";
        }
        char capacity[24] = "none";
        if (offer->has_capacity)
            snprintf (capacity, sizeof capacity, "%lld", (long long)offer->capacity);
        snprintf (line, sizeof line, " capacity=%s active=%d/%d\n", capacity,
                  org->active_count, org->mapped_count);
        s_append (out, size, line);
    }
}

//  -------------------------------------------------------------------------
//  The table

Test (hsds_shapes, table)
{
    char *map = s_text (MAP);
    kn_error_t err;
    kn_directory_mapping_t *mapping = kn_directory_mapping_parse (map, &err);
    free (map);
    cr_assert (mapping, "mapping: %s (%s)", err.message, err.field);
    for (size_t i = 0; i < sizeof s_cases / sizeof s_cases[0]; i++) {
        const shape_case_t *c = &s_cases[i];
        char *texts[4];
        size_t lens[4], count = 0;
        for (; count < 4 && c->docs[count]; count++) {
            texts[count] = s_text (c->docs[count]);
            lens[count] = strlen (texts[count]);
        }
        kn_error_clear (&err);
        kn_hsds_t *hsds = kn_hsds_parse_all ((const char *const *)texts, lens, count,
                                             mapping, NULL, 0, &err);
        bool fails = !c->expected && !c->ignored;
        static char got[4096];
        if (fails)
            s_expect_refused (c->name, hsds, &err, c->field, c->message);
        else
            cr_expect (hsds, "case \"%s\": %s (%s)", c->name, err.message, err.field);
        if (hsds && c->expected) {
            s_summary (hsds, got, sizeof got);
            cr_expect_str_eq (got, c->expected, "case \"%s\":\n%s", c->name, got);
        }
        if (hsds && c->ignored) {
            s_ignored (hsds, got, sizeof got);
            cr_expect_str_eq (got, c->ignored, "case \"%s\": ignored %s", c->name, got);
        }
        kn_hsds_destroy (&hsds);
        for (size_t d = 0; d < count; d++)
            free (texts[d]);
    }
    kn_directory_mapping_destroy (&mapping);
}
