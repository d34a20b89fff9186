/*  What the HSDS reader's table suites (test_hsds.c, test_hsds_shapes.c) read back
    from a kn_hsds_t and an error: the ignored records' paths on one line, and the
    check that a case the reader must refuse names its field and says why. Each
    suite keeps its own one-line summary of an organization, since the two tables
    state different things about it. */
#ifndef HSDS_TABLE_H_INCLUDED
#define HSDS_TABLE_H_INCLUDED

#include <criterion/criterion.h>
#include <jansson.h>
#include <stdio.h>
#include <string.h>

#include "kn_hsds.h"

static __attribute__ ((unused)) void
s_append (char *out, size_t size, const char *text)
{
    size_t len = strlen (out);
    snprintf (out + len, size - len, "%s", text);
}

//  The ignored records' paths, "|" between them.
static __attribute__ ((unused)) void
s_ignored (const kn_hsds_t *hsds, char *out, size_t size)
{
    *out = '\0';
    size_t index;
    json_t *item;
    json_array_foreach (kn_hsds_ignored (hsds), index, item)
    {
        if (index)
            s_append (out, size, "|");
        s_append (out, size, json_string_value (json_object_get (item, "path")));
    }
}

//  Case name's document was refused as invalid, at field, with message in the words.
static __attribute__ ((unused)) void
s_expect_refused (const char *name, const kn_hsds_t *hsds, const kn_error_t *err,
                  const char *field, const char *message)
{
    cr_expect_null (hsds, "case \"%s\": read, but should fail", name);
    cr_expect_eq (err->code, KN_E_INVALID_ARGUMENT, "case \"%s\"", name);
    cr_expect_str_eq (err->field, field, "case \"%s\": %s", name, err->message);
    cr_expect (strstr (err->message, message), "case \"%s\": message '%s' lacks '%s'",
               name, err->message, message);
}

#endif
