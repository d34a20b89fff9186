/*  test_pbjson: kn_pbjson against the real kinnet.v1 types, plus one hand-built
    descriptor (AllTypes, below) for the field types and labels our protos do not use
    yet. Every decoded message also goes through pack -> unpack -> encode, since
    "protobuf-c can serialise it" is the property the services rely on. */
#include <criterion/criterion.h>
#include <math.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include "kn_pbjson.h"
#include "kn_test.h"
#include "kinnet/v1/common.pb-c.h"
#include "kinnet/v1/events.pb-c.h"
#include "kinnet/v1/intake.pb-c.h"

// --------------------------------------------------------------------------------
//  Helpers

//  Each test ends with a leak check (under ASan), see kn_test_no_leaks.
TestSuite (pbjson, .fini = kn_test_no_leaks);

//  Fixtures write ' for " so that they stay readable.
static json_t *
s_json (const char *text)
{
    char *copy = strdup (text);
    cr_assert_not_null (copy);
    for (char *at = copy; *at; at++)
        if (*at == '\'')
            *at = '"';
    json_error_t error;
    json_t *json = json_loads (copy, JSON_DECODE_ANY, &error);
    free (copy);
    cr_assert_not_null (json, "bad fixture JSON: %s", error.text);
    return json;
}

static ProtobufCMessage *
s_decode_ok (const ProtobufCMessageDescriptor *descriptor, const char *text)
{
    json_t *json = s_json (text);
    kn_error_t err;
    kn_error_clear (&err);
    ProtobufCMessage *message = kn_pbjson_decode (descriptor, json, &err);
    json_decref (json);
    cr_assert_not_null (message, "decode failed at '%s': %s", err.field, err.message);
    return message;
}

static void
s_expect_invalid_json (const ProtobufCMessageDescriptor *descriptor, const json_t *json,
                       const char *field)
{
    kn_error_t err;
    kn_error_clear (&err);
    ProtobufCMessage *message = kn_pbjson_decode (descriptor, json, &err);
    cr_assert_null (message, "decode should fail at '%s'", field);
    cr_assert_eq (err.code, KN_E_INVALID_ARGUMENT, "code %d at '%s': %s", err.code,
                  err.field, err.message);
    cr_assert_str_eq (err.field, field, "message: %s", err.message);
    cr_assert_neq (err.message[0], '\0');
}

static void
s_expect_invalid (const ProtobufCMessageDescriptor *descriptor, const char *text,
                  const char *field)
{
    json_t *json = s_json (text);
    s_expect_invalid_json (descriptor, json, field);
    json_decref (json);
}

static void
s_assert_json_eq (const json_t *actual, const json_t *expected)
{
    if (json_equal (actual, expected))
        return;
    char *got = json_dumps (actual, JSON_SORT_KEYS | JSON_COMPACT | JSON_ENCODE_ANY);
    char *want = json_dumps (expected, JSON_SORT_KEYS | JSON_COMPACT | JSON_ENCODE_ANY);
    cr_assert_fail ("JSON differs\n got: %s\nwant: %s", got, want);
}

//  pack -> unpack -> encode: what a message meets on its way through a service.
static json_t *
s_wire_trip (const ProtobufCMessage *message)
{
    size_t size = protobuf_c_message_get_packed_size (message);
    uint8_t *buffer = malloc (size + 1);
    cr_assert_not_null (buffer);
    cr_assert_eq (protobuf_c_message_pack (message, buffer), size);
    ProtobufCMessage *copy =
        protobuf_c_message_unpack (message->descriptor, NULL, size, buffer);
    free (buffer);
    cr_assert_not_null (copy, "protobuf-c could not unpack what it packed");
    json_t *json = kn_pbjson_encode (copy);
    protobuf_c_message_free_unpacked (copy, NULL);
    cr_assert_not_null (json);
    return json;
}

//  decode(text) -> wire trip -> encode must give back expected (text if NULL).
static void
s_assert_round_trip (const ProtobufCMessageDescriptor *descriptor, const char *text,
                     const char *expected_text)
{
    ProtobufCMessage *message = s_decode_ok (descriptor, text);
    json_t *expected = s_json (expected_text ? expected_text : text);

    json_t *direct = kn_pbjson_encode (message);
    cr_assert_not_null (direct);
    s_assert_json_eq (direct, expected);

    json_t *tripped = s_wire_trip (message);
    s_assert_json_eq (tripped, expected);

    json_decref (direct);
    json_decref (tripped);
    json_decref (expected);
    protobuf_c_message_free_unpacked (message, NULL);
}

//  A complete referral, written the way the encoder writes it (lower-case enum
//  names, no zero values), so that the round trip must reproduce it exactly.
static const char *s_referral =
    "{'idempotency_key': 'school-42/2024-0117',"
    " 'child': {'given_name': 'Amira', 'family_name': 'Haddad',"
    "           'date_of_birth': '2015-03-09', 'languages': ['ar', 'en']},"
    " 'siblings': [{'given_name': 'Yusuf', 'family_name': 'Haddad',"
    "               'date_of_birth': '2012-11-30'},"
    "              {'given_name': 'Lina', 'family_name': 'Haddad',"
    "               'date_of_birth': '2019-06-01', 'languages': ['ar']}],"
    " 'guardians': [{'given_name': 'Samira', 'family_name': 'Haddad',"
    "                'relationship': 'mother', 'parental_responsibility': true,"
    "                'phone': '+44 7700 900123', 'languages': ['ar', 'fr']}],"
    " 'needs': [{'category': 'language_support', 'description': 'New arrival'},"
    "           {'category': 'housing_need', 'description': 'Temporary flat'}],"
    " 'urgency': 'priority',"
    " 'district': 'E05000026',"
    " 'lawful_ground': {'basis': 'consent', 'consent_reference': 'CF-2024-0117'},"
    " 'caseworker_id': 'cw-17'}";

// --------------------------------------------------------------------------------
//  Decoding the real kinnet.v1 types

Test (pbjson, decodes_full_submit_referral)
{
    Kinnet__V1__SubmitReferral *referral = (Kinnet__V1__SubmitReferral *)s_decode_ok (
        &kinnet__v1__submit_referral__descriptor, s_referral);

    cr_assert_str_eq (referral->idempotency_key, "school-42/2024-0117");
    cr_assert_not_null (referral->child);
    cr_assert_str_eq (referral->child->given_name, "Amira");
    cr_assert_str_eq (referral->child->family_name, "Haddad");
    cr_assert_str_eq (referral->child->date_of_birth, "2015-03-09");
    cr_assert_eq (referral->child->n_languages, 2);
    cr_assert_str_eq (referral->child->languages[0], "ar");
    cr_assert_str_eq (referral->child->languages[1], "en");

    cr_assert_eq (referral->n_siblings, 2);
    cr_assert_str_eq (referral->siblings[0]->given_name, "Yusuf");
    cr_assert_str_eq (referral->siblings[0]->date_of_birth, "2012-11-30");
    cr_assert_eq (referral->siblings[0]->n_languages, 0);
    cr_assert_str_eq (referral->siblings[1]->given_name, "Lina");
    cr_assert_str_eq (referral->siblings[1]->date_of_birth, "2019-06-01");

    cr_assert_eq (referral->n_guardians, 1);
    Kinnet__V1__Guardian *mother = referral->guardians[0];
    cr_assert_str_eq (mother->given_name, "Samira");
    cr_assert_eq (mother->relationship, KINNET__V1__RELATIONSHIP__MOTHER);
    cr_assert (mother->parental_responsibility);
    cr_assert_str_eq (mother->phone, "+44 7700 900123");
    cr_assert_eq (mother->n_languages, 2);
    cr_assert_str_eq (mother->languages[1], "fr");

    cr_assert_eq (referral->n_needs, 2);
    cr_assert_eq (referral->needs[0]->category,
                  KINNET__V1__NEED_CATEGORY__LANGUAGE_SUPPORT);
    cr_assert_str_eq (referral->needs[0]->description, "New arrival");
    cr_assert_eq (referral->needs[1]->category, KINNET__V1__NEED_CATEGORY__HOUSING_NEED);

    cr_assert_eq (referral->urgency, KINNET__V1__URGENCY__PRIORITY);
    cr_assert_str_eq (referral->district, "E05000026");
    cr_assert_not_null (referral->lawful_ground);
    cr_assert_eq (referral->lawful_ground->basis, KINNET__V1__LAWFUL_BASIS__CONSENT);
    cr_assert_str_eq (referral->lawful_ground->consent_reference, "CF-2024-0117");
    cr_assert_str_eq (referral->lawful_ground->justification, "");
    cr_assert_str_eq (referral->caseworker_id, "cw-17");

    protobuf_c_message_free_unpacked (&referral->base, NULL);
}

Test (pbjson, round_trips_submit_referral_through_the_wire)
{
    s_assert_round_trip (&kinnet__v1__submit_referral__descriptor, s_referral, NULL);
}

Test (pbjson, absent_fields_keep_proto3_defaults)
{
    Kinnet__V1__SubmitReferral *referral = (Kinnet__V1__SubmitReferral *)s_decode_ok (
        &kinnet__v1__submit_referral__descriptor, "{}");
    cr_assert_str_eq (referral->idempotency_key, "");
    cr_assert_null (referral->child);
    cr_assert_eq (referral->n_siblings, 0);
    cr_assert_null (referral->siblings);
    cr_assert_eq (referral->urgency, KINNET__V1__URGENCY__URGENCY_UNSPECIFIED);
    json_t *json = kn_pbjson_encode (&referral->base);
    json_t *empty = json_object ();
    s_assert_json_eq (json, empty);
    json_decref (json);
    json_decref (empty);
    protobuf_c_message_free_unpacked (&referral->base, NULL);
}

Test (pbjson, explicit_zero_values_are_accepted_and_omitted)
{
    s_assert_round_trip (&kinnet__v1__guardian__descriptor,
                         "{'given_name': '', 'relationship': 'RELATIONSHIP_UNSPECIFIED',"
                         " 'parental_responsibility': false, 'languages': []}",
                         "{}");
}

Test (pbjson, enums_accept_any_case_and_integers)
{
    const char *spellings[] = {"{'urgency': 'priority'}", "{'urgency': 'PRIORITY'}",
                               "{'urgency': 'Priority'}", "{'urgency': 2}"};
    for (size_t index = 0; index < sizeof spellings / sizeof spellings[0]; index++)
        s_assert_round_trip (&kinnet__v1__submit_referral__descriptor, spellings[index],
                             "{'urgency': 'priority'}");
}

Test (pbjson, repeated_enums_and_unknown_enum_numbers)
{
    //  proto3 enums are open: a number with no name survives and comes back as a number
    s_assert_round_trip (&kinnet__v1__referral_received__descriptor,
                         "{'needs': ['LANGUAGE_SUPPORT', 6, 99], 'children': 3,"
                         " 'family_matched': true, 'languages': ['uk']}",
                         "{'needs': ['language_support', 'housing_need', 99],"
                         " 'children': 3, 'family_matched': true, 'languages': ['uk']}");
}

Test (pbjson, int64_accepts_a_decimal_string)
{
    Kinnet__V1__Timestamp *stamp = (Kinnet__V1__Timestamp *)s_decode_ok (
        &kinnet__v1__timestamp__descriptor, "{'seconds': '-62135596800', 'nanos': 5}");
    cr_assert_eq (stamp->seconds, -62135596800LL);
    cr_assert_eq (stamp->nanos, 5);
    protobuf_c_message_free_unpacked (&stamp->base, NULL);
    s_assert_round_trip (&kinnet__v1__timestamp__descriptor, "{'seconds': '1700000000'}",
                         "{'seconds': 1700000000}");
}

// --------------------------------------------------------------------------------
//  Decoding errors: code, field path, and nothing leaked (ASan)

Test (pbjson, unknown_key_names_its_path)
{
    s_expect_invalid (&kinnet__v1__submit_referral__descriptor,
                      "{'child': {'given_name': 'Amira', 'nickname': 'Mimi'}}",
                      "child.nickname");
    s_expect_invalid (&kinnet__v1__submit_referral__descriptor, "{'Urgency': 'routine'}",
                      "Urgency");
    s_expect_invalid (&kinnet__v1__submit_referral__descriptor,
                      "{'guardians': [{'given_name': 'A'}, {'role': 'mother'}]}",
                      "guardians[1].role");
}

Test (pbjson, wrong_json_types)
{
    const ProtobufCMessageDescriptor *descriptor =
        &kinnet__v1__submit_referral__descriptor;
    s_expect_invalid (descriptor,
                      "{'siblings': [{'given_name': 'Yusuf'},"
                      "              {'given_name': 'Lina', 'date_of_birth': 20190601}]}",
                      "siblings[1].date_of_birth");
    s_expect_invalid (descriptor, "{'district': ['E05000026']}", "district");
    s_expect_invalid (descriptor, "{'child': 'Amira'}", "child");
    s_expect_invalid (descriptor, "{'siblings': {'given_name': 'Yusuf'}}", "siblings");
    s_expect_invalid (descriptor, "{'child': {'languages': 'ar'}}", "child.languages");
    s_expect_invalid (descriptor, "{'child': {'languages': ['ar', 7]}}",
                      "child.languages[1]");
    s_expect_invalid (descriptor, "{'urgency': true}", "urgency");
    s_expect_invalid (descriptor, "{'urgency': 2.0}", "urgency");
    s_expect_invalid (descriptor, "{'guardians': [{'parental_responsibility': 'yes'}]}",
                      "guardians[0].parental_responsibility");
    s_expect_invalid (descriptor, "{'guardians': [{'parental_responsibility': 1}]}",
                      "guardians[0].parental_responsibility");
    s_expect_invalid (&kinnet__v1__referral_received__descriptor, "{'children': 1.5}",
                      "children");
    s_expect_invalid (&kinnet__v1__referral_received__descriptor, "{'children': '3'}",
                      "children");
    s_expect_invalid (&kinnet__v1__referral_received__descriptor,
                      "{'children': 2147483648}", "children");
}

Test (pbjson, unknown_enum_name)
{
    s_expect_invalid (&kinnet__v1__submit_referral__descriptor,
                      "{'needs': [{'category': 'languages', 'description': 'x'}]}",
                      "needs[0].category");
    s_expect_invalid (&kinnet__v1__submit_referral__descriptor,
                      "{'needs': [{'category': 'language_support'},"
                      "           {'category': 'NEED_CATEGORY_'}]}",
                      "needs[1].category");
    s_expect_invalid (&kinnet__v1__submit_referral__descriptor, "{'urgency': ''}",
                      "urgency");
    s_expect_invalid (&kinnet__v1__submit_referral__descriptor, "{'urgency': 4294967298}",
                      "urgency");
}

Test (pbjson, null_is_an_error)
{
    const ProtobufCMessageDescriptor *descriptor =
        &kinnet__v1__submit_referral__descriptor;
    s_expect_invalid (descriptor, "{'district': null}", "district");
    s_expect_invalid (descriptor, "{'child': null}", "child");
    s_expect_invalid (descriptor, "{'siblings': null}", "siblings");
    s_expect_invalid (descriptor, "{'siblings': [{'given_name': 'Yusuf'}, null]}",
                      "siblings[1]");
    s_expect_invalid (descriptor, "{'urgency': null}", "urgency");
}

Test (pbjson, non_object_is_an_error)
{
    const ProtobufCMessageDescriptor *descriptor =
        &kinnet__v1__submit_referral__descriptor;
    s_expect_invalid (descriptor, "[]", "");
    s_expect_invalid (descriptor, "'referral'", "");
    s_expect_invalid (descriptor, "null", "");
    s_expect_invalid_json (descriptor, NULL, "");
}

Test (pbjson, string_with_nul_is_an_error)
{
    json_t *json = json_object ();
    json_object_set_new (json, "district", json_stringn ("E05\0x", 5));
    s_expect_invalid_json (&kinnet__v1__submit_referral__descriptor, json, "district");
    json_decref (json);

    //  nor may a key with a NUL in it pass for the field it starts with
    json = json_object ();
    json_object_setn_new (json, "district\0x", 10, json_string ("E05000026"));
    s_expect_invalid_json (&kinnet__v1__submit_referral__descriptor, json, "district");
    json_decref (json);
}

Test (pbjson, late_error_frees_everything_built_so_far)
{
    //  Everything but the last field decodes; ASan's leak check holds us to the rest
    json_t *json = s_json (s_referral);
    json_object_set_new (json, "caseworker_id", json_integer (17));
    s_expect_invalid_json (&kinnet__v1__submit_referral__descriptor, json,
                           "caseworker_id");
    json_decref (json);

    json = s_json (s_referral);
    json_t *needs = json_object_get (json, "needs");
    json_object_set_new (json_array_get (needs, 1), "category", json_string ("nope"));
    s_expect_invalid_json (&kinnet__v1__submit_referral__descriptor, json,
                           "needs[1].category");
    json_decref (json);
}

Test (pbjson, error_without_an_error_object)
{
    json_t *json = s_json ("{'nickname': 'x'}");
    cr_assert_null (kn_pbjson_decode (&kinnet__v1__person__descriptor, json, NULL));
    json_decref (json);
}

Test (pbjson, long_paths_are_truncated_not_overrun)
{
    char key[300];
    memset (key, 'k', sizeof key - 1);
    key[sizeof key - 1] = '\0';
    json_t *child = json_object ();
    json_object_set_new (child, key, json_true ());
    json_t *json = json_object ();
    json_object_set_new (json, "child", child);
    kn_error_t err;
    kn_error_clear (&err);
    cr_assert_null (
        kn_pbjson_decode (&kinnet__v1__submit_referral__descriptor, json, &err));
    cr_assert_eq (err.code, KN_E_INVALID_ARGUMENT);
    cr_assert_eq (strlen (err.field), sizeof err.field - 1);
    cr_assert_eq (strncmp (err.field, "child.kkk", 9), 0);
    json_decref (json);
}

// --------------------------------------------------------------------------------
//  Oneofs

Test (pbjson, oneof_member_sets_the_case)
{
    const char *text = "{'get': {'referral_id': '0b1f6a52-5d3c-4c8e-9a51-3f0c2d7e9b10',"
                       "         'caseworker_id': 'cw-17'}}";
    Kinnet__V1__IntakeRequest *request = (Kinnet__V1__IntakeRequest *)s_decode_ok (
        &kinnet__v1__intake_request__descriptor, text);
    cr_assert_eq (request->op_case, KINNET__V1__INTAKE_REQUEST__OP_GET);
    cr_assert_not_null (request->get);
    cr_assert_str_eq (request->get->referral_id, "0b1f6a52-5d3c-4c8e-9a51-3f0c2d7e9b10");
    cr_assert_str_eq (request->get->caseworker_id, "cw-17");
    protobuf_c_message_free_unpacked (&request->base, NULL);

    s_assert_round_trip (&kinnet__v1__intake_request__descriptor, text, NULL);
}

Test (pbjson, oneof_with_a_whole_referral)
{
    char text[2048];
    snprintf (text, sizeof text, "{'submit': %s}", s_referral);
    s_assert_round_trip (&kinnet__v1__intake_request__descriptor, text, NULL);
}

Test (pbjson, empty_oneof_member_is_still_set)
{
    Kinnet__V1__IntakeRequest *request = (Kinnet__V1__IntakeRequest *)s_decode_ok (
        &kinnet__v1__intake_request__descriptor, "{'withdraw': {}}");
    cr_assert_eq (request->op_case, KINNET__V1__INTAKE_REQUEST__OP_WITHDRAW);
    protobuf_c_message_free_unpacked (&request->base, NULL);
    s_assert_round_trip (&kinnet__v1__intake_request__descriptor, "{'withdraw': {}}",
                         NULL);
}

Test (pbjson, two_members_of_one_oneof_is_an_error)
{
    s_expect_invalid (&kinnet__v1__intake_request__descriptor,
                      "{'get': {'referral_id': 'a'}, 'withdraw': {'referral_id': 'a'}}",
                      "withdraw");
    s_expect_invalid (&kinnet__v1__intake_request__descriptor,
                      "{'submit': {'child': {'age': 9}}}", "submit.child.age");
}

// --------------------------------------------------------------------------------
//  Encoding messages built in C

Test (pbjson, encodes_intake_reply_with_error)
{
    Kinnet__V1__Error error = KINNET__V1__ERROR__INIT;
    error.code = KINNET__V1__ERROR_CODE__NOT_FOUND;
    error.message = "no such referral";
    error.field = "referral_id";
    Kinnet__V1__IntakeReply reply = KINNET__V1__INTAKE_REPLY__INIT;
    reply.error = &error;

    json_t *json = kn_pbjson_encode (&reply.base);
    cr_assert_not_null (json);
    json_t *expected = s_json ("{'error': {'code': 'not_found',"
                               "           'message': 'no such referral',"
                               "           'field': 'referral_id'}}");
    s_assert_json_eq (json, expected);
    json_t *tripped = s_wire_trip (&reply.base);
    s_assert_json_eq (tripped, expected);
    json_decref (tripped);
    json_decref (expected);
    json_decref (json);
}

Test (pbjson, encodes_intake_reply_with_result)
{
    Kinnet__V1__Timestamp received = KINNET__V1__TIMESTAMP__INIT;
    received.seconds = 1700000000;
    Kinnet__V1__SubmitReferralResult result = KINNET__V1__SUBMIT_REFERRAL_RESULT__INIT;
    result.referral_id = "0b1f6a52-5d3c-4c8e-9a51-3f0c2d7e9b10";
    result.family_id = "6c7e2f4a-1b2d-4e8f-9a0b-1c2d3e4f5a6b";
    result.family_matched = 0;
    result.replayed = 1;
    result.received_at = &received;
    Kinnet__V1__IntakeReply reply = KINNET__V1__INTAKE_REPLY__INIT;
    reply.result_case = KINNET__V1__INTAKE_REPLY__RESULT_SUBMITTED;
    reply.submitted = &result;

    json_t *json = kn_pbjson_encode (&reply.base);
    json_t *expected =
        s_json ("{'submitted': {'referral_id': '0b1f6a52-5d3c-4c8e-9a51-3f0c2d7e9b10',"
                "               'family_id': '6c7e2f4a-1b2d-4e8f-9a0b-1c2d3e4f5a6b',"
                "               'replayed': true,"
                "               'received_at': {'seconds': 1700000000}}}");
    s_assert_json_eq (json, expected);
    json_decref (expected);
    json_decref (json);
}

Test (pbjson, encode_refuses_invalid_utf8)
{
    Kinnet__V1__Person sibling = KINNET__V1__PERSON__INIT;
    sibling.given_name = "\xff\xfe";
    Kinnet__V1__Person *siblings[] = {&sibling};
    Kinnet__V1__SubmitReferral referral = KINNET__V1__SUBMIT_REFERRAL__INIT;
    referral.district = "E05000026";
    referral.n_siblings = 1;
    referral.siblings = siblings;
    cr_assert_null (kn_pbjson_encode (&referral.base));
    cr_assert_null (kn_pbjson_encode (NULL));
}

// --------------------------------------------------------------------------------
//  AllTypes: one field of each protobuf-c type and label, laid out as protoc-c
//  lays out a message (proto2-style optionals with has_ flags included). Field
//  names are alphabetical in field-number order, so the by-name index is 0..25.

typedef struct {
    ProtobufCMessage base;
    int32_t a_int32;
    int32_t b_sint32;
    int32_t c_sfixed32;
    int64_t d_int64;
    int64_t e_sint64;
    int64_t f_sfixed64;
    uint32_t g_uint32;
    uint32_t h_fixed32;
    uint64_t i_uint64;
    uint64_t j_fixed64;
    float k_float;
    double l_double;
    protobuf_c_boolean m_bool;
    Kinnet__V1__Urgency n_enum;
    char *o_string;
    ProtobufCBinaryData p_bytes;
    Kinnet__V1__Timestamp *q_message;
    protobuf_c_boolean has_r_opt_int32;
    int32_t r_opt_int32;
    char *s_opt_string;
    size_t n_t_rep_bytes;
    ProtobufCBinaryData *t_rep_bytes;
    size_t n_u_rep_double;
    double *u_rep_double;
    size_t n_v_rep_sint64;
    int64_t *v_rep_sint64;
    protobuf_c_boolean has_w_opt_bytes;
    ProtobufCBinaryData w_opt_bytes;
    uint32_t choice_case;
    union {
        char *x_one_string;
        int32_t y_one_int32;
        ProtobufCBinaryData z_one_bytes;
    };
} all_types_t;

#define AT(member) offsetof (all_types_t, member)
#define FIELD(ID, NAME, LABEL, TYPE, QUANTIFIER, DESCRIPTOR, DEFAULT, FLAGS)             \
    {                                                                                    \
        .name = #NAME, .id = ID, .label = PROTOBUF_C_LABEL_##LABEL,                      \
        .type = PROTOBUF_C_TYPE_##TYPE, .quantifier_offset = QUANTIFIER,                 \
        .offset = AT (NAME), .descriptor = DESCRIPTOR, .default_value = DEFAULT,         \
        .flags = FLAGS                                                                   \
    }
#define ONEOF  PROTOBUF_C_FIELD_FLAG_ONEOF
#define PACKED PROTOBUF_C_FIELD_FLAG_PACKED

static const ProtobufCFieldDescriptor s_all_types_fields[] = {
    FIELD (1, a_int32, NONE, INT32, 0, NULL, NULL, 0),
    FIELD (2, b_sint32, NONE, SINT32, 0, NULL, NULL, 0),
    FIELD (3, c_sfixed32, NONE, SFIXED32, 0, NULL, NULL, 0),
    FIELD (4, d_int64, NONE, INT64, 0, NULL, NULL, 0),
    FIELD (5, e_sint64, NONE, SINT64, 0, NULL, NULL, 0),
    FIELD (6, f_sfixed64, NONE, SFIXED64, 0, NULL, NULL, 0),
    FIELD (7, g_uint32, NONE, UINT32, 0, NULL, NULL, 0),
    FIELD (8, h_fixed32, NONE, FIXED32, 0, NULL, NULL, 0),
    FIELD (9, i_uint64, NONE, UINT64, 0, NULL, NULL, 0),
    FIELD (10, j_fixed64, NONE, FIXED64, 0, NULL, NULL, 0),
    FIELD (11, k_float, NONE, FLOAT, 0, NULL, NULL, 0),
    FIELD (12, l_double, NONE, DOUBLE, 0, NULL, NULL, 0),
    FIELD (13, m_bool, NONE, BOOL, 0, NULL, NULL, 0),
    FIELD (14, n_enum, NONE, ENUM, 0, &kinnet__v1__urgency__descriptor, NULL, 0),
    FIELD (15, o_string, NONE, STRING, 0, NULL, &protobuf_c_empty_string, 0),
    FIELD (16, p_bytes, NONE, BYTES, 0, NULL, NULL, 0),
    FIELD (17, q_message, NONE, MESSAGE, 0, &kinnet__v1__timestamp__descriptor, NULL, 0),
    FIELD (18, r_opt_int32, OPTIONAL, INT32, AT (has_r_opt_int32), NULL, NULL, 0),
    FIELD (19, s_opt_string, OPTIONAL, STRING, 0, NULL, NULL, 0),
    FIELD (20, t_rep_bytes, REPEATED, BYTES, AT (n_t_rep_bytes), NULL, NULL, 0),
    FIELD (21, u_rep_double, REPEATED, DOUBLE, AT (n_u_rep_double), NULL, NULL, PACKED),
    FIELD (22, v_rep_sint64, REPEATED, SINT64, AT (n_v_rep_sint64), NULL, NULL, PACKED),
    FIELD (23, w_opt_bytes, OPTIONAL, BYTES, AT (has_w_opt_bytes), NULL, NULL, 0),
    FIELD (24, x_one_string, NONE, STRING, AT (choice_case), NULL,
           &protobuf_c_empty_string, ONEOF),
    FIELD (25, y_one_int32, NONE, INT32, AT (choice_case), NULL, NULL, ONEOF),
    FIELD (26, z_one_bytes, NONE, BYTES, AT (choice_case), NULL, NULL, ONEOF),
};
static const unsigned s_all_types_by_name[] = {0,  1,  2,  3,  4,  5,  6,  7,  8,
                                               9,  10, 11, 12, 13, 14, 15, 16, 17,
                                               18, 19, 20, 21, 22, 23, 24, 25};
static const ProtobufCIntRange s_all_types_ranges[] = {{1, 0}, {0, 26}};

static void s_all_types_init (ProtobufCMessage *message);

static const ProtobufCMessageDescriptor s_all_types_descriptor = {
    .magic = PROTOBUF_C__MESSAGE_DESCRIPTOR_MAGIC,
    .name = "test.AllTypes",
    .short_name = "AllTypes",
    .c_name = "AllTypes",
    .package_name = "test",
    .sizeof_message = sizeof (all_types_t),
    .n_fields = sizeof s_all_types_fields / sizeof s_all_types_fields[0],
    .fields = s_all_types_fields,
    .fields_sorted_by_name = s_all_types_by_name,
    .n_field_ranges = 1,
    .field_ranges = s_all_types_ranges,
    .message_init = s_all_types_init,
};

static void
s_all_types_init (ProtobufCMessage *message)
{
    all_types_t *self = (all_types_t *)message;
    memset (self, 0, sizeof *self);
    self->base.descriptor = &s_all_types_descriptor;
    self->o_string = (char *)protobuf_c_empty_string;
}

static const char *s_all_types_json =
    "{'a_int32': -5, 'b_sint32': -2147483648, 'c_sfixed32': 2147483647,"
    " 'd_int64': '-9007199254740993', 'e_sint64': -9223372036854775808,"
    " 'f_sfixed64': '9223372036854775807', 'g_uint32': 4294967295, 'h_fixed32': 7,"
    " 'i_uint64': '18446744073709551615', 'j_fixed64': 12,"
    " 'k_float': 1.5, 'l_double': 0.1, 'm_bool': true, 'n_enum': 'URGENT',"
    " 'o_string': 'h\xc3\xa9llo', 'p_bytes': 'AAEC/w==',"
    " 'q_message': {'seconds': 1700000000, 'nanos': 1},"
    " 'r_opt_int32': 0, 't_rep_bytes': ['', 'aGk='],"
    " 'u_rep_double': ['NaN', 'Infinity', '-Infinity', -0.5, 3],"
    " 'v_rep_sint64': [-1, '2', 0], 'w_opt_bytes': '', 'y_one_int32': 0}";

//  The same as the encoder writes it back: numbers as numbers, enum names in lower
//  case; a repeated zero stays, only singular zeros are left out.
static const char *s_all_types_canonical =
    "{'a_int32': -5, 'b_sint32': -2147483648, 'c_sfixed32': 2147483647,"
    " 'd_int64': -9007199254740993, 'e_sint64': -9223372036854775808,"
    " 'f_sfixed64': 9223372036854775807, 'g_uint32': 4294967295, 'h_fixed32': 7,"
    " 'i_uint64': '18446744073709551615', 'j_fixed64': 12,"
    " 'k_float': 1.5, 'l_double': 0.1, 'm_bool': true, 'n_enum': 'urgent',"
    " 'o_string': 'h\xc3\xa9llo', 'p_bytes': 'AAEC/w==',"
    " 'q_message': {'seconds': 1700000000, 'nanos': 1},"
    " 'r_opt_int32': 0, 't_rep_bytes': ['', 'aGk='],"
    " 'u_rep_double': ['NaN', 'Infinity', '-Infinity', -0.5, 3.0],"
    " 'v_rep_sint64': [-1, 2, 0], 'w_opt_bytes': '', 'y_one_int32': 0}";

Test (pbjson, decodes_every_field_type)
{
    all_types_t *all =
        (all_types_t *)s_decode_ok (&s_all_types_descriptor, s_all_types_json);
    cr_assert_eq (all->a_int32, -5);
    cr_assert_eq (all->b_sint32, INT32_MIN);
    cr_assert_eq (all->c_sfixed32, INT32_MAX);
    cr_assert_eq (all->d_int64, -9007199254740993LL);
    cr_assert_eq (all->e_sint64, INT64_MIN);
    cr_assert_eq (all->f_sfixed64, INT64_MAX);
    cr_assert_eq (all->g_uint32, UINT32_MAX);
    cr_assert_eq (all->h_fixed32, 7);
    cr_assert_eq (all->i_uint64, UINT64_MAX);
    cr_assert_eq (all->j_fixed64, 12);
    cr_assert_eq (all->k_float, 1.5f);
    cr_assert_eq (all->l_double, 0.1);
    cr_assert (all->m_bool);
    cr_assert_eq (all->n_enum, KINNET__V1__URGENCY__URGENT);
    cr_assert_str_eq (all->o_string, "h\xc3\xa9llo");
    cr_assert_eq (all->p_bytes.len, 4);
    cr_assert_eq (memcmp (all->p_bytes.data, "\x00\x01\x02\xff", 4), 0);
    cr_assert_eq (all->q_message->seconds, 1700000000);
    cr_assert_eq (all->q_message->nanos, 1);
    cr_assert (all->has_r_opt_int32);
    cr_assert_eq (all->r_opt_int32, 0);
    cr_assert_null (all->s_opt_string);
    cr_assert_eq (all->n_t_rep_bytes, 2);
    cr_assert_eq (all->t_rep_bytes[0].len, 0);
    cr_assert_eq (all->t_rep_bytes[1].len, 2);
    cr_assert_eq (memcmp (all->t_rep_bytes[1].data, "hi", 2), 0);
    cr_assert_eq (all->n_u_rep_double, 5);
    cr_assert (isnan (all->u_rep_double[0]));
    cr_assert (isinf (all->u_rep_double[1]) && all->u_rep_double[1] > 0);
    cr_assert (isinf (all->u_rep_double[2]) && all->u_rep_double[2] < 0);
    cr_assert_eq (all->u_rep_double[3], -0.5);
    cr_assert_eq (all->u_rep_double[4], 3.0);
    cr_assert_eq (all->n_v_rep_sint64, 3);
    cr_assert_eq (all->v_rep_sint64[0], -1);
    cr_assert_eq (all->v_rep_sint64[1], 2);
    cr_assert_eq (all->v_rep_sint64[2], 0);
    cr_assert (all->has_w_opt_bytes);
    cr_assert_eq (all->w_opt_bytes.len, 0);
    cr_assert_eq (all->choice_case, 25);
    cr_assert_eq (all->y_one_int32, 0);
    protobuf_c_message_free_unpacked (&all->base, NULL);
}

Test (pbjson, every_field_type_round_trips_through_the_wire)
{
    s_assert_round_trip (&s_all_types_descriptor, s_all_types_json,
                         s_all_types_canonical);
}

Test (pbjson, optional_and_oneof_presence)
{
    //  Absent optionals stay absent; a present one is kept even when it is zero
    s_assert_round_trip (&s_all_types_descriptor, "{'s_opt_string': ''}", NULL);
    s_assert_round_trip (&s_all_types_descriptor, "{'r_opt_int32': 0}", NULL);
    s_assert_round_trip (&s_all_types_descriptor, "{}", NULL);
    //  A oneof member set to its zero value is still the member that is set
    s_assert_round_trip (&s_all_types_descriptor, "{'x_one_string': ''}", NULL);
    s_assert_round_trip (&s_all_types_descriptor, "{'z_one_bytes': 'aGk='}", NULL);
    s_assert_round_trip (&s_all_types_descriptor, "{'n_enum': 42}", NULL);
    s_expect_invalid (&s_all_types_descriptor, "{'x_one_string': 'a', 'y_one_int32': 1}",
                      "y_one_int32");
    s_expect_invalid (&s_all_types_descriptor,
                      "{'z_one_bytes': 'aGk=', 'x_one_string': 'a'}", "x_one_string");
}

Test (pbjson, number_and_bytes_errors)
{
    const ProtobufCMessageDescriptor *descriptor = &s_all_types_descriptor;
    s_expect_invalid (descriptor, "{'a_int32': 2147483648}", "a_int32");
    s_expect_invalid (descriptor, "{'a_int32': '5'}", "a_int32");
    s_expect_invalid (descriptor, "{'g_uint32': -1}", "g_uint32");
    s_expect_invalid (descriptor, "{'g_uint32': 4294967296}", "g_uint32");
    s_expect_invalid (descriptor, "{'d_int64': ' 5'}", "d_int64");
    s_expect_invalid (descriptor, "{'d_int64': '+5'}", "d_int64");
    s_expect_invalid (descriptor, "{'d_int64': ''}", "d_int64");
    s_expect_invalid (descriptor, "{'d_int64': '-'}", "d_int64");
    s_expect_invalid (descriptor, "{'d_int64': '1e3'}", "d_int64");
    s_expect_invalid (descriptor, "{'d_int64': '9223372036854775808'}", "d_int64");
    s_expect_invalid (descriptor, "{'d_int64': 1.0}", "d_int64");
    s_expect_invalid (descriptor, "{'i_uint64': '-1'}", "i_uint64");
    s_expect_invalid (descriptor, "{'i_uint64': -1}", "i_uint64");
    s_expect_invalid (descriptor, "{'i_uint64': '18446744073709551616'}", "i_uint64");
    s_expect_invalid (descriptor, "{'k_float': 1e39}", "k_float");
    s_expect_invalid (descriptor, "{'k_float': 'nan'}", "k_float");
    s_expect_invalid (descriptor, "{'l_double': true}", "l_double");
    s_expect_invalid (descriptor, "{'m_bool': 'true'}", "m_bool");
    s_expect_invalid (descriptor, "{'p_bytes': 'AAEC/w'}", "p_bytes");
    s_expect_invalid (descriptor, "{'p_bytes': 'not base64!'}", "p_bytes");
    s_expect_invalid (descriptor, "{'p_bytes': 12}", "p_bytes");
    s_expect_invalid (descriptor, "{'t_rep_bytes': ['aGk=', 'a-b_']}", "t_rep_bytes[1]");
    s_expect_invalid (descriptor, "{'u_rep_double': [1, 2, '3']}", "u_rep_double[2]");
    s_expect_invalid (descriptor, "{'q_message': {'seconds': 1, 'bogus': 2}}",
                      "q_message.bogus");
    s_expect_invalid (descriptor, "{'w_opt_bytes': null}", "w_opt_bytes");
}

Test (pbjson, encodes_a_message_built_in_c)
{
    uint8_t raw[] = {0xde, 0xad, 0xbe, 0xef};
    double doubles[] = {2.5, NAN};
    all_types_t all;
    s_all_types_init (&all.base);
    all.i_uint64 = 42;
    all.k_float = -INFINITY;
    all.o_string = ""; // zero: left out
    all.p_bytes = (ProtobufCBinaryData){0, NULL};
    all.n_enum = (Kinnet__V1__Urgency)77; // no name: a number
    all.has_r_opt_int32 = 0;              // not set, so its value does not matter
    all.r_opt_int32 = 9;
    all.has_w_opt_bytes = 1;
    all.w_opt_bytes = (ProtobufCBinaryData){sizeof raw, raw};
    all.n_u_rep_double = 2;
    all.u_rep_double = doubles;
    all.choice_case = 24;
    all.x_one_string = "picked";

    json_t *json = kn_pbjson_encode (&all.base);
    json_t *expected = s_json ("{'i_uint64': 42, 'k_float': '-Infinity', 'n_enum': 77,"
                               " 'w_opt_bytes': '3q2+7w==', 'u_rep_double': [2.5, 'NaN'],"
                               " 'x_one_string': 'picked'}");
    s_assert_json_eq (json, expected);
    json_t *tripped = s_wire_trip (&all.base);
    s_assert_json_eq (tripped, expected);
    json_decref (tripped);
    json_decref (expected);
    json_decref (json);
}
