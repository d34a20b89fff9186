/*  kn_validate: shared request field rules. */
#include "kn_validate.h"

#include <stdio.h>
#include <string.h>

#include "kn_language.h"
#include "kn_uuid.h"

//  Valid UTF-8 without control characters, within max bytes.
static bool
s_clean_text (const char *text, size_t max, bool allow_newlines)
{
    size_t len = strlen (text);
    if (len > max)
        return false;
    const unsigned char *s = (const unsigned char *) text;
    for (size_t i = 0; i < len;) {
        unsigned char c = s[i];
        if (c < 0x20 || c == 0x7f) {
            if (!(allow_newlines && (c == '\n' || c == '\r' || c == '\t')))
                return false;
            i++;
        }
        else if (c < 0x80)
            i++;
        else {
            size_t n = (c >= 0xF0 && c < 0xF5) ? 4 : (c >= 0xE0) ? 3 : (c >= 0xC2) ? 2 : 0;
            if (n == 0 || c >= 0xF5 || i + n > len)
                return false;
            for (size_t k = 1; k < n; k++)
                if ((s[i + k] & 0xC0) != 0x80)
                    return false;
            i += n;
        }
    }
    return true;
}

int
kn_validate_text (const char *value, const char *field, size_t min, size_t max, bool newlines,
        kn_error_t *err)
{
    if (!value || strlen (value) < min) {
        if (min <= 1)
            return kn_error_set (err, KN_E_INVALID_ARGUMENT, field, "%s is required", field);
        return kn_error_set (err, KN_E_INVALID_ARGUMENT, field,
                             "%s must be at least %zu bytes", field, min);
    }
    if (strlen (value) > max)
        return kn_error_set (err, KN_E_TOO_LARGE, field, "%s is over %zu bytes", field, max);
    if (!s_clean_text (value, max, newlines))
        return kn_error_set (err, KN_E_INVALID_ARGUMENT, field,
                             "%s must be UTF-8 text without control characters", field);
    return 0;
}

int
kn_validate_enum (const ProtobufCEnumDescriptor *descriptor, int value, const char *field,
        kn_error_t *err)
{
    if (value == 0)
        return kn_error_set (err, KN_E_INVALID_ARGUMENT, field, "%s is required", field);
    if (!protobuf_c_enum_descriptor_get_value (descriptor, value))
        return kn_error_set (err, KN_E_INVALID_ARGUMENT, field, "%s: unknown value %d",
                             field, value);
    return 0;
}

int
kn_validate_date (const char *text, int *year, int *month, int *day)
{
    if (!text || strlen (text) != 10 || text[4] != '-' || text[7] != '-')
        return -1;
    for (int i = 0; i < 10; i++)
        if (i != 4 && i != 7 && (text[i] < '0' || text[i] > '9'))
            return -1;
    int y, m, d;
    if (sscanf (text, "%4d-%2d-%2d", &y, &m, &d) != 3)
        return -1;
    static const int days[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    bool leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
    if (m < 1 || m > 12 || d < 1 || d > days[m - 1] + (m == 2 && leap))
        return -1;
    *year = y;
    *month = m;
    *day = d;
    return 0;
}

int
kn_validate_languages (char **languages, size_t count, const char *field, kn_error_t *err)
{
    if (count > KN_MAX_LANGUAGES)
        return kn_error_set (err, KN_E_TOO_LARGE, field, "%s: at most %d languages", field,
                             KN_MAX_LANGUAGES);
    for (size_t i = 0; i < count; i++) {
        const char *tag = languages[i];
        size_t len = strlen (tag);
        bool ok = len >= 2 && len <= 35;
        for (size_t k = 0; ok && k < len; k++) {
            char c = tag[k];
            ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9')
                 || (c == '-' && k > 0 && k + 1 < len && tag[k - 1] != '-');
        }
        char path[128], subtag[9];
        snprintf (path, sizeof path, "%s[%zu]", field, i);
        if (!ok)
            return kn_error_set (err, KN_E_INVALID_ARGUMENT, path,
                                 "%s is not a BCP 47 language tag", path);
        //  Well formed is not enough: a tag that names no language can match no
        //  agency, so it would silently route as if no language had been given.
        if (kn_language_primary (tag, subtag))
            return kn_error_set (err, KN_E_INVALID_ARGUMENT, path,
                                 "%s: '%s' names no language (ISO 639)", path, tag);
    }
    return 0;
}

int
kn_validate_person (const Kinnet__V1__Person *person, const char *field, time_t now,
                    int max_age, kn_error_t *err)
{
    char path[128];
    if (!person)
        return kn_error_set (err, KN_E_INVALID_ARGUMENT, field, "%s is required", field);
    snprintf (path, sizeof path, "%s.given_name", field);
    if (kn_validate_text (person->given_name, path, 1, KN_MAX_NAME, false, err))
        return -1;
    snprintf (path, sizeof path, "%s.family_name", field);
    if (kn_validate_text (person->family_name, path, 1, KN_MAX_NAME, false, err))
        return -1;
    snprintf (path, sizeof path, "%s.date_of_birth", field);
    int y, m, d;
    if (!person->date_of_birth || !*person->date_of_birth)
        return kn_error_set (err, KN_E_INVALID_ARGUMENT, path, "%s is required", path);
    if (kn_validate_date (person->date_of_birth, &y, &m, &d))
        return kn_error_set (err, KN_E_INVALID_ARGUMENT, path,
                             "%s must be a real date as YYYY-MM-DD", path);
    struct tm today_tm;
    gmtime_r (&now, &today_tm);
    const struct tm *today = &today_tm;
    int ty = today->tm_year + 1900, tm = today->tm_mon + 1, td = today->tm_mday;
    if (y > ty || (y == ty && (m > tm || (m == tm && d > td))))
        return kn_error_set (err, KN_E_INVALID_ARGUMENT, path, "%s is in the future", path);
    int age = ty - y - ((m > tm || (m == tm && d > td)) ? 1 : 0);
    if (max_age >= 0 && age > max_age)
        return kn_error_set (err, KN_E_INVALID_ARGUMENT, path,
                             "%s: a referred child must be %d or younger", path, max_age);
    if (person->erased) {
        snprintf (path, sizeof path, "%s.erased", field);
        return kn_error_set (err, KN_E_INVALID_ARGUMENT, path,
                             "%s is set only by Kinnet, in what it returns", path);
    }
    snprintf (path, sizeof path, "%s.languages", field);
    return kn_validate_languages (person->languages, person->n_languages, path, err);
}

int
kn_validate_uuid (const char *value, const char *field, kn_error_t *err)
{
    if (!kn_uuid_valid (value))
        return kn_error_set (err, KN_E_INVALID_ARGUMENT, field, "%s must be a UUID", field);
    return 0;
}
