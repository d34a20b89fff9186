/*  routing_settings: the rules for routing.setting, in one place. Every key an
    administrator may set, with its default and the check its value must pass, is
    a row of one table; the CLI checks a value with routing_settings_check before
    storing it, and routing reads rows through the same check, keeping the default
    for a value that fails (written past the CLI) rather than stopping routing. */
#ifndef ROUTING_SETTINGS_H_INCLUDED
#define ROUTING_SETTINGS_H_INCLUDED

#include <stddef.h>

#include "kn_error.h"

//  One settable key: its name, its default as text, and what it means.
typedef struct {
    const char *key;
    const char *default_value;
    const char *meaning;
} routing_setting_t;

//  The table, in the order `kinnet admin routing` shows it; *count receives its size.
const routing_setting_t *routing_settings_table (size_t *count);

//  Check value for key: 0, or -1 with err (field "key" when nobody knows the key,
//  the key itself when the value is wrong).
int routing_settings_check (const char *key, const char *value, kn_error_t *err);

#endif
