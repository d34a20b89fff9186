/*  The installed client library is all an agency needs: `cmake --install` into an
    empty prefix, kinnet.pc asks for nothing beyond libczmq, libzmq and
    libprotobuf-c, and docs/examples/agency.c compiles against that prefix alone and
    submits a referral to a real stack (broker, intake, PostgreSQL, CURVE). */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>

#include "kn_test.h"

static kn_test_stack_t *stack;
static char prefix[64];

static void
s_setup (void)
{
    zsys_init ();
    zsys_set_logstream (NULL);
    stack = kn_test_stack_new ();
    snprintf (prefix, sizeof prefix, "/tmp/kn-example-XXXXXX");
    cr_assert_not_null (mkdtemp (prefix));
}

static void
s_teardown (void)
{
    char command[128];
    snprintf (command, sizeof command, "rm -rf '%s'", prefix);
    cr_assert_eq (system (command), 0);
    kn_test_stack_destroy (&stack);
    kn_test_no_leaks ();
}

TestSuite (example, .init = s_setup, .fini = s_teardown, .timeout = 300);

//  Run command in a shell; its output (caller frees) and exit status.
static char *
s_run (const char *command, int *status)
{
    FILE *pipe = popen (command, "r");
    cr_assert_not_null (pipe);
    char *output = calloc (1, 65536);
    size_t used = fread (output, 1, 65535, pipe);
    output[used] = 0;
    int rc = pclose (pipe);
    *status = WIFEXITED (rc) ? WEXITSTATUS (rc) : -1;
    return output;
}

Test (example, an_agency_program_builds_and_runs_on_the_installed_library_alone)
{
    char command[2048];
    int status;
    snprintf (command, sizeof command, "cmake --install '%s' --prefix '%s' 2>&1", KN_BUILD_DIR,
              prefix);
    char *output = s_run (command, &status);
    cr_assert_eq (status, 0, "install failed: %s", output);
    free (output);

    //  The client library needs nothing of the services' stack.
    char env[512];
    snprintf (env, sizeof env, "PKG_CONFIG_PATH='%s/" KN_INSTALL_LIBDIR "/pkgconfig' pkg-config",
              prefix);
    snprintf (command, sizeof command,
              "(%s --print-requires kinnet; %s --print-requires-private kinnet) | sort -u", env,
              env);
    output = s_run (command, &status);
    cr_assert_eq (status, 0);
    cr_assert_str_eq (output, "libczmq\nlibprotobuf-c\nlibzmq\n");
    free (output);

    //  Build the example with only what pkg-config says (and the sanitizer runtime
    //  when this build has one: the installed archive was compiled with it).
    snprintf (command, sizeof command,
              "cc -std=gnu11 -Wall -Werror %s '%s/docs/examples/agency.c' -o '%s/agency'"
              " $(%s --cflags --libs kinnet) 2>&1",
              KN_SANITIZE_FLAGS, KN_SOURCE_DIR, prefix, env);
    output = s_run (command, &status);
    cr_assert_eq (status, 0, "the example did not build: %s", output);
    free (output);

    //  Run it as agency 0 against the stack.
    cr_assert (kn_test_stack_wait_service (stack, "intake", 10000));
    snprintf (command, sizeof command,
              "KINNET_ENDPOINT='%s' KINNET_SERVER_KEY='%s' KINNET_CERT='%s' '%s/agency' 2>&1",
              kn_test_stack_frontend (stack), kn_test_stack_server_key (stack),
              kn_test_stack_agency_cert_path (stack, 0), prefix);
    output = s_run (command, &status);
    cr_assert_eq (status, 0, "the example failed: %s", output);
    cr_assert (strstr (output, "referral "), "%s", output);
    cr_assert (strstr (output, "status RECEIVED, child Ana"), "%s", output);
    free (output);
    cr_assert_eq (kn_test_count (kn_test_stack_db_url (stack),
                                 "SELECT count (*) FROM intake.referral"),
                  1);
}
