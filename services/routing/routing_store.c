/*  routing_store: the routing store object (a session, the field key, the consent
    policy's settings), the small query helpers its files share, and the messages
    built from rows. The jobs live next door; routing_store_int.h lists them. */
#include "kn_config.h"
#include "routing_store_int.h"
#include "kn_alloc.h"

static const char *s_statements[][2] = {
    {"involvement_get", INVOLVEMENT_SELECT " WHERE i.id = $1"},
};

int
routing_store_prepare (kn_db_t *db, kn_error_t *err)
{
    return kn_db_prepare_all (db, s_statements, sizeof s_statements / sizeof s_statements[0],
                              err);
}

//  -------------------------------------------------------------------------
//  The object, small helpers, the audit row

routing_store_t *
routing_store_new (kn_db_t *db, kn_crypto_t *crypto, kn_error_t *err)
{
    if (routing_store_prepare (db, err) || routing_settings_prepare (db, err) ||
        routing_feed_prepare (db, err) || routing_offer_prepare (db, err) ||
        routing_events_prepare (db, err) || routing_referral_prepare (db, err) ||
        routing_gather_prepare (db, err) ||
        routing_deadlines_prepare (db, err) ||
        routing_involvement_prepare (db, err) || routing_case_prepare (db, err))
        return NULL;
    if (kn_audit_prepare (db, err) || kn_outbox_prepare (db, err) ||
        kn_idempotency_prepare (db, IDEM, err) || kn_subject_prepare (db, err) ||
        kn_consent_policy_prepare (db, err))
        return NULL;
    routing_store_t *self = kn_calloc (1, sizeof *self);
    self->db = db;
    self->crypto = crypto;
    self->policy = kn_consent_policy_config ();
    kn_write_init (&self->write, db, crypto, IDEM, "routing");
    //  How long a consumer batch may hold the rows it locked (a case, an agency's
    //  feed head) from that agency's own requests; longer batches share their
    //  per-transaction work among more events.
    long batch_ms = kn_config_int ("KINNET_ROUTING_BATCH_MS", 50);
    if (batch_ms < 1 || batch_ms > 60000) {
        kn_log (KN_WARN, "config.invalid", "problem",
                "KINNET_ROUTING_BATCH_MS must be 1 to 60000: 50 is used", NULL);
        batch_ms = 50;
    }
    self->batch_ms = batch_ms;
    return self;
}

void
routing_store_destroy (routing_store_t **self_p)
{
    if (self_p && *self_p) {
        free (*self_p);
        *self_p = NULL;
    }
}

kn_db_t *
routing_store_db (routing_store_t *self)
{
    return self->db;
}

void
routing_rollback (routing_store_t *self)
{
    kn_write_rollback (self->db);
}

PGresult *
routing_run (routing_store_t *self, const char *name, int n, const char *const *values,
             kn_error_t *err)
{
    return kn_db_run (self->db, name, n, values, NULL, NULL, err);
}

//  Run a statement for its effect only.
int
routing_do (routing_store_t *self, const char *name, int n, const char *const *values,
            kn_error_t *err)
{
    //  In the consumer's pipelined transaction, only sent (kn_db_do).
    return kn_db_do (self->db, name, n, values, -1, err);
}

//  Whether a statement returns a row; -1 on failure.
int
routing_exists (routing_store_t *self, const char *name, int n, const char *const *values,
                kn_error_t *err)
{
    PGresult *result = routing_run (self, name, n, values, err);
    if (!result)
        return -1;
    int found = PQntuples (result) > 0;
    PQclear (result);
    return found;
}

int64_t
routing_int (PGresult *result, int row, int column)
{
    return strtoll (PQgetvalue (result, row, column), NULL, 10);
}

bool
routing_bool (PGresult *result, int row, int column)
{
    return PQgetvalue (result, row, column)[0] == 't';
}

void
routing_num (char *out, size_t size, int64_t value)
{
    snprintf (out, size, "%lld", (long long)value);
}

//  bytea parameter text (hex form) of a packed message; caller frees.
char *
routing_bytea_param (const ProtobufCMessage *message)
{
    size_t len = protobuf_c_message_get_packed_size (message);
    uint8_t *packed = kn_malloc (len ? len : 1);
    protobuf_c_message_pack (message, packed);
    char *text = kn_malloc (len * 2 + 3);
    strcpy (text, "\\x");
    for (size_t i = 0; i < len; i++)
        sprintf (text + 2 + i * 2, "%02x", packed[i]);
    free (packed);
    return text;
}

//  A bytea column (text result, hex form) unpacked as descriptor's message.
ProtobufCMessage *
routing_unpack_column (PGresult *result, int row, int column,
                       const ProtobufCMessageDescriptor *descriptor)
{
    size_t len = 0;
    unsigned char *bytes =
        PQunescapeBytea ((const unsigned char *)PQgetvalue (result, row, column), &len);
    if (!bytes)
        return NULL;
    ProtobufCMessage *message = protobuf_c_message_unpack (descriptor, NULL, len, bytes);
    PQfreemem (bytes);
    return message;
}

//  Status names as stored, in InvolvementStatus order.
static const char *s_involvement_status[] = {
    "",        "offered",   "accepted",    "declined",
    "expired", "withdrawn", "transferred", "closed"};
static const char *s_need_status[] = {"",         "offered",   "placed",
                                      "unplaced", "withdrawn", "closed"};

static int
s_status_value (const char *const *names, size_t n, const char *name)
{
    for (size_t i = 1; i < n; i++)
        if (strcmp (names[i], name) == 0)
            return (int)i;
    return 0;
}

const char *
routing_urgency_key (int urgency)
{
    switch (urgency) {
    case KINNET__V1__URGENCY__EMERGENCY_SAFEGUARDING:
        return "emergency_safeguarding";
    case KINNET__V1__URGENCY__URGENT:
        return "urgent";
    case KINNET__V1__URGENCY__PRIORITY:
        return "priority";
    default:
        return "routine";
    }
}

static kn_audit_entry_t
s_audit_entry (const char *agency_id, const char *caseworker, const char *operation,
               const char *subject, const char *object, kn_code_t code)
{
    return (kn_audit_entry_t){.agency_id = agency_id,
                              .caseworker_id = caseworker && *caseworker ? caseworker : NULL,
                              .service = "routing",
                              .operation = operation,
                              .subject_ref = subject,
                              .object_id = object,
                              .result = code == KN_OK ? "ok" : kn_code_name (code)};
}

int
routing_audit (routing_store_t *self, const char *agency_id, const char *caseworker,
               const char *operation, const char *subject, const char *object,
               kn_code_t code, kn_error_t *err)
{
    kn_audit_entry_t entry = s_audit_entry (agency_id, caseworker, operation, subject,
                                            object, code);
    return kn_audit_append (self->db, &entry, err);
}

void
routing_audit_gather (routing_gather_t *rows, const char *operation, const char *subject,
                      const char *object)
{
    kn_audit_entry_t entry = s_audit_entry (NULL, NULL, operation, subject, object, KN_OK);
    kn_audit_add (rows->audit, &entry);
}

void
routing_store_audit (routing_store_t *self, const char *agency_id, const char *caseworker,
                     const char *operation, const char *object_id, kn_code_t result)
{
    kn_error_t err;
    kn_error_clear (&err);
    if (kn_db_ensure (self->db, &err) == 0 &&
        routing_audit (self, agency_id, caseworker, operation, NULL,
                       object_id && kn_uuid_valid (object_id) ? object_id : NULL, result,
                       &err))
        kn_log (KN_ERROR, "audit.failed", "problem", err.message, NULL);
}

//  -------------------------------------------------------------------------
//  Messages from rows

Kinnet__V1__Involvement *
routing_involvement_from_row (PGresult *result, int row)
{
    Kinnet__V1__Involvement *out = kn_malloc (sizeof *out);
    kinnet__v1__involvement__init (out);
    out->involvement_id = kn_pb_string (PQgetvalue (result, row, 0));
    out->case_id = kn_pb_string (PQgetvalue (result, row, 1));
    out->need_id = kn_pb_string (PQgetvalue (result, row, 2));
    out->need = (Kinnet__V1__NeedCategory)routing_int (result, row, 3);
    out->agency_id = kn_pb_string (PQgetvalue (result, row, 4));
    out->status = (Kinnet__V1__InvolvementStatus)s_status_value (
        s_involvement_status, 8, PQgetvalue (result, row, 5));
    out->lead = routing_bool (result, row, 6);
    out->ranking = (Kinnet__V1__Ranking *)routing_unpack_column (
        result, row, 7, &kinnet__v1__ranking__descriptor);
    out->waiting_for_consent = routing_bool (result, row, 8);
    out->offered_at = kn_pb_timestamp (routing_int (result, row, 9));
    out->deadline_at = kn_pb_timestamp (routing_int (result, row, 10));
    out->decided_at = kn_pb_timestamp (routing_int (result, row, 11));
    out->decline_reason = (Kinnet__V1__DeclineReason)routing_int (result, row, 12);
    out->caseworker_id = kn_pb_string (PQgetvalue (result, row, 13));
    out->first_contact_at = kn_pb_timestamp (routing_int (result, row, 14));
    out->closed_at = kn_pb_timestamp (routing_int (result, row, 15));
    out->outcome = (Kinnet__V1__Outcome)routing_int (result, row, 16);
    out->transferred_from_id = kn_pb_string (PQgetvalue (result, row, 17));
    out->transfer_reason = (Kinnet__V1__TransferReason)routing_int (result, row, 18);
    out->transferred_to_agency_id = kn_pb_string (PQgetvalue (result, row, 19));
    return out;
}

Kinnet__V1__Involvement *
routing_load_involvement (routing_store_t *self, const char *id, kn_error_t *err)
{
    const char *values[] = {id};
    PGresult *result = routing_run (self, "involvement_get", 1, values, err);
    if (!result)
        return NULL;
    Kinnet__V1__Involvement *out =
        PQntuples (result) ? routing_involvement_from_row (result, 0) : NULL;
    PQclear (result);
    if (!out && err->code == KN_OK)
        kn_error_set (err, KN_E_NOT_FOUND, "offer_id", "no such offer for your agency");
    return out;
}

Kinnet__V1__CaseNeed *
routing_need_from_row (PGresult *result, int row)
{
    Kinnet__V1__CaseNeed *out = kn_malloc (sizeof *out);
    kinnet__v1__case_need__init (out);
    out->need_id = kn_pb_string (PQgetvalue (result, row, 0));
    out->category = (Kinnet__V1__NeedCategory)routing_int (result, row, 1);
    out->urgency = (Kinnet__V1__Urgency)routing_int (result, row, 2);
    out->status = (Kinnet__V1__NeedStatus)s_status_value (s_need_status, 6,
                                                          PQgetvalue (result, row, 3));
    out->referral_id = kn_pb_string (PQgetvalue (result, row, 4));
    out->created_at = kn_pb_timestamp (routing_int (result, row, 5));
    out->case_id = kn_pb_string (PQgetvalue (result, row, 6));
    out->district = kn_pb_string (PQgetvalue (result, row, 7));
    return out;
}

//  Split "a,b,c" into a malloc'd string array.
char **
routing_split (const char *text, size_t *count)
{
    *count = 0;
    size_t cap = 1;
    for (const char *p = text; *p; p++)
        cap += *p == ',';
    char **out = kn_calloc (cap, sizeof (char *));
    const char *at = text;
    while (*at) {
        size_t len = strcspn (at, ",");
        out[(*count)++] = strndup (at, len);
        at += len + (at[len] == ',');
    }
    return out;
}
