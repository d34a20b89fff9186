/*  broker_guard: how much memory each connection makes the broker hold, bounded.
    libzmq hands over a multipart message only once its last frame has arrived and
    holds every frame until then; ZMQ_MAXMSGSIZE bounds each frame, not how many
    there are. So one admitted key could send an endless message and the broker
    would buffer it all. The guard accounts for each TCP connection instead: the
    bytes the kernel received on it (TCP_INFO), less those still in the kernel's
    queue (SIOCINQ), less what the broker has read from it as complete messages
    (with an allowance per frame for CURVE and ZMTP framing, one for the handshake
    and, where libzmq pings the peer, one per ping for its PONG), is what libzmq is
    holding for it. A connection holding more than
    per_connection bytes, or the largest one while all together hold more than
    total, is shut down (shutdown(2) on its descriptor; libzmq sees the connection
    fail, frees the partial message and closes it; a client library reconnects).
    Only TCP connections are guarded: other transports are local. */
#ifndef BROKER_GUARD_H_INCLUDED
#define BROKER_GUARD_H_INCLUDED

#include <czmq.h>

typedef struct _broker_guard_t broker_guard_t;

broker_guard_t *broker_guard_new (size_t per_connection, size_t total);
void broker_guard_destroy (broker_guard_t **self_p);

//  Connection events from a socket monitor: accepted and closed descriptors.
//  per_key: how many connections one CURVE key may hold open on that socket at once
//  (0: any number). Each costs the broker memory of its own (libzmq's pipes and
//  buffers, about 0.1 MiB), so an admitted key must not open them without end.
//  ping_ms: libzmq pings the peer this often (0: never); its PONGs arrive on the
//  connection but are never read as messages, so each interval is allowed one.
void broker_guard_opened (broker_guard_t *self, int fd, size_t per_key, int ping_ms);
void broker_guard_closed (broker_guard_t *self, int fd);

//  A complete message read from a guarded socket (its frames carry the descriptor
//  as "__fd" metadata). Returns that descriptor, or -1 when it carries none. The
//  first message tells whose the connection is; one past its key's per_key is shut
//  down and BROKER_GUARD_REFUSED returned: drop the message.
#define BROKER_GUARD_REFUSED -2
int broker_guard_read (broker_guard_t *self, zmsg_t *msg);

//  Measure every connection; shut down those over their share. Returns how many.
int broker_guard_check (broker_guard_t *self);

//  Bytes the connection on fd holds now by the last check (0 when unknown).
size_t broker_guard_held (broker_guard_t *self, int fd);

#endif
