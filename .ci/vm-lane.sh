#!/bin/bash
# The cgroup v2 lane: boot Debian's kernel under qemu with virtme-ng (one boot,
# pure cgroup v2 with cpu/io/memory/pids/...), run `pytest -m cgroupv2 tests/vm`
# inside it, return its exit code. See ../shared/vm-lane.md.
#
# Installs what it needs on first use: qemu-system-x86 + linux-image-amd64
# (apt) and virtme-ng (a venv in /opt/vng). Software emulation (TCG): /dev/kvm
# exists on these machines but hangs, so --disable-kvm.
set -euo pipefail
cd "$(dirname "$0")/.."
REPO=$PWD
# The project's venv (.ci/install.sh --tests makes /opt/pycontainer); the guest
# sees the host's / read-only, so the same interpreter and checkout are used.
PY=${PYCONTAINER_PY:-}
for cand in /opt/pycontainer/bin/python /opt/pycontainer-venv/bin/python; do
    [ -z "$PY" ] && [ -x "$cand" ] && "$cand" -c 'import pytest, pycontainer' 2>/dev/null && PY=$cand
done
[ -n "$PY" ] || { echo "vm-lane: no venv with pytest and pycontainer (run .ci/install.sh --tests)" >&2; exit 1; }
t0=$(date +%s)

VNG=${PYCONTAINER_VNG:-}         # another vng (tests of this script): no setup, any kernel
if [ -z "$VNG" ]; then
    if ! command -v qemu-system-x86_64 >/dev/null || ! ls /boot/vmlinuz-* >/dev/null 2>&1; then
        apt-get update -qq
        DEBIAN_FRONTEND=noninteractive apt-get install -y -qq qemu-system-x86 linux-image-amd64 >/dev/null
    fi
    if [ ! -x /opt/vng/bin/vng ]; then
        python3 -m venv /opt/vng
        /opt/vng/bin/pip install -q virtme-ng
    fi
    VNG=/opt/vng/bin/vng
fi
KERNEL=$(ls -1 /boot/vmlinuz-* 2>/dev/null | sort -V | tail -1 || true)
DISK=$(mktemp /tmp/pycontainer-vmdisk.XXXXXX)
trap 'rm -f "$DISK"' EXIT
truncate -s 256M "$DISK"
t1=$(date +%s)
echo "vm-lane: kernel $KERNEL, setup $((t1 - t0))s"

set +e
# vng's output goes through a pipe, never straight to our stdout: qemu opens
# /proc/self/fd/1 and /proc/self/fd/2 anew as "file" chardevs, with O_TRUNC,
# which empties a log file that stdout points to (everything written before
# the VM lane, the host lane's summary included, disappeared from CI's log).
PATH=/opt/vng/bin:$PATH timeout 900 "$VNG" -r "$KERNEL" --disable-kvm --force-9p \
    --memory 1G --cpus 2 --disk "$DISK" -- "bash $REPO/tests/vm/guest.sh $PY $REPO" < /dev/null 2>&1 | cat
rc=${PIPESTATUS[0]}
set -e
echo "vm-lane: exit $rc, boot+tests $(( $(date +%s) - t1 ))s"
exit $rc
