/*  The test fixture itself: a stack's daemons die with the process that made it, so
    a test that ctest kills on its timeout leaves nothing running. */
#include <criterion/criterion.h>
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include "kn_test.h"

#define MAX_DAEMONS 8

TestSuite (fixture, .timeout = 120);

Test (fixture, daemons_die_with_the_test_that_started_them)
{
    //  Orphans come to this process, which can then wait for them.
    cr_assert_eq (prctl (PR_SET_CHILD_SUBREAPER, 1), 0);
    int link[2];
    cr_assert_eq (pipe (link), 0);
    pid_t holder = fork ();
    cr_assert (holder >= 0);
    if (holder == 0) {
        //  A test process holding a stack, killed as ctest kills one on timeout.
        close (link[0]);
        zsys_init ();
        kn_test_stack_t *stack = kn_test_stack_new ();
        pid_t pids[MAX_DAEMONS];
        size_t n = kn_test_stack_pids (stack, pids, MAX_DAEMONS);
        if (write (link[1], pids, n * sizeof (pid_t)) < 0)
            _exit (1);
        close (link[1]);
        pause ();
        _exit (0);
    }
    close (link[1]);
    pid_t pids[MAX_DAEMONS];
    ssize_t got = read (link[0], pids, sizeof pids);
    close (link[0]);
    size_t n = got > 0 ? (size_t)got / sizeof (pid_t) : 0;
    cr_assert_geq (n, 6, "the holder reported %zu daemons", n);

    kill (holder, SIGKILL);
    waitpid (holder, NULL, 0);
    //  Each daemon ends (by SIGKILL) within seconds, not at the end of time.
    int64_t deadline = zclock_mono () + 10000;
    size_t ended = 0;
    bool killed = true;
    while (ended < n && zclock_mono () < deadline) {
        int status = 0;
        pid_t pid = waitpid (-1, &status, WNOHANG);
        if (pid > 0) {
            ended++;
            killed &= WIFSIGNALED (status) && WTERMSIG (status) == SIGKILL;
        } else
            zclock_sleep (20);
    }
    //  Whatever is still running goes now, before the verdict.
    for (size_t i = 0; i < n; i++)
        kill (pids[i], SIGKILL);
    while (waitpid (-1, NULL, WNOHANG) > 0)
        ;
    cr_assert_eq (ended, n, "%zu of %zu daemons outlived their test", n - ended, n);
    cr_assert (killed, "a daemon ended otherwise than by its parent's death signal");
}

//  How many times the stack's intake log says the daemon started serving.
static int
s_intake_starts (kn_test_stack_t *stack)
{
    char path[400];
    snprintf (path, sizeof path, "%s/intake.log", kn_test_stack_dir (stack));
    char *log = kn_test_read_file (path);
    int starts = 0;
    for (char *at = log; at && (at = strstr (at, "\"service.started\"")); at++)
        starts++;
    free (log);
    return starts;
}

//  Restart intake and stay until it serves: were the death signal tied to the
//  forking thread, it would then fire for sure when this thread ends.
static void *
s_restart_intake (void *stack)
{
    kn_test_stack_stop_intake (stack, SIGKILL);
    kn_test_stack_start_intake (stack);
    int64_t deadline = zclock_mono () + 30000;
    while (s_intake_starts (stack) < 2 && zclock_mono () < deadline)
        zclock_sleep (20);
    return (void *)(intptr_t)(s_intake_starts (stack) >= 2);
}

//  The death signal follows the thread that forked: a daemon restarted from a
//  test's own thread (as test_resilience does) must outlive that thread.
Test (fixture, a_daemon_restarted_from_a_thread_outlives_it)
{
    zsys_init ();
    kn_test_stack_t *stack = kn_test_stack_new ();
    pthread_t thread;
    cr_assert_eq (pthread_create (&thread, NULL, s_restart_intake, stack), 0);
    void *started = NULL;
    pthread_join (thread, &started);
    cr_assert (started, "the restarted intake never started");
    //  Still serving a moment after its thread ended.
    zclock_sleep (200);
    cr_assert (kn_test_stack_wait_service (stack, "intake", 10000),
               "intake is not serving");
    kn_test_stack_destroy (&stack); //  expects every daemon to stop cleanly on SIGTERM
    kn_test_no_leaks ();
}
