#!/bin/bash
# .ci/install.sh [--tests] -- install pycontainer on a fresh Debian/Ubuntu machine (as root).
#
# Installs the Debian packages it needs (a C compiler and headers for the
# cffi extension, libcap headers for python-prctl, libseccomp2 for linux.seccomp, busybox-static for the
# default image, iproute2/nftables for networking, tini for `run --init`), makes a virtual
# environment in /opt/pycontainer with pycontainer installed from this
# checkout (editable, so the tests and the command run the same code), and
# links /usr/local/bin/pycontainer. With --tests it also installs pytest.
# Idempotent: run it again after a git pull.
set -euo pipefail
HERE=$(cd "$(dirname "$0")/.." && pwd)
VENV=${PYCONTAINER_VENV:-/opt/pycontainer}
[ "$(id -u)" = 0 ] || { echo "install.sh: run it as root (log in as root, or sudo -i first)" >&2; exit 1; }

pkgs=(gcc libc6-dev libcap-dev libseccomp2 python3 python3-venv python3-dev busybox-static iproute2 nftables procps kmod tini)
missing=()
for p in "${pkgs[@]}"; do dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "ok installed" || missing+=("$p"); done
if [ ${#missing[@]} -gt 0 ]; then
  echo "install.sh: apt-get install ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

# --tests: a headless browser for the trace's HTML timeline test (Debian's
# chromium; on Ubuntu it is a snap, and that test says it skipped without one).
if [ "${1:-}" = "--tests" ] && ! command -v chromium >/dev/null && ! command -v chromium-browser >/dev/null; then
  echo "install.sh: apt-get install chromium (tests)"
  { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends chromium >/dev/null 2>&1; } ||
    echo "install.sh: no chromium package here: tests/integration/test_trace_html.py will skip its browser test"
fi

# The interpreter is the distribution's python3, the one installed above with its
# venv module and headers (python3-dev), not whichever python3 comes first on PATH
# (a pyenv or /usr/local build): Debian's and Ubuntu's link libpython statically and
# are built with PGO and LTO, which starts ~1 ms faster and ~0.7 MiB smaller on every
# verb (bench/perf_results.md). PYTHON=... chooses another.
PY=${PYTHON:-/usr/bin/python3}
[ -x "$PY" ] || PY=python3
"$PY" -c 'import sys; assert sys.version_info >= (3, 11), sys.version' 2>/dev/null || {
  echo "install.sh: pycontainer needs Python >= 3.11 ($PY is $("$PY" -V 2>&1))" >&2; exit 1; }
# a venv made from another interpreter (an earlier install, another PYTHON) is made again
if [ -x "$VENV/bin/python" ] && [ "$("$VENV/bin/python" -c 'import os, sys; print(os.path.realpath(sys._base_executable))' 2>/dev/null)" != \
     "$("$PY" -c 'import os, sys; print(os.path.realpath(sys.executable))')" ]; then
  echo "install.sh: $VENV was made from another Python; making it again from $PY"
  rm -rf "$VENV"
fi
[ -x "$VENV/bin/python" ] || "$PY" -m venv "$VENV"
extra=""
[ "${1:-}" = "--tests" ] && extra="[test]"
"$VENV/bin/pip" install -q --upgrade pip >/dev/null 2>&1 || true
"$VENV/bin/pip" install -q -e "$HERE$extra"
# The command engines call on every container start. Python's own start-up
# (site, .pth files, the editable-install finder) costs ~20 ms, as much as a
# whole runc start: run isolated (-I: no PYTHON* variables, no user site) and
# without site (-S), with the two paths it needs put on sys.path directly.
SITE=$("$VENV/bin/python" -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')
PLAT=$("$VENV/bin/python" -c 'import sysconfig; print(sysconfig.get_paths()["platlib"])')
PATHS="\"$HERE\", \"$SITE\""
[ "$PLAT" = "$SITE" ] || PATHS="$PATHS, \"$PLAT\""
# The package's compiled code in one file, which the launcher's imports read
# (pycontainer/importcache.py says why); a module changed since is imported as usual.
"$VENV/bin/python" -m pycontainer.importcache
cat > "$VENV/bin/pycontainer-launch" <<PYEOF
#!$VENV/bin/python -IS
# pycontainer launcher written by .ci/install.sh (see there for why -IS).
import sys
sys.path[0:0] = [$PATHS]
from pycontainer import importcache
importcache.install()
from pycontainer.entry import main
main()
PYEOF
chmod 755 "$VENV/bin/pycontainer-launch"
# The command itself: csrc/launcher.c, which starts the cgroup-attach priming of
# create/run/exec before the interpreter starts, then execs the launcher above with
# "$VENV/bin/python -IS" (statically linked: no ld.so at every start). Where it cannot
# be built, the Python launcher is the command (the priming then starts in Python).
rm -f /usr/local/bin/pycontainer
if ! gcc -O2 -static -DPYTHON="\"$VENV/bin/python\"" -DSCRIPT="\"$VENV/bin/pycontainer-launch\"" \
        -o /usr/local/bin/pycontainer "$HERE/csrc/launcher.c" 2>/dev/null &&
   ! gcc -O2 -DPYTHON="\"$VENV/bin/python\"" -DSCRIPT="\"$VENV/bin/pycontainer-launch\"" \
        -o /usr/local/bin/pycontainer "$HERE/csrc/launcher.c"; then
    echo "install.sh: cannot build csrc/launcher.c; /usr/local/bin/pycontainer is the Python launcher" >&2
    cp "$VENV/bin/pycontainer-launch" /usr/local/bin/pycontainer
fi
chmod 755 /usr/local/bin/pycontainer
echo "install.sh: pycontainer $("$VENV/bin/pycontainer" --version | head -1 | awk '{print $3}') installed in $VENV; command: /usr/local/bin/pycontainer"
