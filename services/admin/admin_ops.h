/*  admin_ops: what the admin service's files share. admin_server decodes a
    request, checks the caller's role and audits; the operations live one job per
    file (admin_agency, admin_agency_key, admin_directory, admin_settings,
    admin_audit), each a
    handler of the same shape that fills one member of the reply. A write runs as
    one kn_write from self->write (ledger admin.idempotency), which audits it; a
    replayed write sets self->replayed so the server audits the replay. */
#ifndef ADMIN_OPS_H_INCLUDED
#define ADMIN_OPS_H_INCLUDED

#include <jansson.h>
#include <stdbool.h>

#include "admin_server.h"
#include "kinnet/v1/admin.pb-c.h"
#include "kn_write.h"

struct _admin_server_t {
    kn_db_t *db;
    kn_write_t write; //  every write's shared part: ledger, service, role
    bool replayed;    //  the last write answered from its ledger entry
};

typedef Kinnet__V1__AdminRequest admin_request_t;
typedef Kinnet__V1__AdminReply admin_reply_t;

//  A handler: reads its member of request, fills its member of reply (malloc'd,
//  freed with the reply), or returns -1 with err.
typedef int (admin_handle_fn) (admin_server_t *self, const char *agency,
                               const admin_request_t *request, admin_reply_t *reply,
                               kn_error_t *err);
//  A validator: the field rules of the request's member, before the role check.
typedef int (admin_validate_fn) (const admin_request_t *request, kn_error_t *err);

//  A write's kn_write, begun: KN_CLAIM_NEW with the transaction open, or a replay
//  (self->replayed set) or failure, both rolled back. object_id: what it makes or
//  changes (NULL: a new id).
kn_claim_t admin_write_begin (admin_server_t *self, kn_write_t *w, const char *agency,
                              const char *operation, const char *object_id,
                              const ProtobufCMessage *request, kn_error_t *err);

//  json (taken) as a message of descriptor, its null members dropped first; NULL
//  with KN_E_INTERNAL when it does not fit (a bug here, not the caller's).
ProtobufCMessage *admin_from_json (json_t *json,
                                   const ProtobufCMessageDescriptor *descriptor,
                                   kn_error_t *err);

//  Field rules shared by the operations.
int admin_validate_key (const char *key, kn_error_t *err);

//  admin_agency
admin_validate_fn admin_validate_register, admin_validate_revoke, admin_validate_set_role;
admin_handle_fn admin_register_agency, admin_revoke_agency, admin_set_role;
//  admin_agency_key
admin_validate_fn admin_validate_add_key, admin_validate_revoke_key, admin_validate_list_keys;
admin_handle_fn admin_add_agency_key, admin_revoke_agency_key, admin_list_agency_keys;
//  CONFLICT (public_key) when public_key is one of the service certificates in
//  KINNET_SERVICE_CERTS (when set): a service's key is never an agency's.
int admin_check_not_service_key (const char *public_key, kn_error_t *err);
//  admin_directory
admin_validate_fn admin_validate_import, admin_validate_show,
    admin_validate_set_directory, admin_validate_set_district, admin_validate_export;
admin_handle_fn admin_import_directory, admin_show_directory, admin_set_directory,
    admin_set_district, admin_list_districts, admin_export_directory;
//  admin_settings
admin_validate_fn admin_validate_set_routing, admin_validate_population;
admin_handle_fn admin_show_routing, admin_set_routing, admin_import_population,
    admin_show_population;
//  admin_audit
admin_validate_fn admin_validate_export_audit;
admin_handle_fn admin_export_audit;

//  Statements, prepared once per session by admin_server_new.
int admin_settings_prepare (kn_db_t *db, kn_error_t *err);
int admin_audit_prepare (kn_db_t *db, kn_error_t *err);

#endif
