/*  cli_out: the file an export is written to. Exports hold personal data (subject
    access) or the record of who saw it (audit, reports): the file is always a new
    one, readable by its owner only, whatever the umask, and never reached through a
    symbolic link, so a name another user prepared cannot receive the data or make
    the command overwrite something else. */
#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cli.h"

FILE *
cli_out_create (const char *path, kn_error_t *err)
{
    //  O_EXCL refuses an existing name, a symbolic link (even a dangling one)
    //  included; O_NOFOLLOW says so again should a platform bend the first.
    int fd = open (path, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
    if (fd < 0) {
        struct stat st;
        if (errno == EEXIST && lstat (path, &st) == 0 && S_ISLNK (st.st_mode))
            kn_error_set (err, KN_E_INVALID_ARGUMENT, "out",
                          "%s is a symbolic link: not followed; choose a new file name",
                          path);
        else if (errno == EEXIST || errno == ELOOP)
            kn_error_set (err, KN_E_INVALID_ARGUMENT, "out",
                          "%s exists: not overwritten; choose a new file name", path);
        else
            kn_error_set (err, KN_E_INVALID_ARGUMENT, "out", "cannot create %s: %s", path,
                          strerror (errno));
        return NULL;
    }
    //  The umask may only take bits away; an odd one (0277) would still leave the
    //  owner unable to write, so the mode is set, not requested.
    FILE *out = fchmod (fd, 0600) == 0 ? fdopen (fd, "w") : NULL;
    if (!out) {
        kn_error_set (err, KN_E_INTERNAL, "out", "cannot write %s: %s", path,
                      strerror (errno));
        close (fd);
        unlink (path);
    }
    return out;
}

void
cli_out_abandon (FILE **out_p, const char *path)
{
    if (*out_p) {
        fclose (*out_p);
        *out_p = NULL;
        unlink (path);
    }
}

int
cli_out_close (FILE **out_p, const char *path, kn_error_t *err)
{
    FILE *out = *out_p;
    *out_p = NULL;
    bool failed = ferror (out) != 0;
    failed = fclose (out) != 0 || failed;
    if (failed) {
        kn_error_set (err, KN_E_INTERNAL, "out", "writing %s failed (disk full?)", path);
        unlink (path);
        return -1;
    }
    return 0;
}
