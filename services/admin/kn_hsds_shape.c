/*  kn_hsds_shape: telling HSDS records and documents apart by their members.

    Each kind has strong members (required by its schema, or naming what only it
    links to) and weak ones (optional members no other kind has). Strong members
    decide first, weak ones only when no strong member is there, so an optional
    extension member never outvotes a required one. A member counts when it is
    present, even as null: list pages send every direct property, null or not. */
#include "kn_hsds_shape.h"

#include <stdbool.h>
#include <stdio.h>
#include <string.h>

typedef struct {
    const char *name;          // as the error says it, with its article
    kn_hsds_kind_t kind;       // KN_HSDS_UNKNOWN: a record Kinnet does not read
    const char *const *strong; // NULL-terminated
    const char *const *weak;
} s_kind_t;

static const char *const s_at_location_strong[] = {"service", "location", "service_id",
                                                   "location_id", NULL};
static const char *const s_service_strong[] = {"status", "organization",
                                               "organization_id", NULL};
static const char *const s_service_weak[] = {"service_areas",
                                             "service_at_locations",
                                             "capacities",
                                             "program",
                                             "program_id",
                                             "interpretation_services",
                                             "application_process",
                                             "fees_description",
                                             "fees",
                                             "eligibility_description",
                                             "minimum_age",
                                             "maximum_age",
                                             "assured_date",
                                             "assurer_email",
                                             "alert",
                                             "wait_time",
                                             "accreditations",
                                             "licenses",
                                             "cost_options",
                                             "required_documents",
                                             "additional_urls",
                                             "last_modified",
                                             NULL};
static const char *const s_organization_strong[] = {"services", NULL};
static const char *const s_organization_weak[] = {"website",
                                                  "additional_websites",
                                                  "tax_status",
                                                  "tax_id",
                                                  "year_incorporated",
                                                  "legal_status",
                                                  "logo",
                                                  "uri",
                                                  "parent_organization_id",
                                                  "organization_identifiers",
                                                  "programs",
                                                  "locations",
                                                  NULL};
//  What the API's other endpoints return (/taxonomy_terms, /taxonomies) and the
//  location a service_at_location carries: recognised, so the error can say so.
static const char *const s_term_strong[] = {
    "code", "parent_id", "taxonomy", "taxonomy_detail", "term_uri", NULL};
static const char *const s_taxonomy_strong[] = {"version", NULL};
static const char *const s_location_strong[] = {
    "location_type",       "latitude", "longitude", "addresses", "transportation",
    "external_identifier", NULL};
static const char *const s_none[] = {NULL};

static const s_kind_t s_kinds[] = {
    {"a service_at_location", KN_HSDS_SERVICE_AT_LOCATION, s_at_location_strong, s_none},
    {"a service", KN_HSDS_SERVICE, s_service_strong, s_service_weak},
    {"an organization", KN_HSDS_ORGANIZATION, s_organization_strong, s_organization_weak},
    {"a taxonomy term", KN_HSDS_UNKNOWN, s_term_strong, s_none},
    {"a taxonomy", KN_HSDS_UNKNOWN, s_taxonomy_strong, s_none},
    {"a location", KN_HSDS_UNKNOWN, s_location_strong, s_none},
};
#define KIND_COUNT (sizeof s_kinds / sizeof s_kinds[0])

#define ACCEPTED_RECORDS                                                                 \
    "Kinnet reads an organization, a service or a service_at_location"
#define ACCEPTED_DOCUMENTS                                                               \
    "accepted: a record (organization, service, service_at_location), an array of "      \
    "records, an API list page ('contents') or 'organizations'/'services' arrays"

//  Up to two of members present in record, quoted, into out ("" when none).
//  Returns how many are present.
static int
s_present (json_t *record, const char *const *members, char *out, size_t size)
{
    int found = 0;
    size_t used = 0;
    *out = '\0';
    for (const char *const *member = members; *member; member++) {
        if (!json_object_get (record, *member))
            continue;
        if (found < 2 && used < size) {
            int n =
                snprintf (out + used, size - used, "%s'%s'", found ? ", " : "", *member);
            used += n > 0 ? (size_t)n : 0;
        }
        found++;
    }
    return found;
}

//  The kinds whose members (strong, else weak) record has, into hits; how many.
static size_t
s_match (json_t *record, bool strong, const s_kind_t *hits[KIND_COUNT],
         char found[KIND_COUNT][64])
{
    size_t count = 0;
    for (size_t i = 0; i < KIND_COUNT; i++) {
        const char *const *members = strong ? s_kinds[i].strong : s_kinds[i].weak;
        if (s_present (record, members, found[count], sizeof found[count]))
            hits[count++] = &s_kinds[i];
    }
    return count;
}

kn_hsds_kind_t
kn_hsds_shape_record (json_t *record, char *why, size_t size)
{
    *why = '\0';
    if (!json_is_object (record)) {
        snprintf (why, size, "a record must be an object; " ACCEPTED_RECORDS);
        return KN_HSDS_UNKNOWN;
    }
    const s_kind_t *hits[KIND_COUNT];
    char found[KIND_COUNT][64];
    size_t count = s_match (record, true, hits, found);
    if (count == 0)
        count = s_match (record, false, hits, found);
    if (count == 0)
        return KN_HSDS_ORGANIZATION;
    if (count > 1) {
        snprintf (why, size,
                  "members of %s (%s) and of %s (%s): %s, each with its own members",
                  hits[0]->name, found[0], hits[1]->name, found[1], ACCEPTED_RECORDS);
        return KN_HSDS_UNKNOWN;
    }
    if (hits[0]->kind == KN_HSDS_UNKNOWN)
        snprintf (why, size, "%s (it has %s), not a record Kinnet reads: %s",
                  hits[0]->name, found[0], ACCEPTED_RECORDS);
    return hits[0]->kind;
}

kn_hsds_document_t
kn_hsds_shape_document (json_t *root, char *why, size_t size)
{
    *why = '\0';
    if (json_is_array (root))
        return KN_HSDS_DOC_ARRAY;
    if (!json_is_object (root)) {
        snprintf (why, size, "not an HSDS 3.0 document; " ACCEPTED_DOCUMENTS);
        return KN_HSDS_DOC_UNKNOWN;
    }
    //  Records have an id; pages and bundles never do.
    if (json_object_get (root, "id"))
        return KN_HSDS_DOC_RECORD;
    if (json_object_get (root, "contents"))
        return KN_HSDS_DOC_PAGE;
    if (json_object_get (root, "organizations") || json_object_get (root, "services"))
        return KN_HSDS_DOC_BUNDLE;
    char members[64] = "";
    size_t used = 0;
    int shown = 0;
    const char *key;
    json_t *value;
    json_object_foreach (root, key, value)
    {
        if (shown < 3 && used < sizeof members) {
            int n = snprintf (members + used, sizeof members - used, "%s'%.16s'",
                              shown ? ", " : "", key);
            used += n > 0 ? (size_t)n : 0;
        }
        shown++;
    }
    snprintf (why, size, "not an HSDS 3.0 document: %s%s, no 'id'; " ACCEPTED_DOCUMENTS,
              shown ? "members " : "an empty object", members);
    return KN_HSDS_DOC_UNKNOWN;
}

const char *
kn_hsds_kind_name (kn_hsds_kind_t kind)
{
    return kind == KN_HSDS_ORGANIZATION          ? "organization"
           : kind == KN_HSDS_SERVICE             ? "service"
           : kind == KN_HSDS_SERVICE_AT_LOCATION ? "service_at_location"
                                                 : "record";
}

const char *
kn_hsds_kind_plural (kn_hsds_kind_t kind)
{
    return kind == KN_HSDS_ORGANIZATION          ? "organizations"
           : kind == KN_HSDS_SERVICE             ? "services"
           : kind == KN_HSDS_SERVICE_AT_LOCATION ? "service_at_locations"
                                                 : "records";
}
