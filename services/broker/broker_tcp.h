/*  broker_tcp: two counters the kernel keeps for a TCP connection. A file of its own
    because the kernel's struct tcp_info (linux/tcp.h, which has the byte counter)
    cannot share a translation unit with glibc's netinet/tcp.h, which czmq.h pulls in. */
#ifndef BROKER_TCP_H_INCLUDED
#define BROKER_TCP_H_INCLUDED

#include <stdint.h>

//  Bytes received on fd since it was opened, and bytes of them not read yet from the
//  kernel's queue. 0, or -1 when fd is not a TCP socket or the kernel lacks the
//  counter (Linux before 4.1).
int broker_tcp_received (int fd, uint64_t *received, uint64_t *unread);

#endif
