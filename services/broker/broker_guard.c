/*  broker_guard: per-connection accounting of what libzmq holds for each peer. */
#include "broker_guard.h"

#include <sys/socket.h>

#include "broker_frames.h"
#include "broker_tcp.h"
#include "kn_log.h"
#include "kn_metrics.h"

//  On the wire a frame costs at most 9 bytes of ZMTP header plus, under CURVE, a
//  MESSAGE command around it (8 bytes of name, 8 of nonce, 16 of MAC, 1 of flags
//  and its own header): 64 covers it with room to spare.
#define FRAME_ALLOWANCE 64
//  Greeting, HELLO, WELCOME, INITIATE with metadata, READY: a few hundred bytes.
#define HANDSHAKE_ALLOWANCE 4096

typedef struct {
    int fd;
    uint64_t read;        // wire bytes the broker has taken off it, estimated high
    size_t held;          // by the last check
    size_t per_key;       // connections its key may hold on its socket (0: any)
    int ping_ms;          // libzmq pings it this often (0: never)
    int64_t opened_at;    // monotonic ms
    int64_t pongs;        // PONGs allowed for so far
    char key[41];         // its peer's CURVE key, from its first message ("" before)
    bool refused;         // shut down for its key's count: counts no more
} connection_t;

struct _broker_guard_t {
    size_t per_connection;
    size_t total;
    zhashx_t *connections;   // fd (as key) -> connection_t
};

static void
s_connection_free (void **item)
{
    free (*item);
    *item = NULL;
}

//  Keys are descriptors (plus one), stored in the pointer itself.
static int
s_key_compare (const void *a, const void *b)
{
    intptr_t x = (intptr_t) a, y = (intptr_t) b;
    return x < y ? -1 : x > y;
}

static size_t
s_key_hash (const void *key)
{
    return (size_t) (intptr_t) key;
}

broker_guard_t *
broker_guard_new (size_t per_connection, size_t total)
{
    broker_guard_t *self = calloc (1, sizeof *self);
    if (!self)
        return NULL;
    self->per_connection = per_connection;
    self->total = total;
    self->connections = zhashx_new ();
    zhashx_set_key_destructor (self->connections, NULL);
    zhashx_set_key_duplicator (self->connections, NULL);
    zhashx_set_key_comparator (self->connections, s_key_compare);
    zhashx_set_key_hasher (self->connections, s_key_hash);
    zhashx_set_destructor (self->connections, s_connection_free);
    return self;
}

void
broker_guard_destroy (broker_guard_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    zhashx_destroy (&(*self_p)->connections);
    free (*self_p);
    *self_p = NULL;
}

//  Keys are the descriptor plus one, so descriptor 0 is not a NULL key.
static void *
s_key (int fd)
{
    return (void *) (intptr_t) (fd + 1);
}

void
broker_guard_opened (broker_guard_t *self, int fd, size_t per_key, int ping_ms)
{
    if (fd < 0)
        return;
    connection_t *connection = calloc (1, sizeof *connection);
    if (!connection)
        return;
    connection->fd = fd;
    connection->read = HANDSHAKE_ALLOWANCE;
    connection->per_key = per_key;
    connection->ping_ms = ping_ms;
    connection->opened_at = zclock_mono ();
    zhashx_update (self->connections, s_key (fd), connection);
}

void
broker_guard_closed (broker_guard_t *self, int fd)
{
    if (fd >= 0)
        zhashx_delete (self->connections, s_key (fd));
}

static void
s_cut (connection_t *connection, const char *why)
{
    char held[24];
    snprintf (held, sizeof held, "%zu", connection->held);
    kn_log (KN_WARN, "connection.cut", "reason", why, "held_bytes", held, NULL);
    kn_metrics_counter_add ("kinnet_broker_connections_cut_total", 1, why, NULL);
    //  The descriptor stays libzmq's to close: shutdown only makes its next read
    //  fail, so no descriptor is closed under libzmq or reused meanwhile.
    shutdown (connection->fd, SHUT_RDWR);
    connection->held = 0;
}

//  How many connections of key, other than except, are open and not refused.
static size_t
s_count_key (broker_guard_t *self, const char *key, const connection_t *except)
{
    //  The table's own cursor: nothing else walks it while a message is read.
    size_t count = 0;
    for (connection_t *other = zhashx_first (self->connections); other;
         other = zhashx_next (self->connections))
        count += other != except && !other->refused && streq (other->key, key);
    return count;
}

int
broker_guard_read (broker_guard_t *self, zmsg_t *msg)
{
    const char *fd_text = broker_frames_meta (msg, "__fd");
    if (!fd_text)
        return -1;
    int fd = atoi (fd_text);
    connection_t *connection = zhashx_lookup (self->connections, s_key (fd));
    if (!connection)
        return fd;
    connection->read += zmsg_content_size (msg) + (uint64_t) zmsg_size (msg) * FRAME_ALLOWANCE;
    if (connection->refused)
        return BROKER_GUARD_REFUSED;
    if (!connection->key[0]) {
        //  Its first message: whose it is, and whether that key has room for it.
        broker_frames_key (msg, connection->key);
        if (connection->per_key && connection->key[0]
            && s_count_key (self, connection->key, connection) >= connection->per_key) {
            s_cut (connection, "key_connections");
            connection->refused = true;
            return BROKER_GUARD_REFUSED;
        }
    }
    return fd;
}

//  What libzmq holds for one connection: received, less unread, less taken.
static size_t
s_measure (connection_t *connection)
{
    if (connection->ping_ms > 0) {
        //  One PONG (a ZMTP command: about 40 bytes under CURVE) per ping interval
        //  since it opened. A busy worker sends nothing else for minutes; without
        //  this its PONGs would count as a message piling up, and cut it in time.
        int64_t pings = (zclock_mono () - connection->opened_at) / connection->ping_ms;
        if (pings > connection->pongs) {
            connection->read += (uint64_t) (pings - connection->pongs) * FRAME_ALLOWANCE;
            connection->pongs = pings;
        }
    }
    uint64_t received, unread;
    if (broker_tcp_received (connection->fd, &received, &unread) != 0)
        return 0;   // not TCP, gone, or a kernel without the counter
    uint64_t taken = connection->read + unread;
    return received > taken ? (size_t) (received - taken) : 0;
}

int
broker_guard_check (broker_guard_t *self)
{
    int cut = 0;
    size_t sum = 0;
    connection_t *largest = NULL;
    for (connection_t *connection = zhashx_first (self->connections); connection;
         connection = zhashx_next (self->connections)) {
        connection->held = s_measure (connection);
        if (connection->held > self->per_connection) {
            s_cut (connection, "connection_limit");
            cut++;
            continue;
        }
        sum += connection->held;
        if (!largest || connection->held > largest->held)
            largest = connection;
    }
    if (sum > self->total && largest && largest->held) {
        s_cut (largest, "total_limit");
        cut++;
    }
    return cut;
}

size_t
broker_guard_held (broker_guard_t *self, int fd)
{
    connection_t *connection = zhashx_lookup (self->connections, s_key (fd));
    return connection ? connection->held : 0;
}
