/*  kn_config: settings come from the environment (KINNET_*), so the same binary runs
    under ops/up, the test suite and docker-compose. Each daemon's --help lists its
    variables; docs/operations.md lists them all. */
#ifndef KN_CONFIG_H_INCLUDED
#define KN_CONFIG_H_INCLUDED

//  Value of name, or fallback when unset or empty.
const char *kn_config_str (const char *name, const char *fallback);

//  Integer value of name, or fallback when unset, empty or not a whole number.
long kn_config_int (const char *name, long fallback);

#endif
