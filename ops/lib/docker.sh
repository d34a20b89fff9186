# Sourced by ops/docker-test and ops/ha-test: a Docker engine and the one base image
# the stack's images build on, from nothing but Debian's packages. The caller
# defines fail MESSAGE and skip_or_fail MESSAGE, and $work (a scratch directory);
# after docker_engine_up, $started_dockerd is 1 when it started dockerd (and
# docker_engine_down stops it again), and after docker_base_image $built_base is 1
# when it built debian:bookworm-slim (for the caller to remove at the end).
started_dockerd=0
built_base=0

# apt-source-uri:begin (tests/ops/test_apt_source_uri.sh runs this function alone)
# The URI of the first enabled "deb" source for suite in this machine's apt
# sources (one-line /etc/apt/sources.list and sources.list.d/*.list, then deb822
# sources.list.d/*.sources); nothing when there is none. root: a directory to read
# instead of / (for the test).
apt_source_uri() {   # suite [root]
  local suite=$1 root=${2:-} f
  {
    for f in "$root"/etc/apt/sources.list "$root"/etc/apt/sources.list.d/*.list; do
      [ -f "$f" ] || continue
      sed -e 's/#.*//' "$f" | awk -v s="$suite" '
        $1 == "deb" {
          i = 2
          if ($2 ~ /^\[/) { while (i <= NF && $i !~ /\]$/) i++; i++ }   # [options]
          if ($(i + 1) == s) print $i
        }'
    done
    for f in "$root"/etc/apt/sources.list.d/*.sources; do
      [ -f "$f" ] || continue
      awk -v s="$suite" '
        function flush() { if (deb && on && hit && uri != "") print uri; deb = 0; on = 1; hit = 0; uri = "" }
        BEGIN { on = 1 }
        /^[ \t]*#/ { next }
        /^[ \t]*$/ { flush(); next }
        { key = tolower($1) }
        key == "types:" { for (i = 2; i <= NF; i++) if ($i == "deb") deb = 1 }
        key == "uris:" { uri = $2 }
        key == "suites:" { for (i = 2; i <= NF; i++) if ($i == s) hit = 1 }
        key == "enabled:" { on = (tolower($2) != "no") }
        END { flush() }' "$f"
    done
  } | awk 'NR == 1'   # reads everything: no SIGPIPE for the writers under pipefail
}
# apt-source-uri:end

# docker.io, docker-compose and debootstrap when missing; dockerd when not running.
docker_engine_up() {
  missing=()
  for p in docker.io docker-compose debootstrap; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
  done
  if [ ${#missing[@]} -gt 0 ]; then
    echo "installing ${missing[*]}"
    { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq \
        --no-install-recommends "${missing[@]}" >/dev/null; } || skip_or_fail "cannot install ${missing[*]}"
  fi
  if ! docker info >/dev/null 2>&1; then
    dockerd >"$work/dockerd.log" 2>&1 &
    echo $! >"$work/dockerd.pid"
    started_dockerd=1
    for _ in $(seq 1 120); do docker info >/dev/null 2>&1 && break; sleep 0.5; done
    docker info >/dev/null 2>&1 || { tail -20 "$work/dockerd.log" >&2; skip_or_fail "dockerd did not start"; }
  fi
}

docker_engine_down() {
  [ "$started_dockerd" = 1 ] || return 0
  kill "$(cat "$work/dockerd.pid")" 2>/dev/null || true
  for _ in $(seq 1 100); do kill -0 "$(cat "$work/dockerd.pid")" 2>/dev/null || break; sleep 0.1; done
}

# debian:bookworm-slim, built with debootstrap (minbase) when not present.
docker_base_image() {
  docker image inspect debian:bookworm-slim >/dev/null 2>&1 && return 0
  # The mirror this machine's apt already uses (or KINNET_DEBIAN_MIRROR): no host
  # named here, so a machine behind its own mirror or proxy builds from that.
  mirror=${KINNET_DEBIAN_MIRROR:-$(apt_source_uri bookworm)}
  mirror=${mirror%/}
  [ -n "$mirror" ] || fail "no Debian mirror for debootstrap: no enabled 'deb' source for bookworm in /etc/apt/sources.list or /etc/apt/sources.list.d/*.list|*.sources; add one, or set KINNET_DEBIAN_MIRROR=http://MIRROR/debian"
  security=$(apt_source_uri bookworm-security)
  security=${security%/}
  echo "building it with debootstrap (minbase) from $mirror"
  debootstrap --variant=minbase bookworm "$work/rootfs" "$mirror" >"$work/debootstrap.log" 2>&1 \
    || { tail -20 "$work/debootstrap.log" >&2; fail "debootstrap"; }
  cat >"$work/rootfs/etc/apt/sources.list" <<SOURCES
deb $mirror bookworm main
deb $mirror bookworm-updates main
SOURCES
  if [ -n "$security" ]; then
    echo "deb $security bookworm-security main" >>"$work/rootfs/etc/apt/sources.list"
  else
    echo "  (no bookworm-security source on this machine: the test image has none either)"
  fi
  # As the registry's slim image does: no manuals, docs or translations, now or later.
  cat >"$work/rootfs/etc/dpkg/dpkg.cfg.d/slim" <<'SLIM'
path-exclude /usr/share/doc/*
path-include /usr/share/doc/*/copyright
path-exclude /usr/share/man/*
path-exclude /usr/share/info/*
path-exclude /usr/share/locale/*
path-exclude /usr/share/lintian/*
SLIM
  find "$work/rootfs/usr/share/doc" -type f ! -name copyright -delete
  rm -rf "$work"/rootfs/usr/share/{man,info,locale,lintian}/* \
         "$work"/rootfs/var/cache/apt/archives/*.deb "$work"/rootfs/var/lib/apt/lists/*
  tar -C "$work/rootfs" -c . | docker import - debian:bookworm-slim >/dev/null
  rm -rf "$work/rootfs"
  built_base=1
}
