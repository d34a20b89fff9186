# Sourced by ops/bench and ops/bench-floor: where the two cores went during a run,
# from /proc (clock ticks of user and system time). A mark is taken before and
# after; cpu_cores turns the difference into cores used on average.
#   cpu_machine               ticks the whole machine was busy (every core)
#   cpu_ticks PID...          ticks those processes used (0 for one that is gone)
#   cpu_postgres DATA_DIR     ticks of the server in DATA_DIR: its postmaster and
#                             every process it started (backends, WAL writer,
#                             checkpointer, autovacuum), those that ended too
#   cpu_cores TICKS SECONDS   TICKS as cores used over SECONDS (two decimals)
cpu_hz=$(getconf CLK_TCK)

cpu_machine() {
  awk '/^cpu / { print $2 + $3 + $4 + $7 + $8 + $9; exit }' /proc/stat
}

cpu_ticks() {
  local total=0 pid t
  for pid in "$@"; do
    # Fields after the command name, which is in parentheses and may hold spaces:
    # utime and stime are the 12th and 13th of them.
    t=$(sed 's/^.*) //' "/proc/$pid/stat" 2>/dev/null | awk '{ print $12 + $13 }') || t=0
    total=$((total + ${t:-0}))
  done
  echo "$total"
}

cpu_postgres() {
  local postmaster own ended _
  postmaster=$(head -1 "$1/postmaster.pid" 2>/dev/null) || { echo 0; return; }
  # A backend that has exited but is not reaped yet (a zombie) has its times in
  # neither place: await the postmaster's reaping (it is prompt; 2 s at most).
  for _ in $(seq 1 100); do
    # shellcheck disable=SC2046
    cpu_zombies $(pgrep -P "$postmaster") || break
    sleep 0.02
  done
  # The children that ended (backends of sessions closed since) count in the
  # postmaster's cutime and cstime, the 14th and 15th fields after its name.
  ended=$(sed 's/^.*) //' "/proc/$postmaster/stat" 2>/dev/null | awk '{ print $14 + $15 }')
  # shellcheck disable=SC2046
  own=$(cpu_ticks "$postmaster" $(pgrep -P "$postmaster"))
  echo $((own + ${ended:-0}))
}

cpu_zombies() {   # PID...: true when one of them is a zombie
  local pid
  for pid in "$@"; do
    [ "$(sed 's/^.*) //' "/proc/$pid/stat" 2>/dev/null | cut -d' ' -f1)" = Z ] && return 0
  done
  return 1
}

cpu_cores() {
  awk -v t="$1" -v s="$2" -v hz="$cpu_hz" 'BEGIN { printf "%.2f", (s > 0 ? t / hz / s : 0) }'
}
