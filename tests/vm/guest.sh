#!/bin/bash
# Runs inside the VM that .ci/vm-lane.sh boots: a pure cgroup v2 kernel with
# the host's / shared read-only. Runs the cgroupv2 tests and reports.
set -u
PY=${1:-/opt/pycontainer/bin/python}
REPO=${2:-$(cd "$(dirname "$0")/../.." && pwd)}
echo "guest: kernel $(uname -r), $(nproc) cpus, cgroup fs: $(stat -fc %T /sys/fs/cgroup)"
echo "guest: controllers: $(cat /sys/fs/cgroup/cgroup.controllers)"
modprobe loop 2>/dev/null || true
cd "$REPO"
# The repo is read-only here: no cache dir, no bytecode.
PYTHONDONTWRITEBYTECODE=1 "$PY" -m pytest -p no:cacheprovider -q -rs -m cgroupv2 tests/vm \
    -o junit_family=legacy --junitxml=/tmp/vm-lane.xml
rc=$?
grep -o 'property name="[^"]*" value="[^"]*"' /tmp/vm-lane.xml 2>/dev/null | sed 's/^/guest: /'
exit $rc
