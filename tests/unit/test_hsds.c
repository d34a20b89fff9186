/*  kn_hsds as a table, without PostgreSQL: each case is an HSDS document (inline, or
    a file of tests/data/hsds), a mapping, and what the reader must make of it:
    every organization in Kinnet's words on one line, the records it read but did
    not use, or the error with the path of the record at fault. */
#include <criterion/criterion.h>
#include <string.h>

#include "hsds_table.h"
#include "kn_hsds.h"
#include "kn_test.h"

static void
s_fini (void)
{
    kn_test_no_leaks ();
}

TestSuite (hsds, .fini = s_fini);

//  The districts Kinnet knows in every case (core.district): by code or by name.
static const kn_hsds_district_t s_known[] = {{"east", "Riverside East"},
                                             {"harbour", "Old Town"},
                                             {"old-town", "Harbour"},
                                             {"west", NULL}};

//  The mapping of the inline cases. Quotes are written ' and become ".
#define MAP                                                                              \
    "{'needs': {'HSG': 'housing_need', 'Debt advice': 'income_poverty',"                 \
    "  'HV': ['physical_health', 'early_years_development']},"                           \
    " 'interpreter_terms': ['INT'],"                                                     \
    " 'sectors': {'VCS': 'ngo_community', 'NHS': 'health'},"                             \
    " 'districts': {'North side': 'north', 'City-wide': ['north', 'south'],"             \
    "   'area-9': 'south'},"                                                             \
    " 'languages': {'Somali': 'so'},"                                                    \
    " 'capacity_units': ['families', 'places'],"                                         \
    " 'organizations': {'o2': {'sector': 'housing', 'district': 'south'}}}"

#define DATA_MAPPING "@mapping.json" // tests/data/hsds/mapping.json

//  One service: the arguments are the text of its members after id, name, status.
#define ORG(id, services)                                                                \
    "{'id': '" id "', 'name': 'Org " id "', 'services': [" services "]}"
#define SERVICE(id, status, members)                                                     \
    "{'id': '" id "', 'name': 'Service " id "', 'status': '" status "'" members "}"
#define TERMS(items) ", 'taxonomy_terms': [" items "]"
#define AREAS(items) ", 'service_areas': [" items "]"
#define LANGS(items) ", 'languages': [" items "]"
#define CAPS(items)  ", 'capacities': [" items "]"
#define HOUSING      TERMS ("{'code': 'HSG'}")

typedef struct {
    const char *name;
    const char *mapping;  // JSON text, or "@file" of tests/data/hsds
    const char *input;    // JSON text, or "@file" of tests/data/hsds
    const char *expected; // s_summary of the organizations; NULL: the read fails
    const char *ignored;  // paths of the ignored records, "|" between them
    const char *field;    // the error's path when the read fails
    const char *message;  // a part of the error's message
} hsds_case_t;

//  Every organization of tests/data/hsds/directory.json, as tests/integration/
//  test_directory.c expects it in the database (there, districts are sorted with
//  the home district apart, and languages sorted).
#define DIRECTORY                                                                         \
    "c5b6b2c3-f06b-4203-91ad-a729d2ab0089 school needs=1,2,3 districts=north "            \
    "languages=en,pl interpreters=no capacity=65 active=2/2\n"                            \
    "462fc498-beb0-412d-92fe-b00d46988910 social_services needs=8,9,10 "                  \
    "districts=central,north,south,east languages=en,ar interpreters=yes capacity=85 "    \
    "active=2/2\n"                                                                        \
    "8a47f7c0-a366-475e-85fb-4772845d211b health needs=5,14 districts=south,central "     \
    "languages=en,ur,so interpreters=no capacity=120 active=1/2\n"                        \
    "db9a05ae-7169-44a5-a217-9a1f8baf8711 ngo_community needs=4,9 districts=north,south " \
    "languages=en,pa,bn interpreters=no capacity=8 active=2/2\n"                          \
    "6d6c3e6d-79b8-4efc-913c-847460a54689 ngo_community needs=3,11 "                      \
    "districts=central,north,south,east languages=ar,fa,prs,uk,ru,ti,en "                 \
    "interpreters=yes capacity=none active=2/2\n"                                         \
    "72f4df6a-e24d-4a06-8a69-deb07aad3f94 housing needs=6,7 districts=central "           \
    "languages=en interpreters=no capacity=150 active=1/1\n"                              \
    "5a567a18-7358-4b56-b171-b319b036e934 early_years needs=8,14 districts=east "         \
    "languages=en,pl interpreters=no capacity=30 active=0/2\n"                            \
    "5e4b523f-92e1-4174-af4a-dde12e93f41d ngo_community needs= districts= languages= "    \
    "interpreters=no capacity=none active=0/0\n"                                          \
    "977b48fa-d2fb-4dda-a347-f748f0f4b6f7 ngo_community needs=13 districts=south "        \
    "languages=en interpreters=no capacity=35 active=1/1\n"

static const hsds_case_t s_cases[] = {
    //  The shapes HSDS 3.0 publishes
    {"organizations, each with its services (tests/data/hsds)", DATA_MAPPING,
     "@directory.json", DIRECTORY, NULL, NULL, NULL},
    {"services, each with its organization (the API's full service): the same",
     DATA_MAPPING, "@directory-services.json", DIRECTORY, NULL, NULL, NULL},
    {"an object with organizations, and services naming them by organization_id", MAP,
     "{'organizations': [{'id': 'o1', 'name': 'Org o1'}],"
     " 'services': [{'id': 's1', 'name': 'S', 'status': 'active', 'organization_id': 'o1'" HOUSING
     "}]}",
     "o1 - needs=6 districts= languages= interpreters=no capacity=none active=1/1\n", "",
     NULL, NULL},
    {"an object with services only", MAP,
     "{'services': [" SERVICE (
         "s1", "active", ", 'organization': {'id': 'o1', 'name': 'A'}" HOUSING) "]}",
     "o1 - needs=6 districts= languages= interpreters=no capacity=none active=1/1\n", "",
     NULL, NULL},
    {"an empty directory", MAP, "[]", "", "", NULL, NULL},
    {"null stands for absent (HSDS APIs send it)", MAP,
     "[" ORG ("o1", SERVICE ("s1", "active",
                             HOUSING ", 'languages': null, 'capacities': null,"
                                     " 'interpretation_services': null")) "]",
     "o1 - needs=6 districts= languages= interpreters=no capacity=none active=1/1\n", "",
     NULL, NULL},

    //  The mapping applied
    {"terms by code or name, ignoring case and blanks; a term may mean two needs", MAP,
     "[" ORG (
         "o1",
         SERVICE (
             "s1", "active",
             TERMS ("{'code': 'hsg'}, {'name': '  DEBT ADVICE '}, {'code': 'HV'}"))) "]",
     "o1 - needs=5,6,7,14 districts= languages= interpreters=no capacity=none "
     "active=1/1\n",
     "", NULL, NULL},
    {"a term the mapping lacks is ignored, a service without a need too", MAP,
     "[" ORG ("o1",
              SERVICE ("s1", "active", TERMS ("{'name': 'Food bank'}")) "," SERVICE (
                  "s2", "active", HOUSING)) "]",
     "o1 - needs=6 districts= languages= interpreters=no capacity=none active=1/1\n",
     "organizations[0].services[0].taxonomy_terms[0]|organizations[0].services[0]", NULL,
     NULL},
    {"the sector: the first sector term, but the mapping's word wins", MAP,
     "[{'id': 'o1', 'name': 'A', 'taxonomy_terms': [{'code': 'NHS'}, {'code': 'VCS'}],"
     "  'services': [" SERVICE (
         "s1", "active",
         HOUSING) "]},"
                  " {'id': 'o2', 'name': 'B', 'taxonomy_terms': [{'code': 'VCS'}],"
                  "  'services': [" SERVICE ("s2", "active", HOUSING) "]}]",
     "o1 health needs=6 districts= languages= interpreters=no capacity=none active=1/1\n"
     "o2 housing needs=6 districts= languages= interpreters=no capacity=none "
     "active=1/1\n",
     "", NULL, NULL},
    {"a need on the organization itself is ignored: needs come from services", MAP,
     "[{'id': 'o1', 'name': 'A', 'taxonomy_terms': [{'code': 'HSG'}], 'services': []}]",
     "o1 - needs= districts= languages= interpreters=no capacity=none active=0/0\n",
     "organizations[0].taxonomy_terms[0]", NULL, NULL},
    {"attributes carry terms too; one without its term says nothing", MAP,
     "[" ORG ("o1", SERVICE ("s1", "active",
                             ", 'attributes': [{'taxonomy_term': {'code': 'HSG'}},"
                             " {'taxonomy_term_id': 'x'}]")) "]",
     "o1 - needs=6 districts= languages= interpreters=no capacity=none active=1/1\n", "",
     NULL, NULL},
    {"service areas: the mapping by id or name, then Kinnet's districts by name or code",
     MAP,
     "[" ORG (
         "o1",
         SERVICE (
             "s1", "active",
             HOUSING AREAS (
                 "{'name': 'City-wide'}, {'id': 'area-9'}, {'name': 'riverside east'}, {'id': 'WEST'}, {'name': 'Atlantis'}"))) "]",
     "o1 - needs=6 districts=north,south,east,west languages= interpreters=no "
     "capacity=none active=1/1\n",
     "organizations[0].services[0].service_areas[4]", NULL, NULL},
    {"a district's code never loses to another district's name", MAP,
     "[" ORG ("o1", SERVICE ("s1", "active", HOUSING AREAS ("{'name': 'harbour'}"))) "]",
     "o1 - needs=6 districts=harbour languages= interpreters=no capacity=none "
     "active=1/1\n",
     "", NULL, NULL},
    {"languages: one normaliser (kn_language_primary), names through the mapping", MAP,
     "[" ORG (
         "o1",
         SERVICE (
             "s1", "active",
             HOUSING LANGS (
                 "{'code': 'ara'}, {'code': 'pt-BR'}, {'code': 'EN'}, {'code': 'ar-SY'}, {'code': 'ger'}, {'name': 'somali'}, {'name': 'Klingon'}"))) "]",
     "o1 - needs=6 districts= languages=ar,pt,en,de,so interpreters=no capacity=none "
     "active=1/1\n",
     "organizations[0].services[0].languages[6]", NULL, NULL},
    {"interpreters: by term, or by the interpretation_services text", MAP,
     "[" ORG ("o1", SERVICE ("s1", "active", TERMS ("{'code': 'HSG'}, {'code': 'INT'}"))) "," ORG (
         "o2",
         SERVICE (
             "s2", "active",
             HOUSING
             ", 'interpretation_services': 'Yes'")) "," ORG ("o3",
                                                             SERVICE (
                                                                 "s3", "active",
                                                                 HOUSING
                                                                 ", 'interpretation_services': ''")) "]",
     "o1 - needs=6 districts= languages= interpreters=yes capacity=none active=1/1\n"
     "o2 housing needs=6 districts= languages= interpreters=yes capacity=none "
     "active=1/1\n"
     "o3 - needs=6 districts= languages= interpreters=no capacity=none active=1/1\n",
     "", NULL, NULL},
    {"interpretation_services is only a word when the mapping says so",
     "{'needs': {'HSG': 'housing_need'}, 'interpretation_services_field': false}",
     "[" ORG ("o1",
              SERVICE ("s1", "active", HOUSING ", 'interpretation_services': 'Yes'")) "]",
     "o1 - needs=6 districts= languages= interpreters=no capacity=none active=1/1\n", "",
     NULL, NULL},
    {"capacity sums maxima in counted units; others and missing maxima are ignored", MAP,
     "[" ORG (
         "o1",
         SERVICE (
             "s1", "active",
             HOUSING CAPS (
                 "{'unit': {'name': 'Families'}, 'maximum': 12,"
                 " 'available': 3}, {'unit': {'name': 'places'}, 'maximum': 8}, {'unit': {'name': 'hours'}, 'maximum': 40}, {'unit': {'name': 'families'}}"))) "]",
     "o1 - needs=6 districts= languages= interpreters=no capacity=20 active=1/1\n",
     "organizations[0].services[0].capacities[2]|"
     "organizations[0].services[0].capacities[3]",
     NULL, NULL},
    {"active services describe an organization; only inactive ones: all of them", MAP,
     "[" ORG (
         "o1",
         SERVICE ("s1", "active", HOUSING AREAS ("{'name': 'North side'}")) "," SERVICE (
             "s2", "inactive",
             TERMS ("{'code': 'HV'}") AREAS (
                 "{'id': 'area-9'}"))) "," ORG ("o3",
                                                SERVICE ("s3", "Temporarily closed", HOUSING) "," SERVICE (
                                                    "s4", "defunct",
                                                    TERMS ("{'code': 'HV'}"))) "]",
     "o1 - needs=6 districts=north languages= interpreters=no capacity=none active=1/2\n"
     "o3 - needs=5,6,14 districts= languages= interpreters=no capacity=none "
     "active=0/2\n",
     "", NULL, NULL},
    {"status is compared ignoring case", MAP,
     "[" ORG ("o1", SERVICE ("s1", "ACTIVE", HOUSING)) "]",
     "o1 - needs=6 districts= languages= interpreters=no capacity=none active=1/1\n", "",
     NULL, NULL},

    //  Input that is not a directory
    {"malformed JSON names the line", MAP, "[{'id': 'a',\n 'name': }]", NULL, NULL,
     "file", "invalid JSON at line 2"},
    {"empty input", MAP, "", NULL, NULL, "file", "invalid JSON at line 1"},
    {"only blanks", MAP, "  \n ", NULL, NULL, "file", "invalid JSON"},
    {"a bare value", MAP, "42", NULL, NULL, "file", "invalid JSON"},
    {"an object of something else: what was found, and what is accepted", MAP,
     "{'directory': []}", NULL, NULL, "",
     "not an HSDS 3.0 document: members 'directory', no 'id'; accepted: a record"},
    {"an id given twice in one object", MAP, "[{'id': 'a', 'id': 'b'}]", NULL, NULL,
     "file", "duplicate object key"},
    {"organizations not an array", MAP, "{'organizations': {}}", NULL, NULL,
     "organizations", "must be an array"},

    //  Records that are wrong, by the path of the field at fault
    {"an organization without its id", MAP,
     "[" ORG ("o1", "") ", {'name': 'No id', 'services': []}]", NULL, NULL,
     "organizations[1].id", "'id' is required"},
    {"an organization without its name", MAP, "[{'id': 'o1', 'services': []}]", NULL,
     NULL, "organizations[0].name", "'name' is required"},
    {"a service without its status", MAP, "[" ORG ("o1", "{'id': 's1', 'name': 'S'}") "]",
     NULL, NULL, "organizations[0].services[0].status", "'status' is required"},
    {"an id over 200 bytes", MAP,
     "[{'id': '"
     "0123456789012345678901234567890123456789012345678901234567890123456789"
     "0123456789012345678901234567890123456789012345678901234567890123456789"
     "0123456789012345678901234567890123456789012345678901234567890123456789"
     "', 'name': 'Long', 'services': []}]",
     NULL, NULL, "organizations[0].id", "1 to 200 bytes"},
    {"an empty name", MAP, "[{'id': 'o1', 'name': '', 'services': []}]", NULL, NULL,
     "organizations[0].name", "'name' is required"},
    {"a name with a terminal escape", MAP,
     "[{'id': 'o1', 'name': '\\u001b[2JAll clear', 'services': []}]", NULL, NULL,
     "organizations[0].name", "no control characters"},
    {"a status that is not a string", MAP,
     "[" ORG ("o1", "{'id': 's1', 'name': 'S', 'status': 1}") "]", NULL, NULL,
     "organizations[0].services[0].status", "must be a string"},
    {"an organization id given twice", MAP, "[" ORG ("o1", "") "," ORG ("o1", "") "]",
     NULL, NULL, "organizations[1].id", "given twice (first at organizations[0])"},
    {"a service naming no organization of the file", MAP,
     "[{'id': 's1', 'name': 'S', 'status': 'active', 'organization_id': 'nowhere'}]",
     NULL, NULL, "services[0].organization", "'organization' is required"},
    {"a term that is not an object", MAP,
     "[" ORG ("o1",
              SERVICE ("s1", "active", ", 'attributes': [{'taxonomy_term': 'HSG'}]")) "]",
     NULL, NULL, "organizations[0].services[0].attributes[0].taxonomy_term",
     "must be an object (found a string) (organization 'o1')"},
    {"a term with neither code nor name", MAP,
     "[" ORG ("o1", SERVICE ("s1", "active", TERMS ("{'id': 't1'}"))) "]", NULL, NULL,
     "organizations[0].services[0].taxonomy_terms[0]", "needs a code or a name"},
    {"a service area with neither id nor name", MAP,
     "[" ORG ("o1", SERVICE ("s1", "active", HOUSING AREAS ("{}"))) "]", NULL, NULL,
     "organizations[0].services[0].service_areas[0]", "needs an id or a name"},
    {"a language code that is none", MAP,
     "[" ORG ("o1", SERVICE ("s1", "active", HOUSING LANGS ("{'code': 'xx'}"))) "]", NULL,
     NULL, "organizations[0].services[0].languages[0].code", "'xx' is not a language"},
    {"a language with neither code nor name", MAP,
     "[" ORG ("o1", SERVICE ("s1", "active", HOUSING LANGS ("{}"))) "]", NULL, NULL,
     "organizations[0].services[0].languages[0]", "needs a code or a name"},
    {"a capacity without its unit", MAP,
     "[" ORG ("o1", SERVICE ("s1", "active", HOUSING CAPS ("{'maximum': 3}"))) "]", NULL,
     NULL, "organizations[0].services[0].capacities[0].unit", "'unit' is required"},
    {"a fractional maximum", MAP,
     "[" ORG ("o1", SERVICE ("s1", "active",
                             HOUSING CAPS (
                                 "{'unit': {'name': 'families'}, 'maximum': 2.5}"))) "]",
     NULL, NULL, "organizations[0].services[0].capacities[0].maximum", "whole number"},
    {"a negative available", MAP,
     "[" ORG ("o1", SERVICE ("s1", "active",
                             HOUSING CAPS (
                                 "{'unit': {'name': 'families'}, 'available': -1}"))) "]",
     NULL, NULL, "organizations[0].services[0].capacities[0].available", "whole number"},
    {"an organization's capacity over INT_MAX", MAP,
     "[" ORG (
         "o1",
         SERVICE (
             "s1", "active",
             HOUSING CAPS (
                 "{'unit': {'name': 'families'},"
                 " 'maximum': 2147483647}")) "," SERVICE ("s2", "active",
                                                          HOUSING CAPS (
                                                              "{'unit': {'name': 'families'}, 'maximum': 1}"))) "]",
     NULL, NULL, "organizations[0].services[1]", "capacity is over 2147483647"},
    {"the data file with its last record broken is refused whole", DATA_MAPPING,
     "[" ORG (
         "o1",
         SERVICE (
             "s1", "active",
             TERMS (
                 "{'code': 'RS-HSG'}"))) ", {'id': 'o2', 'name': 'B', 'services': 'housing'}]",
     NULL, NULL, "organizations[1].services", "must be an array"},
};

//  -------------------------------------------------------------------------
//  Helpers

static char s_data[512]; // tests/data/hsds

static void
s_data_dir (void)
{
    snprintf (s_data, sizeof s_data, "%s/hsds", kn_test_data_dir ());
}

//  "@name": the file tests/data/hsds/name; otherwise text with ' as ". Caller frees.
static char *
s_text (const char *spec)
{
    if (spec[0] == '@') {
        char path[700];
        snprintf (path, sizeof path, "%s/%s", s_data, spec + 1);
        char *text = kn_test_read_file (path);
        cr_assert (text, "cannot read %s", path);
        return text;
    }
    char *text = strdup (spec);
    for (char *c = text; *c; c++)
        if (*c == '\'')
            *c = '"';
    return text;
}

static kn_directory_mapping_t *
s_mapping (const char *spec)
{
    char *text = s_text (spec);
    kn_error_t err;
    kn_directory_mapping_t *mapping = kn_directory_mapping_parse (text, &err);
    free (text);
    cr_assert (mapping, "mapping: %s (%s)", err.message, err.field);
    return mapping;
}

static void
s_append_list (char *out, size_t size, zlistx_t *list)
{
    const char *comma = "";
    for (const char *item = zlistx_first (list); item; item = zlistx_next (list)) {
        s_append (out, size, comma);
        s_append (out, size, item);
        comma = ",";
    }
}

//  Every organization on one line: id, sector ("-": none), then what describes it
//  (kn_hsds_offer) and how many of its mapped services are active.
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
        s_append_list (out, size, offer->districts);
        s_append (out, size, " languages=");
        s_append_list (out, size, offer->languages);
        char capacity[24] = "none";
        if (offer->has_capacity)
            snprintf (capacity, sizeof capacity, "%lld", (long long)offer->capacity);
        snprintf (line, sizeof line, " interpreters=%s capacity=%s active=%d/%d\n",
                  offer->interpreters ? "yes" : "no", capacity, org->active_count,
                  org->mapped_count);
        s_append (out, size, line);
    }
}

//  -------------------------------------------------------------------------
//  The table

Test (hsds, table)
{
    s_data_dir ();
    for (size_t i = 0; i < sizeof s_cases / sizeof s_cases[0]; i++) {
        const hsds_case_t *c = &s_cases[i];
        kn_directory_mapping_t *mapping = s_mapping (c->mapping);
        char *text = s_text (c->input);
        kn_error_t err;
        kn_error_clear (&err);
        kn_hsds_t *hsds = kn_hsds_parse (text, strlen (text), mapping, s_known,
                                         sizeof s_known / sizeof s_known[0], &err);
        if (c->expected)
            cr_expect (hsds, "case \"%s\": %s (%s)", c->name, err.message, err.field);
        else
            s_expect_refused (c->name, hsds, &err, c->field, c->message);
        if (hsds) {
            static char got[8192];
            s_summary (hsds, got, sizeof got);
            cr_expect_str_eq (got, c->expected ? c->expected : "(fails)",
                              "case \"%s\":\n%s", c->name, got);
            if (c->ignored) {
                s_ignored (hsds, got, sizeof got);
                cr_expect_str_eq (got, c->ignored, "case \"%s\": ignored %s", c->name,
                                  got);
            }
        }
        kn_hsds_destroy (&hsds);
        free (text);
        kn_directory_mapping_destroy (&mapping);
    }
}

//  -------------------------------------------------------------------------
//  Beyond the table

//  What the report says about the data file: why each ignored record was ignored.
Test (hsds, ignored_records_say_why)
{
    s_data_dir ();
    kn_directory_mapping_t *mapping = s_mapping (DATA_MAPPING);
    char *text = s_text ("@directory.json");
    kn_error_t err;
    kn_hsds_t *hsds = kn_hsds_parse (text, strlen (text), mapping, NULL, 0, &err);
    cr_assert (hsds, "%s (%s)", err.message, err.field);
    char *ignored = json_dumps (kn_hsds_ignored (hsds), JSON_COMPACT);
    cr_expect (
        strstr (ignored, "organizations[3].services[0].attributes[1].taxonomy_term"),
        "%s", ignored);
    cr_expect (strstr (ignored, "'Food bank' is not in the mapping"), "%s", ignored);
    cr_expect (strstr (ignored, "unit 'Hours'"), "%s", ignored);
    cr_expect (strstr (ignored, "\"organization_id\":\"5e4b523f"), "%s", ignored);
    free (ignored);
    cr_expect (kn_hsds_find (hsds, "977b48fa-d2fb-4dda-a347-f748f0f4b6f7"));
    cr_expect_null (kn_hsds_find (hsds, "nowhere"));
    kn_hsds_destroy (&hsds);
    free (text);
    kn_directory_mapping_destroy (&mapping);
}

//  A file reads as its text does; one that cannot be read names "file".
Test (hsds, load_reads_the_file)
{
    s_data_dir ();
    kn_directory_mapping_t *mapping = s_mapping (DATA_MAPPING);
    char path[700];
    snprintf (path, sizeof path, "%s/directory.json", s_data);
    kn_error_t err;
    kn_hsds_t *hsds = kn_hsds_load (path, mapping, NULL, 0, &err);
    cr_assert (hsds, "%s (%s)", err.message, err.field);
    static char got[8192];
    s_summary (hsds, got, sizeof got);
    cr_expect_str_eq (got, DIRECTORY);
    kn_hsds_destroy (&hsds);
    snprintf (path, sizeof path, "%s/no-such-file.json", s_data);
    cr_expect_null (kn_hsds_load (path, mapping, NULL, 0, &err));
    cr_expect_str_eq (err.field, "file");
    cr_expect (strstr (err.message, "no-such-file.json"), "%s", err.message);
    kn_directory_mapping_destroy (&mapping);
}
