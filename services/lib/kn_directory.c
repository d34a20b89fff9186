/*  kn_directory: stub; being written. */
#include "kn_directory.h"
