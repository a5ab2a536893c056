#!/bin/bash
# registry.sh [RUNTIME] -- a real registry (Debian 12's docker-registry, i.e. distribution
# 2.8) on 127.0.0.1, fed by skopeo, pulled from by pycontainer.
#
# The project's busybox (`pycontainer save`) is pushed by skopeo as an OCI
# manifest (:oci) and as a Docker schema2 manifest (:v2s2), and an OCI index
# naming the OCI manifest for linux/amd64 is PUT by curl (:index). curl then
# checks what a pulling client depends on: digests that match the bodies,
# and the registry's habits (an OCI manifest is 404 without an Accept header
# that lists it; a schema2 manifest without Accept comes back down-converted
# to schema1). Finally pycontainer pulls each tag into a private store and
# runs it with RUNTIME's state root private too (RUNTIME defaults to
# `pycontainer` on PATH; only the pull and run use it).
#
# Loopback only; the port is PYC_REGISTRY_PORT or the first free one from 5000.
. "$(dirname "$0")/lib.sh"
packages docker-registry=docker-registry skopeo=skopeo curl=curl jq=jq sha256sum=coreutils ss=iproute2 \
  /bin/busybox=busybox-static
use_runtime "${1:-}"

W=$(mktemp -d /tmp/pyc-registry.XXXXXX)
PORT=${PYC_REGISTRY_PORT:-5000}
while ! port_free "$PORT"; do PORT=$((PORT + 1)); done
HOST=127.0.0.1:$PORT
API=http://$HOST/v2/pyctest/busybox
SERVER=

tidy() {
  set +e
  say "cleaning up $W"
  [ -n "$SERVER" ] && end_pid "$SERVER"
  PYCONTAINER_IMAGE_ROOT=$W/store "$RT" --root "$W/state" gc >/dev/null 2>&1
  unmount_under "$W"
  rm -rf "$W"
}
trap 'tidy; verdict; exit $?' EXIT

cat > "$W/registry.yml" <<CONF
version: 0.1
log: {level: warn}
storage: {filesystem: {rootdirectory: $W/data}, delete: {enabled: true}}
http: {addr: $HOST}
CONF
docker-registry serve "$W/registry.yml" > "$W/registry.log" 2>&1 &
SERVER=$!
for i in $(seq 50); do quiet curl -sf "http://$HOST/v2/" && break; sleep 0.1; done
expect "docker-registry answers on $HOST" quiet curl -sf "http://$HOST/v2/"

oci_archive "$W/busybox.tar" || abort "pycontainer save busybox"
for f in oci v2s2; do
  expect "skopeo push --format $f -> :$f" quiet skopeo copy --dest-tls-verify=false --format "$f" \
    "oci-archive:$W/busybox.tar" "docker://$HOST/pyctest/busybox:$f"
done

OCI_INDEX=application/vnd.oci.image.index.v1+json
OCI_MANIFEST=application/vnd.oci.image.manifest.v1+json
DOCKER_MANIFEST=application/vnd.docker.distribution.manifest.v2+json
ACCEPT="Accept: $OCI_INDEX, $OCI_MANIFEST, $DOCKER_MANIFEST"
# get URL [curl args] : the body to $W/body, the headers to $W/head; prints the status
get() { curl -s -D "$W/head" -o "$W/body" -w '%{http_code}' "$@"; }
header() { grep -i "^$1:" "$W/head" | head -1 | cut -d' ' -f2- | tr -d '\r'; }
digest_of() { echo "sha256:$(sha256sum "$1" | cut -d' ' -f1)"; }

get "$API/manifests/oci" -H "Accept: $OCI_MANIFEST" >/dev/null
cp "$W/body" "$W/manifest.json"
MANIFEST=$(digest_of "$W/manifest.json")
printf '{"schemaVersion":2,"mediaType":"%s","manifests":[{"mediaType":"%s","digest":"%s","size":%d,"platform":{"architecture":"amd64","os":"linux"}}]}' \
  "$OCI_INDEX" "$OCI_MANIFEST" "$MANIFEST" "$(stat -c %s "$W/manifest.json")" > "$W/index.json"
code=$(get "$API/manifests/index" -X PUT -H "Content-Type: $OCI_INDEX" --data-binary @"$W/index.json")
expect "PUT an OCI index as :index ($code)" [ "$code" = 201 ]

expect "GET /v2/ says registry/2.0" [ "$(get "http://$HOST/v2/")/$(header Docker-Distribution-Api-Version)" = 200/registry/2.0 ]
get "$API/tags/list" >/dev/null
expect "tags/list: index oci v2s2" [ "$(jq -r '.tags | sort | join(" ")' "$W/body")" = "index oci v2s2" ]
get "$API/manifests/index" -H "$ACCEPT" >/dev/null
expect "the index comes back as $OCI_INDEX" [ "$(header Content-Type)" = "$OCI_INDEX" ]
expect "Docker-Content-Digest is the body's sha256" [ "$(header Docker-Content-Digest)" = "$(digest_of "$W/body")" ]
get "$API/manifests/$MANIFEST" -H "$ACCEPT" >/dev/null
expect "the manifest by digest matches its digest" [ "$(digest_of "$W/body")" = "$MANIFEST" ]
LAYER=$(jq -r '.layers[0].digest' "$W/manifest.json")
get "$API/blobs/$LAYER" >/dev/null
expect "the layer blob matches its digest" [ "$(digest_of "$W/body")" = "$LAYER" ]
expect "a Range request gets 206" [ "$(get "$API/blobs/$LAYER" -H 'Range: bytes=0-9')" = 206 ]
code=$(get "$API/manifests/oci")
expect "quirk: an OCI manifest without Accept is 404 MANIFEST_UNKNOWN" \
  [ "$code/$(jq -r '.errors[0].code' "$W/body")" = 404/MANIFEST_UNKNOWN ]
get "$API/manifests/v2s2" >/dev/null
expect "quirk: schema2 without Accept is down-converted to schema1" grep -q 'manifest.v1' <<<"$(header Content-Type)"
code=$(get "$API/blobs/sha256:$(printf '%064d' 0)")
expect "an unknown blob is 404 BLOB_UNKNOWN" [ "$code/$(jq -r '.errors[0].code' "$W/body")" = 404/BLOB_UNKNOWN ]

export PYCONTAINER_IMAGE_ROOT=$W/store
for tag in oci v2s2 index; do
  expect "pycontainer pull $HOST/pyctest/busybox:$tag" quiet "$RT" pull --insecure "$HOST/pyctest/busybox:$tag"
  out=$("$RT" --root "$W/state" run --rm --net none --pull never "$HOST/pyctest/busybox:$tag" echo pulled-$tag 2>&1)
  expect "pycontainer run of :$tag ($out)" [ "$out" = "pulled-$tag" ]
done
expect "the pulled layer is the pushed one" grep -q "${LAYER#sha256:}" <<<"$("$RT" image inspect "$HOST/pyctest/busybox:oci" 2>&1)"
