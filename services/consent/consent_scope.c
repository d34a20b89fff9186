/*  consent_scope: a grant's scope (recipient agencies and sectors, data categories,
    purposes) between the message and the database. A scope is stored as four
    Postgres arrays; it goes in as array literals, comes back parsed from their
    text form, and every agency it names must be registered. */
#include "consent_store_int.h"
#include "kn_alloc.h"

static const char *s_statements[][2] = {
    {"agencies_exist", "SELECT count (*) FROM core.agency WHERE id = ANY ($1::uuid[])"},
};

int
consent_scope_prepare (kn_db_t *db, kn_error_t *err)
{
    return kn_db_prepare_all (db, s_statements, sizeof s_statements / sizeof s_statements[0],
                              err);
}

//  Postgres array literal {a,b} of ints or of (validated) uuids.
static void
s_int_array (char *out, size_t size, const int *values, size_t n)
{
    size_t pos = (size_t)snprintf (out, size, "{");
    for (size_t i = 0; i < n && pos < size; i++)
        pos += (size_t)snprintf (out + pos, size - pos, "%s%d", i ? "," : "", values[i]);
    snprintf (out + pos, size > pos ? size - pos : 0, "}");
}

static void
s_uuid_array (char *out, size_t size, char *const *values, size_t n)
{
    size_t pos = (size_t)snprintf (out, size, "{");
    for (size_t i = 0; i < n && pos < size; i++)
        pos += (size_t)snprintf (out + pos, size - pos, "%s%s", i ? "," : "", values[i]);
    snprintf (out + pos, size > pos ? size - pos : 0, "}");
}

void
consent_scope_text (const Kinnet__V1__Scope *scope, scope_text_t *out)
{
    static const Kinnet__V1__Scope empty = KINNET__V1__SCOPE__INIT;
    if (!scope)
        scope = &empty;
    s_uuid_array (out->agencies, sizeof out->agencies, scope->agencies,
                  scope->n_agencies);
    s_int_array (out->sectors, sizeof out->sectors, (const int *)scope->sectors,
                 scope->n_sectors);
    s_int_array (out->categories, sizeof out->categories, (const int *)scope->categories,
                 scope->n_categories);
    s_int_array (out->purposes, sizeof out->purposes, (const int *)scope->purposes,
                 scope->n_purposes);
}

//  Parse a Postgres array literal {a,b,c} (no quoting needed for uuids and ints).
static size_t
s_split (const char *text, char items[][40], size_t max)
{
    size_t n = 0;
    const char *p = text && *text == '{' ? text + 1 : "";
    while (*p && *p != '}' && n < max) {
        size_t len = strcspn (p, ",}");
        snprintf (items[n++], 40, "%.*s", (int)len, p);
        p += len;
        if (*p == ',')
            p++;
    }
    return n;
}

Kinnet__V1__Scope *
consent_scope_from (const char *agencies, const char *sectors, const char *categories,
                    const char *purposes)
{
    Kinnet__V1__Scope *scope = kn_malloc (sizeof *scope);
    kinnet__v1__scope__init (scope);
    char items[64][40];
    size_t n = s_split (agencies, items, 64);
    scope->agencies = kn_malloc ((n ? n : 1) * sizeof (char *));
    for (size_t i = 0; i < n; i++)
        scope->agencies[i] = kn_strdup (items[i]);
    scope->n_agencies = n;
    const char *lists[] = {sectors, categories, purposes};
    int **targets[] = {(int **)&scope->sectors, (int **)&scope->categories,
                       (int **)&scope->purposes};
    size_t *counts[] = {&scope->n_sectors, &scope->n_categories, &scope->n_purposes};
    for (int k = 0; k < 3; k++) {
        n = s_split (lists[k], items, 64);
        *targets[k] = malloc ((n ? n : 1) * sizeof (int));
        for (size_t i = 0; i < n; i++)
            (*targets[k])[i] = atoi (items[i]);
        *counts[k] = n;
    }
    return scope;
}

//  Every named recipient agency must exist.
int
consent_agencies_exist (consent_store_t *self, const Kinnet__V1__Scope *scope,
                        kn_error_t *err)
{
    if (!scope || scope->n_agencies == 0)
        return 0;
    char array[2048];
    s_uuid_array (array, sizeof array, scope->agencies, scope->n_agencies);
    const char *values[] = {array};
    PGresult *result = kn_db_run (self->db, "agencies_exist", 1, values, NULL, NULL, err);
    if (!result)
        return -1;
    size_t found = (size_t)atol (PQgetvalue (result, 0, 0));
    PQclear (result);
    //  Duplicates in the list count once in the database.
    size_t distinct = 0;
    for (size_t i = 0; i < scope->n_agencies; i++) {
        bool seen = false;
        for (size_t k = 0; k < i && !seen; k++)
            seen = strcasecmp (scope->agencies[i], scope->agencies[k]) == 0;
        distinct += !seen;
    }
    return found == distinct ? 0
                             : kn_error_set (err, KN_E_INVALID_ARGUMENT, "scope.agencies",
                                             "a recipient agency is not registered");
}
