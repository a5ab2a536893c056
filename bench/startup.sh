#!/bin/bash
# bench/startup.sh [RUNS] -- pycontainer beside runc and crun, same bundle, same run.
#
# 1. ../shared/bench/anchors.sh -x pycontainer: cold `run` of /bin/true (wall,
#    user+sys, peak RSS, ratio to runc), plus throughput unless --quick.
# 2. bench/lifecycle.py: create, start and delete timed separately.
# Both run in one private mount namespace without /sys/fs/cgroup/unified, because
# crun 1.8 refuses hybrid cgroup hosts; every runtime then sees the same v1 layout.
# Needs root; installs hyperfine/time/runc/crun from Debian if missing.
# Goal (issue #2): run <= 0.8 x runc; create/start/delete each <= 1.0 x runc.
set -euo pipefail
HERE=$(cd "$(dirname "$0")/.." && pwd)
RUNS=${1:-20}
ANCHORS=${ANCHORS:-$HERE/../shared/bench/anchors.sh}
PYC=${PYC:-/usr/local/bin/pycontainer}
[ -x "$PYC" ] || { echo "startup.sh: $PYC missing: run .ci/install.sh first" >&2; exit 1; }
need=()
for c in hyperfine:hyperfine /usr/bin/time:time runc:runc crun:crun /bin/busybox:busybox-static; do
  cmd=${c%%:*}; command -v "$cmd" >/dev/null 2>&1 || [ -e "$cmd" ] || need+=("${c#*:}")
done
[ ${#need[@]} -eq 0 ] || { apt-get update -qq; DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need[@]}" >/dev/null; }
OUT=${OUT:-/tmp/pycontainer-bench.$(date +%Y%m%d-%H%M%S)}
mkdir -p "$OUT"
bash "$ANCHORS" -x "$PYC" -r "$RUNS" --no-python -o "$OUT/anchors" ${QUICK:+--no-throughput} | tee "$OUT/anchors.txt"
unshare -m bash -c "
  mount --make-rprivate /
  umount /sys/fs/cgroup/unified 2>/dev/null || true
  python3 '$HERE/bench/lifecycle.py' /tmp/perfbundle -n '$RUNS' --runtime runc=runc --runtime crun=crun \
      --runtime pycontainer='$PYC' --json '$OUT/lifecycle.json'
" | tee "$OUT/lifecycle.txt"
echo "results in $OUT"
