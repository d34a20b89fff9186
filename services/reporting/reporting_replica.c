/*  reporting_replica: the primary's position, the standby's wait for it, and what
    the reply and the metrics say about the choice. The wait polls: PostgreSQL 15
    has no statement that sleeps until a replay position is reached, and a poll
    is one short round trip on a session that is idle anyway. */
#include "reporting_replica.h"

#include <czmq.h>
#include <stdlib.h>
#include <string.h>

#include "kn_alloc.h"
#include "kn_config.h"
#include "kn_log.h"
#include "kn_metrics.h"

//  The first poll comes after 1 ms, each next one twice as late, at most this late.
#define POLL_MAX_MS 20

static const char *s_statements[][2] = {
    //  Recovering or not, and how many bytes of WAL lie between the replay position
    //  and $1 (negative once past it; NULL before anything was replayed, or when the
    //  server never was a standby).
    {"reporting_replica_probe",
     "SELECT pg_is_in_recovery (),"
     " pg_wal_lsn_diff ($1::pg_lsn, pg_last_wal_replay_lsn ())::bigint"},
};

int
reporting_replica_max_lag_ms (void)
{
    long ms = kn_config_int ("KINNET_REPORTING_MAX_LAG_MS", REPORTING_MAX_LAG_MS);
    if (ms < 0 || ms > REPORTING_MAX_LAG_MS_MAX) {
        kn_log (KN_WARN, "service.config", "problem",
                "KINNET_REPORTING_MAX_LAG_MS must be 0 to 30000: 2000 is used", NULL);
        ms = REPORTING_MAX_LAG_MS;
    }
    return (int)ms;
}

int
reporting_replica_prepare (kn_db_t *standby, kn_error_t *err)
{
    return kn_db_prepare_all (standby, s_statements, 1, err);
}

int
reporting_replica_prepare_primary (kn_db_t *primary, kn_error_t *err)
{
    return kn_db_prepare (primary, "reporting_replica_position",
                          "SELECT pg_current_wal_lsn ()::text", err);
}

int
reporting_replica_position (kn_db_t *primary, char lsn[REPORTING_LSN_SIZE],
                            kn_error_t *err)
{
    PGresult *row =
        kn_db_ensure (primary, err)
            ? NULL
            : kn_db_run (primary, "reporting_replica_position", 0, NULL, NULL, NULL, err);
    if (!row)
        return -1;
    snprintf (lsn, REPORTING_LSN_SIZE, "%s", PQgetvalue (row, 0, 0));
    PQclear (row);
    return 0;
}

//  One look at the standby: 1 caught up, 0 not yet (*lag: bytes to go, -1 unknown),
//  -1 no answer, -2 not in recovery.
static int
s_probe (kn_db_t *standby, const char *lsn, int64_t *lag)
{
    kn_error_t err;
    const char *values[] = {lsn};
    PGresult *row =
        kn_db_ensure (standby, &err)
            ? NULL
            : kn_db_run (standby, "reporting_replica_probe", 1, values, NULL, NULL, &err);
    if (!row)
        return -1;
    bool recovering = strcmp (PQgetvalue (row, 0, 0), "t") == 0;
    bool known = !PQgetisnull (row, 0, 1);
    int64_t diff = known ? strtoll (PQgetvalue (row, 0, 1), NULL, 10) : 0;
    PQclear (row);
    *lag = !known ? -1 : diff > 0 ? diff : 0;
    if (!recovering)
        return -2;
    return known && diff <= 0 ? 1 : 0;
}

void
reporting_replica_route (kn_db_t *standby, const char *lsn, int max_lag_ms,
                         reporting_route_t *route)
{
    *route = (reporting_route_t){.reason = "no_standby", .lag_bytes = -1, .lag_ms = -1};
    if (!standby)
        return;
    int64_t start = zclock_mono ();
    int64_t deadline = start + max_lag_ms;
    int pause = 1;
    bool first = true, retried = false;
    //  Open before this request: a failure on it may be a standby that restarted.
    bool was_open = PQstatus (kn_db_conn (standby)) == CONNECTION_OK;
    while (true) {
        int64_t lag = -1;
        int state = s_probe (standby, lsn, &lag);
        //  A session that was up and is not: the standby restarted, or the network
        //  dropped it. One new session now, so the standby that is back answers. (A
        //  session that was down already just failed to connect: not again.)
        if (state == -1 && was_open && !retried &&
            PQstatus (kn_db_conn (standby)) != CONNECTION_OK) {
            retried = true;
            continue;
        }
        route->lag_ms = zclock_mono () - start;
        if (state == -1) {
            route->reason = "standby_down";
            return;
        }
        if (state == -2) {
            //  Promoted, or a multi-host url that found no standby: the primary
            //  answers, and the next request looks for a standby again.
            kn_db_disconnect (standby);
            route->reason = "standby_promoted";
            return;
        }
        if (first && lag >= 0)
            route->lag_bytes = lag;
        first = false;
        if (state == 1) {
            route->standby = true;
            route->reason = "caught_up";
            return;
        }
        int64_t now = zclock_mono ();
        if (now >= deadline) {
            route->reason = "standby_behind";
            return;
        }
        zclock_sleep ((int)(deadline - now < pause ? deadline - now : pause));
        pause = pause * 2 > POLL_MAX_MS ? POLL_MAX_MS : pause * 2;
    }
}

void
reporting_replica_record (const reporting_route_t *route)
{
    kn_metrics_counter_add ("kinnet_reporting_reads_total", 1,
                            route->standby ? "standby" : "primary", route->reason, NULL);
    if (strcmp (route->reason, "no_standby") == 0)
        return;
    bool up = route->standby || strcmp (route->reason, "standby_behind") == 0 ||
              strcmp (route->reason, "standby_failed") == 0;
    kn_metrics_gauge_set ("kinnet_reporting_standby_up", up ? 1 : 0, NULL);
    if (route->lag_bytes >= 0)
        kn_metrics_gauge_set ("kinnet_reporting_replica_lag_bytes",
                              (double)route->lag_bytes, NULL);
    if (route->lag_ms >= 0 && up)
        kn_metrics_gauge_set ("kinnet_reporting_replica_wait_seconds",
                              (double)route->lag_ms / 1000.0, NULL);
}

Kinnet__V1__ReadSource *
reporting_replica_source (const reporting_route_t *route)
{
    Kinnet__V1__ReadSource *source = kn_malloc (sizeof *source);
    kinnet__v1__read_source__init (source);
    source->server = route->standby ? KINNET__V1__READ_SERVER__READ_STANDBY
                                    : KINNET__V1__READ_SERVER__READ_PRIMARY;
    source->reason = kn_strdup (route->reason);
    source->lag_bytes = route->lag_bytes;
    source->lag_ms = route->lag_ms;
    return source;
}
