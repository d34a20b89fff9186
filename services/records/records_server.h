/*  records_server: the "records" service (records.proto): a data-protection
    officer's erasures and legal holds. */
#ifndef RECORDS_SERVER_H_INCLUDED
#define RECORDS_SERVER_H_INCLUDED

#include <czmq.h>

#include "kn_crypto.h"
#include "kn_db.h"
#include "kn_error.h"

typedef struct _records_server_t records_server_t;

//  ledger_path: the erasure ledger file (may be NULL: none kept, and a restore
//  cannot re-apply erasures; docs/operations.md). Its missing lines are written
//  from core.erasure first.
records_server_t *records_server_new (kn_db_t *db, kn_crypto_t *crypto,
                                      const char *ledger_path, kn_error_t *err);
void records_server_destroy (records_server_t **self_p);

//  How many days a shorter retention period waits before it applies
//  (KINNET_RETENTION_SHORTEN_DELAY_DAYS, RECORDS_SHORTEN_DELAY_MIN to _MAX; the
//  default until set: RECORDS_SHORTEN_DELAY_DEFAULT).
void records_server_set_shorten_delay (records_server_t *self, int days);
#define RECORDS_SHORTEN_DELAY_DEFAULT 30
#define RECORDS_SHORTEN_DELAY_MIN     1
#define RECORDS_SHORTEN_DELAY_MAX     3650

//  How many people one DPO agency may erase in an hour (KINNET_ERASURE_HOURLY_LIMIT,
//  1 to RECORDS_ERASE_LIMIT_MAX; the default until set: RECORDS_ERASE_LIMIT_DEFAULT).
//  Erasure cannot be undone: a stolen DPO key erases this many at most before the
//  other DPOs, told of each, can act. The retention keeper is not limited.
void records_server_set_erase_limit (records_server_t *self, int per_hour);
#define RECORDS_ERASE_LIMIT_DEFAULT 50
#define RECORDS_ERASE_LIMIT_MAX     100000

//  One request (caller frames, then the body); the reply.
zmsg_t *records_server_handle (records_server_t *self, zmsg_t *request);

#endif
