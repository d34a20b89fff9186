/*  kn_outbox: the transactional outbox writer. One statement serves one event and a
    batch's many (unnest keeps their order, so their ids follow it). */
#include "kn_outbox.h"

#include "kn_pgarray.h"

int
kn_outbox_prepare (kn_db_t *db, kn_error_t *err)
{
    return kn_db_prepare (db, "kn_outbox_append",
                          "INSERT INTO core.outbox (topic, aggregate_id, payload)"
                          " SELECT $1, a, p FROM unnest ($2::uuid[], $3::bytea[])"
                          " WITH ORDINALITY AS t (a, p, o) ORDER BY o",
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
    kn_pgarray_t *ids = kn_pgarray_new ();
    kn_pgarray_t *bodies = kn_pgarray_new ();
    for (size_t i = 0; i < n; i++) {
        kn_pgarray_add (ids, aggregate_ids[i]);
        kn_pgarray_add_bytes (bodies, payloads[i], lens[i]);
    }
    const char *values[] = {topic, kn_pgarray_text (ids), kn_pgarray_text (bodies)};
    PGresult *result = kn_db_run (db, "kn_outbox_append", 3, values, NULL, NULL, err);
    kn_pgarray_destroy (&ids);
    kn_pgarray_destroy (&bodies);
    if (!result)
        return -1;
    PQclear (result);
    return 0;
}
