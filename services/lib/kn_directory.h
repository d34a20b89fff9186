/*  kn_directory: the agency directory routing reads (what each agency offers, where,
    in which languages, with what capacity) and its import from Open Referral HSDS 3.0
    JSON. Administrators drive it through `kinnet admin directory ...`.

    The one idea: an import is a pure function of (file, mapping, current rows). The
    whole file is parsed and checked before anything is written, then applied in one
    transaction that writes only what differs, so importing the same file twice
    changes nothing the second time and a bad file changes nothing at all. Agencies
    whose directory_id matches an HSDS organization id belong to the directory: an
    import replaces their needs, districts and languages with what the file says.
    docs/directory.md describes the mapping and every rule. */
#ifndef KN_DIRECTORY_H_INCLUDED
#define KN_DIRECTORY_H_INCLUDED

#include <jansson.h>
#include <stdbool.h>

#include "kn_db.h"
#include "kn_error.h"

//  How HSDS vocabulary becomes Kinnet's: taxonomy terms to needs and sectors, service
//  areas to districts, units that count towards capacity, links to existing agencies.
typedef struct _kn_directory_mapping_t kn_directory_mapping_t;

//  Load a mapping file (JSON, docs/directory.md); path NULL: the built-in default.
//  Errors name the offending member, e.g. field "mapping.needs.Counselling".
kn_directory_mapping_t *kn_directory_mapping_new (const char *path, kn_error_t *err);

//  The same from JSON text (tests, embedded defaults).
kn_directory_mapping_t *kn_directory_mapping_parse (const char *text, kn_error_t *err);

void kn_directory_mapping_destroy (kn_directory_mapping_t **self_p);

//  Import an HSDS file: a JSON array of organizations (each with "services"), a JSON
//  array of services (each with "organization"), or an object with "organizations"
//  and/or "services" arrays. One transaction; with dry_run it is rolled back, so the
//  report says what an import would do. Returns the report (caller json_decref's):
//    {"dry_run": b, "agencies": [{"directory_id", "agency_id", "name",
//     "result": "added"|"linked"|"changed"|"unchanged", "changes": [field, ...]}],
//     "ignored": [{"path", "organization_id", "reason"}], "not_in_file": [id, ...],
//     "totals": {"added", "linked", "changed", "unchanged", "ignored"}}
//  A malformed file is KN_E_INVALID_ARGUMENT with err->field the path of the record,
//  e.g. "organizations[3].services[1].service_areas[0]"; nothing is written.
json_t *kn_directory_import (kn_db_t *db, const char *path,
                             const kn_directory_mapping_t *mapping, bool dry_run,
                             kn_error_t *err);

//  Agencies with their directory data, by name; agency NULL: all, otherwise one
//  agency by id or by directory id (KN_E_NOT_FOUND when there is none). Returns a
//  JSON array (caller json_decref's) of {"agency_id", "name", "sector", "district",
//  "directory_id" (null when not imported), "active", "accepting", "capacity" (null:
//  no limit), "load" (open offers and accepted involvements), "interpreters",
//  "needs", "districts" (home district first), "languages"}.
json_t *kn_directory_show (kn_db_t *db, const char *agency, kn_error_t *err);

//  A manual change; KN_DIRECTORY_KEEP leaves a field as it is. It lasts until the
//  next import of a directory agency.
#define KN_DIRECTORY_KEEP     (-2)
#define KN_DIRECTORY_NO_LIMIT (-1)
typedef struct {
    int accepting;    // 0, 1 or KN_DIRECTORY_KEEP
    int interpreters; // 0, 1 or KN_DIRECTORY_KEEP
    int capacity;     // >= 0, KN_DIRECTORY_NO_LIMIT or KN_DIRECTORY_KEEP
} kn_directory_change_t;

//  Apply change to agency_id. Returns {"agency_id", "changes": [field, ...]} (caller
//  json_decref's); "changes" is empty when the values were already so.
json_t *kn_directory_set (kn_db_t *db, const char *agency_id,
                          const kn_directory_change_t *change, kn_error_t *err);

//  Create or change a district. name NULL keeps the name; lead NULL keeps the
//  child-protection lead, "" clears it, otherwise an active agency's id. Returns
//  {"code", "result": "added"|"changed"|"unchanged", "changes": [...]}.
json_t *kn_directory_district_set (kn_db_t *db, const char *code, const char *name,
                                   const char *lead, kn_error_t *err);

//  Districts by code: [{"code", "name", "child_protection_lead", "lead_name",
//  "agencies" (active agencies serving it)}].
json_t *kn_directory_district_list (kn_db_t *db, kn_error_t *err);


#endif
