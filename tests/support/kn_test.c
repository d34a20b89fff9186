/*  kn_test: fixture for suites that need PostgreSQL and the real daemons. */
#include "kn_test.h"
#include "kn_alloc.h"
#include "kn_audit_chain.h"
#include "kn_clock.h"

#include <arpa/inet.h>
#include <criterion/criterion.h>
#include <netinet/in.h>
#include <pthread.h>
#include <sys/socket.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <unistd.h>

#include "kinnet/v1/intake.pb-c.h"
#include "kn_agency.h"
#include "kn_crypto.h"
#include "kn_uuid.h"

#if defined(__SANITIZE_ADDRESS__)
#include <sanitizer/lsan_interface.h>
#endif

void
kn_test_no_leaks (void)
{
#if defined(__SANITIZE_ADDRESS__)
    if (__lsan_do_recoverable_leak_check () != 0) {
        cr_log_error ("LeakSanitizer found leaks; its report is on stderr");
        abort ();
    }
#endif
}

//  -------------------------------------------------------------------------
//  Stack

struct _kn_test_stack_t {
    char dir[256];
    char *db_url;
    char frontend[64];
    char backend[64];
    char frontend1[64];   // the second broker's, in a stack with two
    char backend1[64];
    char backends[140];   // what the services connect to: every broker's backend
    char server_key[41];
    char broker_cert[300];
    char service_dir[300];
    char intake_cert[300];
    char consent_cert[300];
    char routing_cert[300];
    char reporting_cert[300];
    char admin_cert[300];
    char records_cert[300];
    char health_dir[300];
    char health_cert[420];
    char audit_key[300];
    char audit_public[80];
    char clock_file[300];
    char field_key[300];
    char agency_cert[4][420];
    char agency_id[4][KN_UUID_STR];   // [2]: none, never registered
    pid_t broker;
    pid_t broker1;   // the second broker, in a stack with two
    pid_t intake;
    pid_t intake1;   // a second intake process, when a test starts one
    pid_t consent;
    pid_t routing[2];
    pid_t reporting;
    pid_t admin;
    pid_t records;   // started by the tests that use it (kn_test_stack_start_records)
    char *env[3 * 16 + 1];   // daemon, variable, value triples, then NULL
};

//  Two distinct free loopback ports, from the kernel's ephemeral range (CZMQ's
//  "*" scans from 49152 in every process, so parallel suites would collide).
static void
s_free_ports (int *first, int *second)
{
    int fds[2];
    int *ports[2] = {first, second};
    for (int i = 0; i < 2; i++) {
        fds[i] = socket (AF_INET, SOCK_STREAM, 0);
        struct sockaddr_in addr = {.sin_family = AF_INET,
                                   .sin_addr.s_addr = htonl (INADDR_LOOPBACK)};
        cr_assert_eq (bind (fds[i], (struct sockaddr *) &addr, sizeof addr), 0);
        socklen_t len = sizeof addr;
        getsockname (fds[i], (struct sockaddr *) &addr, &len);
        *ports[i] = ntohs (addr.sin_port);
    }
    close (fds[0]);
    close (fds[1]);
}

int
kn_test_free_port (void)
{
    int first, second;
    s_free_ports (&first, &second);
    return first;
}

//  Fork and exec one daemon; its pid, or -1.
static pid_t
s_fork_daemon (kn_test_stack_t *self, const char *binary, const char *log_name,
               const char *service_cert)
{
    char log_path[400];
    snprintf (log_path, sizeof log_path, "%s/%s.log", self->dir, log_name);
    pid_t parent = getpid ();
    pid_t pid = fork ();
    if (pid == 0) {
        //  The daemon dies with the test process: when ctest kills a test on its
        //  timeout, nothing is left running (holding ports, the database, CPU). A
        //  parent gone before the prctl is seen by getppid.
        if (prctl (PR_SET_PDEATHSIG, SIGKILL) != 0 || getppid () != parent)
            _exit (127);
        FILE *log = fopen (log_path, "a");
        if (log) {
            dup2 (fileno (log), STDERR_FILENO);
            dup2 (fileno (log), STDOUT_FILENO);
        }
        char service_key[400];
        snprintf (service_key, sizeof service_key, "%s/broker.cert", self->dir);
        setenv ("KINNET_DATABASE_URL", self->db_url, 1);
        setenv ("KINNET_BROKER_CERT", self->broker_cert, 1);
        setenv ("KINNET_SERVICE_CERTS", self->service_dir, 1);
        setenv ("KINNET_HEALTH_CERTS", self->health_dir, 1);
        //  Each broker binds its own pair; every service is a worker of all of them.
        bool second = strcmp (log_name, "broker1") == 0;
        bool broker = second || strcmp (log_name, "broker") == 0;
        setenv ("KINNET_BROKER_FRONTEND", second ? self->frontend1 : self->frontend, 1);
        setenv ("KINNET_BROKER_BACKEND",
                second ? self->backend1 : broker ? self->backend : self->backends, 1);
        if (service_cert)
            setenv ("KINNET_SERVICE_CERT", service_cert, 1);
        setenv ("KINNET_SERVER_KEY", self->server_key, 1);
        setenv ("KINNET_FIELD_KEY", self->field_key, 1);
        setenv ("KINNET_HEARTBEAT_MS", "200", 1);
        setenv ("KINNET_REQUEST_TIMEOUT_MS", "1500", 1);
        setenv ("KINNET_LOG_LEVEL", "info", 1);
        setenv ("KINNET_CLOCK_FILE", self->clock_file, 1);
        setenv ("KINNET_FEED_WORKERS", "2", 1);
        setenv ("KINNET_AUDIT_KEY", self->audit_key, 1);
        setenv ("KINNET_AUDIT_PUBLIC_KEY", self->audit_public, 1);
        setenv ("KINNET_AUDIT_SEAL_MS", "200", 1);
        setenv ("KINNET_AUDIT_CHECKPOINT_S", "1", 1);
        char ledger[400];
        snprintf (ledger, sizeof ledger, "%s/erasures.ledger", self->dir);
        setenv ("KINNET_ERASURE_LEDGER", ledger, 1);
        for (int i = 0; self->env[i]; i += 3)
            if (strcmp (self->env[i], log_name) == 0)
                setenv (self->env[i + 1], self->env[i + 2], 1);
        execl (binary, binary, (char *) NULL);
        _exit (127);
    }
    return pid;
}

//  Daemons are forked by one thread that lives as long as the process: the death
//  signal comes when the forking *thread* ends, and tests restart daemons from
//  threads of their own (test_resilience's killer), which end before the test does.
static struct {
    pthread_mutex_t lock;
    pthread_cond_t changed;
    pid_t owner;   //  the process whose spawner thread runs (a fork has none)
    bool pending;
    kn_test_stack_t *self;
    const char *binary, *log_name, *service_cert;
    pid_t pid;
} s_spawner = {.lock = PTHREAD_MUTEX_INITIALIZER, .changed = PTHREAD_COND_INITIALIZER};
static pthread_mutex_t s_spawn_one = PTHREAD_MUTEX_INITIALIZER;

static void *
s_spawner_run (void *arg)
{
    (void) arg;
    pthread_mutex_lock (&s_spawner.lock);
    while (true) {
        while (!s_spawner.pending)
            pthread_cond_wait (&s_spawner.changed, &s_spawner.lock);
        s_spawner.pid = s_fork_daemon (s_spawner.self, s_spawner.binary, s_spawner.log_name,
                                       s_spawner.service_cert);
        s_spawner.pending = false;
        pthread_cond_broadcast (&s_spawner.changed);
    }
    return NULL;
}

static pid_t
s_spawn (kn_test_stack_t *self, const char *binary, const char *log_name,
         const char *service_cert)
{
    pthread_mutex_lock (&s_spawn_one);   //  one request at a time
    pthread_mutex_lock (&s_spawner.lock);
    if (s_spawner.owner != getpid ()) {
        pthread_t thread;
        cr_assert_eq (pthread_create (&thread, NULL, s_spawner_run, NULL), 0);
        pthread_detach (thread);
        s_spawner.owner = getpid ();
    }
    s_spawner.self = self;
    s_spawner.binary = binary;
    s_spawner.log_name = log_name;
    s_spawner.service_cert = service_cert;
    s_spawner.pending = true;
    pthread_cond_broadcast (&s_spawner.changed);
    while (s_spawner.pending)
        pthread_cond_wait (&s_spawner.changed, &s_spawner.lock);
    pid_t pid = s_spawner.pid;
    pthread_mutex_unlock (&s_spawner.lock);
    pthread_mutex_unlock (&s_spawn_one);
    cr_assert (pid > 0, "cannot fork %s", log_name);
    return pid;
}

//  Stop a daemon. A SIGTERM must end in a clean exit 0: under the sanitizer build
//  that also means no leak and no undefined behaviour was reported on the way out.
static void
s_stop (kn_test_stack_t *self, pid_t *pid, int signal, const char *name)
{
    if (*pid <= 0)
        return;
    kill (*pid, signal);
    int status = 0;
    waitpid (*pid, &status, 0);
    *pid = 0;
    if (signal == SIGTERM)
        cr_expect (WIFEXITED (status) && WEXITSTATUS (status) == 0,
                   "%s did not exit cleanly (status 0x%x); see %s/%s.log", name, status,
                   self->dir, name);
}

kn_test_stack_t *
kn_test_stack_new (void)
{
    return kn_test_stack_new_with_env (NULL);
}

static kn_test_stack_t *s_stack_new (const char *const *env, int brokers);

kn_test_stack_t *
kn_test_stack_new_with_env (const char *const *env)
{
    return s_stack_new (env, 1);
}

kn_test_stack_t *
kn_test_stack_new_redundant (void)
{
    return s_stack_new (NULL, 2);
}

kn_test_stack_t *
kn_test_stack_new_redundant_with_env (const char *const *env)
{
    return s_stack_new (env, 2);
}

//  Every daemon of the stack serves through every broker: wait for each service at
//  each broker (the first broker's were awaited as each daemon started).
static void
s_wait_second_broker (kn_test_stack_t *self)
{
    const char *services[] = {"intake", "consent", "routing", "feed", "reporting", "admin"};
    for (size_t i = 0; i < sizeof services / sizeof services[0]; i++)
        cr_assert (kn_test_stack_wait_service_at (self, 1, services[i], 20000),
                   "%s did not register with the second broker (logs in %s)", services[i],
                   self->dir);
}

static kn_test_stack_t *
s_stack_new (const char *const *env, int brokers)
{
    kn_test_stack_t *self = calloc (1, sizeof *self);
    for (int i = 0; env && env[i]; i += 3) {
        cr_assert (i + 3 < (int) (sizeof self->env / sizeof self->env[0]) && env[i + 1]
                       && env[i + 2],
                   "kn_test_stack_new_with_env: triples, at most 16, then NULL");
        for (int k = 0; k < 3; k++)
            self->env[i + k] = strdup (env[i + k]);
    }
    snprintf (self->dir, sizeof self->dir, "/tmp/kn-stack-XXXXXX");
    cr_assert (mkdtemp (self->dir));
    self->db_url = kn_test_db_create ();
    //  The directory's districts: north, where every stack agency is (an agency's
    //  district is a registered one), and three more (intake refuses a referral for
    //  a district nobody knows).
    free (kn_test_sql (self->db_url, "INSERT INTO core.district (code, name) VALUES"
                                     " ('north', 'North'), ('south', 'South'),"
                                     " ('east', 'East'), ('west', 'West')"));
    int frontend_port, backend_port;
    s_free_ports (&frontend_port, &backend_port);
    snprintf (self->frontend, sizeof self->frontend, "tcp://127.0.0.1:%d", frontend_port);
    snprintf (self->backend, sizeof self->backend, "tcp://127.0.0.1:%d", backend_port);
    snprintf (self->backends, sizeof self->backends, "%s", self->backend);
    if (brokers == 2) {
        int ports[2];
        do
            s_free_ports (&ports[0], &ports[1]);
        while (ports[0] == frontend_port || ports[0] == backend_port
               || ports[1] == frontend_port || ports[1] == backend_port);
        snprintf (self->frontend1, sizeof self->frontend1, "tcp://127.0.0.1:%d", ports[0]);
        snprintf (self->backend1, sizeof self->backend1, "tcp://127.0.0.1:%d", ports[1]);
        snprintf (self->backends, sizeof self->backends, "%s,%s", self->backend,
                  self->backend1);
    }

    //  Broker certificate.
    zcert_t *broker = zcert_new ();
    snprintf (self->broker_cert, sizeof self->broker_cert, "%s/broker.cert", self->dir);
    cr_assert_eq (zcert_save (broker, self->broker_cert), 0);
    snprintf (self->server_key, sizeof self->server_key, "%s", zcert_public_txt (broker));
    zcert_destroy (&broker);
    snprintf (self->broker_cert, sizeof self->broker_cert, "%s/broker.cert_secret", self->dir);

    //  Service certificates; their public halves go in the service directory.
    snprintf (self->service_dir, sizeof self->service_dir, "%s/services", self->dir);
    zsys_dir_create ("%s", self->service_dir);
    const char *services[] = {"intake", "consent", "routing", "reporting", "admin",
                              "records"};
    const char *serves[] = {"intake", "consent", "routing,feed", "reporting", "admin",
                            "records"};
    char *secrets[] = {self->intake_cert,    self->consent_cert, self->routing_cert,
                       self->reporting_cert, self->admin_cert,   self->records_cert};
    char path[400];
    for (int i = 0; i < 6; i++) {
        zcert_t *cert = zcert_new ();
        zcert_set_meta (cert, "service", "%s", serves[i]);
        snprintf (path, sizeof path, "%s/%s.cert", self->dir, services[i]);
        cr_assert_eq (zcert_save (cert, path), 0);
        snprintf (path, sizeof path, "%s/%s.cert", self->service_dir, services[i]);
        cr_assert_eq (zcert_save_public (cert, path), 0);
        snprintf (secrets[i], 300, "%s/%s.cert_secret", self->dir, services[i]);
        zcert_destroy (&cert);
    }
    //  The health check's certificate: MMI only, not an agency.
    snprintf (self->health_dir, sizeof self->health_dir, "%s/health", self->dir);
    zsys_dir_create ("%s", self->health_dir);
    zcert_t *health = zcert_new ();
    snprintf (path, sizeof path, "%s/health.cert", self->dir);
    cr_assert_eq (zcert_save (health, path), 0);
    snprintf (self->health_cert, sizeof self->health_cert, "%s_secret", path);
    snprintf (path, sizeof path, "%s/health.cert", self->health_dir);
    cr_assert_eq (zcert_save_public (health, path), 0);
    zcert_destroy (&health);
    //  The routing clock: real time until a test moves it.
    snprintf (self->clock_file, sizeof self->clock_file, "%s/clock", self->dir);
    cr_assert_eq (kn_clock_write (self->clock_file, (int64_t) time (NULL)), 0);

    snprintf (self->field_key, sizeof self->field_key, "%s/field.key", self->dir);
    kn_error_t err;
    snprintf (self->audit_key, sizeof self->audit_key, "%s/audit.key", self->dir);
    cr_assert_eq (kn_audit_signer_create (self->audit_key, self->audit_public, &err), 0, "%s",
                  err.message);
    cr_assert_eq (kn_crypto_generate_key_file (self->field_key, &err), 0, "%s", err.message);

    //  Agencies 0 and 1 are registered; 2 has a certificate but is unknown; 3
    //  (KN_TEST_ADMIN) is the administrator, made as `kinnet admin init` makes one.
    kn_db_t *db = kn_db_new (self->db_url, NULL, &err);
    cr_assert (db, "%s", err.message);
    for (int i = 0; i < 4; i++) {
        zcert_t *cert = zcert_new ();
        snprintf (path, sizeof path, "%s/agency%d.cert", self->dir, i);
        cr_assert_eq (zcert_save (cert, path), 0);
        snprintf (self->agency_cert[i], sizeof self->agency_cert[i], "%s_secret", path);
        if (i < 2) {
            char name[32];
            snprintf (name, sizeof name, "Agency %d", i);
            cr_assert_eq (kn_agency_add (db, name, i ? "health" : "school", "north",
                                         zcert_public_txt (cert), self->agency_id[i], &err),
                          0, "%s", err.message);
        }
        if (i == KN_TEST_ADMIN)
            cr_assert_eq (kn_agency_init_administrator (db, "Partnership Administration",
                                                        "local_authority", "north",
                                                        zcert_public_txt (cert),
                                                        self->agency_id[i], &err),
                          0, "%s", err.message);
        zcert_destroy (&cert);
    }
    kn_db_destroy (&db);

    kn_test_stack_start_broker (self);
    if (brokers == 2)
        kn_test_stack_start_broker_at (self, 1);
    kn_test_stack_start_intake (self);
    self->consent = s_spawn (self, KN_CONSENT_BIN, "consent", self->consent_cert);
    cr_assert (kn_test_stack_wait_service (self, "intake", 20000),
               "intake did not become ready (logs in %s)", self->dir);
    cr_assert (kn_test_stack_wait_service (self, "consent", 20000),
               "consent did not become ready (logs in %s)", self->dir);
    kn_test_stack_start_routing (self, 0);
    kn_test_stack_start_reporting (self);
    self->admin = s_spawn (self, KN_ADMIN_BIN, "admin", self->admin_cert);
    cr_assert (kn_test_stack_wait_service (self, "admin", 20000),
               "admin did not become ready (logs in %s)", self->dir);
    if (brokers == 2)
        s_wait_second_broker (self);
    return self;
}

void
kn_test_stack_start_records (kn_test_stack_t *self)
{
    self->records = s_spawn (self, KN_RECORDS_BIN, "records", self->records_cert);
    cr_assert (kn_test_stack_wait_service (self, "records", 20000),
               "records did not become ready (logs in %s)", self->dir);
}

void
kn_test_stack_stop_records (kn_test_stack_t *self, int signal)
{
    s_stop (self, &self->records, signal, "records");
}

void
kn_test_stack_set_env (kn_test_stack_t *self, const char *daemon, const char *variable,
                       const char *value)
{
    int i = 0;
    while (self->env[i] && (strcmp (self->env[i], daemon) || strcmp (self->env[i + 1], variable)))
        i += 3;
    if (self->env[i]) {
        free (self->env[i + 2]);
        self->env[i + 2] = strdup (value);
        return;
    }
    cr_assert (i + 3 < (int) (sizeof self->env / sizeof self->env[0]),
               "kn_test_stack_set_env: at most 16 triples");
    self->env[i] = strdup (daemon);
    self->env[i + 1] = strdup (variable);
    self->env[i + 2] = strdup (value);
}

void
kn_test_stack_start_reporting (kn_test_stack_t *self)
{
    self->reporting = s_spawn (self, KN_REPORTING_BIN, "reporting", self->reporting_cert);
    cr_assert (kn_test_stack_wait_service (self, "reporting", 20000),
               "reporting did not become ready (logs in %s)", self->dir);
}

void
kn_test_stack_stop_reporting (kn_test_stack_t *self, int signal)
{
    s_stop (self, &self->reporting, signal, "reporting");
}

pid_t
kn_test_stack_reporting_pid (kn_test_stack_t *self)
{
    return self->reporting;
}

void
kn_test_stack_destroy (kn_test_stack_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    kn_test_stack_t *self = *self_p;
    s_stop (self, &self->intake, SIGTERM, "intake");
    s_stop (self, &self->intake1, SIGTERM, "intake1");
    s_stop (self, &self->consent, SIGTERM, "consent");
    s_stop (self, &self->routing[0], SIGTERM, "routing");
    s_stop (self, &self->routing[1], SIGTERM, "routing1");
    s_stop (self, &self->reporting, SIGTERM, "reporting");
    s_stop (self, &self->admin, SIGTERM, "admin");
    s_stop (self, &self->records, SIGTERM, "records");
    s_stop (self, &self->broker, SIGTERM, "broker");
    s_stop (self, &self->broker1, SIGTERM, "broker1");
    if (!getenv ("KINNET_TEST_KEEP")) {
        char command[400];
        snprintf (command, sizeof command, "rm -rf '%s'", self->dir);
        int rc = system (command);
        (void) rc;
    }
    free (self->db_url);
    for (int i = 0; self->env[i]; i++)
        free (self->env[i]);
    free (self);
    *self_p = NULL;
}

const char *
kn_test_stack_db_url (kn_test_stack_t *self)
{
    return self->db_url;
}

const char *
kn_test_stack_dir (kn_test_stack_t *self)
{
    return self->dir;
}

const char *
kn_test_stack_frontend (kn_test_stack_t *self)
{
    return self->frontend;
}

const char *
kn_test_stack_backend (kn_test_stack_t *self)
{
    return self->backend;
}

const char *
kn_test_stack_frontend_at (kn_test_stack_t *self, int which)
{
    cr_assert (which == 0 || (which == 1 && self->frontend1[0]));
    return which ? self->frontend1 : self->frontend;
}

const char *
kn_test_stack_backends (kn_test_stack_t *self)
{
    return self->backends;
}

const char *
kn_test_stack_server_key (kn_test_stack_t *self)
{
    return self->server_key;
}

const char *
kn_test_stack_agency_id (kn_test_stack_t *self, int agency)
{
    return self->agency_id[agency];
}

const char *
kn_test_stack_agency_cert_path (kn_test_stack_t *self, int agency)
{
    return self->agency_cert[agency];
}

zcert_t *
kn_test_stack_agency_cert (kn_test_stack_t *self, int agency)
{
    zcert_t *cert = zcert_load (self->agency_cert[agency]);
    cr_assert (cert);
    return cert;
}

zsock_t *
kn_test_stack_dealer (kn_test_stack_t *self, int agency, int which)
{
    zsock_t *dealer = zsock_new (ZMQ_DEALER);
    cr_assert (dealer);
    zsock_set_linger (dealer, 0);
    zcert_t *cert = kn_test_stack_agency_cert (self, agency);
    zcert_apply (cert, dealer);
    zcert_destroy (&cert);
    zsock_set_curve_serverkey (dealer, kn_test_stack_server_key (self));
    cr_assert_eq (zsock_connect (dealer, "%s", kn_test_stack_frontend_at (self, which)), 0);
    return dealer;
}

const char *
kn_test_stack_health_cert_path (kn_test_stack_t *self)
{
    return self->health_cert;
}

const char *
kn_test_stack_service_cert_path (kn_test_stack_t *self)
{
    return self->intake_cert;
}

kn_client_t *
kn_test_stack_client (kn_test_stack_t *self, int agency, int timeout_ms, int retries)
{
    return kn_test_stack_client_to (self, self->frontend, agency, timeout_ms, retries);
}

kn_client_t *
kn_test_stack_client_to (kn_test_stack_t *self, const char *endpoints, int agency,
                         int timeout_ms, int retries)
{
    zcert_t *cert = kn_test_stack_agency_cert (self, agency);
    kn_error_t err;
    kn_client_t *client = kn_client_new (endpoints, cert, self->server_key, &err);
    zcert_destroy (&cert);
    cr_assert (client, "%s", err.message);
    kn_client_set_timeout (client, timeout_ms);
    kn_client_set_retries (client, retries);
    return client;
}

void
kn_test_stack_stop_intake (kn_test_stack_t *self, int signal)
{
    s_stop (self, &self->intake, signal, "intake");
}

void
kn_test_stack_start_intake (kn_test_stack_t *self)
{
    cr_assert_eq (self->intake, 0);
    self->intake = s_spawn (self, KN_INTAKE_BIN, "intake", self->intake_cert);
}

void
kn_test_stack_start_intake1 (kn_test_stack_t *self)
{
    cr_assert_eq (self->intake1, 0);
    self->intake1 = s_spawn (self, KN_INTAKE_BIN, "intake1", self->intake_cert);
}

void
kn_test_stack_stop_intake1 (kn_test_stack_t *self, int signal)
{
    s_stop (self, &self->intake1, signal, "intake1");
}

pid_t
kn_test_stack_broker_pid (kn_test_stack_t *self)
{
    return self->broker;
}

void
kn_test_stack_stop_broker (kn_test_stack_t *self, int signal)
{
    s_stop (self, &self->broker, signal, "broker");
}

void
kn_test_stack_start_broker (kn_test_stack_t *self)
{
    kn_test_stack_start_broker_at (self, 0);
}

void
kn_test_stack_start_broker_at (kn_test_stack_t *self, int which)
{
    kn_test_stack_frontend_at (self, which);   // asserts the broker exists
    pid_t *pid = which ? &self->broker1 : &self->broker;
    cr_assert_eq (*pid, 0);
    *pid = s_spawn (self, KN_BROKER_BIN, which ? "broker1" : "broker", NULL);
}

void
kn_test_stack_stop_broker_at (kn_test_stack_t *self, int which, int signal)
{
    kn_test_stack_frontend_at (self, which);
    s_stop (self, which ? &self->broker1 : &self->broker, signal,
            which ? "broker1" : "broker");
}

bool
kn_test_stack_wait_service (kn_test_stack_t *self, const char *service, int timeout_ms)
{
    return kn_test_stack_wait_service_at (self, 0, service, timeout_ms);
}

bool
kn_test_stack_wait_service_at (kn_test_stack_t *self, int which, const char *service,
                               int timeout_ms)
{
    int64_t deadline = zclock_mono () + timeout_ms;
    kn_client_t *client
        = kn_test_stack_client_to (self, kn_test_stack_frontend_at (self, which), 0, 200, 0);
    bool ready = false;
    while (!ready && zclock_mono () < deadline) {
        kn_error_t err;
        zframe_t *reply = kn_client_call (client, "mmi.service", service, strlen (service), &err);
        if (reply) {
            ready = zframe_streq (reply, "200");
            zframe_destroy (&reply);
            if (!ready)
                zclock_sleep (20);   // the answer was "not yet": poll again shortly
        }
    }
    kn_client_destroy (&client);
    return ready;
}

char *
kn_test_stack_cli_env (kn_test_stack_t *self, int agency)
{
    char *env = malloc (2048);
    snprintf (env, 2048,
              "KINNET_ENDPOINT='%s' KINNET_CERT='%s' KINNET_SERVER_KEY='%s' "
              "KINNET_DATABASE_URL='%s'",
              self->frontend, self->agency_cert[agency], self->server_key, self->db_url);
    return env;
}

void
kn_test_stack_start_routing (kn_test_stack_t *self, int which)
{
    cr_assert (which == 0 || which == 1);
    cr_assert_eq (self->routing[which], 0);
    self->routing[which]
        = s_spawn (self, KN_ROUTING_BIN, which ? "routing1" : "routing", self->routing_cert);
    cr_assert (kn_test_stack_wait_service (self, "routing", 20000),
               "routing did not become ready (logs in %s)", self->dir);
    cr_assert (kn_test_stack_wait_service (self, "feed", 20000),
               "feed did not become ready (logs in %s)", self->dir);
}

void
kn_test_stack_stop_routing (kn_test_stack_t *self, int which, int signal)
{
    s_stop (self, &self->routing[which], signal, which ? "routing1" : "routing");
}

void
kn_test_stack_set_clock (kn_test_stack_t *self, int64_t seconds)
{
    cr_assert_eq (kn_clock_write (self->clock_file, seconds), 0);
}

const char *
kn_test_stack_clock_file (kn_test_stack_t *self)
{
    return self->clock_file;
}

const char *
kn_test_stack_audit_public_key (kn_test_stack_t *self)
{
    return self->audit_public;
}

size_t
kn_test_stack_pids (kn_test_stack_t *self, pid_t *pids, size_t max)
{
    pid_t all[] = {self->broker,     self->intake,    self->consent, self->routing[0],
                   self->routing[1], self->reporting, self->admin,   self->broker1};
    size_t n = 0;
    for (size_t i = 0; i < sizeof all / sizeof all[0]; i++)
        if (all[i] > 0 && n < max)
            pids[n++] = all[i];
    return n;
}
