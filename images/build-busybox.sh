#!/bin/sh
# build-busybox.sh OUT -- build the default "busybox" image offline.
#
# The rootfs is Debian's busybox-static binary (no network pull, no registry)
# with one symlink per applet, a minimal /etc, and the directories the OCI
# runtime mounts onto. Written to OUT/rootfs, with OUT/config.json holding an
# OCI image config (Env, Cmd, WorkingDir) for the porcelain, and
# OUT/source-date-epoch (the busybox package's mtime, for reproducible layers).
# pycontainer.image.builtin turns OUT into an OCI image in the store.
#
# Needs: busybox-static (apt-get install busybox-static). Idempotent.
set -eu
OUT=${1:?usage: build-busybox.sh OUT}
BB=/bin/busybox
[ -x "$BB" ] || { echo "build-busybox: $BB missing (apt-get install busybox-static)" >&2; exit 1; }
if ! "$BB" --list >/dev/null 2>&1 || ldd "$BB" >/dev/null 2>&1; then
  echo "build-busybox: $BB is not the static busybox (apt-get install busybox-static)" >&2; exit 1
fi
TMP="$OUT.tmp.$$"
rm -rf "$TMP"
R="$TMP/rootfs"
mkdir -p "$R/bin" "$R/sbin" "$R/usr/bin" "$R/usr/sbin" "$R/etc" "$R/proc" "$R/sys" "$R/dev" \
         "$R/tmp" "$R/root" "$R/home" "$R/var/www" "$R/run"
chmod 1777 "$R/tmp"
cp -p "$BB" "$R/bin/busybox"   # -p: keep the package mtime, so the built-in image is reproducible
for a in $("$BB" --list); do
  [ "$a" = busybox ] || ln -sf busybox "$R/bin/$a"
done
printf 'root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/nonexistent:/bin/false\n' > "$R/etc/passwd"
printf 'root:x:0:\nnogroup:x:65534:\n' > "$R/etc/group"
: > "$R/etc/hostname"; : > "$R/etc/hosts"; : > "$R/etc/resolv.conf"
cat > "$TMP/config.json" <<'JSON'
{
  "architecture": "amd64",
  "os": "linux",
  "config": {
    "Env": ["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"],
    "Cmd": ["sh"],
    "WorkingDir": "/"
  },
  "rootfs": {"type": "layers", "diff_ids": []},
  "history": [{"created_by": "images/build-busybox.sh (Debian busybox-static)"}]
}
JSON
case "$(uname -m)" in aarch64) sed -i 's/"amd64"/"arm64"/' "$TMP/config.json";; esac
# the package's date: pycontainer.image.builtin stamps every file with it (reproducible digest)
stat -c %Y "$BB" > "$TMP/source-date-epoch"
rm -rf "$OUT"
mv "$TMP" "$OUT"
echo "$OUT"
