/*  kn_endpoints: the broker endpoint list a client or worker is given. */
#include "kn_endpoints.h"

#include <arpa/inet.h>
#include <czmq.h>
#include <netdb.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

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

//  Answers of kn_endpoint_resolve, kept a while: one entry per endpoint.
typedef struct {
    char endpoint[KN_ENDPOINT_MAX_LEN + 1];
    char resolved[KN_ENDPOINT_MAX_LEN + 1];   // "" when the name did not resolve
    int64_t until;
} s_answer_t;
static s_answer_t s_answers[KN_ENDPOINTS_MAX * 2];
static pthread_mutex_t s_answers_lock = PTHREAD_MUTEX_INITIALIZER;

//  tcp://HOST:PORT resolved now into out; -1 when it does not.
static int
s_lookup (const char *endpoint, char *out, size_t size)
{
    const char *host = endpoint + 6;   // after tcp://
    const char *colon = strrchr (host, ':');
    if (!colon || colon == host)
        return -1;
    char name[KN_ENDPOINT_MAX_LEN + 1];
    size_t len = (size_t) (colon - host);
    if (host[0] == '[') {   // [IPv6]: an address already
        snprintf (out, size, "%s", endpoint);
        return strlen (endpoint) < size ? 0 : -1;
    }
    memcpy (name, host, len);
    name[len] = 0;
    //  IPv4 only: Kinnet's sockets do not set ZMQ_IPV6, and an IPv4-only socket
    //  "connected" to an IPv6 address never connects, silently (a name such as
    //  localhost may resolve to ::1 first). An address in brackets still passes
    //  through as written.
    struct addrinfo hints = {.ai_family = AF_INET, .ai_socktype = SOCK_STREAM};
    struct addrinfo *found = NULL;
    if (getaddrinfo (name, NULL, &hints, &found) != 0 || !found)
        return -1;
    char address[INET6_ADDRSTRLEN] = "";
    bool v6 = found->ai_family == AF_INET6;
    const void *raw = v6 ? (const void *) &((struct sockaddr_in6 *) found->ai_addr)->sin6_addr
                         : (const void *) &((struct sockaddr_in *) found->ai_addr)->sin_addr;
    bool ok = inet_ntop (found->ai_family, raw, address, sizeof address) != NULL;
    freeaddrinfo (found);
    if (!ok)
        return -1;
    int n = snprintf (out, size, v6 ? "tcp://[%s]%s" : "tcp://%s%s", address, colon);
    return n > 0 && (size_t) n < size ? 0 : -1;
}

int
kn_endpoint_resolve (const char *endpoint, char *out, size_t size, int ttl_ms)
{
    if (strncmp (endpoint, "tcp://", 6) != 0) {
        int n = snprintf (out, size, "%s", endpoint);
        return n >= 0 && (size_t) n < size ? 0 : -1;
    }
    int64_t now = zclock_mono ();
    pthread_mutex_lock (&s_answers_lock);
    s_answer_t *slot = NULL, *oldest = &s_answers[0];
    for (size_t i = 0; i < sizeof s_answers / sizeof s_answers[0]; i++) {
        if (strcmp (s_answers[i].endpoint, endpoint) == 0)
            slot = &s_answers[i];
        if (s_answers[i].until < oldest->until)
            oldest = &s_answers[i];
    }
    if (slot && slot->until > now) {
        int rc = slot->resolved[0] && strlen (slot->resolved) < size ? 0 : -1;
        if (rc == 0)
            snprintf (out, size, "%s", slot->resolved);
        pthread_mutex_unlock (&s_answers_lock);
        return rc;
    }
    pthread_mutex_unlock (&s_answers_lock);
    //  Asked without the lock: another thread's lookup of another name goes on.
    char resolved[KN_ENDPOINT_MAX_LEN + 1] = "";
    int rc = strlen (endpoint) <= KN_ENDPOINT_MAX_LEN
                 ? s_lookup (endpoint, resolved, sizeof resolved)
                 : -1;
    if (rc)
        resolved[0] = 0;
    pthread_mutex_lock (&s_answers_lock);
    if (!slot)
        slot = oldest;
    if (strlen (endpoint) <= KN_ENDPOINT_MAX_LEN) {
        snprintf (slot->endpoint, sizeof slot->endpoint, "%s", endpoint);
        snprintf (slot->resolved, sizeof slot->resolved, "%s", resolved);
        slot->until = zclock_mono () + ttl_ms;
    }
    pthread_mutex_unlock (&s_answers_lock);
    if (rc == 0) {
        int n = snprintf (out, size, "%s", resolved);
        rc = n > 0 && (size_t) n < size ? 0 : -1;
    }
    return rc;
}
