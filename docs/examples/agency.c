/*  agency.c: the smallest agency integration. It submits one referral to Kinnet's
    intake and reads it back, using only what `cmake --install` gives an agency: the
    client library, its headers and the generated kinnet.v1 messages.

    Build against an installed Kinnet:
        cc agency.c $(pkg-config --cflags --libs kinnet) -o agency
    Run it with the broker's frontend, the broker's public key and your agency's
    certificate (the secret one, as `kinnet admin agency add` wrote it):
        KINNET_ENDPOINT=tcp://kinnet.example:5555 KINNET_SERVER_KEY=<40 chars> \
        KINNET_CERT=agency.cert ./agency
    It prints the referral id and exits 0, or prints the error and exits 1.
    Real integrations keep the idempotency key with their own record, so a retry
    after a crash sends the same key (docs/protocol/transport.md, reliability). */
#include <czmq.h>
#include <stdio.h>
#include <stdlib.h>

#include "kinnet/v1/intake.pb-c.h"
#include "kn_client.h"

//  Send request to intake; returns its decoded reply (caller frees) or NULL.
static Kinnet__V1__IntakeReply *
s_call (kn_client_t *client, const Kinnet__V1__IntakeRequest *request)
{
    size_t len = kinnet__v1__intake_request__get_packed_size (request);
    uint8_t *body = malloc (len ? len : 1);
    kinnet__v1__intake_request__pack (request, body);
    kn_error_t err;
    zframe_t *frame = kn_client_call (client, "intake", body, len, &err);
    free (body);
    if (!frame) {
        fprintf (stderr, "agency: no reply: %s\n", err.message);
        return NULL;
    }
    Kinnet__V1__IntakeReply *reply = kinnet__v1__intake_reply__unpack (
        NULL, zframe_size (frame), zframe_data (frame));
    zframe_destroy (&frame);
    if (!reply)
        fprintf (stderr, "agency: undecodable reply\n");
    else if (reply->error) {
        fprintf (stderr, "agency: %s (field \"%s\"): %s\n",
                 protobuf_c_enum_descriptor_get_value (&kinnet__v1__error_code__descriptor,
                                                       reply->error->code)
                     ->name,
                 reply->error->field, reply->error->message);
        kinnet__v1__intake_reply__free_unpacked (reply, NULL);
        reply = NULL;
    }
    return reply;
}

int
main (void)
{
    const char *endpoint = getenv ("KINNET_ENDPOINT");
    const char *server_key = getenv ("KINNET_SERVER_KEY");
    const char *cert_path = getenv ("KINNET_CERT");
    const char *district = getenv ("KINNET_DISTRICT");
    if (!endpoint || !server_key || !cert_path) {
        fprintf (stderr, "agency: set KINNET_ENDPOINT, KINNET_SERVER_KEY and KINNET_CERT\n");
        return 2;
    }
    zcert_t *cert = zcert_load (cert_path);
    if (!cert) {
        fprintf (stderr, "agency: cannot read the certificate %s\n", cert_path);
        return 2;
    }
    kn_error_t err;
    kn_client_t *client = kn_client_new (endpoint, cert, server_key, &err);
    zcert_destroy (&cert);
    if (!client) {
        fprintf (stderr, "agency: %s\n", err.message);
        return 1;
    }

    //  A referral on a public task: the child, one need, where, and why.
    Kinnet__V1__Person child = KINNET__V1__PERSON__INIT;
    child.given_name = "Ana";
    child.family_name = "Silva";
    child.date_of_birth = "2017-03-14";
    Kinnet__V1__Need need = KINNET__V1__NEED__INIT;
    need.category = KINNET__V1__NEED_CATEGORY__LANGUAGE_SUPPORT;
    need.description = "Needs English support.";
    Kinnet__V1__Need *needs[] = {&need};
    Kinnet__V1__LawfulGround ground = KINNET__V1__LAWFUL_GROUND__INIT;
    ground.basis = KINNET__V1__LAWFUL_BASIS__PUBLIC_TASK;
    ground.justification = "Education duty to support the child's learning.";
    Kinnet__V1__SubmitReferral submit = KINNET__V1__SUBMIT_REFERRAL__INIT;
    submit.idempotency_key = "example-agency-0001";
    submit.child = &child;
    submit.needs = needs;
    submit.n_needs = 1;
    submit.urgency = KINNET__V1__URGENCY__ROUTINE;
    submit.district = (char *)(district ? district : "north");
    submit.lawful_ground = &ground;
    Kinnet__V1__IntakeRequest request = KINNET__V1__INTAKE_REQUEST__INIT;
    request.op_case = KINNET__V1__INTAKE_REQUEST__OP_SUBMIT;
    request.submit = &submit;
    Kinnet__V1__IntakeReply *reply = s_call (client, &request);
    if (!reply) {
        kn_client_destroy (&client);
        return 1;
    }
    printf ("referral %s%s\n", reply->submitted->referral_id,
            reply->submitted->replayed ? " (replayed)" : "");

    //  Read it back: the referrer sees its own referral whole.
    Kinnet__V1__GetReferral get = KINNET__V1__GET_REFERRAL__INIT;
    get.referral_id = reply->submitted->referral_id;
    Kinnet__V1__IntakeRequest read = KINNET__V1__INTAKE_REQUEST__INIT;
    read.op_case = KINNET__V1__INTAKE_REQUEST__OP_GET;
    read.get = &get;
    Kinnet__V1__IntakeReply *stored = s_call (client, &read);
    int rc = stored ? 0 : 1;
    if (stored)
        printf ("status %s, child %s\n",
                protobuf_c_enum_descriptor_get_value (&kinnet__v1__referral_status__descriptor,
                                                      stored->referral->status)
                    ->name,
                stored->referral->submitted->child->given_name);
    kinnet__v1__intake_reply__free_unpacked (stored, NULL);
    kinnet__v1__intake_reply__free_unpacked (reply, NULL);
    kn_client_destroy (&client);
    return rc;
}
