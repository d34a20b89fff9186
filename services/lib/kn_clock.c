/*  kn_clock: real time or the controlled clock file. */
#include "kn_clock.h"

#include <stdio.h>
#include <stdlib.h>
#include <time.h>

static const char *
s_path (void)
{
    const char *path = getenv ("KINNET_CLOCK_FILE");
    return path && *path ? path : NULL;
}

bool
kn_clock_controlled (void)
{
    return s_path () != NULL;
}

int64_t
kn_clock_now (void)
{
    const char *path = s_path ();
    if (path) {
        FILE *file = fopen (path, "r");
        long long seconds = 0;
        int found = file ? fscanf (file, "%lld", &seconds) : 0;
        if (file)
            fclose (file);
        //  An unreadable clock file falls back to real time rather than stopping time.
        if (found == 1 && seconds > 0)
            return (int64_t) seconds;
    }
    return (int64_t) time (NULL);
}

int
kn_clock_write (const char *path, int64_t seconds)
{
    //  Write then rename, so a reader never sees a half-written number.
    char temp[4096];
    if (snprintf (temp, sizeof temp, "%s.tmp", path) >= (int) sizeof temp)
        return -1;
    FILE *file = fopen (temp, "w");
    if (!file)
        return -1;
    int ok = fprintf (file, "%lld\n", (long long) seconds) > 0;
    ok = (fclose (file) == 0) && ok;
    return ok && rename (temp, path) == 0 ? 0 : -1;
}
