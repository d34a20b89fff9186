/*  broker_peers: the brokers up now, from core.broker_presence. */
#include "broker_peers.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kn_alloc.h"
#include "kn_log.h"
#include "kn_metrics.h"

struct _broker_peers_t {
    kn_db_t *db;
    char *name;
    int interval_ms;
    int count;
    int64_t due_at;
};

broker_peers_t *
broker_peers_new (kn_db_t *db, const char *name, int interval_ms)
{
    broker_peers_t *self = kn_calloc (1, sizeof *self);
    self->db = db;
    self->name = kn_strdup (name);
    self->interval_ms = interval_ms > 0 ? interval_ms : 5000;
    self->count = 1;
    kn_metrics_gauge_set ("kinnet_broker_peers", 1, NULL);
    return self;
}

void
broker_peers_destroy (broker_peers_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    free ((*self_p)->name);
    free (*self_p);
    *self_p = NULL;
}

bool
broker_peers_tick (broker_peers_t *self, int64_t now)
{
    if (!self->db || now < self->due_at)
        return false;
    self->due_at = now + self->interval_ms;
    //  One statement: the stamp, the count (of the others, as the statement sees the
    //  table from before its own insert) and the removal of rows a day old (brokers
    //  renamed or retired).
    char stale_ms[16], applied[16];
    snprintf (stale_ms, sizeof stale_ms, "%d", 3 * self->interval_ms);
    snprintf (applied, sizeof applied, "%d", self->count);
    const char *values[] = {self->name, stale_ms, applied};
    kn_error_t err;
    PGresult *result = kn_db_ensure (self->db, &err) == 0
        ? kn_db_query (
              self->db,
              "WITH stamp AS ("
              "  INSERT INTO core.broker_presence (name, seen_at, peers)"
              "  VALUES ($1, now (), $3::int)"
              "  ON CONFLICT (name) DO UPDATE SET seen_at = now (), peers = $3::int"
              "  RETURNING name),"
              " gone AS ("
              "  DELETE FROM core.broker_presence"
              "  WHERE seen_at < now () - interval '1 day' AND name <> $1 RETURNING name)"
              " SELECT 1 + count (*) FROM core.broker_presence"
              " WHERE name <> $1 AND seen_at > now () - $2::int * interval '1 millisecond'"
              "   AND name NOT IN (SELECT name FROM gone)",
              3, values, &err)
        : NULL;
    if (!result) {
        kn_log (KN_WARN, "brokers.count_failed", "kept", "previous_count", NULL);
        return false;
    }
    int count = atoi (PQgetvalue (result, 0, 0));
    PQclear (result);
    if (count < 1 || count == self->count)
        return false;
    char before[16], after[16];
    snprintf (before, sizeof before, "%d", self->count);
    snprintf (after, sizeof after, "%d", count);
    kn_log (KN_INFO, "brokers.changed", "before", before, "after", after, NULL);
    self->count = count;
    kn_metrics_gauge_set ("kinnet_broker_peers", count, NULL);
    return true;
}

int
broker_peers_count (broker_peers_t *self)
{
    return self ? self->count : 1;
}

double
broker_peers_split (int count, double limit, double floor)
{
    double share = limit / (count > 0 ? count : 1);
    return share < floor ? floor : share;
}
