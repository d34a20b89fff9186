/*  kn_idempotency: claim-or-find on <schema>.idempotency. */
#include "kn_idempotency.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void
s_name (char *out, size_t size, const char *table, const char *what)
{
    snprintf (out, size, "kn_idem:%s:%s", table, what);
}

int
kn_idempotency_prepare (kn_db_t *db, const char *table, kn_error_t *err)
{
    char name[128], sql[512];
    s_name (name, sizeof name, table, "claim");
    snprintf (sql, sizeof sql,
              "INSERT INTO %s (agency_id, key, operation, request_hash, object_id)"
              " VALUES ($1, $2, $3, $4, $5) ON CONFLICT DO NOTHING RETURNING 1",
              table);
    if (kn_db_prepare (db, name, sql, err))
        return -1;
    s_name (name, sizeof name, table, "get");
    snprintf (sql, sizeof sql,
              "SELECT operation, request_hash, object_id FROM %s"
              " WHERE agency_id = $1 AND key = $2",
              table);
    return kn_db_prepare (db, name, sql, err);
}

void
kn_idempotency_digest (kn_crypto_t *crypto, const ProtobufCMessage *message,
                       uint8_t digest[32])
{
    size_t len = protobuf_c_message_get_packed_size (message);
    uint8_t *buf = malloc (len ? len : 1);
    protobuf_c_message_pack (message, buf);
    kn_crypto_digest (crypto, buf, len, digest);
    free (buf);
}

kn_claim_t
kn_idempotency_claim (kn_db_t *db, const char *table, const char *agency_id, const char *key,
                      const char *operation, const uint8_t digest[32],
                      char object_id[KN_UUID_STR], kn_error_t *err)
{
    char name[128];
    s_name (name, sizeof name, table, "claim");
    const char *values[] = {agency_id, key, operation, (const char *) digest, object_id};
    int lengths[] = {0, 0, 0, 32, 0};
    int formats[] = {0, 0, 0, 1, 0};
    PGresult *result = kn_db_run (db, name, 5, values, lengths, formats, err);
    if (!result)
        return KN_CLAIM_FAILED;
    int rows = PQntuples (result);
    PQclear (result);
    if (rows == 1)
        return KN_CLAIM_NEW;
    s_name (name, sizeof name, table, "get");
    result = kn_db_run (db, name, 2, values, NULL, NULL, err);
    if (!result)
        return KN_CLAIM_FAILED;
    kn_claim_t claim = KN_CLAIM_FAILED;
    if (PQntuples (result) == 1) {
        size_t hash_len = 0;
        unsigned char *hash
            = PQunescapeBytea ((const unsigned char *) PQgetvalue (result, 0, 1), &hash_len);
        if (strcmp (PQgetvalue (result, 0, 0), operation) != 0 || hash_len != 32
            || memcmp (hash, digest, 32) != 0)
            kn_error_set (err, KN_E_CONFLICT, "idempotency_key",
                          "idempotency key already used for a different request");
        else {
            snprintf (object_id, KN_UUID_STR, "%s", PQgetvalue (result, 0, 2));
            claim = KN_CLAIM_REPLAY;
        }
        PQfreemem (hash);
    }
    else
        kn_error_set (err, KN_E_INTERNAL, NULL, "idempotency ledger inconsistent");
    PQclear (result);
    return claim;
}

kn_claim_t
kn_idempotency_begin (kn_db_t *db, kn_crypto_t *crypto, const char *table,
                      const char *agency_id, const char *key, const char *operation,
                      const ProtobufCMessage *content, char object_id[KN_UUID_STR],
                      kn_error_t *err)
{
    if (kn_db_ensure (db, err))
        return KN_CLAIM_FAILED;
    uint8_t digest[32];
    kn_idempotency_digest (crypto, content, digest);
    if (kn_db_exec (db, "BEGIN", err))
        return KN_CLAIM_FAILED;
    kn_claim_t claim
        = kn_idempotency_claim (db, table, agency_id, key, operation, digest, object_id, err);
    if (claim != KN_CLAIM_NEW) {
        kn_error_t ignored;
        kn_db_exec (db, "ROLLBACK", &ignored);
    }
    return claim;
}
