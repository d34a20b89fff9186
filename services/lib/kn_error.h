/*  kn_error: the "why" behind a -1 or NULL return.
    Every fallible kn_ function takes a kn_error_t * it fills on failure. The code
    is a kinnet.v1.ErrorCode value, so the error can go on the wire unchanged; the
    message is for people and never holds personal data; the field is the path of
    the offending request field ("" when the error is not about one field). */
#ifndef KN_ERROR_H_INCLUDED
#define KN_ERROR_H_INCLUDED

#include <stdbool.h>

//  Mirrors kinnet.v1.ErrorCode (proto/kinnet/v1/common.proto).
typedef enum {
    KN_OK = 0,
    KN_E_INVALID_ARGUMENT = 1,
    KN_E_MALFORMED = 2,
    KN_E_NOT_FOUND = 3,
    KN_E_CONFLICT = 4,
    KN_E_PERMISSION_DENIED = 5,
    KN_E_UNAUTHENTICATED = 6,
    KN_E_SERVICE_UNAVAILABLE = 7,
    KN_E_TOO_LARGE = 8,
    KN_E_INTERNAL = 9,
    KN_E_UNKNOWN_SERVICE = 10,
    KN_E_RESOURCE_EXHAUSTED = 11,
} kn_code_t;

typedef struct {
    kn_code_t code;
    char message[256];
    char field[128];
} kn_error_t;

//  Set code, field (may be NULL) and a printf-style message. Returns -1 so that
//  `return kn_error_set (...)` reads as a failure return.
int kn_error_set (kn_error_t *self, kn_code_t code, const char *field, const char *fmt, ...)
    __attribute__ ((format (printf, 4, 5)));

//  Reset to KN_OK with empty message and field.
void kn_error_clear (kn_error_t *self);

//  Stable lower-case name of a code, e.g. "invalid_argument".
const char *kn_code_name (kn_code_t code);

#endif
