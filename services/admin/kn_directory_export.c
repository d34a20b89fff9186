/*  kn_directory_export: the directory written as HSDS 3.0, read back by kn_hsds.

    The export is made from the listing administrators see (kn_directory_show), so
    it holds what routing reads and nothing more, and every value is spelled as the
    built-in mapping reads it: a need or a sector by its own name, a district by
    its code, a language by its code, capacity in `cases`. Ids of the records
    Kinnet makes up (services, attributes, areas...) are name-based UUIDs of the
    organization's id, so two exports of one directory name the same records and a
    re-import matches the services the last one stored. */
#include "kn_directory_export.h"
#include "kn_directory.h"

#include <sodium.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include <czmq.h>

//  A UUID (version 5 layout) that is a hash of kind, a and b: the same three give
//  the same id in every export.
static void
s_id (char out[37], const char *kind, const char *a, const char *b)
{
    uint8_t hash[16];
    crypto_generichash_state state;
    crypto_generichash_init (&state, NULL, 0, sizeof hash);
    const char *parts[] = {"kinnet.hsds.", kind, "\n", a, "\n", b ? b : ""};
    for (size_t i = 0; i < sizeof parts / sizeof parts[0]; i++)
        crypto_generichash_update (&state, (const uint8_t *)parts[i], strlen (parts[i]));
    crypto_generichash_final (&state, hash, sizeof hash);
    hash[6] = (uint8_t)((hash[6] & 0x0f) | 0x50);
    hash[8] = (uint8_t)((hash[8] & 0x3f) | 0x80);
    snprintf (
        out, 37, "%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-%02x%02x%02x%02x%02x%02x",
        hash[0], hash[1], hash[2], hash[3], hash[4], hash[5], hash[6], hash[7], hash[8],
        hash[9], hash[10], hash[11], hash[12], hash[13], hash[14], hash[15]);
}

static const char *
s_text (json_t *item, const char *key)
{
    const char *value = json_string_value (json_object_get (item, key));
    return value ? value : "";
}

//  An attribute of link (an organization or a service) carrying the term whose code
//  and name are both term: the built-in mapping reads every NeedCategory and
//  AgencySector name as itself.
static json_t *
s_attribute (const char *org_id, const char *link_entity, const char *link_id,
             const char *taxonomy, const char *term)
{
    char id[37], term_id[37];
    s_id (id, "attribute", org_id, term);
    s_id (term_id, taxonomy, term, NULL);
    return json_pack ("{s:s,s:s,s:s,s:s,s:{s:s,s:s,s:s,s:s,s:s}}", "id", id, "link_id",
                      link_id, "link_entity", link_entity, "taxonomy_term_id", term_id,
                      "taxonomy_term", "id", term_id, "code", term, "name", term,
                      "description", term, "taxonomy", taxonomy);
}

//  The one service of an agency: its needs, districts, languages, interpreters,
//  capacity and whether it accepts.
static json_t *
s_service (json_t *agency, const char *org_id, const char *updated)
{
    char service_id[37], id[37];
    s_id (service_id, "service", org_id, NULL);
    bool accepting = json_is_true (json_object_get (agency, "accepting"));
    json_t *service =
        json_pack ("{s:s,s:s,s:s,s:s,s:s}", "id", service_id, "organization_id", org_id,
                   "name", s_text (agency, "name"), "description",
                   "What the Kinnet directory knows of this organization", "status",
                   accepting ? "active" : "inactive");
    json_t *attributes = json_array ();
    size_t index;
    json_t *value;
    json_array_foreach (json_object_get (agency, "needs"), index, value)
        json_array_append_new (attributes, s_attribute (org_id, "service", service_id,
                                                        "kinnet.NeedCategory",
                                                        json_string_value (value)));
    json_object_set_new (service, "attributes", attributes);
    //  The home district first: an import makes the first area it reads the home.
    json_t *areas = json_array ();
    json_array_foreach (json_object_get (agency, "districts"), index, value)
    {
        s_id (id, "service_area", org_id, json_string_value (value));
        json_array_append_new (areas,
                               json_pack ("{s:s,s:s,s:s}", "id", id, "service_id",
                                          service_id, "name", json_string_value (value)));
    }
    json_object_set_new (service, "service_areas", areas);
    json_t *languages = json_array ();
    json_array_foreach (json_object_get (agency, "languages"), index, value)
    {
        s_id (id, "language", org_id, json_string_value (value));
        json_array_append_new (languages,
                               json_pack ("{s:s,s:s,s:s,s:s}", "id", id, "service_id",
                                          service_id, "code", json_string_value (value),
                                          "name", json_string_value (value)));
    }
    json_object_set_new (service, "languages", languages);
    if (json_is_true (json_object_get (agency, "interpreters")))
        json_object_set_new (service, "interpretation_services",
                             json_string ("Interpreters available"));
    //  HSDS requires `available`; Kinnet's load is its own, not the directory's, so
    //  the export states the maximum for both.
    json_t *capacity = json_object_get (agency, "capacity");
    json_t *capacities = json_array ();
    if (json_is_integer (capacity)) {
        char unit_id[37];
        s_id (id, "service_capacity", org_id, NULL);
        s_id (unit_id, "unit", "cases", NULL);
        json_array_append_new (
            capacities,
            json_pack ("{s:s,s:s,s:{s:s,s:s,s:s},s:O,s:O,s:s,s:s}", "id", id,
                       "service_id", service_id, "unit", "id", unit_id, "name", "cases",
                       "scheme", "kinnet", "maximum", capacity, "available", capacity,
                       "description", "Families the organization takes at once",
                       "updated", updated));
    }
    json_object_set_new (service, "capacities", capacities);
    return service;
}

json_t *
kn_directory_export_organizations (json_t *listing, const char *updated)
{
    json_t *organizations = json_array ();
    size_t index;
    json_t *agency;
    json_array_foreach (listing, index, agency)
    {
        //  A withdrawn agency is no longer in the directory it came from, and a
        //  revoked one is in none; one never imported has no HSDS id to give.
        const char *org_id = json_string_value (json_object_get (agency, "directory_id"));
        if (!org_id || !*org_id || !json_is_true (json_object_get (agency, "active")) ||
            !streq (s_text (agency, "directory_status"), "listed"))
            continue;
        json_t *organization =
            json_pack ("{s:s,s:s,s:s}", "id", org_id, "name", s_text (agency, "name"),
                       "description", s_text (agency, "name"));
        json_t *attributes = json_array ();
        json_array_append_new (attributes, s_attribute (org_id, "organization", org_id,
                                                        "kinnet.AgencySector",
                                                        s_text (agency, "sector")));
        json_object_set_new (organization, "attributes", attributes);
        json_object_set_new (organization, "services",
                             json_pack ("[o]", s_service (agency, org_id, updated)));
        json_array_append_new (organizations, organization);
    }
    return organizations;
}

json_t *
kn_directory_export_page (json_t *organizations, int page, size_t page_bytes,
                          kn_error_t *err)
{
    if (page <= 0)
        page = 1;
    //  Cut every page, in order: the same directory gives the same pages, and the
    //  total is known on each.
    size_t total = json_array_size (organizations);
    size_t first = 0, count = 0;   //  the organizations of the page asked for
    size_t run = 0, run_bytes = 0; //  those of the page being cut
    int pages = 1;
    for (size_t i = 0; i < total; i++) {
        size_t size =
            json_dumpb (json_array_get (organizations, i), NULL, 0, JSON_COMPACT) + 1;
        if (size > page_bytes) {
            kn_error_set (err, KN_E_TOO_LARGE, "organizations",
                          "organization '%.80s' alone is %zu bytes, over a page's %zu",
                          s_text (json_array_get (organizations, i), "id"), size,
                          page_bytes);
            return NULL;
        }
        if (run &&
            (run_bytes + size > page_bytes || run == KN_DIRECTORY_EXPORT_PAGE_SIZE)) {
            pages++;
            run = run_bytes = 0;
        }
        if (pages == page && count++ == 0)
            first = i;
        run++;
        run_bytes += size;
    }
    if (page > pages) {
        kn_error_set (err, KN_E_NOT_FOUND, "page", "page %d of %d: past the last page",
                      page, pages);
        return NULL;
    }
    json_t *contents = json_array ();
    for (size_t i = first; i < first + count; i++)
        json_array_append (contents, json_array_get (organizations, i));
    return json_pack ("{s:I,s:i,s:i,s:I,s:b,s:b,s:b,s:o}", "total_items",
                      (json_int_t)total, "total_pages", pages, "page_number", page,
                      "size", (json_int_t)count, "first_page", page == 1, "last_page",
                      page == pages, "empty", count == 0, "contents", contents);
}

json_t *
kn_directory_export (kn_db_t *db, int page, kn_error_t *err)
{
    json_t *listing = kn_directory_show (db, NULL, err);
    if (!listing)
        return NULL;
    char updated[32];
    time_t now = time (NULL);
    struct tm tm;
    gmtime_r (&now, &tm);
    strftime (updated, sizeof updated, "%Y-%m-%dT%H:%M:%SZ", &tm);
    json_t *organizations = kn_directory_export_organizations (listing, updated);
    json_decref (listing);
    json_t *result = kn_directory_export_page (organizations, page,
                                               KN_DIRECTORY_EXPORT_PAGE_BYTES, err);
    json_decref (organizations);
    return result;
}
