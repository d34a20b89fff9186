/*  kn_db_classify: which database failures a client may retry (the SQLSTATE and
    whether the session is still up), apart from the session code in kn_db.c. */
#include <stdbool.h>
#include <string.h>

#include "kn_db.h"

kn_code_t
kn_db_classify (const char *sqlstate, bool connected)
{
    //  Retryable: the server went or is going away, cannot take another session, or
    //  gave up waiting (statement or lock timeout, serialisation failure, deadlock).
    //  Another attempt, on this session or the next, may well succeed.
    static const char *transient[] = {
        "57P01", "57P02", "57P03", "57P05", // admin / crash shutdown, starting, idle
        "53300",                            // too_many_connections
        "25P03",                            // idle_in_transaction_session_timeout
        "25006",                            // read_only_sql_transaction: a failover
        "40001", "40P01",                   // serialization_failure, deadlock_detected
        "55P03",                            // lock_not_available (lock_timeout)
        "57014",                            // query_canceled (statement_timeout)
    };
    if (!sqlstate || !*sqlstate)
        return connected ? KN_E_INTERNAL : KN_E_SERVICE_UNAVAILABLE;
    if (strncmp (sqlstate, "08", 2) == 0) // connection_exception
        return KN_E_SERVICE_UNAVAILABLE;
    if (strcmp (sqlstate, "23505") == 0)
        return KN_E_CONFLICT;
    for (size_t i = 0; i < sizeof transient / sizeof transient[0]; i++)
        if (strcmp (sqlstate, transient[i]) == 0)
            return KN_E_SERVICE_UNAVAILABLE;
    return KN_E_INTERNAL;
}
