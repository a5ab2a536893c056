#!/bin/bash
# bench/floor.sh [-r ROUNDS] [-n N] [-b BUNDLE] [-c CMD] -- how much of a container's CPU,
# in sequence and at once, is the Python interpreter's, beside runc in the same runs.
#
# bench/rates.sh runs four "runtimes", interleaved round by round, each called as
# `RUNTIME run -b BUNDLE ID`:
#   runc;
#   python-bare     the installed interpreter started as the launcher starts it (python -IS),
#                   one fork(2) and the child's execve of /bin/true, a waitpid: no container;
#   python-imports  the same, after importing what `run -b` imports (runtime and init
#                   together) from the import cache, as the launcher does;
#   pycontainer     the installed command (CMD, default /usr/local/bin/pycontainer).
# The floor scripts are written from the installed launcher's own first lines (its sys.path
# and the import cache), and the modules are learnt from one `run -b` under -X importtime
# (bench/importsplit.py's learn).
# So the differences of busy CPU per container are: the interpreter (python-bare, less the
# fork and exec of true, which any runtime pays), the imports (python-imports less
# python-bare) and the container's own work (pycontainer less python-imports), against
# runc's whole. That is the floor the issue's "at once" goal meets: what Python costs
# before the first namespace.
#
# BUNDLE (default /tmp/perf18bundle) is made if it does not exist: runc's spec, a static
# busybox's /bin/true. Root only. Read: bench/rates.sh (how the CPU is counted),
# bench/importsplit.py (the imports split further), bench/perf_results.md.
set -uo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
ROUNDS=9; N=50; BUNDLE=/tmp/perf18bundle; CMD=/usr/local/bin/pycontainer
while getopts "r:n:b:c:" o; do case $o in r) ROUNDS=$OPTARG;; n) N=$OPTARG;; b) BUNDLE=$OPTARG;;
  c) CMD=$OPTARG;; *) echo "usage: $0 [-r ROUNDS] [-n N] [-b BUNDLE] [-c CMD]" >&2; exit 2;; esac; done
LAUNCH=/opt/pycontainer/bin/pycontainer-launch
[ -r "$LAUNCH" ] || { echo "floor.sh: $LAUNCH is missing: run .ci/install.sh first" >&2; exit 1; }
command -v runc >/dev/null || { echo "floor.sh: runc is not installed (apt-get install runc)" >&2; exit 1; }
if [ ! -e "$BUNDLE" ]; then          # runc's own spec, running a static busybox's /bin/true
  [[ $(ldd "$(command -v busybox)" 2>&1) == *"not a dynamic executable"* ]] ||
    { echo "floor.sh: no static busybox to make $BUNDLE (apt-get install busybox-static)" >&2; exit 1; }
  mkdir -p "$BUNDLE"/rootfs/{bin,proc,dev,sys,tmp,etc}
  cp "$(command -v busybox)" "$BUNDLE/rootfs/bin/busybox"; ln -s busybox "$BUNDLE/rootfs/bin/true"
  (cd "$BUNDLE" && runc spec) && sed -i -e 's/"terminal": true/"terminal": false/' \
    -e '/"args": \[/,/\]/c\		"args": [ "/bin/true" ],' "$BUNDLE/config.json"
fi
[ -f "$BUNDLE/config.json" ] || { echo "floor.sh: $BUNDLE is not a bundle (no config.json)" >&2; exit 1; }
tmp=$(mktemp -d /tmp/floor.XXXXXX)
trap 'rm -rf "$tmp"' EXIT
PY=$(head -1 "$LAUNCH" | sed 's/^#!//; s/ .*//')

# The modules a run imports beyond the interpreter's own start (importsplit.py's learn: one
# run -b under -X importtime, where the runtime and the init both report).
python3 -c 'import sys; sys.path.insert(0, sys.argv[1]); import importsplit
print("\n".join(importsplit.learn(sys.argv[2], sys.argv[3])))' "$HERE" "$LAUNCH" "$BUNDLE" \
  > "$tmp/modules" || exit 1

# The fork and exec of /bin/true, and the wait: what every runtime does at the end.
forkexec='import posix
pid = posix.fork()
if pid == 0:
    posix.execv("/bin/true", ["true"])
posix.waitpid(pid, 0)
posix._exit(0)'
{ echo "#!$PY -IS"; echo "$forkexec"; } > "$tmp/python-bare"
{ sed -n '1,/importcache.install()/p' "$LAUNCH"
  echo "import gc"; echo "gc.disable()                    # as pycontainer/entry.py"
  echo "for name in open('$tmp/modules').read().split():"; echo "    __import__(name)"
  echo "$forkexec"; } > "$tmp/python-imports"
chmod +x "$tmp/python-bare" "$tmp/python-imports"
for s in python-bare python-imports; do
  "$tmp/$s" run -b "$BUNDLE" x || { echo "floor.sh: $tmp/$s failed" >&2; exit 1; }
done
echo "# $(wc -l < "$tmp/modules") modules imported by run -b (runtime and init; the package's from the import cache)"

bash "$HERE/rates.sh" -r "$ROUNDS" -n "$N" -b "$BUNDLE" runc "$tmp/python-bare" "$tmp/python-imports" "$CMD" |
  tee "$tmp/rates"
awk -v cmd="$(basename "$CMD")" '
  / busy CPU per container: / { name = $1; seq[name] = $(NF - 6); par[name] = $(NF - 2) }
  END {
    if (!("runc" in par) || !(cmd in par)) exit 1
    printf "\n# busy CPU per container, ms (sequence / at once)\n"
    printf "| part | in sequence | at once |\n|---|---|---|\n"
    printf "| runc, whole | %.1f | %.1f |\n", seq["runc"], par["runc"]
    printf "| interpreter start + fork + exec of true (python-bare) | %.1f | %.1f |\n", seq["python-bare"], par["python-bare"]
    printf "| imports of run -b (python-imports - python-bare) | %.1f | %.1f |\n", seq["python-imports"] - seq["python-bare"], par["python-imports"] - par["python-bare"]
    printf "| the container: everything else (%s - python-imports) | %.1f | %.1f |\n", cmd, seq[cmd] - seq["python-imports"], par[cmd] - par["python-imports"]
    printf "| %s, whole | %.1f | %.1f |\n", cmd, seq[cmd], par[cmd]
    printf "| %s / runc | %.2fx | %.2fx |\n", cmd, seq[cmd] / seq["runc"], par[cmd] / par["runc"]
    printf "| %s less the interpreter and imports / runc | %.2fx | %.2fx |\n", cmd, (seq[cmd] - seq["python-imports"]) / seq["runc"], (par[cmd] - par["python-imports"]) / par["runc"]
  }' "$tmp/rates"
