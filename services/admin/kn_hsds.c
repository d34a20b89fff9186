/*  kn_hsds: the HSDS 3.0 reader, from JSON text to organizations.

    Each record is checked where it is read, and the first wrong one stops the read
    with its path; a record that is well formed but means nothing to Kinnet (a term
    the mapping lacks) is only noted in "ignored". An organization gathers what its
    services offer twice, from its active services and from all of them, because
    which of the two describes it depends on whether any is active. */
#include "kn_hsds.h"

#include "kn_validate.h"
#include "kn_language.h"

#include <assert.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include "kn_alloc.h"

struct _kn_hsds_t {
    kn_hsds_org_t **orgs; // file order
    size_t size, room;
    zhashx_t *by_id; // id -> kn_hsds_org_t * (not owned)
    json_t *ignored;
};

//  One read in progress.
typedef struct {
    const kn_directory_mapping_t *mapping;
    zhashx_t *district_names; // folded core.district code or name -> code
    kn_hsds_t *hsds;
    zhashx_t *by_id; // hsds->by_id
    json_t *ignored; // hsds->ignored
    kn_error_t *err;
} s_reader_t;

//  -------------------------------------------------------------------------
//  Helpers

//  A record's path ("organizations[3].services[1]") into out, 128 bytes like
//  kn_error_t's field: deeper paths are cut, which still names the record.
static void s_path (char out[128], const char *fmt, ...)
    __attribute__ ((format (printf, 2, 3)));

static void
s_path (char out[128], const char *fmt, ...)
{
    va_list args;
    va_start (args, fmt);
    vsnprintf (out, 128, fmt, args);
    va_end (args);
}

//  path.name, or name alone at the top level.
static void
s_member_path (char out[128], const char *path, const char *name)
{
    if (*path)
        s_path (out, "%s.%s", path, name);
    else
        s_path (out, "%s", name);
}

static void *
s_lookup (zhashx_t *hash, const char *key)
{
    if (!key || !hash)
        return NULL;
    char *folded = kn_directory_fold (key);
    void *found = zhashx_lookup (hash, folded);
    free (folded);
    return found;
}

static void
s_free_item (void **item)
{
    free (*item);
    *item = NULL;
}

static zlistx_t *
s_string_list (void)
{
    zlistx_t *list = zlistx_new ();
    zlistx_set_destructor (list, (zlistx_destructor_fn *)zstr_free);
    zlistx_set_duplicator (list, (zlistx_duplicator_fn *)strdup);
    zlistx_set_comparator (list, (zlistx_comparator_fn *)strcmp);
    return list;
}

//  Add text unless it is there already (lists are short: a few districts).
static void
s_list_add_unique (zlistx_t *list, const char *text)
{
    if (!zlistx_find (list, (void *)text))
        zlistx_add_end (list, (void *)text);
}

//  -------------------------------------------------------------------------
//  Reading the records

//  Reading the HSDS file

static void
s_offer_init (kn_hsds_offer_t *self)
{
    memset (self, 0, sizeof *self);
    self->districts = s_string_list ();
    self->languages = s_string_list ();
}

static void
s_offer_fini (kn_hsds_offer_t *self)
{
    zlistx_destroy (&self->districts);
    zlistx_destroy (&self->languages);
}

static void
s_offer_merge (kn_hsds_offer_t *self, const kn_hsds_offer_t *other)
{
    kn_directory_needs_merge (&self->needs, &other->needs);
    for (const char *code = zlistx_first (other->districts); code;
         code = zlistx_next (other->districts))
        s_list_add_unique (self->districts, code);
    for (const char *language = zlistx_first (other->languages); language;
         language = zlistx_next (other->languages))
        s_list_add_unique (self->languages, language);
    self->interpreters |= other->interpreters;
    if (other->has_capacity) {
        self->capacity += other->capacity;
        self->has_capacity = true;
    }
}

static void
s_org_destroy (kn_hsds_org_t **self_p)
{
    if (!*self_p)
        return;
    kn_hsds_org_t *self = *self_p;
    free (self->id);
    free (self->name);
    s_offer_fini (&self->active);
    s_offer_fini (&self->mapped);
    free (self);
    *self_p = NULL;
}

static void
s_append (kn_hsds_t *self, kn_hsds_org_t *org)
{
    if (self->size == self->room) {
        self->room = self->room ? 2 * self->room : 16;
        kn_hsds_org_t **orgs = realloc (self->orgs, self->room * sizeof *orgs);
        if (!orgs)
            abort (); // out of memory: nothing sensible to answer
        self->orgs = orgs;
    }
    self->orgs[self->size++] = org;
}

//  An error about the record at path, naming the organization when it is known.
static int s_invalid (s_reader_t *self, const kn_hsds_org_t *org, const char *path,
                      const char *fmt, ...) __attribute__ ((format (printf, 4, 5)));

static int
s_invalid (s_reader_t *self, const kn_hsds_org_t *org, const char *path, const char *fmt,
           ...)
{
    char message[220];
    va_list args;
    va_start (args, fmt);
    vsnprintf (message, sizeof message, fmt, args);
    va_end (args);
    if (org)
        return kn_error_set (self->err, KN_E_INVALID_ARGUMENT, path,
                             "%s (organization '%.60s')", message, org->id);
    return kn_error_set (self->err, KN_E_INVALID_ARGUMENT, path, "%s", message);
}

static void s_ignore (s_reader_t *self, const kn_hsds_org_t *org, const char *path,
                      const char *fmt, ...) __attribute__ ((format (printf, 4, 5)));

static void
s_ignore (s_reader_t *self, const kn_hsds_org_t *org, const char *path, const char *fmt,
          ...)
{
    char reason[300];
    va_list args;
    va_start (args, fmt);
    vsnprintf (reason, sizeof reason, fmt, args);
    va_end (args);
    json_array_append_new (self->ignored,
                           json_pack ("{s:s,s:s?,s:s}", "path", path, "organization_id",
                                      org ? org->id : NULL, "reason", reason));
}

//  Member name of object: NULL when absent or null (HSDS APIs send null for
//  optional fields they do not have), else its value.
static json_t *
s_member (json_t *object, const char *name)
{
    json_t *value = json_object_get (object, name);
    return json_is_null (value) ? NULL : value;
}

//  Optional string member: 0 with *out NULL when absent, -1 on a wrong type.
static int
s_string (s_reader_t *self, const kn_hsds_org_t *org, json_t *object, const char *path,
          const char *name, const char **out)
{
    json_t *value = s_member (object, name);
    *out = value ? json_string_value (value) : NULL;
    if (value && !json_is_string (value)) {
        char field[128];
        s_member_path (field, path, name);
        return s_invalid (self, org, field, "'%s' must be a string", name);
    }
    return 0;
}

static int
s_required_string (s_reader_t *self, const kn_hsds_org_t *org, json_t *object,
                   const char *path, const char *name, size_t max, const char **out)
{
    if (s_string (self, org, object, path, name, out))
        return -1;
    kn_error_t text;
    //  Names and ids reach other agencies' screens and the logs: text only, no
    //  control characters (an escape sequence in a published directory is refused).
    if (!*out || kn_validate_text (*out, name, 1, max, false, &text)) {
        char field[128];
        s_member_path (field, path, name);
        return s_invalid (self, org, field,
                          "'%s' is required (1 to %zu bytes of text, no control characters)",
                          name, max);
    }
    return 0;
}

//  Optional array member: NULL when absent, -1 on a wrong type.
static int
s_array (s_reader_t *self, const kn_hsds_org_t *org, json_t *object, const char *path,
         const char *name, json_t **out)
{
    *out = s_member (object, name);
    if (*out && !json_is_array (*out)) {
        char field[128];
        s_member_path (field, path, name);
        return s_invalid (self, org, field, "'%s' must be an array", name);
    }
    return 0;
}

//  A taxonomy term (attribute.taxonomy_term or an item of taxonomy_terms): what it
//  means for needs, interpreters and the sector. sector may be NULL (not asked).
static int
s_term (s_reader_t *self, const kn_hsds_org_t *org, json_t *term, const char *path,
        kn_directory_needs_t *needs, bool *interpreters, char *sector)
{
    if (!json_is_object (term))
        return s_invalid (self, org, path, "a taxonomy term must be an object");
    const char *code, *name;
    if (s_string (self, org, term, path, "code", &code) ||
        s_string (self, org, term, path, "name", &name))
        return -1;
    if (!code && !name)
        return s_invalid (self, org, path, "a taxonomy term needs a code or a name");
    const kn_directory_mapping_t *mapping = self->mapping;
    bool used = false;
    const kn_directory_needs_t *found = kn_directory_mapping_needs (mapping, code);
    if (!found)
        found = kn_directory_mapping_needs (mapping, name);
    if (found && needs) {
        kn_directory_needs_merge (needs, found);
        used = true;
    }
    if (interpreters && (kn_directory_mapping_interpreting (mapping, code) ||
                         kn_directory_mapping_interpreting (mapping, name))) {
        *interpreters = true;
        used = true;
    }
    const char *term_sector = kn_directory_mapping_sector (mapping, code);
    if (!term_sector)
        term_sector = kn_directory_mapping_sector (mapping, name);
    if (term_sector && sector) {
        //  The first sector term in file order decides.
        if (!*sector)
            snprintf (sector, 40, "%s", term_sector);
        used = true;
    }
    if (!used && found)
        s_ignore (self, org, path,
                  "taxonomy term '%.80s' maps to a need, but needs come from services",
                  name ? name : code);
    else if (!used)
        s_ignore (self, org, path, "taxonomy term '%.80s'%s%.60s%s is not in the mapping",
                  name ? name : code, name && code ? " (code " : "",
                  name && code ? code : "", name && code ? ")" : "");
    return 0;
}

//  attributes[].taxonomy_term and taxonomy_terms[] of a service or organization.
static int
s_terms (s_reader_t *self, const kn_hsds_org_t *org, json_t *object, const char *path,
         kn_directory_needs_t *needs, bool *interpreters, char *sector)
{
    json_t *attributes, *terms;
    if (s_array (self, org, object, path, "attributes", &attributes) ||
        s_array (self, org, object, path, "taxonomy_terms", &terms))
        return -1;
    char field[128];
    size_t index;
    json_t *item;
    json_array_foreach (attributes, index, item)
    {
        s_path (field, "%s.attributes[%zu]", path, index);
        if (!json_is_object (item))
            return s_invalid (self, org, field, "an attribute must be an object");
        //  An attribute without its term (the tabular form's taxonomy_term_id only)
        //  says nothing this reader can use.
        json_t *term = s_member (item, "taxonomy_term");
        s_path (field, "%s.attributes[%zu].taxonomy_term", path, index);
        if (term && s_term (self, org, term, field, needs, interpreters, sector))
            return -1;
    }
    json_array_foreach (terms, index, item)
    {
        s_path (field, "%s.taxonomy_terms[%zu]", path, index);
        if (s_term (self, org, item, field, needs, interpreters, sector))
            return -1;
    }
    return 0;
}

static int
s_service_areas (s_reader_t *self, const kn_hsds_org_t *org, json_t *service,
                 const char *path, kn_hsds_offer_t *offer)
{
    json_t *areas;
    if (s_array (self, org, service, path, "service_areas", &areas))
        return -1;
    char field[128];
    size_t index;
    json_t *area;
    json_array_foreach (areas, index, area)
    {
        s_path (field, "%s.service_areas[%zu]", path, index);
        if (!json_is_object (area))
            return s_invalid (self, org, field, "a service area must be an object");
        const char *id, *name;
        if (s_string (self, org, area, field, "id", &id) ||
            s_string (self, org, area, field, "name", &name))
            return -1;
        if (!id && !name)
            return s_invalid (self, org, field, "a service area needs an id or a name");
        //  The mapping first (by id, then name), then the districts Kinnet knows
        //  (by code or name).
        zlistx_t *codes = kn_directory_mapping_districts (self->mapping, id);
        if (!codes)
            codes = kn_directory_mapping_districts (self->mapping, name);
        const char *known = s_lookup (self->district_names, name);
        if (!codes && !known)
            known = s_lookup (self->district_names, id);
        if (codes) {
            for (const char *code = zlistx_first (codes); code;
                 code = zlistx_next (codes))
                s_list_add_unique (offer->districts, code);
        } else if (known)
            s_list_add_unique (offer->districts, known);
        else
            s_ignore (self, org, field, "service area '%.80s' maps to no district",
                      name ? name : id);
    }
    return 0;
}

static int
s_languages (s_reader_t *self, const kn_hsds_org_t *org, json_t *service,
             const char *path, kn_hsds_offer_t *offer)
{
    json_t *languages;
    if (s_array (self, org, service, path, "languages", &languages))
        return -1;
    char field[128];
    size_t index;
    json_t *language;
    json_array_foreach (languages, index, language)
    {
        s_path (field, "%s.languages[%zu]", path, index);
        if (!json_is_object (language))
            return s_invalid (self, org, field, "a language must be an object");
        const char *code, *name;
        if (s_string (self, org, language, field, "code", &code) ||
            s_string (self, org, language, field, "name", &name))
            return -1;
        char subtag[9];
        if (code) {
            if (kn_language_primary (code, subtag)) {
                s_path (field, "%s.languages[%zu].code", path, index);
                return s_invalid (self, org, field,
                                  "'%.20s' is not a language code (ISO 639-1, 639-2 or "
                                  "639-3, or a BCP 47 tag)",
                                  code);
            }
            s_list_add_unique (offer->languages, subtag);
        } else if (name && kn_directory_mapping_language (self->mapping, name))
            s_list_add_unique (offer->languages,
                               kn_directory_mapping_language (self->mapping, name));
        else if (name)
            s_ignore (
                self, org, field,
                "language '%.60s' has no code and is not in the mapping's languages",
                name);
        else
            return s_invalid (self, org, field, "a language needs a code or a name");
    }
    return 0;
}

//  A JSON number that is a whole number in [0, INT_MAX], into *out.
static bool
s_count (json_t *value, int64_t *out)
{
    double number = json_number_value (value);
    //  Bounds first, so the conversion below is defined; equal back means whole.
    if (!json_is_number (value) || !(number >= 0 && number <= INT_MAX) ||
        (double)(int64_t)number != number)
        return false;
    *out = (int64_t)number;
    return true;
}

static int
s_capacities (s_reader_t *self, const kn_hsds_org_t *org, json_t *service,
              const char *path, kn_hsds_offer_t *offer)
{
    json_t *capacities;
    if (s_array (self, org, service, path, "capacities", &capacities))
        return -1;
    char field[128];
    size_t index;
    json_t *capacity;
    json_array_foreach (capacities, index, capacity)
    {
        s_path (field, "%s.capacities[%zu]", path, index);
        if (!json_is_object (capacity))
            return s_invalid (self, org, field, "a service capacity must be an object");
        json_t *unit = s_member (capacity, "unit");
        char unit_path[128];
        s_path (unit_path, "%s.unit", field);
        if (!json_is_object (unit))
            return s_invalid (self, org, unit_path,
                              "'unit' is required (an object with a name)");
        const char *unit_name;
        if (s_required_string (self, org, unit, unit_path, "name", 200, &unit_name))
            return -1;
        int64_t maximum = 0, available = 0;
        json_t *value = s_member (capacity, "maximum");
        if (value && !s_count (value, &maximum)) {
            s_path (field, "%s.capacities[%zu].maximum", path, index);
            return s_invalid (self, org, field,
                              "'maximum' must be a whole number from 0 to %d", INT_MAX);
        }
        json_t *has_available = s_member (capacity, "available");
        if (has_available && !s_count (has_available, &available)) {
            s_path (field, "%s.capacities[%zu].available", path, index);
            return s_invalid (self, org, field,
                              "'available' must be a whole number from 0 to %d", INT_MAX);
        }
        if (!kn_directory_mapping_counts_unit (self->mapping, unit_name))
            s_ignore (self, org, field,
                      "unit '%.60s' is not one of the mapping's capacity_units",
                      unit_name);
        else if (!value)
            s_ignore (self, org, field, "no maximum: capacity counts maxima only");
        else {
            offer->has_capacity = true;
            offer->capacity += maximum;
        }
    }
    return 0;
}

//  One service of org at path: what it offers, added to the organization's totals.
static int
s_service (s_reader_t *self, kn_hsds_org_t *org, json_t *service, const char *path)
{
    if (!json_is_object (service))
        return s_invalid (self, org, path, "a service must be an object");
    const char *id, *name, *status, *interpretation;
    if (s_required_string (self, org, service, path, "id", 200, &id) ||
        s_required_string (self, org, service, path, "name", 1000, &name) ||
        s_required_string (self, org, service, path, "status", 100, &status) ||
        s_string (self, org, service, path, "interpretation_services", &interpretation))
        return -1;
    kn_hsds_offer_t offer;
    s_offer_init (&offer);
    int rc = s_terms (self, org, service, path, &offer.needs, &offer.interpreters,
                      org->sector);
    if (rc == 0)
        rc = s_service_areas (self, org, service, path, &offer);
    if (rc == 0)
        rc = s_languages (self, org, service, path, &offer);
    if (rc == 0)
        rc = s_capacities (self, org, service, path, &offer);
    if (rc == 0 && interpretation && *interpretation &&
        kn_directory_mapping_interpretation_field (self->mapping))
        offer.interpreters = true;
    if (rc == 0 && kn_directory_needs_empty (&offer.needs))
        s_ignore (self, org, path,
                  "service '%.80s' has no taxonomy term that maps to a need", name);
    else if (rc == 0) {
        bool active = strcasecmp (status, "active") == 0;
        s_offer_merge (&org->mapped, &offer);
        org->mapped_count++;
        if (active) {
            s_offer_merge (&org->active, &offer);
            org->active_count++;
        }
        if (org->mapped.capacity > INT_MAX)
            rc = s_invalid (self, org, path, "the organization's capacity is over %d",
                            INT_MAX);
    }
    s_offer_fini (&offer);
    return rc;
}

//  The organization record at path (its id, name and own attributes); an id seen
//  before returns the same kn_hsds_org_t when repeat is allowed (services that each
//  carry their organization).
static kn_hsds_org_t *
s_organization (s_reader_t *self, json_t *object, const char *path, bool repeat)
{
    if (!json_is_object (object)) {
        s_invalid (self, NULL, path, "an organization must be an object");
        return NULL;
    }
    const char *id, *name;
    if (s_required_string (self, NULL, object, path, "id", 200, &id))
        return NULL;
    kn_hsds_org_t *org = zhashx_lookup (self->by_id, id);
    if (org && !repeat) {
        char field[128];
        s_path (field, "%s.id", path);
        s_invalid (self, org, field, "organization id given twice (first at %s)",
                   org->path);
        return NULL;
    }
    if (org)
        return org;
    org = kn_calloc (1, sizeof *org);
    org->id = kn_strdup (id);
    snprintf (org->path, sizeof org->path, "%s", path);
    s_offer_init (&org->active);
    s_offer_init (&org->mapped);
    s_append (self->hsds, org);
    zhashx_insert (self->by_id, id, org);
    if (s_required_string (self, org, object, path, "name", 200, &name))
        return NULL;
    org->name = kn_strdup (name);
    //  The mapping's word on the sector wins over terms.
    const kn_directory_link_t *link = kn_directory_mapping_link (self->mapping, id);
    if (link && *link->sector)
        snprintf (org->sector, sizeof org->sector, "%s", link->sector);
    if (s_terms (self, org, object, path, NULL, NULL, org->sector))
        return NULL;
    return org;
}

static int
s_organizations (s_reader_t *self, json_t *array, const char *prefix)
{
    char path[128];
    size_t index;
    json_t *object;
    json_array_foreach (array, index, object)
    {
        s_path (path, "%s[%zu]", prefix, index);
        kn_hsds_org_t *org = s_organization (self, object, path, false);
        json_t *services;
        if (!org || s_array (self, org, object, path, "services", &services))
            return -1;
        size_t at;
        json_t *service;
        json_array_foreach (services, at, service)
        {
            char service_path[128];
            s_path (service_path, "%s.services[%zu]", path, at);
            if (s_service (self, org, service, service_path))
                return -1;
        }
    }
    return 0;
}

//  Services that each carry their "organization" (the HSDS 3.0 API's full service),
//  or name one of the file's organizations by "organization_id".
static int
s_services (s_reader_t *self, json_t *array, const char *prefix)
{
    char path[128];
    size_t index;
    json_t *service;
    json_array_foreach (array, index, service)
    {
        s_path (path, "%s[%zu]", prefix, index);
        if (!json_is_object (service))
            return s_invalid (self, NULL, path, "a service must be an object");
        json_t *object = s_member (service, "organization");
        kn_hsds_org_t *org = NULL;
        if (object) {
            char org_path[128];
            s_path (org_path, "%s.organization", path);
            org = s_organization (self, object, org_path, true);
            if (!org)
                return -1;
        } else {
            const char *id;
            if (s_string (self, NULL, service, path, "organization_id", &id))
                return -1;
            org = id ? zhashx_lookup (self->by_id, id) : NULL;
            if (!org) {
                char field[128];
                s_path (field, "%s.organization", path);
                return s_invalid (self, NULL, field,
                                  "'organization' is required (or an organization_id of "
                                  "one of the file's organizations)");
            }
        }
        if (s_service (self, org, service, path))
            return -1;
    }
    return 0;
}

//  The document: which of the three shapes it is, then its records.
static int
s_read_root (s_reader_t *self, json_t *root)
{
    int rc = 0;
    if (json_is_array (root)) {
        //  The first record tells the shape: a service has a status and names its
        //  organization; an organization has neither.
        json_t *first = json_array_get (root, 0);
        bool services = json_object_get (first, "organization") ||
                        json_object_get (first, "organization_id") ||
                        json_object_get (first, "status");
        rc = services ? s_services (self, root, "services")
                      : s_organizations (self, root, "organizations");
    } else if (json_is_object (root)) {
        json_t *organizations, *services;
        rc = s_array (self, NULL, root, "", "organizations", &organizations) ||
             s_array (self, NULL, root, "", "services", &services);
        if (rc == 0 && !organizations && !services)
            rc = kn_error_set (self->err, KN_E_INVALID_ARGUMENT, "",
                               "expected \"organizations\" or \"services\" (HSDS 3.0)");
        if (rc == 0 && organizations)
            rc = s_organizations (self, organizations, "organizations");
        if (rc == 0 && services)
            rc = s_services (self, services, "services");
    } else
        rc = kn_error_set (self->err, KN_E_INVALID_ARGUMENT, "",
                           "expected a JSON array of HSDS organizations or services");
    return rc ? -1 : 0;
}

//  root (NULL when JSON could not make one of the input, error saying why) into
//  organizations. Takes root.
static kn_hsds_t *
s_read (json_t *root, const json_error_t *error, const kn_directory_mapping_t *mapping,
        const kn_hsds_district_t *districts, size_t count, kn_error_t *err)
{
    assert (mapping);
    if (!root) {
        if (error->line < 0)
            kn_error_set (err, KN_E_INVALID_ARGUMENT, "file", "%s", error->text);
        else
            kn_error_set (err, KN_E_INVALID_ARGUMENT, "file",
                          "invalid JSON at line %d column %d: %s", error->line,
                          error->column, error->text);
        return NULL;
    }
    kn_hsds_t *hsds = kn_calloc (1, sizeof *hsds);
    hsds->by_id = zhashx_new ();
    hsds->ignored = json_array ();
    s_reader_t self = {.mapping = mapping,
                       .hsds = hsds,
                       .by_id = hsds->by_id,
                       .ignored = hsds->ignored,
                       .err = err};
    self.district_names = zhashx_new ();
    zhashx_set_destructor (self.district_names, s_free_item);
    //  Codes first, so that a code never loses to another district's name.
    for (int pass = 0; pass < 2; pass++) {
        for (size_t i = 0; i < count; i++) {
            const char *key = pass ? districts[i].name : districts[i].code;
            if (!key || !districts[i].code)
                continue;
            char *folded = kn_directory_fold (key);
            char *code = kn_strdup (districts[i].code);
            if (!*folded || zhashx_insert (self.district_names, folded, code) != 0)
                free (code);
            free (folded);
        }
    }
    int rc = s_read_root (&self, root);
    zhashx_destroy (&self.district_names);
    json_decref (root);
    if (rc)
        kn_hsds_destroy (&hsds);
    return hsds;
}

kn_hsds_t *
kn_hsds_parse (const char *text, size_t len, const kn_directory_mapping_t *mapping,
               const kn_hsds_district_t *districts, size_t count, kn_error_t *err)
{
    json_error_t error;
    json_t *root = json_loadb (text, len, JSON_REJECT_DUPLICATES, &error);
    return s_read (root, &error, mapping, districts, count, err);
}

kn_hsds_t *
kn_hsds_load (const char *path, const kn_directory_mapping_t *mapping,
              const kn_hsds_district_t *districts, size_t count, kn_error_t *err)
{
    json_error_t error;
    json_t *root = json_load_file (path, JSON_REJECT_DUPLICATES, &error);
    return s_read (root, &error, mapping, districts, count, err);
}

void
kn_hsds_destroy (kn_hsds_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    kn_hsds_t *self = *self_p;
    for (size_t i = 0; i < self->size; i++)
        s_org_destroy (&self->orgs[i]);
    free (self->orgs);
    zhashx_destroy (&self->by_id);
    json_decref (self->ignored);
    free (self);
    *self_p = NULL;
}

size_t
kn_hsds_size (const kn_hsds_t *self)
{
    return self->size;
}

const kn_hsds_org_t *
kn_hsds_get (const kn_hsds_t *self, size_t index)
{
    return index < self->size ? self->orgs[index] : NULL;
}

const kn_hsds_org_t *
kn_hsds_find (const kn_hsds_t *self, const char *id)
{
    return id ? zhashx_lookup (self->by_id, id) : NULL;
}

json_t *
kn_hsds_ignored (const kn_hsds_t *self)
{
    return self->ignored;
}

const kn_hsds_offer_t *
kn_hsds_offer (const kn_hsds_org_t *org)
{
    return org->active_count ? &org->active : &org->mapped;
}
