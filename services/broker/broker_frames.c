/*  broker_frames: reading the MDP envelope of a client's or a worker's message.
    Frames, as spec 7 defines them (the peer address already popped):
      client  -> broker  ["" ]["MDPC01"][service][body...]
      worker  -> broker  [""]["MDPW01"][0x01][service]               READY
      worker  -> broker  [""]["MDPW01"][0x03][client][""][body...]   REPLY
      worker  -> broker  [""]["MDPW01"][0x04 or 0x05]                HEARTBEAT, DISCONNECT */
#include "broker_frames.h"

#include "kn_mdp.h"

//  The empty delimiter and the header; each popped frame counts, even a bad one.
static bool
s_envelope (zmsg_t *msg, const char *protocol)
{
    char *empty = zmsg_popstr (msg);
    char *header = zmsg_popstr (msg);
    bool valid = empty && !*empty && header && streq (header, protocol);
    zstr_free (&empty);
    zstr_free (&header);
    return valid;
}

void
broker_frames_client (zmsg_t *msg, broker_client_frames_t *frames)
{
    *frames = (broker_client_frames_t) {.verdict = BROKER_CLIENT_DROP};
    bool valid = s_envelope (msg, KN_MDPC);
    frames->service = zmsg_popstr (msg);
    frames->body_frames = zmsg_size (msg);
    if (!valid)
        frames->verdict = BROKER_CLIENT_DROP;
    else if (!frames->service)
        frames->verdict = BROKER_CLIENT_NO_SERVICE;
    else if (strlen (frames->service) == 0
             || strlen (frames->service) > BROKER_MAX_SERVICE_NAME)
        frames->verdict = BROKER_CLIENT_BAD_SERVICE;
    else if (frames->body_frames == 0)
        frames->verdict = BROKER_CLIENT_NO_BODY;
    else if (strncmp (frames->service, "mmi.", 4) == 0)
        frames->verdict = BROKER_CLIENT_MMI;
    else
        frames->verdict = BROKER_CLIENT_REQUEST;
}

void
broker_frames_client_free (broker_client_frames_t *frames)
{
    zstr_free (&frames->service);
}

char *
broker_frames_client_service (zmsg_t *msg)
{
    zframe_t *service = zmsg_size (msg) >= 3 ? zmsg_first (msg) : NULL;   // ""
    service = service ? zmsg_next (msg) : NULL;                            // "MDPC01"
    service = service ? zmsg_next (msg) : NULL;
    return service ? zframe_strdup (service) : strdup ("");
}

void
broker_frames_worker (zmsg_t *msg, broker_worker_frames_t *frames)
{
    *frames = (broker_worker_frames_t) {.command = -1};
    bool valid = s_envelope (msg, KN_MDPW);
    zframe_t *command = zmsg_pop (msg);
    frames->command = (command && zframe_size (command) == 1) ? zframe_data (command)[0] : -1;
    zframe_destroy (&command);
    frames->valid = valid && frames->command >= 0;
    if (!frames->valid)
        return;
    if (frames->command == KN_MDPW_READY) {
        frames->service = zmsg_popstr (msg);
        frames->service_ok = frames->service && *frames->service
                             && strlen (frames->service) <= BROKER_MAX_SERVICE_NAME
                             && strncmp (frames->service, "mmi.", 4) != 0;
    }
    else if (frames->command == KN_MDPW_REPLY) {
        frames->client = zmsg_unwrap (msg);
        frames->deliverable = frames->client && zmsg_size (msg) >= 1;
    }
}

void
broker_frames_worker_free (broker_worker_frames_t *frames)
{
    zstr_free (&frames->service);
    zframe_destroy (&frames->client);
}

const char *
broker_frames_meta (zmsg_t *msg, const char *property)
{
    zframe_t *frame = zmsg_first (msg);
    frame = frame ? zmsg_next (msg) : NULL;
    return frame ? zframe_meta (frame, property) : NULL;
}

void
broker_frames_key (zmsg_t *msg, char key[41])
{
    const char *peer = broker_frames_meta (msg, "User-Id");
    snprintf (key, 41, "%s", peer ? peer : "");
}

bool
broker_frames_listed (const char *list, const char *name)
{
    if (!list)
        return false;
    if (streq (list, "*"))
        return true;
    size_t len = strlen (name);
    for (const char *at = list; *at;) {
        size_t item = strcspn (at, ",");
        if (item == len && strncmp (at, name, len) == 0)
            return true;
        at += item + (at[item] == ',');
    }
    return false;
}

const char *
broker_frames_label (const char *service)
{
    if (!service || !*service)
        return "";
    for (const char *c = service; *c; c++)
        if (!((*c >= 'a' && *c <= 'z') || (*c >= '0' && *c <= '9') || *c == '.' || *c == '-'
              || *c == '_'))
            return "(not an identifier)";
    return service;
}
