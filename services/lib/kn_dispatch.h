/*  kn_dispatch: a service runs a request by finding its operation in one table,
    a row per member of the request's oneof `op`, in the order of the protocol's
    operations list (docs/protocol/), then running the row: validate, then handle.
    Each service declares its own row type and runs the row itself (its s_run), so
    the compiler checks every row's functions against that service's request and
    reply. It cannot check that they read the member the row's op_case names: the
    tests must. What the tables share is here: the first column (op_case), the
    look-up with its refusal, and what an audit row names. */
#ifndef KN_DISPATCH_H_INCLUDED
#define KN_DISPATCH_H_INCLUDED

#include <stddef.h>

#include "kn_error.h"

//  What the audit row of a request names: the operation, as audited and counted in
//  metrics, and the ids the request carries. NULL where it has none.
typedef struct {
    const char *operation;
    const char *caseworker;
    const char *subject;
    const char *object;
} kn_about_t;

//  The row of table for op_case. table holds n_rows rows of row_size bytes, each
//  starting with `int op_case`. NULL with KN_E_INVALID_ARGUMENT on field "op" and
//  message when no row has op_case (0: the request set no operation).
const void *kn_dispatch_find (const void *table, size_t n_rows, size_t row_size,
                              int op_case, const char *message, kn_error_t *err);

//  kn_dispatch_find over a whole static array.
#define KN_DISPATCH_FIND(table, op_case, message, err)                                   \
    kn_dispatch_find ((table), sizeof (table) / sizeof (table)[0], sizeof (table)[0],    \
                      (op_case), (message), (err))

#endif
