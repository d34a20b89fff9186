/*  kn_endpoints: which broker lists a client or worker accepts, as a table; and that
    kn_client_new and kn_worker_new refuse a bad list with that error, not later. */
#include <criterion/criterion.h>
#include <czmq.h>
#include <string.h>

#include "kn_client.h"
#include "kn_endpoints.h"
#include "kn_worker.h"

typedef struct {
    const char *list;
    int count;        // -1: refused
    const char *says; // a part of the error message, when refused
} endpoints_case_t;

static const endpoints_case_t s_cases[] = {
    {"tcp://127.0.0.1:5555", 1, NULL},
    {"tcp://10.0.0.1:5555,tcp://10.0.0.2:5555", 2, NULL},
    {"ipc:///run/kinnet/broker,tcp://broker-b.example:5555", 2, NULL},
    {"tcp://a:1,tcp://b:2,tcp://c:3,tcp://d:4,tcp://e:5,tcp://f:6,tcp://g:7,tcp://h:8", 8,
     NULL},
    {"tcp://a:1,tcp://b:2,tcp://c:3,tcp://d:4,tcp://e:5,tcp://f:6,tcp://g:7,tcp://h:8,"
     "tcp://i:9",
     -1, "more than 8"},
    {"", -1, "empty element at position 1"},
    {NULL, -1, "empty element at position 1"},
    {",tcp://b:2", -1, "empty element at position 1"},
    {"tcp://a:1,", -1, "empty element at position 2"},
    {"tcp://a:1,,tcp://b:2", -1, "empty element at position 2"},
    {"tcp://a:1, tcp://b:2", -1, "endpoint 2 must be tcp://HOST:PORT or ipc://PATH"},
    {"tcp://a:1,tcp://b :2", -1, "endpoint 2 contains a space"},
    {"udp://a:1", -1, "endpoint 1 must be tcp://HOST:PORT or ipc://PATH"},
    {"inproc://broker", -1, "must be tcp://"},
    {"tcp://", -1, "must be tcp://"},
    {"127.0.0.1:5555", -1, "must be tcp://"},
    {"TCP://a:1", -1, "must be tcp://"},
};

Test (endpoints, lists_as_a_table)
{
    for (size_t i = 0; i < sizeof s_cases / sizeof s_cases[0]; i++) {
        const endpoints_case_t *c = &s_cases[i];
        char *endpoints[KN_ENDPOINTS_MAX];
        kn_error_t err;
        kn_error_clear (&err);
        int count = kn_endpoints_parse (c->list, endpoints, &err);
        cr_expect_eq (count, c->count, "'%s': %d endpoints, expected %d (%s)",
                      c->list ? c->list : "(null)", count, c->count, err.message);
        if (count > 0) {
            //  The elements, in order, exactly as written.
            const char *at = c->list;
            for (int k = 0; k < count; k++) {
                cr_expect_eq (strncmp (at, endpoints[k], strlen (endpoints[k])), 0);
                at += strlen (endpoints[k]) + 1;
            }
            kn_endpoints_free (endpoints, count);
        } else {
            cr_expect_eq (err.code, KN_E_INVALID_ARGUMENT);
            cr_expect_str_eq (err.field, "endpoint");
            cr_expect (strstr (err.message, c->says), "'%s': message '%s' lacks '%s'",
                       c->list ? c->list : "(null)", err.message, c->says);
        }
    }
}

Test (endpoints, an_endpoint_longer_than_the_limit_is_refused)
{
    char list[KN_ENDPOINT_MAX_LEN + 8];
    memset (list, 'a', sizeof list - 1);
    list[sizeof list - 1] = 0;
    memcpy (list, "tcp://", 6);
    char *endpoints[KN_ENDPOINTS_MAX];
    kn_error_t err;
    cr_assert_eq (kn_endpoints_parse (list, endpoints, &err), -1);
    cr_assert (strstr (err.message, "longer than"), "%s", err.message);
}

Test (endpoints, client_and_worker_refuse_a_bad_list_at_once)
{
    zsys_init ();
    zcert_t *cert = zcert_new ();
    kn_error_t err;
    kn_error_clear (&err);
    kn_client_t *client =
        kn_client_new ("tcp://127.0.0.1:5555,", cert, zcert_public_txt (cert), &err);
    cr_assert_null (client);
    cr_assert_eq (err.code, KN_E_INVALID_ARGUMENT);
    cr_assert_str_eq (err.field, "endpoint");
    cr_assert (strstr (err.message, "empty element at position 2"), "%s", err.message);

    kn_error_clear (&err);
    kn_worker_t *worker = kn_worker_new ("tcp://127.0.0.1:5556,udp://x:1", "intake", cert,
                                         zcert_public_txt (cert), &err);
    cr_assert_null (worker);
    cr_assert_eq (err.code, KN_E_INVALID_ARGUMENT);
    cr_assert (strstr (err.message, "endpoint 2 must be"), "%s", err.message);

    //  A good list makes a client that knows where it is connected.
    client = kn_client_new ("tcp://127.0.0.1:9,tcp://127.0.0.1:10", cert,
                            zcert_public_txt (cert), &err);
    cr_assert (client, "%s", err.message);
    cr_assert_str_eq (kn_client_endpoint (client), "tcp://127.0.0.1:9");
    kn_client_destroy (&client);
    zcert_destroy (&cert);
}

//  Names are resolved by Kinnet, not by libzmq's I/O thread (kn_endpoint_resolve):
//  what a worker connects to is an address.
Test (endpoints, a_name_is_resolved_to_an_address)
{
    char out[KN_ENDPOINT_MAX_LEN + 1];
    cr_assert_eq (kn_endpoint_resolve ("tcp://localhost:5556", out, sizeof out, 1000), 0);
    //  IPv4, even where localhost is ::1 first: an IPv4-only socket would never
    //  connect to ::1.
    cr_assert_str_eq (out, "tcp://127.0.0.1:5556");
    cr_assert_eq (kn_endpoint_resolve ("tcp://10.1.2.3:7", out, sizeof out, 1000), 0);
    cr_assert_str_eq (out, "tcp://10.1.2.3:7");
    cr_assert_eq (kn_endpoint_resolve ("tcp://[::1]:7", out, sizeof out, 1000), 0);
    cr_assert_str_eq (out, "tcp://[::1]:7");
    cr_assert_eq (kn_endpoint_resolve ("ipc:///tmp/kinnet.sock", out, sizeof out, 1000), 0);
    cr_assert_str_eq (out, "ipc:///tmp/kinnet.sock");
    //  Too small a buffer is a failure, never a cut address.
    char small[12];
    cr_assert_eq (kn_endpoint_resolve ("tcp://10.1.2.3:5556", small, sizeof small, 1000), -1);
}

Test (endpoints, a_name_that_does_not_resolve_is_refused)
{
    //  RFC 6761: .invalid never resolves.
    char out[KN_ENDPOINT_MAX_LEN + 1] = "untouched";
    cr_assert_eq (kn_endpoint_resolve ("tcp://broker.invalid:5556", out, sizeof out, 1000), -1);
}
