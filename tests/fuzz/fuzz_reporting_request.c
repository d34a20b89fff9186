/*  Fuzz target: a ReportingRequest body as it arrives off the network, taken through
    kn_service_decode (unpack, the unknown-field walk, the NUL-byte walk, canonical
    ids) as reporting_server_handle does, then a report's field rules
    (reporting_report_validate), then re-encoding. The checks of verify_audit's anchor
    and of export_subject's ids are static in reporting_server.c and not reached. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

#include "kn_service.h"
#include "reporting_report.h"

int LLVMFuzzerTestOneInput (const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput (const uint8_t *data, size_t size)
{
    //  What a worker holds: [Caller][body].
    zmsg_t *msg = zmsg_new ();
    zmsg_addstr (msg, "");
    zmsg_addmem (msg, data, size);
    kn_error_t err;
    Kinnet__V1__ReportingRequest *request = (Kinnet__V1__ReportingRequest *) kn_service_decode (
        msg, &kinnet__v1__reporting_request__descriptor, &err);
    zmsg_destroy (&msg);
    if (!request)
        return 0;
    if (request->op_case == KINNET__V1__REPORTING_REQUEST__OP_REPORT)
        reporting_report_validate (request->report, &err);
    size_t len = kinnet__v1__reporting_request__get_packed_size (request);
    uint8_t *buffer = malloc (len + 1);
    if (kinnet__v1__reporting_request__pack (request, buffer) != len)
        __builtin_trap ();
    free (buffer);
    kinnet__v1__reporting_request__free_unpacked (request, NULL);
    return 0;
}
