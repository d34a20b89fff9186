/*  kn_agency: the registry of agencies and their CURVE public keys in core.agency
    and core.agency_key, and the roles they hold. The admin service writes it for
    administrators, `kinnet admin init` makes the first administrator, and the
    broker reads the active keys to decide who may connect.
    The writes that take a kn_db_t run in the caller's transaction when one is open
    (the admin service's kn_write) and on their own otherwise; kn_agency_add and
    kn_agency_init_administrator open their own. */
#ifndef KN_AGENCY_H_INCLUDED
#define KN_AGENCY_H_INCLUDED

#include <czmq.h>
#include <stdbool.h>

#include "kn_db.h"
#include "kn_error.h"
#include "kn_uuid.h"

//  The roles an agency may hold, as core.agency_role spells them.
#define KN_AGENCY_ROLES                                                                  \
    "referrer, coordinator, auditor, data_protection_officer or administrator"

//  Check a new agency: name 1-200 bytes, district 1-64 bytes, sector an AgencySector
//  name in any case other than the unspecified one ("school", "SOCIAL_SERVICES"),
//  public_key 40 Z85 characters. Writes the sector as core.agency spells it (lower
//  case) to sector_out. 0, or -1 with KN_E_INVALID_ARGUMENT naming the field.
int kn_agency_check (const char *name, const char *sector, const char *district,
                     const char *public_key, char sector_out[40], kn_error_t *err);

//  Insert agency id (checked as kn_agency_check does) with its one public key, in
//  the caller's transaction. A district that is not registered (core.district) is
//  KN_E_INVALID_ARGUMENT on field "district", naming `district set`; a key already
//  registered is KN_E_CONFLICT on field "public_key".
int kn_agency_insert (kn_db_t *db, const char *id, const char *name, const char *sector,
                      const char *district, const char *public_key, kn_error_t *err);

//  Register an agency with one public key (Z85) in a transaction of its own, as
//  kn_agency_insert does (its district must be registered). sector is an
//  AgencySector name in any case. Writes the new id to id_out.
int kn_agency_add (kn_db_t *db, const char *name, const char *sector,
                   const char *district, const char *public_key, char id_out[KN_UUID_STR],
                   kn_error_t *err);

//  The first administrator, in one transaction: KN_E_CONFLICT on field
//  "administrator" when an active agency already holds the `administrator` role;
//  otherwise register the agency with its key (as kn_agency_add) and grant it the
//  role. Its district is registered with it when it is not yet (with no name): no
//  administrator exists yet to register one. Writes the new id to id_out.
int kn_agency_init_administrator (kn_db_t *db, const char *name, const char *sector,
                                  const char *district, const char *public_key,
                                  char id_out[KN_UUID_STR], kn_error_t *err);

//  The recovery when no administrator's certificate is left: in one transaction,
//  deactivate every active administrator agency and revoke its keys (each on the
//  audit trail as `administrator_replaced`, by the database user), then register a
//  new administrator as kn_agency_init_administrator does (its district too).
int kn_agency_replace_administrators (kn_db_t *db, const char *name, const char *sector,
                                      const char *district, const char *public_key,
                                      char id_out[KN_UUID_STR], kn_error_t *err);

//  Deactivate an agency and revoke all its keys; takes effect at the broker at once.
//  Revoking an inactive agency changes nothing. KN_E_NOT_FOUND when there is none.
int kn_agency_revoke (kn_db_t *db, const char *agency_id, kn_error_t *err);

//  One more key for an existing, active agency, in the caller's transaction (which
//  then holds the agency's row until it ends, so a concurrent revocation waits).
//  KN_E_NOT_FOUND (agency_id) when there is no such agency, KN_E_CONFLICT
//  (agency_id) when it is deactivated, KN_E_CONFLICT (public_key) when the key is
//  registered already. *live: the agency's live keys after the change.
int kn_agency_key_add (kn_db_t *db, const char *agency_id, const char *public_key,
                       int *live, kn_error_t *err);

//  Revoke one key of agency_id, in the caller's transaction, under the agency's
//  row lock. KN_E_NOT_FOUND (agency_id) for no such agency, (public_key) for a key
//  that is not that agency's; KN_E_CONFLICT (public_key) for its last live key
//  (deactivate the agency instead: kn_agency_revoke). *changed false when the key
//  was revoked already; *live: the agency's live keys after.
int kn_agency_key_revoke (kn_db_t *db, const char *agency_id, const char *public_key,
                          bool *changed, int *live, kn_error_t *err);

//  One of an agency's keys, as kn_agency_keys lists them.
typedef struct {
    char public_key[41];
    int64_t created_at; // seconds since 1970
    int64_t revoked_at; // 0: live
} kn_agency_key_t;

//  An agency's keys, oldest first (*keys malloc'd, caller frees), and whether the
//  agency is active. KN_E_NOT_FOUND (agency_id) when there is no such agency.
int kn_agency_keys (kn_db_t *db, const char *agency_id, bool *active,
                    kn_agency_key_t **keys, size_t *count, kn_error_t *err);

//  Grant (add) or take away a role (KN_AGENCY_ROLES). Idempotent; *changed (when
//  not NULL) says whether the agency's roles changed. KN_E_NOT_FOUND when there is
//  no such agency.
int kn_agency_role_set (kn_db_t *db, const char *agency_id, const char *role, bool add,
                        bool *changed, kn_error_t *err);

//  kn_agency_role_set without telling what changed.
int kn_agency_set_role (kn_db_t *db, const char *agency_id, const char *role, bool add,
                        kn_error_t *err);

//  The one role check every service makes. kn_agency_prepare makes its statement
//  on a service's session (once, with the service's others); kn_agency_holds then
//  says whether agency_id holds role now: 1, 0, or -1 with err.
int kn_agency_prepare (kn_db_t *db, kn_error_t *err);
int kn_agency_holds (kn_db_t *db, const char *agency_id, const char *role, kn_error_t *err);

//  0 when agency_id holds role; otherwise -1 with KN_E_PERMISSION_DENIED on field
//  "op", naming the role (or err from the lookup).
int kn_agency_require (kn_db_t *db, const char *agency_id, const char *role,
                       kn_error_t *err);

//  Active keys: Z85 public key -> agency id (strings the hash owns). Caller destroys.
zhashx_t *kn_agency_active_keys (kn_db_t *db, kn_error_t *err);

#endif
