/*  kn_test: the test fixture. Real parts only: databases are created on the
    throwaway PostgreSQL that ops/test starts (from its migrated kinnet_template),
    and a stack is the real kinnet-broker and kinnet-intake processes with CURVE
    certificates, talking over loopback TCP. Nothing is mocked. */
#ifndef KN_TEST_H_INCLUDED
#define KN_TEST_H_INCLUDED

#include <czmq.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "kinnet/v1/intake.pb-c.h"
#include "kinnet/v1/reporting.pb-c.h"
#include "kn_client.h"
#include "kn_uuid.h"
#include "kn_db.h"

//  Under AddressSanitizer, fail (abort) the current test if anything leaked so far.
//  Criterion would otherwise pass a test whose worker LeakSanitizer complained about
//  at exit. Call it last in a suite's .fini. A no-op in other builds.
void kn_test_no_leaks (void);

//  The test cluster's superuser conninfo (KINNET_TEST_DATABASE_URL, which ops/test
//  sets); fails the test when unset.
const char *kn_test_admin_url (void);

//  A fresh database cloned from kinnet_template; returns its conninfo (caller frees).
char *kn_test_db_create (void);

//  Run SQL on url and return the first value of the first row (caller frees), or
//  NULL when there is no row. Fails the test on an SQL error.
char *kn_test_sql (const char *url, const char *sql);

//  A whole file as a string (caller frees), or NULL when it cannot be read.
char *kn_test_read_file (const char *path);

//  The first value of sql's first row as a number (a count), -1 when there is none.
int kn_test_count (const char *url, const char *sql);

//  Routing's outbox cursor in the database at url: how many events are past it
//  (to await), and how many events for routing are at or behind it and were never
//  handled, which must be none: a skipped referral.received is a referral that
//  nobody is offered.
int kn_test_outbox_past_cursor (const char *url);
int kn_test_outbox_skipped (const char *url);

//  The body of the next reply on a raw MDP client socket (caller frees), NULL after
//  timeout_ms. A reply must be ["", MDPC01, service, body].
zframe_t *kn_test_mdp_reply (zsock_t *client, int timeout_ms);

typedef struct _kn_test_stack_t kn_test_stack_t;

//  The stack's administrator: agency 3 holds only the `administrator` role.
#define KN_TEST_ADMIN 3

//  New database, certificates, two registered agencies (0 and 1), one key for an
//  unregistered agency (2), the administrator agency (KN_TEST_ADMIN), broker and
//  every service daemon (intake, consent, routing, reporting, admin) running and
//  ready.
kn_test_stack_t *kn_test_stack_new (void);
void kn_test_stack_destroy (kn_test_stack_t **self_p);

//  As kn_test_stack_new, with more environment for some of the daemons: triples of
//  daemon ("broker", "intake", "consent", "routing", "routing1", "reporting",
//  "admin"),
//  variable and value, then NULL (at most 16 triples). They apply to restarts too.
kn_test_stack_t *kn_test_stack_new_with_env (const char *const *env);

//  As kn_test_stack_new, with two brokers ("broker" and "broker1", the second on
//  its own pair of ports) sharing the broker certificate and the database; every
//  service daemon is a worker of both (KINNET_BROKER_BACKEND lists both backends)
//  and is ready at both.
kn_test_stack_t *kn_test_stack_new_redundant (void);
//  Both: two brokers, with env as kn_test_stack_new_with_env ("broker1" names the
//  second broker).
kn_test_stack_t *kn_test_stack_new_redundant_with_env (const char *const *env);

const char *kn_test_stack_db_url (kn_test_stack_t *self);
const char *kn_test_stack_dir (kn_test_stack_t *self);
const char *kn_test_stack_frontend (kn_test_stack_t *self);
const char *kn_test_stack_backend (kn_test_stack_t *self);
//  Broker which's frontend (0: the first broker's; 1: the second's, in a redundant
//  stack), and the backend list the services are given.
const char *kn_test_stack_frontend_at (kn_test_stack_t *self, int which);
const char *kn_test_stack_backends (kn_test_stack_t *self);
const char *kn_test_stack_server_key (kn_test_stack_t *self);
const char *kn_test_stack_agency_id (kn_test_stack_t *self, int agency);
//  Certificate file (secret) of agency 0, 1, 2 (2 = never registered) or
//  KN_TEST_ADMIN.
const char *kn_test_stack_agency_cert_path (kn_test_stack_t *self, int agency);
zcert_t *kn_test_stack_agency_cert (kn_test_stack_t *self, int agency);
//  The health check's certificate file (secret): the broker's MMI only.
const char *kn_test_stack_health_cert_path (kn_test_stack_t *self);
//  Service certificate file (secret) used by intake.
const char *kn_test_stack_service_cert_path (kn_test_stack_t *self);

//  Client for an agency with the given per-attempt timeout and retries.
kn_client_t *kn_test_stack_client (kn_test_stack_t *self, int agency, int timeout_ms,
                                   int retries);

//  A raw MDP client socket of an agency (a DEALER under its CURVE certificate, no
//  linger) connected to broker which's frontend (as kn_test_stack_frontend_at): a
//  test sends on it and waits on it as it likes. The caller destroys it.
zsock_t *kn_test_stack_dealer (kn_test_stack_t *self, int agency, int which);
//  The same, to endpoints (one broker's frontend or a comma-separated list).
kn_client_t *kn_test_stack_client_to (kn_test_stack_t *self, const char *endpoints,
                                      int agency, int timeout_ms, int retries);

//  Process control. signal: SIGTERM for a clean stop, SIGKILL for a crash.
void kn_test_stack_stop_intake (kn_test_stack_t *self, int signal);
void kn_test_stack_start_intake (kn_test_stack_t *self);
void kn_test_stack_stop_broker (kn_test_stack_t *self, int signal);
pid_t kn_test_stack_broker_pid (kn_test_stack_t *self);
//  A second intake process ("intake1": its log and its env triples), same certificate.
void kn_test_stack_start_intake1 (kn_test_stack_t *self);
void kn_test_stack_stop_intake1 (kn_test_stack_t *self, int signal);
void kn_test_stack_start_broker (kn_test_stack_t *self);
//  Broker which (0 or 1, as kn_test_stack_frontend_at) started or stopped.
void kn_test_stack_start_broker_at (kn_test_stack_t *self, int which);
void kn_test_stack_stop_broker_at (kn_test_stack_t *self, int which, int signal);
//  The records daemon, which a stack does not start by itself; its erasure ledger
//  is DIR/erasures.ledger (kn_test_stack_dir).
void kn_test_stack_start_records (kn_test_stack_t *self);
void kn_test_stack_stop_records (kn_test_stack_t *self, int signal);

//  The reporting daemon, stopped and started again (as a test changes its settings).
void kn_test_stack_start_reporting (kn_test_stack_t *self);
void kn_test_stack_stop_reporting (kn_test_stack_t *self, int signal);
pid_t kn_test_stack_reporting_pid (kn_test_stack_t *self);

//  Set variable to value for daemon's later starts (as kn_test_stack_new_with_env's
//  triples, which it adds to or replaces).
void kn_test_stack_set_env (kn_test_stack_t *self, const char *daemon, const char *variable,
                            const char *value);

//  Routing daemons: 0 starts with the stack; 1 is a second one on the same stream.
void kn_test_stack_start_routing (kn_test_stack_t *self, int which);
void kn_test_stack_stop_routing (kn_test_stack_t *self, int which, int signal);
//  The routing clock every daemon of the stack reads (KINNET_CLOCK_FILE).
void kn_test_stack_set_clock (kn_test_stack_t *self, int64_t seconds);
const char *kn_test_stack_clock_file (kn_test_stack_t *self);

//  The audit checkpoint signer's public key (hex) the stack's reporting daemon uses.
const char *kn_test_stack_audit_public_key (kn_test_stack_t *self);

//  The process ids of the stack's running daemons, at most max of them; how many.
//  Each daemon is killed (SIGKILL) when the process that made the stack dies.
size_t kn_test_stack_pids (kn_test_stack_t *self, pid_t *pids, size_t max);

//  Wait until MMI reports a live worker for service (true) or timeout_ms passes.
bool kn_test_stack_wait_service (kn_test_stack_t *self, const char *service,
                                 int timeout_ms);
//  The same, at broker which.
bool kn_test_stack_wait_service_at (kn_test_stack_t *self, int which, const char *service,
                                    int timeout_ms);

//  Environment for running the kinnet CLI against this stack as an agency, as a
//  string "VAR=value ..." prefix for system(3).
char *kn_test_stack_cli_env (kn_test_stack_t *self, int agency);

//  Run the kinnet CLI with env (a "VAR=value ..." prefix, may be NULL) and the
//  printf-style arguments; its exit code, and everything it printed (stdout and
//  stderr) in *output when output is not NULL (caller frees).
int kn_test_run_cli (const char *env, char **output, const char *fmt, ...)
    __attribute__ ((format (printf, 3, 4)));

//  Send the referral of child seed (kn_test_referral_request) with key through
//  client; asserts an answer came and decodes it (caller frees; its error may be set).
Kinnet__V1__IntakeReply *kn_test_refer_via (kn_client_t *client, int seed, const char *key);

//  One request to the reporting service as agency of stack, waiting up to timeout_ms
//  (one retry); asserts an answer came and decodes it (caller frees; its error may
//  be set).
Kinnet__V1__ReportingReply *kn_test_reporting_call (kn_test_stack_t *stack, int agency,
                                                    const Kinnet__V1__ReportingRequest *request,
                                                    int timeout_ms);

//  Refer child seed (kn_test_referral_request) as agency, with key; asserts it was
//  stored and puts the child's subject into subject.
void kn_test_stack_refer (kn_test_stack_t *self, int agency, int seed, const char *key,
                          char subject[KN_UUID_STR]);

//  Give agency of stack role (kn_agency_set_role with the database owner's login);
//  asserts it worked.
void kn_test_stack_grant (kn_test_stack_t *self, int agency, const char *role);

//  kn_test_run_cli as agency of stack (kn_test_stack_cli_env), printf-style.
int kn_test_stack_cli (kn_test_stack_t *stack, int agency, char **output, const char *fmt,
                       ...) __attribute__ ((format (printf, 4, 5)));

//  kn_test_sql of printf-style SQL (caller frees).
char *kn_test_sqlf (const char *url, const char *fmt, ...)
    __attribute__ ((format (printf, 2, 3)));

//  kn_test_count of printf-style SQL.
int kn_test_countf (const char *url, const char *fmt, ...)
    __attribute__ ((format (printf, 2, 3)));

//  Path of the kinnet CLI binary.
const char *kn_test_cli_bin (void);

//  Path of tests/data in the source tree (the HSDS files are in its hsds folder).
const char *kn_test_data_dir (void);

//  A free loopback TCP port (from the kernel's ephemeral range) for a daemon to bind.
int kn_test_free_port (void);

//  One HTTP/1.1 request to 127.0.0.1:port over a real socket (Connection: close);
//  the status code, with the response's headers and body in *headers and *body
//  when not NULL (caller frees). Fails the test when nothing sensible comes back.
int kn_test_http (int port, const char *method, const char *path, char **headers,
                  char **body);

//  The value of one sample in Prometheus text (series is the exact name and label
//  set, as in `kinnet_up` or `x_total{a="b"}`): true and *value when present.
bool kn_test_metric (const char *text, const char *series, double *value);

//  This process's stderr (where kn_log writes) into a new file, whose path is
//  returned; kn_test_stderr_end puts stderr back and returns what was written there
//  (caller frees; "" when nothing).
char *kn_test_stderr_begin (int *saved);
char *kn_test_stderr_end (int saved, char *path);

//  A valid referral request body for the "intake" service (packed IntakeRequest),
//  for child seed (distinct seeds, distinct children) and idempotency key.
zframe_t *kn_test_referral_request (int seed, const char *key);

#endif
