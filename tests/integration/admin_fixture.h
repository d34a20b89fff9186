/*  The fixture of the admin service's suites (test_admin_agencies.c,
    test_admin_directory.c, test_admin_settings.c, test_admin_audit.c,
    test_agency_keys.c): a stack with the real broker and CURVE, one request to the
    admin service as an agency, and the checks on its reply. Included by each
    suite's file, which names its own TestSuite with s_fixture_setup (or its own
    setup calling it) and s_fixture_teardown. */
#ifndef ADMIN_FIXTURE_H_INCLUDED
#define ADMIN_FIXTURE_H_INCLUDED

#include <criterion/criterion.h>
#include <string.h>

#include "kinnet/v1/admin.pb-c.h"
#include "kn_test.h"
#include "kn_uuid.h"

static kn_test_stack_t *stack;

static __attribute__ ((unused)) void
s_fixture_setup (void)
{
    stack = kn_test_stack_new ();
}

static __attribute__ ((unused)) void
s_fixture_teardown (void)
{
    kn_test_stack_destroy (&stack);
    kn_test_no_leaks ();
}

//  One request to the admin service as agency; the decoded reply (caller frees).
static __attribute__ ((unused)) Kinnet__V1__AdminReply *
s_admin (int agency, Kinnet__V1__AdminRequest *request)
{
    size_t len = kinnet__v1__admin_request__get_packed_size (request);
    uint8_t *buf = malloc (len ? len : 1);
    kinnet__v1__admin_request__pack (request, buf);
    kn_client_t *client = kn_test_stack_client (stack, agency, 10000, 1);
    kn_error_t err;
    zframe_t *frame = kn_client_call (client, "admin", buf, len, &err);
    kn_client_destroy (&client);
    free (buf);
    cr_assert (frame, "%s", err.message);
    Kinnet__V1__AdminReply *reply =
        kinnet__v1__admin_reply__unpack (NULL, zframe_size (frame), zframe_data (frame));
    zframe_destroy (&frame);
    cr_assert (reply);
    return reply;
}

//  The reply must be an answer, not an error.
static __attribute__ ((unused)) void
s_ok (Kinnet__V1__AdminReply *reply)
{
    cr_assert_null (reply->error, "%s (field %s)",
                    reply->error ? reply->error->message : "",
                    reply->error ? reply->error->field : "");
}

//  The reply must be the error code on field.
static __attribute__ ((unused)) void
s_refused (Kinnet__V1__AdminReply *reply, Kinnet__V1__ErrorCode code, const char *field)
{
    cr_assert (reply->error, "answered where %s was expected", field);
    cr_expect_eq (reply->error->code, code, "code %d, field %s: %s", reply->error->code,
                  reply->error->field, reply->error->message);
    cr_expect_str_eq (reply->error->field, field, "%s", reply->error->message);
}

static __attribute__ ((unused)) int
s_count (const char *sql)
{
    return kn_test_count (kn_test_stack_db_url (stack), sql);
}

#define REQUEST(member, MEMBER, value)                                                   \
    (Kinnet__V1__AdminRequest)                                                           \
    {                                                                                    \
        .base = PROTOBUF_C_MESSAGE_INIT (&kinnet__v1__admin_request__descriptor),        \
        .op_case = KINNET__V1__ADMIN_REQUEST__OP_##MEMBER, .member = (value)             \
    }

//  Register an agency in district as agency: the reply (caller frees).
static __attribute__ ((unused)) Kinnet__V1__AdminReply *
s_register_in (int agency, const char *key, const char *name, const char *district,
               const char *public_key)
{
    Kinnet__V1__RegisterAgency op = KINNET__V1__REGISTER_AGENCY__INIT;
    op.idempotency_key = (char *)key;
    op.name = (char *)name;
    op.sector = KINNET__V1__AGENCY_SECTOR__HEALTH;
    op.district = (char *)district;
    op.public_key = (char *)public_key;
    Kinnet__V1__AdminRequest request = REQUEST (register_agency, REGISTER_AGENCY, &op);
    return s_admin (agency, &request);
}

//  Register an agency in north, where the stack's agencies are.
static __attribute__ ((unused)) Kinnet__V1__AdminReply *
s_register (int agency, const char *key, const char *name, const char *public_key)
{
    return s_register_in (agency, key, name, "north", public_key);
}

static __attribute__ ((unused)) Kinnet__V1__AdminReply *
s_set_role (int agency, const char *key, const char *target, const char *role, bool grant)
{
    Kinnet__V1__SetRole op = KINNET__V1__SET_ROLE__INIT;
    op.idempotency_key = (char *)key;
    op.agency_id = (char *)target;
    op.role = (char *)role;
    op.grant = grant;
    Kinnet__V1__AdminRequest request = REQUEST (set_role, SET_ROLE, &op);
    return s_admin (agency, &request);
}

#endif
