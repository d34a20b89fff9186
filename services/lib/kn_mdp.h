/*  kn_mdp: Majordomo Protocol 0.1 constants (rfc.zeromq.org spec 7) and Kinnet's
    defaults for heartbeats and frame limits. */
#ifndef KN_MDP_H_INCLUDED
#define KN_MDP_H_INCLUDED

#define KN_MDPC "MDPC01"
#define KN_MDPW "MDPW01"

#define KN_MDPW_READY 0x01
#define KN_MDPW_REQUEST 0x02
#define KN_MDPW_REPLY 0x03
#define KN_MDPW_HEARTBEAT 0x04
#define KN_MDPW_DISCONNECT 0x05

#define KN_HEARTBEAT_LIVENESS 3
#define KN_HEARTBEAT_MS_DEFAULT 2500

//  Largest message accepted on any socket (ZMQ_MAXMSGSIZE, per frame).
#define KN_MAX_MESSAGE_BYTES (1024 * 1024)

//  Heartbeat interval in ms from KINNET_HEARTBEAT_MS, else the default.
int kn_mdp_heartbeat_ms (void);

//  The broker's public key from a setting that holds either the key itself (40 Z85
//  characters) or the path of a certificate file (a file that exists is read as
//  one, whatever its name looks like). 0 and out filled, or -1.
int kn_mdp_server_key (const char *key_or_file, char out[41]);

#endif
