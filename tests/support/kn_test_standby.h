/*  kn_test_standby: a real streaming standby of the test cluster, for the suites that
    read from one. It is a physical copy (pg_basebackup -R, with a replication slot of
    its own so the primary keeps the WAL it has not received) of the server that
    KINNET_TEST_DATABASE_URL names, on a unix socket in a directory of its own and a
    port of its own, as the postgres user when the test runs as root. Its postmaster is
    a child of the thread that starts it, with SIGQUIT (an immediate shutdown) as its
    parent-death signal: a test that is killed leaves no server running. The directory
    sits inside the primary's socket directory when it can, so ops/test's cleanup
    removes it even then; a slot left behind by a killed test is dropped by the next
    standby made. */
#ifndef KN_TEST_STANDBY_H_INCLUDED
#define KN_TEST_STANDBY_H_INCLUDED

#include <stdbool.h>

typedef struct _kn_test_standby_t kn_test_standby_t;

//  Make the standby and start it; on return it accepts (read-only) connections.
//  Call from the test's own thread (the death signal follows the thread).
kn_test_standby_t *kn_test_standby_new (void);

//  Stop it, drop its slot on the primary and remove its directory (kept with
//  KINNET_TEST_KEEP). Nulls *self_p.
void kn_test_standby_destroy (kn_test_standby_t **self_p);

//  The conninfo of url's database (a conninfo of the primary, e.g. a stack's) on the
//  standby: url with the standby's socket and port (caller frees).
char *kn_test_standby_url (kn_test_standby_t *self, const char *url);

//  Fast shutdown, waited for; and a start again, which returns once the standby
//  accepts connections and has replayed what the primary had written by then.
void kn_test_standby_stop (kn_test_standby_t *self);
void kn_test_standby_start (kn_test_standby_t *self);

//  Wait until the standby has replayed everything the primary had written when
//  called: true, or false after timeout_ms.
bool kn_test_standby_wait_replayed (kn_test_standby_t *self, int timeout_ms);

//  Pause or resume the standby's replay (pg_wal_replay_pause/resume): it keeps
//  receiving WAL but applies none of it while paused.
void kn_test_standby_pause (kn_test_standby_t *self, bool paused);

#endif
