/*  kn_directory_import: applying HSDS documents' organizations to core.agency.

    An import runs in three steps inside one transaction: read the districts table,
    read every document with kn_hsds (nothing is written while a single record is
    wrong), then compare each organization with its agency row and write only the
    differences. What an organization offers is its documents' services together
    with the services stored for it that they do not name (kn_directory_services),
    so a page never takes away what another page said. The report is built as the
    differences are found, so a dry run is the same code ending in ROLLBACK; a
    change that takes from routing is collected and refuses the import at the end
    unless it prunes. Every statement is prepared once per session; a set (needs,
    districts, languages) is replaced by one INSERT from unnest. */
#include "kn_directory_import.h"
#include "kn_directory_diff.h"
#include "kn_directory_services.h"
#include "kn_hsds.h"
#include "kn_pgarray.h"

#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "kn_uuid.h"
#include "kn_alloc.h"

#define AGENCY_COLUMNS                                                                   \
    "SELECT id, name, sector, district, directory_id, accepting, interpreters,"          \
    " capacity, directory_status FROM core.agency"

//  The sets of an agency, in the order of s_set_fields.
#define SET_COUNT 3
static const char *s_set_fields[SET_COUNT] = {"needs", "districts", "languages"};

static const char *s_statements[][2] = {
    //  One import at a time: two at once would both take an organization for new.
    {"directory_import_lock",
     "SELECT pg_advisory_xact_lock (hashtext ('kinnet.directory.import'))"},
    {"directory_districts", "SELECT code, name FROM core.district ORDER BY code"},
    //  FOR UPDATE: the import owns the row until commit.
    {"directory_agency_by_directory_id",
     AGENCY_COLUMNS " WHERE directory_id = $1 FOR UPDATE"},
    {"directory_agency_by_id", AGENCY_COLUMNS " WHERE id = $1 FOR UPDATE"},
    {"directory_agency_sets",
     "SELECT (SELECT coalesce (json_agg (need::text), '[]') FROM core.agency_need"
     "  WHERE agency_id = $1),"
     " (SELECT coalesce (json_agg (district), '[]') FROM core.agency_district"
     "  WHERE agency_id = $1),"
     " (SELECT coalesce (json_agg (language), '[]') FROM core.agency_language"
     "  WHERE agency_id = $1)"},
    {"directory_agency_insert",
     "INSERT INTO core.agency (id, name, sector, district, directory_id, accepting,"
     " capacity, interpreters) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)"},
    {"directory_agency_update",
     "UPDATE core.agency SET name = $2, sector = $3, district = $4, directory_id = $5,"
     " accepting = $6, capacity = $7, interpreters = $8, directory_status = 'listed'"
     " WHERE id = $1"},
    //  --prune: an agency the whole directory no longer lists stops accepting;
    //  its keys, roles, cases and directory data stay.
    {"directory_agency_withdraw",
     "UPDATE core.agency SET accepting = false, directory_status = 'withdrawn'"
     " WHERE id = $1"},
    {"directory_needs_delete", "DELETE FROM core.agency_need WHERE agency_id = $1"},
    {"directory_needs_insert", "INSERT INTO core.agency_need (agency_id, need)"
                               " SELECT $1::uuid, unnest ($2::smallint[])"},
    {"directory_districts_delete",
     "DELETE FROM core.agency_district WHERE agency_id = $1"},
    {"directory_districts_insert",
     "INSERT INTO core.agency_district (agency_id, district)"
     " SELECT $1::uuid, unnest ($2::text[])"},
    {"directory_languages_delete",
     "DELETE FROM core.agency_language WHERE agency_id = $1"},
    {"directory_languages_insert",
     "INSERT INTO core.agency_language (agency_id, language)"
     " SELECT $1::uuid, unnest ($2::text[])"},
    //  Directory agencies the file does not mention.
    {"directory_not_in_file",
     "SELECT directory_id FROM core.agency WHERE directory_id IS NOT NULL"
     " AND directory_id <> ALL ($1::text[]) ORDER BY 1"},
};

//  The delete and insert statements of set i, as named above.
static const char *s_set_delete[SET_COUNT] = {
    "directory_needs_delete", "directory_districts_delete", "directory_languages_delete"};
static const char *s_set_insert[SET_COUNT] = {
    "directory_needs_insert", "directory_districts_insert", "directory_languages_insert"};

static int
s_prepare (kn_db_t *db, kn_error_t *err)
{
    return kn_db_prepare_all (db, s_statements,
                              sizeof s_statements / sizeof s_statements[0], err);
}

//  A statement run for its result rows or its effect; 0 or -1 with err.
static int
s_do (kn_db_t *db, const char *name, int nparams, const char *const *params,
      kn_error_t *err)
{
    PGresult *result = kn_db_run (db, name, nparams, params, NULL, NULL, err);
    PQclear (result);
    return result ? 0 : -1;
}

typedef struct {
    const kn_directory_mapping_t *mapping;
    kn_hsds_t *hsds;
    json_t *ignored; // the reader's, then the import's own
    bool prune;      // removals allowed for the agencies the documents name
    char import_id[KN_UUID_STR];
    json_t *blocked; // what would take from routing: "organization 'x': needs -a"
    kn_error_t *err;
} s_import_t;

//  An error about org, naming it as the reader does.
static int s_invalid (s_import_t *self, const kn_hsds_org_t *org, const char *fmt, ...)
    __attribute__ ((format (printf, 3, 4)));

static int
s_invalid (s_import_t *self, const kn_hsds_org_t *org, const char *fmt, ...)
{
    char message[220];
    va_list args;
    va_start (args, fmt);
    vsnprintf (message, sizeof message, fmt, args);
    va_end (args);
    return kn_error_set (self->err, KN_E_INVALID_ARGUMENT, org->path,
                         "%s (organization '%.60s')", message, org->id);
}

//  -------------------------------------------------------------------------
//  The agency as it is

typedef struct {
    char id[KN_UUID_STR];
    char *name, *sector, *district, *directory_id;
    bool accepting, interpreters;
    bool has_capacity;
    int64_t capacity;
    bool withdrawn;
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

//  The agency row by statement (by id or directory id). 1 found, 0 none, -1 error.
static int
s_row_read (kn_db_t *db, const char *statement, const char *value, s_row_t *row,
            kn_error_t *err)
{
    const char *params[] = {value};
    PGresult *result = kn_db_run (db, statement, 1, params, NULL, NULL, err);
    if (!result)
        return -1;
    int found = PQntuples (result);
    if (found) {
        snprintf (row->id, sizeof row->id, "%s", PQgetvalue (result, 0, 0));
        row->name = kn_strdup (PQgetvalue (result, 0, 1));
        row->sector = kn_strdup (PQgetvalue (result, 0, 2));
        row->district = kn_strdup (PQgetvalue (result, 0, 3));
        row->directory_id =
            PQgetisnull (result, 0, 4) ? NULL : kn_strdup (PQgetvalue (result, 0, 4));
        row->accepting = streq (PQgetvalue (result, 0, 5), "t");
        row->interpreters = streq (PQgetvalue (result, 0, 6), "t");
        row->has_capacity = !PQgetisnull (result, 0, 7);
        row->capacity = row->has_capacity ? atoll (PQgetvalue (result, 0, 7)) : 0;
        row->withdrawn = streq (PQgetvalue (result, 0, 8), "withdrawn");
    }
    PQclear (result);
    return found ? 1 : 0;
}

//  Compare by value as numbers sort ("2" < "10").
static int
s_compare_numbers (const char *a, const char *b)
{
    return atoi (a) - atoi (b);
}

static zlistx_t *
s_string_list (bool numbers)
{
    zlistx_t *list = zlistx_new ();
    zlistx_set_destructor (list, (zlistx_destructor_fn *)zstr_free);
    zlistx_set_duplicator (list, (zlistx_duplicator_fn *)strdup);
    zlistx_set_comparator (list, numbers ? (zlistx_comparator_fn *)s_compare_numbers
                                         : (zlistx_comparator_fn *)strcmp);
    return list;
}

//  The agency's needs, districts and languages, each sorted, in one round trip.
static int
s_sets_read (kn_db_t *db, const char *agency_id, zlistx_t *sets[SET_COUNT],
             kn_error_t *err)
{
    const char *params[] = {agency_id};
    PGresult *result =
        kn_db_run (db, "directory_agency_sets", 1, params, NULL, NULL, err);
    if (!result)
        return -1;
    for (int i = 0; i < SET_COUNT; i++) {
        json_t *values = json_loads (PQgetvalue (result, 0, i), 0, NULL);
        size_t index;
        json_t *value;
        json_array_foreach (values, index, value)
            zlistx_add_end (sets[i], (void *)json_string_value (value));
        json_decref (values);
        zlistx_sort (sets[i]);
    }
    PQclear (result);
    return 0;
}

//  -------------------------------------------------------------------------
//  Writing the differences

//  What the import writes for one agency.
typedef struct {
    const char *name, *sector, *district;
    bool accepting, interpreters, has_capacity;
    int64_t capacity;
    zlistx_t *sets[SET_COUNT]; // needs as decimal text; districts other than the
                               // home district; languages; each sorted
} s_target_t;

//  Replace set i of agency_id (a new agency has none to delete) with list.
static int
s_set_write (kn_db_t *db, int i, const char *agency_id, bool existing, zlistx_t *list,
             kn_error_t *err)
{
    const char *params[] = {agency_id, NULL};
    if (existing && s_do (db, s_set_delete[i], 1, params, err))
        return -1;
    if (zlistx_size (list) == 0)
        return 0;
    kn_pgarray_t *values = kn_pgarray_new ();
    for (const char *value = zlistx_first (list); value; value = zlistx_next (list))
        kn_pgarray_add (values, value);
    params[1] = kn_pgarray_text (values);
    int rc = s_do (db, s_set_insert[i], 2, params, err);
    kn_pgarray_destroy (&values);
    return rc;
}

//  A value that differs: its name in "changes", before and after in "values".
static void
s_value_change (json_t *report, const char *field, const char *before, const char *after)
{
    json_array_append_new (json_object_get (report, "changes"), json_string (field));
    json_array_append_new (json_object_get (report, "values"),
                           kn_directory_diff_value (field, before, after));
}

static const char *
s_capacity_text (bool has_capacity, int64_t capacity, char out[24])
{
    if (!has_capacity)
        return "none";
    snprintf (out, 24, "%lld", (long long)capacity);
    return out;
}

//  Compare target with the agency's rows and write the differences. row is NULL for
//  a new agency. report (the agency's) gets the fields that differ in "changes",
//  each value's before and after in "values", each set's diff in "sets".
static int
s_write_agency (kn_db_t *db, const char *directory_id, const s_row_t *row,
                const s_target_t *target, char agency_id[KN_UUID_STR], json_t *report,
                kn_error_t *err)
{
    char capacity[24], before[24];
    snprintf (capacity, sizeof capacity, "%lld", (long long)target->capacity);
    const char *params[] = {NULL,
                            target->name,
                            target->sector,
                            target->district,
                            directory_id,
                            target->accepting ? "true" : "false",
                            target->has_capacity ? capacity : NULL,
                            target->interpreters ? "true" : "false"};
    if (!row) {
        kn_uuid_generate (agency_id);
        params[0] = agency_id;
        if (s_do (db, "directory_agency_insert", 8, params, err))
            return -1;
    } else {
        snprintf (agency_id, KN_UUID_STR, "%s", row->id);
        params[0] = agency_id;
        if (!row->directory_id)
            s_value_change (report, "directory_id", "", directory_id);
        if (row->withdrawn)
            s_value_change (report, "directory_status", "withdrawn", "listed");
        if (strcmp (row->name, target->name))
            s_value_change (report, "name", row->name, target->name);
        if (strcmp (row->sector, target->sector))
            s_value_change (report, "sector", row->sector, target->sector);
        if (strcmp (row->district, target->district))
            s_value_change (report, "district", row->district, target->district);
        if (row->accepting != target->accepting)
            s_value_change (report, "accepting", row->accepting ? "true" : "false",
                            target->accepting ? "true" : "false");
        if (row->has_capacity != target->has_capacity ||
            (row->has_capacity && row->capacity != target->capacity))
            s_value_change (
                report, "capacity",
                s_capacity_text (row->has_capacity, row->capacity, before),
                s_capacity_text (target->has_capacity, target->capacity, capacity));
        if (row->interpreters != target->interpreters)
            s_value_change (report, "interpreters", row->interpreters ? "true" : "false",
                            target->interpreters ? "true" : "false");
        //  Only when something differs: an UPDATE fires the agency trigger, which
        //  makes the broker reload its keys.
        if (json_array_size (json_object_get (report, "changes")) &&
            s_do (db, "directory_agency_update", 8, params, err))
            return -1;
    }
    zlistx_t *current[SET_COUNT];
    for (int i = 0; i < SET_COUNT; i++)
        current[i] = s_string_list (i == 0);
    int rc = row ? s_sets_read (db, agency_id, current, err) : 0;
    for (int i = 0; rc == 0 && i < SET_COUNT; i++) {
        json_t *diff =
            kn_directory_diff_set (s_set_fields[i], current[i], target->sets[i]);
        if (!diff)
            continue;
        if (row)
            json_array_append_new (json_object_get (report, "changes"),
                                   json_string (s_set_fields[i]));
        json_array_append_new (json_object_get (report, "sets"), diff);
        rc = s_set_write (db, i, agency_id, row != NULL, target->sets[i], err);
    }
    for (int i = 0; i < SET_COUNT; i++)
        zlistx_destroy (&current[i]);
    return rc;
}

//  The agency org becomes, or -1 with err when the mapping's link contradicts the
//  directory. found: 1 with row read, 0 for a new agency. An organization
//  imported before its agency registered moves to the agency the mapping links
//  when its first agency never worked (kn_directory_services_relink): moved_from
//  gets that one's id.
static int
s_find_agency (s_import_t *self, kn_db_t *db, const kn_hsds_org_t *org, s_row_t *row,
               char moved_from[KN_UUID_STR])
{
    kn_error_t *err = self->err;
    const kn_directory_link_t *link = kn_directory_mapping_link (self->mapping, org->id);
    const char *linked_to = link && *link->agency_id ? link->agency_id : NULL;
    char field[128];
    snprintf (field, sizeof field, "mapping.organizations.%.80s.agency_id", org->id);

    int found = s_row_read (db, "directory_agency_by_directory_id", org->id, row, err);
    if (found < 0)
        return -1;
    if (found && linked_to && strcmp (row->id, linked_to)) {
        int moved = kn_directory_services_relink (db, row->id, linked_to, err);
        if (moved < 0)
            return -1;
        if (!moved)
            return kn_error_set (err, KN_E_CONFLICT, field,
                                 "organization '%.40s' is already agency %s, which "
                                 "holds a key or cases, not %s; to keep it, give it a "
                                 "certificate: kinnet admin agency key add",
                                 org->id, row->id, linked_to);
        snprintf (moved_from, KN_UUID_STR, "%s", row->id);
        s_row_free (row);
        found = 0;
    }
    if (!found && linked_to) {
        found = s_row_read (db, "directory_agency_by_id", linked_to, row, err);
        if (found < 0)
            return -1;
        if (!found)
            return kn_error_set (err, KN_E_NOT_FOUND, field,
                                 "no agency %s to link organization '%.60s' to",
                                 linked_to, org->id);
        if (row->directory_id)
            return kn_error_set (
                err, KN_E_CONFLICT, field,
                "agency %s is already linked to directory organization '%.60s'",
                linked_to, row->directory_id);
    }
    return found;
}

static void
s_count (json_t *totals, const char *result)
{
    json_object_set_new (
        totals, result,
        json_integer (json_integer_value (json_object_get (totals, result)) + 1));
}

//  A report entry for one agency, its lists empty.
static json_t *
s_entry (const char *directory_id, const char *name)
{
    json_t *entry = json_pack ("{s:s,s:s,s:s,s:[],s:[],s:[],s:[],s:[],s:[],s:b}",
                               "directory_id", directory_id, "agency_id", "", "name",
                               name, "changes", "values", "sets", "services_added",
                               "services_changed", "services_removed", "needs_prune", 0);
    if (!entry)
        abort (); // out of memory: nothing sensible to answer
    return entry;
}

//  Whether entry's change takes from routing; noted in self->blocked when so.
static void
s_check_removes (s_import_t *self, json_t *entry, bool accepting_before,
                 bool accepting_after)
{
    json_t *needs = NULL, *set;
    size_t index;
    json_array_foreach (
        json_object_get (entry, "sets"), index,
        set) if (streq (json_string_value (json_object_get (set, "field")), "needs"))
        needs = set;
    if (!kn_directory_diff_removes (accepting_before, accepting_after, needs))
        return;
    json_object_set_new (entry, "needs_prune", json_true ());
    char text[160];
    kn_directory_diff_text (accepting_before, accepting_after, needs, text, sizeof text);
    json_array_append_new (
        self->blocked,
        json_sprintf ("organization '%.40s': %s",
                      json_string_value (json_object_get (entry, "directory_id")), text));
}

//  org's services stored as agency_id's, and the removed ones gone; each listed
//  in entry by what happened to it.
static int
s_services_write (s_import_t *self, kn_db_t *db, const kn_hsds_org_t *org,
                  const char *agency_id, json_t *removed, json_t *entry)
{
    for (kn_hsds_service_entry_t *service = zlistx_first (org->services); service;
         service = zlistx_next (org->services)) {
        const char *result;
        if (kn_directory_services_put (db, agency_id, service, self->import_id, &result,
                                       self->err))
            return -1;
        if (strcmp (result, "unchanged")) {
            char list[32];
            snprintf (list, sizeof list, "services_%s", result);
            json_array_append_new (json_object_get (entry, list),
                                   json_string (service->id));
        }
    }
    size_t index;
    json_t *id;
    json_array_foreach (removed, index, id)
    {
        if (kn_directory_services_remove (db, agency_id, json_string_value (id),
                                          self->err))
            return -1;
        json_array_append (json_object_get (entry, "services_removed"), id);
    }
    return 0;
}

//  One organization of the documents onto its agency; appends to the report.
static int
s_apply (s_import_t *self, kn_db_t *db, const kn_hsds_org_t *org, json_t *agencies,
         json_t *totals)
{
    const kn_directory_link_t *link = kn_directory_mapping_link (self->mapping, org->id);
    s_row_t row = {0};
    kn_directory_offer_t combined = {0};
    zlistx_t *stored = kn_directory_services_list ();
    json_t *entry = NULL;
    int rc = 0;
    char moved_from[KN_UUID_STR] = "";
    int found = s_find_agency (self, db, org, &row, moved_from);
    if (found < 0 ||
        (found && kn_directory_services_read (db, row.id, stored, self->err)) ||
        kn_directory_services_combine (org, stored, org->authoritative || self->prune,
                                       &combined)) {
        rc = -1;
        goto out;
    }
    bool linking = found && !row.directory_id;
    if (combined.mapped.capacity > INT_MAX) {
        rc = s_invalid (self, org, "the organization's capacity is over %d", INT_MAX);
        goto out;
    }
    if (!found && combined.mapped_count == 0) {
        char reason[300];
        snprintf (reason, sizeof reason,
                  "organization '%.60s' not added: none of its services maps to a need",
                  org->id);
        json_array_append_new (self->ignored,
                               json_pack ("{s:s,s:s,s:s}", "path", org->path,
                                          "organization_id", org->id, "reason", reason));
        goto out;
    }
    const kn_hsds_offer_t *offer =
        combined.active_count ? &combined.active : &combined.mapped;
    const char *default_sector = kn_directory_mapping_default_sector (self->mapping);
    s_target_t target = {.name = org->name,
                         .accepting = combined.active_count > 0,
                         .interpreters = offer->interpreters,
                         .has_capacity = offer->has_capacity,
                         .capacity = offer->capacity};
    target.sector = *org->sector      ? org->sector
                    : *default_sector ? default_sector
                    : found           ? row.sector
                                      : NULL;
    //  Home district: the mapping's; else the agency's own while the directory
    //  still lists it; else the first listed; else the agency's own.
    if (link && link->district)
        target.district = link->district;
    else if (found && zlistx_find (offer->districts, row.district))
        target.district = row.district;
    else if (zlistx_size (offer->districts))
        target.district = zlistx_first (offer->districts);
    else if (found)
        target.district = row.district;
    if (!target.sector)
        rc = s_invalid (self, org,
                        "no sector: no term maps to one; set organizations.%.60s.sector "
                        "or default_sector in the mapping",
                        org->id);
    else if (!target.district)
        rc = s_invalid (self, org,
                        "no district: no service area maps to one; map them under "
                        "\"districts\" or set organizations.%.60s.district in the "
                        "mapping",
                        org->id);
    entry = s_entry (org->id, org->name);
    char agency_id[KN_UUID_STR] = "";
    if (rc == 0) {
        target.sets[0] = s_string_list (true);
        for (int need = 1; need <= 100; need++) {
            if (kn_directory_needs_has (&offer->needs, need)) {
                char text[8];
                snprintf (text, sizeof text, "%d", need);
                zlistx_add_end (target.sets[0], text);
            }
        }
        target.sets[1] = s_string_list (false);
        for (const char *code = zlistx_first (offer->districts); code;
             code = zlistx_next (offer->districts))
            if (strcmp (code, target.district))
                zlistx_add_end (target.sets[1], (void *)code);
        zlistx_sort (target.sets[1]);
        target.sets[2] = zlistx_dup (offer->languages);
        zlistx_sort (target.sets[2]);
        rc = s_write_agency (db, org->id, found ? &row : NULL, &target, agency_id, entry,
                             self->err);
        for (int i = 0; i < SET_COUNT; i++)
            zlistx_destroy (&target.sets[i]);
    }
    if (rc == 0 && *moved_from)
        json_array_append_new (
            json_object_get (entry, "values"),
            kn_directory_diff_value ("agency_id", moved_from, agency_id));
    if (rc == 0)
        rc = s_services_write (self, db, org, agency_id, combined.removed, entry);
    if (rc == 0) {
        const char *result = !found    ? "added"
                             : linking ? "linked"
                             : json_array_size (json_object_get (entry, "changes"))
                                 ? "changed"
                                 : "unchanged";
        s_count (totals, result);
        json_object_set_new (entry, "agency_id", json_string (agency_id));
        json_object_set_new (entry, "result", json_string (result));
        s_check_removes (self, entry, found && row.accepting, target.accepting);
        json_array_append (agencies, entry);
    }
out:
    json_decref (entry);
    kn_directory_offer_fini (&combined);
    zlistx_destroy (&stored);
    s_row_free (&row);
    return rc;
}

//  -------------------------------------------------------------------------
//  The import

//  Read the file at path, or the count documents of texts, against the districts
//  Kinnet knows; NULL with err.
static kn_hsds_t *
s_read (kn_db_t *db, const char *path, const char *const *texts, const size_t *lens,
        size_t count, const kn_directory_mapping_t *mapping, kn_error_t *err)
{
    PGresult *result = kn_db_run (db, "directory_districts", 0, NULL, NULL, NULL, err);
    if (!result)
        return NULL;
    size_t rows = (size_t)PQntuples (result);
    kn_hsds_district_t *districts = kn_calloc (rows ? rows : 1, sizeof *districts);
    const char **codes = kn_calloc (rows ? rows : 1, sizeof *codes);
    for (size_t i = 0; i < rows; i++) {
        districts[i].code = codes[i] = PQgetvalue (result, (int)i, 0);
        districts[i].name =
            PQgetisnull (result, (int)i, 1) ? NULL : PQgetvalue (result, (int)i, 1);
    }
    kn_hsds_t *hsds =
        kn_directory_mapping_check_districts (mapping, codes, rows, err) ? NULL
        : path ? kn_hsds_load (path, mapping, districts, rows, err)
               : kn_hsds_parse_all (texts, lens, count, mapping, districts, rows, err);
    free (districts);
    free (codes);
    PQclear (result);
    return hsds;
}

//  Directory agencies the file does not mention: reported, never changed (an
//  organization leaving a directory extract is no reason to stop routing to it).
static json_t *
s_not_in_file (s_import_t *self, kn_db_t *db)
{
    kn_pgarray_t *ids = kn_pgarray_new ();
    for (size_t i = 0; i < kn_hsds_size (self->hsds); i++)
        kn_pgarray_add (ids, kn_hsds_get (self->hsds, i)->id);
    const char *params[] = {kn_pgarray_text (ids)};
    PGresult *result =
        kn_db_run (db, "directory_not_in_file", 1, params, NULL, NULL, self->err);
    kn_pgarray_destroy (&ids);
    if (!result)
        return NULL;
    json_t *missing = json_array ();
    for (int i = 0; i < PQntuples (result); i++)
        json_array_append_new (missing, json_string (PQgetvalue (result, i, 0)));
    PQclear (result);
    return missing;
}

//  --prune: the directory agency directory_id, missing from a whole directory,
//  stops accepting and loses its stored services; its keys, roles, cases and
//  directory data stay. Appends to the report when anything changed.
static int
s_withdraw (s_import_t *self, kn_db_t *db, const char *directory_id, json_t *agencies,
            json_t *totals)
{
    s_row_t row = {0};
    zlistx_t *stored = kn_directory_services_list ();
    json_t *entry = s_entry (directory_id, "");
    int found = s_row_read (db, "directory_agency_by_directory_id", directory_id, &row,
                            self->err);
    int rc =
        found < 0 || (found && kn_directory_services_read (db, row.id, stored, self->err))
            ? -1
            : 0;
    const char *params[] = {row.id};
    for (kn_hsds_service_entry_t *service = zlistx_first (stored); rc == 0 && service;
         service = zlistx_next (stored)) {
        rc = kn_directory_services_remove (db, row.id, service->id, self->err);
        json_array_append_new (json_object_get (entry, "services_removed"),
                               json_string (service->id));
    }
    if (rc == 0 && found && !row.withdrawn) {
        s_value_change (entry, "directory_status", "listed", "withdrawn");
        if (row.accepting)
            s_value_change (entry, "accepting", "true", "false");
        rc = s_do (db, "directory_agency_withdraw", 1, params, self->err);
    }
    if (rc == 0 && found &&
        (json_array_size (json_object_get (entry, "changes")) ||
         json_array_size (json_object_get (entry, "services_removed")))) {
        json_object_set_new (entry, "agency_id", json_string (row.id));
        json_object_set_new (entry, "name", json_string (row.name));
        json_object_set_new (entry, "result", json_string ("withdrawn"));
        s_count (totals, "withdrawn");
        json_array_append (agencies, entry);
    }
    json_decref (entry);
    zlistx_destroy (&stored);
    s_row_free (&row);
    return rc;
}

//  Without prune, a change that takes from routing refuses the import; a dry run
//  says so in its report instead. 0 or -1 with err.
static int
s_refuse (s_import_t *self, bool dry_run)
{
    size_t count = json_array_size (self->blocked);
    if (self->prune || dry_run || count == 0)
        return 0;
    return kn_error_set (
        self->err, KN_E_CONFLICT, "prune",
        "the import would take from routing what %zu agenc%s offer%s (%s%s); "
        "a dry run shows the report, prune applies it",
        count, count > 1 ? "ies" : "y", count > 1 ? "" : "s",
        json_string_value (json_array_get (self->blocked, 0)), count > 1 ? ", ..." : "");
}

//  The import of the file at path, or of the count documents of texts when path
//  is NULL. own: in a transaction of its own, rolled back for a dry run; otherwise
//  in the caller's, a dry run's writes undone back to a savepoint.
static json_t *
s_import (kn_db_t *db, const char *path, const char *const *texts, const size_t *lens,
          size_t count, const kn_directory_mapping_t *mapping, bool dry_run,
          kn_directory_prune_t mode, bool own, kn_error_t *err)
{
    assert (db && (path || texts) && mapping);
    if (s_prepare (db, err))
        return NULL;
    bool prune = mode != KN_DIRECTORY_ADD_ONLY, whole = false;
    s_import_t self = {
        .mapping = mapping, .prune = prune, .blocked = json_array (), .err = err};
    kn_uuid_generate (self.import_id);
    json_t *agencies = json_array ();
    json_t *totals = json_pack ("{s:i,s:i,s:i,s:i,s:i}", "added", 0, "linked", 0,
                                "changed", 0, "unchanged", 0, "withdrawn", 0);
    json_t *missing = NULL, *report = NULL;
    const char *undo = own ? "ROLLBACK" : "ROLLBACK TO SAVEPOINT directory_import";

    //  Its own transaction writes audit rows (roles granted), so it announces itself.
    int rc = own ? kn_db_begin_write (db, NULL, err)
                 : kn_db_exec (db, "SAVEPOINT directory_import", err);
    bool open = rc == 0;
    if (rc == 0)
        rc = s_do (db, "directory_import_lock", 0, NULL, err);
    if (rc == 0) {
        self.hsds = s_read (db, path, texts, lens, count, mapping, err);
        rc = self.hsds ? 0 : -1;
    }
    char why[200];
    if (rc == 0 && prune && !kn_hsds_whole (self.hsds, why, sizeof why))
        rc = kn_error_set (err, KN_E_CONFLICT, "prune",
                           "prune needs the whole directory, and %s", why);
    //  A file is the whole directory only when the administrator says so: one
    //  holding a single organization must not withdraw all the others.
    if (rc == 0 && prune)
        whole = mode == KN_DIRECTORY_PRUNE_WHOLE || kn_hsds_pages (self.hsds) > 0;
    if (rc == 0)
        self.ignored = json_copy (kn_hsds_ignored (self.hsds));
    for (size_t i = 0; rc == 0 && i < kn_hsds_size (self.hsds); i++)
        rc = s_apply (&self, db, kn_hsds_get (self.hsds, i), agencies, totals);
    if (rc == 0) {
        missing = s_not_in_file (&self, db);
        rc = missing ? 0 : -1;
    }
    size_t index;
    for (index = 0; rc == 0 && whole && index < json_array_size (missing); index++)
        rc = s_withdraw (&self, db, json_string_value (json_array_get (missing, index)),
                         agencies, totals);
    if (rc == 0)
        rc = s_refuse (&self, dry_run);
    if (rc == 0)
        rc = kn_db_exec (db,
                         dry_run ? undo
                         : own   ? "COMMIT"
                                 : "RELEASE directory_import",
                         err);
    else if (open) {
        kn_error_t ignored;
        kn_db_exec (db, undo, &ignored);
    }
    if (rc == 0) {
        json_object_set_new (totals, "ignored",
                             json_integer (json_array_size (self.ignored)));
        report =
            json_pack ("{s:b,s:b,s:b,s:b,s:O,s:O,s:O,s:O}", "dry_run", dry_run, "prune",
                       prune, "whole", whole, "needs_prune",
                       !prune && json_array_size (self.blocked) > 0, "agencies", agencies,
                       "ignored", self.ignored, "not_in_file", missing, "totals", totals);
    }
    json_decref (missing);
    json_decref (totals);
    json_decref (agencies);
    json_decref (self.ignored);
    json_decref (self.blocked);
    kn_hsds_destroy (&self.hsds);
    return report;
}

json_t *
kn_directory_import (kn_db_t *db, const char *path, const kn_directory_mapping_t *mapping,
                     bool dry_run, kn_directory_prune_t prune, kn_error_t *err)
{
    return s_import (db, path, NULL, NULL, 0, mapping, dry_run, prune, true, err);
}

json_t *
kn_directory_import_texts (kn_db_t *db, const char *const *texts, const size_t *lens,
                           size_t count, const kn_directory_mapping_t *mapping,
                           bool dry_run, kn_directory_prune_t prune, kn_error_t *err)
{
    return s_import (db, NULL, texts, lens, count, mapping, dry_run, prune, false, err);
}
