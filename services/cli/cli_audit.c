/*  kinnet audit verify | seal | export: the tamper-evident audit trail. verify and
    seal work on the database (KINNET_DATABASE_URL): an auditor's check that does not
    trust the services, an operator's seal. export goes through the broker to the
    admin service, as an agency that holds the auditor role. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>
#include <sodium.h>

#include "cli.h"
#include "kn_audit_chain.h"
#include "kn_config.h"

static const char *s_usage =
    "usage: kinnet audit verify --public-key KEY [--public-key KEY ...] [--anchor FILE]\n"
    "       kinnet audit signers\n"
    "       kinnet audit seal [--key FILE]\n"
    "       kinnet audit export --from YYYY-MM-DD --to YYYY-MM-DD [--format csv|json]\n"
    "                           [--out FILE]\n"
    "verify recomputes the audit trail's and the disclosure log's hash chains and the\n"
    "signed, chained checkpoints, and names the first place where they were changed,\n"
    "deleted, reordered, inserted into or truncated; exit 0 when intact, 7 when not.\n"
    "The checkpoint signers' public keys (--public-key, or KINNET_AUDIT_PUBLIC_KEY:\n"
    "keys separated by commas) are required, held apart from the database: without\n"
    "one verify refuses (exit 2). A KEY is HEX (64 hex characters), HEX@FROM..UNTIL\n"
    "(trusted only for checkpoints signed from FROM, before UNTIL; RFC 3339 UTC times\n"
    "such as 2026-12-03T12:00:00Z, either end may be left out), or a key file holding\n"
    "such lines (FILE, or FILE@FROM..UNTIL for keys without a period of their own).\n"
    "--anchor FILE: the last checkpoint verified is kept\n"
    "in FILE (created on the first run, moved forward on every intact one); the next\n"
    "run finds a cut tail or a rewritten history below it.\n"
    "What retention pruned (core.audit_prune) is shown: each chain's start and the\n"
    "newest prunes, each with its checkpoint's signing time, the moment it claimed\n"
    "and when it ran; a prune where no checkpoint signs the position is a break.\n"
    "signers lists each key that signed checkpoints, with its first and last\n"
    "checkpoint and their signing times: what a key rotation's periods are written from.\n"
    "seal links what is not chained yet (the reporting daemon does this all the\n"
    "time) and, with the signing key (--key, or KINNET_AUDIT_KEY; mode 0600), signs\n"
    "a checkpoint.\n"
    "export writes the sealed trail of a period (to excluded) in chain order with\n"
    "each record's chain position and link, as CSV (RFC 4180) or JSON, and warns of\n"
    "records not sealed yet. --out FILE creates a new file, mode 0600: an existing\n"
    "name or a symbolic link is refused (exit 3). verify and seal use\n"
    "KINNET_DATABASE_URL; export goes through the broker to the admin service as an\n"
    "agency with the auditor role (KINNET_CERT).\n";

//  What retention pruned, as JSON: where each chain starts and the newest prunes.
static json_t *
s_prunes_json (const kn_audit_verdict_t *verdict)
{
    json_t *shown = json_array ();
    for (size_t i = 0; i < verdict->n_shown; i++) {
        const kn_audit_prune_t *p = &verdict->shown[i];
        char signed_at[32], moment[32], at[32];
        kn_audit_time_text (p->signed_at, signed_at, sizeof signed_at);
        kn_audit_time_text (p->moment, moment, sizeof moment);
        kn_audit_time_text (p->at, at, sizeof at);
        json_array_append_new (
            shown, json_pack ("{s:s,s:I,s:I,s:I,s:s,s:s,s:s}", "chain",
                              p->disclosures ? "disclosure" : "audit", "checkpoint",
                              (json_int_t)p->checkpoint, "seq", (json_int_t)p->seq,
                              "removed", (json_int_t)p->removed, "checkpoint_signed_at",
                              signed_at, "moment", moment, "at", at));
    }
    return json_pack ("{s:I,s:I,s:I,s:I,s:o}", "audit_start",
                      (json_int_t)verdict->audit_start, "disclosure_start",
                      (json_int_t)verdict->disclosure_start, "prunes",
                      (json_int_t)verdict->prunes, "prunes_ahead",
                      (json_int_t)verdict->prunes_ahead, "newest", shown);
}

//  What retention pruned, for people: each chain's start and the newest prunes,
//  with the moment each claimed beside its checkpoint's signing time and its run.
static void
s_print_prunes (const kn_audit_verdict_t *verdict)
{
    if (verdict->prunes == 0)
        return;
    char audit[48] = "none", disclosures[48] = "none";
    if (verdict->audit_start)
        snprintf (audit, sizeof audit, "entries 1..%lld", (long long)verdict->audit_start);
    if (verdict->disclosure_start)
        snprintf (disclosures, sizeof disclosures, "entries 1..%lld",
                  (long long)verdict->disclosure_start);
    printf ("pruned by retention: audit chain %s, disclosure chain %s, in %lld prune(s)%s:\n",
            audit, disclosures, (long long)verdict->prunes,
            verdict->prunes > (int64_t)verdict->n_shown ? ", the newest" : "");
    for (size_t i = 0; i < verdict->n_shown; i++) {
        const kn_audit_prune_t *p = &verdict->shown[i];
        char signed_at[32], moment[32], at[32];
        kn_audit_time_text (p->signed_at, signed_at, sizeof signed_at);
        kn_audit_time_text (p->moment, moment, sizeof moment);
        kn_audit_time_text (p->at, at, sizeof at);
        printf ("  %s chain up to %lld (%lld removed) at checkpoint %lld signed %s;"
                " moment claimed %s, run at %s\n",
                p->disclosures ? "disclosure" : "audit", (long long)p->seq,
                (long long)p->removed, (long long)p->checkpoint, signed_at, moment, at);
    }
    if (verdict->prunes_ahead)
        printf ("%lld prune(s) claimed a moment over a day after they ran: check that "
                "they were due\n",
                (long long)verdict->prunes_ahead);
}

//  The verdict, for people or as JSON; anchor_note: what happened to the anchor.
static void
s_print_verdict (const cli_options_t *options, const kn_audit_verdict_t *verdict,
                 const char *anchor_note)
{
    if (options->json) {
        json_t *out = json_pack (
            "{s:b,s:b,s:I,s:I,s:I,s:I,s:I,s:I,s:I,s:I,s:I,s:s,s:s}", "intact",
            verdict->intact, "signer_trusted", verdict->signer_trusted, "records",
            (json_int_t)verdict->records, "disclosures", (json_int_t)verdict->disclosures,
            "checkpoints", (json_int_t)verdict->checkpoints, "last_checkpoint",
            (json_int_t)verdict->last_checkpoint, "head_seq",
            (json_int_t)verdict->head_seq, "unsealed", (json_int_t)verdict->unsealed,
            "disclosures_unsealed", (json_int_t)verdict->disclosures_unsealed,
            "broken_seq", (json_int_t)verdict->broken_seq, "broken_audit_id",
            (json_int_t)verdict->broken_audit_id, "problem", verdict->problem, "anchor",
            anchor_note);
        json_object_set_new (out, "pruned", s_prunes_json (verdict));
        json_dumpf (out, stdout, JSON_INDENT (2));
        printf ("\n");
        json_decref (out);
    } else if (verdict->intact)
        printf (
            "audit trail intact: %lld records and %lld disclosures chained, %lld "
            "checkpoint(s) (the last seals %lld), %lld record(s) and %lld disclosure(s) "
            "not sealed yet\n%s\n%s\n",
            (long long)verdict->records, (long long)verdict->disclosures,
            (long long)verdict->checkpoints, (long long)verdict->last_checkpoint,
            (long long)verdict->unsealed, (long long)verdict->disclosures_unsealed,
            verdict->checkpoints == 0 ? "no checkpoint has been signed yet"
                                      : "checkpoints are signed by a trusted key",
            anchor_note);
    else if (verdict->broken_seq)
        printf ("AUDIT TRAIL BROKEN at chain entry %lld%s: %s\n",
                (long long)verdict->broken_seq,
                verdict->broken_audit_id ? " (see the record named)" : "",
                verdict->problem);
    else
        printf ("AUDIT TRAIL BROKEN: %s\n", verdict->problem);
    if (!options->json)
        s_print_prunes (verdict);
}

static int
s_verify (const cli_options_t *options, int argc, char **argv)
{
    static const char *const valued[] = {"--public-key", "--anchor", NULL};
    if (!cli_options_ok (argc, argv, valued, NULL, s_usage))
        return CLI_USAGE;
    if (cli_positional (argc, argv, valued, 2)) {
        fputs (s_usage, stderr);
        return CLI_USAGE;
    }
    kn_audit_trusted_t trusted[KN_AUDIT_TRUST_MAX];
    size_t n = 0;
    kn_error_t err;
    kn_error_clear (&err);
    //  A malformed key or period is refused before anything is checked.
    for (int i = 1; i + 1 < argc; i++)
        if (strcmp (argv[i], "--public-key") == 0 &&
            kn_audit_trust_add (argv[++i], trusted, KN_AUDIT_TRUST_MAX, &n, &err))
            return cli_fail (options, &err);
    const char *env_keys = kn_config_str ("KINNET_AUDIT_PUBLIC_KEY", NULL);
    if (n == 0 && env_keys &&
        kn_audit_trust_parse (env_keys, trusted, KN_AUDIT_TRUST_MAX, &n, &err))
        return cli_fail (options, &err);
    //  A trail checked against keys it holds itself proves nothing: no key, no verdict.
    if (n == 0) {
        kn_error_set (
            &err, KN_E_INVALID_ARGUMENT, "public_key",
            "no trusted public key: give the checkpoint signer's public key "
            "(--public-key HEX|FILE or KINNET_AUDIT_PUBLIC_KEY), held apart from "
            "the database");
        cli_fail (options, &err);
        return CLI_USAGE;
    }
    const char *anchor_path = cli_arg (argc, argv, "--anchor");
    kn_audit_anchor_t anchor;
    bool anchored = false;
    if (anchor_path && kn_audit_anchor_read (anchor_path, &anchor, &anchored, &err))
        return cli_fail (options, &err);
    kn_db_t *db = cli_admin_db (&err);
    kn_audit_verdict_t verdict;
    int rc =
        db && kn_audit_chain_prepare (db, &err) == 0 &&
                kn_audit_chain_verify (db, trusted, n, anchored ? &anchor : NULL, &verdict, &err) == 0
            ? 0
            : -1;
    kn_db_destroy (&db);
    if (rc)
        return cli_fail (options, &err);
    //  Only an intact trail moves the anchor forward.
    char note[200] =
        "no anchor given: a tail cut below the last checkpoint would not show";
    if (anchor_path && verdict.intact && verdict.has_anchor) {
        if (kn_audit_anchor_write (anchor_path, &verdict.anchor, &err))
            return cli_fail (options, &err);
        snprintf (note, sizeof note,
                  "anchor %s %s: checkpoint %lld (%lld records, %lld "
                  "disclosures)",
                  anchor_path, anchored ? "moved to" : "created at",
                  (long long)verdict.anchor.number, (long long)verdict.anchor.seq,
                  (long long)verdict.anchor.disclosure_seq);
    } else if (anchor_path)
        snprintf (note, sizeof note, "anchor %s %s", anchor_path,
                  !verdict.intact ? "left as it was"
                                  : "not written yet: no checkpoint has been signed");
    s_print_verdict (options, &verdict, note);
    return verdict.intact ? CLI_OK : CLI_TAMPERED;
}

//  Each key that signed checkpoints, and the trust list that covers exactly their
//  signing times: the first key open at its start, the last open at its end, each
//  other closed one second after its last checkpoint. In JSON too.
static int
s_signers (const cli_options_t *options, int argc, char **argv)
{
    if (!cli_options_ok (argc, argv, NULL, NULL, s_usage))
        return CLI_USAGE;
    if (cli_positional (argc, argv, NULL, 2)) {
        fputs (s_usage, stderr);
        return CLI_USAGE;
    }
    kn_error_t err;
    kn_error_clear (&err);
    kn_audit_signer_use_t signers[KN_AUDIT_TRUST_MAX];
    size_t n = 0;
    kn_db_t *db = cli_admin_db (&err);
    int rc = db && kn_audit_chain_prepare (db, &err) == 0 &&
                     kn_audit_chain_signers (db, signers, KN_AUDIT_TRUST_MAX, &n, &err) == 0
                 ? 0
                 : -1;
    kn_db_destroy (&db);
    if (rc)
        return cli_fail (options, &err);
    json_t *list = json_array ();
    char trust[KN_AUDIT_TRUST_MAX * 120] = "";
    for (size_t k = 0; k < n; k++) {
        const kn_audit_signer_use_t *use = &signers[k];
        kn_audit_trusted_t period = {.from = k ? use->first_signed_at : KN_AUDIT_OPEN_FROM,
                                     .until = k + 1 < n ? use->last_signed_at + 1
                                                        : KN_AUDIT_OPEN_UNTIL};
        char key[2 * KN_AUDIT_KEY_BYTES + 1], first[32], last[32], text[64];
        sodium_bin2hex (key, sizeof key, use->public_key, KN_AUDIT_KEY_BYTES);
        kn_audit_time_text (use->first_signed_at, first, sizeof first);
        kn_audit_time_text (use->last_signed_at, last, sizeof last);
        kn_audit_period_text (&period, text, sizeof text);
        size_t len = strlen (trust);
        snprintf (trust + len, sizeof trust - len, "%s%s%s%s", k ? "," : "", key,
                  strcmp (text, "..") ? "@" : "", strcmp (text, "..") ? text : "");
        json_array_append_new (
            list, json_pack ("{s:s,s:I,s:I,s:s,s:I,s:s}", "public_key", key,
                             "checkpoints", (json_int_t)use->checkpoints, "first_checkpoint",
                             (json_int_t)use->first_number, "first_signed_at", first,
                             "last_checkpoint", (json_int_t)use->last_number,
                             "last_signed_at", last));
        if (!options->json)
            printf ("%s  %lld checkpoint(s): %lld at %s .. %lld at %s\n", key,
                    (long long)use->checkpoints, (long long)use->first_number, first,
                    (long long)use->last_number, last);
    }
    if (options->json) {
        json_t *out = json_pack ("{s:o,s:s}", "signers", list, "trusted_keys", trust);
        json_dumpf (out, stdout, JSON_INDENT (2));
        printf ("\n");
        json_decref (out);
    } else {
        json_decref (list);
        printf (n ? "trusted keys covering these, for KINNET_AUDIT_TRUSTED_KEYS:\n%s\n"
                  : "no checkpoint has been signed yet%s\n",
                trust);
    }
    return CLI_OK;
}

static int
s_seal (const cli_options_t *options, int argc, char **argv)
{
    static const char *const valued[] = {"--key", NULL};
    if (!cli_command_ok (argc, argv, valued, NULL, 2, 0, 0, s_usage))
        return CLI_USAGE;
    kn_error_t err;
    kn_error_clear (&err);
    const char *key_path = cli_arg (argc, argv, "--key");
    if (!key_path)
        key_path = kn_config_str ("KINNET_AUDIT_KEY", NULL);
    kn_audit_signer_t signer;
    if (key_path && kn_audit_signer_load (key_path, &signer, &err))
        return cli_fail (options, &err);
    kn_db_t *db = cli_admin_db (&err);
    int total = 0, sealed = 0;
    bool made = false;
    int rc = db ? kn_audit_chain_prepare (db, &err) : -1;
    do
        rc = rc ?: kn_audit_chain_seal (db, 5000, &sealed, &err);
    while (rc == 0 && (total += sealed, sealed == 5000));
    if (rc == 0 && key_path)
        rc = kn_audit_chain_checkpoint (db, &signer, &made, &err);
    kn_db_destroy (&db);
    if (rc)
        return cli_fail (options, &err);
    if (options->json)
        printf ("{\"sealed\": %d, \"checkpoint\": %s}\n", total, made ? "true" : "false");
    else
        printf ("%d record(s) sealed%s\n", total, made ? "; checkpoint signed" : "");
    return CLI_OK;
}

//  One record's columns, in the order of s_columns.
static void
s_columns_of (const Kinnet__V1__AuditRecord *record, char id[24], char seq[24],
              const char *values[13])
{
    snprintf (id, 24, "%lld", (long long) record->audit_id);
    //  0: not sealed yet, an empty field as it has always been.
    if (record->chain_seq)
        snprintf (seq, 24, "%lld", (long long) record->chain_seq);
    else
        seq[0] = '\0';
    const char *columns[13] = {id,
                               record->at,
                               record->agency_id,
                               record->caseworker_id,
                               record->role,
                               record->service,
                               record->operation,
                               record->subject_ref,
                               record->object_id,
                               record->basis,
                               record->result,
                               seq,
                               record->chain_link};
    for (int c = 0; c < 13; c++)
        values[c] = columns[c] ? columns[c] : "";
}

static int
s_export (const cli_options_t *options, int argc, char **argv)
{
    static const char *const valued[] = {"--from", "--to", "--out", NULL};
    const char *from = cli_arg (argc, argv, "--from");
    const char *to = cli_arg (argc, argv, "--to");
    const char *format = cli_arg (argc, argv, "--format");
    const char *path = cli_arg (argc, argv, "--out");
    bool json = options->json || (format && strcmp (format, "json") == 0);
    if (!cli_options_ok (argc, argv, valued, NULL, s_usage))
        return CLI_USAGE;
    if (!from || !to || (format && strcmp (format, "json") && strcmp (format, "csv"))
        || cli_positional (argc, argv, valued, 2)) {
        fputs (s_usage, stderr);
        return CLI_USAGE;
    }
    kn_error_t err;
    kn_error_clear (&err);
    //  The file before the request, as for the other exports (cli_out.c): a taken
    //  name or a symbolic link is refused before the trail is read; a refused or
    //  failed export removes the file, so no empty or partial one is left.
    FILE *out = stdout;
    if (path && !(out = cli_out_create (path, &err)))
        return cli_fail (options, &err);
    Kinnet__V1__ExportAudit op = KINNET__V1__EXPORT_AUDIT__INIT;
    op.from = (char *) from;
    op.to = (char *) to;
    Kinnet__V1__AdminRequest request = KINNET__V1__ADMIN_REQUEST__INIT;
    request.op_case = KINNET__V1__ADMIN_REQUEST__OP_EXPORT_AUDIT;
    request.export_audit = &op;
    Kinnet__V1__AdminReply *reply
        = cli_admin_call (options, &request, KINNET__V1__ADMIN_REPLY__RESULT_AUDIT, &err);
    if (!reply) {
        if (path)
            cli_out_abandon (&out, path);
        return cli_fail (options, &err);
    }
    static const char *names[] = {"audit_id", "at",        "agency_id",  "caseworker_id",
                                  "role",     "service",   "operation",  "subject_ref",
                                  "object_id", "basis",    "result",     "chain_seq",
                                  "chain_link"};
    int columns = (int) (sizeof names / sizeof names[0]);
    json_t *array = json ? json_array () : NULL;
    if (!json)
        for (int c = 0; c < columns; c++)
            cli_csv_field (out, names[c], c == columns - 1);
    long long written = 0, unsealed = 0;
    while (reply) {
        for (size_t r = 0; r < reply->audit->n_records; r++) {
            char id[24], seq[24];
            const char *values[13];
            s_columns_of (reply->audit->records[r], id, seq, values);
            json_t *record = json ? json_object () : NULL;
            for (int c = 0; c < columns; c++)
                if (json)
                    json_object_set_new (record, names[c], json_string (values[c]));
                else
                    cli_csv_field (out, values[c], c == columns - 1);
            if (json)
                json_array_append_new (array, record);
            written++;
        }
        op.after = reply->audit->next_after;
        unsealed = reply->audit->unsealed;   //  the last page's is the one that counts
        kinnet__v1__admin_reply__free_unpacked (reply, NULL);
        reply = op.after ? cli_admin_call (options, &request,
                                           KINNET__V1__ADMIN_REPLY__RESULT_AUDIT, &err)
                         : NULL;
        if (!reply && op.after)
            break;   //  a later page failed: err says why
    }
    if (err.code == KN_OK && json) {
        json_t *document = json_pack ("{s:s,s:s,s:O}", "from", from, "to", to, "records", array);
        json_dumpf (document, out, JSON_INDENT (2));
        fputc ('\n', out);
        json_decref (document);
    }
    json_decref (array);
    if (path && err.code != KN_OK)
        cli_out_abandon (&out, path);
    else if (path && cli_out_close (&out, path, &err) == 0)
        fprintf (stderr, "%lld record(s) written to %s\n", written, path);
    int rc = err.code == KN_OK ? CLI_OK : cli_fail (options, &err);
    //  Only sealed records are exported; the newest wait seconds for the sealer.
    if (rc == CLI_OK && unsealed > 0)
        fprintf (stderr,
                 "%lld record(s) of the period are not sealed yet; export again in a "
                 "moment\n",
                 unsealed);
    return rc;
}

int
cli_audit (const cli_options_t *options, int argc, char **argv)
{
    const char *action = argc > 1 ? argv[1] : "";
    if (cli_flag (argc, argv, "--help")) {
        fputs (s_usage, stdout);
        return CLI_OK;
    }
    if (strcmp (action, "verify") == 0)
        return s_verify (options, argc, argv);
    if (strcmp (action, "signers") == 0)
        return s_signers (options, argc, argv);
    if (strcmp (action, "seal") == 0)
        return s_seal (options, argc, argv);
    if (strcmp (action, "export") == 0)
        return s_export (options, argc, argv);
    fputs (s_usage, stderr);
    return CLI_USAGE;
}
