/*  kn_agency: the registry of agencies and their CURVE public keys in core.agency
    and core.agency_key. Administrators write it through `kinnet admin agency ...`;
    the broker reads the active keys to decide who may connect. */
#ifndef KN_AGENCY_H_INCLUDED
#define KN_AGENCY_H_INCLUDED

#include <czmq.h>

#include "kn_db.h"
#include "kn_error.h"
#include "kn_uuid.h"

//  Register an agency with one public key (Z85). sector is an AgencySector name in
//  any case ("school", "SOCIAL_SERVICES"). Writes the new id to id_out.
int kn_agency_add (kn_db_t *db, const char *name, const char *sector, const char *district,
                   const char *public_key, char id_out[KN_UUID_STR], kn_error_t *err);

//  Deactivate an agency and revoke all its keys; takes effect at the broker at once.
int kn_agency_revoke (kn_db_t *db, const char *agency_id, kn_error_t *err);

//  Grant (add) or take away a role: referrer, coordinator, auditor,
//  data_protection_officer, administrator. Idempotent.
int kn_agency_set_role (kn_db_t *db, const char *agency_id, const char *role, bool add,
                        kn_error_t *err);

//  Active keys: Z85 public key -> agency id (strings the hash owns). Caller destroys.
zhashx_t *kn_agency_active_keys (kn_db_t *db, kn_error_t *err);

#endif
