/*  kn_test_tools: what suites use besides the stack: the CLI, HTTP and Prometheus
    text, a referral request, standard error captured. */
#include "kn_test.h"
#include "kn_agency.h"
#include "kn_alloc.h"

#include <arpa/inet.h>
#include <criterion/criterion.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <unistd.h>

#include "kinnet/v1/intake.pb-c.h"
#include "kn_pb.h"

const char *
kn_test_cli_bin (void)
{
    return KN_CLI_BIN;
}

const char *
kn_test_data_dir (void)
{
    return KN_TEST_DATA;
}

//  -------------------------------------------------------------------------
//  HTTP and Prometheus text

int
kn_test_http (int port, const char *method, const char *path, char **headers, char **body)
{
    int fd = socket (AF_INET, SOCK_STREAM, 0);
    cr_assert (fd >= 0);
    struct timeval timeout = {.tv_sec = 10};
    setsockopt (fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, sizeof timeout);
    struct sockaddr_in addr = {.sin_family = AF_INET,
                               .sin_port = htons ((uint16_t) port),
                               .sin_addr.s_addr = htonl (INADDR_LOOPBACK)};
    cr_assert_eq (connect (fd, (struct sockaddr *) &addr, sizeof addr), 0,
                  "cannot connect to 127.0.0.1:%d", port);
    char request[512];
    int len = snprintf (request, sizeof request,
                        "%s %s HTTP/1.1\r\nHost: 127.0.0.1:%d\r\nConnection: close\r\n"
                        "Content-Length: 0\r\n\r\n",
                        method, path, port);
    cr_assert_eq (send (fd, request, (size_t) len, MSG_NOSIGNAL), len);
    size_t cap = 1 << 20, got = 0;
    char *buf = malloc (cap);
    ssize_t n;
    while (got + 1 < cap && (n = recv (fd, buf + got, cap - 1 - got, 0)) > 0)
        got += (size_t) n;
    close (fd);
    buf[got] = 0;
    int status = 0;
    cr_assert_eq (sscanf (buf, "HTTP/1.%*d %d", &status), 1, "not an HTTP response: %.80s", buf);
    char *end = strstr (buf, "\r\n\r\n");
    cr_assert (end, "HTTP response without the end of its headers");
    *end = 0;
    if (headers)
        *headers = strdup (buf);
    if (body)
        *body = strdup (end + 4);
    free (buf);
    return status;
}

bool
kn_test_metric (const char *text, const char *series, double *value)
{
    size_t len = strlen (series);
    for (const char *line = text; line && *line;) {
        if (strncmp (line, series, len) == 0 && line[len] == ' ') {
            *value = strtod (line + len + 1, NULL);
            return true;
        }
        line = strchr (line, '\n');
        line = line ? line + 1 : NULL;
    }
    return false;
}

//  -------------------------------------------------------------------------

zframe_t *
kn_test_referral_request (int seed, const char *key)
{
    char given[32], dob[16];
    snprintf (given, sizeof given, "Child%d", seed);
    snprintf (dob, sizeof dob, "20%02d-%02d-%02d", 10 + seed % 10, 1 + seed % 12,
              1 + seed % 28);
    Kinnet__V1__Person child = KINNET__V1__PERSON__INIT;
    child.given_name = given;
    child.family_name = "Kowalska";
    child.date_of_birth = dob;
    char *languages[] = {"pl", "en"};
    child.languages = languages;
    child.n_languages = 2;
    Kinnet__V1__Need need = KINNET__V1__NEED__INIT;
    need.category = KINNET__V1__NEED_CATEGORY__LANGUAGE_SUPPORT;
    need.description = "Arrived in September, needs support with English at school.";
    Kinnet__V1__Need *needs[] = {&need};
    Kinnet__V1__LawfulGround ground = KINNET__V1__LAWFUL_GROUND__INIT;
    ground.basis = KINNET__V1__LAWFUL_BASIS__PUBLIC_TASK;
    ground.justification = "Early help assessment under the local safeguarding plan.";
    Kinnet__V1__SubmitReferral submit = KINNET__V1__SUBMIT_REFERRAL__INIT;
    submit.idempotency_key = (char *) key;
    submit.child = &child;
    submit.needs = needs;
    submit.n_needs = 1;
    submit.urgency = KINNET__V1__URGENCY__PRIORITY;
    submit.district = "north";
    submit.lawful_ground = &ground;
    Kinnet__V1__IntakeRequest request = KINNET__V1__INTAKE_REQUEST__INIT;
    request.op_case = KINNET__V1__INTAKE_REQUEST__OP_SUBMIT;
    request.submit = &submit;
    size_t len = kinnet__v1__intake_request__get_packed_size (&request);
    zframe_t *frame = zframe_new (NULL, len);
    kinnet__v1__intake_request__pack (&request, zframe_data (frame));
    return frame;
}

int
kn_test_run_cli (const char *env, char **output, const char *fmt, ...)
{
    char args[2048];
    va_list ap;
    va_start (ap, fmt);
    vsnprintf (args, sizeof args, fmt, ap);
    va_end (ap);
    char *command = malloc (8192);
    snprintf (command, 8192, "%s '%s' %s 2>&1", env ? env : "", KN_CLI_BIN, args);
    FILE *pipe = popen (command, "r");
    free (command);
    cr_assert (pipe);
    size_t cap = 1 << 20;
    char *buf = calloc (1, cap);
    size_t got = fread (buf, 1, cap - 1, pipe);
    buf[got] = 0;
    int status = pclose (pipe);
    if (output)
        *output = buf;
    else
        free (buf);
    return WIFEXITED (status) ? WEXITSTATUS (status) : -1;
}

int
kn_test_stack_cli (kn_test_stack_t *stack, int agency, char **output, const char *fmt, ...)
{
    char args[2048];
    va_list ap;
    va_start (ap, fmt);
    vsnprintf (args, sizeof args, fmt, ap);
    va_end (ap);
    char *env = kn_test_stack_cli_env (stack, agency);
    int rc = kn_test_run_cli (env, output, "%s", args);
    free (env);
    return rc;
}

char *
kn_test_sqlf (const char *url, const char *fmt, ...)
{
    char sql[4096];
    va_list ap;
    va_start (ap, fmt);
    vsnprintf (sql, sizeof sql, fmt, ap);
    va_end (ap);
    return kn_test_sql (url, sql);
}

int
kn_test_countf (const char *url, const char *fmt, ...)
{
    char sql[4096];
    va_list ap;
    va_start (ap, fmt);
    vsnprintf (sql, sizeof sql, fmt, ap);
    va_end (ap);
    return kn_test_count (url, sql);
}

char *
kn_test_stderr_begin (int *saved)
{
    char *path = kn_strdup ("/tmp/kn-test-log-XXXXXX");
    int fd = mkstemp (path);
    cr_assert (fd >= 0);
    fflush (stderr);
    *saved = dup (STDERR_FILENO);
    dup2 (fd, STDERR_FILENO);
    close (fd);
    return path;
}

char *
kn_test_stderr_end (int saved, char *path)
{
    fflush (stderr);
    dup2 (saved, STDERR_FILENO);
    close (saved);
    char *text = kn_test_read_file (path);
    unlink (path);
    free (path);
    return text ? text : kn_strdup ("");
}

void
kn_test_stack_grant (kn_test_stack_t *self, int agency, const char *role)
{
    kn_error_t err;
    kn_db_t *owner = kn_db_new (kn_test_stack_db_url (self), NULL, &err);
    cr_assert (owner, "%s", err.message);
    cr_assert_eq (kn_agency_set_role (owner, kn_test_stack_agency_id (self, agency), role, true,
                                      &err),
                  0, "%s", err.message);
    kn_db_destroy (&owner);
}

Kinnet__V1__IntakeReply *
kn_test_refer_via (kn_client_t *client, int seed, const char *key)
{
    zframe_t *body = kn_test_referral_request (seed, key);
    kn_error_t err;
    zframe_t *reply =
        kn_client_call (client, "intake", zframe_data (body), zframe_size (body), &err);
    zframe_destroy (&body);
    cr_assert (reply, "no reply for %s: %s", key, err.message);
    Kinnet__V1__IntakeReply *decoded =
        kinnet__v1__intake_reply__unpack (NULL, zframe_size (reply), zframe_data (reply));
    zframe_destroy (&reply);
    cr_assert (decoded, "%s: the reply is not an IntakeReply", key);
    return decoded;
}

Kinnet__V1__ReportingReply *
kn_test_reporting_call (kn_test_stack_t *stack, int agency,
                        const Kinnet__V1__ReportingRequest *request, int timeout_ms)
{
    size_t len = kinnet__v1__reporting_request__get_packed_size (request);
    uint8_t *buf = malloc (len ? len : 1);
    cr_assert (buf);
    kinnet__v1__reporting_request__pack (request, buf);
    kn_client_t *client = kn_test_stack_client (stack, agency, timeout_ms, 1);
    kn_error_t err;
    zframe_t *frame = kn_client_call (client, "reporting", buf, len, &err);
    kn_client_destroy (&client);
    free (buf);
    cr_assert (frame, "%s", err.message);
    Kinnet__V1__ReportingReply *reply = kinnet__v1__reporting_reply__unpack (
        NULL, zframe_size (frame), zframe_data (frame));
    zframe_destroy (&frame);
    cr_assert (reply, "the reply is not a ReportingReply");
    return reply;
}

void
kn_test_stack_refer (kn_test_stack_t *self, int agency, int seed, const char *key,
                     char subject[KN_UUID_STR])
{
    kn_client_t *client = kn_test_stack_client (self, agency, 10000, 2);
    Kinnet__V1__IntakeReply *reply = kn_test_refer_via (client, seed, key);
    kn_client_destroy (&client);
    kinnet__v1__intake_reply__free_unpacked (reply, NULL);
    char *value = kn_test_sqlf (kn_test_stack_db_url (self),
                                "SELECT rs.subject_id FROM intake.referral_subject rs"
                                " JOIN intake.idempotency i ON i.object_id = rs.referral_id"
                                " WHERE i.key = '%s' AND rs.position = 0",
                                key);
    cr_assert (value, "referral %s was not stored", key);
    snprintf (subject, KN_UUID_STR, "%s", value);
    free (value);
}

zframe_t *
kn_test_mdp_reply (zsock_t *client, int timeout_ms)
{
    zsock_set_rcvtimeo (client, timeout_ms);
    zmsg_t *msg = zmsg_recv (client);
    if (!msg)
        return NULL;
    cr_assert_eq (zmsg_size (msg), 4, "a reply is [\"\"][MDPC01][service][body]");
    zframe_t *body = zframe_dup (zmsg_last (msg));
    zmsg_destroy (&msg);
    return body;
}
