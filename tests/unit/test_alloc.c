/*  kn_alloc: an allocation that failed stops the process, saying where; it never
    hands back NULL for the caller to dereference. */
#include <criterion/criterion.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>

#include "kn_alloc.h"

Test (alloc, memory_is_there)
{
    char *text = kn_strdup ("kinnet");
    cr_assert_str_eq (text, "kinnet");
    int *numbers = kn_calloc (4, sizeof *numbers);
    cr_assert_eq (numbers[3], 0);
    numbers = kn_realloc (numbers, 8 * sizeof *numbers);
    free (numbers);
    free (text);
}

//  What a failed malloc returns: the process aborts instead.
Test (alloc, out_of_memory_aborts, .signal = SIGABRT)
{
    void *volatile nothing = kn_alloc_checked (NULL, __FILE__, __LINE__);
    cr_log_error ("kn_alloc_checked returned %p", nothing);
}
