/*  broker_tcp: TCP_INFO's tcpi_bytes_received and SIOCINQ. */
#include "broker_tcp.h"

#include <linux/sockios.h>
#include <linux/tcp.h>
#include <netinet/in.h>
#include <stddef.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>

int
broker_tcp_received (int fd, uint64_t *received, uint64_t *unread)
{
    struct tcp_info info;
    socklen_t length = sizeof info;
    memset (&info, 0, sizeof info);
    if (getsockopt (fd, IPPROTO_TCP, TCP_INFO, &info, &length) != 0
        || length < offsetof (struct tcp_info, tcpi_bytes_received)
                        + sizeof info.tcpi_bytes_received)
        return -1;
    int queued = 0;
    if (ioctl (fd, SIOCINQ, &queued) != 0 || queued < 0)
        queued = 0;
    *received = info.tcpi_bytes_received;
    *unread = (uint64_t) queued;
    return 0;
}
