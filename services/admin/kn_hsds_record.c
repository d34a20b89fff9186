/*  kn_hsds_record: one HSDS 3.0 record's members, checked and put in Kinnet's
    words (needs, districts, languages, interpreters, capacity).

    A service is read the same wherever it appears (inside an organization, alone,
    inside a service_at_location); kn_hsds decides which organization it belongs
    to and adds up what its services offer. */
#include "kn_hsds_record.h"

#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "kn_alloc.h"
#include "kn_language.h"
#include "kn_validate.h"

//  -------------------------------------------------------------------------
//  Paths, errors, the report

void
kn_hsds_path (char out[128], const char *fmt, ...)
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
        kn_hsds_path (out, "%s.%s", path, name);
    else
        kn_hsds_path (out, "%s", name);
}

const char *
kn_hsds_found (json_t *value)
{
    return json_is_object (value)    ? "an object"
           : json_is_array (value)   ? "an array"
           : json_is_string (value)  ? "a string"
           : json_is_number (value)  ? "a number"
           : json_is_boolean (value) ? "true or false"
                                     : "null";
}

int
kn_hsds_invalid (kn_hsds_reader_t *self, const char *org_id, const char *path,
                 const char *fmt, ...)
{
    char message[220];
    va_list args;
    va_start (args, fmt);
    vsnprintf (message, sizeof message, fmt, args);
    va_end (args);
    if (org_id)
        return kn_error_set (self->err, KN_E_INVALID_ARGUMENT, path,
                             "%s (organization '%.60s')", message, org_id);
    return kn_error_set (self->err, KN_E_INVALID_ARGUMENT, path, "%s", message);
}

void
kn_hsds_ignore (kn_hsds_reader_t *self, const char *org_id, const char *path,
                const char *fmt, ...)
{
    char reason[300];
    va_list args;
    va_start (args, fmt);
    vsnprintf (reason, sizeof reason, fmt, args);
    va_end (args);
    //  A service given in several records (one per location, or on two pages) says
    //  the same things each time: the report says each once.
    char *key = zsys_sprintf ("%s\x1f%s", org_id ? org_id : "", reason);
    if (!key)
        abort (); // out of memory: nothing sensible to answer
    bool said = zhashx_lookup (self->reasons, key) != NULL;
    if (!said)
        zhashx_insert (self->reasons, key, (void *)1);
    zstr_free (&key);
    if (said && self->again)
        return;
    json_t *entry = json_pack ("{s:s,s:s?,s:s}", "path", path, "organization_id", org_id,
                               "reason", reason);
    if (!entry || json_array_append_new (self->ignored, entry))
        abort (); // jansson fails only when memory runs out
}

json_t *
kn_hsds_member (json_t *object, const char *name)
{
    json_t *value = json_object_get (object, name);
    return json_is_null (value) ? NULL : value;
}

int
kn_hsds_string (kn_hsds_reader_t *self, const char *org_id, json_t *object,
                const char *path, const char *name, const char **out)
{
    json_t *value = kn_hsds_member (object, name);
    *out = value ? json_string_value (value) : NULL;
    if (value && !json_is_string (value)) {
        char field[128];
        s_member_path (field, path, name);
        return kn_hsds_invalid (self, org_id, field, "'%s' must be a string (found %s)",
                                name, kn_hsds_found (value));
    }
    return 0;
}

int
kn_hsds_required (kn_hsds_reader_t *self, const char *org_id, json_t *object,
                  const char *path, const char *name, size_t max, const char **out)
{
    if (kn_hsds_string (self, org_id, object, path, name, out))
        return -1;
    kn_error_t text;
    //  Names and ids reach other agencies' screens and the logs: text only, no
    //  control characters (an escape sequence in a published directory is refused).
    if (!*out || kn_validate_text (*out, name, 1, max, false, &text)) {
        char field[128], found[40] = "";
        s_member_path (field, path, name);
        size_t len = *out ? strlen (*out) : 0;
        if (*out)
            snprintf (found, sizeof found, "; found %s",
                      len == 0    ? "an empty string"
                      : len > max ? "a longer one"
                                  : "a control character");
        return kn_hsds_invalid (
            self, org_id, field,
            "'%s' is required (1 to %zu bytes of text, no control characters)%s", name,
            max, found);
    }
    return 0;
}

int
kn_hsds_array (kn_hsds_reader_t *self, const char *org_id, json_t *object,
               const char *path, const char *name, json_t **out)
{
    *out = kn_hsds_member (object, name);
    if (*out && !json_is_array (*out)) {
        char field[128];
        s_member_path (field, path, name);
        return kn_hsds_invalid (self, org_id, field, "'%s' must be an array (found %s)",
                                name, kn_hsds_found (*out));
    }
    return 0;
}

//  -------------------------------------------------------------------------
//  What services offer

static void
s_list_add_unique (zlistx_t *list, const char *text)
{
    if (!zlistx_find (list, (void *)text))
        zlistx_add_end (list, (void *)text);
}

static zlistx_t *
s_string_list (void)
{
    zlistx_t *list = zlistx_new ();
    if (!list)
        abort (); // out of memory: nothing sensible to answer
    zlistx_set_destructor (list, (zlistx_destructor_fn *)zstr_free);
    zlistx_set_duplicator (list, (zlistx_duplicator_fn *)strdup);
    zlistx_set_comparator (list, (zlistx_comparator_fn *)strcmp);
    return list;
}

void
kn_hsds_offer_init (kn_hsds_offer_t *self)
{
    memset (self, 0, sizeof *self);
    self->districts = s_string_list ();
    self->languages = s_string_list ();
}

void
kn_hsds_offer_fini (kn_hsds_offer_t *self)
{
    zlistx_destroy (&self->districts);
    zlistx_destroy (&self->languages);
}

void
kn_hsds_offer_merge (kn_hsds_offer_t *self, const kn_hsds_offer_t *other, bool sum)
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
        if (sum)
            self->capacity += other->capacity;
        else if (!self->has_capacity || other->capacity > self->capacity)
            self->capacity = other->capacity;
        self->has_capacity = true;
    }
}

void
kn_hsds_service_entry_destroy (void **item)
{
    kn_hsds_service_entry_t *entry = *item;
    free (entry->id);
    kn_hsds_offer_fini (&entry->offer);
    free (entry);
    *item = NULL;
}

//  -------------------------------------------------------------------------
//  Terms, service areas, languages, capacities

//  A taxonomy term (attribute.taxonomy_term or an item of taxonomy_terms): what it
//  means for needs, interpreters and the sector.
static int
s_term (kn_hsds_reader_t *self, const char *org_id, json_t *term, const char *path,
        kn_directory_needs_t *needs, bool *interpreters, char *sector)
{
    if (!json_is_object (term))
        return kn_hsds_invalid (self, org_id, path,
                                "a taxonomy term must be an object (found %s)",
                                kn_hsds_found (term));
    const char *code, *name;
    if (kn_hsds_string (self, org_id, term, path, "code", &code) ||
        kn_hsds_string (self, org_id, term, path, "name", &name))
        return -1;
    if (!code && !name)
        return kn_hsds_invalid (self, org_id, path,
                                "a taxonomy term needs a code or a name");
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
        kn_hsds_ignore (
            self, org_id, path,
            "taxonomy term '%.80s' maps to a need, but needs come from services",
            name ? name : code);
    else if (!used)
        kn_hsds_ignore (self, org_id, path,
                        "taxonomy term '%.80s'%s%.60s%s is not in the mapping",
                        name ? name : code, name && code ? " (code " : "",
                        name && code ? code : "", name && code ? ")" : "");
    return 0;
}

int
kn_hsds_terms (kn_hsds_reader_t *self, const char *org_id, json_t *object,
               const char *path, kn_directory_needs_t *needs, bool *interpreters,
               char *sector)
{
    json_t *attributes, *terms;
    if (kn_hsds_array (self, org_id, object, path, "attributes", &attributes) ||
        kn_hsds_array (self, org_id, object, path, "taxonomy_terms", &terms))
        return -1;
    char field[128];
    size_t index;
    json_t *item;
    json_array_foreach (attributes, index, item)
    {
        kn_hsds_path (field, "%s.attributes[%zu]", path, index);
        if (!json_is_object (item))
            return kn_hsds_invalid (self, org_id, field,
                                    "an attribute must be an object (found %s)",
                                    kn_hsds_found (item));
        //  An attribute without its term (the tabular form's taxonomy_term_id only)
        //  says nothing this reader can use.
        json_t *term = kn_hsds_member (item, "taxonomy_term");
        kn_hsds_path (field, "%s.attributes[%zu].taxonomy_term", path, index);
        if (term && s_term (self, org_id, term, field, needs, interpreters, sector))
            return -1;
    }
    json_array_foreach (terms, index, item)
    {
        kn_hsds_path (field, "%s.taxonomy_terms[%zu]", path, index);
        if (s_term (self, org_id, item, field, needs, interpreters, sector))
            return -1;
    }
    return 0;
}

static int
s_service_areas (kn_hsds_reader_t *self, const char *org_id, json_t *object,
                 const char *path, kn_hsds_offer_t *offer)
{
    json_t *areas;
    if (kn_hsds_array (self, org_id, object, path, "service_areas", &areas))
        return -1;
    char field[128];
    size_t index;
    json_t *area;
    json_array_foreach (areas, index, area)
    {
        kn_hsds_path (field, "%s.service_areas[%zu]", path, index);
        if (!json_is_object (area))
            return kn_hsds_invalid (self, org_id, field,
                                    "a service area must be an object (found %s)",
                                    kn_hsds_found (area));
        const char *id, *name;
        if (kn_hsds_string (self, org_id, area, field, "id", &id) ||
            kn_hsds_string (self, org_id, area, field, "name", &name))
            return -1;
        if (!id && !name)
            return kn_hsds_invalid (self, org_id, field,
                                    "a service area needs an id or a name");
        //  The mapping first (by id, then name), then the districts Kinnet knows
        //  (by code or name).
        zlistx_t *codes = kn_directory_mapping_districts (self->mapping, id);
        if (!codes)
            codes = kn_directory_mapping_districts (self->mapping, name);
        const char *known = kn_directory_lookup (self->district_names, name);
        if (!codes && !known)
            known = kn_directory_lookup (self->district_names, id);
        if (codes) {
            for (const char *code = zlistx_first (codes); code;
                 code = zlistx_next (codes))
                s_list_add_unique (offer->districts, code);
        } else if (known)
            s_list_add_unique (offer->districts, known);
        else
            kn_hsds_ignore (self, org_id, field,
                            "service area '%.80s' maps to no district", name ? name : id);
    }
    return 0;
}

static int
s_languages (kn_hsds_reader_t *self, const char *org_id, json_t *service,
             const char *path, kn_hsds_offer_t *offer)
{
    json_t *languages;
    if (kn_hsds_array (self, org_id, service, path, "languages", &languages))
        return -1;
    char field[128];
    size_t index;
    json_t *language;
    json_array_foreach (languages, index, language)
    {
        kn_hsds_path (field, "%s.languages[%zu]", path, index);
        if (!json_is_object (language))
            return kn_hsds_invalid (self, org_id, field,
                                    "a language must be an object (found %s)",
                                    kn_hsds_found (language));
        const char *code, *name;
        if (kn_hsds_string (self, org_id, language, field, "code", &code) ||
            kn_hsds_string (self, org_id, language, field, "name", &name))
            return -1;
        char subtag[9];
        const char *mapped =
            name ? kn_directory_mapping_language (self->mapping, name) : NULL;
        if (code) {
            if (kn_language_primary (code, subtag)) {
                kn_hsds_path (field, "%s.languages[%zu].code", path, index);
                return kn_hsds_invalid (
                    self, org_id, field,
                    "'%.20s' is not a language code (ISO 639-1, 639-2 "
                    "or 639-3, or a BCP 47 tag)",
                    code);
            }
            s_list_add_unique (offer->languages, subtag);
        } else if (mapped)
            s_list_add_unique (offer->languages, mapped);
        else if (name)
            kn_hsds_ignore (
                self, org_id, field,
                "language '%.60s' has no code and is not in the mapping's languages",
                name);
        else
            return kn_hsds_invalid (self, org_id, field,
                                    "a language needs a code or a name");
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

//  A capacity's number member: 0 when absent (*present false) or good, else -1.
static int
s_capacity_number (kn_hsds_reader_t *self, const char *org_id, json_t *capacity,
                   const char *path, const char *name, int64_t *out, bool *present)
{
    json_t *value = kn_hsds_member (capacity, name);
    *present = value != NULL;
    if (!value || s_count (value, out))
        return 0;
    char field[128];
    kn_hsds_path (field, "%s.%s", path, name);
    char found[40];
    if (json_is_number (value))
        snprintf (found, sizeof found, "%g", json_number_value (value));
    else
        snprintf (found, sizeof found, "%s", kn_hsds_found (value));
    return kn_hsds_invalid (self, org_id, field,
                            "'%s' must be a whole number from 0 to %d (found %s)", name,
                            INT_MAX, found);
}

static int
s_capacities (kn_hsds_reader_t *self, const char *org_id, json_t *service,
              const char *path, kn_hsds_offer_t *offer)
{
    json_t *capacities;
    if (kn_hsds_array (self, org_id, service, path, "capacities", &capacities))
        return -1;
    char field[128];
    size_t index;
    json_t *capacity;
    json_array_foreach (capacities, index, capacity)
    {
        kn_hsds_path (field, "%s.capacities[%zu]", path, index);
        if (!json_is_object (capacity))
            return kn_hsds_invalid (self, org_id, field,
                                    "a service capacity must be an object (found %s)",
                                    kn_hsds_found (capacity));
        json_t *unit = kn_hsds_member (capacity, "unit");
        char unit_path[128];
        kn_hsds_path (unit_path, "%s.unit", field);
        if (!json_is_object (unit))
            return kn_hsds_invalid (self, org_id, unit_path,
                                    "'unit' is required (an object with a name)%s",
                                    kn_hsds_member (capacity, "unit_id")
                                        ? "; found only the tabular form's unit_id"
                                        : "");
        const char *unit_name;
        int64_t maximum = 0, available = 0;
        bool has_maximum, has_available;
        if (kn_hsds_required (self, org_id, unit, unit_path, "name", 200, &unit_name) ||
            s_capacity_number (self, org_id, capacity, field, "maximum", &maximum,
                               &has_maximum) ||
            s_capacity_number (self, org_id, capacity, field, "available", &available,
                               &has_available))
            return -1;
        if (!kn_directory_mapping_counts_unit (self->mapping, unit_name))
            kn_hsds_ignore (self, org_id, field,
                            "unit '%.60s' is not one of the mapping's capacity_units",
                            unit_name);
        else if (!has_maximum)
            kn_hsds_ignore (self, org_id, field,
                            "no maximum: capacity counts maxima only");
        else {
            offer->has_capacity = true;
            offer->capacity += maximum;
        }
    }
    return 0;
}

//  -------------------------------------------------------------------------
//  Services and service_at_locations

int
kn_hsds_at_location_read (kn_hsds_reader_t *self, const char *org_id, char *sector,
                          json_t *at_location, const char *path, kn_hsds_offer_t *offer)
{
    if (!json_is_object (at_location))
        return kn_hsds_invalid (self, org_id, path,
                                "a service_at_location must be an object (found %s)",
                                kn_hsds_found (at_location));
    if (s_service_areas (self, org_id, at_location, path, offer))
        return -1;
    return kn_hsds_terms (self, org_id, at_location, path, &offer->needs,
                          &offer->interpreters, sector);
}

int
kn_hsds_service_read (kn_hsds_reader_t *self, const char *org_id, char *sector,
                      json_t *service, const char *path, kn_hsds_service_t *out)
{
    if (!json_is_object (service))
        return kn_hsds_invalid (self, org_id, path,
                                "a service must be an object (found %s)",
                                kn_hsds_found (service));
    const char *status, *interpretation;
    json_t *at_locations;
    if (kn_hsds_required (self, org_id, service, path, "id", 200, &out->id) ||
        kn_hsds_required (self, org_id, service, path, "name", 1000, &out->name) ||
        kn_hsds_required (self, org_id, service, path, "status", 100, &status) ||
        kn_hsds_string (self, org_id, service, path, "interpretation_services",
                        &interpretation) ||
        kn_hsds_array (self, org_id, service, path, "service_at_locations",
                       &at_locations))
        return -1;
    out->active = strcasecmp (status, "active") == 0;
    kn_hsds_offer_t *offer = &out->offer;
    if (kn_hsds_terms (self, org_id, service, path, &offer->needs, &offer->interpreters,
                       sector) ||
        s_service_areas (self, org_id, service, path, offer) ||
        s_languages (self, org_id, service, path, offer) ||
        s_capacities (self, org_id, service, path, offer))
        return -1;
    //  Where the service is given: each place may have areas of its own.
    char field[128];
    size_t index;
    json_t *at_location;
    json_array_foreach (at_locations, index, at_location)
    {
        kn_hsds_path (field, "%s.service_at_locations[%zu]", path, index);
        if (kn_hsds_at_location_read (self, org_id, sector, at_location, field, offer))
            return -1;
    }
    if (interpretation && *interpretation &&
        kn_directory_mapping_interpretation_field (self->mapping))
        offer->interpreters = true;
    return 0;
}
