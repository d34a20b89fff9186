/*  kn_directory: the agency directory and its Open Referral HSDS 3.0 import.

    An import runs in three steps inside one transaction: read the mapping and the
    districts table, parse and check the whole file into one s_org_t per HSDS
    organization (nothing is written while a single record is wrong), then compare
    each organization with its agency row and write only the differences. The
    report is built as the differences are found, so a dry run is the same code
    ending in ROLLBACK. */
#include "kn_directory.h"
#include "kn_language.h"

#include <ctype.h>
#include <limits.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <czmq.h>
#include <protobuf-c/protobuf-c.h>

#include "kinnet/v1/common.pb-c.h"
#include "kn_uuid.h"

//  NeedCategory values are 1..100 (core.agency_need's CHECK): a set fits 128 bits.
typedef struct {
    uint64_t bits[2];
} s_needs_t;

//  One HSDS organization id mapped onto Kinnet (mapping "organizations").
typedef struct {
    char agency_id[KN_UUID_STR]; // "" unless linked to an existing agency
    char sector[40];             // "" when the mapping does not say
    char *district;              // NULL when the mapping does not say
} s_link_t;

struct _kn_directory_mapping_t {
    zhashx_t *needs;        // folded term code or name -> s_needs_t *
    zhashx_t *sectors;      // folded term code or name -> sector name
    zhashx_t *interpreters; // folded term code or name -> "1"
    bool interpretation_field;
    char default_sector[40]; // "" when none
    zhashx_t *districts;     // folded service area id or name -> zlistx_t * of codes
    zhashx_t *languages;     // folded language name -> subtag
    zhashx_t *units;         // folded unit name -> "1"
    zhashx_t *organizations; // HSDS organization id (exact) -> s_link_t *
};

//  What a set of services says about an organization.
typedef struct {
    s_needs_t needs;
    zlistx_t *districts; // codes, file order, no duplicates
    zlistx_t *languages; // subtags, no duplicates
    bool interpreters;
    bool has_capacity;
    int64_t capacity;
} s_offer_t;

//  One HSDS organization as the file describes it.
typedef struct {
    char *id;
    char *name;
    char path[128];   // where it first appears, for errors
    char sector[40];  // from the mapping or a sector term; "" when unknown
    s_offer_t active; // from its active services that map to a need
    s_offer_t mapped; // from all its services that map to a need
    int active_count, mapped_count;
} s_org_t;

typedef struct {
    const kn_directory_mapping_t *mapping;
    zhashx_t *district_names; // folded core.district code or name -> code
    zlistx_t *orgs;           // s_org_t *, file order
    zhashx_t *by_id;          // id -> s_org_t * (not owned)
    json_t *ignored;
    kn_error_t *err;
} s_import_t;

//  -------------------------------------------------------------------------
//  Vocabulary: sectors, needs, languages

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

static void
s_need_name (int value, char out[40])
{
    const ProtobufCEnumValue *found = protobuf_c_enum_descriptor_get_value (
        &kinnet__v1__need_category__descriptor, value);
    snprintf (out, 40, "%s", found ? found->name : "unknown");
    for (char *c = out; *c; c++)
        *c = (char)tolower ((unsigned char)*c);
}

static void
s_needs_add (s_needs_t *self, int value)
{
    self->bits[value / 64] |= (uint64_t)1 << (value % 64);
}

static bool
s_needs_has (const s_needs_t *self, int value)
{
    return (self->bits[value / 64] >> (value % 64)) & 1;
}

static bool
s_needs_empty (const s_needs_t *self)
{
    return self->bits[0] == 0 && self->bits[1] == 0;
}

static void
s_needs_merge (s_needs_t *self, const s_needs_t *other)
{
    self->bits[0] |= other->bits[0];
    self->bits[1] |= other->bits[1];
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

//  path.name, or name alone at the top level.
static void
s_member_path (char out[128], const char *path, const char *name)
{
    if (*path)
        s_path (out, "%s.%s", path, name);
    else
        s_path (out, "%s", name);
}

//  Mapping keys and looked-up values compare ignoring ASCII case and surrounding
//  blanks: publishers are not consistent about either. Caller frees.
static char *
s_fold (const char *text)
{
    while (*text == ' ' || *text == '\t')
        text++;
    size_t len = strlen (text);
    while (len && (text[len - 1] == ' ' || text[len - 1] == '\t'))
        len--;
    char *folded = malloc (len + 1);
    for (size_t i = 0; i < len; i++)
        folded[i] = (char)tolower ((unsigned char)text[i]);
    folded[len] = '\0';
    return folded;
}

static void *
s_lookup (zhashx_t *hash, const char *key)
{
    if (!key || !hash)
        return NULL;
    char *folded = s_fold (key);
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
    s_link_t *link = *item;
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
//  Mapping

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
    char *folded = s_fold (key);
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
        s_needs_t set = {{0, 0}};
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
            s_needs_add (&set, need);
        }
        json_decref (names);
        if (s_needs_empty (&set))
            return s_mapping_fail (err, "needs", key, "no need given");
        s_needs_t *copy = malloc (sizeof *copy);
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
        char *folded = s_fold (json_string_value (item));
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
        char *copy = strdup (sector);
        if (s_mapping_put (self->sectors, "sectors", key, copy, err)) {
            free (copy);
            return -1;
        }
    }
    return 0;
}

static bool
s_district_code_ok (const char *code)
{
    size_t len = strlen (code);
    if (len < 1 || len > 64)
        return false;
    for (size_t i = 0; i < len; i++)
        if ((unsigned char)code[i] < 0x20)
            return false;
    return true;
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
                !s_district_code_ok (json_string_value (code))) {
                json_decref (codes);
                zlistx_destroy (&list);
                return s_mapping_fail (
                    err, "districts", key,
                    "a district code is a string of 1 to 64 characters");
            }
            s_list_add_unique (list, json_string_value (code));
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
        char *copy = strdup (subtag);
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
        s_link_t *link = calloc (1, sizeof *link);
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
                    !s_district_code_ok (json_string_value (setting)))
                    return s_mapping_fail (
                        err, "organizations", field,
                        "a district code is a string of 1 to 64 characters");
                free (link->district);
                link->district = strdup (json_string_value (setting));
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
    kn_directory_mapping_t *self = calloc (1, sizeof *self);
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
            char *name = s_fold (needs->values[i].name);
            s_needs_t *set = calloc (1, sizeof *set);
            s_needs_add (set, needs->values[i].value);
            if (zhashx_insert (self->needs, name, set) != 0)
                free (set);
            free (name);
        }
        const ProtobufCEnumDescriptor *sectors = &kinnet__v1__agency_sector__descriptor;
        for (unsigned i = 0; i < sectors->n_values; i++) {
            if (sectors->values[i].value == 0)
                continue;
            char *name = s_fold (sectors->values[i].name);
            char *copy = strdup (name);
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
    free (self);
    *self_p = NULL;
}

//  -------------------------------------------------------------------------
//  Reading the HSDS file

static void
s_offer_init (s_offer_t *self)
{
    memset (self, 0, sizeof *self);
    self->districts = s_string_list ();
    self->languages = s_string_list ();
}

static void
s_offer_fini (s_offer_t *self)
{
    zlistx_destroy (&self->districts);
    zlistx_destroy (&self->languages);
}

static void
s_offer_merge (s_offer_t *self, const s_offer_t *other)
{
    s_needs_merge (&self->needs, &other->needs);
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
s_org_destroy (s_org_t **self_p)
{
    if (!*self_p)
        return;
    s_org_t *self = *self_p;
    free (self->id);
    free (self->name);
    s_offer_fini (&self->active);
    s_offer_fini (&self->mapped);
    free (self);
    *self_p = NULL;
}

//  An error about the record at path, naming the organization when it is known.
static int s_invalid (s_import_t *self, const s_org_t *org, const char *path,
                      const char *fmt, ...) __attribute__ ((format (printf, 4, 5)));

static int
s_invalid (s_import_t *self, const s_org_t *org, const char *path, const char *fmt, ...)
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

static void s_ignore (s_import_t *self, const s_org_t *org, const char *path,
                      const char *fmt, ...) __attribute__ ((format (printf, 4, 5)));

static void
s_ignore (s_import_t *self, const s_org_t *org, const char *path, const char *fmt, ...)
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
s_string (s_import_t *self, const s_org_t *org, json_t *object, const char *path,
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
s_required_string (s_import_t *self, const s_org_t *org, json_t *object, const char *path,
                   const char *name, size_t max, const char **out)
{
    if (s_string (self, org, object, path, name, out))
        return -1;
    if (!*out || !**out || strlen (*out) > max) {
        char field[128];
        s_member_path (field, path, name);
        return s_invalid (self, org, field,
                          "'%s' is required (a string of 1 to %zu bytes)", name, max);
    }
    return 0;
}

//  Optional array member: NULL when absent, -1 on a wrong type.
static int
s_array (s_import_t *self, const s_org_t *org, json_t *object, const char *path,
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
s_term (s_import_t *self, const s_org_t *org, json_t *term, const char *path,
        s_needs_t *needs, bool *interpreters, char *sector)
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
    s_needs_t *found = s_lookup (mapping->needs, code);
    if (!found)
        found = s_lookup (mapping->needs, name);
    if (found && needs) {
        s_needs_merge (needs, found);
        used = true;
    }
    if (interpreters && (s_lookup (mapping->interpreters, code) ||
                         s_lookup (mapping->interpreters, name))) {
        *interpreters = true;
        used = true;
    }
    const char *term_sector = s_lookup (mapping->sectors, code);
    if (!term_sector)
        term_sector = s_lookup (mapping->sectors, name);
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
s_terms (s_import_t *self, const s_org_t *org, json_t *object, const char *path,
         s_needs_t *needs, bool *interpreters, char *sector)
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
        //  says nothing this import can read.
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
s_service_areas (s_import_t *self, const s_org_t *org, json_t *service, const char *path,
                 s_offer_t *offer)
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
        zlistx_t *codes = s_lookup (self->mapping->districts, id);
        if (!codes)
            codes = s_lookup (self->mapping->districts, name);
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
s_languages (s_import_t *self, const s_org_t *org, json_t *service, const char *path,
             s_offer_t *offer)
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
        } else if (name && s_lookup (self->mapping->languages, name))
            s_list_add_unique (offer->languages,
                               s_lookup (self->mapping->languages, name));
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
s_capacities (s_import_t *self, const s_org_t *org, json_t *service, const char *path,
              s_offer_t *offer)
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
        if (!s_lookup (self->mapping->units, unit_name))
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
s_service (s_import_t *self, s_org_t *org, json_t *service, const char *path)
{
    if (!json_is_object (service))
        return s_invalid (self, org, path, "a service must be an object");
    const char *id, *name, *status, *interpretation;
    if (s_required_string (self, org, service, path, "id", 200, &id) ||
        s_required_string (self, org, service, path, "name", 1000, &name) ||
        s_required_string (self, org, service, path, "status", 100, &status) ||
        s_string (self, org, service, path, "interpretation_services", &interpretation))
        return -1;
    s_offer_t offer;
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
        self->mapping->interpretation_field)
        offer.interpreters = true;
    if (rc == 0 && s_needs_empty (&offer.needs))
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
//  before returns the same s_org_t when repeat is allowed (services that each
//  carry their organization).
static s_org_t *
s_organization (s_import_t *self, json_t *object, const char *path, bool repeat)
{
    if (!json_is_object (object)) {
        s_invalid (self, NULL, path, "an organization must be an object");
        return NULL;
    }
    const char *id, *name;
    if (s_required_string (self, NULL, object, path, "id", 200, &id))
        return NULL;
    s_org_t *org = zhashx_lookup (self->by_id, id);
    if (org && !repeat) {
        char field[128];
        s_path (field, "%s.id", path);
        s_invalid (self, org, field, "organization id given twice (first at %s)",
                   org->path);
        return NULL;
    }
    if (org)
        return org;
    org = calloc (1, sizeof *org);
    org->id = strdup (id);
    snprintf (org->path, sizeof org->path, "%s", path);
    s_offer_init (&org->active);
    s_offer_init (&org->mapped);
    zlistx_add_end (self->orgs, org);
    zhashx_insert (self->by_id, id, org);
    if (s_required_string (self, org, object, path, "name", 200, &name))
        return NULL;
    org->name = strdup (name);
    //  The mapping's word on the sector wins over terms.
    const s_link_t *link = zhashx_lookup (self->mapping->organizations, id);
    if (link && *link->sector)
        snprintf (org->sector, sizeof org->sector, "%s", link->sector);
    if (s_terms (self, org, object, path, NULL, NULL, org->sector))
        return NULL;
    return org;
}

static int
s_organizations (s_import_t *self, json_t *array, const char *prefix)
{
    char path[128];
    size_t index;
    json_t *object;
    json_array_foreach (array, index, object)
    {
        s_path (path, "%s[%zu]", prefix, index);
        s_org_t *org = s_organization (self, object, path, false);
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
s_services (s_import_t *self, json_t *array, const char *prefix)
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
        s_org_t *org = NULL;
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

static int
s_read_file (s_import_t *self, const char *file)
{
    json_error_t error;
    json_t *root = json_load_file (file, JSON_REJECT_DUPLICATES, &error);
    if (!root) {
        if (error.line < 0)
            return kn_error_set (self->err, KN_E_INVALID_ARGUMENT, "file", "%s",
                                 error.text);
        return kn_error_set (self->err, KN_E_INVALID_ARGUMENT, "file",
                             "invalid JSON at line %d column %d: %s", error.line,
                             error.column, error.text);
    }
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
    json_decref (root);
    return rc ? -1 : 0;
}

//  -------------------------------------------------------------------------
//  Writing the directory

typedef struct {
    char id[KN_UUID_STR];
    char *name, *sector, *district, *directory_id;
    bool accepting, interpreters;
    bool has_capacity;
    int64_t capacity;
} s_row_t;

static void
s_row_free (s_row_t *row)
{
    free (row->name);
    free (row->sector);
    free (row->district);
    free (row->directory_id);
    memset (row, 0, sizeof *row);
}

//  The agency row (FOR UPDATE: the import owns it until commit). 1 found, 0 none,
//  -1 error.
static int
s_row_read (kn_db_t *db, const char *where, const char *value, s_row_t *row,
            kn_error_t *err)
{
    //  where is one of two fixed column names, never input.
    char sql[300];
    snprintf (sql, sizeof sql,
              "SELECT id, name, sector, district, directory_id, accepting, interpreters,"
              " capacity FROM core.agency WHERE %s = $1 FOR UPDATE",
              streq (where, "id") ? "id" : "directory_id");
    const char *params[] = {value};
    PGresult *result = kn_db_query (db, sql, 1, params, err);
    if (!result)
        return -1;
    int found = PQntuples (result);
    if (found) {
        snprintf (row->id, sizeof row->id, "%s", PQgetvalue (result, 0, 0));
        row->name = strdup (PQgetvalue (result, 0, 1));
        row->sector = strdup (PQgetvalue (result, 0, 2));
        row->district = strdup (PQgetvalue (result, 0, 3));
        row->directory_id =
            PQgetisnull (result, 0, 4) ? NULL : strdup (PQgetvalue (result, 0, 4));
        row->accepting = streq (PQgetvalue (result, 0, 5), "t");
        row->interpreters = streq (PQgetvalue (result, 0, 6), "t");
        row->has_capacity = !PQgetisnull (result, 0, 7);
        row->capacity = row->has_capacity ? atoll (PQgetvalue (result, 0, 7)) : 0;
    }
    PQclear (result);
    return found ? 1 : 0;
}

//  Values of one column of a set table for agency_id, sorted (strcmp), into list.
static int
s_set_read (kn_db_t *db, const char *sql, const char *agency_id, zlistx_t *list,
            kn_error_t *err)
{
    const char *params[] = {agency_id};
    PGresult *result = kn_db_query (db, sql, 1, params, err);
    if (!result)
        return -1;
    for (int i = 0; i < PQntuples (result); i++)
        zlistx_add_end (list, PQgetvalue (result, i, 0));
    PQclear (result);
    zlistx_sort (list);
    return 0;
}

static bool
s_lists_equal (zlistx_t *a, zlistx_t *b)
{
    if (zlistx_size (a) != zlistx_size (b))
        return false;
    for (const char *x = zlistx_first (a), *y = zlistx_first (b); x && y;
         x = zlistx_next (a), y = zlistx_next (b))
        if (strcmp (x, y))
            return false;
    return true;
}

//  Replace the rows of a set table for agency_id with list.
static int
s_set_write (kn_db_t *db, const char *table, const char *agency_id, zlistx_t *list,
             kn_error_t *err)
{
    //  table is one of three fixed names, never input; the values are parameters.
    const char *column = streq (table, "core.agency_need")       ? "need"
                         : streq (table, "core.agency_district") ? "district"
                                                                 : "language";
    char sql[200];
    snprintf (sql, sizeof sql, "DELETE FROM %s WHERE agency_id = $1", table);
    const char *params[] = {agency_id, NULL};
    PGresult *result = kn_db_query (db, sql, 1, params, err);
    if (!result)
        return -1;
    PQclear (result);
    snprintf (sql, sizeof sql, "INSERT INTO %s (agency_id, %s) VALUES ($1, $2)", table,
              column);
    for (const char *value = zlistx_first (list); value; value = zlistx_next (list)) {
        params[1] = value;
        result = kn_db_query (db, sql, 2, params, err);
        if (!result)
            return -1;
        PQclear (result);
    }
    return 0;
}

//  Compare by value as numbers sort ("2" < "10").
static int
s_compare_numbers (const char *a, const char *b)
{
    return atoi (a) - atoi (b);
}

//  What the import writes for one agency.
typedef struct {
    const char *name, *sector, *district;
    bool accepting, interpreters, has_capacity;
    int64_t capacity;
    zlistx_t *needs;     // values as decimal text, sorted
    zlistx_t *districts; // other than the home district, sorted
    zlistx_t *languages; // sorted
} s_target_t;

static const char *s_set_tables[] = {"core.agency_need", "core.agency_district",
                                     "core.agency_language"};
static const char *s_set_fields[] = {"needs", "districts", "languages"};
static const char *s_set_queries[] = {
    "SELECT need::text FROM core.agency_need WHERE agency_id = $1",
    "SELECT district FROM core.agency_district WHERE agency_id = $1",
    "SELECT language FROM core.agency_language WHERE agency_id = $1"};

//  Compare target with the agency's rows and write the differences. row is NULL for
//  a new agency. changes gets the names of the fields that differ.
static int
s_write_agency (kn_db_t *db, const char *directory_id, const s_row_t *row,
                const s_target_t *target, char agency_id[KN_UUID_STR], json_t *changes,
                kn_error_t *err)
{
    char capacity[24];
    snprintf (capacity, sizeof capacity, "%lld", (long long)target->capacity);
    const char *params[] = {NULL,
                            target->name,
                            target->sector,
                            target->district,
                            directory_id,
                            target->accepting ? "true" : "false",
                            target->has_capacity ? capacity : NULL,
                            target->interpreters ? "true" : "false"};
    PGresult *result = NULL;
    if (!row) {
        kn_uuid_generate (agency_id);
        params[0] = agency_id;
        result = kn_db_query (db,
                              "INSERT INTO core.agency (id, name, sector, district,"
                              " directory_id, accepting, capacity, interpreters)"
                              " VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
                              8, params, err);
        if (!result)
            return -1;
        PQclear (result);
    } else {
        snprintf (agency_id, KN_UUID_STR, "%s", row->id);
        params[0] = agency_id;
        if (!row->directory_id)
            json_array_append_new (changes, json_string ("directory_id"));
        if (strcmp (row->name, target->name))
            json_array_append_new (changes, json_string ("name"));
        if (strcmp (row->sector, target->sector))
            json_array_append_new (changes, json_string ("sector"));
        if (strcmp (row->district, target->district))
            json_array_append_new (changes, json_string ("district"));
        if (row->accepting != target->accepting)
            json_array_append_new (changes, json_string ("accepting"));
        if (row->has_capacity != target->has_capacity ||
            (row->has_capacity && row->capacity != target->capacity))
            json_array_append_new (changes, json_string ("capacity"));
        if (row->interpreters != target->interpreters)
            json_array_append_new (changes, json_string ("interpreters"));
        //  Only when something differs: an UPDATE fires the agency trigger, which
        //  makes the broker reload its keys.
        if (json_array_size (changes)) {
            result = kn_db_query (db,
                                  "UPDATE core.agency SET name = $2, sector = $3,"
                                  " district = $4, directory_id = $5, accepting = $6,"
                                  " capacity = $7, interpreters = $8 WHERE id = $1",
                                  8, params, err);
            if (!result)
                return -1;
            PQclear (result);
        }
    }
    zlistx_t *wanted[] = {target->needs, target->districts, target->languages};
    for (int i = 0; i < 3; i++) {
        zlistx_t *current = s_string_list ();
        if (wanted[i] == target->needs)
            zlistx_set_comparator (current, (zlistx_comparator_fn *)s_compare_numbers);
        int rc = row ? s_set_read (db, s_set_queries[i], agency_id, current, err) : 0;
        bool same = rc == 0 && s_lists_equal (current, wanted[i]);
        zlistx_destroy (&current);
        if (rc)
            return -1;
        if (same)
            continue;
        if (row)
            json_array_append_new (changes, json_string (s_set_fields[i]));
        if (s_set_write (db, s_set_tables[i], agency_id, wanted[i], err))
            return -1;
    }
    return 0;
}

//  One organization of the file onto its agency; appends to the report.
static int
s_apply (s_import_t *self, kn_db_t *db, s_org_t *org, json_t *agencies, json_t *totals)
{
    kn_error_t *err = self->err;
    const s_link_t *link = zhashx_lookup (self->mapping->organizations, org->id);
    const char *linked_to = link && *link->agency_id ? link->agency_id : NULL;
    char field[128];
    s_path (field, "mapping.organizations.%.80s.agency_id", org->id);

    s_row_t row = {0};
    int found = s_row_read (db, "directory_id", org->id, &row, err);
    if (found < 0)
        return -1;
    if (found && linked_to && strcmp (row.id, linked_to)) {
        s_row_free (&row);
        return kn_error_set (err, KN_E_CONFLICT, field,
                             "organization '%.60s' is already agency %s, not %s", org->id,
                             row.id, linked_to);
    }
    if (!found && linked_to) {
        found = s_row_read (db, "id", linked_to, &row, err);
        if (found < 0)
            return -1;
        if (!found)
            return kn_error_set (err, KN_E_NOT_FOUND, field,
                                 "no agency %s to link organization '%.60s' to",
                                 linked_to, org->id);
        if (row.directory_id) {
            kn_error_set (err, KN_E_CONFLICT, field,
                          "agency %s is already linked to directory organization '%.60s'",
                          linked_to, row.directory_id);
            s_row_free (&row);
            return -1;
        }
    }
    bool linking = found && !row.directory_id;

    //  Active services that map to a need count; an organization with none of those
    //  is described by all its mapped services, and accepts nobody.
    const s_offer_t *offer = org->active_count ? &org->active : &org->mapped;
    if (!found && org->mapped_count == 0) {
        s_ignore (self, org, org->path,
                  "organization '%.60s' not added: none of its services maps to a need",
                  org->id);
        return 0;
    }
    s_target_t target = {.name = org->name,
                         .accepting = org->active_count > 0,
                         .interpreters = offer->interpreters,
                         .has_capacity = offer->has_capacity,
                         .capacity = offer->capacity};
    target.sector = *org->sector                     ? org->sector
                    : *self->mapping->default_sector ? self->mapping->default_sector
                    : found                          ? row.sector
                                                     : NULL;
    //  Home district: the mapping's; else the agency's own while the file still
    //  lists it; else the first the file lists; else the agency's own.
    if (link && link->district)
        target.district = link->district;
    else if (found && zlistx_find (offer->districts, row.district))
        target.district = row.district;
    else if (zlistx_size (offer->districts))
        target.district = zlistx_first (offer->districts);
    else if (found)
        target.district = row.district;
    int rc = 0;
    if (!target.sector)
        rc = s_invalid (
            self, org, org->path,
            "no sector: no term maps to one; set organizations.%.60s.sector or "
            "default_sector in the mapping",
            org->id);
    else if (!target.district)
        rc =
            s_invalid (self, org, org->path,
                       "no district: no service area maps to one; map them under "
                       "\"districts\" or set organizations.%.60s.district in the mapping",
                       org->id);
    json_t *changes = json_array ();
    char agency_id[KN_UUID_STR] = "";
    if (rc == 0) {
        target.needs = s_string_list ();
        zlistx_set_comparator (target.needs, (zlistx_comparator_fn *)s_compare_numbers);
        for (int need = 1; need <= 100; need++) {
            if (s_needs_has (&offer->needs, need)) {
                char text[8];
                snprintf (text, sizeof text, "%d", need);
                zlistx_add_end (target.needs, text);
            }
        }
        target.districts = s_string_list ();
        for (const char *code = zlistx_first (offer->districts); code;
             code = zlistx_next (offer->districts))
            if (strcmp (code, target.district))
                zlistx_add_end (target.districts, (void *)code);
        zlistx_sort (target.districts);
        target.languages = zlistx_dup (offer->languages);
        zlistx_sort (target.languages);
        rc = s_write_agency (db, org->id, found ? &row : NULL, &target, agency_id,
                             changes, err);
        zlistx_destroy (&target.needs);
        zlistx_destroy (&target.districts);
        zlistx_destroy (&target.languages);
    }
    if (rc == 0) {
        const char *result = !found                      ? "added"
                             : linking                   ? "linked"
                             : json_array_size (changes) ? "changed"
                                                         : "unchanged";
        json_object_set_new (
            totals, result,
            json_integer (json_integer_value (json_object_get (totals, result)) + 1));
        json_array_append_new (
            agencies, json_pack ("{s:s,s:s,s:s,s:s,s:O}", "directory_id", org->id,
                                 "agency_id", agency_id, "name", org->name, "result",
                                 result, "changes", changes));
    }
    json_decref (changes);
    s_row_free (&row);
    return rc;
}

static int
s_load_districts (s_import_t *self, kn_db_t *db)
{
    PGresult *result = kn_db_query (
        db, "SELECT code, name FROM core.district ORDER BY code", 0, NULL, self->err);
    if (!result)
        return -1;
    //  Codes first, so that a code never loses to another district's name.
    for (int pass = 0; pass < 2; pass++) {
        for (int i = 0; i < PQntuples (result); i++) {
            if (PQgetisnull (result, i, pass))
                continue;
            char *key = s_fold (PQgetvalue (result, i, pass));
            char *code = strdup (PQgetvalue (result, i, 0));
            if (!*key || zhashx_insert (self->district_names, key, code) != 0)
                free (code);
            free (key);
        }
    }
    PQclear (result);
    return 0;
}

//  Directory agencies the file does not mention: reported, never changed (an
//  organization leaving a directory extract is no reason to stop routing to it).
static json_t *
s_not_in_file (s_import_t *self, kn_db_t *db)
{
    PGresult *result = kn_db_query (
        db,
        "SELECT directory_id FROM core.agency WHERE directory_id IS NOT NULL ORDER BY 1",
        0, NULL, self->err);
    if (!result)
        return NULL;
    json_t *missing = json_array ();
    for (int i = 0; i < PQntuples (result); i++)
        if (!zhashx_lookup (self->by_id, PQgetvalue (result, i, 0)))
            json_array_append_new (missing, json_string (PQgetvalue (result, i, 0)));
    PQclear (result);
    return missing;
}

json_t *
kn_directory_import (kn_db_t *db, const char *path, const kn_directory_mapping_t *mapping,
                     bool dry_run, kn_error_t *err)
{
    assert (db && path && mapping);
    s_import_t self = {.mapping = mapping, .err = err};
    self.orgs = zlistx_new ();
    zlistx_set_destructor (self.orgs, (zlistx_destructor_fn *)s_org_destroy);
    self.by_id = zhashx_new ();
    self.district_names = zhashx_new ();
    zhashx_set_destructor (self.district_names, s_free_item);
    self.ignored = json_array ();
    json_t *agencies = json_array ();
    json_t *totals = json_pack ("{s:i,s:i,s:i,s:i}", "added", 0, "linked", 0, "changed",
                                0, "unchanged", 0);
    json_t *missing = NULL, *report = NULL;

    int rc = kn_db_exec (db, "BEGIN", err);
    bool open = rc == 0;
    if (rc == 0) {
        //  One import at a time: two at once would both take an organization for new.
        PGresult *result = kn_db_query (
            db, "SELECT pg_advisory_xact_lock (hashtext ('kinnet.directory.import'))", 0,
            NULL, err);
        rc = result ? 0 : -1;
        PQclear (result);
    }
    if (rc == 0)
        rc = s_load_districts (&self, db);
    if (rc == 0)
        rc = s_read_file (&self, path);
    for (s_org_t *org = zlistx_first (self.orgs); rc == 0 && org;
         org = zlistx_next (self.orgs))
        rc = s_apply (&self, db, org, agencies, totals);
    if (rc == 0) {
        missing = s_not_in_file (&self, db);
        rc = missing ? 0 : -1;
    }
    if (rc == 0)
        rc = kn_db_exec (db, dry_run ? "ROLLBACK" : "COMMIT", err);
    else if (open) {
        kn_error_t ignored;
        kn_db_exec (db, "ROLLBACK", &ignored);
    }
    if (rc == 0) {
        json_object_set_new (totals, "ignored",
                             json_integer (json_array_size (self.ignored)));
        report =
            json_pack ("{s:b,s:O,s:O,s:O,s:O}", "dry_run", dry_run, "agencies", agencies,
                       "ignored", self.ignored, "not_in_file", missing, "totals", totals);
    }
    json_decref (missing);
    json_decref (totals);
    json_decref (agencies);
    json_decref (self.ignored);
    zhashx_destroy (&self.district_names);
    zhashx_destroy (&self.by_id);
    zlistx_destroy (&self.orgs);
    return report;
}

//  -------------------------------------------------------------------------
//  Reading and changing the directory by hand

static json_t *
s_json_column (PGresult *result, int row, int column)
{
    json_t *value = json_loads (PQgetvalue (result, row, column), JSON_DECODE_ANY, NULL);
    return value ? value : json_array ();
}

json_t *
kn_directory_show (kn_db_t *db, const char *agency, kn_error_t *err)
{
    //  HSDS ids are often UUIDs too, so a UUID may name either.
    const char *params[] = {agency};
    PGresult *result = kn_db_query (
        db,
        "SELECT a.id, a.name, a.sector, a.district, a.directory_id, a.active, "
        "a.accepting,"
        "  a.capacity, a.interpreters,"
        "  (SELECT count(*) FROM routing.involvement i WHERE i.agency_id = a.id"
        "    AND i.status IN ('offered', 'accepted')),"
        "  (SELECT coalesce(json_agg(n.need ORDER BY n.need), '[]') FROM "
        "core.agency_need n"
        "    WHERE n.agency_id = a.id),"
        "  (SELECT coalesce(json_agg(d.district ORDER BY d.district), '[]')"
        "    FROM core.agency_district d WHERE d.agency_id = a.id AND d.district <> "
        "a.district),"
        "  (SELECT coalesce(json_agg(l.language ORDER BY l.language), '[]')"
        "    FROM core.agency_language l WHERE l.agency_id = a.id)"
        " FROM core.agency a"
        " WHERE $1::text IS NULL OR a.id::text = lower($1) OR a.directory_id = $1"
        " ORDER BY a.name, a.id",
        1, params, err);
    if (!result)
        return NULL;
    if (agency && PQntuples (result) == 0) {
        PQclear (result);
        kn_error_set (err, KN_E_NOT_FOUND, "agency_id",
                      "no agency with id or directory id '%.80s'", agency);
        return NULL;
    }
    json_t *list = json_array ();
    for (int i = 0; i < PQntuples (result); i++) {
        json_t *needs = json_array ();
        json_t *values = s_json_column (result, i, 10);
        size_t index;
        json_t *value;
        json_array_foreach (values, index, value)
        {
            char name[40];
            s_need_name ((int)json_integer_value (value), name);
            json_array_append_new (needs, json_string (name));
        }
        json_decref (values);
        json_t *districts = s_json_column (result, i, 11);
        json_array_insert_new (districts, 0, json_string (PQgetvalue (result, i, 3)));
        json_t *capacity = PQgetisnull (result, i, 7)
                               ? json_null ()
                               : json_integer (atoll (PQgetvalue (result, i, 7)));
        json_t *directory_id = PQgetisnull (result, i, 4)
                                   ? json_null ()
                                   : json_string (PQgetvalue (result, i, 4));
        json_array_append_new (
            list,
            json_pack ("{s:s,s:s,s:s,s:s,s:o,s:b,s:b,s:o,s:I,s:b,s:o,s:o,s:o}",
                       "agency_id", PQgetvalue (result, i, 0), "name",
                       PQgetvalue (result, i, 1), "sector", PQgetvalue (result, i, 2),
                       "district", PQgetvalue (result, i, 3), "directory_id",
                       directory_id, "active", streq (PQgetvalue (result, i, 5), "t"),
                       "accepting", streq (PQgetvalue (result, i, 6), "t"), "capacity",
                       capacity, "load", (json_int_t)atoll (PQgetvalue (result, i, 9)),
                       "interpreters", streq (PQgetvalue (result, i, 8), "t"), "needs",
                       needs, "districts", districts, "languages",
                       s_json_column (result, i, 12)));
    }
    PQclear (result);
    return list;
}

json_t *
kn_directory_set (kn_db_t *db, const char *agency_id, const kn_directory_change_t *change,
                  kn_error_t *err)
{
    if (!kn_uuid_valid (agency_id)) {
        kn_error_set (err, KN_E_INVALID_ARGUMENT, "agency_id",
                      "agency id must be a UUID");
        return NULL;
    }
    if (change->capacity != KN_DIRECTORY_KEEP &&
        change->capacity != KN_DIRECTORY_NO_LIMIT && change->capacity < 0) {
        kn_error_set (err, KN_E_INVALID_ARGUMENT, "capacity",
                      "capacity is a whole number from 0, or none for no limit");
        return NULL;
    }
    if (kn_db_exec (db, "BEGIN", err))
        return NULL;
    s_row_t row = {0};
    int found = s_row_read (db, "id", agency_id, &row, err);
    json_t *changes = json_array ();
    int rc = found > 0 ? 0 : -1;
    if (found == 0)
        kn_error_set (err, KN_E_NOT_FOUND, "agency_id", "no such agency");
    if (rc == 0) {
        bool accepting = change->accepting == KN_DIRECTORY_KEEP ? row.accepting
                                                                : change->accepting != 0;
        bool interpreters = change->interpreters == KN_DIRECTORY_KEEP
                                ? row.interpreters
                                : change->interpreters != 0;
        bool has_capacity = change->capacity == KN_DIRECTORY_KEEP
                                ? row.has_capacity
                                : change->capacity != KN_DIRECTORY_NO_LIMIT;
        int64_t capacity =
            change->capacity == KN_DIRECTORY_KEEP ? row.capacity : change->capacity;
        if (accepting != row.accepting)
            json_array_append_new (changes, json_string ("accepting"));
        if (has_capacity != row.has_capacity ||
            (has_capacity && capacity != row.capacity))
            json_array_append_new (changes, json_string ("capacity"));
        if (interpreters != row.interpreters)
            json_array_append_new (changes, json_string ("interpreters"));
        if (json_array_size (changes)) {
            char text[24];
            snprintf (text, sizeof text, "%lld", (long long)capacity);
            const char *params[] = {agency_id, accepting ? "true" : "false",
                                    has_capacity ? text : NULL,
                                    interpreters ? "true" : "false"};
            PGresult *result =
                kn_db_query (db,
                             "UPDATE core.agency SET accepting = $2,"
                             " capacity = $3, interpreters = $4 WHERE id = $1",
                             4, params, err);
            rc = result ? 0 : -1;
            PQclear (result);
        }
    }
    s_row_free (&row);
    if (rc == 0)
        rc = kn_db_exec (db, "COMMIT", err);
    else {
        kn_error_t ignored;
        kn_db_exec (db, "ROLLBACK", &ignored);
    }
    json_t *report =
        rc == 0 ? json_pack ("{s:s,s:O}", "agency_id", agency_id, "changes", changes)
                : NULL;
    json_decref (changes);
    return report;
}

json_t *
kn_directory_district_set (kn_db_t *db, const char *code, const char *name,
                           const char *lead, kn_error_t *err)
{
    if (!code || !s_district_code_ok (code)) {
        kn_error_set (err, KN_E_INVALID_ARGUMENT, "code",
                      "a district code is 1 to 64 characters");
        return NULL;
    }
    if (name && (!*name || strlen (name) > 200)) {
        kn_error_set (err, KN_E_INVALID_ARGUMENT, "name", "name is 1 to 200 characters");
        return NULL;
    }
    if (lead && *lead && !kn_uuid_valid (lead)) {
        kn_error_set (err, KN_E_INVALID_ARGUMENT, "lead",
                      "lead is an agency id (UUID), or none");
        return NULL;
    }
    if (kn_db_exec (db, "BEGIN", err))
        return NULL;
    const char *params[] = {code, NULL, NULL};
    PGresult *result = kn_db_query (db,
                                    "SELECT name, child_protection_lead FROM "
                                    "core.district WHERE code = $1 FOR UPDATE",
                                    1, params, err);
    int rc = result ? 0 : -1;
    bool exists = rc == 0 && PQntuples (result) == 1;
    char *old_name =
        exists && !PQgetisnull (result, 0, 0) ? strdup (PQgetvalue (result, 0, 0)) : NULL;
    char *old_lead =
        exists && !PQgetisnull (result, 0, 1) ? strdup (PQgetvalue (result, 0, 1)) : NULL;
    PQclear (result);
    if (rc == 0 && lead && *lead) {
        //  A lead must be able to take emergency offers: a live agency.
        const char *check[] = {lead};
        result = kn_db_query (db, "SELECT 1 FROM core.agency WHERE id = $1 AND active", 1,
                              check, err);
        rc = result ? 0 : -1;
        if (rc == 0 && PQntuples (result) == 0)
            rc = kn_error_set (err, KN_E_NOT_FOUND, "lead", "no active agency %s", lead);
        PQclear (result);
    }
    const char *new_name = name ? name : old_name;
    const char *new_lead = lead ? (*lead ? lead : NULL) : old_lead;
    json_t *changes = json_array ();
    if (exists &&
        (new_name ? !old_name || strcmp (new_name, old_name) : old_name != NULL))
        json_array_append_new (changes, json_string ("name"));
    if (exists &&
        (new_lead ? !old_lead || strcasecmp (new_lead, old_lead) : old_lead != NULL))
        json_array_append_new (changes, json_string ("child_protection_lead"));
    if (rc == 0 && (!exists || json_array_size (changes))) {
        params[1] = new_name;
        params[2] = new_lead;
        result = kn_db_query (db,
                              exists ? "UPDATE core.district SET name = $2,"
                                       " child_protection_lead = $3 WHERE code = $1"
                                     : "INSERT INTO core.district (code, name,"
                                       " child_protection_lead) VALUES ($1, $2, $3)",
                              3, params, err);
        rc = result ? 0 : -1;
        PQclear (result);
    }
    free (old_name);
    free (old_lead);
    if (rc == 0)
        rc = kn_db_exec (db, "COMMIT", err);
    else {
        kn_error_t ignored;
        kn_db_exec (db, "ROLLBACK", &ignored);
    }
    json_t *report = rc == 0 ? json_pack ("{s:s,s:s,s:O}", "code", code, "result",
                                          !exists                     ? "added"
                                          : json_array_size (changes) ? "changed"
                                                                      : "unchanged",
                                          "changes", changes)
                             : NULL;
    json_decref (changes);
    return report;
}

json_t *
kn_directory_district_list (kn_db_t *db, kn_error_t *err)
{
    PGresult *result = kn_db_query (
        db,
        "SELECT d.code, d.name, d.child_protection_lead, l.name,"
        "  (SELECT count(*) FROM core.agency a WHERE a.active AND (a.district = d.code"
        "    OR EXISTS (SELECT 1 FROM core.agency_district x"
        "               WHERE x.agency_id = a.id AND x.district = d.code)))"
        " FROM core.district d LEFT JOIN core.agency l ON l.id = d.child_protection_lead"
        " ORDER BY d.code",
        0, NULL, err);
    if (!result)
        return NULL;
    json_t *list = json_array ();
    for (int i = 0; i < PQntuples (result); i++) {
        json_t *columns[3];
        for (int c = 1; c <= 3; c++)
            columns[c - 1] = PQgetisnull (result, i, c)
                                 ? json_null ()
                                 : json_string (PQgetvalue (result, i, c));
        json_array_append_new (
            list, json_pack ("{s:s,s:o,s:o,s:o,s:I}", "code", PQgetvalue (result, i, 0),
                             "name", columns[0], "child_protection_lead", columns[1],
                             "lead_name", columns[2], "agencies",
                             (json_int_t)atoll (PQgetvalue (result, i, 4))));
    }
    PQclear (result);
    return list;
}
