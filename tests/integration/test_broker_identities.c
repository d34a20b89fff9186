/*  Who the broker lets in on its frontend, and as what (issue 16), on the real
    stack: the health check's identity asks the broker's MMI and nothing else; a
    service's (or the health check's) key registered as an agency's opens no agency,
    so whoever holds that secret cannot act as one. */
#include <criterion/criterion.h>

#include "kinnet/v1/common.pb-c.h"
#include "kn_client.h"
#include "kn_test.h"

static kn_test_stack_t *stack;

static void
s_teardown (void)
{
    kn_test_stack_destroy (&stack);
    kn_test_no_leaks ();
}

TestSuite (identities, .fini = s_teardown, .timeout = 120);

static kn_client_t *
s_client (const char *cert_path, int timeout_ms)
{
    zcert_t *cert = zcert_load (cert_path);
    cr_assert (cert, "%s", cert_path);
    kn_error_t err;
    kn_client_t *client = kn_client_new (kn_test_stack_frontend (stack), cert,
                                         kn_test_stack_server_key (stack), &err);
    cr_assert (client, "%s", err.message);
    kn_client_set_timeout (client, timeout_ms);
    kn_client_set_retries (client, 0);
    zcert_destroy (&cert);
    return client;
}

//  One call as cert_path: the reply's body, or NULL with err set (also when the
//  reply is an error: its code and message).
static zframe_t *
s_call (const char *cert_path, const char *service, const char *body, kn_error_t *err)
{
    kn_client_t *client = s_client (cert_path, 2000);
    zframe_t *reply = kn_client_call (client, service, body, strlen (body), err);
    kn_client_destroy (&client);
    Kinnet__V1__ErrorReply *error =
        reply && !streq (service, "mmi.service")
            ? kinnet__v1__error_reply__unpack (NULL, zframe_size (reply), zframe_data (reply))
            : NULL;
    if (error && error->error) {
        kn_error_set (err, (kn_code_t) error->error->code, NULL, "%s",
                      error->error->message);
        zframe_destroy (&reply);
    }
    if (error)
        kinnet__v1__error_reply__free_unpacked (error, NULL);
    return reply;
}

Test (identities, the_health_check_asks_mmi_and_nothing_else)
{
    stack = kn_test_stack_new ();
    const char *health = kn_test_stack_health_cert_path (stack);
    kn_error_t err;
    zframe_t *reply = s_call (health, "mmi.service", "intake", &err);
    cr_assert (reply, "MMI refused the health check: %s", err.message);
    cr_assert (zframe_streq (reply, "200"));
    zframe_destroy (&reply);
    //  A service request, even one that would be refused later anyway, stops at the
    //  broker: it never reaches a worker.
    reply = s_call (health, "intake", "not even a request", &err);
    cr_assert_null (reply, "the health check reached intake");
    cr_assert_eq (err.code, KN_E_PERMISSION_DENIED, "%d %s", err.code, err.message);
    cr_assert (strstr (err.message, "mmi"), "%s", err.message);
}

Test (identities, a_service_or_health_key_registered_to_an_agency_opens_nothing)
{
    stack = kn_test_stack_new ();
    zcert_t *service = zcert_load (kn_test_stack_service_cert_path (stack));
    zcert_t *health = zcert_load (kn_test_stack_health_cert_path (stack));
    zcert_t *fresh = zcert_new ();
    char fresh_path[400];
    snprintf (fresh_path, sizeof fresh_path, "%s/fresh.cert", kn_test_stack_dir (stack));
    cr_assert_eq (zcert_save (fresh, fresh_path), 0);
    strcat (fresh_path, "_secret");
    //  An administrator's mistake (or a hostile one): intake's and the health
    //  check's public keys registered to agency 0, with a genuine new key beside
    //  them, in one statement, so one reload of the key table brings all three.
    char sql[600];
    snprintf (sql, sizeof sql,
              "INSERT INTO core.agency_key (public_key, agency_id) VALUES"
              " ('%s', '%s'), ('%s', '%s'), ('%s', '%s')",
              zcert_public_txt (service), kn_test_stack_agency_id (stack, 0),
              zcert_public_txt (health), kn_test_stack_agency_id (stack, 0),
              zcert_public_txt (fresh), kn_test_stack_agency_id (stack, 0));
    free (kn_test_sql (kn_test_stack_db_url (stack), sql));
    zcert_destroy (&service);
    zcert_destroy (&health);
    zcert_destroy (&fresh);
    //  The genuine key works once the broker has read the table again.
    kn_error_t err;
    zframe_t *reply = NULL;
    int64_t deadline = zclock_mono () + 15000;
    while (!reply && zclock_mono () < deadline)
        reply = s_call (fresh_path, "mmi.service", "intake", &err);
    cr_assert (reply, "the new agency key was never admitted: %s", err.message);
    zframe_destroy (&reply);
    //  Intake's secret is no agency's on the frontend.
    reply = s_call (kn_test_stack_service_cert_path (stack), "mmi.service", "intake", &err);
    cr_assert_null (reply, "a service key was admitted as an agency");
    cr_assert_eq (err.code, KN_E_UNAUTHENTICATED, "%d %s", err.code, err.message);
    //  The health check's stays MMI only.
    reply = s_call (kn_test_stack_health_cert_path (stack), "intake", "x", &err);
    cr_assert_null (reply, "the health check's key acted as agency 0");
    cr_assert_eq (err.code, KN_E_PERMISSION_DENIED, "%d %s", err.code, err.message);
}
