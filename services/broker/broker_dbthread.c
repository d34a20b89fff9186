/*  broker_dbthread: the broker's database work, off its loop. What the thread reads
    waits in a slot (under a lock) for the loop to take; the pipe only says there is
    news. A table the loop never took (a newer one came, or the broker stopped) is
    freed here, never lost in a pipe. */
#include "broker_dbthread.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "broker_peers.h"
#include "kn_agency.h"
#include "kn_alloc.h"
#include "kn_log.h"

struct _broker_dbthread_t {
    zactor_t *actor;
    kn_db_t *db;
    int key_reload_ms;
    char *presence_name;
    int presence_ms;
    pthread_mutex_t lock;
    zhashx_t *agencies;   // read, not taken yet
    int peers;            // changed to, not taken yet (0: no change)
};

//  Put news in the slot and say so on the pipe.
static void
s_tell (broker_dbthread_t *self, zsock_t *pipe, zhashx_t *agencies, int peers)
{
    pthread_mutex_lock (&self->lock);
    if (agencies) {
        zhashx_destroy (&self->agencies);
        self->agencies = agencies;
    }
    if (peers)
        self->peers = peers;
    pthread_mutex_unlock (&self->lock);
    zstr_send (pipe, "NEWS");
}

//  The agency table, read now into the slot; false (logged) on failure.
static bool
s_load (broker_dbthread_t *self, zsock_t *pipe)
{
    kn_error_t err;
    zhashx_t *agencies =
        kn_db_ensure (self->db, &err) == 0 ? kn_agency_active_keys (self->db, &err) : NULL;
    if (!agencies) {
        kn_log (KN_WARN, "keys.reload_failed", "kept", "previous_agency_keys", NULL);
        return false;
    }
    s_tell (self, pipe, agencies, 0);
    return true;
}

static void
s_run (zsock_t *pipe, void *arg)
{
    broker_dbthread_t *self = arg;
    broker_peers_t *peers = broker_peers_new (self->presence_name ? self->db : NULL,
                                              self->presence_name ? self->presence_name : "",
                                              self->presence_ms);
    kn_error_t err;
    //  LISTEN before the first read: a change committed in between is not missed.
    if (kn_db_listen (self->db, "kinnet_agency_keys", &err))
        kn_log (KN_WARN, "keys.listen_failed", "problem", err.message, NULL);
    zsock_signal (pipe, 0);
    //  Read at once: a key changed between the broker's first read (at start, before
    //  this LISTEN) and now is not left for the periodic reload.
    int64_t reload_at = zclock_mono ();
    while (true) {
        zmq_pollitem_t items[2] = {{zsock_resolve (pipe), 0, ZMQ_POLLIN, 0},
                                   {NULL, kn_db_socket (self->db), ZMQ_POLLIN, 0}};
        int count = items[1].fd >= 0 ? 2 : 1;
        //  The presence stamp's timer: woken at least every presence interval.
        int64_t wait = reload_at - zclock_mono ();
        int64_t stamp_ms = self->presence_name && self->presence_ms > 0 ? self->presence_ms : 1000;
        if (wait > stamp_ms)
            wait = stamp_ms;
        if (zmq_poll (items, count, wait > 0 ? (long)wait : 0) < 0 && !zsys_interrupted)
            continue;
        if (items[0].revents & ZMQ_POLLIN) {
            char *command = zstr_recv (pipe);
            bool term = !command || strcmp (command, "$TERM") == 0;
            zstr_free (&command);
            if (term)
                break;
        }
        //  The presence stamp first: any statement on this session (and the check
        //  before it) moves a NOTIFY waiting on the socket into libpq's queue, where
        //  polling the socket never sees it. So the queue is looked at after every
        //  use of the session, not only when the socket is readable.
        int brokers = broker_peers_tick (peers, zclock_mono ()) ? broker_peers_count (peers) : 0;
        bool notified = kn_db_drain_notifies (self->db) != 0;   // -1: connection lost
        if (notified || zclock_mono () >= reload_at) {
            bool ok;
            do
                ok = s_load (self, pipe);
            while (ok && kn_db_drain_notifies (self->db) > 0);
            reload_at = zclock_mono () + (ok ? self->key_reload_ms : 1000);
        }
        if (brokers)
            s_tell (self, pipe, NULL, brokers);
    }
    broker_peers_destroy (&peers);
}

broker_dbthread_t *
broker_dbthread_new (const broker_dbthread_args_t *args)
{
    broker_dbthread_t *self = kn_calloc (1, sizeof *self);
    self->db = args->db;
    self->key_reload_ms = args->key_reload_ms > 0 ? args->key_reload_ms : 30000;
    self->presence_name = args->presence_name ? kn_strdup (args->presence_name) : NULL;
    self->presence_ms = args->presence_ms;
    pthread_mutex_init (&self->lock, NULL);
    self->actor = zactor_new (s_run, self);
    if (!self->actor)
        broker_dbthread_destroy (&self);
    return self;
}

void
broker_dbthread_destroy (broker_dbthread_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    broker_dbthread_t *self = *self_p;
    zactor_destroy (&self->actor);   // the thread has stopped when this returns
    kn_db_destroy (&self->db);
    zhashx_destroy (&self->agencies);
    pthread_mutex_destroy (&self->lock);
    free (self->presence_name);
    free (self);
    *self_p = NULL;
}

zsock_t *
broker_dbthread_socket (broker_dbthread_t *self)
{
    return zactor_sock (self->actor);
}

void
broker_dbthread_take (broker_dbthread_t *self, zhashx_t **agencies, int *peers)
{
    char *news = zstr_recv (self->actor);
    zstr_free (&news);
    pthread_mutex_lock (&self->lock);
    *agencies = self->agencies;
    self->agencies = NULL;
    *peers = self->peers;
    self->peers = 0;
    pthread_mutex_unlock (&self->lock);
}
