/*  broker_queue: per-agency lines and round-robin hand-out. */
#include "broker_queue.h"

typedef struct {
    char agency[KN_UUID_STR];
    zlist_t *requests;   // broker_request_t *, oldest first
    size_t held;         // requests of this agency that workers hold now
} line_t;

struct _broker_queue_t {
    zhashx_t *lines;     // agency id -> line_t, while it has requests waiting or held
    zlist_t *turns;      // line_t * with requests waiting, whose turn is next first
    size_t size;
};

void
broker_request_destroy (broker_request_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    zmsg_destroy (&(*self_p)->msg);
    free (*self_p);
    *self_p = NULL;
}

static void
s_line_free (void **item)
{
    line_t *line = (line_t *) *item;
    if (!line)
        return;
    broker_request_t *request;
    while ((request = zlist_pop (line->requests)))
        broker_request_destroy (&request);
    zlist_destroy (&line->requests);
    free (line);
    *item = NULL;
}

broker_queue_t *
broker_queue_new (void)
{
    broker_queue_t *self = calloc (1, sizeof *self);
    if (!self)
        return NULL;
    self->lines = zhashx_new ();
    self->turns = zlist_new ();
    if (!self->lines || !self->turns) {
        broker_queue_destroy (&self);
        return NULL;
    }
    zhashx_set_destructor (self->lines, s_line_free);
    return self;
}

void
broker_queue_destroy (broker_queue_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    broker_queue_t *self = *self_p;
    zlist_destroy (&self->turns);
    zhashx_destroy (&self->lines);
    free (self);
    *self_p = NULL;
}

size_t
broker_queue_size (broker_queue_t *self)
{
    return self->size;
}

size_t
broker_queue_agency_size (broker_queue_t *self, const char *agency)
{
    line_t *line = zhashx_lookup (self->lines, agency);
    return line ? zlist_size (line->requests) : 0;
}

static line_t *
s_line_require (broker_queue_t *self, const char *agency)
{
    line_t *line = zhashx_lookup (self->lines, agency);
    if (!line) {
        line = calloc (1, sizeof *line);
        if (!line)
            return NULL;
        snprintf (line->agency, sizeof line->agency, "%s", agency);
        line->requests = zlist_new ();
        zhashx_insert (self->lines, agency, line);
    }
    return line;
}

//  A line with nothing waiting and nothing held is forgotten.
static void
s_line_tidy (broker_queue_t *self, line_t *line)
{
    if (zlist_size (line->requests) == 0)
        zlist_remove (self->turns, line);
    if (zlist_size (line->requests) == 0 && line->held == 0)
        zhashx_delete (self->lines, line->agency);
}

static void
s_push (broker_queue_t *self, broker_request_t *request, bool front)
{
    line_t *line = s_line_require (self, request->agency);
    if (!line) {
        broker_request_destroy (&request);
        return;
    }
    if (zlist_size (line->requests) == 0)
        zlist_append (self->turns, line);
    if (front)
        zlist_push (line->requests, request);
    else
        zlist_append (line->requests, request);
    self->size++;
}

void
broker_queue_push (broker_queue_t *self, broker_request_t *request)
{
    s_push (self, request, false);
}

void
broker_queue_push_front (broker_queue_t *self, broker_request_t *request)
{
    s_push (self, request, true);
}

broker_request_t *
broker_queue_next (broker_queue_t *self, size_t cap, bool strict)
{
    //  The first line in turn whose agency holds fewer than cap workers; when every
    //  waiting agency is at its cap, the first in turn (nobody is kept waiting for
    //  a worker that would otherwise stay idle), unless the cap is strict.
    line_t *chosen = NULL;
    for (line_t *line = zlist_first (self->turns); line; line = zlist_next (self->turns))
        if (line->held < cap) {
            chosen = line;
            break;
        }
    if (!chosen && !strict)
        chosen = zlist_first (self->turns);
    if (!chosen)
        return NULL;
    broker_request_t *request = zlist_pop (chosen->requests);
    self->size--;
    chosen->held++;
    //  Its turn is over: to the back of the round, or out of it.
    zlist_remove (self->turns, chosen);
    if (zlist_size (chosen->requests))
        zlist_append (self->turns, chosen);
    return request;
}

void
broker_queue_done (broker_queue_t *self, const char *agency)
{
    line_t *line = zhashx_lookup (self->lines, agency);
    if (!line)
        return;
    if (line->held)
        line->held--;
    s_line_tidy (self, line);
}

broker_request_t *
broker_queue_expired (broker_queue_t *self, int64_t now)
{
    line_t *oldest = NULL;
    broker_request_t *head = NULL;
    for (line_t *line = zlist_first (self->turns); line; line = zlist_next (self->turns)) {
        broker_request_t *first = zlist_first (line->requests);
        if (first && first->deadline <= now && (!head || first->deadline < head->deadline)) {
            head = first;
            oldest = line;
        }
    }
    if (!oldest)
        return NULL;
    zlist_pop (oldest->requests);
    self->size--;
    s_line_tidy (self, oldest);
    return head;
}
