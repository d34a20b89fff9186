/*  reporting_replica: where a read runs. A read may run on the standby only once the
    standby has replayed the primary's WAL position taken when the request came: then
    it sees everything acknowledged before the request (read-your-writes across the
    cluster). The standby is given up to a bound to get there, polled on the session
    that will read; a standby that is down, behind after the bound, or no longer in
    recovery leaves the read to the primary, and the reply says which answered and
    how far behind the standby was. */
#ifndef REPORTING_REPLICA_H_INCLUDED
#define REPORTING_REPLICA_H_INCLUDED

#include <stdbool.h>
#include <stdint.h>

#include "kinnet/v1/reporting.pb-c.h"
#include "kn_db.h"
#include "kn_error.h"

//  A WAL position as PostgreSQL prints it ("16/B374D848"), with room to spare.
#define REPORTING_LSN_SIZE 40

//  The default and the largest KINNET_REPORTING_MAX_LAG_MS. The worker sends no
//  heartbeats while it waits; the broker keeps a busy worker for as long as its
//  connection lives, up to KINNET_WORKER_BUSY_MAX_MS (600 s), far past the largest.
#define REPORTING_MAX_LAG_MS     2000
#define REPORTING_MAX_LAG_MS_MAX 30000

//  Where a read went and why.
typedef struct {
    bool standby; //  read on the standby
    //  "caught_up" when standby; else why the primary: "no_standby", "standby_down",
    //  "standby_behind", "standby_promoted", "standby_failed" (static strings)
    const char *reason;
    int64_t
        lag_bytes;  //  WAL bytes the standby had to replay at the first look; -1 unknown
    int64_t lag_ms; //  time spent waiting for it; -1 when no standby was asked
} reporting_route_t;

//  KINNET_REPORTING_MAX_LAG_MS (0 to REPORTING_MAX_LAG_MS_MAX, else the default).
int reporting_replica_max_lag_ms (void);

//  Register the probe on a standby session (any session: it is prepared there).
int reporting_replica_prepare (kn_db_t *standby, kn_error_t *err);

//  Register, and take, the primary's current WAL position on the primary's session.
int reporting_replica_prepare_primary (kn_db_t *primary, kn_error_t *err);
int reporting_replica_position (kn_db_t *primary, char lsn[REPORTING_LSN_SIZE],
                                kn_error_t *err);

//  Choose where a read at lsn runs: on standby (NULL: none configured) once its
//  replay position reaches lsn, polled every few ms for up to max_lag_ms; else on the
//  primary. A session that turns out dead is made again once at once (a standby that
//  restarted answers the next request). A standby no longer in recovery is left to
//  the primary and its session closed, so that a multi-host url looks for a standby
//  again next time. Never fails: whatever goes wrong sends the read to the primary.
void reporting_replica_route (kn_db_t *standby, const char *lsn, int max_lag_ms,
                              reporting_route_t *route);

//  The read went where route says: count it (kinnet_reporting_reads_total, and the
//  lag gauges when a standby was asked).
void reporting_replica_record (const reporting_route_t *route);

//  The wire's ReadSource for route (malloc'd; free with the reply).
Kinnet__V1__ReadSource *reporting_replica_source (const reporting_route_t *route);

#endif
