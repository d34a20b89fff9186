# Sourced by ops/backup and ops/restore: which database they work on, and how to run
# PostgreSQL's own tools against it.
#   embedded (default): the ops/up server in .kinnet/pg, as its superuser
#   --compose [PROJECT]: the compose stack's database (PROJECT default
#                        $KINNET_COMPOSE_PROJECT or "kinnet"; the files
#                        $KINNET_COMPOSE_FILE, several separated by ':', or
#                        docker/compose.yaml); the tools run inside its postgres
#                        container, or, in the high-availability stack
#                        (docker/compose.ha.yaml), inside whichever PostgreSQL
#                        node is the primary now
# After dbtarget_parse: $target is embedded|compose, and pg_tool TOOL ARGS... runs a
# PostgreSQL client tool (stdin and stdout pass through) as the cluster's superuser.

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
target=embedded
project=${KINNET_COMPOSE_PROJECT:-kinnet}
args=()

dbtarget_parse() {
  while [ $# -gt 0 ]; do
    case "$1" in
      --compose)
        target=compose
        if [ $# -gt 1 ] && [[ "$2" != -* ]] && [[ "$2" != *.tar ]]; then project=$2; shift; fi ;;
      *) args+=("$1") ;;
    esac
    shift
  done
}

dc() {
  local files=() f
  IFS=: read -r -a files <<<"${KINNET_COMPOSE_FILE:-$root/docker/compose.yaml}"
  docker-compose -p "$project" $(for f in "${files[@]}"; do printf -- '-f %s ' "$f"; done) "$@"
}

# The compose service of the primary: "postgres" alone, or among postgres, postgres2,
# ... (Patroni nodes) the running one that is not in recovery.
primary_service() {
  local s
  for s in $(dc ps --services </dev/null 2>/dev/null | grep -E '^postgres[0-9]*$' | sort); do
    # </dev/null: the caller's standard input (a dump being restored) is not ours.
    [ "$(dc exec -T "$s" psql -h /run/postgresql -qtAX -d postgres \
           -c "SELECT pg_is_in_recovery ()" </dev/null 2>/dev/null)" = f ] && { echo "$s"; return 0; }
  done
  echo "no PostgreSQL primary in compose project $project" >&2
  return 1
}

pg_tool() {
  if [ "$target" = compose ]; then
    local primary
    primary=$(primary_service) || return 1
    dc exec -T "$primary" "$@"
  else
    local dir="$root/.kinnet/pg"
    [ -f "$dir/port" ] || { echo "no embedded database in .kinnet/pg (run ops/up first)" >&2; return 1; }
    # A cluster ops/up runs asks every login for a password (ops/pg, scram): the
    # superuser's is in pg/pgpass.
    local passfile=()
    [ -f "$dir/pgpass" ] && passfile=(PGPASSFILE="$dir/pgpass")
    env PGHOST="$dir" PGPORT="$(cat "$dir/port")" PGUSER=postgres "${passfile[@]}" "$@"
  fi
}

# The stack's daemons, which must not write while a restore runs.
kinnet_services=(records broker intake consent routing reporting sealer admin)
