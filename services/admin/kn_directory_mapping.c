/*  kn_directory_mapping: reading and checking a mapping file (docs/directory.md).

    Every key is folded (kn_directory_fold) when the mapping is read, so a lookup
    folds its term once and finds the entry whatever case the publisher used. Two
    keys that fold alike are refused rather than one silently winning. */
#include "kn_directory_mapping.h"
#include "kn_language.h"

#include <ctype.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include <jansson.h>
#include <protobuf-c/protobuf-c.h>

#include "kinnet/v1/common.pb-c.h"
#include "kn_alloc.h"

struct _kn_directory_mapping_t {
    zhashx_t *needs;        // folded term code or name -> kn_directory_needs_t *
    zhashx_t *sectors;      // folded term code or name -> sector name
    zhashx_t *interpreters; // folded term code or name -> "1"
    bool interpretation_field;
    char default_sector[40]; // "" when none
    zhashx_t *districts;     // folded service area id or name -> zlistx_t * of codes
    zhashx_t *languages;     // folded language name -> subtag
    zhashx_t *units;         // folded unit name -> "1"
    zhashx_t *organizations; // HSDS organization id (exact) -> kn_directory_link_t *
    json_t *district_codes;  // [{"field", "code"}]: every code given, in file order
};

//  -------------------------------------------------------------------------
//  Helpers

//  The value of an enum name given in any case, 0 (UNSPECIFIED) excluded; -1 when
//  there is none. out, when given, gets the name in lower case.
static int
s_enum_name (const ProtobufCEnumDescriptor *descriptor, const char *name, char out[40])
{
    char upper[40] = "";
    size_t len = name ? strlen (name) : 0;
    if (len == 0 || len >= sizeof upper)
        return -1;
    for (size_t i = 0; i < len; i++)
        upper[i] = (char)toupper ((unsigned char)name[i]);
    const ProtobufCEnumValue *value =
        protobuf_c_enum_descriptor_get_value_by_name (descriptor, upper);
    if (!value || value->value == 0)
        return -1;
    if (out) {
        //  Stored and shown in lower case, as kn_agency_add stores sectors.
        for (size_t i = 0; i <= len; i++)
            out[i] = (char)tolower ((unsigned char)upper[i]);
    }
    return value->value;
}

static int
s_need_value (const char *name)
{
    return s_enum_name (&kinnet__v1__need_category__descriptor, name, NULL);
}

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

char *
kn_directory_fold (const char *text)
{
    while (*text == ' ' || *text == '\t')
        text++;
    size_t len = strlen (text);
    while (len && (text[len - 1] == ' ' || text[len - 1] == '\t'))
        len--;
    char *folded = kn_malloc (len + 1);
    for (size_t i = 0; i < len; i++)
        folded[i] = (char)tolower ((unsigned char)text[i]);
    folded[len] = '\0';
    return folded;
}

void *
kn_directory_lookup (zhashx_t *hash, const char *key)
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

static void
s_free_list (void **item)
{
    zlistx_destroy ((zlistx_t **)item);
}

static void
s_free_link (void **item)
{
    kn_directory_link_t *link = *item;
    if (link) {
        free (link->district);
        free (link);
    }
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
//  Reading a mapping

//  Used when no --mapping is given: terms named as people write them, and every
//  NeedCategory and AgencySector name itself (added in code below), so a publisher
//  can tag services with Kinnet's own vocabulary. docs/directory.md lists it.
static const char *s_default_mapping =
    "{\"needs\": {"
    "  \"school attendance\": \"attendance_and_learning\","
    "  \"education support\": \"attendance_and_learning\","
    "  \"special educational needs\": \"special_educational_needs_disability\","
    "  \"disability support\": \"special_educational_needs_disability\","
    "  \"english as an additional language\": \"language_support\","
    "  \"language support\": \"language_support\","
    "  \"mental health\": \"mental_health_need\","
    "  \"counselling\": \"mental_health_need\","
    "  \"health\": \"physical_health\","
    "  \"health visiting\": [\"physical_health\", \"early_years_development\"],"
    "  \"housing\": \"housing_need\","
    "  \"homelessness\": \"housing_need\","
    "  \"benefits advice\": \"income_poverty\","
    "  \"debt advice\": \"income_poverty\","
    "  \"food bank\": \"income_poverty\","
    "  \"parenting\": \"parenting_support\","
    "  \"family support\": \"parenting_support\","
    "  \"domestic abuse\": \"domestic_abuse\","
    "  \"domestic violence\": \"domestic_abuse\","
    "  \"child protection\": \"child_protection_concern\","
    "  \"safeguarding\": \"child_protection_concern\","
    "  \"immigration advice\": \"migration_legal_status\","
    "  \"asylum support\": \"migration_legal_status\","
    "  \"substance misuse\": \"substance_misuse\","
    "  \"drug and alcohol\": \"substance_misuse\","
    "  \"young carers\": \"young_carer\","
    "  \"early years\": \"early_years_development\","
    "  \"childcare\": \"early_years_development\"},"
    " \"interpreter_terms\": [\"interpreting\", \"interpretation\","
    "                         \"interpreting services\", \"interpretation services\"],"
    " \"interpretation_services_field\": true,"
    " \"sectors\": {"
    "  \"schools\": \"school\", \"children's social care\": \"social_services\","
    "  \"charity\": \"ngo_community\", \"voluntary sector\": \"ngo_community\","
    "  \"nhs\": \"health\", \"local authority\": \"local_authority\"},"
    " \"capacity_units\": [\"people\", \"persons\", \"person\", \"individuals\","
    "  \"families\", \"family\", \"households\", \"cases\", \"case\", \"clients\","
    "  \"children\", \"child\", \"young people\", \"places\", \"referrals\"]}";

static int s_mapping_fail (kn_error_t *err, const char *section, const char *key,
                           const char *fmt, ...) __attribute__ ((format (printf, 4, 5)));

static int
s_mapping_fail (kn_error_t *err, const char *section, const char *key, const char *fmt,
                ...)
{
    char field[128];
    if (key)
        s_path (field, "mapping.%s.%s", section, key);
    else
        s_path (field, "mapping.%s", section);
    char message[200];
    va_list args;
    va_start (args, fmt);
    vsnprintf (message, sizeof message, fmt, args);
    va_end (args);
    return kn_error_set (err, KN_E_INVALID_ARGUMENT, field, "mapping: %s", message);
}

//  Insert under the folded key; two keys that fold alike are a mistake worth saying.
static int
s_mapping_put (zhashx_t *hash, const char *section, const char *key, void *value,
               kn_error_t *err)
{
    char *folded = kn_directory_fold (key);
    int rc = 0;
    if (!*folded)
        rc = s_mapping_fail (err, section, key, "empty key");
    else if (zhashx_insert (hash, folded, value) != 0)
        rc = s_mapping_fail (err, section, key, "'%s' is given twice (keys ignore case)",
                             key);
    free (folded);
    return rc;
}

static int
s_mapping_needs (kn_directory_mapping_t *self, json_t *needs, kn_error_t *err)
{
    if (!json_is_object (needs))
        return s_mapping_fail (err, "needs", NULL, "must be an object: term -> need(s)");
    const char *key;
    json_t *value;
    json_object_foreach (needs, key, value)
    {
        kn_directory_needs_t set = {{0, 0}};
        json_t *names =
            json_is_array (value) ? json_incref (value) : json_pack ("[O]", value);
        size_t index;
        json_t *name;
        json_array_foreach (names, index, name)
        {
            int need =
                json_is_string (name) ? s_need_value (json_string_value (name)) : -1;
            if (need < 1 || need > 100) {
                json_decref (names);
                if (!json_is_string (name))
                    return s_mapping_fail (err, "needs", key,
                                           "a need must be a NeedCategory name (string)");
                return s_mapping_fail (err, "needs", key,
                                       "unknown NeedCategory '%.60s' (see "
                                       "proto/kinnet/v1/common.proto)",
                                       json_string_value (name));
            }
            kn_directory_needs_add (&set, need);
        }
        json_decref (names);
        if (kn_directory_needs_empty (&set))
            return s_mapping_fail (err, "needs", key, "no need given");
        kn_directory_needs_t *copy = kn_malloc (sizeof *copy);
        *copy = set;
        if (s_mapping_put (self->needs, "needs", key, copy, err)) {
            free (copy);
            return -1;
        }
    }
    return 0;
}

//  A JSON array of strings into hash as folded keys with value "1".
static int
s_mapping_set (zhashx_t *hash, const char *section, json_t *array, kn_error_t *err)
{
    if (!json_is_array (array))
        return s_mapping_fail (err, section, NULL, "must be an array of strings");
    size_t index;
    json_t *item;
    json_array_foreach (array, index, item)
    {
        char position[24];
        snprintf (position, sizeof position, "%zu", index);
        if (!json_is_string (item))
            return s_mapping_fail (err, section, position, "must be a string");
        char *folded = kn_directory_fold (json_string_value (item));
        if (*folded)
            zhashx_update (hash, folded, "1");
        free (folded);
    }
    return 0;
}

static int
s_mapping_sectors (kn_directory_mapping_t *self, json_t *sectors, kn_error_t *err)
{
    if (!json_is_object (sectors))
        return s_mapping_fail (err, "sectors", NULL, "must be an object: term -> sector");
    const char *key;
    json_t *value;
    json_object_foreach (sectors, key, value)
    {
        char sector[40];
        if (!json_is_string (value) ||
            s_enum_name (&kinnet__v1__agency_sector__descriptor,
                         json_string_value (value), sector) < 0)
            return s_mapping_fail (
                err, "sectors", key,
                "not an AgencySector name (school, social_services, ...)");
        char *copy = kn_strdup (sector);
        if (s_mapping_put (self->sectors, "sectors", key, copy, err)) {
            free (copy);
            return -1;
        }
    }
    return 0;
}

bool
kn_directory_district_code_ok (const char *code)
{
    size_t len = strlen (code);
    if (len < 1 || len > 64)
        return false;
    for (size_t i = 0; i < len; i++)
        if ((unsigned char)code[i] < 0x20)
            return false;
    return true;
}

//  A district code the mapping gives at field, for the import to check against the
//  districts Kinnet knows (kn_directory_mapping_district_codes).
static void
s_district_given (kn_directory_mapping_t *self, const char *field, const char *code)
{
    json_array_append_new (self->district_codes,
                           json_pack ("{s:s,s:s}", "field", field, "code", code));
}

static int
s_mapping_districts (kn_directory_mapping_t *self, json_t *districts, kn_error_t *err)
{
    if (!json_is_object (districts))
        return s_mapping_fail (
            err, "districts", NULL,
            "must be an object: service area id or name -> district code(s)");
    const char *key;
    json_t *value;
    json_object_foreach (districts, key, value)
    {
        json_t *codes =
            json_is_array (value) ? json_incref (value) : json_pack ("[O]", value);
        zlistx_t *list = s_string_list ();
        size_t index;
        json_t *code;
        json_array_foreach (codes, index, code)
        {
            if (!json_is_string (code) ||
                !kn_directory_district_code_ok (json_string_value (code))) {
                json_decref (codes);
                zlistx_destroy (&list);
                return s_mapping_fail (
                    err, "districts", key,
                    "a district code is a string of 1 to 64 characters");
            }
            s_list_add_unique (list, json_string_value (code));
            char field[128];
            s_path (field, "mapping.districts.%s", key);
            s_district_given (self, field, json_string_value (code));
        }
        json_decref (codes);
        if (zlistx_size (list) == 0) {
            zlistx_destroy (&list);
            return s_mapping_fail (err, "districts", key, "no district given");
        }
        if (s_mapping_put (self->districts, "districts", key, list, err)) {
            zlistx_destroy (&list);
            return -1;
        }
    }
    return 0;
}

static int
s_mapping_languages (kn_directory_mapping_t *self, json_t *languages, kn_error_t *err)
{
    if (!json_is_object (languages))
        return s_mapping_fail (err, "languages", NULL,
                               "must be an object: language name -> code");
    const char *key;
    json_t *value;
    json_object_foreach (languages, key, value)
    {
        char subtag[9];
        if (!json_is_string (value) ||
            kn_language_primary (json_string_value (value), subtag))
            return s_mapping_fail (err, "languages", key,
                                   "not a language code (ISO 639)");
        char *copy = kn_strdup (subtag);
        if (s_mapping_put (self->languages, "languages", key, copy, err)) {
            free (copy);
            return -1;
        }
    }
    return 0;
}

static int
s_mapping_organizations (kn_directory_mapping_t *self, json_t *organizations,
                         kn_error_t *err)
{
    if (!json_is_object (organizations))
        return s_mapping_fail (err, "organizations", NULL,
                               "must be an object: HSDS organization id -> settings");
    const char *key;
    json_t *value;
    json_object_foreach (organizations, key, value)
    {
        if (!json_is_object (value))
            return s_mapping_fail (err, "organizations", key, "must be an object");
        kn_directory_link_t *link = kn_calloc (1, sizeof *link);
        zhashx_update (self->organizations, key, link);
        const char *member;
        json_t *setting;
        json_object_foreach (value, member, setting)
        {
            char field[128];
            s_path (field, "%.60s.%s", key, member);
            if (streq (member, "agency_id")) {
                if (!json_is_string (setting) ||
                    !kn_uuid_valid (json_string_value (setting)))
                    return s_mapping_fail (err, "organizations", field,
                                           "agency_id must be a Kinnet agency UUID");
                for (int i = 0; i < KN_UUID_STR - 1; i++)
                    link->agency_id[i] =
                        (char)tolower ((unsigned char)json_string_value (setting)[i]);
            } else if (streq (member, "sector")) {
                char sector[40];
                if (!json_is_string (setting) ||
                    s_enum_name (&kinnet__v1__agency_sector__descriptor,
                                 json_string_value (setting), sector) < 0)
                    return s_mapping_fail (err, "organizations", field,
                                           "not an AgencySector name");
                snprintf (link->sector, sizeof link->sector, "%s", sector);
            } else if (streq (member, "district")) {
                if (!json_is_string (setting) ||
                    !kn_directory_district_code_ok (json_string_value (setting)))
                    return s_mapping_fail (
                        err, "organizations", field,
                        "a district code is a string of 1 to 64 characters");
                free (link->district);
                link->district = kn_strdup (json_string_value (setting));
                char path[128];
                s_path (path, "mapping.organizations.%s", field);
                s_district_given (self, path, link->district);
            } else
                return s_mapping_fail (err, "organizations", field,
                                       "unknown setting (agency_id, sector, district)");
        }
    }
    return 0;
}

static kn_directory_mapping_t *
s_mapping_new (void)
{
    kn_directory_mapping_t *self = kn_calloc (1, sizeof *self);
    zhashx_t **hashes[] = {&self->needs,        &self->sectors,   &self->interpreters,
                           &self->districts,    &self->languages, &self->units,
                           &self->organizations};
    for (size_t i = 0; i < sizeof hashes / sizeof hashes[0]; i++)
        *hashes[i] = zhashx_new ();
    zhashx_set_destructor (self->needs, s_free_item);
    zhashx_set_destructor (self->sectors, s_free_item);
    zhashx_set_destructor (self->languages, s_free_item);
    zhashx_set_destructor (self->districts, s_free_list);
    zhashx_set_destructor (self->organizations, s_free_link);
    self->interpretation_field = true;
    self->district_codes = json_array ();
    return self;
}

static int
s_mapping_load (kn_directory_mapping_t *self, json_t *root, kn_error_t *err)
{
    if (!json_is_object (root))
        return kn_error_set (err, KN_E_INVALID_ARGUMENT, "mapping",
                             "mapping: must be a JSON object");
    const char *key;
    json_t *value;
    json_object_foreach (root, key, value)
    {
        int rc = 0;
        if (streq (key, "needs"))
            rc = s_mapping_needs (self, value, err);
        else if (streq (key, "sectors"))
            rc = s_mapping_sectors (self, value, err);
        else if (streq (key, "interpreter_terms"))
            rc = s_mapping_set (self->interpreters, key, value, err);
        else if (streq (key, "capacity_units"))
            rc = s_mapping_set (self->units, key, value, err);
        else if (streq (key, "districts"))
            rc = s_mapping_districts (self, value, err);
        else if (streq (key, "languages"))
            rc = s_mapping_languages (self, value, err);
        else if (streq (key, "organizations"))
            rc = s_mapping_organizations (self, value, err);
        else if (streq (key, "interpretation_services_field")) {
            if (!json_is_boolean (value))
                rc = s_mapping_fail (err, key, NULL, "must be true or false");
            self->interpretation_field = json_is_true (value);
        } else if (streq (key, "default_sector")) {
            char sector[40];
            if (!json_is_string (value) ||
                s_enum_name (&kinnet__v1__agency_sector__descriptor,
                             json_string_value (value), sector) < 0)
                rc = s_mapping_fail (err, key, NULL, "not an AgencySector name");
            else
                snprintf (self->default_sector, sizeof self->default_sector, "%s",
                          sector);
        } else if (streq (key, "version")) {
            if (!json_is_integer (value) || json_integer_value (value) != 1)
                rc = s_mapping_fail (err, key, NULL,
                                     "this Kinnet reads mapping version 1");
        } else if (!streq (key, "description"))
            rc =
                s_mapping_fail (err, key, NULL, "unknown member (see docs/directory.md)");
        if (rc)
            return -1;
    }
    return 0;
}

static kn_directory_mapping_t *
s_mapping_from (json_t *root, bool with_vocabulary, kn_error_t *err)
{
    kn_directory_mapping_t *self = s_mapping_new ();
    if (s_mapping_load (self, root, err)) {
        kn_directory_mapping_destroy (&self);
        return NULL;
    }
    if (with_vocabulary) {
        //  Kinnet's own names as terms ("housing_need", "school"), below any
        //  explicit entry of the same name.
        const ProtobufCEnumDescriptor *needs = &kinnet__v1__need_category__descriptor;
        for (unsigned i = 0; i < needs->n_values; i++) {
            if (needs->values[i].value < 1 || needs->values[i].value > 100)
                continue;
            char *name = kn_directory_fold (needs->values[i].name);
            kn_directory_needs_t *set = kn_calloc (1, sizeof *set);
            kn_directory_needs_add (set, needs->values[i].value);
            if (zhashx_insert (self->needs, name, set) != 0)
                free (set);
            free (name);
        }
        const ProtobufCEnumDescriptor *sectors = &kinnet__v1__agency_sector__descriptor;
        for (unsigned i = 0; i < sectors->n_values; i++) {
            if (sectors->values[i].value == 0)
                continue;
            char *name = kn_directory_fold (sectors->values[i].name);
            char *copy = kn_strdup (name);
            if (zhashx_insert (self->sectors, name, copy) != 0)
                free (copy);
            free (name);
        }
    }
    return self;
}

kn_directory_mapping_t *
kn_directory_mapping_parse (const char *text, kn_error_t *err)
{
    json_error_t error;
    json_t *root = json_loads (text, JSON_REJECT_DUPLICATES, &error);
    if (!root) {
        kn_error_set (err, KN_E_INVALID_ARGUMENT, "mapping",
                      "mapping: invalid JSON at line %d column %d: %s", error.line,
                      error.column, error.text);
        return NULL;
    }
    kn_directory_mapping_t *self = s_mapping_from (root, false, err);
    json_decref (root);
    return self;
}

kn_directory_mapping_t *
kn_directory_mapping_new (const char *path, kn_error_t *err)
{
    json_error_t error;
    json_t *root = path ? json_load_file (path, JSON_REJECT_DUPLICATES, &error)
                        : json_loads (s_default_mapping, JSON_REJECT_DUPLICATES, &error);
    if (!root) {
        if (error.line < 0)
            kn_error_set (err, KN_E_INVALID_ARGUMENT, "mapping", "mapping: %s",
                          error.text);
        else
            kn_error_set (err, KN_E_INVALID_ARGUMENT, "mapping",
                          "mapping %s: invalid JSON at line %d column %d: %s",
                          path ? path : "(built-in)", error.line, error.column,
                          error.text);
        return NULL;
    }
    kn_directory_mapping_t *self = s_mapping_from (root, path == NULL, err);
    json_decref (root);
    return self;
}

void
kn_directory_mapping_destroy (kn_directory_mapping_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    kn_directory_mapping_t *self = *self_p;
    zhashx_destroy (&self->needs);
    zhashx_destroy (&self->sectors);
    zhashx_destroy (&self->interpreters);
    zhashx_destroy (&self->districts);
    zhashx_destroy (&self->languages);
    zhashx_destroy (&self->units);
    zhashx_destroy (&self->organizations);
    json_decref (self->district_codes);
    free (self);
    *self_p = NULL;
}

//  -------------------------------------------------------------------------
//  Lookups

//  Every unknown code in one answer: a mistyped code would make the agency
//  unreachable for referrals in the district it means, so none may pass.
int
kn_directory_mapping_check_districts (const kn_directory_mapping_t *self,
                                      const char *const *known_codes, size_t count,
                                      kn_error_t *err)
{
    const json_t *given = self->district_codes;
    const char *first = NULL;
    char codes[120] = "";
    size_t unknown = 0, index;
    json_t *item;
    json_array_foreach (given, index, item)
    {
        const char *code = json_string_value (json_object_get (item, "code"));
        bool known = false;
        for (size_t i = 0; i < count && !known; i++)
            known = streq (known_codes[i], code);
        char quoted[80];
        snprintf (quoted, sizeof quoted, "'%.60s'", code);
        if (known || strstr (codes, quoted))
            continue; // one code at several members is named once
        if (!first)
            first = json_string_value (json_object_get (item, "field"));
        size_t used = strlen (codes);
        if (used + strlen (quoted) + 6 < sizeof codes)
            snprintf (codes + used, sizeof codes - used, "%s%s", used ? ", " : "",
                      quoted);
        else if (!strstr (codes, "..."))
            snprintf (codes + used, sizeof codes - used, ", ...");
        unknown++;
    }
    if (!unknown)
        return 0;
    return kn_error_set (err, KN_E_INVALID_ARGUMENT, first,
                         "%zu district code%s not registered: %s; register each with "
                         "`kinnet admin directory district set CODE --name NAME`, or "
                         "correct the mapping",
                         unknown, unknown > 1 ? "s are" : " is", codes);
}

const kn_directory_needs_t *
kn_directory_mapping_needs (const kn_directory_mapping_t *self, const char *term)
{
    return kn_directory_lookup (self->needs, term);
}

bool
kn_directory_mapping_interpreting (const kn_directory_mapping_t *self, const char *term)
{
    return kn_directory_lookup (self->interpreters, term) != NULL;
}

const char *
kn_directory_mapping_sector (const kn_directory_mapping_t *self, const char *term)
{
    return kn_directory_lookup (self->sectors, term);
}

zlistx_t *
kn_directory_mapping_districts (const kn_directory_mapping_t *self, const char *area)
{
    return kn_directory_lookup (self->districts, area);
}

const char *
kn_directory_mapping_language (const kn_directory_mapping_t *self, const char *name)
{
    return kn_directory_lookup (self->languages, name);
}

bool
kn_directory_mapping_counts_unit (const kn_directory_mapping_t *self, const char *unit)
{
    return kn_directory_lookup (self->units, unit) != NULL;
}

const kn_directory_link_t *
kn_directory_mapping_link (const kn_directory_mapping_t *self,
                           const char *organization_id)
{
    return organization_id ? zhashx_lookup (self->organizations, organization_id) : NULL;
}

const char *
kn_directory_mapping_default_sector (const kn_directory_mapping_t *self)
{
    return self->default_sector;
}

bool
kn_directory_mapping_interpretation_field (const kn_directory_mapping_t *self)
{
    return self->interpretation_field;
}
