/*  kn_directory_diff: an agency's change as the import report shows it.

    Sets arrive sorted (kn_directory_import sorts them), so a merge walk would do,
    but the sets are small (tens of items) and a membership test reads plainer. */
#include "kn_directory_diff.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <protobuf-c/protobuf-c.h>

#include "kinnet/v1/common.pb-c.h"

//  A NeedCategory value (decimal text) by its name in lower case, as the mapping
//  spells needs.
static json_t *
s_item (const char *field, const char *value)
{
    if (strcmp (field, "needs"))
        return json_string (value);
    const ProtobufCEnumValue *found = protobuf_c_enum_descriptor_get_value (
        &kinnet__v1__need_category__descriptor, atoi (value));
    char name[48];
    snprintf (name, sizeof name, "%s", found ? found->name : value);
    for (char *c = name; *c; c++)
        *c = (char)tolower ((unsigned char)*c);
    return json_string (name);
}

static bool
s_has (zlistx_t *list, const char *value)
{
    for (const char *item = zlistx_first (list); item; item = zlistx_next (list))
        if (streq (item, value))
            return true;
    return false;
}

//  The items of from not in other, appended to out; every item when other is NULL.
static void
s_minus (const char *field, zlistx_t *from, zlistx_t *other, json_t *out)
{
    //  Walk a copy: s_has moves other's cursor, and from may be other.
    zlistx_t *walk = zlistx_dup (from);
    if (!walk)
        abort (); // out of memory: nothing sensible to answer
    for (const char *item = zlistx_first (walk); item; item = zlistx_next (walk))
        if (!other || !s_has (other, item))
            json_array_append_new (out, s_item (field, item));
    zlistx_destroy (&walk);
}

json_t *
kn_directory_diff_set (const char *field, zlistx_t *before, zlistx_t *after)
{
    json_t *change = json_pack ("{s:s,s:[],s:[],s:[],s:[]}", "field", field, "added",
                                "removed", "before", "after");
    if (!change)
        abort (); // out of memory: nothing sensible to answer
    s_minus (field, after, before, json_object_get (change, "added"));
    s_minus (field, before, after, json_object_get (change, "removed"));
    if (json_array_size (json_object_get (change, "added")) == 0 &&
        json_array_size (json_object_get (change, "removed")) == 0) {
        json_decref (change);
        return NULL;
    }
    s_minus (field, before, NULL, json_object_get (change, "before"));
    s_minus (field, after, NULL, json_object_get (change, "after"));
    return change;
}

json_t *
kn_directory_diff_value (const char *field, const char *before, const char *after)
{
    json_t *change =
        json_pack ("{s:s,s:s,s:s}", "field", field, "before", before, "after", after);
    if (!change)
        abort (); // out of memory: nothing sensible to answer
    return change;
}

bool
kn_directory_diff_removes (bool accepting_before, bool accepting_after,
                           const json_t *needs)
{
    if (!accepting_before)
        return false;
    return !accepting_after || json_array_size (json_object_get (needs, "removed")) > 0;
}

void
kn_directory_diff_text (bool accepting_before, bool accepting_after, const json_t *needs,
                        char *out, size_t size)
{
    size_t used = 0;
    *out = '\0';
    size_t index;
    json_t *need;
    json_array_foreach (json_object_get (needs, "removed"), index, need) if (used < size)
        used += (size_t)snprintf (out + used, size - used, "%s-%s",
                                  index ? " " : "needs ", json_string_value (need));
    if (accepting_before && !accepting_after && used < size)
        snprintf (out + used, size - used, "%sstops accepting", used ? ", " : "");
}
