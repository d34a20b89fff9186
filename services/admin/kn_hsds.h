/*  kn_hsds: reading Open Referral HSDS 3.0 JSON into the organizations it
    describes, in Kinnet's vocabulary.

    The one idea: reading is a pure function of (JSON documents, mapping, the
    districts Kinnet knows). It touches no database, so what a directory means can
    be tested without one, and the import (kn_directory_import) only compares and
    writes. Every shape HSDS 3.0 publishes is read: an organization, a service or a
    service_at_location alone, arrays of them, API list pages, each record told by
    its members (kn_hsds_shape). Several documents (the pages of an export) read as
    one directory: records are put together by id wherever they appear. All of it
    is read and checked before anything is returned: one wrong record is
    KN_E_INVALID_ARGUMENT with err->field its path, e.g.
    "organizations[3].services[1].service_areas[0]" or, with several documents,
    "hsds[2].contents[4].organization", and no organizations at all. What the
    reader can read but does not use (a term the mapping lacks, a service area with
    no district) is kept as "ignored" for the report. docs/directory.md describes
    every rule. */
#ifndef KN_HSDS_H_INCLUDED
#define KN_HSDS_H_INCLUDED

#include <czmq.h>
#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "kn_directory_mapping.h"
#include "kn_error.h"

//  What a set of services offers.
typedef struct {
    kn_directory_needs_t needs;
    zlistx_t *districts; // district codes, file order, no duplicates
    zlistx_t *languages; // primary subtags (kn_language_primary), file order, unique
    bool interpreters;
    bool has_capacity; // false: no counted unit with a maximum, so no limit
    int64_t capacity;  // the sum of maxima in units the mapping counts
} kn_hsds_offer_t;

//  An empty offer (lists made), and its release.
void kn_hsds_offer_init (kn_hsds_offer_t *self);
void kn_hsds_offer_fini (kn_hsds_offer_t *self);

//  Add other's needs, districts, languages and interpreters to self. Capacity:
//  summed (sum true: two services) or the larger (two copies of one service).
void kn_hsds_offer_merge (kn_hsds_offer_t *self, const kn_hsds_offer_t *other, bool sum);

//  One service of an organization as the documents describe it (the union of its
//  appearances). One that maps to no need is listed too: an import then knows the
//  service still exists and now offers nothing.
typedef struct {
    char *id;
    bool active;
    kn_hsds_offer_t offer;
} kn_hsds_service_entry_t;

//  Free the entry *item points to and null it: the destructor of a zlistx_t of
//  entries, the reader's and the stored services' alike.
void kn_hsds_service_entry_destroy (void **item);

//  One HSDS organization as the documents describe it.
typedef struct {
    char *id;
    char *name;
    char path[128];         // where it first appears, for errors
    char sector[40];        // from the mapping or a sector term; "" when unknown
    kn_hsds_offer_t active; // from its active services that map to a need
    kn_hsds_offer_t mapped; // from all its services that map to a need
    int active_count, mapped_count;
    zlistx_t *services; // kn_hsds_service_entry_t *, order of first appearance
    bool authoritative; // its own record lists "services": those are all it has
} kn_hsds_org_t;

//  A district Kinnet knows (core.district): service areas may name it by code or
//  by name when the mapping does not mention them.
typedef struct {
    const char *code;
    const char *name; // NULL when it has none
} kn_hsds_district_t;

//  The organizations of one or more documents, in order of first appearance.
typedef struct _kn_hsds_t kn_hsds_t;

//  Read len bytes of JSON text, one document in any shape docs/directory.md
//  lists. districts (count of them, in the order whose first wins a name two
//  share) may be NULL. Returns the organizations (caller destroys), or NULL with
//  err (err->field "file" when the text is not JSON).
kn_hsds_t *kn_hsds_parse (const char *text, size_t len,
                          const kn_directory_mapping_t *mapping,
                          const kn_hsds_district_t *districts, size_t count,
                          kn_error_t *err);

//  The same for several documents read as one directory (texts[i] of lens[i]
//  bytes, count of them). With more than one, every path starts "hsds[i]", the
//  document's index: an error's field, an ignored record's path, an
//  organization's path.
kn_hsds_t *kn_hsds_parse_all (const char *const *texts, const size_t *lens, size_t count,
                              const kn_directory_mapping_t *mapping,
                              const kn_hsds_district_t *districts, size_t district_count,
                              kn_error_t *err);

//  The same from the file at path (err->field "file" when it cannot be read).
kn_hsds_t *kn_hsds_load (const char *path, const kn_directory_mapping_t *mapping,
                         const kn_hsds_district_t *districts, size_t count,
                         kn_error_t *err);

void kn_hsds_destroy (kn_hsds_t **self_p);

//  Organizations in document order (the first time each id appears).
size_t kn_hsds_size (const kn_hsds_t *self);
const kn_hsds_org_t *kn_hsds_get (const kn_hsds_t *self, size_t index);

//  The organization with this HSDS id, or NULL.
const kn_hsds_org_t *kn_hsds_find (const kn_hsds_t *self, const char *id);

//  What was read but not used: [{"path", "organization_id" (when known),
//  "reason"}]. Owned by self.
json_t *kn_hsds_ignored (const kn_hsds_t *self);

//  Whether the documents are provably the whole directory, as --prune needs:
//  none is an API list page, or the pages are every page_number from 1 to a
//  total_pages they all give, each once, with the same total_items. false with
//  why (e.g. "pages 2, 5 of 7 are missing") otherwise.
bool kn_hsds_whole (const kn_hsds_t *self, char *why, size_t size);

//  How many of the documents are API list pages (whole or not).
int kn_hsds_pages (const kn_hsds_t *self);

//  What describes org: its active services that map to a need; when none of those
//  is active, all its services that do (and the organization accepts nobody).
const kn_hsds_offer_t *kn_hsds_offer (const kn_hsds_org_t *org);

#endif
