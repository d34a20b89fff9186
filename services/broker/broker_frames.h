/*  broker_frames: what a client's or a worker's message says, read off its frames.
    Pure: no sockets, no broker state, so the one place where the broker reads bytes
    an agency or a service sent can be fuzzed on its own (tests/fuzz). The broker
    decides what to do with the verdict; these functions only read, and they read
    frames the way broker.c always did (as C strings, so text stops at a NUL byte). */
#ifndef BROKER_FRAMES_H_INCLUDED
#define BROKER_FRAMES_H_INCLUDED

#include <czmq.h>
#include <stdbool.h>

//  A service name is 1 to this many characters.
#define BROKER_MAX_SERVICE_NAME 64

//  What a client's message asks for.
typedef enum {
    BROKER_CLIENT_REQUEST,        // a request for a service: body frames left in msg
    BROKER_CLIENT_MMI,            // a request to the broker's own mmi.* service
    BROKER_CLIENT_DROP,           // no MDP client envelope: no MDP way to answer
    BROKER_CLIENT_NO_SERVICE,     // an envelope without a service frame
    BROKER_CLIENT_BAD_SERVICE,    // a service name empty or too long
    BROKER_CLIENT_NO_BODY,        // no body frame
} broker_client_verdict_t;

typedef struct {
    broker_client_verdict_t verdict;
    char *service;        // the service frame as text; NULL when there is none
    size_t body_frames;   // frames left in msg after the envelope
} broker_client_frames_t;

//  Read a client's envelope [""]["MDPC01"][service] off msg, whose peer address
//  the caller has popped already; the body frames stay in msg. Fills frames; free
//  its service with broker_frames_client_free.
void broker_frames_client (zmsg_t *msg, broker_client_frames_t *frames);
void broker_frames_client_free (broker_client_frames_t *frames);

//  The service a client's message names (its third frame), without reading the
//  envelope: for answering a message the broker will not read. "" when there is
//  none. Caller frees.
char *broker_frames_client_service (zmsg_t *msg);

//  What a worker's message says.
typedef struct {
    bool valid;           // an MDP worker envelope with a one-byte command
    int command;          // that byte (KN_MDPW_*), or -1
    //  READY only:
    char *service;        // the service the worker offers; NULL when missing
    bool service_ok;      // a name a worker may serve (1 to 64 characters, not mmi.*),
                          // before the key's own list of services is asked
    //  REPLY only:
    zframe_t *client;     // the client's address, unwrapped (with its empty frame)
    bool deliverable;     // a client address and at least one body frame left in msg
} broker_worker_frames_t;

//  Read a worker's envelope [""]["MDPW01"][command] off msg, whose peer address the
//  caller has popped already, and for READY the service frame, for REPLY the client
//  address; what is left in msg is a reply's body. Free with broker_frames_worker_free.
void broker_frames_worker (zmsg_t *msg, broker_worker_frames_t *frames);
void broker_frames_worker_free (broker_worker_frames_t *frames);

//  A metadata property of the peer that sent msg (User-Id, __fd): it rides on the
//  peer's frames, after the routing id ROUTER puts first. NULL when absent.
const char *broker_frames_meta (zmsg_t *msg, const char *property);

//  The sending connection's key (its ZAP User-Id, Z85) copied into key, "" when the
//  message carries none: a copy, since the frame it belongs to is about to be freed.
void broker_frames_key (zmsg_t *msg, char key[41]);

//  Whether name is in list: "*", one name, or a comma list ("routing,feed").
bool broker_frames_listed (const char *list, const char *name);

//  A service name fit for logs and metric labels: itself when a plain identifier,
//  "(not an identifier)" otherwise, so nothing a client puts in that frame (a name,
//  say) ever reaches a log.
const char *broker_frames_label (const char *service);

#endif
