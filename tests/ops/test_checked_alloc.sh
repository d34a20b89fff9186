#!/usr/bin/env bash
# The files swept for unchecked allocations call malloc, calloc, realloc, strdup and
# strndup only through kn_alloc (kn_malloc ..., which stop with a message instead of
# handing back NULL), so a new raw call there is caught here, not by a crash at an
# address the allocation size chooses. Add a file once it is swept.
# Usage: test_checked_alloc.sh SOURCE_DIR
set -euo pipefail
src=${1:?usage: $0 SOURCE_DIR}
swept=(
  services/lib/kn_idempotency.c
  services/lib/kn_pgarray.c
  services/lib/kn_audit_chain.c
  services/lib/kn_audit_verify.c
  services/reporting/reporting_server.c
  services/reporting/reporting_replica.c
)
failures=0
for file in "${swept[@]}"; do
  [ -f "$src/$file" ] || { echo "FAIL - $file is missing"; failures=$((failures + 1)); continue; }
  # A call, not kn_malloc / zframe_strdup / a word in a comment after //.
  if hits=$(sed 's|//.*||' "$src/$file" | grep -nE '(^|[^A-Za-z0-9_])(malloc|calloc|realloc|strdup|strndup) \('); then
    echo "FAIL - $file allocates without kn_alloc:"; echo "$hits"
    failures=$((failures + 1))
  else
    echo "ok - $file"
  fi
done
exit $((failures > 0))
