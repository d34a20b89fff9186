/*  Fuzz target: HSDS 3.0 documents as the admin service's import_directory
    receives them (kn_hsds_parse_all, pure: no database): the input is cut at each
    0x1e byte (ASCII record separator) into up to 8 documents read as one
    directory, so records put together across documents are fuzzed too. Read with
    the built-in mapping, once knowing no districts and once knowing two; every
    organization and what it offers is walked, then everything is destroyed. */
#include <jansson.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "kn_hsds.h"

int LLVMFuzzerTestOneInput (const uint8_t *data, size_t size);

static const kn_hsds_district_t s_districts[] = {
    {"north", "North Riverside"},
    {"harbour", NULL},
};

static size_t
s_walk_offer (const kn_hsds_offer_t *offer)
{
    size_t sum = offer->has_capacity ? (size_t) offer->capacity : 0;
    for (const char *code = zlistx_first (offer->districts); code;
         code = zlistx_next (offer->districts))
        sum += code[0];
    for (const char *code = zlistx_first (offer->languages); code;
         code = zlistx_next (offer->languages))
        sum += code[0];
    return sum + offer->interpreters + !kn_directory_needs_empty (&offer->needs);
}

#define DOCUMENTS_MAX 8

static void
s_parse (const char *const *texts, const size_t *lens, size_t documents,
         const kn_directory_mapping_t *mapping, const kn_hsds_district_t *districts,
         size_t count)
{
    kn_error_t err;
    kn_hsds_t *hsds
        = kn_hsds_parse_all (texts, lens, documents, mapping, districts, count, &err);
    if (!hsds) {
        //  An error names a path, of one document when there are several.
        if (documents > 1 && strncmp (err.field, "hsds[", 5) != 0)
            __builtin_trap ();
        return;
    }
    volatile size_t sink = 0;
    for (size_t i = 0; i < kn_hsds_size (hsds); i++) {
        const kn_hsds_org_t *org = kn_hsds_get (hsds, i);
        if (kn_hsds_find (hsds, org->id) == NULL)
            __builtin_trap ();   //  every organization is found by its id
        sink += org->name[0] + org->path[0] + org->sector[0];
        sink += s_walk_offer (&org->active) + s_walk_offer (&org->mapped);
        sink += s_walk_offer (kn_hsds_offer (org));
    }
    char *ignored = json_dumps (kn_hsds_ignored (hsds), JSON_COMPACT);
    free (ignored);
    kn_hsds_destroy (&hsds);
    (void) sink;
}

int
LLVMFuzzerTestOneInput (const uint8_t *data, size_t size)
{
    //  The built-in mapping is read once: it is the same for every input, and
    //  reading it each time cost most of each execution (about 800 a second).
    //  Reachable from here until exit, so LeakSanitizer does not count it.
    static kn_directory_mapping_t *mapping;
    if (!mapping) {
        kn_error_t err;
        mapping = kn_directory_mapping_new (NULL, &err);
        if (!mapping)
            __builtin_trap ();   //  the built-in mapping always loads
    }
    const char *texts[DOCUMENTS_MAX];
    size_t lens[DOCUMENTS_MAX], documents = 0;
    const char *at = data ? (const char *) data : "", *end = at + size;
    while (documents < DOCUMENTS_MAX) {
        const char *cut = documents + 1 < DOCUMENTS_MAX ? memchr (at, 0x1e, (size_t) (end - at))
                                                        : NULL;
        texts[documents] = at;
        lens[documents++] = (size_t) ((cut ? cut : end) - at);
        if (!cut)
            break;
        at = cut + 1;
    }
    s_parse (texts, lens, documents, mapping, NULL, 0);
    s_parse (texts, lens, documents, mapping, s_districts,
             sizeof s_districts / sizeof s_districts[0]);
    return 0;
}
