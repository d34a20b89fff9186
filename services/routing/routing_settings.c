/*  routing_settings: the rules for routing.setting (see routing_settings.h), and the
    settings read into a settings_t at the start of each decision, inside its
    transaction, so an administrator's change applies to the next offer without a
    restart (to the next batch, for the outbox consumer's: a batch reads them once). */
#include "routing_settings.h"

#include "routing_store_int.h"

static const char *s_statements[][2] = {
    {"settings", "SELECT key, value FROM routing.setting"},
    {"need_data_categories", "SELECT need, category FROM core.need_data_category"},
};

int
routing_settings_prepare (kn_db_t *db, kn_error_t *err)
{
    return kn_db_prepare_all (db, s_statements, sizeof s_statements / sizeof s_statements[0],
                              err);
}

static const routing_setting_t s_table[] = {
    {"rank.order", "continuity,language,headroom,rotation",
     "the ranking rules in order, each at most once"},
    {"deadline.routine", "10 days", "time to answer an offer of a routine need"},
    {"deadline.priority", "3 days", "time to answer an offer of a priority need"},
    {"deadline.urgent", "1 day", "time to answer an offer of an urgent need"},
    {"deadline.emergency_safeguarding", "1 hour",
     "time to answer an offer of an emergency safeguarding need"},
    {"contact.routine", "10 days", "time from accepting a routine need to first contact"},
    {"contact.priority", "5 days",
     "time from accepting a priority need to first contact"},
    {"contact.urgent", "2 days", "time from accepting an urgent need to first contact"},
    {"contact.emergency_safeguarding", "4 hours",
     "time from accepting an emergency safeguarding need to first contact"},
    {"emergency.to_district_lead", "true",
     "offer emergency safeguarding needs first to the district's child-protection lead"},
    {"escalate.to_district_lead_from", "urgent",
     "from this urgency up, an expired offer is also escalated to the district's lead"},
};

const routing_setting_t *
routing_settings_table (size_t *count)
{
    *count = sizeof s_table / sizeof s_table[0];
    return s_table;
}

//  The urgency a key or value names (1 to 4), or 0.
static int
s_urgency (const char *name)
{
    for (int urgency = 1; urgency <= 4; urgency++)
        if (strcmp (name, routing_urgency_key (urgency)) == 0)
            return urgency;
    return 0;
}

int
routing_settings_check (const char *key, const char *value, kn_error_t *err)
{
    bool known = false;
    for (size_t i = 0; i < sizeof s_table / sizeof s_table[0]; i++)
        known |= strcmp (key, s_table[i].key) == 0;
    if (!known)
        return kn_error_set (err, KN_E_INVALID_ARGUMENT, "key", "unknown setting '%s'",
                             key);
    if (strcmp (key, "rank.order") == 0) {
        routing_order_t order;
        return routing_rank_parse_order (value, &order, err);
    }
    if (strncmp (key, "deadline.", 9) == 0 || strncmp (key, "contact.", 8) == 0) {
        int64_t seconds;
        return routing_validate_interval (value, key, &seconds, err);
    }
    if (strcmp (key, "emergency.to_district_lead") == 0)
        return strcmp (value, "true") && strcmp (value, "false")
                   ? kn_error_set (err, KN_E_INVALID_ARGUMENT, key, "true or false")
                   : 0;
    //  escalate.to_district_lead_from
    return s_urgency (value) || strcmp (value, "never") == 0
               ? 0
               : kn_error_set (
                     err, KN_E_INVALID_ARGUMENT, key,
                     "routine, priority, urgent, emergency_safeguarding or never");
}

//  Apply one checked setting to settings.
static void
s_apply (settings_t *settings, const char *key, const char *value)
{
    kn_error_t ignored;
    if (strcmp (key, "rank.order") == 0)
        routing_rank_parse_order (value, &settings->order, &ignored);
    else if (strncmp (key, "deadline.", 9) == 0 || strncmp (key, "contact.", 8) == 0) {
        int64_t seconds = 0;
        routing_validate_interval (value, key, &seconds, &ignored);
        (key[0] == 'd' ? settings->deadline
                       : settings->contact)[s_urgency (strchr (key, '.') + 1)] = seconds;
    } else if (strcmp (key, "emergency.to_district_lead") == 0)
        settings->emergency_to_lead = strcmp (value, "false") != 0;
    else if (strcmp (key, "escalate.to_district_lead_from") == 0)
        settings->escalate_to_lead_from =
            strcmp (value, "never") == 0 ? 99 : s_urgency (value);
}

//  The settings from the rows of "settings" and "need_data_categories".
static void
s_fill (settings_t *settings, PGresult *rows, PGresult *needs)
{
    memset (settings, 0, sizeof *settings);
    for (size_t i = 0; i < sizeof s_table / sizeof s_table[0]; i++)
        s_apply (settings, s_table[i].key, s_table[i].default_value);
    //  A need without a row is referral narrative (as kn_consent_policy reads it).
    for (size_t i = 0; i < sizeof settings->need_data / sizeof settings->need_data[0]; i++)
        settings->need_data[i] = KINNET__V1__DATA_CATEGORY__REFERRAL_NARRATIVE;
    for (int row = 0; row < PQntuples (needs); row++) {
        long need = routing_int (needs, row, 0);
        if (need >= 0 && need < (long)(sizeof settings->need_data / sizeof settings->need_data[0]))
            settings->need_data[need] = (int)routing_int (needs, row, 1);
    }
    for (int row = 0; row < PQntuples (rows); row++) {
        const char *key = PQgetvalue (rows, row, 0);
        const char *value = PQgetvalue (rows, row, 1);
        //  A value written past the admin command's checks keeps the default rather
        //  than stopping routing.
        kn_error_t bad;
        if (routing_settings_check (key, value, &bad) == 0)
            s_apply (settings, key, value);
        else
            kn_log (KN_WARN, "routing.bad_setting", "key", key, NULL);
    }
}

const kn_db_read_t routing_settings_reads[2] = {{"settings", 0, NULL},
                                                {"need_data_categories", 0, NULL}};

int
routing_settings (routing_store_t *self, settings_t *settings, kn_error_t *err)
{
    if (self->settings_held) {
        *settings = self->settings;
        return 0;
    }
    PGresult *read[2];
    if (kn_db_run_each (self->db, 2, routing_settings_reads, read, err))
        return -1;
    s_fill (settings, read[0], read[1]);
    PQclear (read[0]);
    PQclear (read[1]);
    return 0;
}

void
routing_settings_hold_read (routing_store_t *self, PGresult *rows, PGresult *needs)
{
    s_fill (&self->settings, rows, needs);
    self->settings_held = true;
}

void
routing_settings_release (routing_store_t *self)
{
    self->settings_held = false;
}
