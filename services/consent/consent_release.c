/*  consent_release: release requests and the controller's decisions. */
#include "consent_release.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kinnet/v1/events.pb-c.h"
#include "kn_audit.h"
#include "kn_keys.h"
#include "kn_consent_policy.h"
#include "kn_outbox.h"
#include "kn_pb.h"
#include "kn_write.h"
#include "kn_alloc.h"

#define IDEM     "consent.idempotency"
#define EPOCH(c) "floor (extract (epoch FROM " c "))::bigint"

struct _consent_release_t {
    kn_db_t *db;
    kn_crypto_t *crypto;
    kn_write_t write; // what each of its writes starts from: IDEM, audited as consent
};

#define RELEASE_COLUMNS                                                                  \
    "id, ground_id, ground_kind, subject_id, controller_id, requested_by, " EPOCH (      \
        "requested_at") ", request_reason, status, coalesce (decided_by::text, ''), "    \
                        "coalesce (" EPOCH ("decided_at") ", 0), decision_reason"

//  Whether a ground names agency $2 (of sector $3): by id, or by a sector it was in
//  when the ground was recorded and still is (as kn_consent_policy reads grants).
#define NAMED                                                                            \
    "($2::uuid = ANY (recipient_agencies) OR ($3::smallint = ANY (recipient_sectors)"    \
    " AND $2::uuid = ANY (sector_members)))"

static const char *s_statements[][2] = {
    //  The ground, its subject and recorder, whichever table holds it.
    {"release_ground",
     "SELECT 1, subject_id, recorded_by, " NAMED " FROM consent.record WHERE id = $1"
     " UNION ALL SELECT 2, subject_id, recorded_by, " NAMED
     " FROM consent.basis WHERE id = $1"
     " UNION ALL SELECT 3, subject_id, requested_by, " NAMED
     " FROM consent.override WHERE id = $1"},
    {"release_agency", "SELECT sector, active FROM core.agency WHERE id = $1"},
    {"release_is_dpo", "SELECT 1 FROM core.agency_role WHERE agency_id = $1"
                       " AND role = 'data_protection_officer'"},
    {"release_insert",
     "INSERT INTO consent.release (id, ground_id, ground_kind, subject_id, controller_id,"
     " requested_by, request_reason) VALUES ($1, $2, $3, $4, $5, $6, $7)"
     " ON CONFLICT (ground_id, controller_id, requested_by) WHERE status = 1 DO NOTHING"},
    {"release_open",
     "SELECT id FROM consent.release WHERE ground_id = $1 AND controller_id = $2"
     " AND requested_by = $3 AND status = 1"},
    {"release_get", "SELECT " RELEASE_COLUMNS " FROM consent.release WHERE id = $1"},
    {"release_lock", "SELECT controller_id, requested_by, status, subject_id"
                     " FROM consent.release WHERE id = $1 FOR UPDATE"},
    {"release_decide",
     "UPDATE consent.release SET status = $2, decided_by = $3, decided_by_dpo = $4,"
     " decided_at = now (), decision_reason = $5 WHERE id = $1"},
    {"release_list",
     "SELECT " RELEASE_COLUMNS " FROM consent.release"
     " WHERE ($1::bool OR controller_id = $2 OR requested_by = $2)"
     //  A reply stays well inside the message limit: 500 of the oldest.
     " AND (NOT $3::bool OR status = 1) ORDER BY requested_at, id LIMIT 500"},
};

consent_release_t *
consent_release_new (kn_db_t *db, kn_crypto_t *crypto, kn_error_t *err)
{
    if (kn_db_prepare_all (db, s_statements, sizeof s_statements / sizeof s_statements[0],
                           err))
        return NULL;
    if (kn_outbox_prepare (db, err) || kn_audit_prepare (db, err) ||
        kn_idempotency_prepare (db, IDEM, err))
        return NULL;
    consent_release_t *self = kn_calloc (1, sizeof *self);
    self->db = db;
    self->crypto = crypto;
    kn_write_init (&self->write, db, crypto, IDEM, "consent");
    return self;
}

void
consent_release_destroy (consent_release_t **self_p)
{
    if (self_p && *self_p) {
        free (*self_p);
        *self_p = NULL;
    }
}

//  1 when the agency holds the data-protection role, 0 when not, -1 on failure.
static int
s_is_dpo (consent_release_t *self, const char *agency_id, kn_error_t *err)
{
    const char *values[] = {agency_id};
    PGresult *result = kn_db_run (self->db, "release_is_dpo", 1, values, NULL, NULL, err);
    if (!result)
        return -1;
    int dpo = PQntuples (result) > 0;
    PQclear (result);
    return dpo;
}

//  The sealed text in column, opened with ad; "" when unset, erased or unreadable.
static char *
s_open (consent_release_t *self, PGresult *result, int row, int column, const char *ad)
{
    return kn_keys_open_text (self->db, self->crypto, result, row, column, ad);
}

static Kinnet__V1__Release *
s_from_row (consent_release_t *self, PGresult *result, int row)
{
    Kinnet__V1__Release *r = kn_malloc (sizeof *r);
    kinnet__v1__release__init (r);
    const char *id = PQgetvalue (result, row, 0);
    char ad[KN_UUID_STR + 16];
    snprintf (ad, sizeof ad, "%s:decision", id);
    r->release_id = kn_pb_string (id);
    r->ground_id = kn_pb_string (PQgetvalue (result, row, 1));
    r->ground_kind = atoi (PQgetvalue (result, row, 2));
    r->subject_id = kn_pb_string (PQgetvalue (result, row, 3));
    r->controller_agency_id = kn_pb_string (PQgetvalue (result, row, 4));
    r->requested_by_agency_id = kn_pb_string (PQgetvalue (result, row, 5));
    r->requested_at = kn_pb_timestamp (strtoll (PQgetvalue (result, row, 6), NULL, 10));
    r->request_reason = s_open (self, result, row, 7, id);
    r->status = atoi (PQgetvalue (result, row, 8));
    r->decided_by_agency_id = kn_pb_string (PQgetvalue (result, row, 9));
    r->decided_at = kn_pb_timestamp (strtoll (PQgetvalue (result, row, 10), NULL, 10));
    r->decision_reason = s_open (self, result, row, 11, ad);
    return r;
}

static Kinnet__V1__Release *
s_load (consent_release_t *self, const char *release_id, kn_error_t *err)
{
    const char *values[] = {release_id};
    PGresult *result = kn_db_run (self->db, "release_get", 1, values, NULL, NULL, err);
    if (!result)
        return NULL;
    Kinnet__V1__Release *r =
        PQntuples (result) == 1 ? s_from_row (self, result, 0) : NULL;
    PQclear (result);
    if (!r)
        kn_error_set (err, KN_E_NOT_FOUND, "release_id", "no such release request");
    return r;
}

//  A replay's answer: the request as it stands now, marked replayed.
static int
s_replayed (consent_release_t *self, const char *release_id,
            Kinnet__V1__Release **release, kn_error_t *err)
{
    *release = s_load (self, release_id, err);
    if (*release)
        (*release)->replayed = true;
    return *release ? 0 : -1;
}

//  Announce a change to one agency's feed (routing delivers it).
static int
s_announce (consent_release_t *self, const Kinnet__V1__Release *release, const char *to,
            kn_error_t *err)
{
    Kinnet__V1__ReleaseChanged event = KINNET__V1__RELEASE_CHANGED__INIT;
    event.release_id = release->release_id;
    event.ground_id = release->ground_id;
    event.ground_kind = release->ground_kind;
    event.subject_id = release->subject_id;
    event.controller_agency_id = release->controller_agency_id;
    event.requested_by_agency_id = release->requested_by_agency_id;
    event.status = release->status;
    event.decided_by_agency_id = release->decided_by_agency_id;
    event.at = release->decided_at ? release->decided_at : release->requested_at;
    event.recipient_agency_id = (char *)to;
    size_t len = protobuf_c_message_get_packed_size (&event.base);
    uint8_t *payload = kn_malloc (len ? len : 1);
    protobuf_c_message_pack (&event.base, payload);
    const char *topic = release->status == KINNET__V1__RELEASE_STATUS__RELEASE_REQUESTED
                            ? "release.requested"
                            : "release.decided";
    int rc = kn_outbox_append (self->db, topic, release->release_id, payload, len, err);
    free (payload);
    return rc;
}

//  Finish a write in its transaction: the request as it now stands into *release,
//  announced to each of to[0..n), audited and committed. On failure nothing is
//  kept (rolled back, *release NULL) and -1 returned.
static int
s_commit (consent_release_t *self, kn_write_t *w, const char *const *to, size_t n,
          Kinnet__V1__Release **release, kn_error_t *err)
{
    *release = s_load (self, w->object_id, err);
    int rc = *release ? 0 : -1;
    for (size_t i = 0; rc == 0 && i < n; i++)
        rc = s_announce (self, *release, to[i], err);
    if (rc == 0) {
        w->audit.subject_ref = (*release)->subject_id;
        w->audit.basis = (*release)->ground_id;
        rc = kn_write_commit (w, err);
    }
    if (rc && *release) {
        kinnet__v1__release__free_unpacked (*release, NULL);
        *release = NULL;
    }
    return rc ? kn_write_abort (w) : 0;
}

//  -------------------------------------------------------------------------
//  Request

typedef struct {
    int kind;
    char subject_id[KN_UUID_STR];
    char recorder[KN_UUID_STR];
    bool named; // the ground names the caller, or its sector
} ground_t;

//  The ground as the caller may know it: recorded by it or naming it. Anything else
//  is reported as missing, so a request tells nobody that a ground exists.
static int
s_ground (consent_release_t *self, const char *ground_id, const char *agency_id,
          ground_t *ground, kn_error_t *err)
{
    memset (ground, 0, sizeof *ground);
    const char *agency[] = {agency_id};
    PGresult *result = kn_db_run (self->db, "release_agency", 1, agency, NULL, NULL, err);
    if (!result)
        return -1;
    char sector[16];
    snprintf (sector, sizeof sector, "%d",
              PQntuples (result) ? kn_consent_policy_sector (PQgetvalue (result, 0, 0))
                                 : 0);
    PQclear (result);
    const char *values[] = {ground_id, agency_id, sector};
    result = kn_db_run (self->db, "release_ground", 3, values, NULL, NULL, err);
    if (!result)
        return -1;
    if (PQntuples (result) == 1) {
        ground->kind = atoi (PQgetvalue (result, 0, 0));
        snprintf (ground->subject_id, KN_UUID_STR, "%s", PQgetvalue (result, 0, 1));
        snprintf (ground->recorder, KN_UUID_STR, "%s", PQgetvalue (result, 0, 2));
        ground->named = PQgetvalue (result, 0, 3)[0] == 't';
    }
    PQclear (result);
    if (!ground->kind || (!ground->named && strcmp (ground->recorder, agency_id) != 0))
        return kn_error_set (err, KN_E_NOT_FOUND, "ground_id",
                             "no consent, statutory basis or override with that id names "
                             "your agency");
    return 0;
}

int
consent_release_request (consent_release_t *self, const char *agency_id,
                         const Kinnet__V1__RequestRelease *request,
                         Kinnet__V1__Release **release, kn_error_t *err)
{
    *release = NULL;
    kn_write_t w = self->write;
    kn_uuid_generate_ordered (w.object_id);
    kn_claim_t claim =
        kn_write_begin (&w, agency_id, "release_request", &request->base, err);
    if (claim != KN_CLAIM_NEW)
        return claim == KN_CLAIM_REPLAY ? s_replayed (self, w.object_id, release, err)
                                        : -1;
    const char *release_id = w.object_id;
    ground_t ground;
    if (s_ground (self, request->ground_id, agency_id, &ground, err))
        goto fail;
    if (strcmp (request->controller_agency_id, agency_id) == 0) {
        kn_error_set (
            err, KN_E_INVALID_ARGUMENT, "controller_agency_id",
            "your agency controls its own data: it needs no release from itself");
        goto fail;
    }
    const char *controller[] = {request->controller_agency_id};
    PGresult *result =
        kn_db_run (self->db, "release_agency", 1, controller, NULL, NULL, err);
    if (!result)
        goto fail;
    bool active = PQntuples (result) == 1 && PQgetvalue (result, 0, 1)[0] == 't';
    PQclear (result);
    if (!active) {
        kn_error_set (err, KN_E_INVALID_ARGUMENT, "controller_agency_id",
                      "not an active agency");
        goto fail;
    }
    if (strcmp (ground.recorder, request->controller_agency_id) == 0) {
        kn_error_set (err, KN_E_CONFLICT, "controller_agency_id",
                      "that agency recorded this ground: it already counts for its data");
        goto fail;
    }
    char kind[8];
    snprintf (kind, sizeof kind, "%d", ground.kind);
    size_t sealed_len = 0;
    uint8_t *sealed = kn_keys_seal (self->db, self->crypto, ground.subject_id,
                                    (const uint8_t *)request->reason,
                                    strlen (request->reason), release_id, &sealed_len, err);
    if (!sealed)
        goto fail;
    const char *values[] = {release_id,
                            request->ground_id,
                            kind,
                            ground.subject_id,
                            request->controller_agency_id,
                            agency_id,
                            (const char *)sealed};
    int lengths[7] = {0, 0, 0, 0, 0, 0, (int)sealed_len};
    int formats[7] = {0, 0, 0, 0, 0, 0, 1};
    result = kn_db_run (self->db, "release_insert", 7, values, lengths, formats, err);
    free (sealed);
    if (!result)
        goto fail;
    bool inserted = atoi (PQcmdTuples (result)) == 1;
    PQclear (result);
    if (!inserted) {
        //  Asked already and still open: that request is the answer. This key's
        //  claim goes with the rollback, so a retry finds the same open request.
        const char *open[] = {request->ground_id, request->controller_agency_id,
                              agency_id};
        result = kn_db_run (self->db, "release_open", 3, open, NULL, NULL, err);
        if (!result)
            goto fail;
        char first[KN_UUID_STR] = "";
        if (PQntuples (result) == 1)
            snprintf (first, sizeof first, "%s", PQgetvalue (result, 0, 0));
        PQclear (result);
        kn_write_abort (&w);
        return *first
                   ? s_replayed (self, first, release, err)
                   : kn_error_set (err, KN_E_CONFLICT, "ground_id",
                                   "a request for this was decided meanwhile; ask again");
    }
    const char *to[] = {request->controller_agency_id};
    return s_commit (self, &w, to, 1, release, err);

fail:
    return kn_write_abort (&w);
}

//  -------------------------------------------------------------------------
//  Decide

int
consent_release_decide (consent_release_t *self, const char *agency_id,
                        const Kinnet__V1__DecideRelease *decision,
                        Kinnet__V1__Release **release, kn_error_t *err)
{
    *release = NULL;
    kn_write_t w = self->write;
    snprintf (w.object_id, sizeof w.object_id, "%s", decision->release_id);
    kn_claim_t claim =
        kn_write_begin (&w, agency_id, "release_decide", &decision->base, err);
    if (claim != KN_CLAIM_NEW)
        return claim == KN_CLAIM_REPLAY ? s_replayed (self, w.object_id, release, err)
                                        : -1;
    const char *values[] = {decision->release_id};
    PGresult *result = kn_db_run (self->db, "release_lock", 1, values, NULL, NULL, err);
    if (!result)
        goto fail;
    char controller[KN_UUID_STR] = "", requester[KN_UUID_STR] = "";
    char subject_id[KN_UUID_STR] = "";
    int status = 0;
    if (PQntuples (result) == 1) {
        snprintf (controller, sizeof controller, "%s", PQgetvalue (result, 0, 0));
        snprintf (requester, sizeof requester, "%s", PQgetvalue (result, 0, 1));
        snprintf (subject_id, sizeof subject_id, "%s", PQgetvalue (result, 0, 3));
        status = atoi (PQgetvalue (result, 0, 2));
    }
    PQclear (result);
    int dpo = s_is_dpo (self, agency_id, err);
    if (dpo < 0)
        goto fail;
    bool is_controller = strcmp (controller, agency_id) == 0;
    bool is_requester = strcmp (requester, agency_id) == 0;
    if (!status || (!is_controller && !is_requester && !dpo)) {
        kn_error_set (err, KN_E_NOT_FOUND, "release_id", "no such release request");
        goto fail;
    }
    if (is_requester) {
        kn_error_set (
            err, KN_E_PERMISSION_DENIED, "release_id",
            "a request is decided by the data's controller or a data-protection "
            "officer, never by the agency that asked");
        goto fail;
    }
    if (status != KINNET__V1__RELEASE_STATUS__RELEASE_REQUESTED) {
        kn_error_set (err, KN_E_CONFLICT, "release_id",
                      "this request is already decided");
        goto fail;
    }
    char ad[KN_UUID_STR + 16], status_text[8];
    snprintf (ad, sizeof ad, "%s:decision", decision->release_id);
    snprintf (status_text, sizeof status_text, "%d",
              decision->approve ? KINNET__V1__RELEASE_STATUS__RELEASE_APPROVED
                                : KINNET__V1__RELEASE_STATUS__RELEASE_DECLINED);
    size_t sealed_len = 0;
    uint8_t *sealed =
        kn_keys_seal (self->db, self->crypto, subject_id, (const uint8_t *)decision->reason,
                      strlen (decision->reason), ad, &sealed_len, err);
    if (!sealed)
        goto fail;
    const char *update[] = {decision->release_id, status_text, agency_id,
                            is_controller ? "false" : "true", (const char *)sealed};
    int lengths[] = {0, 0, 0, 0, (int)sealed_len};
    int formats[] = {0, 0, 0, 0, 1};
    result = kn_db_run (self->db, "release_decide", 5, update, lengths, formats, err);
    free (sealed);
    if (!result)
        goto fail;
    PQclear (result);
    const char *to[] = {requester, controller};
    w.audit.operation = decision->approve ? "release_approve" : "release_decline";
    return s_commit (self, &w, to, is_controller ? 1 : 2, release, err);

fail:
    return kn_write_abort (&w);
}

//  -------------------------------------------------------------------------
//  List

int
consent_release_list (consent_release_t *self, const char *agency_id, bool open_only,
                      Kinnet__V1__ReleaseList **list, kn_error_t *err)
{
    *list = NULL;
    if (kn_db_ensure (self->db, err))
        return -1;
    int dpo = s_is_dpo (self, agency_id, err);
    if (dpo < 0)
        return -1;
    const char *values[] = {dpo ? "t" : "f", agency_id, open_only ? "t" : "f"};
    PGresult *result = kn_db_run (self->db, "release_list", 3, values, NULL, NULL, err);
    if (!result)
        return -1;
    *list = malloc (sizeof **list);
    kinnet__v1__release_list__init (*list);
    int n = PQntuples (result);
    (*list)->releases = kn_malloc ((n ? (size_t)n : 1) * sizeof (Kinnet__V1__Release *));
    for (int i = 0; i < n; i++)
        (*list)->releases[(*list)->n_releases++] = s_from_row (self, result, i);
    PQclear (result);
    return 0;
}
