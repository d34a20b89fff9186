/*  kn_directory_export: the directory as Open Referral HSDS 3.0 JSON, in the shape
    the import reads back to the same directory with its built-in mapping.

    Each listed agency with a directory id is one organization with one service
    that says what routing reads about it: needs as taxonomy terms named by their
    NeedCategory, the sector as the organization's term, districts as service
    areas (home first), languages by code, interpreters as
    interpretation_services, capacity as a service_capacity in `cases`, accepting
    as the service's status. Nothing else leaves: no agency id, key, load or case.
    docs/directory.md (Export) gives every rule. */
#ifndef KN_DIRECTORY_EXPORT_H_INCLUDED
#define KN_DIRECTORY_EXPORT_H_INCLUDED

#include <jansson.h>

#include "kn_db.h"
#include "kn_error.h"

//  The most bytes of one page's organizations (compact JSON): half the 1 MiB
//  message limit, so a page, its envelope and the reply's frames always fit.
#define KN_DIRECTORY_EXPORT_PAGE_BYTES (512 * 1024)

//  The most organizations on one page.
#define KN_DIRECTORY_EXPORT_PAGE_SIZE 500

//  The HSDS organizations of a directory listing (kn_directory_show's array, not
//  taken), by name: only active, listed agencies with a directory id. updated is
//  the services' capacity timestamp (RFC 3339). Returns a new array.
json_t *kn_directory_export_organizations (json_t *listing, const char *updated);

//  Page (from 1) of organizations (not taken) as an HSDS API list page; pages are
//  cut in order, each at most page_bytes of organizations and
//  KN_DIRECTORY_EXPORT_PAGE_SIZE of them. NULL with KN_E_NOT_FOUND (field page)
//  past the last page, KN_E_TOO_LARGE when one organization alone is over
//  page_bytes.
json_t *kn_directory_export_page (json_t *organizations, int page, size_t page_bytes,
                                  kn_error_t *err);

//  Page (from 1) of the directory in db, exported now.
json_t *kn_directory_export (kn_db_t *db, int page, kn_error_t *err);

#endif
