/*  consent_release: a recipient asks a data controller to let a ground release the
    controller's data to it; the controller (or a data-protection officer) approves
    or declines.
    The one idea: a ground counts for an agency's data only where that agency or a
    DPO decided it (kn_consent_policy). A consent the family gave to the NGO, or a
    statutory duty the NGO records, is the NGO's evidence, not a key to the school's
    referral: the NGO files a request, the school decides, and an approved request
    is what the policy reads. Each step is one transaction with its audit row and an
    outbox event that routing puts in the other party's feed. */
#ifndef CONSENT_RELEASE_H_INCLUDED
#define CONSENT_RELEASE_H_INCLUDED

#include "kinnet/v1/consent.pb-c.h"
#include "kn_crypto.h"
#include "kn_db.h"
#include "kn_error.h"

typedef struct _consent_release_t consent_release_t;

consent_release_t *consent_release_new (kn_db_t *db, kn_crypto_t *crypto,
                                        kn_error_t *err);
void consent_release_destroy (consent_release_t **self_p);

//  File a request as agency_id (validated fields). A second request for the same
//  ground and controller while the first is open answers the first (replayed).
//  *release is the caller's to free.
int consent_release_request (consent_release_t *self, const char *agency_id,
                             const Kinnet__V1__RequestRelease *request,
                             Kinnet__V1__Release **release, kn_error_t *err);

//  Approve or decline as agency_id: the controller or a data-protection officer,
//  never the requester.
int consent_release_decide (consent_release_t *self, const char *agency_id,
                            const Kinnet__V1__DecideRelease *decision,
                            Kinnet__V1__Release **release, kn_error_t *err);

//  Requests agency_id filed or must decide (a DPO: all), oldest first.
int consent_release_list (consent_release_t *self, const char *agency_id, bool open_only,
                          Kinnet__V1__ReleaseList **list, kn_error_t *err);

#endif
