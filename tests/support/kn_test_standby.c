/*  kn_test_standby: a streaming standby of the test cluster (kn_test_standby.h). */
#include "kn_test_standby.h"
#include "kn_test.h"

#include <criterion/criterion.h>
#include <czmq.h>
#include <errno.h>
#include <glob.h>
#include <grp.h>
#include <libpq-fe.h>
#include <pwd.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#define READY_MS 60000 // a start (recovery up to a consistent state) may take this long

struct _kn_test_standby_t {
    char dir[300];      // data/, the socket, postgres.log
    char bin[200];      // the server's binaries (the newest installed, as ops/pg)
    char slot[64];      // its replication slot on the primary
    char settings[400]; // -c name=value of the primary's that a standby must match
    int port;
    pid_t postmaster;
    bool drop; // root: the server runs as postgres
    uid_t uid;
    gid_t gid;
};

//  In a child: become the server's owner (when root), then, as ops/pg does, run as
//  it. A credential change clears the death signal, so it is set after.
static void
s_child_identity (kn_test_standby_t *self, pid_t parent, int death_signal)
{
    if (self->drop && (setgroups (0, NULL) || setgid (self->gid) || setuid (self->uid)))
        _exit (126);
    if (death_signal &&
        (prctl (PR_SET_PDEATHSIG, death_signal) != 0 || getppid () != parent))
        _exit (127);
}

//  Run argv to its end as the server's owner, output to the log; its exit status.
static int
s_run (kn_test_standby_t *self, char *const argv[])
{
    char log[400];
    snprintf (log, sizeof log, "%s/commands.log", self->dir);
    pid_t parent = getpid ();
    pid_t pid = fork ();
    if (pid == 0) {
        s_child_identity (self, parent, SIGKILL);
        FILE *out = fopen (log, "a");
        if (out) {
            dup2 (fileno (out), STDOUT_FILENO);
            dup2 (fileno (out), STDERR_FILENO);
        }
        execv (argv[0], argv);
        _exit (127);
    }
    cr_assert (pid > 0, "cannot fork %s", argv[0]);
    int status = 0;
    while (waitpid (pid, &status, 0) < 0 && errno == EINTR)
        ;
    return WIFEXITED (status) ? WEXITSTATUS (status) : 128 + WTERMSIG (status);
}

//  The value of keyword in a conninfo of key=value words (no quoting: ours), or "".
static void
s_conninfo_value (const char *conninfo, const char *keyword, char *value, size_t size)
{
    *value = 0;
    size_t len = strlen (keyword);
    for (const char *at = conninfo; (at = strstr (at, keyword)); at += len)
        if ((at == conninfo || at[-1] == ' ') && at[len] == '=') {
            //  a later keyword wins, as in libpq
            snprintf (value, size, "%.*s", (int)strcspn (at + len + 1, " "),
                      at + len + 1);
        }
}

//  Drop slots of earlier standbys whose test process is gone (a killed test).
static void
s_drop_orphan_slots (void)
{
    PGconn *conn = PQconnectdb (kn_test_admin_url ());
    cr_assert_eq (PQstatus (conn), CONNECTION_OK, "%s", PQerrorMessage (conn));
    PGresult *rows =
        PQexec (conn, "SELECT slot_name FROM pg_replication_slots"
                      " WHERE slot_name LIKE 'kn_test_standby_%' AND NOT active");
    for (int r = 0; PQresultStatus (rows) == PGRES_TUPLES_OK && r < PQntuples (rows);
         r++) {
        const char *name = PQgetvalue (rows, r, 0);
        long pid = strtol (name + strlen ("kn_test_standby_"), NULL, 10);
        if (pid > 0 && kill ((pid_t)pid, 0) != 0 && errno == ESRCH) {
            const char *values[] = {name};
            PQclear (PQexecParams (conn, "SELECT pg_drop_replication_slot ($1)", 1, NULL,
                                   values, NULL, NULL, 0));
        }
    }
    PQclear (rows);
    PQfinish (conn);
}

kn_test_standby_t *
kn_test_standby_new (void)
{
    kn_test_standby_t *self = calloc (1, sizeof *self);
    cr_assert (self);
    glob_t found;
    cr_assert_eq (glob ("/usr/lib/postgresql/*/bin/postgres", 0, NULL, &found), 0,
                  "PostgreSQL server binaries not found (run ops/deps)");
    //  The newest version, as ops/pg picks it (versions are numbers: compare those).
    const char *best = NULL;
    for (size_t i = 0; i < found.gl_pathc; i++)
        if (!best || atoi (found.gl_pathv[i] + 20) > atoi (best + 20))
            best = found.gl_pathv[i];
    snprintf (self->bin, sizeof self->bin, "%.*s",
              (int)(strlen (best) - strlen ("/postgres")), best);
    globfree (&found);
    if (geteuid () == 0) {
        struct passwd *pw = getpwnam ("postgres");
        cr_assert (pw, "no postgres user (ops/pg makes it)");
        self->drop = true, self->uid = pw->pw_uid, self->gid = pw->pw_gid;
    }
    //  Inside the primary's socket directory when that is a directory (ops/test's),
    //  so its cleanup takes this one too.
    char host[200];
    struct stat st;
    s_conninfo_value (kn_test_admin_url (), "host", host, sizeof host);
    snprintf (self->dir, sizeof self->dir, "%s/standby-XXXXXX",
              host[0] == '/' && stat (host, &st) == 0 && S_ISDIR (st.st_mode) ? host
                                                                              : "/tmp");
    cr_assert (mkdtemp (self->dir), "mkdtemp %s: %s", self->dir, strerror (errno));
    if (self->drop)
        cr_assert_eq (chown (self->dir, self->uid, self->gid), 0);
    self->port = kn_test_free_port ();
    static int made;
    snprintf (self->slot, sizeof self->slot, "kn_test_standby_%d_%d", (int)getpid (),
              made++);
    s_drop_orphan_slots ();

    //  What a hot standby must have at least as much of as its primary.
    char *settings = kn_test_sql (
        kn_test_admin_url (),
        "SELECT string_agg (name || '=' || setting, ' ') FROM pg_settings WHERE name IN"
        " ('max_connections', 'max_worker_processes', 'max_wal_senders',"
        "  'max_prepared_transactions', 'max_locks_per_transaction')");
    snprintf (self->settings, sizeof self->settings, "%s", settings);
    free (settings);

    char basebackup[240], data[340];
    snprintf (basebackup, sizeof basebackup, "%s/pg_basebackup", self->bin);
    snprintf (data, sizeof data, "%s/data", self->dir);
    char *url = (char *)kn_test_admin_url ();
    char *argv[] = {basebackup, "-D", data, "-R",       "-X", "stream", "-c",
                    "fast",     "-C", "-S", self->slot, "-d", url,      NULL};
    cr_assert_eq (s_run (self, argv), 0, "pg_basebackup failed (see %s/commands.log)",
                  self->dir);
    kn_test_standby_start (self);
    return self;
}

char *
kn_test_standby_url (kn_test_standby_t *self, const char *url)
{
    char *standby = NULL;
    cr_assert (asprintf (&standby, "%s host=%s port=%d", url, self->dir, self->port) > 0);
    return standby;
}

void
kn_test_standby_start (kn_test_standby_t *self)
{
    cr_assert_eq (self->postmaster, 0, "the standby is running already");
    char postgres[240], data[340], port[16], log[340];
    snprintf (postgres, sizeof postgres, "%s/postgres", self->bin);
    snprintf (data, sizeof data, "%s/data", self->dir);
    snprintf (port, sizeof port, "%d", self->port);
    snprintf (log, sizeof log, "%s/postgres.log", self->dir);
    //  argv: the server, its directory, socket and port, then -c for each setting.
    char *argv[32] = {postgres,
                      "-D",
                      data,
                      "-k",
                      self->dir,
                      "-p",
                      port,
                      "-c",
                      "listen_addresses=",
                      "-c",
                      "hot_standby=on",
                      "-c",
                      "hot_standby_feedback=on",
                      "-c",
                      "fsync=off"};
    int argc = 15;
    char settings[sizeof self->settings];
    snprintf (settings, sizeof settings, "%s", self->settings);
    for (char *save = NULL, *word = strtok_r (settings, " ", &save); word && argc < 30;
         word = strtok_r (NULL, " ", &save)) {
        argv[argc++] = "-c";
        argv[argc++] = word;
    }
    argv[argc] = NULL;
    pid_t parent = getpid ();
    pid_t pid = fork ();
    if (pid == 0) {
        //  SIGQUIT: the postmaster's immediate shutdown, which takes its children
        //  and shared memory with it.
        s_child_identity (self, parent, SIGQUIT);
        FILE *out = fopen (log, "a");
        if (out) {
            dup2 (fileno (out), STDOUT_FILENO);
            dup2 (fileno (out), STDERR_FILENO);
        }
        execv (postgres, argv);
        _exit (127);
    }
    cr_assert (pid > 0, "cannot fork the standby");
    self->postmaster = pid;
    char *admin = kn_test_standby_url (self, kn_test_admin_url ());
    int64_t deadline = zclock_mono () + READY_MS;
    PGPing ping = PQPING_NO_RESPONSE;
    while ((ping = PQping (admin)) != PQPING_OK && zclock_mono () < deadline) {
        int status;
        cr_assert_eq (waitpid (pid, &status, WNOHANG), 0,
                      "the standby exited (status 0x%x; see %s)", status, log);
        zclock_sleep (20); // not up yet: look again shortly
    }
    free (admin);
    cr_assert_eq (ping, PQPING_OK, "the standby did not accept connections (see %s)",
                  log);
    //  Accepting connections is not yet holding what the primary holds: a database
    //  made while it was down is not there to log in to until replayed.
    cr_assert (kn_test_standby_wait_replayed (self, READY_MS),
               "the standby did not replay up to the primary's position (see %s)", log);
}

void
kn_test_standby_stop (kn_test_standby_t *self)
{
    if (self->postmaster <= 0)
        return;
    kill (self->postmaster, SIGINT); // fast shutdown
    int status = 0;
    while (waitpid (self->postmaster, &status, 0) < 0 && errno == EINTR)
        ;
    self->postmaster = 0;
}

bool
kn_test_standby_wait_replayed (kn_test_standby_t *self, int timeout_ms)
{
    char *position = kn_test_sql (kn_test_admin_url (), "SELECT pg_current_wal_lsn ()");
    char *admin = kn_test_standby_url (self, kn_test_admin_url ());
    int64_t deadline = zclock_mono () + timeout_ms;
    bool replayed = false;
    while (!replayed && zclock_mono () < deadline) {
        char *behind = kn_test_sqlf (
            admin, "SELECT pg_wal_lsn_diff ('%s', pg_last_wal_replay_lsn ()) > 0",
            position);
        replayed = behind && strcmp (behind, "f") == 0;
        free (behind);
        if (!replayed)
            zclock_sleep (10); // replay goes on: look again shortly
    }
    free (admin);
    free (position);
    return replayed;
}

void
kn_test_standby_pause (kn_test_standby_t *self, bool paused)
{
    char *admin = kn_test_standby_url (self, kn_test_admin_url ());
    free (kn_test_sql (admin, paused ? "SELECT pg_wal_replay_pause ()"
                                     : "SELECT pg_wal_replay_resume ()"));
    free (admin);
}

void
kn_test_standby_destroy (kn_test_standby_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    kn_test_standby_t *self = *self_p;
    kn_test_standby_stop (self);
    //  The slot is active until the primary's walsender has seen the standby go.
    char *sql = NULL;
    cr_assert (asprintf (&sql,
                         "SELECT count (pg_drop_replication_slot (slot_name)) FROM"
                         " pg_replication_slots WHERE slot_name = '%s' AND NOT active",
                         self->slot) > 0);
    char *left = NULL;
    int64_t deadline = zclock_mono () + 10000;
    do {
        free (kn_test_sql (kn_test_admin_url (), sql));
        free (left);
        left = kn_test_sqlf (
            kn_test_admin_url (),
            "SELECT count (*) FROM pg_replication_slots WHERE slot_name = '%s'",
            self->slot);
        if (strcmp (left, "0"))
            zclock_sleep (20); // still active: its walsender is ending
    } while (strcmp (left, "0") && zclock_mono () < deadline);
    cr_expect_str_eq (left, "0", "replication slot %s was not dropped", self->slot);
    free (left);
    free (sql);
    if (!getenv ("KINNET_TEST_KEEP")) {
        char command[400];
        snprintf (command, sizeof command, "rm -rf '%s'", self->dir);
        int rc = system (command);
        (void)rc;
    }
    free (self);
    *self_p = NULL;
}
