#!/usr/bin/env bash
# ops/lib/docker.sh's apt_source_uri (for ops/docker-test and ops/ha-test), alone, on
# made-up apt source trees: which mirror debootstrap would use, and none (so
# docker-test fails, saying why) when the machine names none.
# Usage: test_apt_source_uri.sh path/to/ops/lib/docker.sh
set -euo pipefail
script=${1:?usage: $0 ops/lib/docker.sh}
# shellcheck disable=SC1090
source <(sed -n '/^# apt-source-uri:begin/,/^# apt-source-uri:end/p' "$script")
declare -F apt_source_uri >/dev/null || { echo "FAIL: no apt_source_uri in $script"; exit 1; }
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
failures=0
expect() {   # name want got
  if [ "$2" = "$3" ]; then echo "ok - $1"; else echo "FAIL - $1: want '$2', got '$3'"; failures=$((failures + 1)); fi
}
tree() { rm -rf "$tmp/root"; mkdir -p "$tmp/root/etc/apt/sources.list.d"; }

# deb822, as Debian 12 ships it: a comment naming another host, two stanzas.
tree
cat >"$tmp/root/etc/apt/sources.list.d/debian.sources" <<'SRC'
Types: deb
# http://snapshot.debian.org/archive/debian/20250520T000000Z
URIs: http://mirror.example.org/debian
Suites: bookworm bookworm-updates
Components: main

Types: deb
URIs: http://security.example.org/debian-security
Suites: bookworm-security
Components: main
SRC
expect "deb822 main" "http://mirror.example.org/debian" "$(apt_source_uri bookworm "$tmp/root")"
expect "deb822 security" "http://security.example.org/debian-security" \
  "$(apt_source_uri bookworm-security "$tmp/root")"

# deb822: a disabled stanza and a deb-src one are passed over.
tree
cat >"$tmp/root/etc/apt/sources.list.d/a.sources" <<'SRC'
Types: deb
URIs: http://off.example.org/debian
Suites: bookworm
Enabled: no

Types: deb-src
URIs: http://src.example.org/debian
Suites: bookworm

Types: deb deb-src
URIs: http://on.example.org/debian
Suites: bookworm
SRC
expect "deb822 enabled deb only" "http://on.example.org/debian" "$(apt_source_uri bookworm "$tmp/root")"

# One-line format with options, comments and another suite first.
tree
cat >"$tmp/root/etc/apt/sources.list" <<'SRC'
# deb http://commented.example.org/debian bookworm main
deb-src http://src.example.org/debian bookworm main
deb [arch=amd64 signed-by=/usr/share/keyrings/k.gpg] http://sec.example.org/debian-security bookworm-security main
deb [ trusted=yes ] http://one.example.org/debian/ bookworm main contrib
SRC
expect "one-line with options" "http://one.example.org/debian/" "$(apt_source_uri bookworm "$tmp/root")"
expect "one-line security" "http://sec.example.org/debian-security" \
  "$(apt_source_uri bookworm-security "$tmp/root")"

# Nothing for the suite (another release only, or no sources at all): empty.
tree
echo "deb http://old.example.org/debian bullseye main" >"$tmp/root/etc/apt/sources.list"
expect "another release only" "" "$(apt_source_uri bookworm "$tmp/root")"
tree
expect "no sources at all" "" "$(apt_source_uri bookworm "$tmp/root")"

[ "$failures" -eq 0 ] || { echo "$failures failure(s)"; exit 1; }
echo "apt_source_uri: all cases pass"
