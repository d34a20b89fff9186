/*  kn_pgarray: a PostgreSQL array literal built one element at a time, so that a
    column of many rows travels as one parameter ($1::uuid[], $2::bytea[]) and a
    batch is written by one INSERT ... SELECT FROM unnest (...). Every element is
    quoted and escaped, so any text is safe; NULL elements are SQL NULLs. */
#ifndef KN_PGARRAY_H_INCLUDED
#define KN_PGARRAY_H_INCLUDED

#include <stddef.h>
#include <stdint.h>

#include "kn_db.h"

typedef struct _kn_pgarray_t kn_pgarray_t;

//  Never NULL: out of memory stops the process (kn_alloc.h).
kn_pgarray_t *kn_pgarray_new (void);
void kn_pgarray_destroy (kn_pgarray_t **self_p);

//  Append text (NULL appends a NULL element).
void kn_pgarray_add (kn_pgarray_t *self, const char *text);

//  Append bytes as a bytea element (hex form), for $n::bytea[].
void kn_pgarray_add_bytes (kn_pgarray_t *self, const uint8_t *data, size_t len);

//  Append a whole number.
void kn_pgarray_add_int (kn_pgarray_t *self, long long value);

//  The literal, e.g. {"a","b\"c",NULL}; valid until the next add or destroy.
const char *kn_pgarray_text (kn_pgarray_t *self);

//  Elements added so far.
size_t kn_pgarray_size (const kn_pgarray_t *self);

#define KN_PGARRAY_MAX_COLUMNS 16

//  n (at most KN_PGARRAY_MAX_COLUMNS) new empty columns of one statement.
void kn_pgarray_columns (kn_pgarray_t **columns, size_t n);

//  Run prepared statement name with columns[i] as parameter $i+1, then destroy the
//  columns whatever happened. kn_db_run's contract: the result, or NULL with err.
PGresult *kn_pgarray_run (kn_db_t *db, const char *name, kn_pgarray_t **columns, size_t n,
                          kn_error_t *err);

//  The same for a statement run for its effect (kn_db_do: only sent while the
//  session defers, see kn_db_defer_begin): 0, or -1 with err.
int kn_pgarray_exec (kn_db_t *db, const char *name, kn_pgarray_t **columns, size_t n,
                     kn_error_t *err);

//  The same for a read sent and answered later (kn_db_defer_read): 0, or -1 with err.
int kn_pgarray_defer_read (kn_db_t *db, const char *name, kn_pgarray_t **columns, size_t n,
                           PGresult **answer, kn_error_t *err);

#endif
