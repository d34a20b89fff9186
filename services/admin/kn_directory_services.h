/*  kn_directory_services: the HSDS services an import has read, one row per
    service of a directory agency (core.agency_directory_service).

    The one idea: an agency's directory data is a function of all its stored
    services, so one page of an export adds to what the other pages said instead
    of replacing it. kn_directory_import decides what to keep; this class only
    reads and writes the rows, in the caller's transaction. */
#ifndef KN_DIRECTORY_SERVICES_H_INCLUDED
#define KN_DIRECTORY_SERVICES_H_INCLUDED

#include <czmq.h>

#include "kn_db.h"
#include "kn_error.h"
#include "kn_hsds.h"

//  The stored services of agency_id, by service id, appended to out as
//  kn_hsds_service_entry_t * (out's destructor frees them: set it with
//  kn_directory_services_list). 0 or -1 with err.
int kn_directory_services_read (kn_db_t *db, const char *agency_id, zlistx_t *out,
                                kn_error_t *err);

//  An empty list for kn_directory_services_read that owns its entries.
zlistx_t *kn_directory_services_list (void);

//  Store service as agency_id's, last read by import_id. *result: "added",
//  "changed" or "unchanged" (the stored facts were already so). 0 or -1.
int kn_directory_services_put (kn_db_t *db, const char *agency_id,
                               const kn_hsds_service_entry_t *service,
                               const char *import_id, const char **result,
                               kn_error_t *err);

//  What an organization offers: the services the documents give (org's own
//  offers), with those of stored that they do not name, unless replace (its own
//  record lists its services, or the import prunes): then those go, their ids in
//  out->removed. out is filled here; kn_directory_offer_fini releases it.
typedef struct {
    kn_hsds_offer_t active, mapped;
    int active_count, mapped_count;
    json_t *removed; // ids of the stored services that go
} kn_directory_offer_t;

int kn_directory_services_combine (const kn_hsds_org_t *org, zlistx_t *stored,
                                   bool replace, kn_directory_offer_t *out);

//  Release what combine filled; safe on a zeroed one.
void kn_directory_offer_fini (kn_directory_offer_t *self);

//  Remove agency_id's stored service service_id. 0 or -1.
int kn_directory_services_remove (kn_db_t *db, const char *agency_id,
                                  const char *service_id, kn_error_t *err);

//  Hand the directory organization of agency from to agency to, when from was
//  never a working agency: it has never held a key (it was created by an import)
//  or it is revoked, it has no open offer or accepted case, and it leads no
//  district. Then from is released (no directory id, not accepting, deactivated:
//  it only ever stood for the organization) and its stored services become to's.
//  Nothing of from's keys, roles or cases goes to to. 1 moved, 0 refused (from is
//  a working agency), -1 with err.
int kn_directory_services_relink (kn_db_t *db, const char *from, const char *to,
                                  kn_error_t *err);

//  An HSDS organization id, with its terminating null (the reader takes 1-200 bytes).
#define KN_DIRECTORY_ID_MAX 256

//  Revoking agency, which is still active: when it stands for a directory
//  organization (directory_id gets its id, else "") and never worked by the rule
//  of kn_directory_services_relink, it lets the organization go as relink does
//  (no directory id, not accepting, deactivated) and its stored services are
//  deleted, so the next import binds the organization to whichever agency the
//  mapping links, or a new one. 1 released, 0 kept (it worked, it is already
//  inactive, or it stands for no organization), -1 with err (KN_E_NOT_FOUND when
//  there is no such agency). In the caller's transaction.
int kn_directory_services_release (kn_db_t *db, const char *agency,
                                   char directory_id[KN_DIRECTORY_ID_MAX],
                                   kn_error_t *err);

#endif
