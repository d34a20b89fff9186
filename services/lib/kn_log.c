/*  kn_log: structured logs. One line is written with a single write(2) so lines from
    several processes sharing a file never interleave. */
#include "kn_log.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

static char s_service[32] = "kinnet";
static kn_level_t s_min_level = KN_INFO;

void
kn_log_init (const char *service)
{
    snprintf (s_service, sizeof s_service, "%s", service);
    const char *level = getenv ("KINNET_LOG_LEVEL");
    if (level) {
        if (strcasecmp (level, "debug") == 0)
            s_min_level = KN_DEBUG;
        else if (strcasecmp (level, "warn") == 0)
            s_min_level = KN_WARN;
        else if (strcasecmp (level, "error") == 0)
            s_min_level = KN_ERROR;
        else
            s_min_level = KN_INFO;
    }
}

//  Append s to buf as a JSON string body (without quotes), escaping as RFC 8259 asks.
static size_t
s_escape (char *buf, size_t pos, size_t cap, const char *s)
{
    for (; s && *s && pos + 7 < cap; s++) {
        unsigned char c = (unsigned char) *s;
        if (c == '"' || c == '\\') {
            buf[pos++] = '\\';
            buf[pos++] = (char) c;
        }
        else if (c < 0x20)
            pos += (size_t) snprintf (buf + pos, cap - pos, "\\u%04x", c);
        else
            buf[pos++] = (char) c;
    }
    return pos;
}

static size_t
s_append (char *buf, size_t pos, size_t cap, const char *s)
{
    while (s && *s && pos + 1 < cap)
        buf[pos++] = *s++;
    return pos;
}

//  The line into buf (at least 2048 bytes); its length.
static size_t
s_format (char *buf, size_t size, kn_level_t level, const char *event, va_list args)
{
    static const char *names[] = {"debug", "info", "warn", "error"};
    size_t cap = size - 2; // room for "}\n"

    struct timespec now;
    clock_gettime (CLOCK_REALTIME, &now);
    struct tm tm;
    gmtime_r (&now.tv_sec, &tm);
    char ts[40];
    strftime (ts, sizeof ts, "%Y-%m-%dT%H:%M:%S", &tm);

    size_t pos = (size_t) snprintf (buf, cap, "{\"ts\":\"%s.%03ldZ\",\"level\":\"%s\",\"service\":\"",
                                    ts, now.tv_nsec / 1000000, names[level]);
    pos = s_escape (buf, pos, cap, s_service);
    pos = s_append (buf, pos, cap, "\",\"event\":\"");
    pos = s_escape (buf, pos, cap, event);
    pos = s_append (buf, pos, cap, "\"");

    const char *key;
    while ((key = va_arg (args, const char *)) != NULL) {
        const char *value = va_arg (args, const char *);
        pos = s_append (buf, pos, cap, ",\"");
        pos = s_escape (buf, pos, cap, key);
        pos = s_append (buf, pos, cap, "\":\"");
        pos = s_escape (buf, pos, cap, value ? value : "");
        pos = s_append (buf, pos, cap, "\"");
    }
    buf[pos++] = '}';
    buf[pos++] = '\n';
    return pos;
}

void
kn_log (kn_level_t level, const char *event, ...)
{
    if (level < s_min_level)
        return;
    char buf[2048];
    va_list args;
    va_start (args, event);
    size_t len = s_format (buf, sizeof buf, level, event, args);
    va_end (args);
    ssize_t written = write (STDERR_FILENO, buf, len);
    (void)written;
}

char *
kn_log_vline (kn_level_t level, const char *event, va_list args)
{
    if (level < s_min_level)
        return NULL;
    char buf[2048];
    size_t len = s_format (buf, sizeof buf, level, event, args);
    char *line = malloc (len + 1);
    if (line) {
        memcpy (line, buf, len);
        line[len] = '\0';
    }
    return line;
}

void
kn_log_write (const char *line)
{
    ssize_t written = write (STDERR_FILENO, line, strlen (line));
    (void) written;
}
