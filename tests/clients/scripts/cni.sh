#!/bin/bash
# cni.sh [RUNTIME] -- the reference CNI plugins (Debian 12's containernetworking-plugins)
# called by hand, as containerd's CRI, nerdctl and podman call them, with a
# pycontainer container joining the network namespace they set up.
#
# Two namespaces (`ip netns add`) get eth0 from the bridge plugin with
# host-local IPAM (bridge pyccni1, 10.231.19.0/24, IPAM data in the work dir);
# portmap publishes 127.0.0.1:PYC_CNI_PORT (18091) to one of them; RUNTIME
# (default `pycontainer` on PATH) runs busybox httpd from a bundle whose
# linux.namespaces names that netns by path. Checked from the host and from
# the other namespace; then DEL releases the addresses and rules. The bridge
# (the plugin never deletes it), the namespaces, new CNI iptables chains and
# ip_forward are put back. Traffic stays between the host and these namespaces.
. "$(dirname "$0")/lib.sh"
PLUGINS=/usr/lib/cni
packages $PLUGINS/bridge=containernetworking-plugins ip=iproute2 iptables=iptables jq=jq \
  curl=curl /bin/busybox=busybox-static
use_runtime "${1:-}"

W=$(mktemp -d /tmp/pyc-cni.XXXXXX)
BR=pyccni1 NET=10.231.19 PORT=${PYC_CNI_PORT:-18091}
A=pyccni-a-$$ B=pyccni-b-$$ ID=pyccni-$$
FWD=$(cat /proc/sys/net/ipv4/ip_forward)
CHAINS=$(cni_chains)
MADE=()
rt() { "$RT" --root "$W/state" "$@"; }
# plugin COMMAND PLUGIN NETNS CONFIG
plugin() { CNI_COMMAND=$1 CNI_CONTAINERID=$3 CNI_NETNS=/var/run/netns/$3 CNI_IFNAME=eth0 \
           CNI_PATH=$PLUGINS "$PLUGINS/$2" < "$4"; }

tidy() {
  set +e
  say "cleaning up $W"
  [ -d "$W/state/$ID" ] && { rt kill "$ID" KILL; sleep 0.3; rt delete --force "$ID"; } >/dev/null 2>&1
  for n in "${MADE[@]}"; do
    [ -f "$W/portmap-$n.json" ] && plugin DEL portmap "$n" "$W/portmap-$n.json" >/dev/null 2>&1
    [ -f "$W/added-$n.json" ] && plugin DEL bridge "$n" "$W/added-$n.json" >/dev/null 2>&1
    ip netns del "$n"
  done
  ip link del "$BR" 2>/dev/null
  echo "$FWD" > /proc/sys/net/ipv4/ip_forward
  drop_new_cni_chains "$CHAINS"
  unmount_under "$W"
  rm -rf "$W"
}
trap 'tidy; verdict; exit $?' EXIT

ip link show "$BR" >/dev/null 2>&1 && abort "bridge $BR exists: is another cni.sh running?"
port_free "$PORT" || abort "port $PORT is in use (PYC_CNI_PORT)"
cat > "$W/bridge.json" <<CONF
{"cniVersion": "1.0.0", "name": "pyccni", "type": "bridge", "bridge": "$BR",
 "isGateway": true, "ipMasq": true, "hairpinMode": true,
 "ipam": {"type": "host-local", "dataDir": "$W/ipam", "routes": [{"dst": "0.0.0.0/0"}],
          "ranges": [[{"subnet": "$NET.0/24", "gateway": "$NET.1"}]]}}
CONF
for n in "$A" "$B"; do
  ip netns add "$n" && MADE+=("$n")
  ip -n "$n" link set lo up
  plugin ADD bridge "$n" "$W/bridge.json" > "$W/result-$n.json" ||
    abort "CNI ADD bridge for $n: $(cat "$W/result-$n.json")"
  # DEL and CHECK want the ADD result as prevResult
  jq --slurpfile r "$W/result-$n.json" '. + {prevResult: $r[0]}' "$W/bridge.json" > "$W/added-$n.json"
done
IP_A=$(jq -r '.ips[0].address' "$W/result-$A.json"); IP_A=${IP_A%/*}
IP_B=$(jq -r '.ips[0].address' "$W/result-$B.json"); IP_B=${IP_B%/*}
say "CNI ADD: $A=$IP_A $B=$IP_B"
expect "the bridge holds the gateway $NET.1" grep -q "$NET.1/24" <<<"$(ip -br addr show dev "$BR")"
expect "two veths on the bridge" [ "$(ip -br link show master "$BR" | wc -l)" = 2 ]
expect "$A: default route via $NET.1" grep -q "default via $NET.1 dev eth0" <<<"$(ip -n "$A" route)"
expect "host-local leases in its dataDir" test -f "$W/ipam/pyccni/$IP_A" -a -f "$W/ipam/pyccni/$IP_B"
expect "ipMasq: a MASQUERADE chain for $A" sh -c "iptables -t nat -S | grep -F '$A' | grep -q MASQUERADE"
expect "the host pings $IP_A" pings "$IP_A"
expect "$B pings $IP_A" quiet ip netns exec "$B" /bin/busybox ping -q -c 1 -W 2 "$IP_A"
expect "CNI CHECK" quiet plugin CHECK bridge "$A" "$W/added-$A.json"
jq -n --slurpfile r "$W/result-$A.json" --argjson port "$PORT" \
  '{cniVersion: "1.0.0", name: "pyccni", type: "portmap", capabilities: {portMappings: true},
    runtimeConfig: {portMappings: [{hostPort: $port, containerPort: 80, protocol: "tcp"}]},
    prevResult: $r[0]}' > "$W/portmap-$A.json"
expect "CNI ADD portmap 127.0.0.1:$PORT -> $IP_A:80" quiet plugin ADD portmap "$A" "$W/portmap-$A.json"

busybox_rootfs "$W/bundle"
rm "$W/bundle/config.json"                      # the image config, not a bundle's
pyc spec --bundle "$W/bundle" || abort "pycontainer spec"
jq --arg ns "/var/run/netns/$A" '.process.terminal = false
  | .process.args = ["httpd", "-f", "-p", "80", "-h", "/var/www"]
  | .linux.namespaces = [.linux.namespaces[] | select(.type != "network")] + [{type: "network", path: $ns}]' \
  "$W/bundle/config.json" > "$W/config.json" && mv "$W/config.json" "$W/bundle/config.json"
rt run -d -b "$W/bundle" --pid-file "$W/pid" "$ID" < /dev/null > "$W/run.log" 2>&1
expect "$(basename "$RT") run -d in $A ($(rt state "$ID" 2>&1 | jq -r .status 2>/dev/null))" \
  [ "$(rt state "$ID" 2>/dev/null | jq -r .status)" = running ]
sleep 0.3
expect "the container's netns is $A" \
  [ "$(readlink "/proc/$(cat "$W/pid" 2>/dev/null)/ns/net")" = "$(ip netns exec "$A" readlink /proc/self/ns/net)" ]
expect "curl $IP_A from the host" [ "$(fetch "http://$IP_A/")" = served-by-busybox ]
expect "curl 127.0.0.1:$PORT (portmap)" [ "$(fetch "http://127.0.0.1:$PORT/")" = served-by-busybox ]
expect "curl $IP_A from $B" [ "$(ip netns exec "$B" curl -s -m 5 "http://$IP_A/")" = served-by-busybox ]
rt kill "$ID" KILL; sleep 0.3; rt delete --force "$ID"
expect "delete removed the container" [ ! -d "$W/state/$ID" ]

expect "CNI DEL portmap" quiet plugin DEL portmap "$A" "$W/portmap-$A.json" && rm -f "$W/portmap-$A.json"
for n in "$A" "$B"; do
  expect "CNI DEL bridge ($n)" quiet plugin DEL bridge "$n" "$W/added-$n.json" && rm -f "$W/added-$n.json"
done
expect "leases released" [ -z "$(ls "$W/ipam/pyccni" | grep -v -e lock -e last_reserved)" ]
expect "no rule names $A any more" sh -c "! iptables -t nat -S | grep -qF '$A'"
expect "no veth left on the bridge" [ -z "$(ip -br link show master "$BR")" ]
