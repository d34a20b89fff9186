/*  kn_agency: agency registry reads and writes (admin paths). */
#include "kn_agency.h"

#include <ctype.h>
#include <protobuf-c/protobuf-c.h>

#include "kinnet/v1/common.pb-c.h"

int
kn_agency_add (kn_db_t *db, const char *name, const char *sector, const char *district,
               const char *public_key, char id_out[KN_UUID_STR], kn_error_t *err)
{
    if (!name || !*name || strlen (name) > 200)
        return kn_error_set (err, KN_E_INVALID_ARGUMENT, "name",
                             "name is required (1 to 200 characters)");
    if (!district || !*district || strlen (district) > 64)
        return kn_error_set (err, KN_E_INVALID_ARGUMENT, "district",
                             "district is required (1 to 64 characters)");
    char upper[64] = "";
    for (size_t i = 0; sector && sector[i] && i + 1 < sizeof upper; i++)
        upper[i] = (char) toupper ((unsigned char) sector[i]);
    const ProtobufCEnumValue *value = protobuf_c_enum_descriptor_get_value_by_name (
        &kinnet__v1__agency_sector__descriptor, upper);
    if (!value || value->value == 0)
        return kn_error_set (err, KN_E_INVALID_ARGUMENT, "sector",
                             "unknown sector '%s' (see docs/protocol.md, AgencySector)",
                             sector ? sector : "");
    uint8_t raw[32];
    if (!public_key || strlen (public_key) != 40 || !zmq_z85_decode (raw, public_key))
        return kn_error_set (err, KN_E_INVALID_ARGUMENT, "public_key",
                             "public key must be 40 Z85 characters");

    kn_uuid_generate (id_out);
    for (char *c = upper; *c; c++)
        *c = (char) tolower ((unsigned char) *c);
    if (kn_db_exec (db, "BEGIN", err))
        return -1;
    const char *agency[] = {id_out, name, upper, district};
    PGresult *result = kn_db_query (
        db, "INSERT INTO core.agency (id, name, sector, district) VALUES ($1, $2, $3, $4)",
        4, agency, err);
    if (result) {
        PQclear (result);
        const char *key[] = {public_key, id_out};
        result = kn_db_query (
            db, "INSERT INTO core.agency_key (public_key, agency_id) VALUES ($1, $2)", 2,
            key, err);
        if (!result && err->code == KN_E_CONFLICT)
            kn_error_set (err, KN_E_CONFLICT, "public_key",
                          "this public key is already registered");
    }
    if (!result) {
        kn_error_t ignored;
        kn_db_exec (db, "ROLLBACK", &ignored);
        return -1;
    }
    PQclear (result);
    return kn_db_exec (db, "COMMIT", err);
}

int
kn_agency_revoke (kn_db_t *db, const char *agency_id, kn_error_t *err)
{
    if (!kn_uuid_valid (agency_id))
        return kn_error_set (err, KN_E_INVALID_ARGUMENT, "agency_id",
                             "agency id must be a UUID");
    const char *params[] = {agency_id};
    PGresult *result = kn_db_query (
        db,
        "WITH a AS (UPDATE core.agency SET active = false,"
        "  deactivated_at = coalesce(deactivated_at, now()) WHERE id = $1 RETURNING id),"
        " k AS (UPDATE core.agency_key SET revoked_at = coalesce(revoked_at, now())"
        "  WHERE agency_id = $1 RETURNING 1)"
        " SELECT (SELECT count(*) FROM a), (SELECT count(*) FROM k)",
        1, params, err);
    if (!result)
        return -1;
    int found = atoi (PQgetvalue (result, 0, 0));
    PQclear (result);
    if (!found)
        return kn_error_set (err, KN_E_NOT_FOUND, "agency_id", "no such agency");
    return 0;
}

zhashx_t *
kn_agency_active_keys (kn_db_t *db, kn_error_t *err)
{
    PGresult *result = kn_db_query (
        db,
        "SELECT k.public_key, k.agency_id FROM core.agency_key k"
        " JOIN core.agency a ON a.id = k.agency_id"
        " WHERE a.active AND k.revoked_at IS NULL",
        0, NULL, err);
    if (!result)
        return NULL;
    zhashx_t *keys = zhashx_new ();
    zhashx_set_destructor (keys, (zhashx_destructor_fn *) zstr_free);
    zhashx_set_duplicator (keys, (zhashx_duplicator_fn *) strdup);
    for (int row = 0; row < PQntuples (result); row++)
        zhashx_insert (keys, PQgetvalue (result, row, 0), PQgetvalue (result, row, 1));
    PQclear (result);
    return keys;
}

int
kn_agency_set_role (kn_db_t *db, const char *agency_id, const char *role, bool add,
                    kn_error_t *err)
{
    static const char *roles[] = {"referrer", "coordinator", "auditor",
                                  "data_protection_officer", "administrator"};
    bool known = false;
    for (size_t i = 0; i < sizeof roles / sizeof roles[0]; i++)
        known |= role && strcmp (role, roles[i]) == 0;
    if (!known)
        return kn_error_set (err, KN_E_INVALID_ARGUMENT, "role",
                             "role must be referrer, coordinator, auditor, "
                             "data_protection_officer or administrator");
    if (!kn_uuid_valid (agency_id))
        return kn_error_set (err, KN_E_INVALID_ARGUMENT, "agency_id", "agency id must be a UUID");
    const char *params[] = {agency_id, role};
    PGresult *result = kn_db_query (
        db,
        add ? "INSERT INTO core.agency_role (agency_id, role) SELECT id, $2 FROM core.agency"
              " WHERE id = $1 ON CONFLICT DO NOTHING RETURNING 1"
            : "DELETE FROM core.agency_role WHERE agency_id = $1 AND role = $2 RETURNING 1",
        2, params, err);
    if (!result)
        return -1;
    PQclear (result);
    //  Adding to a missing agency inserts nothing: say so.
    const char *check[] = {agency_id};
    result = kn_db_query (db, "SELECT 1 FROM core.agency WHERE id = $1", 1, check, err);
    if (!result)
        return -1;
    int found = PQntuples (result);
    PQclear (result);
    return found ? 0 : kn_error_set (err, KN_E_NOT_FOUND, "agency_id", "no such agency");
}
