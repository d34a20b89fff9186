/*  kn_directory: the agency directory (stub; being written). */
#ifndef KN_DIRECTORY_H_INCLUDED
#define KN_DIRECTORY_H_INCLUDED
#endif
