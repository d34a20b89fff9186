/*  kn_outbox: the transactional outbox writer. One statement serves one event and a
    batch's many (unnest keeps their order, so their ids follow it). */
#include "kn_outbox.h"

#include "kn_pgarray.h"

int
kn_outbox_prepare (kn_db_t *db, kn_error_t *err)
{
    return kn_db_prepare (
        db, "kn_outbox_append",
        "INSERT INTO core.outbox (topic, aggregate_id, payload)"
        " SELECT t, a, p FROM unnest ($1::text[], $2::uuid[], $3::bytea[])"
        " WITH ORDINALITY AS e (t, a, p, o) ORDER BY o",
        err);
}

int
kn_outbox_append (kn_db_t *db, const char *topic, const char *aggregate_id,
                  const uint8_t *payload, size_t len, kn_error_t *err)
{
    return kn_outbox_append_many (db, topic, &aggregate_id, &payload, &len, 1, err);
}

int
kn_outbox_append_many (kn_db_t *db, const char *topic, const char *const *aggregate_ids,
                       const uint8_t *const *payloads, const size_t *lens, size_t n,
                       kn_error_t *err)
{
    kn_pgarray_t *columns[3];
    kn_pgarray_columns (columns, 3);
    for (size_t i = 0; i < n; i++) {
        kn_pgarray_add (columns[0], topic);
        kn_pgarray_add (columns[1], aggregate_ids[i]);
        kn_pgarray_add_bytes (columns[2], payloads[i], lens[i]);
    }
    return kn_pgarray_exec (db, "kn_outbox_append", columns, 3, err);
}
