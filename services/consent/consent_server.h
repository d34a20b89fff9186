/*  consent_server: one consent request in, one ConsentReply out; every refusal is
    an Error with code, message and field, and is audited. */
#ifndef CONSENT_SERVER_H_INCLUDED
#define CONSENT_SERVER_H_INCLUDED

#include <czmq.h>

#include "consent_release.h"
#include "consent_store.h"

typedef struct _consent_server_t consent_server_t;

//  Borrows store and releases; they outlive the server.
consent_server_t *consent_server_new (consent_store_t *store, consent_release_t *releases);
void consent_server_destroy (consent_server_t **self_p);
zmsg_t *consent_server_handle (consent_server_t *self, zmsg_t *request);

#endif
