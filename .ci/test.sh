#!/bin/bash
# .ci/test.sh -- install everything and run the whole test suite (as root).
# This is the README's second command; .ci/run (CI) calls it.
#
# 1. the host lane: unit tests, integration tests on this kernel (cgroup v1 or
#    hybrid here), security tests, podman/containerd driving pycontainer;
# 2. the cgroup v2 lane: the tests marked cgroupv2, inside a VM booted on a
#    pure cgroup v2 kernel (.ci/vm-lane.sh; skipped with PYCONTAINER_NO_VM=1).
set -uo pipefail
HERE=$(cd "$(dirname "$0")/.." && pwd)
bash "$HERE/.ci/install.sh" --tests || exit 1
cd "$HERE"
/opt/pycontainer/bin/python -m pytest -q -p no:cacheprovider tests --ignore=tests/vm "$@"
rc=$?
if [ -z "${PYCONTAINER_NO_VM:-}" ]; then
  bash "$HERE/.ci/vm-lane.sh"
  vm=$?
  [ $rc -eq 0 ] && rc=$vm
fi
exit $rc
