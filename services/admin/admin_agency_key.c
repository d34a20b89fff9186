/*  admin_agency_key: an agency's keys one at a time (add, revoke one, list), so an
    agency rotates its certificate and stays the same agency. The rows are written
    by kn_agency_key inside the request's kn_write; the broker reloads its key table
    on the NOTIFY their commit sends. */
#include "admin_ops.h"

#include <dirent.h>
#include <string.h>

#include <czmq.h>

#include "kn_agency.h"
#include "kn_alloc.h"
#include "kn_config.h"
#include "kn_pb.h"
#include "kn_validate.h"

static int
s_validate_z85 (const char *public_key, kn_error_t *err)
{
    uint8_t raw[32];
    return public_key && strlen (public_key) == 40 && zmq_z85_decode (raw, public_key)
               ? 0
               : kn_error_set (err, KN_E_INVALID_ARGUMENT, "public_key",
                               "public key must be 40 Z85 characters");
}

int
admin_check_not_service_key (const char *public_key, kn_error_t *err)
{
    //  The service certificates the broker admits workers with (public halves): a
    //  key that is also an agency's would let whoever holds that service's secret
    //  act as the agency. The broker drops such a key from its agency table too;
    //  here it is refused before it is written.
    const char *dir = kn_config_str ("KINNET_SERVICE_CERTS", NULL);
    DIR *handle = dir ? opendir (dir) : NULL;
    bool shared = false;
    struct dirent *entry;
    while (handle && !shared && (entry = readdir (handle)) != NULL) {
        if (entry->d_name[0] == '.')
            continue;
        char path[4096];
        snprintf (path, sizeof path, "%s/%s", dir, entry->d_name);
        zcert_t *cert = zcert_load (path);
        shared = cert && streq (zcert_public_txt (cert), public_key);
        zcert_destroy (&cert);
    }
    if (handle)
        closedir (handle);
    return shared ? kn_error_set (err, KN_E_CONFLICT, "public_key",
                                  "this public key is a service's, not an agency's")
                  : 0;
}

//  The reply to a key change; live counted after it, whether new or replayed.
static int
s_key_changed (admin_server_t *self, const char *agency_id, const char *public_key,
               bool changed, admin_reply_t *reply, kn_error_t *err)
{
    bool active;
    kn_agency_key_t *keys = NULL;
    size_t count = 0;
    if (kn_db_ensure (self->db, err) ||
        kn_agency_keys (self->db, agency_id, &active, &keys, &count, err))
        return -1;
    int live = 0;
    for (size_t k = 0; k < count; k++)
        live += keys[k].revoked_at == 0;
    free (keys);
    reply->key_changed = kn_malloc (sizeof *reply->key_changed);
    kinnet__v1__agency_key_changed__init (reply->key_changed);
    reply->key_changed->agency_id = kn_pb_string (agency_id);
    reply->key_changed->public_key = kn_pb_string (public_key);
    reply->key_changed->changed = changed;
    reply->key_changed->live_keys = live;
    return 0;
}

int
admin_validate_add_key (const admin_request_t *request, kn_error_t *err)
{
    const Kinnet__V1__AddAgencyKey *op = request->add_agency_key;
    return admin_validate_key (op->idempotency_key, err)
               ?: kn_validate_uuid (op->agency_id, "agency_id", err)
               ?: s_validate_z85 (op->public_key, err);
}

int
admin_add_agency_key (admin_server_t *self, const char *agency,
                      const admin_request_t *request, admin_reply_t *reply,
                      kn_error_t *err)
{
    const Kinnet__V1__AddAgencyKey *op = request->add_agency_key;
    if (admin_check_not_service_key (op->public_key, err))
        return -1;
    kn_write_t w;
    kn_claim_t claim = admin_write_begin (self, &w, agency, "add_agency_key",
                                          op->agency_id, &op->base, err);
    if (claim == KN_CLAIM_FAILED)
        return -1;
    int live = 0;
    if (claim == KN_CLAIM_NEW &&
        (kn_agency_key_add (self->db, op->agency_id, op->public_key, &live, err) ||
         kn_write_commit (&w, err)))
        return kn_write_abort (&w);
    return s_key_changed (self, op->agency_id, op->public_key, true, reply, err);
}

int
admin_validate_revoke_key (const admin_request_t *request, kn_error_t *err)
{
    const Kinnet__V1__RevokeAgencyKey *op = request->revoke_agency_key;
    return admin_validate_key (op->idempotency_key, err)
               ?: kn_validate_uuid (op->agency_id, "agency_id", err)
               ?: s_validate_z85 (op->public_key, err);
}

int
admin_revoke_agency_key (admin_server_t *self, const char *agency,
                         const admin_request_t *request, admin_reply_t *reply,
                         kn_error_t *err)
{
    const Kinnet__V1__RevokeAgencyKey *op = request->revoke_agency_key;
    kn_write_t w;
    kn_claim_t claim = admin_write_begin (self, &w, agency, "revoke_agency_key",
                                          op->agency_id, &op->base, err);
    if (claim == KN_CLAIM_FAILED)
        return -1;
    bool changed = false;
    int live = 0;
    if (claim == KN_CLAIM_NEW &&
        (kn_agency_key_revoke (self->db, op->agency_id, op->public_key, &changed, &live,
                               err) ||
         kn_write_commit (&w, err)))
        return kn_write_abort (&w);
    return s_key_changed (self, op->agency_id, op->public_key, changed, reply, err);
}

int
admin_validate_list_keys (const admin_request_t *request, kn_error_t *err)
{
    return kn_validate_uuid (request->list_agency_keys->agency_id, "agency_id", err);
}

int
admin_list_agency_keys (admin_server_t *self, const char *agency,
                        const admin_request_t *request, admin_reply_t *reply,
                        kn_error_t *err)
{
    (void)agency;
    const char *agency_id = request->list_agency_keys->agency_id;
    bool active;
    kn_agency_key_t *keys = NULL;
    size_t count = 0;
    if (kn_agency_keys (self->db, agency_id, &active, &keys, &count, err))
        return -1;
    Kinnet__V1__AgencyKeyList *list = kn_malloc (sizeof *list);
    kinnet__v1__agency_key_list__init (list);
    list->agency_id = kn_pb_string (agency_id);
    list->active = active;
    list->n_keys = count;
    list->keys = kn_calloc (count ? count : 1, sizeof *list->keys);
    for (size_t k = 0; k < count; k++) {
        Kinnet__V1__AgencyKey *one = kn_malloc (sizeof *one);
        kinnet__v1__agency_key__init (one);
        one->public_key = kn_pb_string (keys[k].public_key);
        one->created_at = kn_pb_timestamp (keys[k].created_at);
        one->revoked_at = kn_pb_timestamp (keys[k].revoked_at);
        list->keys[k] = one;
    }
    free (keys);
    reply->keys = list;
    return 0;
}
