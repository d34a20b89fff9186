/*  kn_alloc: memory that is there, or a process that stops saying why.
    A NULL from malloc that nobody checks is a crash at an address the allocation
    size chooses (undefined behaviour, sometimes a write); checking each of hundreds
    of small allocations by hand leaves some out. As czmq's zmalloc does, these
    print the caller's file and line and abort () when memory runs out: a daemon
    that stops is restarted and loses nothing, since a reply is sent only after
    COMMIT. Use them where a failure could only be "out of memory"; where the size
    comes from outside input, bound it first, or allocate with malloc and answer
    the request with an error. */
#ifndef KN_ALLOC_H_INCLUDED
#define KN_ALLOC_H_INCLUDED

#include <stddef.h>

#define kn_malloc(size)     kn_alloc_checked (malloc (size), __FILE__, __LINE__)
#define kn_calloc(n, size)  kn_alloc_checked (calloc ((n), (size)), __FILE__, __LINE__)
#define kn_realloc(p, size) kn_alloc_checked (realloc ((p), (size)), __FILE__, __LINE__)
#define kn_strdup(text)     ((char *)kn_alloc_checked (strdup (text), __FILE__, __LINE__))
#define kn_strndup(text, n) ((char *)kn_alloc_checked (strndup ((text), (n)), __FILE__, __LINE__))

//  pointer, or (when it is NULL) a message naming file and line on stderr and
//  abort (). Never returns NULL.
void *kn_alloc_checked (void *pointer, const char *file, int line);

#endif
