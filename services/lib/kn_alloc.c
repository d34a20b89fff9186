/*  kn_alloc: out of memory stops the process, with the place it happened. */
#include "kn_alloc.h"

#include <stdio.h>
#include <stdlib.h>

void *
kn_alloc_checked (void *pointer, const char *file, int line)
{
    if (!pointer) {
        //  No allocation here: fprintf to an unbuffered stderr needs none.
        fprintf (stderr,
                 "{\"level\":\"fatal\",\"event\":\"out_of_memory\",\"at\":\"%s:%d\"}\n",
                 file, line);
        abort ();
    }
    return pointer;
}
