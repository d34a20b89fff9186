/*  routing_settings: routing.setting read into a settings_t. Read at the start of
    each decision, inside its transaction, so an administrator's change applies to
    the next offer without a restart. */
#include "routing_store_int.h"

static const char *s_statements[][2] = {
    {"settings", "SELECT key, value FROM routing.setting"},
};

int
routing_settings_prepare (kn_db_t *db, kn_error_t *err)
{
    for (size_t i = 0; i < sizeof s_statements / sizeof s_statements[0]; i++)
        if (kn_db_prepare (db, s_statements[i][0], s_statements[i][1], err))
            return -1;
    return 0;
}

int
routing_settings (routing_store_t *self, settings_t *settings, kn_error_t *err)
{
    memset (settings, 0, sizeof *settings);
    routing_rank_parse_order ("continuity,language,headroom,rotation", &settings->order,
                              err);
    const int64_t defaults[5] = {864000, 864000, 259200, 86400, 3600};
    memcpy (settings->deadline, defaults, sizeof defaults);
    const int64_t contact[5] = {864000, 864000, 432000, 172800, 14400};
    memcpy (settings->contact, contact, sizeof contact);
    settings->emergency_to_lead = true;
    settings->escalate_to_lead_from = KINNET__V1__URGENCY__URGENT;
    PGresult *result = routing_run (self, "settings", 0, NULL, err);
    if (!result)
        return -1;
    for (int row = 0; row < PQntuples (result); row++) {
        const char *key = PQgetvalue (result, row, 0);
        const char *value = PQgetvalue (result, row, 1);
        if (strcmp (key, "rank.order") == 0) {
            kn_error_t bad;
            routing_order_t order;
            if (routing_rank_parse_order (value, &order, &bad) == 0)
                settings->order = order;
            else
                kn_log (KN_WARN, "routing.bad_setting", "key", key, NULL);
        } else if (strncmp (key, "deadline.", 9) == 0 ||
                   strncmp (key, "contact.", 8) == 0) {
            //  A value written past the admin command's checks keeps the default
            //  rather than stopping routing.
            bool offer = key[0] == 'd';
            const char *urgency_name = strchr (key, '.') + 1;
            kn_error_t bad;
            int64_t seconds = 0;
            for (int urgency = 1; urgency <= 4; urgency++)
                if (strcmp (urgency_name, routing_urgency_key (urgency)) == 0) {
                    if (routing_validate_interval (value, key, &seconds, &bad) == 0)
                        (offer ? settings->deadline : settings->contact)[urgency] =
                            seconds;
                    else
                        kn_log (KN_WARN, "routing.bad_setting", "key", key, NULL);
                }
        } else if (strcmp (key, "emergency.to_district_lead") == 0)
            settings->emergency_to_lead = strcmp (value, "false") != 0;
        else if (strcmp (key, "escalate.to_district_lead_from") == 0) {
            for (int urgency = 1; urgency <= 4; urgency++)
                if (strcmp (value, routing_urgency_key (urgency)) == 0)
                    settings->escalate_to_lead_from = urgency;
            if (strcmp (value, "never") == 0)
                settings->escalate_to_lead_from = 99;
        }
    }
    PQclear (result);
    return 0;
}
