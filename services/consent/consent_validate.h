/*  consent_validate: field rules for consent requests (limits in docs/protocol.md).
    Paths are relative to the operation's message, like intake's. */
#ifndef CONSENT_VALIDATE_H_INCLUDED
#define CONSENT_VALIDATE_H_INCLUDED

#include <time.h>

#include "kinnet/v1/consent.pb-c.h"
#include "kn_error.h"

#define CONSENT_MAX_RECIPIENTS 50
#define CONSENT_MAX_REFERENCE 128
#define CONSENT_MIN_TEXT 20
#define CONSENT_MAX_TEXT 4000
#define CONSENT_MAX_OVERRIDE_HOURS 720

int consent_validate_record (const Kinnet__V1__RecordConsent *record, time_t now,
                             kn_error_t *err);
int consent_validate_withdraw (const Kinnet__V1__WithdrawConsent *withdraw, kn_error_t *err);
int consent_validate_basis (const Kinnet__V1__RecordBasis *basis, time_t now, kn_error_t *err);
int consent_validate_override (const Kinnet__V1__RequestOverride *request, time_t now,
                               kn_error_t *err);
int consent_validate_review (const Kinnet__V1__ReviewOverride *review, kn_error_t *err);
int consent_validate_request_release (const Kinnet__V1__RequestRelease *request,
                                      kn_error_t *err);
int consent_validate_decide_release (const Kinnet__V1__DecideRelease *decision,
                                     kn_error_t *err);
int consent_validate_check (const Kinnet__V1__CheckDisclosure *check, kn_error_t *err);

//  Scope rules: require_* demand a non-empty list on that axis.
int consent_validate_scope (const Kinnet__V1__Scope *scope, const char *field,
                            bool require_recipients, bool require_categories,
                            bool require_purposes, kn_error_t *err);

#endif
