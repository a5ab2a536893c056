#!/bin/bash
# containerd.sh [RUNTIME] -- containerd 1.6 + containerd-shim-runc-v2 (Debian 12) with
# pycontainer as the runc binary (`ctr run --runc-binary RUNTIME`).
#
# RUNTIME defaults to `pycontainer` on PATH. A private containerd (its own
# config, socket, root and state under one mktemp dir, the CRI plugin off)
# in namespace pyctest-<pid>; stopped by its PID at the end. Images: the
# project's busybox (`pycontainer save`, an OCI archive) and the same image
# as a docker archive (skopeo), both `ctr image import`ed.
#
# Checked: run (both images), exit codes, -t (console socket), a detached
# task with exec (exit code, -t), ps, pause/resume, a signal reaching pid 1's
# trap, SIGKILL, kill --all, task and container rm; then that the shim called
# the runtime with runc's argv (--root/--log/--log-format json before every verb).
# The shim keeps /run/containerd/runc/<ns> and /run/containerd/{s,fifo}: those
# this script made are removed.
. "$(dirname "$0")/lib.sh"
packages containerd=containerd ctr=containerd containerd-shim-runc-v2=containerd \
  skopeo=skopeo script=bsdutils /bin/busybox=busybox-static
use_runtime "${1:-}"

W=$(mktemp -d /tmp/pyc-containerd.XXXXXX)
NS=pyctest-$$
SOCK=$W/containerd.sock
CALLS=$W/calls.log
IMG=docker.io/library/busybox:latest
DIMG=docker.io/pyctest/busybox:docker
RUN_CONTAINERD=0; [ -d /run/containerd ] && RUN_CONTAINERD=1
DAEMON=
c() { ctr --address "$SOCK" --namespace "$NS" "$@"; }

tidy() {
  set +e
  say "cleaning up $W"
  if [ -n "$DAEMON" ]; then
    for t in $(c task ls -q 2>/dev/null); do c task kill -a -s SIGKILL "$t"; done >/dev/null 2>&1
    sleep 0.5
    for t in $(c task ls -q 2>/dev/null); do c task rm -f "$t"; done >/dev/null 2>&1
    for x in $(c container ls -q 2>/dev/null); do c container rm "$x"; done >/dev/null 2>&1
    end_pid "$DAEMON"
  fi
  for p in $(pids_of "$SOCK"); do end_pid "$p"; done      # shims started for us
  unmount_under "$W"
  rm -rf "/run/containerd/runc/$NS"
  for d in /sys/fs/cgroup/*/"$NS" /sys/fs/cgroup/"$NS"; do [ -d "$d" ] && rmdir "$d"; done 2>/dev/null
  [ "$RUN_CONTAINERD" = 1 ] ||
    rmdir /run/containerd/runc /run/containerd/s /run/containerd/fifo /run/containerd 2>/dev/null
  rm -rf "$W"
}
trap 'tidy; verdict; exit $?' EXIT

cat > "$W/config.toml" <<CONF
version = 2
root = "$W/root"
state = "$W/state"
disabled_plugins = ["io.containerd.grpc.v1.cri"]
[grpc]
  address = "$SOCK"
[ttrpc]
  address = "$SOCK.ttrpc"
[debug]
  address = "$W/debug.sock"
CONF
containerd --config "$W/config.toml" > "$W/containerd.log" 2>&1 &
DAEMON=$!
for i in $(seq 50); do quiet c version && break; sleep 0.2; done
quiet c version || abort "containerd did not come up: $(tail -3 "$W/containerd.log")"
say "containerd $(containerd --version | awk '{print $3}') (pid $DAEMON), runtime $RT"

oci_archive "$W/busybox-oci.tar" || abort "pycontainer save busybox"
skopeo copy -q "oci-archive:$W/busybox-oci.tar" "docker-archive:$W/busybox-docker.tar:$DIMG" ||
  fail "skopeo: OCI archive -> docker archive"
expect "ctr image import (pycontainer save's OCI archive)" quiet c image import "$W/busybox-oci.tar"
expect "ctr image import (docker archive)" quiet c image import "$W/busybox-docker.tar"
LOGGED=$W/bin/$(basename "$RT")
argv_logger "$LOGGED" "$CALLS"
F="--fifo-dir $W/fifo"
run() { c run --rm $F --runc-binary "$LOGGED" "$@"; }

out=$(c run --rm $F --runc-binary "$RT" "$IMG" r1 echo hello 2>&1)
expect "run --rm echo hello ($out)" [ "$out" = hello ]
out=$(c run --rm $F --runc-binary "$RT" "$DIMG" r2 echo from-docker-archive 2>&1)
expect "the docker archive's image runs ($out)" [ "$out" = from-docker-archive ]
times=()
for i in 1 2 3; do
  t0=$(date +%s%N); c run --rm $F --runc-binary "$RT" "$IMG" "t$i" true >/dev/null 2>&1
  times+=($(( ($(date +%s%N) - t0) / 1000000 )))
done
say "timing: ctr run --rm true: ${times[*]} ms"

expect "run through the argv logger" [ "$(run "$IMG" c1 echo hi 2>&1)" = hi ]
run "$IMG" c2 sh -c 'exit 7' >/dev/null 2>&1
expect "exit status 7 comes back" [ $? = 7 ]
out=$(script -qec "ctr --address $SOCK --namespace $NS run --rm -t $F --runc-binary $LOGGED $IMG c3 sh -c 'tty; sleep 0.3'" /dev/null 2>&1 | tr -d '\r\0')
expect "run -t: a pty ($(echo $out))" grep -q /dev/pts/ <<<"$out"

c run -d $F --runc-binary "$LOGGED" "$IMG" c4 \
  sh -c 'trap "echo usr1 > /tmp/got" USR1; while :; do sleep 0.2; done' >/dev/null 2>&1
sleep 0.5
expect "detached task c4 is RUNNING" grep -qE '^c4 +[0-9]+ +RUNNING' <<<"$(c task ls)"
expect "task exec" [ "$(c task exec $F --exec-id e1 c4 echo in-c4 2>&1)" = in-c4 ]
c task exec $F --exec-id e2 c4 sh -c 'exit 3' >/dev/null 2>&1
expect "task exec: exit status 3 comes back" [ $? = 3 ]
out=$(script -qec "ctr --address $SOCK --namespace $NS task exec -t $F --exec-id e3 c4 sh -c 'tty; sleep 0.3'" /dev/null 2>&1 | tr -d '\r\0')
expect "task exec -t: a pty ($(echo $out))" grep -q /dev/pts/ <<<"$out"
expect "task ps lists processes" [ "$(c task ps c4 2>/dev/null | tail -n +2 | wc -l)" -ge 1 ]
c task pause c4
expect "task pause" grep -qE '^c4 .*PAUSED' <<<"$(c task ls)"
c task resume c4
expect "task resume" grep -qE '^c4 .*RUNNING' <<<"$(c task ls)"
c task kill -s SIGUSR1 c4
sleep 0.6
expect "SIGUSR1 reaches pid 1's trap" [ "$(c task exec $F --exec-id e4 c4 cat /tmp/got 2>&1)" = usr1 ]
c task kill -s SIGKILL c4
sleep 0.5
expect "SIGKILL stops the task" grep -qE '^c4 .*STOPPED' <<<"$(c task ls)"
expect "task rm" quiet c task rm c4
expect "container rm" quiet c container rm c4
c run -d $F --runc-binary "$LOGGED" "$IMG" c5 sh -c 'sleep 300 & sleep 300' >/dev/null 2>&1
sleep 0.5
c task kill -a -s SIGKILL c5
sleep 0.5
expect "kill --all stops the task" grep -qE '^c5 .*STOPPED' <<<"$(c task ls)"
quiet c task rm c5; quiet c container rm c5

G="^--root /run/containerd/runc/$NS --log [^ ]+/log.json --log-format json"
for re in "create --bundle [^ ]+ --pid-file [^ ]+/init.pid c1\$" \
          "create --bundle [^ ]+ --pid-file [^ ]+/init.pid --console-socket [^ ]+ c3\$" \
          "start c1\$" "delete c1\$" "delete --force c1\$" \
          "exec --process [^ ]+ --detach --pid-file [^ ]+/e1.pid c4\$" \
          "exec --process [^ ]+ --console-socket [^ ]+ --detach --pid-file [^ ]+/e3.pid c4\$" \
          "ps --format json c4\$" "pause c4\$" "resume c4\$" "kill c4 10\$" "kill c4 9\$" \
          "kill --all c5 9\$"; do
  expect "shim called: $re" saw "$CALLS" "$G $re"
done
