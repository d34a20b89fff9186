/*  kn_hsds_shape: what an HSDS 3.0 JSON value is, told by its members.

    The one idea: a document or a record says what it is by the members it has,
    never by where it stands or by the record before it. HSDS 3.0 publishes the
    three records Kinnet reads (organization, service, service_at_location) alone
    (the API's /organizations/{id}, /services/{id}, /service_at_locations/{id}),
    in arrays, and in API list pages ({"contents": [...], "total_items": …});
    Kinnet also takes {"organizations": [...], "services": [...]}. A record of
    another kind (a taxonomy term, a location) or with members of two kinds is
    told apart too, so the error can say what was found and what is accepted.
    Pure: no state, no allocation. docs/directory.md lists the members. */
#ifndef KN_HSDS_SHAPE_H_INCLUDED
#define KN_HSDS_SHAPE_H_INCLUDED

#include <jansson.h>
#include <stddef.h>

//  The records Kinnet reads.
typedef enum {
    KN_HSDS_UNKNOWN = 0, // none Kinnet reads, or members of two kinds
    KN_HSDS_ORGANIZATION,
    KN_HSDS_SERVICE,
    KN_HSDS_SERVICE_AT_LOCATION,
} kn_hsds_kind_t;

//  The documents Kinnet reads.
typedef enum {
    KN_HSDS_DOC_UNKNOWN = 0,
    KN_HSDS_DOC_RECORD, // one record: an object with "id"
    KN_HSDS_DOC_ARRAY,  // records, each told by its own members
    KN_HSDS_DOC_PAGE,   // an API list page: "contents" (and total_items, page_number…)
    KN_HSDS_DOC_BUNDLE, // "organizations" and/or "services" arrays
} kn_hsds_document_t;

//  What root is. KN_HSDS_DOC_UNKNOWN with why: a sentence naming what was found
//  and the shapes accepted (fits a kn_error_t message).
kn_hsds_document_t kn_hsds_shape_document (json_t *root, char *why, size_t size);

//  What record is. KN_HSDS_UNKNOWN with why: what it looks like, the members
//  that say so, and the records accepted. A record with no member that marks a
//  kind is an organization: its required members (id, name, description) are
//  the ones every kind has.
kn_hsds_kind_t kn_hsds_shape_record (json_t *record, char *why, size_t size);

//  "organization", "service", "service_at_location"; "record" for unknown.
const char *kn_hsds_kind_name (kn_hsds_kind_t kind);

//  "organizations", "services", "service_at_locations": a top-level array's
//  records are named by their kind and place, e.g. "services[3]".
const char *kn_hsds_kind_plural (kn_hsds_kind_t kind);

#endif
