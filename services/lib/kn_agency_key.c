/*  kn_agency_key: an agency's keys one at a time, so an agency rotates its
    certificate (add the new key, move its systems, revoke the old) and keeps its
    id, and with it its roles, consents, cases and feed. Every change locks the
    agency's row first: a revocation of its last live key cannot race another
    key's, nor an addition the agency's deactivation. */
#include "kn_agency.h"

#include <stdlib.h>
#include <string.h>

#include "kn_alloc.h"

#define LOCK_AGENCY "SELECT active FROM core.agency WHERE id = $1 FOR UPDATE"
#define LIVE_KEYS                                                                        \
    "SELECT count (*) FROM core.agency_key WHERE agency_id = $1 AND revoked_at IS NULL"

static int
s_check (const char *agency_id, const char *public_key, kn_error_t *err)
{
    uint8_t raw[32];
    if (!kn_uuid_valid (agency_id))
        return kn_error_set (err, KN_E_INVALID_ARGUMENT, "agency_id",
                             "agency id must be a UUID");
    if (!public_key || strlen (public_key) != 40 || !zmq_z85_decode (raw, public_key))
        return kn_error_set (err, KN_E_INVALID_ARGUMENT, "public_key",
                             "public key must be 40 Z85 characters");
    return 0;
}

//  Lock agency_id's row: 1 active, 0 deactivated, -1 none (KN_E_NOT_FOUND) or error.
static int
s_lock_agency (kn_db_t *db, const char *agency_id, kn_error_t *err)
{
    const char *params[] = {agency_id};
    PGresult *result = kn_db_query (db, LOCK_AGENCY, 1, params, err);
    if (!result)
        return -1;
    int found = PQntuples (result);
    int active = found && PQgetvalue (result, 0, 0)[0] == 't';
    PQclear (result);
    if (!found)
        return kn_error_set (err, KN_E_NOT_FOUND, "agency_id", "no such agency");
    return active;
}

static int
s_live_keys (kn_db_t *db, const char *agency_id, int *live, kn_error_t *err)
{
    const char *params[] = {agency_id};
    PGresult *result = kn_db_query (db, LIVE_KEYS, 1, params, err);
    if (!result)
        return -1;
    *live = atoi (PQgetvalue (result, 0, 0));
    PQclear (result);
    return 0;
}

int
kn_agency_key_add (kn_db_t *db, const char *agency_id, const char *public_key, int *live,
                   kn_error_t *err)
{
    if (s_check (agency_id, public_key, err))
        return -1;
    int active = s_lock_agency (db, agency_id, err);
    if (active < 0)
        return -1;
    if (!active)
        return kn_error_set (err, KN_E_CONFLICT, "agency_id",
                             "agency %s is deactivated and stays so: register a new "
                             "agency (kinnet admin agency add)",
                             agency_id);
    const char *key[] = {public_key, agency_id};
    PGresult *result = kn_db_query (
        db, "INSERT INTO core.agency_key (public_key, agency_id) VALUES ($1, $2)", 2, key,
        err);
    if (!result)
        return err->code == KN_E_CONFLICT
                   ? kn_error_set (err, KN_E_CONFLICT, "public_key",
                                   "this public key is already registered")
                   : -1;
    PQclear (result);
    return s_live_keys (db, agency_id, live, err);
}

int
kn_agency_key_revoke (kn_db_t *db, const char *agency_id, const char *public_key,
                      bool *changed, int *live, kn_error_t *err)
{
    *changed = false;
    if (s_check (agency_id, public_key, err) || s_lock_agency (db, agency_id, err) < 0)
        return -1;
    const char *params[] = {public_key, agency_id};
    PGresult *result = kn_db_query (db,
                                    "SELECT revoked_at IS NULL FROM core.agency_key"
                                    " WHERE public_key = $1 AND agency_id = $2",
                                    2, params, err);
    if (!result)
        return -1;
    bool found = PQntuples (result) > 0;
    bool is_live = found && PQgetvalue (result, 0, 0)[0] == 't';
    PQclear (result);
    if (!found)
        return kn_error_set (err, KN_E_NOT_FOUND, "public_key",
                             "agency %s has no such key", agency_id);
    if (s_live_keys (db, agency_id, live, err))
        return -1;
    if (!is_live)
        return 0;
    if (*live <= 1)
        return kn_error_set (err, KN_E_CONFLICT, "public_key",
                             "this is agency %s's last live key: add its new key first "
                             "(kinnet admin agency key add), or deactivate the agency "
                             "(kinnet admin agency revoke)",
                             agency_id);
    result = kn_db_query (db,
                          "UPDATE core.agency_key SET revoked_at = now ()"
                          " WHERE public_key = $1 AND agency_id = $2",
                          2, params, err);
    if (!result)
        return -1;
    PQclear (result);
    *changed = true;
    (*live)--;
    return 0;
}

int
kn_agency_keys (kn_db_t *db, const char *agency_id, bool *active, kn_agency_key_t **keys,
                size_t *count, kn_error_t *err)
{
    *keys = NULL;
    *count = 0;
    if (!kn_uuid_valid (agency_id))
        return kn_error_set (err, KN_E_INVALID_ARGUMENT, "agency_id",
                             "agency id must be a UUID");
    const char *params[] = {agency_id};
    PGresult *result =
        kn_db_query (db, "SELECT active FROM core.agency WHERE id = $1", 1, params, err);
    if (!result)
        return -1;
    bool found = PQntuples (result) > 0;
    *active = found && PQgetvalue (result, 0, 0)[0] == 't';
    PQclear (result);
    if (!found)
        return kn_error_set (err, KN_E_NOT_FOUND, "agency_id", "no such agency");
    result =
        kn_db_query (db,
                     "SELECT public_key, floor (extract (epoch FROM created_at))::bigint,"
                     " coalesce (floor (extract (epoch FROM revoked_at))::bigint, 0)"
                     " FROM core.agency_key WHERE agency_id = $1"
                     " ORDER BY created_at, public_key",
                     1, params, err);
    if (!result)
        return -1;
    size_t n = (size_t)PQntuples (result);
    *keys = kn_calloc (n ? n : 1, sizeof **keys);
    for (size_t row = 0; row < n; row++) {
        snprintf ((*keys)[row].public_key, sizeof (*keys)[row].public_key, "%s",
                  PQgetvalue (result, (int)row, 0));
        (*keys)[row].created_at = atoll (PQgetvalue (result, (int)row, 1));
        (*keys)[row].revoked_at = atoll (PQgetvalue (result, (int)row, 2));
    }
    *count = n;
    PQclear (result);
    return 0;
}
