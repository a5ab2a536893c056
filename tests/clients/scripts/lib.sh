# tests/clients/scripts/lib.sh -- sourced by the engine scripts beside it.
#
# Each script (podman.sh, containerd.sh, registry.sh, cni.sh) drives one real,
# unmodified client against pycontainer, offline, as root on Debian 12:
# it installs the Debian packages it lacks, works in a private mktemp dir,
# checks what it sees from outside, removes everything it made (EXIT trap),
# and ends with one line, `PASS <script>` or `FAIL <script>: <checks>`, and
# exit status 0 or 1. Progress goes to stderr; that last line to stdout.
#
# Images come from the project itself: images/build-busybox.sh for a rootfs,
# `pycontainer save` (with a private image store) for an OCI archive.

set -u
REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/../../.." && pwd)
FAILED=()
SCRIPT=$(basename "$0")

say()  { printf '%s %s\n' "$(date +%T)" "$*" >&2; }
pass() { printf '    ok   %s\n' "$*" >&2; }
fail() { printf '    FAIL %s\n' "$*" >&2; FAILED+=("$*"); }
# expect LABEL CMD... : run CMD, record LABEL as passed or failed; never exits
expect() { local label=$1; shift; if "$@"; then pass "$label"; else fail "$label"; fi; }
quiet() { "$@" >/dev/null 2>&1; }
abort() { fail "$*"; exit 1; }

# verdict: the last line of output and the exit status (call last in the EXIT trap)
verdict() {
  if [ ${#FAILED[@]} -eq 0 ]; then echo "PASS $SCRIPT${RT:+ with $RT}"; return 0; fi
  local IFS=';'
  echo "FAIL $SCRIPT${RT:+ with $RT}: ${#FAILED[@]} failed: ${FAILED[*]}"
  return 1
}

# packages CMD=PKG ... : apt-get install the packages whose command (or absolute path) is missing
packages() {
  local spec missing=()
  for spec in "$@"; do
    case ${spec%%=*} in
      /*) [ -e "${spec%%=*}" ] && continue ;;
      *) command -v "${spec%%=*}" >/dev/null 2>&1 && continue ;;
    esac
    missing+=("${spec#*=}")
  done
  [ ${#missing[@]} -eq 0 ] && return 0
  [ "$(id -u)" = 0 ] || abort "not root: cannot install ${missing[*]}"
  say "apt-get install ${missing[*]}"
  local apt=(apt-get -o DPkg::Lock::Timeout=600 -y -qq)
  DEBIAN_FRONTEND=noninteractive "${apt[@]}" install "${missing[@]}" >/dev/null 2>&1 || {
    "${apt[@]}" update >/dev/null 2>&1
    DEBIAN_FRONTEND=noninteractive "${apt[@]}" install "${missing[@]}" >/dev/null 2>&1
  } || abort "apt-get install ${missing[*]} failed"
}

# use_runtime [PATH] : RT = absolute path of the OCI runtime (default: this checkout's launcher)
use_runtime() {
  local r=${1:-}
  if [ -z "$r" ]; then
    r=$(command -v pycontainer 2>/dev/null) || abort "no runtime given and no pycontainer on PATH"
  fi
  case $r in */*) ;; *) r=$(command -v "$r" 2>/dev/null) || abort "runtime $1 not found" ;; esac
  [ -x "$r" ] || abort "runtime $r is not executable"
  # keep the basename: podman decides on --log-format=json by the runtime's name
  RT=$(cd "$(dirname "$r")" && pwd)/$(basename "$r")
}

# argv_logger OUT LOG : OUT (named as the runtime) logs each call's argv to LOG, then runs $RT
argv_logger() {
  mkdir -p "$(dirname "$1")"
  printf '#!/bin/sh\necho "$*" >> %q\nexec %q "$@"\n' "$2" "$RT" > "$1"
  chmod 755 "$1"
}

# saw LOG REGEX : did the client call the runtime with argv matching REGEX (extended)?
saw() { grep -qE -- "$2" "$1"; }

# busybox_rootfs DIR : DIR/rootfs from the project's own recipe, plus a page for httpd
busybox_rootfs() {
  sh "$REPO/images/build-busybox.sh" "$1" >/dev/null || abort "images/build-busybox.sh failed"
  echo served-by-busybox > "$1/rootfs/var/www/index.html"
}

# pyc ARGS... : this checkout's pycontainer (whatever runtime the client drives)
pyc() {
  "${PYC_PYTHON:-/opt/pycontainer/bin/python}" -c \
    'import sys; sys.path.insert(0, sys.argv.pop(1)); from pycontainer.entry import main; main()' "$REPO" "$@"
}

# oci_archive FILE : `pycontainer save` of the built-in busybox image, from a private store
# (`run` builds the built-in image into the store the first time; `save` then exports it)
oci_archive() {
  local rc=0
  export PYCONTAINER_IMAGE_ROOT=$W/pyc-images
  pyc --root "$W/pyc-state" run --rm --net none busybox true >&2 && pyc save -o "$1" busybox >&2 || rc=1
  unset PYCONTAINER_IMAGE_ROOT
  rm -rf "$W/pyc-images" "$W/pyc-state"
  return $rc
}

# pids_of TEXT : our processes whose command line contains TEXT (our private dir)
pids_of() {
  local d
  for d in /proc/[0-9]*; do
    [ "${d#/proc/}" = $$ ] && continue
    { tr '\0' ' ' < "$d/cmdline"; } 2>/dev/null | grep -qF -- "$1" && echo "${d#/proc/}"
  done
  return 0
}

# end_pid PID : SIGTERM, up to 5 s, then SIGKILL
end_pid() {
  kill -0 "$1" 2>/dev/null || return 0
  kill "$1" 2>/dev/null
  local n
  for n in $(seq 50); do kill -0 "$1" 2>/dev/null || return 0; sleep 0.1; done
  kill -9 "$1" 2>/dev/null; sleep 0.1
}

unmount_under() {
  findmnt -rn -o TARGET | grep -F "$1/" | sort -r | while read -r m; do umount -l "$m"; done
}

port_free() { ! ss -Hltn "sport = :$1" | grep -q .; }
pings() { /bin/busybox ping -q -c 1 -W 2 "$1" >/dev/null 2>&1; }
fetch() { curl -s -m 5 "$@"; }

# The CNI plugins (bridge ipMasq, portmap, firewall) leave global iptables chains.
# cni_chains: the ones there now; drop_new_cni_chains BEFORE: remove those that
# were not there before and hold nothing but the plugin's own static rules.
cni_chains() { iptables-save 2>/dev/null | sed -n 's/^:\(CNI-[A-Z-]*\) .*/\1/p' | sort -u; }
drop_new_cni_chains() {
  command -v iptables >/dev/null || return 0
  local before=$1 c
  for c in CNI-HOSTPORT-DNAT CNI-HOSTPORT-MASQ CNI-HOSTPORT-SETMARK; do
    grep -qx "$c" <<<"$before" && continue
    iptables -t nat -S "$c" >/dev/null 2>&1 || continue
    iptables -t nat -S "$c" | grep -q -e '--dport' -e multiport && continue
    [ "$(iptables -t nat -S "$c" | grep -c '^-A')" -le 1 ] || continue
    [ "$c" = CNI-HOSTPORT-DNAT ] && for hook in PREROUTING OUTPUT; do
      iptables -t nat -D "$hook" -m addrtype --dst-type LOCAL -j "$c" 2>/dev/null; done
    [ "$c" = CNI-HOSTPORT-MASQ ] &&
      iptables -t nat -D POSTROUTING -m comment --comment "CNI portfwd requiring masquerade" -j "$c" 2>/dev/null
    iptables -t nat -F "$c" 2>/dev/null && iptables -t nat -X "$c" 2>/dev/null
  done
  if ! grep -qx CNI-FORWARD <<<"$before" && iptables -S CNI-FORWARD >/dev/null 2>&1 &&
     [ "$(iptables -S CNI-FORWARD | grep -c '^-A')" -le 1 ] &&
     [ "$(iptables -S CNI-ADMIN 2>/dev/null | grep -c '^-A')" = 0 ]; then
    iptables -D FORWARD -m comment --comment "CNI firewall plugin rules" -j CNI-FORWARD 2>/dev/null
    iptables -F CNI-FORWARD && iptables -X CNI-FORWARD
    iptables -X CNI-ADMIN 2>/dev/null
  fi
  return 0
}
