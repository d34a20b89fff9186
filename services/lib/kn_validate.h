/*  kn_validate: field rules every service applies to requests: clean UTF-8 text
    within byte limits, known enum values, real dates, language tags, people.
    Each reports the field path and the rule broken through kn_error (code
    INVALID_ARGUMENT, or TOO_LARGE for a limit), and returns -1. */
#ifndef KN_VALIDATE_H_INCLUDED
#define KN_VALIDATE_H_INCLUDED

#include <protobuf-c/protobuf-c.h>
#include <stdbool.h>
#include <stddef.h>
#include <time.h>

#include "kinnet/v1/intake.pb-c.h"
#include "kn_error.h"

#define KN_MAX_NAME 100
#define KN_MAX_LANGUAGES 10

//  value: min..max bytes of UTF-8 without control characters (newlines allowed when
//  asked). A NULL value counts as "".
int kn_validate_text (const char *value, const char *field, size_t min, size_t max,
                      bool newlines, kn_error_t *err);

//  A non-zero value the enum defines.
int kn_validate_enum (const ProtobufCEnumDescriptor *descriptor, int value,
                      const char *field, kn_error_t *err);

//  YYYY-MM-DD naming a real calendar date; 0 with the parts filled.
int kn_validate_date (const char *text, int *year, int *month, int *day);

//  At most KN_MAX_LANGUAGES BCP 47-style tags.
int kn_validate_languages (char **languages, size_t count, const char *field,
                           kn_error_t *err);

//  Names (1..KN_MAX_NAME), a real date of birth not after today (UTC), at most
//  max_age years old (-1: no limit), languages.
int kn_validate_person (const Kinnet__V1__Person *person, const char *field, time_t now,
                        int max_age, kn_error_t *err);

//  A UUID in canonical text form.
int kn_validate_uuid (const char *value, const char *field, kn_error_t *err);

#endif
