/*  kn_endpoints: the broker endpoint list a client or worker is given. */
#include "kn_endpoints.h"

#include <stdlib.h>
#include <string.h>

#include "kn_alloc.h"

//  0 when text (len characters) is one endpoint we would connect to, else -1 with
//  err naming it (position counts from 1).
static int
s_check (const char *text, size_t len, int position, kn_error_t *err)
{
    if (len == 0)
        return kn_error_set (err, KN_E_INVALID_ARGUMENT, "endpoint",
                             "endpoint list has an empty element at position %d "
                             "(a stray comma?)",
                             position);
    if (len > KN_ENDPOINT_MAX_LEN)
        return kn_error_set (err, KN_E_INVALID_ARGUMENT, "endpoint",
                             "endpoint %d is longer than %d characters", position,
                             KN_ENDPOINT_MAX_LEN);
    bool known = (len > 6 && strncmp (text, "tcp://", 6) == 0) ||
                 (len > 6 && strncmp (text, "ipc://", 6) == 0);
    if (!known)
        return kn_error_set (err, KN_E_INVALID_ARGUMENT, "endpoint",
                             "endpoint %d must be tcp://HOST:PORT or ipc://PATH "
                             "(got '%.*s')",
                             position, (int)(len > 60 ? 60 : len), text);
    for (size_t i = 0; i < len; i++)
        if ((unsigned char)text[i] <= ' ' || text[i] == 0x7f)
            return kn_error_set (err, KN_E_INVALID_ARGUMENT, "endpoint",
                                 "endpoint %d contains a space or control character",
                                 position);
    return 0;
}

int
kn_endpoints_parse (const char *list, char *endpoints[KN_ENDPOINTS_MAX], kn_error_t *err)
{
    int count = 0;
    const char *at = list ? list : "";
    while (true) {
        const char *comma = strchr (at, ',');
        size_t len = comma ? (size_t)(comma - at) : strlen (at);
        if (count == KN_ENDPOINTS_MAX) {
            kn_error_set (err, KN_E_INVALID_ARGUMENT, "endpoint",
                          "endpoint list has more than %d endpoints", KN_ENDPOINTS_MAX);
            goto fail;
        }
        if (s_check (at, len, count + 1, err))
            goto fail;
        endpoints[count++] = kn_strndup (at, len);
        if (!comma)
            return count;
        at = comma + 1;
    }
fail:
    kn_endpoints_free (endpoints, count);
    return -1;
}

void
kn_endpoints_free (char *endpoints[KN_ENDPOINTS_MAX], int count)
{
    for (int i = 0; i < count; i++) {
        free (endpoints[i]);
        endpoints[i] = NULL;
    }
}
