/*  kn_idempotency: claim-or-find on <schema>.idempotency. */
#include "kn_idempotency.h"

#include <assert.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "kn_alloc.h"
#include "kn_pgarray.h"

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
              "INSERT INTO %s (agency_id, key, operation, request_hash, object_id,"
              " request_hash_version)"
              " SELECT a, k, op, h, ob, v FROM unnest ($1::uuid[], $2::text[],"
              " $3::text[], $4::bytea[], $5::uuid[], $6::smallint[])"
              " WITH ORDINALITY AS t (a, k, op, h, ob, v, o)"
              " ORDER BY o ON CONFLICT DO NOTHING RETURNING agency_id, key",
              table);
    if (kn_db_prepare (db, name, sql, err))
        return -1;
    s_name (name, sizeof name, table, "get");
    snprintf (sql, sizeof sql,
              "SELECT l.agency_id, l.key, l.operation, l.request_hash, l.object_id,"
              " l.request_hash_version FROM unnest ($1::uuid[], $2::text[]) AS t (a, k)"
              " JOIN %s l ON l.agency_id = t.a AND l.key = t.k",
              table);
    return kn_db_prepare (db, name, sql, err);
}

//  A linear scan, as kn_pbjson's: get_field_by_name needs an index CODE_SIZE omits.
static const ProtobufCFieldDescriptor *
s_string_field (const ProtobufCMessageDescriptor *descriptor, const char *name)
{
    for (unsigned i = 0; i < descriptor->n_fields; i++)
        if (strcmp (descriptor->fields[i].name, name) == 0)
            return descriptor->fields[i].type == PROTOBUF_C_TYPE_STRING &&
                           descriptor->fields[i].label != PROTOBUF_C_LABEL_REPEATED
                       ? &descriptor->fields[i]
                       : NULL;
    return NULL;
}

const char *
kn_idempotency_field (const ProtobufCMessage *message, const char *name)
{
    const ProtobufCFieldDescriptor *field = s_string_field (message->descriptor, name);
    return field ? *(char *const *)((const char *)message + field->offset) : NULL;
}

void
kn_idempotency_digest (kn_crypto_t *crypto, const ProtobufCMessage *message,
                       kn_digests_t *digests)
{
    //  A shallow copy with the caseworker blanked: the request itself is not touched.
    const ProtobufCMessageDescriptor *descriptor = message->descriptor;
    ProtobufCMessage *content = kn_malloc (descriptor->sizeof_message);
    memcpy (content, message, descriptor->sizeof_message);
    const ProtobufCFieldDescriptor *caseworker =
        s_string_field (descriptor, "caseworker_id");
    if (caseworker)
        *(char **)((char *)content + caseworker->offset) = "";
    size_t len = protobuf_c_message_get_packed_size (content);
    uint8_t *buf = kn_malloc (len ? len : 1);
    protobuf_c_message_pack (content, buf);
    digests->n = kn_crypto_index_versions (crypto, digests->versions);
    for (int i = 0; i < digests->n; i++)
        kn_crypto_digest_under (crypto, digests->versions[i], buf, len,
                                digests->hashes[i]);
    free (buf);
    free (content);
}

kn_claim_t
kn_idempotency_claim (kn_db_t *db, const char *table, const char *agency_id,
                      const char *key, const char *operation, const kn_digests_t *digests,
                      char object_id[KN_UUID_STR], kn_error_t *err)
{
    kn_idempotency_claim_t claim = {
        .agency_id = agency_id, .key = key, .operation = operation, .digests = *digests};
    memcpy (claim.object_id, object_id, KN_UUID_STR);
    if (kn_idempotency_claim_many (db, table, &claim, 1, err))
        return KN_CLAIM_FAILED;
    if (claim.claim == KN_CLAIM_FAILED)
        *err = claim.err;
    memcpy (object_id, claim.object_id, KN_UUID_STR);
    return claim.claim;
}

static int
s_by_agency_and_key (const void *a, const void *b)
{
    const kn_idempotency_claim_t *x = *(const kn_idempotency_claim_t *const *)a;
    const kn_idempotency_claim_t *y = *(const kn_idempotency_claim_t *const *)b;
    int order = strcasecmp (x->agency_id, y->agency_id);
    return order ? order : strcmp (x->key, y->key);
}

static kn_idempotency_claim_t *
s_find (kn_idempotency_claim_t *claims, size_t n, const char *agency_id, const char *key)
{
    for (size_t i = 0; i < n; i++)
        if (strcasecmp (claims[i].agency_id, agency_id) == 0 &&
            strcmp (claims[i].key, key) == 0)
            return &claims[i];
    return NULL;
}

//  The claims that were not inserted: the same request again (a replay) or another
//  one under the same key (a conflict).
static int
s_classify_taken (kn_db_t *db, const char *table, kn_idempotency_claim_t *claims,
                  size_t n, size_t taken, kn_error_t *err)
{
    kn_pgarray_t *columns[2]; // agency, key
    kn_pgarray_columns (columns, 2);
    for (size_t i = 0; i < n; i++)
        if (claims[i].claim == KN_CLAIM_FAILED) {
            kn_pgarray_add (columns[0], claims[i].agency_id);
            kn_pgarray_add (columns[1], claims[i].key);
        }
    char name[128];
    s_name (name, sizeof name, table, "get");
    PGresult *result = kn_pgarray_run (db, name, columns, 2, err);
    if (!result)
        return -1;
    size_t found = 0;
    for (int row = 0; row < PQntuples (result); row++) {
        kn_idempotency_claim_t *claim =
            s_find (claims, n, PQgetvalue (result, row, 0), PQgetvalue (result, row, 1));
        if (!claim || claim->claim != KN_CLAIM_FAILED)
            continue;
        found++;
        size_t hash_len = 0;
        //  NULL only when memory ran out: not a reason to call the request a conflict.
        unsigned char *hash = kn_alloc_checked (
            PQunescapeBytea ((const unsigned char *)PQgetvalue (result, row, 3), &hash_len),
            __FILE__, __LINE__);
        //  Compared under the version the first request was digested under.
        int version = atoi (PQgetvalue (result, row, 5));
        const uint8_t *digest = NULL;
        for (int v = 0; v < claim->digests.n; v++)
            if (claim->digests.versions[v] == version)
                digest = claim->digests.hashes[v];
        if (!digest && strcmp (PQgetvalue (result, row, 2), claim->operation) == 0)
            kn_error_set (&claim->err, KN_E_CONFLICT, "idempotency_key",
                          "idempotency key first used under index key version %d, which"
                          " is retired: the requests cannot be compared; use a new key",
                          version);
        else if (strcmp (PQgetvalue (result, row, 2), claim->operation) != 0 ||
                 hash_len != 32 || memcmp (hash, digest, 32) != 0)
            kn_error_set (&claim->err, KN_E_CONFLICT, "idempotency_key",
                          "idempotency key already used for a different request");
        else {
            snprintf (claim->object_id, KN_UUID_STR, "%s", PQgetvalue (result, row, 4));
            claim->claim = KN_CLAIM_REPLAY;
        }
        PQfreemem (hash);
    }
    PQclear (result);
    if (found < taken)
        for (size_t i = 0; i < n; i++)
            if (claims[i].claim == KN_CLAIM_FAILED && claims[i].err.code == KN_OK)
                kn_error_set (&claims[i].err, KN_E_INTERNAL, NULL,
                              "idempotency ledger inconsistent");
    return 0;
}

int
kn_idempotency_claim_many (kn_db_t *db, const char *table, kn_idempotency_claim_t *claims,
                           size_t n, kn_error_t *err)
{
    if (n == 0)
        return 0;
    kn_idempotency_claim_t **order = kn_malloc (n * sizeof *order);
    for (size_t i = 0; i < n; i++) {
        order[i] = &claims[i];
        claims[i].claim = KN_CLAIM_FAILED;
        kn_error_clear (&claims[i].err);
    }
    qsort (order, n, sizeof *order, s_by_agency_and_key);
    kn_pgarray_t *columns[6];
    kn_pgarray_columns (columns, 6);
    for (size_t i = 0; i < n; i++) {
        assert (order[i]->digests.n > 0);   // kn_idempotency_digest made them
        kn_pgarray_add (columns[0], order[i]->agency_id);
        kn_pgarray_add (columns[1], order[i]->key);
        kn_pgarray_add (columns[2], order[i]->operation);
        kn_pgarray_add_bytes (columns[3], order[i]->digests.hashes[0], 32);
        kn_pgarray_add (columns[4], order[i]->object_id);
        kn_pgarray_add_int (columns[5], order[i]->digests.versions[0]);
    }
    free (order);
    char name[128];
    s_name (name, sizeof name, table, "claim");
    PGresult *result = kn_pgarray_run (db, name, columns, 6, err);
    if (!result)
        return -1;
    size_t claimed = 0;
    for (int row = 0; row < PQntuples (result); row++) {
        kn_idempotency_claim_t *claim =
            s_find (claims, n, PQgetvalue (result, row, 0), PQgetvalue (result, row, 1));
        if (claim && claim->claim == KN_CLAIM_FAILED) {
            claim->claim = KN_CLAIM_NEW;
            claimed++;
        }
    }
    PQclear (result);
    return claimed == n ? 0 : s_classify_taken (db, table, claims, n, n - claimed, err);
}
