#!/bin/bash
# bench/rates.sh [-r ROUNDS] [-n N] [-b BUNDLE] RUNTIME... -- N containers in sequence, then N
# at once, for each runtime in turn, ROUNDS times (interleaved: a shared machine's drift hits
# every runtime alike). Prints wall ms and the machine's busy CPU ms (/proc/stat: user, nice,
# system, irq, softirq of all CPUs) for each batch, then the medians per runtime and the CPU per
# container. anchors.sh's throughput rows are three hyperfine runs of one runtime after another;
# this is the same work, with the CPU that explains it.
#
#   bash bench/rates.sh runc /usr/local/bin/pycontainer
#
# Each RUNTIME is called as: RUNTIME run -b BUNDLE ID (ids rt-<name>-<round>-<i>). Root only.
set -uo pipefail
ROUNDS=5; N=50; BUNDLE=/tmp/perfbundle
while getopts "r:n:b:" o; do case $o in r) ROUNDS=$OPTARG;; n) N=$OPTARG;; b) BUNDLE=$OPTARG;;
  *) echo "usage: $0 [-r ROUNDS] [-n N] [-b BUNDLE] RUNTIME..." >&2; exit 2;; esac; done
shift $((OPTIND - 1))
[ $# -gt 0 ] && [ -f "$BUNDLE/config.json" ] || {
  echo "usage: $0 [-r ROUNDS] [-n N] [-b BUNDLE] RUNTIME... (BUNDLE: a runc-form bundle of /bin/true)" >&2; exit 2; }
busy() { awk '/^cpu /{print ($2+$3+$4+$7+$8) * 10}' /proc/stat; }      # USER_HZ = 100
out=$(mktemp)
for r in $(seq "$ROUNDS"); do
  for rt in "$@"; do
    l=$(basename "${rt%% *}")
    b0=$(busy); t0=$(date +%s%N)
    for i in $(seq "$N"); do $rt run -b "$BUNDLE" "rt-$l-$r-s$i" >/dev/null 2>&1; done
    t1=$(date +%s%N); b1=$(busy)
    for i in $(seq "$N"); do $rt run -b "$BUNDLE" "rt-$l-$r-p$i" >/dev/null 2>&1 & done; wait
    t2=$(date +%s%N); b2=$(busy)
    echo "$r $l $(( (t1 - t0) / 1000000 )) $((b1 - b0)) $(( (t2 - t1) / 1000000 )) $((b2 - b1))" | tee -a "$out"
  done
done
echo "# medians of $ROUNDS rounds, $N containers per batch"
printf "%-16s %12s %10s %12s %10s\n" runtime "seq ms" "seq/s" "par ms" "par/s"
for rt in "$@"; do
  l=$(basename "${rt%% *}")
  awk -v l="$l" -v n="$N" '$2 == l { s[++k] = $3; sb[k] = $4; p[k] = $5; pb[k] = $6 }
    function med(a,   i, j, t, m) { m = k; for (i = 1; i <= m; i++) for (j = i + 1; j <= m; j++) if (a[j] < a[i]) { t = a[i]; a[i] = a[j]; a[j] = t }
                                    return (m % 2) ? a[(m + 1) / 2] : (a[m / 2] + a[m / 2 + 1]) / 2 }
    END { ms = med(s); mp = med(p); bs = med(sb); bp = med(pb)
          printf "%-16s %12.0f %10.1f %12.0f %10.1f   busy CPU per container: %.1f ms in sequence, %.1f at once\n",
                 l, ms, n * 1000 / ms, mp, n * 1000 / mp, bs / n, bp / n }' "$out"
done
rm -f "$out"
