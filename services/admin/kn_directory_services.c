/*  kn_directory_services: an agency's stored HSDS services.

    A service's facts are stored as the reader gives them: needs sorted, districts
    and languages in file order, so reading the same documents again finds every
    row "unchanged". Sets travel as PostgreSQL array literals (kn_pgarray) and come
    back as JSON arrays. */
#include "kn_directory_services.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kn_alloc.h"
#include "kn_pgarray.h"

#define FACTS "active, needs, districts, languages, interpreters, capacity"

static const char *s_statements[][2] = {
    {"directory_services_read",
     "SELECT service_id, active, array_to_json (needs), array_to_json (districts),"
     " array_to_json (languages), interpreters, capacity"
     " FROM core.agency_directory_service WHERE agency_id = $1 ORDER BY service_id"
     " FOR UPDATE"},
    //  What the row held before (the CTE sees the statement's starting snapshot)
    //  and the upsert in one round trip.
    {"directory_services_put",
     "WITH old AS (SELECT " FACTS " FROM core.agency_directory_service"
     "  WHERE agency_id = $1 AND service_id = $2),"
     " up AS (INSERT INTO core.agency_directory_service (agency_id, service_id, " FACTS
     ", last_seen_import) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)"
     "  ON CONFLICT (agency_id, service_id) DO UPDATE SET active = excluded.active,"
     "  needs = excluded.needs, districts = excluded.districts,"
     "  languages = excluded.languages, interpreters = excluded.interpreters,"
     "  capacity = excluded.capacity, last_seen_import = excluded.last_seen_import"
     "  RETURNING 1)"
     " SELECT CASE WHEN NOT EXISTS (SELECT 1 FROM old) THEN 'added'"
     "  WHEN EXISTS (SELECT 1 FROM old WHERE (" FACTS ") IS NOT DISTINCT FROM"
     "   ($3::boolean, $4::smallint[], $5::text[], $6::text[], $7::boolean,"
     "    $8::integer)) THEN 'unchanged' ELSE 'changed' END, (SELECT count(*) FROM up)"},
    {"directory_services_remove", "DELETE FROM core.agency_directory_service"
                                  " WHERE agency_id = $1 AND service_id = $2"},
    //  Whether the agency ever worked: a key it held, a case it has, a district
    //  it leads. FOR UPDATE: the answer holds until the caller's transaction
    //  commits. Also its directory id and whether it is active, for release.
    {"directory_never_worked",
     "SELECT (NOT a.active OR NOT EXISTS (SELECT 1 FROM core.agency_key k"
     "   WHERE k.agency_id = a.id))"
     " AND NOT EXISTS (SELECT 1 FROM routing.involvement i WHERE i.agency_id = a.id"
     "   AND i.status IN ('offered', 'accepted'))"
     " AND NOT EXISTS (SELECT 1 FROM core.district d"
     "   WHERE d.child_protection_lead = a.id),"
     " a.directory_id, a.active"
     " FROM core.agency a WHERE a.id = $1 FOR UPDATE OF a"},
    {"directory_relink_release",
     "UPDATE core.agency SET directory_id = NULL, accepting = false, active = false,"
     " deactivated_at = coalesce (deactivated_at, now ()) WHERE id = $1"},
    {"directory_relink_services",
     "UPDATE core.agency_directory_service SET agency_id = $2 WHERE agency_id = $1"},
    {"directory_release_services",
     "DELETE FROM core.agency_directory_service WHERE agency_id = $1"},
};

static int
s_prepare (kn_db_t *db, kn_error_t *err)
{
    return kn_db_prepare_all (db, s_statements,
                              sizeof s_statements / sizeof s_statements[0], err);
}

zlistx_t *
kn_directory_services_list (void)
{
    zlistx_t *list = zlistx_new ();
    if (!list)
        abort (); // out of memory: nothing sensible to answer
    zlistx_set_destructor (list, kn_hsds_service_entry_destroy);
    return list;
}

//  A JSON array column's items appended to list (as text), or needs added to set.
static void
s_json_items (const char *text, zlistx_t *list, kn_directory_needs_t *needs)
{
    json_t *values = json_loads (text, 0, NULL);
    size_t index;
    json_t *value;
    json_array_foreach (values, index, value)
    {
        if (needs && json_is_integer (value) && json_integer_value (value) >= 1 &&
            json_integer_value (value) <= 100)
            kn_directory_needs_add (needs, (int)json_integer_value (value));
        else if (list && json_is_string (value))
            zlistx_add_end (list, (void *)json_string_value (value));
    }
    json_decref (values);
}

int
kn_directory_services_read (kn_db_t *db, const char *agency_id, zlistx_t *out,
                            kn_error_t *err)
{
    const char *params[] = {agency_id};
    PGresult *result = s_prepare (db, err) ? NULL
                                           : kn_db_run (db, "directory_services_read", 1,
                                                        params, NULL, NULL, err);
    if (!result)
        return -1;
    for (int i = 0; i < PQntuples (result); i++) {
        kn_hsds_service_entry_t *entry = kn_calloc (1, sizeof *entry);
        entry->id = kn_strdup (PQgetvalue (result, i, 0));
        entry->active = streq (PQgetvalue (result, i, 1), "t");
        kn_hsds_offer_init (&entry->offer);
        s_json_items (PQgetvalue (result, i, 2), NULL, &entry->offer.needs);
        s_json_items (PQgetvalue (result, i, 3), entry->offer.districts, NULL);
        s_json_items (PQgetvalue (result, i, 4), entry->offer.languages, NULL);
        entry->offer.interpreters = streq (PQgetvalue (result, i, 5), "t");
        entry->offer.has_capacity = !PQgetisnull (result, i, 6);
        entry->offer.capacity =
            entry->offer.has_capacity ? atoll (PQgetvalue (result, i, 6)) : 0;
        zlistx_add_end (out, entry);
    }
    PQclear (result);
    return 0;
}

//  list's items as an array literal.
static kn_pgarray_t *
s_array (zlistx_t *list)
{
    kn_pgarray_t *array = kn_pgarray_new ();
    for (const char *item = zlistx_first (list); item; item = zlistx_next (list))
        kn_pgarray_add (array, item);
    return array;
}

int
kn_directory_services_put (kn_db_t *db, const char *agency_id,
                           const kn_hsds_service_entry_t *service, const char *import_id,
                           const char **result, kn_error_t *err)
{
    if (s_prepare (db, err))
        return -1;
    const kn_hsds_offer_t *offer = &service->offer;
    kn_pgarray_t *needs = kn_pgarray_new ();
    for (int need = 1; need <= 100; need++) {
        if (kn_directory_needs_has (&offer->needs, need)) {
            char text[8];
            snprintf (text, sizeof text, "%d", need);
            kn_pgarray_add (needs, text);
        }
    }
    kn_pgarray_t *districts = s_array (offer->districts);
    kn_pgarray_t *languages = s_array (offer->languages);
    char capacity[24];
    snprintf (capacity, sizeof capacity, "%lld", (long long)offer->capacity);
    const char *params[] = {agency_id,
                            service->id,
                            service->active ? "true" : "false",
                            kn_pgarray_text (needs),
                            kn_pgarray_text (districts),
                            kn_pgarray_text (languages),
                            offer->interpreters ? "true" : "false",
                            offer->has_capacity ? capacity : NULL,
                            import_id};
    PGresult *rows = kn_db_run (db, "directory_services_put", 9, params, NULL, NULL, err);
    kn_pgarray_destroy (&needs);
    kn_pgarray_destroy (&districts);
    kn_pgarray_destroy (&languages);
    if (!rows)
        return -1;
    const char *value = PQgetvalue (rows, 0, 0);
    *result = streq (value, "added")     ? "added"
              : streq (value, "changed") ? "changed"
                                         : "unchanged";
    PQclear (rows);
    return 0;
}

int
kn_directory_services_remove (kn_db_t *db, const char *agency_id, const char *service_id,
                              kn_error_t *err)
{
    const char *params[] = {agency_id, service_id};
    PGresult *result = s_prepare (db, err) ? NULL
                                           : kn_db_run (db, "directory_services_remove",
                                                        2, params, NULL, NULL, err);
    PQclear (result);
    return result ? 0 : -1;
}

int
kn_directory_services_combine (const kn_hsds_org_t *org, zlistx_t *stored, bool replace,
                               kn_directory_offer_t *out)
{
    kn_hsds_offer_init (&out->active);
    kn_hsds_offer_init (&out->mapped);
    kn_hsds_offer_merge (&out->active, &org->active, true);
    kn_hsds_offer_merge (&out->mapped, &org->mapped, true);
    out->active_count = org->active_count;
    out->mapped_count = org->mapped_count;
    out->removed = json_array ();
    zhashx_t *named = zhashx_new ();
    if (!named || !out->removed)
        abort (); // out of memory: nothing sensible to answer
    for (kn_hsds_service_entry_t *entry = zlistx_first (org->services); entry;
         entry = zlistx_next (org->services))
        zhashx_insert (named, entry->id, entry);
    for (kn_hsds_service_entry_t *entry = zlistx_first (stored); entry;
         entry = zlistx_next (stored)) {
        if (zhashx_lookup (named, entry->id))
            continue; // the documents' word on it wins
        if (replace) {
            json_array_append_new (out->removed, json_string (entry->id));
            continue;
        }
        //  Kept, and counted as the reader counts: only services that map to a need.
        if (kn_directory_needs_empty (&entry->offer.needs))
            continue;
        kn_hsds_offer_merge (&out->mapped, &entry->offer, true);
        out->mapped_count++;
        if (entry->active) {
            kn_hsds_offer_merge (&out->active, &entry->offer, true);
            out->active_count++;
        }
    }
    zhashx_destroy (&named);
    return 0;
}

void
kn_directory_offer_fini (kn_directory_offer_t *self)
{
    kn_hsds_offer_fini (&self->active);
    kn_hsds_offer_fini (&self->mapped);
    json_decref (self->removed);
    self->removed = NULL;
}

//  Whether agency never worked (the rule of kn_directory_services_relink), with
//  its directory id (NULL when none; caller frees) and whether it is active.
//  1 never worked, 0 worked, -1 with err (KN_E_NOT_FOUND when there is none).
static int
s_never_worked (kn_db_t *db, const char *agency, char **directory_id, bool *active,
                kn_error_t *err)
{
    const char *params[] = {agency};
    PGresult *result = s_prepare (db, err) ? NULL
                                           : kn_db_run (db, "directory_never_worked", 1,
                                                        params, NULL, NULL, err);
    if (!result)
        return -1;
    if (PQntuples (result) != 1) {
        PQclear (result);
        return kn_error_set (err, KN_E_NOT_FOUND, "agency_id", "no such agency");
    }
    int never = streq (PQgetvalue (result, 0, 0), "t");
    if (directory_id)
        *directory_id =
            PQgetisnull (result, 0, 1) ? NULL : kn_strdup (PQgetvalue (result, 0, 1));
    if (active)
        *active = streq (PQgetvalue (result, 0, 2), "t");
    PQclear (result);
    return never;
}

//  The placeholder agency let go: no directory id, not accepting, deactivated.
static int
s_let_go (kn_db_t *db, const char *agency, kn_error_t *err)
{
    const char *params[] = {agency};
    PGresult *result =
        kn_db_run (db, "directory_relink_release", 1, params, NULL, NULL, err);
    PQclear (result);
    return result ? 0 : -1;
}

int
kn_directory_services_relink (kn_db_t *db, const char *from, const char *to,
                              kn_error_t *err)
{
    int movable = s_never_worked (db, from, NULL, NULL, err);
    if (movable <= 0)
        return movable;
    if (s_let_go (db, from, err))
        return -1;
    const char *params[] = {from, to};
    PGresult *result =
        kn_db_run (db, "directory_relink_services", 2, params, NULL, NULL, err);
    PQclear (result);
    return result ? 1 : -1;
}

int
kn_directory_services_release (kn_db_t *db, const char *agency,
                               char directory_id[KN_DIRECTORY_ID_MAX], kn_error_t *err)
{
    char *bound = NULL;
    bool active = false;
    *directory_id = '\0';
    int never = s_never_worked (db, agency, &bound, &active, err);
    if (never >= 0 && bound)
        snprintf (directory_id, KN_DIRECTORY_ID_MAX, "%s", bound);
    free (bound);
    //  Already inactive: its revocation settled it (linking still may move it).
    if (never < 0 || !*directory_id || !active)
        return never < 0 ? -1 : 0;
    if (!never)
        return 0;
    const char *params[] = {agency};
    PGresult *result = NULL;
    if (s_let_go (db, agency, err) ||
        !(result =
              kn_db_run (db, "directory_release_services", 1, params, NULL, NULL, err)))
        return -1;
    PQclear (result);
    return 1;
}
