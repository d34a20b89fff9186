/*  kn_language: language tags to the primary subtags Kinnet matches on. */
#include "kn_language.h"

#include <ctype.h>
#include <stdio.h>
#include <string.h>

//  ISO 639-1 codes with their ISO 639-2/T and, where different, 639-2/B codes
//  (from the iso-codes project's iso_639-2.json). BCP 47, and so the languages a
//  referral carries, use the two-letter code where there is one; an HSDS file may
//  give any of the three.
static const struct {
    char two[3], t[4], b[4];
} s_iso639[] = {
    {"aa", "aar", ""},    {"ab", "abk", ""},    {"ae", "ave", ""},
    {"af", "afr", ""},    {"ak", "aka", ""},    {"am", "amh", ""},
    {"an", "arg", ""},    {"ar", "ara", ""},    {"as", "asm", ""},
    {"av", "ava", ""},    {"ay", "aym", ""},    {"az", "aze", ""},
    {"ba", "bak", ""},    {"be", "bel", ""},    {"bg", "bul", ""},
    {"bh", "bih", ""},    {"bi", "bis", ""},    {"bm", "bam", ""},
    {"bn", "ben", ""},    {"bo", "bod", "tib"}, {"br", "bre", ""},
    {"bs", "bos", ""},    {"ca", "cat", ""},    {"ce", "che", ""},
    {"ch", "cha", ""},    {"co", "cos", ""},    {"cr", "cre", ""},
    {"cs", "ces", "cze"}, {"cu", "chu", ""},    {"cv", "chv", ""},
    {"cy", "cym", "wel"}, {"da", "dan", ""},    {"de", "deu", "ger"},
    {"dv", "div", ""},    {"dz", "dzo", ""},    {"ee", "ewe", ""},
    {"el", "ell", "gre"}, {"en", "eng", ""},    {"eo", "epo", ""},
    {"es", "spa", ""},    {"et", "est", ""},    {"eu", "eus", "baq"},
    {"fa", "fas", "per"}, {"ff", "ful", ""},    {"fi", "fin", ""},
    {"fj", "fij", ""},    {"fo", "fao", ""},    {"fr", "fra", "fre"},
    {"fy", "fry", ""},    {"ga", "gle", ""},    {"gd", "gla", ""},
    {"gl", "glg", ""},    {"gn", "grn", ""},    {"gu", "guj", ""},
    {"gv", "glv", ""},    {"ha", "hau", ""},    {"he", "heb", ""},
    {"hi", "hin", ""},    {"ho", "hmo", ""},    {"hr", "hrv", ""},
    {"ht", "hat", ""},    {"hu", "hun", ""},    {"hy", "hye", "arm"},
    {"hz", "her", ""},    {"ia", "ina", ""},    {"id", "ind", ""},
    {"ie", "ile", ""},    {"ig", "ibo", ""},    {"ii", "iii", ""},
    {"ik", "ipk", ""},    {"io", "ido", ""},    {"is", "isl", "ice"},
    {"it", "ita", ""},    {"iu", "iku", ""},    {"ja", "jpn", ""},
    {"jv", "jav", ""},    {"ka", "kat", "geo"}, {"kg", "kon", ""},
    {"ki", "kik", ""},    {"kj", "kua", ""},    {"kk", "kaz", ""},
    {"kl", "kal", ""},    {"km", "khm", ""},    {"kn", "kan", ""},
    {"ko", "kor", ""},    {"kr", "kau", ""},    {"ks", "kas", ""},
    {"ku", "kur", ""},    {"kv", "kom", ""},    {"kw", "cor", ""},
    {"ky", "kir", ""},    {"la", "lat", ""},    {"lb", "ltz", ""},
    {"lg", "lug", ""},    {"li", "lim", ""},    {"ln", "lin", ""},
    {"lo", "lao", ""},    {"lt", "lit", ""},    {"lu", "lub", ""},
    {"lv", "lav", ""},    {"mg", "mlg", ""},    {"mh", "mah", ""},
    {"mi", "mri", "mao"}, {"mk", "mkd", "mac"}, {"ml", "mal", ""},
    {"mn", "mon", ""},    {"mr", "mar", ""},    {"ms", "msa", "may"},
    {"mt", "mlt", ""},    {"my", "mya", "bur"}, {"na", "nau", ""},
    {"nb", "nob", ""},    {"nd", "nde", ""},    {"ne", "nep", ""},
    {"ng", "ndo", ""},    {"nl", "nld", "dut"}, {"nn", "nno", ""},
    {"no", "nor", ""},    {"nr", "nbl", ""},    {"nv", "nav", ""},
    {"ny", "nya", ""},    {"oc", "oci", ""},    {"oj", "oji", ""},
    {"om", "orm", ""},    {"or", "ori", ""},    {"os", "oss", ""},
    {"pa", "pan", ""},    {"pi", "pli", ""},    {"pl", "pol", ""},
    {"ps", "pus", ""},    {"pt", "por", ""},    {"qu", "que", ""},
    {"rm", "roh", ""},    {"rn", "run", ""},    {"ro", "ron", "rum"},
    {"ru", "rus", ""},    {"rw", "kin", ""},    {"sa", "san", ""},
    {"sc", "srd", ""},    {"sd", "snd", ""},    {"se", "sme", ""},
    {"sg", "sag", ""},    {"si", "sin", ""},    {"sk", "slk", "slo"},
    {"sl", "slv", ""},    {"sm", "smo", ""},    {"sn", "sna", ""},
    {"so", "som", ""},    {"sq", "sqi", "alb"}, {"sr", "srp", ""},
    {"ss", "ssw", ""},    {"st", "sot", ""},    {"su", "sun", ""},
    {"sv", "swe", ""},    {"sw", "swa", ""},    {"ta", "tam", ""},
    {"te", "tel", ""},    {"tg", "tgk", ""},    {"th", "tha", ""},
    {"ti", "tir", ""},    {"tk", "tuk", ""},    {"tl", "tgl", ""},
    {"tn", "tsn", ""},    {"to", "ton", ""},    {"tr", "tur", ""},
    {"ts", "tso", ""},    {"tt", "tat", ""},    {"tw", "twi", ""},
    {"ty", "tah", ""},    {"ug", "uig", ""},    {"uk", "ukr", ""},
    {"ur", "urd", ""},    {"uz", "uzb", ""},    {"ve", "ven", ""},
    {"vi", "vie", ""},    {"vo", "vol", ""},    {"wa", "wln", ""},
    {"wo", "wol", ""},    {"xh", "xho", ""},    {"yi", "yid", ""},
    {"yo", "yor", ""},    {"za", "zha", ""},    {"zh", "zho", "chi"},
    {"zu", "zul", ""},
};

int
kn_language_primary (const char *code, char subtag[9])
{
    if (!code)
        return -1;
    //  Primary subtag: 2 letters (639-1) or 3 (639-2/3). 4 is reserved and 5 to 8
    //  are registered subtags no language uses today.
    size_t len = strcspn (code, "-_");
    if (len < 2 || len > 3)
        return -1;
    char primary[4] = "";
    for (size_t i = 0; i < len; i++) {
        if (!isalpha ((unsigned char)code[i]))
            return -1;
        primary[i] = (char)tolower ((unsigned char)code[i]);
    }
    //  The rest of a BCP 47 tag (region, script, ...) is dropped but must be well
    //  formed, so that "en-" or "en--GB" is not taken for English.
    for (const char *rest = code + len; *rest;) {
        rest++;
        size_t part = 0;
        while (isalnum ((unsigned char)rest[part]))
            part++;
        if (part < 1 || part > 8 ||
            (rest[part] && rest[part] != '-' && rest[part] != '_'))
            return -1;
        rest += part;
    }
    size_t count = sizeof s_iso639 / sizeof s_iso639[0];
    for (size_t i = 0; i < count; i++) {
        if (len == 2 ? strcmp (primary, s_iso639[i].two) == 0
                     : strcmp (primary, s_iso639[i].t) == 0 ||
                           strcmp (primary, s_iso639[i].b) == 0) {
            memcpy (subtag, s_iso639[i].two, sizeof s_iso639[i].two); //  with its NUL
            return 0;
        }
    }
    if (len == 2)
        return -1;
    //  Three letters without a two-letter equivalent (ISO 639-3 "prs", "ckb", ...)
    //  are taken as they are, except the codes that name no language: undetermined,
    //  multiple, uncoded, no linguistic content, and the local-use range qaa-qtz.
    static const char *none[] = {"und", "mul", "mis", "zxx"};
    for (size_t i = 0; i < sizeof none / sizeof none[0]; i++)
        if (strcmp (primary, none[i]) == 0)
            return -1;
    if (primary[0] == 'q' && primary[1] >= 'a' && primary[1] <= 't')
        return -1;
    snprintf (subtag, 9, "%s", primary);
    return 0;
}
