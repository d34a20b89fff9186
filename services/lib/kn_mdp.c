/*  kn_mdp: shared MDP settings. */
#include "kn_mdp.h"

#include "kn_config.h"

#include <czmq.h>

int
kn_mdp_heartbeat_ms (void)
{
    long ms = kn_config_int ("KINNET_HEARTBEAT_MS", KN_HEARTBEAT_MS_DEFAULT);
    return (ms >= 50 && ms <= 60000) ? (int) ms : KN_HEARTBEAT_MS_DEFAULT;
}

int
kn_mdp_server_key (const char *key_or_file, char out[41])
{
    out[0] = '\0';
    if (!key_or_file)
        return -1;
    //  A file first: a path of 40 characters, all of them in the Z85 alphabet
    //  ("/tmp/wt-h-small/.kinnet/keys/broker.cert"), also decodes as a key, and
    //  a worker given it as one never gets through the handshake.
    uint8_t raw[32];
    if (!zsys_file_exists (key_or_file) && strlen (key_or_file) == 40
        && zmq_z85_decode (raw, key_or_file)) {
        snprintf (out, 41, "%s", key_or_file);
        return 0;
    }
    zcert_t *cert = zcert_load (key_or_file);
    if (cert)
        snprintf (out, 41, "%s", zcert_public_txt (cert));
    zcert_destroy (&cert);
    return out[0] ? 0 : -1;
}
