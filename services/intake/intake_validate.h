/*  intake_validate: every rule a referral must meet before anything is written.
    Errors name the field path ("siblings[1].date_of_birth") and the limit broken;
    the limits are documented in docs/protocol.md ("Limits"). */
#ifndef INTAKE_VALIDATE_H_INCLUDED
#define INTAKE_VALIDATE_H_INCLUDED

#include <time.h>

#include "kinnet/v1/intake.pb-c.h"
#include "kn_error.h"
#include "kn_validate.h"

#define INTAKE_MAX_KEY           128
#define INTAKE_MAX_NAME          KN_MAX_NAME
#define INTAKE_MAX_LANGUAGES     KN_MAX_LANGUAGES
#define INTAKE_MAX_SIBLINGS      15
#define INTAKE_MAX_GUARDIANS     10
#define INTAKE_MAX_NEEDS         20
#define INTAKE_MAX_DESCRIPTION   4000
#define INTAKE_MAX_DISTRICT      64
#define INTAKE_MAX_REFERENCE     128
#define INTAKE_MIN_JUSTIFICATION 10
#define INTAKE_MAX_JUSTIFICATION 2000
#define INTAKE_MAX_REASON        1000
#define INTAKE_MAX_CHILD_AGE     25 // care leavers are supported up to 25

//  today: the reference date for "not in the future" and ages (UTC).
int intake_validate_submit (const Kinnet__V1__SubmitReferral *referral, time_t today,
                            kn_error_t *err);
int intake_validate_withdraw (const Kinnet__V1__WithdrawReferral *withdraw,
                              kn_error_t *err);
int intake_validate_get (const Kinnet__V1__GetReferral *get, kn_error_t *err);

#endif
