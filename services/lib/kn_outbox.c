/*  kn_outbox: the transactional outbox writer. */
#include "kn_outbox.h"

int
kn_outbox_prepare (kn_db_t *db, kn_error_t *err)
{
    return kn_db_prepare (db, "kn_outbox_append",
                          "INSERT INTO core.outbox (topic, aggregate_id, payload)"
                          " VALUES ($1, $2, $3)",
                          err);
}

int
kn_outbox_append (kn_db_t *db, const char *topic, const char *aggregate_id,
                  const uint8_t *payload, size_t len, kn_error_t *err)
{
    const char *values[] = {topic, aggregate_id, (const char *) payload};
    int lengths[] = {0, 0, (int) len};
    int formats[] = {0, 0, 1};
    PGresult *result = kn_db_run (db, "kn_outbox_append", 3, values, lengths, formats, err);
    if (!result)
        return -1;
    PQclear (result);
    return 0;
}
