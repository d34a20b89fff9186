/*  kn_audit_trust: trusted checkpoint signers with validity periods, parsed from
    the operator's text and checked against a checkpoint's signing time. */
#include "kn_audit_trust.h"

#include <sodium.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define LINE_MAX_ 512

#define PERIOD_FORM                                                                      \
    "a period is FROM..UNTIL, each an RFC 3339 UTC time such as 2026-12-03T12:00:00Z "   \
    "or left out for an open end"

//  An RFC 3339 UTC time, to the second: exactly YYYY-MM-DDTHH:MM:SSZ, a real date.
static bool
s_time_parse (const char *text, size_t len, int64_t *at)
{
    char copy[24];
    if (len != 20)
        return false;
    memcpy (copy, text, len);
    copy[len] = 0;
    for (size_t i = 0; i < len; i++) {
        bool digit = copy[i] >= '0' && copy[i] <= '9';
        char want = i == 4 || i == 7     ? '-'
                    : i == 10            ? 'T'
                    : i == 13 || i == 16 ? ':'
                    : i == 19            ? 'Z'
                                         : 0;
        if (want ? copy[i] != want : !digit)
            return false;
    }
    struct tm tm = {0};
    tm.tm_year = atoi (copy) - 1900;
    tm.tm_mon = atoi (copy + 5) - 1;
    tm.tm_mday = atoi (copy + 8);
    tm.tm_hour = atoi (copy + 11);
    tm.tm_min = atoi (copy + 14);
    tm.tm_sec = atoi (copy + 17);
    struct tm given = tm;
    time_t t = timegm (&tm);
    //  timegm normalises 2026-02-30 into March: a date that moved was not one.
    if (t == (time_t)-1 || tm.tm_year != given.tm_year || tm.tm_mon != given.tm_mon ||
        tm.tm_mday != given.tm_mday || tm.tm_hour != given.tm_hour ||
        tm.tm_min != given.tm_min || tm.tm_sec != given.tm_sec)
        return false;
    *at = (int64_t)t;
    return true;
}

void
kn_audit_time_text (int64_t at, char *out, size_t size)
{
    time_t t = (time_t)at;
    struct tm tm;
    if (!gmtime_r (&t, &tm) || !strftime (out, size, "%Y-%m-%dT%H:%M:%SZ", &tm))
        snprintf (out, size, "%lld", (long long)at);
}

void
kn_audit_period_text (const kn_audit_trusted_t *trusted, char *out, size_t size)
{
    char from[32] = "", until[32] = "";
    if (trusted->from != KN_AUDIT_OPEN_FROM)
        kn_audit_time_text (trusted->from, from, sizeof from);
    if (trusted->until != KN_AUDIT_OPEN_UNTIL)
        kn_audit_time_text (trusted->until, until, sizeof until);
    snprintf (out, size, "%s..%s", from, until);
}

//  period ("FROM..UNTIL") into trusted's from and until.
static int
s_period_parse (const char *item, const char *period, kn_audit_trusted_t *trusted,
                kn_error_t *err)
{
    const char *dots = strstr (period, "..");
    int64_t from = KN_AUDIT_OPEN_FROM, until = KN_AUDIT_OPEN_UNTIL;
    if (!dots || strstr (dots + 2, "..") ||
        (dots > period && !s_time_parse (period, (size_t)(dots - period), &from)) ||
        (dots[2] && !s_time_parse (dots + 2, strlen (dots + 2), &until)))
        return kn_error_set (
            err, KN_E_INVALID_ARGUMENT, "public_key",
            "trusted key '%.120s': malformed period '%.60s': " PERIOD_FORM, item, period);
    if (from >= until)
        return kn_error_set (err, KN_E_INVALID_ARGUMENT, "public_key",
                             "trusted key '%.120s': the period '%.60s' ends before it "
                             "starts",
                             item, period);
    trusted->from = from;
    trusted->until = until;
    return 0;
}

//  One HEX or HEX@PERIOD (no file) into trusted.
static int
s_key_parse (const char *item, kn_audit_trusted_t *trusted, kn_error_t *err)
{
    const char *at = strrchr (item, '@');
    size_t len = at ? (size_t)(at - item) : strlen (item);
    size_t got = 0;
    trusted->from = KN_AUDIT_OPEN_FROM;
    trusted->until = KN_AUDIT_OPEN_UNTIL;
    if (len != 2 * KN_AUDIT_KEY_BYTES ||
        sodium_hex2bin (trusted->key, KN_AUDIT_KEY_BYTES, item, len, NULL, &got, NULL) ||
        got != KN_AUDIT_KEY_BYTES)
        return kn_error_set (err, KN_E_INVALID_ARGUMENT, "public_key",
                             "trusted key '%.120s' is not 64 hex characters (with "
                             "@FROM..UNTIL at most), nor a key file",
                             item);
    return at ? s_period_parse (item, at + 1, trusted, err) : 0;
}

static bool
s_is_hex_key (const char *item)
{
    size_t len = strcspn (item, "@");
    return len == 2 * KN_AUDIT_KEY_BYTES &&
           strspn (item, "0123456789abcdefABCDEF") == 2 * KN_AUDIT_KEY_BYTES;
}

//  A key file's lines, each given period (NULL: none) when it has none itself.
static int
s_file_parse (const char *path, const char *period, kn_audit_trusted_t *keys, size_t max,
              size_t *count, kn_error_t *err)
{
    FILE *file = fopen (path, "r");
    if (!file)
        return kn_error_set (err, KN_E_INVALID_ARGUMENT, "public_key",
                             "trusted key '%.120s' is not 64 hex characters, and no key "
                             "file of that name can be read",
                             path);
    char line[LINE_MAX_];
    size_t n = *count, lines = 0;
    int rc = 0;
    while (rc == 0 && fgets (line, sizeof line, file)) {
        lines++;
        char *text = line + strspn (line, " \t");
        text[strcspn (text, " \t\r\n")] = 0;
        if (!*text || *text == '#')
            continue;
        if (n == max)
            rc = kn_error_set (err, KN_E_INVALID_ARGUMENT, "public_key",
                               "more than %zu trusted keys", max);
        else if (period && strchr (text, '@'))
            rc = kn_error_set (err, KN_E_INVALID_ARGUMENT, "public_key",
                               "%.120s line %zu has a period of its own and the file "
                               "is given with one: give it in one place",
                               path, lines);
        else if (s_key_parse (text, &keys[n], err) ||
                 (period && s_period_parse (text, period, &keys[n], err))) {
            char why[sizeof err->message];
            snprintf (why, sizeof why, "%s", err->message);
            rc = kn_error_set (err, KN_E_INVALID_ARGUMENT, "public_key",
                               "%.120s line %zu: %s", path, lines, why);
        } else
            n++;
    }
    fclose (file);
    if (rc == 0 && n == *count)
        rc = kn_error_set (err, KN_E_INVALID_ARGUMENT, "public_key",
                           "key file %.120s holds no key", path);
    if (rc == 0)
        *count = n;
    return rc;
}

int
kn_audit_trust_add (const char *item, kn_audit_trusted_t *keys, size_t max, size_t *count,
                    kn_error_t *err)
{
    if (!item || !*item)
        return kn_error_set (err, KN_E_INVALID_ARGUMENT, "public_key",
                             "an empty trusted key");
    if (s_is_hex_key (item)) {
        if (*count == max)
            return kn_error_set (err, KN_E_INVALID_ARGUMENT, "public_key",
                                 "more than %zu trusted keys", max);
        if (s_key_parse (item, &keys[*count], err))
            return -1;
        (*count)++;
        return 0;
    }
    //  A file, with a period after its last '@' when that reads as one.
    char path[4096];
    const char *at = strrchr (item, '@');
    if (strlen (item) >= sizeof path)
        return kn_error_set (err, KN_E_INVALID_ARGUMENT, "public_key",
                             "trusted key file name too long");
    snprintf (path, sizeof path, "%s", item);
    if (at && strstr (at, ".."))
        path[at - item] = 0;
    else
        at = NULL;
    return s_file_parse (path, at ? at + 1 : NULL, keys, max, count, err);
}

int
kn_audit_trust_parse (const char *list, kn_audit_trusted_t *keys, size_t max,
                      size_t *count, kn_error_t *err)
{
    *count = 0;
    char copy[4096];
    if (!list || strlen (list) >= sizeof copy)
        return kn_error_set (err, KN_E_INVALID_ARGUMENT, "public_key",
                             "no list of trusted public keys, or one too long");
    snprintf (copy, sizeof copy, "%s", list);
    char *save = NULL;
    size_t n = 0;
    for (char *item = strtok_r (copy, ", \t\n", &save); item;
         item = strtok_r (NULL, ", \t\n", &save))
        if (kn_audit_trust_add (item, keys, max, &n, err))
            return -1;
    *count = n;
    return 0;
}

int
kn_audit_trust_check (const kn_audit_trusted_t *keys, size_t count,
                      const uint8_t key[KN_AUDIT_KEY_BYTES], int64_t at,
                      const kn_audit_trusted_t **outside)
{
    int verdict = -1;
    for (size_t k = 0; k < count; k++) {
        if (sodium_memcmp (keys[k].key, key, KN_AUDIT_KEY_BYTES) != 0)
            continue;
        if (at >= keys[k].from && at < keys[k].until)
            return 1;
        if (verdict < 0 && outside)
            *outside = &keys[k];
        verdict = 0;
    }
    return verdict;
}
