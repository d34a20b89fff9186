/*  admin_server: the "admin" MDP service: the partnership's administration
    (agencies, keys, roles, the directory, routing rules, population figures, the
    audit export) behind the broker. Every operation needs a role the caller's
    agency holds (`administrator`; `auditor` for the audit export), and every
    request is audited (service "admin"), refusals included. */
#ifndef ADMIN_SERVER_H_INCLUDED
#define ADMIN_SERVER_H_INCLUDED

#include <czmq.h>

#include "kn_crypto.h"
#include "kn_db.h"

typedef struct _admin_server_t admin_server_t;

//  db (the session, in role kinnet_admin) and crypto (keys the idempotency digests)
//  stay the caller's.
admin_server_t *admin_server_new (kn_db_t *db, kn_crypto_t *crypto, kn_error_t *err);
void admin_server_destroy (admin_server_t **self_p);

//  [Caller][AdminRequest] in, AdminReply body out (caller owns it).
zmsg_t *admin_server_handle (admin_server_t *self, zmsg_t *request);

#endif
