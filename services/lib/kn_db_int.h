/*  kn_db_int: what kn_db's files share, and nobody else sees: the session object
    and the helpers both the plain path (kn_db.c) and the pipelined one
    (kn_db_pipeline.c) use. */
#ifndef KN_DB_INT_H_INCLUDED
#define KN_DB_INT_H_INCLUDED

#include <stdbool.h>
#include <stdint.h>

#include "kn_db.h"

#define MAX_STATEMENTS 128
#define MAX_CHANNELS 8
//  Writes sent in a pipeline before their answers are read (kn_db_do). Each answer
//  is a few dozen bytes, so this many stay far below what the server's socket
//  buffer holds while it waits for a read: a batch of routing's offers (three writes
//  each, a round of 32 referrals) goes out with its next read, not in pieces.
#define MAX_DEFERRED 256

//  What a writing transaction begins with, sent in one query string
//  (kn_db_begin_write) or one statement at a time (kn_db_defer_begin_write): the
//  announcement (migration 0026), and the transaction's now () in microseconds.
#define KN_DB_ANNOUNCE_SQL "SELECT core.begin_write ()"
#define KN_DB_NOW_US_SQL   "SELECT (extract (epoch FROM now ()) * 1000000)::bigint"

typedef struct {
    char *name;
    char *sql;
} statement_t;

struct _kn_db_t {
    PGconn *conn;
    char *url;
    char *role;
    //  kn_db_new_lazy: made even while its server is down; its connect timeout.
    bool lazy;
    char connect_timeout[12];
    statement_t statements[MAX_STATEMENTS];
    int statement_count;
    char *channels[MAX_CHANNELS];
    int channel_count;
    //  kn_db_prefer_generic_plans: re-made every plans_every_ms (monotonic clock).
    bool generic_plans;
    int64_t plans_every_ms, plans_at_ms;
    char sqlstate[6];
    //  Pipeline mode (kn_db_defer_begin): the statements sent and not yet read, the
    //  rows each must change (-1: any number), and where a read's answer goes: kept
    //  whole (kn_db_defer_read) or its first value as an integer (the transaction's
    //  now () of kn_db_defer_begin_write); NULL for a write.
    bool deferring;
    int deferred;
    const char *deferred_names[MAX_DEFERRED];
    long deferred_expect[MAX_DEFERRED];
    PGresult **deferred_keep[MAX_DEFERRED];
    int64_t *deferred_integer[MAX_DEFERRED];
    //  Times the session sent something and waited for the server's answer
    //  (kn_db_round_trips).
    uint64_t round_trips;
    //  kn_db_log_committed: lines about the open transaction, for after its COMMIT.
    char **lines;
    size_t line_count, line_room;
};


//  Record why a statement failed (its SQLSTATE, classified) in err; -1.
int kn_db_int_fail (kn_db_t *self, PGresult *result, kn_error_t *err, const char *what);

//  result when it is a statement's success (PGRES_COMMAND_OK or _TUPLES_OK); else
//  NULL with why in err (kn_db_int_fail), result cleared.
PGresult *kn_db_int_answer (kn_db_t *self, PGresult *result, kn_error_t *err,
                            const char *what);

//  Did result change the rows it should (expect < 0: any number)? 0 or -1 with err.
int kn_db_int_check_rows (kn_db_t *self, PGresult *result, long expect, const char *name,
                          kn_error_t *err);

//  The open transaction ended: its log lines are written if it committed, else dropped.
void kn_db_int_lines_end (kn_db_t *self, bool committed);

//  kn_db_pipeline.c: kn_db_do and kn_db_run between kn_db_defer_begin and
//  kn_db_defer_commit, and leaving pipeline mode without committing.
int kn_db_int_defer (kn_db_t *self, const char *name, int nparams, const char *const *values,
                     long expect_rows, kn_error_t *err);
PGresult *kn_db_int_pipelined_run (kn_db_t *self, const char *name, int nparams,
                                   const char *const *values, const int *lengths,
                                   const int *formats, kn_error_t *err);
void kn_db_int_discard (kn_db_t *self);

#endif
