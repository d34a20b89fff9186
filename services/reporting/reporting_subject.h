/*  reporting_subject: subject access exports (data-protection officers). */
#ifndef REPORTING_SUBJECT_H_INCLUDED
#define REPORTING_SUBJECT_H_INCLUDED

#include <jansson.h>

#include "consent_store.h"
#include "kn_crypto.h"
#include "kn_db.h"
#include "kn_error.h"

//  Everything held about subject_id, read in one snapshot on db: the subject, the
//  referrals naming them (their own entry opened; other people counted, not shown),
//  consents (through consents, as the DPO agency sees them), statutory bases and
//  overrides (opened), the family's cases, every disclosure of their data and every
//  audit record about them. *out: a new JSON object (caller decrefs). NOT_FOUND
//  when there is no such subject.
int reporting_subject_export (kn_db_t *db, kn_crypto_t *crypto, consent_store_t *consents,
                              const char *dpo_agency_id, const char *subject_id, json_t **out,
                              kn_error_t *err);

#endif
