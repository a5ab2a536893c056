#!/bin/bash
# podman.sh [RUNTIME] -- podman 4.3 + conmon (Debian 12) with pycontainer as its OCI runtime.
#
# RUNTIME defaults to `pycontainer` on PATH (give runc to compare). podman gets a
# private world under one mktemp dir: containers.conf, storage, runroot, tmp,
# file locks, a CNI network "pyctest" on its own bridge (pycpm0, 10.231.17.0/24)
# whose config and IPAM data live there too. The image is the project's busybox
# (`pycontainer save`), `podman load`ed; every run uses --pull never.
#
# Checked: run/exit codes/127 for a missing program, -it (console socket),
# --preserve-fds, create + start -a, -d with -p (curl through the published
# port and to the container's address), exec (-u -w -e, -it, exit code), pause,
# unpause, rm -f of a paused container, update --memory, kill -s USR1, stop, rm; then that podman called the
# runtime with the argv runc's users see (an argv-logging wrapper named like
# the runtime, since podman picks flags by the runtime's name).
#
# This host's quirks: no systemd (cgroup_manager=cgroupfs); no CAP_SYS_RESOURCE
# (podman's default rlimits for root are above the hard limits: default_ulimits).
# Knobs: PYC_PODMAN_PORT (18090), PYC_PODMAN_SUBNET (10.231.17).
. "$(dirname "$0")/lib.sh"
packages podman=podman conmon=conmon curl=curl iptables=iptables ip=iproute2 script=bsdutils \
  /usr/lib/cni/bridge=containernetworking-plugins /bin/busybox=busybox-static
use_runtime "${1:-}"

W=$(mktemp -d /tmp/pyc-podman.XXXXXX)
BR=pycpm0 NET=${PYC_PODMAN_SUBNET:-10.231.17} PORT=${PYC_PODMAN_PORT:-18090}
IMG=localhost/pyctest/busybox:latest
CALLS=$W/calls.log
FWD=$(cat /proc/sys/net/ipv4/ip_forward)
CHAINS=$(cni_chains)
CGROUPS_BEFORE=$(ls -d /sys/fs/cgroup/*/libpod_parent /sys/fs/cgroup/libpod_parent 2>/dev/null)
CNI_CACHE=0; [ -d /var/lib/cni ] && CNI_CACHE=1
export CONTAINERS_CONF=$W/containers.conf CONTAINERS_STORAGE_CONF=$W/storage.conf \
       CONTAINERS_REGISTRIES_CONF=$W/registries.conf TMPDIR=$W/tmp

tidy() {
  set +e
  say "cleaning up $W"
  if [ -f "$CONTAINERS_CONF" ]; then
    podman --runtime "$RT" rm -af -t 0 >/dev/null 2>&1
    podman system reset -f >/dev/null 2>&1
  fi
  for p in $(pids_of "$W/"); do end_pid "$p"; done
  unmount_under "$W"
  ip link del "$BR" 2>/dev/null
  echo "$FWD" > /proc/sys/net/ipv4/ip_forward
  drop_new_cni_chains "$CHAINS"
  for d in /sys/fs/cgroup/*/libpod_parent /sys/fs/cgroup/libpod_parent; do
    [ -d "$d" ] && ! grep -qxF "$d" <<<"$CGROUPS_BEFORE" && rmdir "$d"/* "$d" 2>/dev/null
  done
  [ "$CNI_CACHE" = 1 ] || rmdir /var/lib/cni/results /var/lib/cni/networks /var/lib/cni 2>/dev/null
  rm -rf "$W"
}
trap 'tidy; verdict; exit $?' EXIT

ip link show "$BR" >/dev/null 2>&1 && abort "bridge $BR exists: is another podman.sh running?"
port_free "$PORT" || abort "port $PORT is in use (PYC_PODMAN_PORT)"
mkdir -p "$W"/{graph,run,tmp,net,ipam,bin}
cat > "$CONTAINERS_CONF" <<CONF
[containers]
netns = "bridge"
default_ulimits = ["nofile=1024:1024", "nproc=4096:4096"]
[engine]
cgroup_manager = "cgroupfs"
events_logger = "file"
events_logfile_path = "$W/events.log"
lock_type = "file"
tmp_dir = "$W/tmp"
runtime_supports_json = ["runc", "crun", "$(basename "$RT")"]
[network]
network_backend = "cni"
network_config_dir = "$W/net"
default_network = "pyctest"
CONF
printf '[storage]\ndriver = "overlay"\ngraphroot = "%s/graph"\nrunroot = "%s/run"\n' "$W" "$W" > "$CONTAINERS_STORAGE_CONF"
echo 'unqualified-search-registries = []' > "$CONTAINERS_REGISTRIES_CONF"
cat > "$W/net/pyctest.conflist" <<CONF
{"cniVersion": "0.4.0", "name": "pyctest", "plugins": [
  {"type": "bridge", "bridge": "$BR", "isGateway": true, "ipMasq": true, "hairpinMode": true,
   "ipam": {"type": "host-local", "dataDir": "$W/ipam", "routes": [{"dst": "0.0.0.0/0"}],
            "ranges": [[{"subnet": "$NET.0/24", "gateway": "$NET.1"}]]}},
  {"type": "portmap", "capabilities": {"portMappings": true}},
  {"type": "firewall"}]}
CONF
LOGGED=$W/bin/$(basename "$RT")
argv_logger "$LOGGED" "$CALLS"
p()  { podman --runtime "$RT" "$@"; }          # the runtime itself
pl() { podman --runtime "$LOGGED" "$@"; }      # through the argv logger
say "podman $(podman version -f '{{.Client.Version}}'), runtime $RT"

oci_archive "$W/busybox.tar" || abort "pycontainer save busybox"
expect "podman load (pycontainer save's OCI archive)" sh -c "podman load -q -i $W/busybox.tar >/dev/null"
podman tag "$(podman images -q | head -1)" "$IMG" 2>/dev/null
R="--pull never --network none"

out=$(p run --rm $R "$IMG" echo hello 2>&1)
expect "run --rm echo hello ($out)" [ "$out" = hello ]
out=$(p run --rm --pull never "$IMG" ip -4 -o addr show eth0 2>&1)
expect "bridge network: eth0 in $NET.0/24" grep -q " $NET\." <<<"$out"
times=()
for i in 1 2 3; do
  t0=$(date +%s%N); p run --rm $R "$IMG" true >/dev/null 2>&1; times+=($(( ($(date +%s%N) - t0) / 1000000 )))
done
say "timing: podman run --rm --network none true: ${times[*]} ms"

pl run --rm $R "$IMG" sh -c 'exit 7' >/dev/null 2>&1
expect "exit status 7 comes back" [ $? = 7 ]
pl run --rm $R "$IMG" /no/such/program >/dev/null 2>&1; rc=$?
expect "missing program: exit 127 (got $rc)" [ $rc = 127 ]
# a short -it run now and then loses its output in podman 4.3 (attach race): sleep, retry
on_tty() { local n o; for n in 1 2 3; do
  o=$(script -qec "$1" /dev/null 2>&1 | tr -d '\r\0'); grep -q /dev/pts/ <<<"$o" && break; done; echo "$o"; }
out=$(on_tty "podman --runtime $LOGGED run --rm -it $R $IMG sh -c 'tty; sleep 0.3'")
expect "run -it: a pty ($(echo $out))" grep -q /dev/pts/ <<<"$out"
out=$(pl run --rm $R --preserve-fds 1 "$IMG" ls /proc/self/fd 3</dev/null 2>&1 | tr '\n' ' ')
expect "--preserve-fds 1: fd 3 inside ($out)" grep -qw 3 <<<"$out"
id=$(pl create $R "$IMG" echo from-start 2>/dev/null)
out=$(pl start -a "$id" 2>&1)
expect "create, then start -a ($out)" [ "$out" = from-start ]
pl rm "$id" >/dev/null 2>&1

pl run -d --pull never --name web -p "$PORT:80" "$IMG" \
  sh -c 'echo served-by-busybox > /tmp/index.html; exec httpd -f -p 80 -h /tmp' >/dev/null
sleep 1
expect "ps: web is up" grep -q '^web Up' <<<"$(pl ps --format '{{.Names}} {{.Status}}')"
expect "curl 127.0.0.1:$PORT (published port)" [ "$(fetch "http://127.0.0.1:$PORT/")" = served-by-busybox ]
ip4=$(pl inspect -f '{{.NetworkSettings.Networks.pyctest.IPAddress}}' web)
expect "ping the container ($ip4)" pings "$ip4"
expect "curl the container's address" [ "$(fetch "http://$ip4/")" = served-by-busybox ]
expect "exec" [ "$(pl exec web echo in-web 2>&1)" = in-web ]
out=$(pl exec -u 1000:1000 -w /tmp -e X=y web sh -c 'echo $(id -u) $PWD $X' 2>&1)
expect "exec -u -w -e ($out)" [ "$out" = "1000 /tmp y" ]
out=$(on_tty "podman --runtime $LOGGED exec -it web sh -c 'tty; sleep 0.3'")
expect "exec -it: a pty ($(echo $out))" grep -q /dev/pts/ <<<"$out"
pl exec web sh -c 'exit 3' >/dev/null 2>&1
expect "exec: exit status 3 comes back" [ $? = 3 ]
pl pause web >/dev/null
expect "pause" [ "$(pl inspect -f '{{.State.Status}}' web)" = paused ]
pl unpause web >/dev/null
expect "unpause" [ "$(pl inspect -f '{{.State.Status}}' web)" = running ]
pl run -d $R --name paused "$IMG" sleep 60 >/dev/null 2>&1
pl pause paused >/dev/null 2>&1
t0=$(date +%s%N); pl rm -f -t 0 paused >/dev/null 2>&1; rc=$?; ms=$(( ($(date +%s%N) - t0) / 1000000 ))
expect "rm -f of a paused container: gone in $ms ms" \
  [ $rc = 0 ] && [ $ms -lt 5000 ] && ! pl container exists paused
pl update --memory 64m web >/dev/null 2>&1
mem=$(pl exec web sh -c 'cat /sys/fs/cgroup/memory/memory.limit_in_bytes 2>/dev/null || cat /sys/fs/cgroup/memory.max' 2>&1)
expect "update --memory 64m ($mem)" [ "$mem" = 67108864 ]
expect "kill -s USR1" quiet pl kill -s USR1 web
expect "stop -t 1 (httpd ignores TERM as pid 1)" quiet pl stop -t 1 web
expect "rm" quiet pl rm web
expect "port $PORT free again" port_free "$PORT"
pl info >/dev/null 2>&1

for re in '--log-format=json --log [^ ]+ create --bundle [^ ]+ --pid-file [^ ]+ [0-9a-f]{64}$' \
          ' --console-socket [^ ]+ [0-9a-f]{64}$' ' --preserve-fds 1 [0-9a-f]{64}$' \
          '^start [0-9a-f]{64}$' '^delete --force [0-9a-f]{64}$' \
          'exec --pid-file [^ ]+ --process [^ ]+ --detach [0-9a-f]{64}$' \
          'exec --pid-file [^ ]+ --process [^ ]+ --detach --tty --console-socket [^ ]+ [0-9a-f]{64}$' \
          '^kill [0-9a-f]{64} 10$' '^kill [0-9a-f]{64} 15$' '^kill [0-9a-f]{64} 9$' \
          '^pause [0-9a-f]{64}$' '^resume [0-9a-f]{64}$' '^update --resources=[^ ]+ [0-9a-f]{64}$' '^--version$'; do
  expect "podman called: $re" saw "$CALLS" "$re"
done
