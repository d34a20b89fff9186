/*  routing_feed: each agency's feed (routing.feed). Every change that concerns an
    agency appends an event to its feed in the change's own transaction, numbered
    under the agency's locked feed_head row, so numbers appear in commit order and
    an event exists exactly when its change does. Agencies read their feed after a
    number they hold; the highest they have sent is their mark, behind which the
    records keeper may delete events past the `feed` retention period. */
#include "routing_store_int.h"
#include "kn_alloc.h"

static const char *s_statements[][2] = {
    {"dpo_agencies",
     "SELECT r.agency_id FROM core.agency_role r JOIN core.agency a ON a.id = r.agency_id"
     " WHERE r.role = 'data_protection_officer' AND a.active ORDER BY 1"},
    //  A referrer with only its part of the case hears of need $2 only if it is
    //  one of its referral's needs.
    {"case_watchers",
     "SELECT referring_agency_id FROM routing.case_referral WHERE case_id = $1"
     " AND (full_view OR referral_id = (SELECT referral_id FROM routing.need WHERE id = $2))"
     " UNION SELECT agency_id FROM routing.involvement WHERE case_id = $1"
     " AND status = 'accepted' ORDER BY 1"},
    //  The event numbered under the agency's head and stored, in one statement that
    //  needs no answer, so it goes out with the transaction's next read or COMMIT.
    //  Its number is the row's seq, which the reader puts into the event.
    {"feed_append",
     "WITH h AS (INSERT INTO routing.feed_head AS h (agency_id, last_seq) VALUES ($1, 1)"
     "  ON CONFLICT (agency_id) DO UPDATE SET last_seq = h.last_seq + 1 RETURNING last_seq)"
     " INSERT INTO routing.feed (agency_id, seq, topic, case_id, payload, created_at)"
     " SELECT $1, h.last_seq, $2, $3, $4::bytea, to_timestamp ($5) FROM h"},
    //  A run's events (routing_gather: $1..$5 one column each, in order) in one
    //  statement: each
    //  agency's head moved by its count (locked in agency order), its events
    //  numbered after the head it had, in the order given.
    {"feed_append_many",
     "WITH e AS MATERIALIZED (SELECT a, t, c, p, w, i,"
     "  row_number () OVER (PARTITION BY a ORDER BY i) AS k, count (*) OVER (PARTITION BY a) AS n"
     "  FROM unnest ($1::uuid[], $2::text[], $3::uuid[], $4::bytea[], $5::float8[])"
     "  WITH ORDINALITY AS x (a, t, c, p, w, i)),"
     " h AS (INSERT INTO routing.feed_head AS h (agency_id, last_seq)"
     "  SELECT a, n FROM e WHERE k = 1 ORDER BY a"
     "  ON CONFLICT (agency_id) DO UPDATE SET last_seq = h.last_seq + excluded.last_seq"
     "  RETURNING agency_id, last_seq)"
     " INSERT INTO routing.feed (agency_id, seq, topic, case_id, payload, created_at)"
     " SELECT e.a, h.last_seq - e.n + e.k, e.t, e.c, e.p, to_timestamp (e.w)"
     " FROM e JOIN h ON h.agency_id = e.a ORDER BY e.i"},
    //  The head and the events in one statement, so in one snapshot: read apart, an
    //  event committed in between would raise last_seq past the events returned, and a
    //  reader that believed it had everything up to last_seq would never see it. One
    //  row per event, each with the head; one row with no payload when there is none.
    //  The read also moves the agency's mark (routing.feed_mark) up to its `after`,
    //  capped at its head: events at or below the mark may be deleted under the
    //  `feed` retention schedule. Only a mark that moves is written, so a long poll
    //  that reads again and again writes nothing. first_seq: the oldest event kept.
    {"feed_read",
     "WITH mark AS (INSERT INTO routing.feed_mark AS m (agency_id, read_to)"
     "  SELECT $1, least ($2::bigint, h.last_seq) FROM routing.feed_head h"
     "   WHERE h.agency_id = $1 AND least ($2::bigint, h.last_seq) > coalesce ((SELECT"
     "    read_to FROM routing.feed_mark WHERE agency_id = $1), 0)"
     "  ON CONFLICT (agency_id) DO UPDATE SET read_to = excluded.read_to, read_at = now ()"
     "   WHERE m.read_to < excluded.read_to)"
     "SELECT h.last_seq, f.payload, h.first_seq, f.seq FROM (SELECT coalesce ((SELECT last_seq"
     "  FROM routing.feed_head WHERE agency_id = $1), 0) AS last_seq,"
     "  coalesce ((SELECT min (seq) FROM routing.feed WHERE agency_id = $1), 0) AS first_seq) h"
     " LEFT JOIN LATERAL (SELECT seq, payload FROM routing.feed"
     "  WHERE agency_id = $1 AND seq > $2 ORDER BY seq LIMIT $3) f ON true ORDER BY f.seq"},
};

int
routing_feed_prepare (kn_db_t *db, kn_error_t *err)
{
    return kn_db_prepare_all (db, s_statements, sizeof s_statements / sizeof s_statements[0],
                              err);
}

//  Append event (body set by the caller) to agency's feed, numbered by the
//  database. The feed_head row stays locked until commit, so numbers appear in
//  order. The stored payload leaves seq out (0): routing_store_feed_read sets it
//  from the row, so the number costs no round trip to learn.
int
routing_feed (routing_store_t *self, const char *agency_id, const char *topic,
              const char *case_id, Kinnet__V1__FeedEvent *event, int64_t now,
              kn_error_t *err)
{
    event->seq = 0;
    event->topic = (char *)topic;
    event->case_id = (char *)(case_id ? case_id : "");
    Kinnet__V1__Timestamp at = KINNET__V1__TIMESTAMP__INIT;
    at.seconds = now;
    event->at = &at;
    char *payload = routing_bytea_param (&event->base);
    char when[24];
    routing_num (when, sizeof when, now);
    const char *values[] = {agency_id, topic, case_id, payload, when};
    int rc = 0;
    if (self->gather)
        routing_gather_row (self->gather->feed, values, GATHER_FEED_COLUMNS);
    else
        rc = routing_do (self, "feed_append", 5, values, err);
    free (payload);
    event->topic = NULL;
    event->case_id = NULL;
    event->at = NULL;
    return rc;
}

int
routing_feed_dpos (routing_store_t *self, const char *topic, Kinnet__V1__FeedEvent *event,
                   const char *also, int64_t now, kn_error_t *err)
{
    PGresult *dpos = routing_run (self, "dpo_agencies", 0, NULL, err);
    if (!dpos)
        return -1;
    int rc = 0;
    bool told = !also || !*also;
    for (int r = 0; r < PQntuples (dpos) && rc == 0; r++) {
        told |= also && strcmp (PQgetvalue (dpos, r, 0), also) == 0;
        rc = routing_feed (self, PQgetvalue (dpos, r, 0), topic, NULL, event, now, err);
    }
    PQclear (dpos);
    return rc == 0 && !told ? routing_feed (self, also, topic, NULL, event, now, err) : rc;
}

int
routing_feed_involvement (routing_store_t *self, const char *agency_id, const char *topic,
                          Kinnet__V1__Involvement *involvement, int64_t now,
                          kn_error_t *err)
{
    Kinnet__V1__FeedEvent event = KINNET__V1__FEED_EVENT__INIT;
    event.body_case = KINNET__V1__FEED_EVENT__BODY_INVOLVEMENT;
    event.involvement = involvement;
    return routing_feed (self, agency_id, topic, involvement->case_id, &event, now, err);
}

int
routing_announce (routing_store_t *self, const char *involvement_id, const char *except,
                  int64_t now, kn_error_t *err)
{
    Kinnet__V1__Involvement *fresh = routing_load_involvement (self, involvement_id, err);
    if (!fresh)
        return -1;
    int rc = routing_feed_watchers_involvement (self, fresh, except, now, err);
    kinnet__v1__involvement__free_unpacked (fresh, NULL);
    return rc;
}

//  Tell everyone watching the case (its referrers and its team), except `except`.
//  need_id: the need the event is about, NULL for the case as a whole.
int
routing_feed_watchers (routing_store_t *self, const char *case_id, const char *need_id,
                       const char *except, const char *topic,
                       Kinnet__V1__FeedEvent *event, int64_t now, kn_error_t *err)
{
    const char *values[] = {case_id, need_id && *need_id ? need_id : NULL};
    PGresult *result = routing_run (self, "case_watchers", 2, values, err);
    if (!result)
        return -1;
    int rc = 0;
    for (int row = 0; row < PQntuples (result) && rc == 0; row++) {
        const char *agency = PQgetvalue (result, row, 0);
        if (!except || strcmp (agency, except))
            rc = routing_feed (self, agency, topic, case_id, event, now, err);
    }
    PQclear (result);
    return rc;
}

int
routing_feed_watchers_involvement (routing_store_t *self,
                                   Kinnet__V1__Involvement *involvement,
                                   const char *except, int64_t now, kn_error_t *err)
{
    Kinnet__V1__FeedEvent event = KINNET__V1__FEED_EVENT__INIT;
    event.body_case = KINNET__V1__FEED_EVENT__BODY_INVOLVEMENT;
    event.involvement = involvement;
    return routing_feed_watchers (self, involvement->case_id, involvement->need_id,
                                  except, "involvement.changed", &event, now, err);
}

int
routing_store_feed_read (routing_store_t *self, const char *agency_id, int64_t after,
                         int max, Kinnet__V1__FeedBatch **result, kn_error_t *err)
{
    *result = NULL;
    if (kn_db_ensure (self->db, err))
        return -1;
    char after_text[24], max_text[16];
    routing_num (after_text, sizeof after_text, after);
    snprintf (max_text, sizeof max_text, "%d", max);
    const char *values[] = {agency_id, after_text, max_text};
    PGresult *rows = routing_run (self, "feed_read", 3, values, err);
    if (!rows)
        return -1;
    Kinnet__V1__FeedBatch *out = kn_malloc (sizeof *out);
    kinnet__v1__feed_batch__init (out);
    out->last_seq = routing_int (rows, 0, 0);
    out->first_seq = routing_int (rows, 0, 2);
    int n = PQntuples (rows);
    out->events = kn_calloc ((size_t)n + 1, sizeof (Kinnet__V1__FeedEvent *));
    for (int i = 0; i < n; i++) {
        if (PQgetisnull (rows, i, 1))
            continue;
        Kinnet__V1__FeedEvent *event = (Kinnet__V1__FeedEvent *)routing_unpack_column (
            rows, i, 1, &kinnet__v1__feed_event__descriptor);
        if (!event)
            continue;
        //  Its number is the row's (events stored before it was put into the
        //  payload say the same).
        event->seq = routing_int (rows, i, 3);
        out->events[out->n_events++] = event;
    }
    PQclear (rows);
    *result = out;
    return 0;
}
