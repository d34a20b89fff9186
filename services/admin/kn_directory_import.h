/*  kn_directory_import: writing what HSDS documents say (kn_hsds) into the agency
    directory routing reads. Administrators run it through the admin service
   (admin_directory).

    The one idea: an import is a pure function of (documents, mapping, current
    rows). The whole directory is read and checked before anything is written, then
    applied in one transaction that writes only what differs, so importing the same
    file twice changes nothing the second time (not even agency row versions) and a
    bad file changes nothing at all. Agencies whose directory_id matches an HSDS
    organization id belong to the directory. Each service read is stored
    (kn_directory_services) and an agency is recomputed from all its stored
    services, so one page never takes away what other pages hold; only the
    organization's own record listing its services, or prune, removes services, and a change that would take a need or acceptance from
    routing is refused unless prune is given. docs/directory.md describes every
    rule. */
#ifndef KN_DIRECTORY_IMPORT_H_INCLUDED
#define KN_DIRECTORY_IMPORT_H_INCLUDED

#include <jansson.h>
#include <stdbool.h>

#include "kn_db.h"
#include "kn_directory_mapping.h"
#include "kn_error.h"

//  What an import may take away.
typedef enum {
    KN_DIRECTORY_ADD_ONLY = 0, // adds and changes; a removal refuses the import
    //  Removals are allowed for the agencies the documents name (a lost need, an
    //  agency that stops accepting; their services the documents do not list are
    //  removed). The directory agencies they do not name are withdrawn only when
    //  API list pages prove the documents whole.
    KN_DIRECTORY_PRUNE = 1,
    //  The same, and the administrator says the documents are the whole directory:
    //  the directory agencies they do not name are withdrawn.
    KN_DIRECTORY_PRUNE_WHOLE = 2
} kn_directory_prune_t;

//  Import the HSDS file at path (the shapes kn_hsds_parse reads). One transaction;
//  with dry_run it is rolled back, so the report says what an import would do.
//  prune (kn_directory_prune_t): pages that are not all there (kn_hsds_whole) are
//  KN_E_CONFLICT with err->field "prune" for any prune. Without prune, an import
//  that would take a need or acceptance from an accepting agency is KN_E_CONFLICT
//  with err->field "prune" (a dry run reports it: "needs_prune"). "whole" in the
//  report: the agencies the documents do not name were withdrawn (prune with
//  KN_DIRECTORY_PRUNE_WHOLE, or every page of an export).
//  Returns the report (caller json_decref's):
//    {"dry_run": b, "prune": b, "whole": b, "needs_prune": b,
//     "agencies": [{"directory_id", "agency_id", "name",
//     "result": "added"|"linked"|"changed"|"unchanged"|"withdrawn",
//     "changes": [field, ...], "values": [{"field", "before", "after"}],
//     "sets": [{"field", "added", "removed", "before", "after"}],
//     "services_added", "services_changed", "services_removed": [id, ...],
//     "needs_prune": b}],
//     "ignored": [{"path", "organization_id", "reason"}], "not_in_file": [id, ...],
//     "totals": {"added", "linked", "changed", "unchanged", "withdrawn", "ignored"}}
//  A malformed file is KN_E_INVALID_ARGUMENT with err->field the path of the record,
//  e.g. "organizations[3].services[1].service_areas[0]"; nothing is written. A link
//  in the mapping that contradicts the directory is KN_E_CONFLICT or
//  KN_E_NOT_FOUND with err->field "mapping.organizations.ID.agency_id".
json_t *kn_directory_import (kn_db_t *db, const char *path,
                             const kn_directory_mapping_t *mapping, bool dry_run,
                             kn_directory_prune_t prune, kn_error_t *err);

//  The same from count HSDS documents (texts[i] of lens[i] bytes) read as one
//  directory (kn_hsds_parse_all: with several, paths start "hsds[i]"), in the
//  caller's open transaction (the admin service's write); a dry run undoes its
//  writes back to a savepoint, so the caller's transaction goes on either way. On
//  an error the caller rolls back.
json_t *kn_directory_import_texts (kn_db_t *db, const char *const *texts,
                                   const size_t *lens, size_t count,
                                   const kn_directory_mapping_t *mapping, bool dry_run,
                                   kn_directory_prune_t prune, kn_error_t *err);

#endif
