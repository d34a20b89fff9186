/*  admin_server: decode an AdminRequest, run its operation's row of the table
    below (validate, check the caller's role, handle), audit what the write did
    not, encode. */
#include "admin_ops.h"

#include <stdlib.h>
#include <string.h>

#include "kn_agency.h"
#include "kn_audit.h"
#include "kn_dispatch.h"
#include "kn_idempotency.h"
#include "kn_log.h"
#include "kn_pbjson.h"
#include "kn_service.h"
#include "kn_validate.h"
#include "kn_alloc.h"

#define LEDGER "admin.idempotency"

//  One operation of AdminRequest: what it is called (audited and in the ledger),
//  what it answers with, the role the caller's agency must hold, its field rules
//  (validate; NULL: none), what runs it, and whether it is a write (a kn_write,
//  which audits itself unless replayed).
typedef struct {
    int op_case; //  first, as kn_dispatch_find reads it
    const char *operation;
    Kinnet__V1__AdminReply__ResultCase result_case;
    const char *role;
    admin_validate_fn *validate;
    admin_handle_fn *handle;
    bool write;
} op_t;

#define OP(name)     KINNET__V1__ADMIN_REQUEST__OP_##name
#define RESULT(name) KINNET__V1__ADMIN_REPLY__RESULT_##name
#define ADMIN        "administrator"

//  The operations, in the order of admin.proto's AdminRequest. Columns: op,
//  audited as, result, role, validate, handle, write.
static const op_t s_ops[] = {
    {OP (REGISTER_AGENCY), "register_agency", RESULT (REGISTERED), ADMIN,
     admin_validate_register, admin_register_agency, true},
    {OP (REVOKE_AGENCY), "revoke_agency", RESULT (REVOKED), ADMIN, admin_validate_revoke,
     admin_revoke_agency, true},
    {OP (SET_ROLE), "set_role", RESULT (ROLE), ADMIN, admin_validate_set_role,
     admin_set_role, true},
    {OP (IMPORT_DIRECTORY), "import_directory", RESULT (IMPORT_REPORT), ADMIN,
     admin_validate_import, admin_import_directory, true},
    {OP (SHOW_DIRECTORY), "show_directory", RESULT (DIRECTORY), ADMIN,
     admin_validate_show, admin_show_directory, false},
    {OP (SET_DIRECTORY), "set_directory", RESULT (CHANGE), ADMIN,
     admin_validate_set_directory, admin_set_directory, true},
    {OP (SET_DISTRICT), "set_district", RESULT (CHANGE), ADMIN,
     admin_validate_set_district, admin_set_district, true},
    {OP (LIST_DISTRICTS), "list_districts", RESULT (DISTRICTS), ADMIN, NULL,
     admin_list_districts, false},
    {OP (SHOW_ROUTING), "show_routing", RESULT (ROUTING), ADMIN, NULL, admin_show_routing,
     false},
    {OP (SET_ROUTING), "set_routing", RESULT (ROUTING), ADMIN, admin_validate_set_routing,
     admin_set_routing, true},
    {OP (IMPORT_POPULATION), "import_population", RESULT (POPULATION_LOADED), ADMIN,
     admin_validate_population, admin_import_population, true},
    {OP (SHOW_POPULATION), "show_population", RESULT (POPULATION), ADMIN, NULL,
     admin_show_population, false},
    {OP (EXPORT_AUDIT), "export_audit", RESULT (AUDIT), "auditor",
     admin_validate_export_audit, admin_export_audit, false},
    {OP (ADD_AGENCY_KEY), "add_agency_key", RESULT (KEY_CHANGED), ADMIN,
     admin_validate_add_key, admin_add_agency_key, true},
    {OP (REVOKE_AGENCY_KEY), "revoke_agency_key", RESULT (KEY_CHANGED), ADMIN,
     admin_validate_revoke_key, admin_revoke_agency_key, true},
    {OP (LIST_AGENCY_KEYS), "list_agency_keys", RESULT (KEYS), ADMIN,
     admin_validate_list_keys, admin_list_agency_keys, false},
    {OP (EXPORT_DIRECTORY), "export_directory", RESULT (DIRECTORY_EXPORT), ADMIN,
     admin_validate_export, admin_export_directory, false},
};

#undef OP
#undef RESULT
#undef ADMIN

admin_server_t *
admin_server_new (kn_db_t *db, kn_crypto_t *crypto, kn_error_t *err)
{
    if (kn_audit_prepare (db, err) || kn_idempotency_prepare (db, LEDGER, err) ||
        admin_settings_prepare (db, err) || admin_audit_prepare (db, err) ||
        kn_agency_prepare (db, err))
        return NULL;
    admin_server_t *self = kn_calloc (1, sizeof *self);
    self->db = db;
    kn_write_init (&self->write, db, crypto, LEDGER, "admin");
    return self;
}

void
admin_server_destroy (admin_server_t **self_p)
{
    if (self_p && *self_p) {
        free (*self_p);
        *self_p = NULL;
    }
}

kn_claim_t
admin_write_begin (admin_server_t *self, kn_write_t *w, const char *agency,
                   const char *operation, const char *object_id,
                   const ProtobufCMessage *request, kn_error_t *err)
{
    *w = self->write;
    w->audit.role = "administrator";
    if (object_id)
        snprintf (w->object_id, sizeof w->object_id, "%s", object_id);
    else
        kn_uuid_generate_ordered (w->object_id);
    kn_claim_t claim = kn_write_begin (w, agency, operation, request, err);
    self->replayed = claim == KN_CLAIM_REPLAY;
    return claim;
}

//  Remove the null members of json's objects, all the way down.
static void
s_drop_nulls (json_t *json)
{
    if (json_is_object (json)) {
        const char *key;
        json_t *value;
        void *tmp;
        json_object_foreach_safe (json, tmp, key, value)
        {
            if (json_is_null (value))
                json_object_del (json, key);
            else
                s_drop_nulls (value);
        }
    } else if (json_is_array (json)) {
        size_t index;
        json_t *value;
        json_array_foreach (json, index, value) s_drop_nulls (value);
    }
}

ProtobufCMessage *
admin_from_json (json_t *json, const ProtobufCMessageDescriptor *descriptor,
                 kn_error_t *err)
{
    s_drop_nulls (json);
    kn_error_t why;
    ProtobufCMessage *message = kn_pbjson_decode (descriptor, json, &why);
    json_decref (json);
    if (!message)
        kn_error_set (err, KN_E_INTERNAL, NULL, "reply does not fit %s at '%s': %s",
                      descriptor->short_name, why.field, why.message);
    return message;
}

int
admin_validate_key (const char *key, kn_error_t *err)
{
    return kn_validate_text (key, "idempotency_key", 1, 128, false, err);
}

static int
s_run (admin_server_t *self, const char *agency, const op_t *op,
       const admin_request_t *request, admin_reply_t *reply, kn_error_t *err)
{
    if ((op->validate && op->validate (request, err)) ||
        kn_agency_require (self->db, agency, op->role, err) ||
        op->handle (self, agency, request, reply, err))
        return -1;
    reply->result_case = op->result_case;
    return 0;
}

//  The object a request names, for its audit row: an agency's id, when valid.
static const char *
s_object (const admin_request_t *request)
{
    const char *id = request->op_case == KINNET__V1__ADMIN_REQUEST__OP_REVOKE_AGENCY
                         ? request->revoke_agency->agency_id
                     : request->op_case == KINNET__V1__ADMIN_REQUEST__OP_SET_ROLE
                         ? request->set_role->agency_id
                     : request->op_case == KINNET__V1__ADMIN_REQUEST__OP_SET_DIRECTORY
                         ? request->set_directory->agency_id
                     : request->op_case == KINNET__V1__ADMIN_REQUEST__OP_ADD_AGENCY_KEY
                         ? request->add_agency_key->agency_id
                     : request->op_case == KINNET__V1__ADMIN_REQUEST__OP_REVOKE_AGENCY_KEY
                         ? request->revoke_agency_key->agency_id
                     : request->op_case == KINNET__V1__ADMIN_REQUEST__OP_LIST_AGENCY_KEYS
                         ? request->list_agency_keys->agency_id
                         : NULL;
    return id && kn_uuid_valid (id) ? id : NULL;
}

zmsg_t *
admin_server_handle (admin_server_t *self, zmsg_t *request)
{
    kn_error_t err;
    kn_error_clear (&err);
    char agency[KN_UUID_STR];
    if (kn_service_caller (request, agency, &err))
        return kn_service_error_reply (&err);
    admin_request_t *decoded = (admin_request_t *)kn_service_decode (
        request, &kinnet__v1__admin_request__descriptor, &err);
    admin_reply_t *reply = kn_malloc (sizeof *reply);
    kinnet__v1__admin_reply__init (reply);
    const op_t *op = decoded
                         ? KN_DISPATCH_FIND (s_ops, decoded->op_case,
                                             "AdminRequest must set one operation", &err)
                         : NULL;
    self->replayed = false;
    int rc = op ? s_run (self, agency, op, decoded, reply, &err) : -1;
    //  Every request is on record with the role it needed, refusals included; a
    //  write that committed wrote its own row in its transaction.
    if (rc != 0 || !op->write || self->replayed) {
        kn_audit_entry_t entry = {.agency_id = agency,
                                  .service = "admin",
                                  .operation = op ? op->operation : "unknown",
                                  .object_id = decoded ? s_object (decoded) : NULL,
                                  .result = rc == 0 ? "ok" : kn_code_name (err.code),
                                  .role = op ? op->role : NULL};
        if (kn_audit_request (self->db, &entry, rc == 0 && !op->write, &err))
            rc = -1;
    }
    zmsg_t *msg =
        rc == 0 ? kn_service_reply (&reply->base) : kn_service_error_reply (&err);
    kn_log (KN_INFO, rc == 0 ? "admin.handled" : "request.refused", "operation",
            op ? op->operation : "unknown", "agency_id", agency, "code",
            kn_code_name (err.code), "field", err.field, NULL);
    kinnet__v1__admin_reply__free_unpacked (reply, NULL);
    if (decoded)
        kinnet__v1__admin_request__free_unpacked (decoded, NULL);
    return msg;
}
