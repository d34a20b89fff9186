/*  kn_config: environment lookups with defaults. */
#include "kn_config.h"

#include <errno.h>
#include <stdlib.h>

const char *
kn_config_str (const char *name, const char *fallback)
{
    const char *value = getenv (name);
    return (value && *value) ? value : fallback;
}

long
kn_config_int (const char *name, long fallback)
{
    const char *value = getenv (name);
    if (!value || !*value)
        return fallback;
    char *end;
    errno = 0;
    long result = strtol (value, &end, 10);
    if (errno || *end)
        return fallback;
    return result;
}
