/*  kn_mdp: the broker's public key from a setting, whether it holds the key or the
    path of the broker's certificate. */
#include <criterion/criterion.h>
#include <czmq.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "kn_mdp.h"

Test (mdp, server_key_from_a_key_or_a_certificate)
{
    zcert_t *cert = zcert_new ();
    char out[41];
    cr_assert_eq (kn_mdp_server_key (zcert_public_txt (cert), out), 0);
    cr_assert_str_eq (out, zcert_public_txt (cert));

    //  A certificate whose path is 40 characters of the Z85 alphabet: it decodes as
    //  a key, but it is a file, and the file is what was meant.
    char dir[] = "/tmp/kn-mdp-XXXXXX";
    cr_assert (mkdtemp (dir));
    char path[64];
    snprintf (path, sizeof path, "%s/broker-certificate.pk", dir);
    uint8_t raw[32];
    cr_assert_eq (strlen (path), 40);
    cr_assert (zmq_z85_decode (raw, path), "the path should look like a key");
    cr_assert_eq (zcert_save_public (cert, path), 0);
    cr_assert_eq (kn_mdp_server_key (path, out), 0);
    cr_assert_str_eq (out, zcert_public_txt (cert), "the path was taken for the key");
    unlink (path);
    rmdir (dir);

    cr_assert_eq (kn_mdp_server_key ("/nonexistent/broker.cert", out), -1);
    cr_assert_str_eq (out, "");
    zcert_destroy (&cert);
}
