/*  kn_pgarray: array literals for unnest-based batch statements. */
#include "kn_pgarray.h"

#include <assert.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kn_alloc.h"

struct _kn_pgarray_t {
    char *data; // "{" elements..., closed by kn_pgarray_text
    size_t len;
    size_t cap;
    size_t count;
};

static void
s_reserve (kn_pgarray_t *self, size_t more)
{
    if (self->len + more + 2 <= self->cap) // room for "}" and NUL
        return;
    size_t cap = self->cap ? self->cap : 256;
    while (cap < self->len + more + 2)
        cap *= 2;
    self->data = kn_realloc (self->data, cap); // out of memory: nothing sensible to answer
    self->cap = cap;
}

static void
s_put (kn_pgarray_t *self, const char *text, size_t len)
{
    s_reserve (self, len);
    memcpy (self->data + self->len, text, len);
    self->len += len;
}

static void
s_separator (kn_pgarray_t *self)
{
    if (self->count++)
        s_put (self, ",", 1);
}

kn_pgarray_t *
kn_pgarray_new (void)
{
    kn_pgarray_t *self = kn_calloc (1, sizeof *self);
    s_put (self, "{", 1);
    return self;
}

void
kn_pgarray_destroy (kn_pgarray_t **self_p)
{
    if (self_p && *self_p) {
        free ((*self_p)->data);
        free (*self_p);
        *self_p = NULL;
    }
}

void
kn_pgarray_add (kn_pgarray_t *self, const char *text)
{
    s_separator (self);
    if (!text) {
        s_put (self, "NULL", 4);
        return;
    }
    size_t len = strlen (text);
    s_reserve (self, 2 * len + 2);
    self->data[self->len++] = '"';
    for (size_t i = 0; i < len; i++) {
        if (text[i] == '"' || text[i] == '\\')
            self->data[self->len++] = '\\';
        self->data[self->len++] = text[i];
    }
    self->data[self->len++] = '"';
}

void
kn_pgarray_add_bytes (kn_pgarray_t *self, const uint8_t *data, size_t len)
{
    static const char hex[] = "0123456789abcdef";
    s_separator (self);
    s_reserve (self, 2 * len + 6);
    memcpy (self->data + self->len, "\"\\\\x", 4); // "\\x: the element is \x...
    self->len += 4;
    for (size_t i = 0; i < len; i++) {
        self->data[self->len++] = hex[data[i] >> 4];
        self->data[self->len++] = hex[data[i] & 15];
    }
    self->data[self->len++] = '"';
}

void
kn_pgarray_add_int (kn_pgarray_t *self, long long value)
{
    char text[24];
    int len = snprintf (text, sizeof text, "%lld", value);
    s_separator (self);
    s_put (self, text, (size_t)len);
}

const char *
kn_pgarray_text (kn_pgarray_t *self)
{
    s_reserve (self, 0);
    self->data[self->len] = '}';
    self->data[self->len + 1] = '\0';
    return self->data;
}

size_t
kn_pgarray_size (const kn_pgarray_t *self)
{
    return self->count;
}

void
kn_pgarray_columns (kn_pgarray_t **columns, size_t n)
{
    assert (n <= KN_PGARRAY_MAX_COLUMNS);
    for (size_t c = 0; c < n; c++)
        columns[c] = kn_pgarray_new ();
}

//  The columns' texts as statement parameters; the columns go when it has run.
static void
s_values (kn_pgarray_t **columns, size_t n, const char **values)
{
    assert (n <= KN_PGARRAY_MAX_COLUMNS);
    for (size_t c = 0; c < n; c++)
        values[c] = kn_pgarray_text (columns[c]);
}

static void
s_destroy (kn_pgarray_t **columns, size_t n)
{
    for (size_t c = 0; c < n; c++)
        kn_pgarray_destroy (&columns[c]);
}

PGresult *
kn_pgarray_run (kn_db_t *db, const char *name, kn_pgarray_t **columns, size_t n,
                kn_error_t *err)
{
    const char *values[KN_PGARRAY_MAX_COLUMNS] = {NULL};
    s_values (columns, n, values);
    PGresult *result = kn_db_run (db, name, (int)n, values, NULL, NULL, err);
    s_destroy (columns, n);
    return result;
}

int
kn_pgarray_exec (kn_db_t *db, const char *name, kn_pgarray_t **columns, size_t n,
                 kn_error_t *err)
{
    const char *values[KN_PGARRAY_MAX_COLUMNS] = {NULL};
    s_values (columns, n, values);
    int rc = kn_db_do (db, name, (int)n, values, -1, err);
    s_destroy (columns, n);
    return rc;
}

int
kn_pgarray_defer_read (kn_db_t *db, const char *name, kn_pgarray_t **columns, size_t n,
                       PGresult **answer, kn_error_t *err)
{
    const char *values[KN_PGARRAY_MAX_COLUMNS] = {NULL};
    s_values (columns, n, values);
    int rc = kn_db_defer_read (db, name, (int)n, values, answer, err);
    s_destroy (columns, n);
    return rc;
}
