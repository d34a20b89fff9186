/*  kinnet admin logins DIR [--generate]: the database owner gives each service role
    (kinnet_broker, kinnet_intake, ...) the password in DIR/<role>, the file the
    daemon itself reads (KINNET_DB_SECRETS=DIR). With --generate a missing file is
    made first: 32 random bytes, base64url, a new file of mode 600. A role with no
    file keeps the password it has (or none). Run after `kinnet admin migrate`, in
    the one-shot step that holds the owner's password; again after replacing a file
    (rotation: the daemon reads the file at its next connection). */
#include <errno.h>
#include <fcntl.h>
#include <sodium.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cli.h"
#include "kn_config.h"

//  A new password file at path: O_EXCL, mode 600, never through a symlink.
static int
s_generate (const char *path, kn_error_t *err)
{
    unsigned char raw[32];
    char text[sodium_base64_ENCODED_LEN (sizeof raw, sodium_base64_VARIANT_URLSAFE_NO_PADDING)];
    randombytes_buf (raw, sizeof raw);
    sodium_bin2base64 (text, sizeof text, raw, sizeof raw,
                       sodium_base64_VARIANT_URLSAFE_NO_PADDING);
    sodium_memzero (raw, sizeof raw);
    int fd = open (path, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
    size_t len = strlen (text);
    bool ok = fd >= 0 && write (fd, text, len) == (ssize_t) len && fsync (fd) == 0;
    sodium_memzero (text, sizeof text);
    if (fd >= 0 && close (fd) != 0)
        ok = false;
    if (!ok) {
        if (fd >= 0)
            unlink (path);
        return kn_error_set (err, KN_E_INTERNAL, "DIR", "cannot write %s: %s", path,
                             strerror (errno));
    }
    return 0;
}

//  The password in path ("" when there is no such file), refusing a file others
//  may read, as the daemons do.
static int
s_read (const char *path, char password[KN_DB_PASSWORD_MAX + 1], kn_error_t *err)
{
    password[0] = 0;
    int fd = open (path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
    if (fd < 0)
        return errno == ENOENT ? 0
                               : kn_error_set (err, KN_E_INVALID_ARGUMENT, "DIR",
                                               "cannot read %s: %s", path, strerror (errno));
    struct stat st;
    ssize_t n = -1;
    if (fstat (fd, &st) == 0 && !(st.st_mode & 077))
        n = read (fd, password, KN_DB_PASSWORD_MAX + 1);
    close (fd);
    if (n < 0)
        return kn_error_set (err, KN_E_INVALID_ARGUMENT, "DIR",
                             "%s is readable by others (or unreadable): chmod 600 it", path);
    while (n > 0 && (password[n - 1] == '\n' || password[n - 1] == '\r'))
        n--;
    if (n == 0 || n > KN_DB_PASSWORD_MAX)
        return kn_error_set (err, KN_E_INVALID_ARGUMENT, "DIR",
                             "the password in %s is empty or over %d bytes", path,
                             KN_DB_PASSWORD_MAX);
    password[n] = 0;
    return 0;
}

int
cli_logins (const cli_options_t *options, int argc, char **argv)
{
    static const char *usage =
        "usage: kinnet admin logins DIR [--generate]\n"
        "As the database owner (KINNET_DATABASE_URL): give each service role the\n"
        "password in DIR/<role> (kinnet_broker, kinnet_intake, kinnet_consent,\n"
        "kinnet_routing, kinnet_reporting, kinnet_audit, kinnet_admin), the file the\n"
        "daemon reads with KINNET_DB_SECRETS=DIR. --generate makes missing files\n"
        "(random, mode 600) first. A role without a file keeps its password.\n";
    if (cli_flag (argc, argv, "--help")) {
        fputs (usage, stdout);
        return CLI_OK;
    }
    if (!cli_options_ok (argc, argv, NULL, (const char *const[]) {"--generate", NULL},
                         usage))
        return CLI_USAGE;
    const char *dir = cli_positional (argc, argv, NULL, 2);
    if (!dir || cli_positional (argc, argv, NULL, 3)) {
        fputs (usage, stderr);
        return CLI_USAGE;
    }
    bool generate = cli_flag (argc, argv, "--generate");
    kn_error_t err;
    kn_error_clear (&err);
    if (sodium_init () < 0) {
        kn_error_set (&err, KN_E_INTERNAL, NULL, "libsodium did not start");
        return cli_fail (options, &err);
    }
    kn_db_t *db = cli_admin_db (&err);
    if (!db)
        return cli_fail (options, &err);
    char password[KN_DB_PASSWORD_MAX + 1];
    int set = 0, rc = 0;
    if (options->json)
        printf ("{\"roles\": [");
    for (int i = 0; kn_db_service_roles[i] && rc == 0; i++) {
        const char *role = kn_db_service_roles[i];
        char path[4096];
        snprintf (path, sizeof path, "%s/%s", dir, role);
        if (generate && access (path, F_OK) != 0)
            rc = s_generate (path, &err);
        if (rc == 0)
            rc = s_read (path, password, &err);
        bool has = rc == 0 && password[0];
        if (has)
            rc = kn_db_set_password (db, role, password, &err);
        sodium_memzero (password, sizeof password);
        if (rc)
            break;
        if (options->json)
            printf ("%s{\"role\": \"%s\", \"password\": \"%s\"}", i ? ", " : "", role,
                    has ? "set" : "unchanged");
        else
            printf ("%-18s %s\n", role, has ? "password set" : "no file: unchanged");
        set += has;
    }
    if (options->json)
        printf ("], \"set\": %d}\n", rc ? 0 : set);
    kn_db_destroy (&db);
    return rc ? cli_fail (options, &err) : CLI_OK;
}
