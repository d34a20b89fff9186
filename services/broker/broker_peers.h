/*  broker_peers: how many brokers of the partnership are up now, so that each applies
    its share of the per-agency limits (docs/operations.md, "Redundant brokers").
    Every broker stamps its own row in core.broker_presence and counts the brokers
    stamped within three intervals, itself included. While the database cannot be
    reached, the last count stands. */
#ifndef BROKER_PEERS_H_INCLUDED
#define BROKER_PEERS_H_INCLUDED

#include <stdbool.h>
#include <stdint.h>

#include "kn_db.h"

typedef struct _broker_peers_t broker_peers_t;

//  db borrowed (NULL: always 1, nothing stamped); name: this broker's row, the same
//  across its restarts (so a restart is not counted twice).
broker_peers_t *broker_peers_new (kn_db_t *db, const char *name, int interval_ms);
void broker_peers_destroy (broker_peers_t **self_p);

//  Stamp this broker's row and count the brokers up, when the interval is over
//  (now: zclock_mono). Returns true when the count changed.
bool broker_peers_tick (broker_peers_t *self, int64_t now);

//  Brokers up, this one included: at least 1.
int broker_peers_count (broker_peers_t *self);

//  limit split over count brokers: limit / count, never below floor.
double broker_peers_split (int count, double limit, double floor);

#endif
