/*  admin_agency: registering an agency with its first key, revoking one, and its
    roles. The rows are written by kn_agency, the same statements the bootstrap
    (`kinnet admin init`) uses, inside the request's kn_write. */
#include "admin_ops.h"

#include <ctype.h>
#include <string.h>

#include "kn_agency.h"
#include "kn_directory_services.h"
#include "kn_pb.h"
#include "kn_validate.h"
#include "kn_alloc.h"

//  The wire's rules (UTF-8, enum values), then kn_agency's own (the key), which the
//  insert applies again: the sector is already known good here, so any will do.
int
admin_validate_register (const admin_request_t *request, kn_error_t *err)
{
    const Kinnet__V1__RegisterAgency *op = request->register_agency;
    char sector[40];
    return admin_validate_key (op->idempotency_key, err)
               ?: kn_validate_text (op->name, "name", 1, 200, false, err)
               ?: kn_validate_enum (&kinnet__v1__agency_sector__descriptor, op->sector,
                                    "sector", err)
               ?: kn_validate_text (op->district, "district", 1, 64, false, err)
               ?: kn_agency_check (op->name, "school", op->district, op->public_key,
                                   sector, err);
}

int
admin_register_agency (admin_server_t *self, const char *agency,
                       const admin_request_t *request, admin_reply_t *reply,
                       kn_error_t *err)
{
    const Kinnet__V1__RegisterAgency *op = request->register_agency;
    const ProtobufCEnumValue *sector = protobuf_c_enum_descriptor_get_value (
        &kinnet__v1__agency_sector__descriptor, op->sector);
    if (admin_check_not_service_key (op->public_key, err))
        return -1;
    kn_write_t w;
    kn_claim_t claim =
        admin_write_begin (self, &w, agency, "register_agency", NULL, &op->base, err);
    if (claim == KN_CLAIM_FAILED)
        return -1;
    if (claim == KN_CLAIM_NEW &&
        (kn_agency_insert (self->db, w.object_id, op->name, sector->name, op->district,
                           op->public_key, err) ||
         kn_write_commit (&w, err)))
        goto fail;
    reply->registered = kn_malloc (sizeof *reply->registered);
    kinnet__v1__agency_registered__init (reply->registered);
    reply->registered->agency_id = kn_pb_string (w.object_id);
    return 0;
fail:
    return kn_write_abort (&w);
}

int
admin_validate_revoke (const admin_request_t *request, kn_error_t *err)
{
    const Kinnet__V1__RevokeAgency *op = request->revoke_agency;
    return admin_validate_key (op->idempotency_key, err)
               ?: kn_validate_uuid (op->agency_id, "agency_id", err);
}

//  Four eyes: the roles that open personal data or the trail, and an agency's own
//  revocation, need a second administrator, so no single one can widen or erase
//  its own reach unseen.
static int
s_four_eyes (const char *agency, const char *target, kn_error_t *err)
{
    return strcasecmp (target, agency) == 0
               ? kn_error_set (err, KN_E_PERMISSION_DENIED, "agency_id",
                               "another administrator must do this for your own agency")
               : 0;
}

//  What became of the directory organization the revoked agency stood for, for
//  the reply and the audit row's basis.
static void
s_directory_note (Kinnet__V1__AgencyRevoked *revoked, const char *agency_id,
                  const char *directory_id, bool released, char *basis, size_t size)
{
    char note[600];
    if (!*directory_id)
        return;
    if (released)
        snprintf (note, sizeof note,
                  "directory organization '%.200s' released: the agency never worked; "
                  "the next import binds it to the agency its mapping links "
                  "(organizations.ID.agency_id), or adds it anew",
                  directory_id);
    else
        snprintf (note, sizeof note,
                  "directory organization '%.200s' stays with agency %s: it held a "
                  "key, has open offers or cases, leads a district, or was revoked "
                  "already, and its history stays with it; to bind the organization "
                  "to another "
                  "agency, transfer its open cases and district lead, then link it "
                  "in the mapping (organizations.ID.agency_id) and import",
                  directory_id, agency_id);
    revoked->directory_id = kn_pb_string (directory_id);
    revoked->directory_released = released;
    revoked->directory_note = kn_pb_string (note);
    snprintf (basis, size, "directory %s %.200s", released ? "released" : "kept",
              directory_id);
}

//  The directory organization agency_id stands for now, for a replay's answer.
static int
s_directory_id (kn_db_t *db, const char *agency_id, char out[KN_DIRECTORY_ID_MAX],
                kn_error_t *err)
{
    const char *params[] = {agency_id};
    PGresult *result =
        kn_db_ensure (db, err)
            ? NULL
            : kn_db_query (db, "SELECT directory_id FROM core.agency WHERE id = $1", 1,
                           params, err);
    if (!result)
        return -1;
    snprintf (out, KN_DIRECTORY_ID_MAX, "%s",
              PQntuples (result) ? PQgetvalue (result, 0, 0) : "");
    PQclear (result);
    return 0;
}

int
admin_revoke_agency (admin_server_t *self, const char *agency,
                     const admin_request_t *request, admin_reply_t *reply,
                     kn_error_t *err)
{
    const Kinnet__V1__RevokeAgency *op = request->revoke_agency;
    if (s_four_eyes (agency, op->agency_id, err))
        return -1;
    kn_write_t w;
    kn_claim_t claim = admin_write_begin (self, &w, agency, "revoke_agency",
                                          op->agency_id, &op->base, err);
    if (claim == KN_CLAIM_FAILED)
        return -1;
    //  Before the revocation, while a key it held still counts as work: a
    //  placeholder lets its organization go, a working agency keeps it.
    char directory_id[KN_DIRECTORY_ID_MAX] = "", basis[260] = "";
    int released =
        claim == KN_CLAIM_NEW
            ? kn_directory_services_release (self->db, op->agency_id, directory_id, err)
            : s_directory_id (self->db, op->agency_id, directory_id, err);
    if (released < 0)
        goto fail;
    reply->revoked = kn_malloc (sizeof *reply->revoked);
    kinnet__v1__agency_revoked__init (reply->revoked);
    reply->revoked->agency_id = kn_pb_string (w.object_id);
    s_directory_note (reply->revoked, w.object_id, directory_id, released == 1, basis,
                      sizeof basis);
    w.audit.basis = *basis ? basis : NULL; //  the trail says what became of it
    if (claim == KN_CLAIM_NEW &&
        (kn_agency_revoke (self->db, op->agency_id, err) || kn_write_commit (&w, err)))
        goto fail;
    return 0;
fail:
    return kn_write_abort (&w);
}

int
admin_validate_set_role (const admin_request_t *request, kn_error_t *err)
{
    const Kinnet__V1__SetRole *op = request->set_role;
    static const char *roles[] = {"referrer", "coordinator", "auditor",
                                  "data_protection_officer", "administrator"};
    bool known = false;
    for (size_t i = 0; i < sizeof roles / sizeof roles[0]; i++)
        known |= strcmp (op->role, roles[i]) == 0;
    return admin_validate_key (op->idempotency_key, err)
               ?: kn_validate_uuid (op->agency_id, "agency_id", err)
               ?: known ? 0
                        : kn_error_set (err, KN_E_INVALID_ARGUMENT, "role",
                                        "role must be " KN_AGENCY_ROLES);
}

int
admin_set_role (admin_server_t *self, const char *agency, const admin_request_t *request,
                admin_reply_t *reply, kn_error_t *err)
{
    const Kinnet__V1__SetRole *op = request->set_role;
    //  A partnership must not lock itself out by mistake. (admin.proto says
    //  FAILED_PRECONDITION; ErrorCode has no such code yet, so CONFLICT.)
    if (!op->grant && strcmp (op->role, "administrator") == 0 &&
        strcasecmp (op->agency_id, agency) == 0)
        return kn_error_set (err, KN_E_CONFLICT, "role",
                             "an administrator cannot take the administrator role from "
                             "its own agency");
    if (op->grant &&
        (strcmp (op->role, "data_protection_officer") == 0 ||
         strcmp (op->role, "auditor") == 0 || strcmp (op->role, "administrator") == 0) &&
        s_four_eyes (agency, op->agency_id, err))
        return -1;
    kn_write_t w;
    kn_claim_t claim =
        admin_write_begin (self, &w, agency, "set_role", op->agency_id, &op->base, err);
    if (claim == KN_CLAIM_FAILED)
        return -1;
    bool changed = false, held;
    //  The role-audit trigger names the administrator's agency from this setting.
    const char *setting[] = {agency};
    PGresult *result =
        claim == KN_CLAIM_NEW
            ? kn_db_query (self->db,
                           "SELECT set_config ('kinnet.admin_agency', $1, true)", 1,
                           setting, err)
            : NULL;
    PQclear (result);
    if (claim == KN_CLAIM_NEW && (!result ||
                                  kn_agency_role_set (self->db, op->agency_id, op->role,
                                                      op->grant, &changed, err) ||
                                  kn_write_commit (&w, err)))
        goto fail;
    int holds = kn_db_ensure (self->db, err)
                    ? -1
                    : kn_agency_holds (self->db, op->agency_id, op->role, err);
    if (holds < 0)
        return -1;
    held = holds;
    reply->role = kn_malloc (sizeof *reply->role);
    kinnet__v1__role_set__init (reply->role);
    reply->role->agency_id = kn_pb_string (op->agency_id);
    reply->role->role = kn_pb_string (op->role);
    reply->role->held = held;
    reply->role->changed = changed;
    return 0;
fail:
    return kn_write_abort (&w);
}
