/*  An independent client, in Python with off-the-shelf pyzmq and protobuf, written
    from docs/protocol.md alone (tests/interop/kinnet_client.py), against the real
    stack. It proves the documented protocol is the implemented one. */
#include <criterion/criterion.h>
#include <stdlib.h>
#include <sys/wait.h>

#include "kn_test.h"

//  Run an interop script against stack, with agency 0 as A, 1 as B and 2 as a stranger
//  whose key is not registered; its output goes to the test log. Asserts it exits 0.
static void
s_run_script (kn_test_stack_t *stack, const char *script)
{
    char command[8192];
    snprintf (command, sizeof command,
              "KINNET_ENDPOINT='%s' KINNET_SERVER_KEY='%s' KINNET_CERT='%s' "
              "KINNET_OTHER_CERT='%s' KINNET_STRANGER_CERT='%s' KINNET_PROTO_DIR='%s' "
              "KINNET_AGENCY_ID='%s' KINNET_OTHER_AGENCY_ID='%s' "
              "/usr/bin/python3 '%s' 2>&1",
              kn_test_stack_frontend (stack), kn_test_stack_server_key (stack),
              kn_test_stack_agency_cert_path (stack, 0),
              kn_test_stack_agency_cert_path (stack, 1),
              kn_test_stack_agency_cert_path (stack, 2), KN_SOURCE_DIR "/proto",
              kn_test_stack_agency_id (stack, 0), kn_test_stack_agency_id (stack, 1),
              script);
    FILE *pipe = popen (command, "r");
    cr_assert (pipe);
    char line[1024];
    while (fgets (line, sizeof line, pipe))
        cr_log_info ("%s", line);
    int status = pclose (pipe);
    cr_assert (WIFEXITED (status) && WEXITSTATUS (status) == 0,
               "the Python client failed (status 0x%x); its output is above", status);
}

Test (interop, python_client_from_the_protocol_document, .timeout = 180)
{
    zsys_init ();
    kn_test_stack_t *stack = kn_test_stack_new ();
    //  Routing (docs/protocol.md §13): the directory says the health agency (agency 1,
    //  district north) serves LANGUAGE_SUPPORT (3), the first need of the script's
    //  referrals, so routing offers it that need; nobody serves their HOUSING_NEED.
    char sql[256];
    snprintf (sql, sizeof sql, "INSERT INTO core.agency_need VALUES ('%s', 3)",
              kn_test_stack_agency_id (stack, 1));
    free (kn_test_sql (kn_test_stack_db_url (stack), sql));
    s_run_script (stack, KN_SOURCE_DIR "/tests/interop/kinnet_client.py");
    kn_test_stack_destroy (&stack);
    kn_test_no_leaks ();
}

//  The records service (docs/protocol/records.md §16), checked by a second independent
//  client (tests/interop/kinnet_records_client.py) written from the documents alone:
//  agency 0 is the data-protection officer, agency 1 holds no role.
Test (interop, records_client_from_the_protocol_document, .timeout = 180)
{
    zsys_init ();
    kn_test_stack_t *stack = kn_test_stack_new ();
    kn_test_stack_grant (stack, 0, "data_protection_officer");
    kn_test_stack_start_records (stack);
    cr_assert (kn_test_stack_wait_service (stack, "records", 10000),
               "the records daemon did not register with the broker");
    s_run_script (stack, KN_SOURCE_DIR "/tests/interop/kinnet_records_client.py");
    kn_test_stack_destroy (&stack);
    kn_test_no_leaks ();
}
