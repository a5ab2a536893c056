#!/bin/bash
# bench/gpu.sh -- the GPU proof of issue 16, on a host with an NVIDIA GPU and its driver.
#
#   1. installs pycontainer if needed (.ci/install.sh; skipped when $PYC_PY, or
#      /opt/pycontainer, already imports this checkout's pycontainer);
#   2. `pycontainer cdi generate --vendor nvidia` into a scratch spec dir, and
#      `cdi list` must show nvidia.com/gpu=0, =<UUID> and =all;
#   3. `pycontainer run --rm --gpus all` on the built-in busybox image: the
#      /dev/nvidia* nodes and driver libraries are there, and `nvidia-smi -L`
#      (bind-mounted by the spec) lists the same GPUs as on the host. busybox
#      has no C library, so the host's is bind-mounted read-only (-v) for
#      nvidia-smi; the driver's libraries come from the spec, found through
#      the ld.so.cache its ldconfig hook wrote into the container;
#   4. a container without --gpus has no /dev/nvidia0, and one it mknods
#      itself (CAP_MKNOD is a default capability) cannot be opened: EPERM
#      from the device cgroup (v1 files, or the v2 eBPF program);
#   5. times `nvidia-smi -L` on the host and `run --rm --gpus all ... nvidia-smi -L`
#      (median of $RUNS), and writes everything to $OUT/gpu.txt.
# Needs root; no network once installed. A few minutes at most.
set -euo pipefail
cd "$(dirname "$0")/.."
REPO=$PWD
RUNS=${RUNS:-5}
OUT=${OUT:-/tmp/pycontainer-gpu.$(date +%Y%m%d-%H%M%S)}
mkdir -p "$OUT"
exec > >(tee "$OUT/gpu.txt") 2>&1
fail() { echo "gpu.sh: FAIL: $*"; exit 1; }
ok() { echo "gpu.sh: ok: $*"; }
[ "$(id -u)" = 0 ] || fail "run as root"

# --- 0. the host has a GPU ---------------------------------------------------------
PATH=$PATH:/usr/local/nvidia/bin
SMI=$(command -v nvidia-smi) || fail "no nvidia-smi on PATH or in /usr/local/nvidia/bin"
[ -c /dev/nvidia0 ] || fail "/dev/nvidia0 missing: no NVIDIA GPU/driver here"
HOST_L=$("$SMI" -L)
echo "host: $(uname -r), cgroup fs $(stat -fc %T /sys/fs/cgroup)"; echo "$HOST_L"

# --- 1. pycontainer ---------------------------------------------------------------
PY=${PYC_PY:-/opt/pycontainer/bin/python}
if ! [ -x "$PY" ] || ! (cd "$REPO" && "$PY" -c 'import pycontainer._native, click, prctl') 2>/dev/null; then
  echo "gpu.sh: installing pycontainer (.ci/install.sh)"
  bash .ci/install.sh >/dev/null
  PY=/opt/pycontainer/bin/python
fi
pyc() { (cd "$REPO" && "$PY" -m pycontainer --root "$OUT/state" "$@"); }

# --- 2. a spec from the host ------------------------------------------------------
SPECS="$OUT/cdi"
pyc cdi generate --vendor nvidia --output "$SPECS/nvidia.yaml"
export PYCONTAINER_CDI_SPEC_DIRS=$SPECS
pyc cdi list | tee "$OUT/cdi-list.txt"
grep -qx 'nvidia.com/gpu=0' "$OUT/cdi-list.txt" || fail "cdi list lacks nvidia.com/gpu=0"
grep -qx 'nvidia.com/gpu=all' "$OUT/cdi-list.txt" || fail "cdi list lacks nvidia.com/gpu=all"
grep -q '^nvidia.com/gpu=GPU-' "$OUT/cdi-list.txt" || fail "cdi list has no UUID names"
pyc info | sed 's/^/info: /'
ok "cdi generate + list"

# The host's C library for nvidia-smi inside busybox: the dirs its loader and libc live in.
LIBC_MOUNTS=()
for d in $(ldd "$SMI" | awk '/=>/ {print $3} /ld-linux/ {print $1}' | xargs -r -n1 dirname | sort -u); do
  real=$(readlink -f "$d")
  LIBC_MOUNTS+=(-v "$real:$real:ro")
  [ "$real" = "$d" ] || LIBC_MOUNTS+=(-v "$d:$d:ro")
done

# --- 3. --gpus all ----------------------------------------------------------------
IN=$(pyc run --rm --net none --gpus all "${LIBC_MOUNTS[@]}" busybox sh -c '
  ls /dev/nvidia* | tr "\n" " "; echo
  ls /dev/nvidia0 /dev/nvidiactl /dev/nvidia-uvm >/dev/null && echo nodes-ok
  for f in $(cat /proc/mounts | awk "{print \$2}" | grep -E "libcuda\.so|libnvidia-ml\.so"); do echo lib $f; done
  nvidia-smi -L')
echo "$IN"
echo "$IN" | grep -q nodes-ok || fail "device nodes missing in the container"
echo "$IN" | grep -q '^lib .*libcuda\.so' || fail "libcuda not mounted"
[ "$(echo "$IN" | grep '^GPU ')" = "$HOST_L" ] || fail "nvidia-smi -L in the container differs from the host's"
ok "--gpus all: nodes, libraries, nvidia-smi -L"
ONE=$(pyc run --rm --net none --gpus 1 "${LIBC_MOUNTS[@]}" busybox sh -c 'ls /dev/nvidia[0-9]* | wc -l')
[ "$ONE" = 1 ] || fail "--gpus 1 gave $ONE GPU nodes"
ok "--gpus 1: one GPU node"

# --- 4. no --gpus: no access ------------------------------------------------------
NO=$(pyc run --rm --net none busybox sh -c '
  test -e /dev/nvidia0 && echo visible || echo absent
  mknod /dev/nv c 195 0 && (: < /dev/nv) 2>&1 | grep -q "not permitted" && echo open-eperm')
echo "$NO"
[ "$NO" = "$(printf 'absent\nopen-eperm')" ] || fail "a container without --gpus could reach /dev/nvidia0"
ok "without --gpus: /dev/nvidia0 absent, a mknod'ed one refused (EPERM)"

# --- 5. timing ---------------------------------------------------------------------
ms() { local t0 t1; t0=$(date +%s%N); "$@" >/dev/null; t1=$(date +%s%N); echo $(( (t1 - t0) / 1000000 )); }
median() { sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
H=$(for _ in $(seq "$RUNS"); do ms "$SMI" -L; done | median)
C=$(for _ in $(seq "$RUNS"); do ms pyc run --rm --net none --gpus all "${LIBC_MOUNTS[@]}" busybox nvidia-smi -L; done | median)
echo "timing (median of $RUNS): host nvidia-smi -L ${H} ms; pycontainer run --rm --gpus all ... nvidia-smi -L ${C} ms"
ok "all checks passed; results in $OUT/gpu.txt"
