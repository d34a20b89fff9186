/*  kn_directory: reading and changing the agency directory by hand.

    These are an administrator's commands between imports (kn_directory_import):
    what routing will read about agencies, a manual change to one agency's
    availability, and the districts with their child-protection leads. A change runs
    in the caller's transaction (the admin service's write, which audits it) and
    reports only the fields that really differed. */
#include "kn_directory.h"
#include "kn_directory_mapping.h"

#include <ctype.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include <czmq.h>
#include <protobuf-c/protobuf-c.h>

#include "kinnet/v1/common.pb-c.h"
#include "kn_uuid.h"
#include "kn_alloc.h"

//  HSDS ids are often UUIDs too, so a UUID may name either.
#define SHOW_SQL                                                                         \
    "SELECT a.id, a.name, a.sector, a.district, a.directory_id, a.active, a.accepting,"  \
    "  a.capacity, a.interpreters,"                                                      \
    "  (SELECT count(*) FROM routing.involvement i WHERE i.agency_id = a.id"             \
    "    AND i.status IN ('offered', 'accepted')),"                                      \
    "  (SELECT coalesce(json_agg(n.need ORDER BY n.need), '[]') FROM core.agency_need n" \
    "    WHERE n.agency_id = a.id),"                                                     \
    "  (SELECT coalesce(json_agg(d.district ORDER BY d.district), '[]')"                 \
    "    FROM core.agency_district d WHERE d.agency_id = a.id"                           \
    "    AND d.district <> a.district),"                                                 \
    "  (SELECT coalesce(json_agg(l.language ORDER BY l.language), '[]')"                 \
    "    FROM core.agency_language l WHERE l.agency_id = a.id),"                         \
    "  EXISTS (SELECT 1 FROM core.agency_key k WHERE k.agency_id = a.id"                 \
    "    AND k.revoked_at IS NULL), a.directory_status"                                  \
    " FROM core.agency a"                                                                \
    " WHERE $1::text IS NULL OR a.id::text = lower($1) OR a.directory_id = $1"           \
    " ORDER BY a.name, a.id"

static const char *s_statements[][2] = {
    {"directory_show", SHOW_SQL},
    {"directory_availability",
     "SELECT accepting, interpreters, capacity, directory_status FROM core.agency"
     " WHERE id = $1 FOR UPDATE"},
    {"directory_availability_set",
     "UPDATE core.agency SET accepting = $2, capacity = $3, interpreters = $4"
     " WHERE id = $1"},
    {"directory_district", "SELECT name, child_protection_lead FROM core.district"
                           " WHERE code = $1 FOR UPDATE"},
    //  A lead must be able to take emergency offers: a live agency.
    {"directory_active_agency", "SELECT 1 FROM core.agency WHERE id = $1 AND active"},
    {"directory_district_update", "UPDATE core.district SET name = $2,"
                                  " child_protection_lead = $3 WHERE code = $1"},
    {"directory_district_insert", "INSERT INTO core.district (code, name,"
                                  " child_protection_lead) VALUES ($1, $2, $3)"},
    //  Every district known or served: one an active agency serves (home or
    //  catchment) is listed even when core.district lacks it.
    {"directory_district_list",
     "WITH served AS (SELECT a.district AS code, a.id FROM core.agency a WHERE a.active"
     "  UNION SELECT x.district, a.id FROM core.agency_district x"
     "  JOIN core.agency a ON a.id = x.agency_id WHERE a.active),"
     " codes AS (SELECT code FROM core.district UNION SELECT code FROM served)"
     " SELECT c.code, d.name, d.child_protection_lead, l.name,"
     "  (SELECT coalesce(json_agg(s.id ORDER BY s.id), '[]') FROM served s"
     "    WHERE s.code = c.code), d.code IS NOT NULL"
     " FROM codes c LEFT JOIN core.district d ON d.code = c.code"
     " LEFT JOIN core.agency l ON l.id = d.child_protection_lead ORDER BY c.code"},
};

static int
s_prepare (kn_db_t *db, kn_error_t *err)
{
    return kn_db_prepare_all (db, s_statements,
                              sizeof s_statements / sizeof s_statements[0], err);
}

static PGresult *
s_run (kn_db_t *db, const char *name, int nparams, const char *const *params,
       kn_error_t *err)
{
    return kn_db_run (db, name, nparams, params, NULL, NULL, err);
}

//  A NeedCategory value's name in lower case, as the mapping spells needs.
static void
s_need_name (int value, char out[40])
{
    const ProtobufCEnumValue *found = protobuf_c_enum_descriptor_get_value (
        &kinnet__v1__need_category__descriptor, value);
    snprintf (out, 40, "%s", found ? found->name : "unknown");
    for (char *c = out; *c; c++)
        *c = (char)tolower ((unsigned char)*c);
}

static json_t *
s_json_column (PGresult *result, int row, int column)
{
    json_t *value = json_loads (PQgetvalue (result, row, column), JSON_DECODE_ANY, NULL);
    return value ? value : json_array ();
}

//  Why routing offers the agency of row i nothing, as routing decides it
//  (routing_offer: active, accepting, an unrevoked key, a need; then capacity
//  left); NULL when it can receive offers.
static const char *
s_why_not (PGresult *result, int i, json_t *needs)
{
    if (!streq (PQgetvalue (result, i, 5), "t"))
        return "revoked";
    if (streq (PQgetvalue (result, i, 14), "withdrawn"))
        return "withdrawn: the whole directory no longer lists it";
    if (!streq (PQgetvalue (result, i, 13), "t"))
        return "no active key: kinnet admin agency key add AGENCY_ID";
    if (!streq (PQgetvalue (result, i, 6), "t"))
        return "not accepting";
    if (json_array_size (needs) == 0)
        return "serves no need";
    if (!PQgetisnull (result, i, 7) &&
        atoll (PQgetvalue (result, i, 9)) >= atoll (PQgetvalue (result, i, 7)))
        return "at capacity";
    return NULL;
}

json_t *
kn_directory_show (kn_db_t *db, const char *agency, kn_error_t *err)
{
    const char *params[] = {agency};
    PGresult *result =
        s_prepare (db, err) ? NULL : s_run (db, "directory_show", 1, params, err);
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
            json_pack ("{s:s,s:s,s:s,s:s,s:o,s:b,s:b,s:o,s:I,s:b,s:o,s:o,s:o,s:b}",
                       "agency_id", PQgetvalue (result, i, 0), "name",
                       PQgetvalue (result, i, 1), "sector", PQgetvalue (result, i, 2),
                       "district", PQgetvalue (result, i, 3), "directory_id",
                       directory_id, "active", streq (PQgetvalue (result, i, 5), "t"),
                       "accepting", streq (PQgetvalue (result, i, 6), "t"), "capacity",
                       capacity, "load", (json_int_t)atoll (PQgetvalue (result, i, 9)),
                       "interpreters", streq (PQgetvalue (result, i, 8), "t"), "needs",
                       needs, "districts", districts, "languages",
                       s_json_column (result, i, 12), "has_key",
                       streq (PQgetvalue (result, i, 13), "t")));
        json_t *item = json_array_get (list, json_array_size (list) - 1);
        const char *why_not = s_why_not (result, i, needs);
        json_object_set_new (item, "directory_status",
                             json_string (PQgetvalue (result, i, 14)));
        json_object_set_new (item, "can_receive_offers", json_boolean (!why_not));
        json_object_set_new (item, "why_not", json_string (why_not ? why_not : ""));
    }
    PQclear (result);
    return list;
}

//  What a manual change may change, as the agency has it now.
typedef struct {
    bool accepting, interpreters;
    bool has_capacity;
    int64_t capacity;
    bool withdrawn;
} s_availability_t;

//  The agency's row, locked until the change commits: 1 found, 0 none, -1 error.
static int
s_availability_read (kn_db_t *db, const char *agency_id, s_availability_t *row,
                     kn_error_t *err)
{
    const char *params[] = {agency_id};
    PGresult *result = s_run (db, "directory_availability", 1, params, err);
    if (!result)
        return -1;
    int found = PQntuples (result);
    if (found) {
        row->accepting = streq (PQgetvalue (result, 0, 0), "t");
        row->interpreters = streq (PQgetvalue (result, 0, 1), "t");
        row->has_capacity = !PQgetisnull (result, 0, 2);
        row->capacity = row->has_capacity ? atoll (PQgetvalue (result, 0, 2)) : 0;
        row->withdrawn = streq (PQgetvalue (result, 0, 3), "withdrawn");
    }
    PQclear (result);
    return found ? 1 : 0;
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
    if (s_prepare (db, err))
        return NULL;
    s_availability_t row = {0};
    int found = s_availability_read (db, agency_id, &row, err);
    json_t *changes = json_array ();
    int rc = found > 0 ? 0 : -1;
    if (found == 0)
        kn_error_set (err, KN_E_NOT_FOUND, "agency_id", "no such agency");
    //  Routing skips a withdrawn agency because it does not accept: only an import
    //  that lists it again may undo that.
    if (rc == 0 && row.withdrawn && change->accepting == 1 && !row.accepting)
        rc = kn_error_set (err, KN_E_CONFLICT, "accepting",
                           "the agency was withdrawn from the directory (prune): an "
                           "import that lists it again makes it accept");
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
            PGresult *result = s_run (db, "directory_availability_set", 4, params, err);
            rc = result ? 0 : -1;
            PQclear (result);
        }
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
    if (!code || !kn_directory_district_code_ok (code)) {
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
    if (s_prepare (db, err))
        return NULL;
    const char *params[] = {code, NULL, NULL};
    PGresult *result = s_run (db, "directory_district", 1, params, err);
    int rc = result ? 0 : -1;
    bool exists = rc == 0 && PQntuples (result) == 1;
    char *old_name =
        exists && !PQgetisnull (result, 0, 0) ? kn_strdup (PQgetvalue (result, 0, 0)) : NULL;
    char *old_lead =
        exists && !PQgetisnull (result, 0, 1) ? kn_strdup (PQgetvalue (result, 0, 1)) : NULL;
    PQclear (result);
    if (rc == 0 && lead && *lead) {
        const char *check[] = {lead};
        result = s_run (db, "directory_active_agency", 1, check, err);
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
        result =
            s_run (db, exists ? "directory_district_update" : "directory_district_insert",
                   3, params, err);
        rc = result ? 0 : -1;
        PQclear (result);
    }
    free (old_name);
    free (old_lead);
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
    PGresult *result =
        s_prepare (db, err) ? NULL : s_run (db, "directory_district_list", 0, NULL, err);
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
            list,
            json_pack ("{s:s,s:o,s:o,s:o,s:o,s:b}", "code", PQgetvalue (result, i, 0),
                       "name", columns[0], "child_protection_lead", columns[1],
                       "lead_name", columns[2], "agencies", s_json_column (result, i, 4),
                       "registered", streq (PQgetvalue (result, i, 5), "t")));
    }
    PQclear (result);
    return list;
}
