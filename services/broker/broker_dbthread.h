/*  broker_dbthread: the broker's database work, on a thread of its own. It reads the
    agency key table (at start, on each NOTIFY of kinnet_agency_keys, every
    key_reload_ms, and every second after a failure) and stamps the broker's presence
    (broker_peers), and hands what it read to the broker's loop. So the loop never
    waits on the database: while PostgreSQL fails over, each reconnection may wait
    connect_timeout per server that does not answer, and the broker keeps answering
    meanwhile (MMI, replies, limits, with the key table it has until that goes
    stale). */
#ifndef BROKER_DBTHREAD_H_INCLUDED
#define BROKER_DBTHREAD_H_INCLUDED

#include <czmq.h>

#include "kn_db.h"

typedef struct {
    kn_db_t *db;               // taken: the thread owns it from now on
    int key_reload_ms;
    const char *presence_name; // NULL: presence not stamped, peers stay 1
    int presence_ms;
} broker_dbthread_args_t;

typedef struct _broker_dbthread_t broker_dbthread_t;

//  Start the thread (args copied); NULL when it cannot.
broker_dbthread_t *broker_dbthread_new (const broker_dbthread_args_t *args);
void broker_dbthread_destroy (broker_dbthread_t **self_p);

//  The socket to poll: readable when the thread has news.
zsock_t *broker_dbthread_socket (broker_dbthread_t *self);

//  The news, once the socket is readable: a new agency table into *agencies (the
//  caller owns it; NULL when none came) and the brokers up into *peers (0 when
//  unchanged).
void broker_dbthread_take (broker_dbthread_t *self, zhashx_t **agencies, int *peers);

#endif
