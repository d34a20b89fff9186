/*  kn_mdp: shared MDP settings. */
#include "kn_mdp.h"

#include "kn_config.h"

int
kn_mdp_heartbeat_ms (void)
{
    long ms = kn_config_int ("KINNET_HEARTBEAT_MS", KN_HEARTBEAT_MS_DEFAULT);
    return (ms >= 50 && ms <= 60000) ? (int) ms : KN_HEARTBEAT_MS_DEFAULT;
}
