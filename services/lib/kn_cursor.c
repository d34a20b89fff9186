/*  kn_cursor: a table read in commit order behind a position. See the header. */
#include "kn_cursor.h"

#include <stdio.h>

//  The statement after position: "($1::xid8, $2::bigint)" or a subquery.
static int
s_prepare (kn_db_t *db, const char *name, const char *table, const char *alias,
           const char *columns, const char *position, const char *limit, kn_error_t *err)
{
    //  Built from the caller's constants only, never from input. Qualified names: a
    //  bare "xid" in ORDER BY would be the output column xid::text. The horizon is
    //  a subquery, so it is worked out once a statement, on the statement's snapshot.
    char sql[1024];
    int n =
        snprintf (sql, sizeof sql,
                  "SELECT %1$s.xid::text, %2$s FROM %3$s"
                  " WHERE (%1$s.xid, %1$s.id) > %4$s"
                  "   AND %1$s.xid < (SELECT core.write_horizon (pg_current_snapshot ()))"
                  " ORDER BY %1$s.xid, %1$s.id LIMIT %5$s",
                  alias, columns, table, position, limit);
    if (n < 0 || (size_t)n >= sizeof sql)
        return kn_error_set (err, KN_E_INTERNAL, NULL, "cursor statement %s too long",
                             name);
    return kn_db_prepare (db, name, sql, err);
}

int
kn_cursor_prepare (kn_db_t *db, const char *name, const char *table, const char *alias,
                   const char *columns, kn_error_t *err)
{
    return s_prepare (db, name, table, alias, columns, "($1::xid8, $2::bigint)", "$3", err);
}

int
kn_cursor_prepare_at (kn_db_t *db, const char *name, const char *table, const char *alias,
                      const char *columns, const char *position, kn_error_t *err)
{
    char subquery[512];
    int n = snprintf (subquery, sizeof subquery, "(%s)", position);
    if (n < 0 || (size_t)n >= sizeof subquery)
        return kn_error_set (err, KN_E_INTERNAL, NULL, "cursor position %s too long", name);
    return s_prepare (db, name, table, alias, columns, subquery, "$1", err);
}

PGresult *
kn_cursor_next (kn_db_t *db, const char *name, const char *xid, const char *id, int limit,
                kn_error_t *err)
{
    char limit_text[16];
    snprintf (limit_text, sizeof limit_text, "%d", limit);
    const char *values[] = {xid, id, limit_text};
    return kn_db_run (db, name, 3, values, NULL, NULL, err);
}
