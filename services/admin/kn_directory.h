/*  kn_directory: the agency directory routing reads (what each agency offers, where,
    in which languages, with what capacity), shown and changed by hand.
    Administrators drive it through the admin service (admin_directory).

    The directory is filled by importing Open Referral HSDS 3.0 JSON: kn_hsds reads a
    file through a kn_directory_mapping, kn_directory_import writes it. What this
    class changes by hand lasts until the next import of a directory agency: the
    directory is the source of truth for the agencies it lists. docs/directory.md
    describes every rule. */
#ifndef KN_DIRECTORY_H_INCLUDED
#define KN_DIRECTORY_H_INCLUDED

#include <jansson.h>

#include "kn_db.h"
#include "kn_error.h"

//  Agencies with their directory data, by name; agency NULL: all, otherwise one
//  agency by id or by directory id (KN_E_NOT_FOUND when there is none). Returns a
//  JSON array (caller json_decref's) of {"agency_id", "name", "sector", "district",
//  "directory_id" (null when not imported), "active", "accepting", "capacity" (null:
//  no limit), "load" (open offers and accepted involvements), "interpreters",
//  "needs", "districts" (home district first), "languages", "has_key" (whether it
//  holds an unrevoked key), "directory_status" ("listed" or "withdrawn"),
//  "can_receive_offers", "why_not" (the first reason routing offers it nothing:
//  revoked, withdrawn, no active key, not accepting, no need, at capacity; "" when
//  it can)}.
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

//  Apply change to agency_id, in the caller's transaction (the row is locked until
//  it ends; without one, each statement commits on its own). Returns {"agency_id",
//  "changes": [field, ...]} (caller json_decref's); "changes" is empty when the values
//  were already so.
json_t *kn_directory_set (kn_db_t *db, const char *agency_id,
                          const kn_directory_change_t *change, kn_error_t *err);

//  Create or change a district, in the caller's transaction. name NULL keeps the name;
//  lead NULL keeps the child-protection lead, "" clears it, otherwise an active agency's
//  id. Returns
//  {"code", "result": "added"|"changed"|"unchanged", "changes": [...]}.
json_t *kn_directory_district_set (kn_db_t *db, const char *code, const char *name,
                                   const char *lead, kn_error_t *err);

//  Districts by code, every one registered (core.district) or served by an active
//  agency (home or catchment): [{"code", "name", "child_protection_lead",
//  "lead_name", "agencies" (ids of the active agencies serving it), "registered"
//  (false: agencies serve it but core.district lacks it)}].
json_t *kn_directory_district_list (kn_db_t *db, kn_error_t *err);

#endif
