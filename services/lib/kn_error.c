/*  kn_error: error codes and messages that travel to the caller. */
#include "kn_error.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

int
kn_error_set (kn_error_t *self, kn_code_t code, const char *field, const char *fmt, ...)
{
    if (!self)
        return -1;
    self->code = code;
    snprintf (self->field, sizeof self->field, "%s", field ? field : "");
    va_list args;
    va_start (args, fmt);
    vsnprintf (self->message, sizeof self->message, fmt, args);
    va_end (args);
    return -1;
}

void
kn_error_clear (kn_error_t *self)
{
    if (!self)
        return;
    self->code = KN_OK;
    self->message[0] = '\0';
    self->field[0] = '\0';
}

const char *
kn_code_name (kn_code_t code)
{
    static const char *names[] = {"ok",          "invalid_argument",  "malformed",
                                  "not_found",   "conflict",          "permission_denied",
                                  "unauthenticated", "service_unavailable", "too_large",
                                  "internal",    "unknown_service",   "resource_exhausted"};
    if ((unsigned) code < sizeof names / sizeof names[0])
        return names[code];
    return "unknown";
}
