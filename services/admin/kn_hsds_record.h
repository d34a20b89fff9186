/*  kn_hsds_record: reading the members of one HSDS 3.0 record into what Kinnet
    uses, for kn_hsds (which walks documents and puts records together).

    The one idea: each member is checked where it is read, and the first wrong
    one stops the read with its path in err->field; a member that is well formed
    but means nothing to Kinnet (a term the mapping lacks) is only noted in
    "ignored". Records are named in messages by their organization's id when it
    is known. Internal to the reader: kn_hsds.h is the interface. */
#ifndef KN_HSDS_RECORD_H_INCLUDED
#define KN_HSDS_RECORD_H_INCLUDED

#include <czmq.h>
#include <jansson.h>
#include <stdbool.h>

#include "kn_hsds.h"

//  What every record reader needs.
typedef struct {
    const kn_directory_mapping_t *mapping;
    zhashx_t *district_names; // folded core.district code or name -> code
    json_t *ignored;          // [{"path", "organization_id", "reason"}]
    zhashx_t *reasons;        // "organization id\x1freason" of every ignored entry
    bool again;               // reading a record given before: report each reason once
    kn_error_t *err;
} kn_hsds_reader_t;

//  One appearance of a service: its status and what it offers.
typedef struct {
    const char *id, *name; // borrowed from the JSON
    bool active;           // status "active", any case
    kn_hsds_offer_t offer; // kn_hsds_offer_init'ed by the caller
} kn_hsds_service_t;

//  A record's path into out, 128 bytes like kn_error_t's field: deeper paths are
//  cut, which still names the record.
void kn_hsds_path (char out[128], const char *fmt, ...)
    __attribute__ ((format (printf, 2, 3)));

//  An error about the record at path (organization org_id when known). Returns -1.
int kn_hsds_invalid (kn_hsds_reader_t *self, const char *org_id, const char *path,
                     const char *fmt, ...) __attribute__ ((format (printf, 4, 5)));

//  A part read but not used, for the report.
void kn_hsds_ignore (kn_hsds_reader_t *self, const char *org_id, const char *path,
                     const char *fmt, ...) __attribute__ ((format (printf, 4, 5)));

//  What a JSON value is, for "must be a string (found a number)".
const char *kn_hsds_found (json_t *value);

//  Member name of object: NULL when absent or null (HSDS APIs send null for
//  optional fields they do not have).
json_t *kn_hsds_member (json_t *object, const char *name);

//  Optional string member: 0 with *out NULL when absent, -1 on a wrong type.
int kn_hsds_string (kn_hsds_reader_t *self, const char *org_id, json_t *object,
                    const char *path, const char *name, const char **out);

//  Required text member of 1 to max bytes without control characters.
int kn_hsds_required (kn_hsds_reader_t *self, const char *org_id, json_t *object,
                      const char *path, const char *name, size_t max, const char **out);

//  Optional array member: NULL when absent, -1 on a wrong type.
int kn_hsds_array (kn_hsds_reader_t *self, const char *org_id, json_t *object,
                   const char *path, const char *name, json_t **out);

//  attributes[].taxonomy_term and taxonomy_terms[] of object: needs and
//  interpreters (either may be NULL: not asked) and the sector (the first sector
//  term decides; sector may be NULL).
int kn_hsds_terms (kn_hsds_reader_t *self, const char *org_id, json_t *object,
                   const char *path, kn_directory_needs_t *needs, bool *interpreters,
                   char *sector);

//  A service record's own members (id, name, status, terms, service areas, those
//  of its service_at_locations, languages, capacities, interpretation_services)
//  into out; sector as for kn_hsds_terms.
int kn_hsds_service_read (kn_hsds_reader_t *self, const char *org_id, char *sector,
                          json_t *service, const char *path, kn_hsds_service_t *out);

//  A service_at_location's own service_areas and attributes into offer (its
//  location is not read: an address is where a service is given, not whom it
//  serves).
int kn_hsds_at_location_read (kn_hsds_reader_t *self, const char *org_id, char *sector,
                              json_t *at_location, const char *path,
                              kn_hsds_offer_t *offer);


#endif
