/*  kn_dispatch: an operation's row in a service's table. */
#include "kn_dispatch.h"

const void *
kn_dispatch_find (const void *table, size_t n_rows, size_t row_size, int op_case,
                  const char *message, kn_error_t *err)
{
    const char *row = table;
    for (size_t i = 0; i < n_rows; i++, row += row_size)
        if (*(const int *)row == op_case)
            return row;
    kn_error_set (err, KN_E_INVALID_ARGUMENT, "op", "%s", message);
    return NULL;
}
