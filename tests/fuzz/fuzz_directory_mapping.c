/*  Fuzz target: a directory mapping as import_directory receives it (the mapping
    field of ImportDirectory, or a mapping file: kn_directory_mapping_parse), then
    every kind of lookup, then a small fixed HSDS document read with it, so what the
    mapping says is used the way an import uses it. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "kn_directory_mapping.h"
#include "kn_hsds.h"

int LLVMFuzzerTestOneInput (const uint8_t *data, size_t size);

static const char s_hsds[]
    = "[{\"id\": \"o2\", \"name\": \"Org o2\", \"services\": [{\"id\": \"s1\","
      " \"name\": \"Service s1\", \"status\": \"active\","
      " \"taxonomy_terms\": [{\"code\": \"HSG\"}, {\"code\": \"INT\"}],"
      " \"service_areas\": [{\"name\": \"North side\"}, {\"id\": \"area-9\"}],"
      " \"languages\": [{\"name\": \"Somali\"}],"
      " \"capacities\": [{\"available\": 4, \"unit\": {\"name\": \"places\"}}]}]}]";

//  Terms, areas, names and units the seed mappings know, and some they do not.
static const char *s_terms[] = {"HSG", " debt ADVICE ", "INT", "VCS", "North side", "City-wide",
                                "area-9", "Somali", "families", "o2", "", NULL};

int
LLVMFuzzerTestOneInput (const uint8_t *data, size_t size)
{
    char *text = malloc (size + 1);
    memcpy (text, data, size);
    text[size] = 0;
    kn_error_t err;
    kn_directory_mapping_t *mapping = kn_directory_mapping_parse (text, &err);
    free (text);
    if (!mapping)
        return 0;
    volatile size_t sink = 0;
    for (const char **term = s_terms; *term; term++) {
        sink += kn_directory_mapping_needs (mapping, *term) != NULL;
        sink += kn_directory_mapping_interpreting (mapping, *term);
        const char *sector = kn_directory_mapping_sector (mapping, *term);
        sink += sector ? strlen (sector) : 0;
        zlistx_t *districts = kn_directory_mapping_districts (mapping, *term);
        for (const char *code = districts ? zlistx_first (districts) : NULL; code;
             code = zlistx_next (districts))
            if (!kn_directory_district_code_ok (code))
                __builtin_trap ();   //  a mapping names only codes core.district takes
        const char *language = kn_directory_mapping_language (mapping, *term);
        sink += language ? strlen (language) : 0;
        sink += kn_directory_mapping_counts_unit (mapping, *term);
        const kn_directory_link_t *link = kn_directory_mapping_link (mapping, *term);
        sink += link ? strlen (link->agency_id) + strlen (link->sector) : 0;
    }
    sink += strlen (kn_directory_mapping_default_sector (mapping));
    sink += kn_directory_mapping_interpretation_field (mapping);
    kn_hsds_t *hsds = kn_hsds_parse (s_hsds, strlen (s_hsds), mapping, NULL, 0, &err);
    if (hsds)
        sink += kn_hsds_size (hsds);
    kn_hsds_destroy (&hsds);
    kn_directory_mapping_destroy (&mapping);
    (void) sink;
    return 0;
}
