/*  kn_language: the one way Kinnet reads a language tag. A referral's languages, a
    directory entry's and a consent notice's are reduced to the same primary subtag
    before they are stored or compared, so "ara", "ar" and "ar-SY" are all Arabic
    and an Arabic-speaking agency matches each of them. */
#ifndef KN_LANGUAGE_H_INCLUDED
#define KN_LANGUAGE_H_INCLUDED

//  The primary language subtag of code (ISO 639-1, 639-2/T, 639-2/B, 639-3, or a
//  BCP 47 tag such as "pt-BR"): lower case, the two-letter code where ISO 639-1 has
//  one ("ara" -> "ar"). -1 when code is not a language (unknown two-letter code,
//  "und", "mul", "zxx", local-use codes, a malformed tag).
int kn_language_primary (const char *code, char subtag[9]);

#endif
