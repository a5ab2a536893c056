#!/bin/sh
# build-python.sh OUT -- a Python 3 layer to stack on the busybox image, offline.
#
# Writes OUT/rootfs with only what Python adds: Debian's python3.11 binary, its
# standard library (the files of python3.11-minimal, libpython3.11-minimal,
# libpython3.11-stdlib as `dpkg -L` lists them) and the shared libraries that
# python3.11 and its lib-dynload modules need (as `ldd` resolves them on this
# host, copied dereferenced to the path the loader asks for). OUT/config.json
# is the image config; OUT/base names the image this layer goes on top of
# (busybox), so the two images share busybox's layer on disk; OUT/source-date-epoch
# is the python3.11 package's mtime, stamped on every file (reproducible digest).
#
# pip comes from Debian's python3-pip (pip 23 with its vendored libraries) and
# python3-distutils, so `pip install --no-index --find-links DIR ...` works in a
# build, offline; Debian's EXTERNALLY-MANAGED marker (PEP 668) is left out, as
# the docker python images do, so pip installs into /usr/local like theirs.
#
# Needs: python3.11-minimal libpython3.11-stdlib python3-pip python3-distutils
# (Debian 12). Idempotent.
set -eu
OUT=${1:?usage: build-python.sh OUT}
PY=/usr/bin/python3.11
[ -x "$PY" ] || { echo "build-python: $PY missing (apt-get install python3.11-minimal libpython3.11-stdlib)" >&2; exit 1; }
PKGS="python3.11-minimal libpython3.11-minimal libpython3.11-stdlib python3-pip python3-distutils"
for pkg in $PKGS; do
  dpkg -s "$pkg" >/dev/null 2>&1 || { echo "build-python: package $pkg missing (apt-get install $pkg)" >&2; exit 1; }
done
TMP="$OUT.tmp.$$"
rm -rf "$TMP"
R="$TMP/rootfs"
mkdir -p "$R"

# files of the packages, at their paths (symlinks kept as symlinks)
for pkg in $PKGS; do
  dpkg -L "$pkg"
done | sort -u | while IFS= read -r f; do
  case $f in /usr/share/doc/*|/usr/share/man/*|/usr/share/lintian/*|*/__pycache__/*|*/test/*|*/tests/*|*/EXTERNALLY-MANAGED) continue ;; esac
  if [ -L "$f" ] || [ -f "$f" ]; then
    mkdir -p "$R$(dirname "$f")"
    cp -a "$f" "$R$f"
  fi
done
ln -sf python3.11 "$R/usr/bin/python3"
ln -sf python3.11 "$R/usr/bin/python"

# shared libraries, dereferenced, at the path ldd reports (the loader's view)
{ ldd "$PY"; for so in /usr/lib/python3.11/lib-dynload/*.so; do ldd "$so"; done; } 2>/dev/null |
  awk '$2 == "=>" && $3 ~ /^\// {print $3} $1 ~ /^\// {print $1}' | sort -u |
  while IFS= read -r lib; do
    mkdir -p "$R$(dirname "$lib")"
    cp -pL "$lib" "$R$lib"
  done

cat > "$TMP/config.json" <<'JSON'
{
  "architecture": "amd64",
  "os": "linux",
  "config": {
    "Env": ["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
            "LANG=C.UTF-8", "PYTHONDONTWRITEBYTECODE=1"],
    "Cmd": ["python3"],
    "WorkingDir": "/"
  },
  "rootfs": {"type": "layers", "diff_ids": []},
  "history": [{"created_by": "images/build-python.sh (Debian python3.11 on busybox)"}]
}
JSON
case "$(uname -m)" in aarch64) sed -i 's/"amd64"/"arm64"/' "$TMP/config.json";; esac
echo busybox > "$TMP/base"
stat -c %Y "$PY" > "$TMP/source-date-epoch"
rm -rf "$OUT"
mv "$TMP" "$OUT"
echo "$OUT"
