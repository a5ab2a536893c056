#!/bin/bash
# .ci/test.sh [PYTEST ARGS...] -- install everything and run the test suite (as root).
# This is the README's second command; .ci/run (CI) calls it with no arguments.
#
# 1. the host lane: unit tests, integration tests on this kernel (cgroup v1 or
#    hybrid here), security tests, the real clients (tests/clients/scripts);
#    PYTEST ARGS are added to its pytest command line; if they name a path
#    (tests/unit, tests/x.py::test_y) they replace its selection;
# 2. the cgroup v2 lane: the tests marked cgroupv2, inside a VM booted on a
#    pure cgroup v2 kernel (.ci/vm-lane.sh; skipped with PYCONTAINER_NO_VM=1).
#
# Each lane's output is kept as it comes and its pytest summary line is
# repeated at the end, followed by one line CI reads:
#     total: N passed, N failed, N skipped
# (failed counts errors too, and a lane that failed without a failed test,
# i.e. crashed, timed out or collected nothing (pytest's exit 5), counts as one).
# The exit status is 0 only if every lane passed.
# PYCONTAINER_SKIP_INSTALL=1 skips .ci/install.sh (a machine already set up).
set -uo pipefail
HERE=$(cd "$(dirname "$0")/.." && pwd)
if [ -z "${PYCONTAINER_SKIP_INSTALL:-}" ]; then
  bash "$HERE/.ci/install.sh" --tests || exit 1
fi
cd "$HERE"
LOGS=$(mktemp -d /tmp/pycontainer-ci.XXXXXX)
trap 'rm -rf "$LOGS"' EXIT
PY=${PYCONTAINER_PY:-/opt/pycontainer/bin/python}
# a path (or path::test) among the arguments replaces the default selection; options alone add to it
selection=0
for a in "$@"; do case $a in -*) ;; *) [ -e "${a%%::*}" ] && selection=1 ;; esac; done
[ $selection = 1 ] || set -- tests --ignore=tests/vm "$@"

# lane NAME CMD... : run CMD with its output on ours and in $LOGS/NAME.log
# (through a pipe: nothing a lane starts can reopen and truncate CI's log file)
lanes=()
lane() {
  local name=$1; shift
  echo "=== lane: $name ==="
  "$@" 2>&1 | tee "$LOGS/$name.log"
  echo "${PIPESTATUS[0]}" > "$LOGS/$name.rc"
  lanes+=("$name")
}

lane host "$PY" -m pytest -q -p no:cacheprovider "$@"
if [ -z "${PYCONTAINER_NO_VM:-}" ]; then
  lane cgroupv2-vm bash "$HERE/.ci/vm-lane.sh"
fi

# count WORD LINE : the number before WORD in a pytest summary line (0 if absent)
count() { local n; n=$(grep -oE "[0-9]+ $1" <<<"$2" | head -1 | cut -d' ' -f1); echo "${n:-0}"; }
passed=0 failed=0 skipped=0 rc=0
echo "=== summary ==="
for name in "${lanes[@]}"; do
  code=$(cat "$LOGS/$name.rc")
  # pytest's last line: "5 passed, 2 skipped in 1.23s" (-q) or "==== ... ====", maybe with \r
  line=$(tr '\r' '\n' < "$LOGS/$name.log" |
         grep -aE '^=*[ ]*(([0-9]+ (passed|failed|skipped|errors?|deselected|xfailed|xpassed|warnings?))(, )?)+ in [0-9.]+s' |
         tail -1 | sed -E 's/^=+ //; s/ =+$//')
  lane_failed=0
  if [ "$code" = 5 ]; then
    echo "$name: collected no tests (exit 5)${line:+: $line}"
  elif [ -z "$line" ]; then
    echo "$name: no pytest summary (exit $code)"
  else
    echo "$name: $line (exit $code)"
    passed=$((passed + $(count passed "$line")))
    lane_failed=$(( $(count failed "$line") + $(count 'errors?' "$line") ))
    skipped=$((skipped + $(count skipped "$line")))
  fi
  # a lane that failed without a failed test (crash, timeout, nothing collected) is one failure
  [ "$code" != 0 ] && [ "$lane_failed" = 0 ] && lane_failed=1
  failed=$((failed + lane_failed))
  [ "$code" = 0 ] || rc=1
done
echo "total: $passed passed, $failed failed, $skipped skipped"
exit $rc
