/*  kn_agency: agency registry reads and writes. One statement per change, so the
    CLI's bootstrap and the admin service change the registry the same way. */
#include "kn_agency.h"

#include <ctype.h>
#include <protobuf-c/protobuf-c.h>

#include "kinnet/v1/common.pb-c.h"

#define INSERT_AGENCY                                                                    \
    "INSERT INTO core.agency (id, name, sector, district) VALUES ($1, $2, $3, $4)"
#define INSERT_KEY "INSERT INTO core.agency_key (public_key, agency_id) VALUES ($1, $2)"
#define DISTRICT_REGISTERED "SELECT 1 FROM core.district WHERE code = $1"
//  The bootstrap's own district: registered with the administrator it makes, since
//  only an administrator could register it otherwise.
#define REGISTER_DISTRICT                                                                \
    "INSERT INTO core.district (code) VALUES ($1) ON CONFLICT (code) DO NOTHING"
//  Held by an active agency: the bootstrap makes the first administrator only.
#define ADMINISTRATOR_EXISTS                                                             \
    "SELECT 1 FROM core.agency_role r JOIN core.agency a ON a.id = r.agency_id"          \
    " WHERE r.role = 'administrator' AND a.active LIMIT 1"

static bool
s_text_ok (const char *text, size_t max)
{
    if (!text || !*text || strlen (text) > max)
        return false;
    for (const unsigned char *c = (const unsigned char *)text; *c; c++)
        if (*c < 0x20 || *c == 0x7f)
            return false;
    return true;
}

int
kn_agency_check (const char *name, const char *sector, const char *district,
                 const char *public_key, char sector_out[40], kn_error_t *err)
{
    if (!s_text_ok (name, 200))
        return kn_error_set (
            err, KN_E_INVALID_ARGUMENT, "name",
            "name is required (1 to 200 characters, no control characters)");
    if (!s_text_ok (district, 64))
        return kn_error_set (err, KN_E_INVALID_ARGUMENT, "district",
                             "district is required (1 to 64 characters)");
    char upper[40] = "";
    for (size_t i = 0; sector && sector[i] && i + 1 < sizeof upper; i++)
        upper[i] = (char)toupper ((unsigned char)sector[i]);
    const ProtobufCEnumValue *value = protobuf_c_enum_descriptor_get_value_by_name (
        &kinnet__v1__agency_sector__descriptor, upper);
    if (!value || value->value == 0)
        return kn_error_set (err, KN_E_INVALID_ARGUMENT, "sector",
                             "unknown sector '%.40s' (see AgencySector)",
                             sector ? sector : "");
    uint8_t raw[32];
    if (!public_key || strlen (public_key) != 40 || !zmq_z85_decode (raw, public_key))
        return kn_error_set (err, KN_E_INVALID_ARGUMENT, "public_key",
                             "public key must be 40 Z85 characters");
    for (char *c = upper; *c; c++)
        *c = (char)tolower ((unsigned char)*c);
    memcpy (sector_out, upper, sizeof upper);
    return 0;
}

int
kn_agency_insert (kn_db_t *db, const char *id, const char *name, const char *sector,
                  const char *district, const char *public_key, kn_error_t *err)
{
    char lower[40];
    if (kn_agency_check (name, sector, district, public_key, lower, err))
        return -1;
    //  Routing reaches an agency through its district; a code nobody registered is
    //  a typo no referral would ever name. The foreign key (migration 0048) backs
    //  this up; asked first, the refusal says what to do.
    PGresult *result = kn_db_query (db, DISTRICT_REGISTERED, 1, &district, err);
    if (!result)
        return -1;
    bool registered = PQntuples (result) > 0;
    PQclear (result);
    if (!registered)
        return kn_error_set (err, KN_E_INVALID_ARGUMENT, "district",
                             "district '%.64s' is not registered; register it with "
                             "`kinnet admin directory district set %.64s --name NAME`, "
                             "or correct the code (`kinnet admin directory district "
                             "list` shows the registered ones)",
                             district, district);
    const char *agency[] = {id, name, lower, district};
    if (!(result = kn_db_query (db, INSERT_AGENCY, 4, agency, err)))
        return -1;
    PQclear (result);
    const char *key[] = {public_key, id};
    result = kn_db_query (db, INSERT_KEY, 2, key, err);
    if (!result)
        return err->code == KN_E_CONFLICT
                   ? kn_error_set (err, KN_E_CONFLICT, "public_key",
                                   "this public key is already registered")
                   : -1;
    PQclear (result);
    return 0;
}

//  How s_register treats the administrators there are.
typedef enum {
    S_PLAIN,   //  an agency like any other
    S_FIRST,   //  the first administrator: none may exist
    S_REPLACE, //  a new administrator: every active one is deactivated first
} s_admin_t;

//  Every active administrator agency deactivated and its keys revoked, each on the
//  audit trail as done on the database by its user.
#define REPLACE_ADMINISTRATORS                                                           \
    "WITH gone AS (UPDATE core.agency a SET active = false,"                             \
    "  deactivated_at = coalesce (deactivated_at, now ()) WHERE a.active AND EXISTS"     \
    "  (SELECT 1 FROM core.agency_role r WHERE r.agency_id = a.id"                       \
    "   AND r.role = 'administrator') RETURNING a.id),"                                  \
    " k AS (UPDATE core.agency_key SET revoked_at = coalesce (revoked_at, now ())"       \
    "  WHERE agency_id IN (SELECT id FROM gone) RETURNING 1)"                            \
    " INSERT INTO core.audit (agency_id, caseworker_id, service, operation, object_id,"  \
    "  result, role) SELECT NULL, session_user, 'admin', 'administrator_replaced', id,"  \
    "  'ok', 'administrator' FROM gone"

//  Register an agency in a transaction of its own; an administrator (S_FIRST,
//  S_REPLACE) under a lock two bootstraps share.
static int
s_register (kn_db_t *db, const char *name, const char *sector, const char *district,
            const char *public_key, s_admin_t admin, char id_out[KN_UUID_STR],
            kn_error_t *err)
{
    bool first_admin = admin != S_PLAIN;
    char lower[40];
    if (kn_agency_check (name, sector, district, public_key, lower, err))
        return -1;
    kn_uuid_generate (id_out);
    if (kn_db_begin_write (db, NULL, err))
        return -1;
    if (first_admin) {
        //  Two bootstraps at once must not both find no administrator.
        PGresult *result = kn_db_query (
            db, "SELECT pg_advisory_xact_lock (hashtext ('kinnet.admin.init'))", 0, NULL,
            err);
        if (!result)
            goto fail;
        PQclear (result);
        if (admin == S_REPLACE) {
            if (!(result = kn_db_query (db, REPLACE_ADMINISTRATORS, 0, NULL, err)))
                goto fail;
            PQclear (result);
        }
        if (!(result = kn_db_query (db, ADMINISTRATOR_EXISTS, 0, NULL, err)))
            goto fail;
        bool exists = PQntuples (result) > 0;
        PQclear (result);
        if (exists) {
            kn_error_set (err, KN_E_CONFLICT, "administrator",
                          "an active agency already holds the administrator role");
            goto fail;
        }
        if (!(result = kn_db_query (db, REGISTER_DISTRICT, 1, &district, err)))
            goto fail;
        PQclear (result);
    }
    if (kn_agency_insert (db, id_out, name, sector, district, public_key, err) ||
        //  The administrator administers: it does not refer (every new agency is
        //  given referrer, migration 0014), so a stolen administrator key cannot
        //  put referrals about anyone into the partnership.
        (first_admin &&
         (kn_agency_role_set (db, id_out, "administrator", true, NULL, err) ||
          kn_agency_role_set (db, id_out, "referrer", false, NULL, err))) ||
        kn_db_exec (db, "COMMIT", err))
        goto fail;
    return 0;
fail:;
    kn_error_t ignored;
    kn_db_exec (db, "ROLLBACK", &ignored);
    return -1;
}

int
kn_agency_add (kn_db_t *db, const char *name, const char *sector, const char *district,
               const char *public_key, char id_out[KN_UUID_STR], kn_error_t *err)
{
    return s_register (db, name, sector, district, public_key, S_PLAIN, id_out, err);
}

int
kn_agency_init_administrator (kn_db_t *db, const char *name, const char *sector,
                              const char *district, const char *public_key,
                              char id_out[KN_UUID_STR], kn_error_t *err)
{
    return s_register (db, name, sector, district, public_key, S_FIRST, id_out, err);
}

int
kn_agency_replace_administrators (kn_db_t *db, const char *name, const char *sector,
                                  const char *district, const char *public_key,
                                  char id_out[KN_UUID_STR], kn_error_t *err)
{
    return s_register (db, name, sector, district, public_key, S_REPLACE, id_out, err);
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
    PGresult *result =
        kn_db_query (db,
                     "SELECT k.public_key, k.agency_id FROM core.agency_key k"
                     " JOIN core.agency a ON a.id = k.agency_id"
                     " WHERE a.active AND k.revoked_at IS NULL",
                     0, NULL, err);
    if (!result)
        return NULL;
    zhashx_t *keys = zhashx_new ();
    zhashx_set_destructor (keys, (zhashx_destructor_fn *)zstr_free);
    zhashx_set_duplicator (keys, (zhashx_duplicator_fn *)strdup);
    for (int row = 0; row < PQntuples (result); row++)
        zhashx_insert (keys, PQgetvalue (result, row, 0), PQgetvalue (result, row, 1));
    PQclear (result);
    return keys;
}

int
kn_agency_role_set (kn_db_t *db, const char *agency_id, const char *role, bool add,
                    bool *changed, kn_error_t *err)
{
    static const char *roles[] = {"referrer", "coordinator", "auditor",
                                  "data_protection_officer", "administrator"};
    bool known = false;
    for (size_t i = 0; i < sizeof roles / sizeof roles[0]; i++)
        known |= role && strcmp (role, roles[i]) == 0;
    if (!known)
        return kn_error_set (err, KN_E_INVALID_ARGUMENT, "role",
                             "role must be " KN_AGENCY_ROLES);
    if (!kn_uuid_valid (agency_id))
        return kn_error_set (err, KN_E_INVALID_ARGUMENT, "agency_id",
                             "agency id must be a UUID");
    const char *params[] = {agency_id, role};
    PGresult *result = kn_db_query (
        db,
        add ? "INSERT INTO core.agency_role (agency_id, role) SELECT id, $2 FROM core.agency"
              " WHERE id = $1 ON CONFLICT DO NOTHING RETURNING 1"
            : "DELETE FROM core.agency_role WHERE agency_id = $1 AND role = $2 RETURNING 1",
        2, params, err);
    if (!result)
        return -1;
    if (changed)
        *changed = PQntuples (result) > 0;
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

int
kn_agency_set_role (kn_db_t *db, const char *agency_id, const char *role, bool add,
                    kn_error_t *err)
{
    return kn_agency_role_set (db, agency_id, role, add, NULL, err);
}

int
kn_agency_prepare (kn_db_t *db, kn_error_t *err)
{
    return kn_db_prepare (db, "kn_agency_holds",
                          "SELECT 1 FROM core.agency_role WHERE agency_id = $1 AND role = $2",
                          err);
}

int
kn_agency_holds (kn_db_t *db, const char *agency_id, const char *role, kn_error_t *err)
{
    const char *values[] = {agency_id, role};
    PGresult *result = kn_db_run (db, "kn_agency_holds", 2, values, NULL, NULL, err);
    if (!result)
        return -1;
    int held = PQntuples (result) > 0;
    PQclear (result);
    return held;
}

int
kn_agency_require (kn_db_t *db, const char *agency_id, const char *role, kn_error_t *err)
{
    int held = kn_db_ensure (db, err) ? -1 : kn_agency_holds (db, agency_id, role, err);
    if (held < 0)
        return -1;
    return held ? 0
                : kn_error_set (err, KN_E_PERMISSION_DENIED, "op",
                                "this needs the %s role (kinnet admin agency role add)",
                                role);
}
