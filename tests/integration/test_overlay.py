"""overlayfs rootfs from store layers, mounted in a private mount namespace (root).

Each test writes overlay plans to a JSON file and runs a helper under
``unshare -m --propagation private``: it mounts every plan on its target,
runs a shell command that prints what the test checks, and exits; the mounts
die with the namespace, and the test checks the host mount table is unchanged.
"""

from __future__ import annotations

import gzip
import hashlib
import io
import json
import os
import shutil
import subprocess
import sys
import tarfile

import pytest

from pycontainer.image import overlay
from pycontainer.image.store import Store

pytestmark = [pytest.mark.root,
              pytest.mark.skipif(os.geteuid() != 0, reason="needs root (mount, mknod)"),
              pytest.mark.skipif(shutil.which("unshare") is None, reason="unshare(1) missing")]

HELPER = r"""
import json, os, subprocess, sys
from pycontainer.image.overlay import OverlayPlan
cfg = json.load(open(sys.argv[1]))
for i, (p, t) in enumerate(zip(cfg["plans"], cfg["targets"])):
    OverlayPlan.from_json(p).mount(t)
    os.environ[f"T{i}"] = t
os.environ["CWD_AFTER"] = os.getcwd()
sys.stdout.flush()
sys.exit(subprocess.run(["/bin/sh", "-c", cfg["cmd"]]).returncode)
"""


def sha(b: bytes) -> str:
    return "sha256:" + hashlib.sha256(b).hexdigest()


def _tar(entries) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as tf:
        for name, kind, data in entries:
            ti = tarfile.TarInfo(name)
            ti.mtime = 1_600_000_000
            if kind == "f":
                ti.size, ti.mode = len(data), 0o644
                tf.addfile(ti, io.BytesIO(data))
            elif kind == "d":
                ti.type, ti.mode = tarfile.DIRTYPE, 0o755
                tf.addfile(ti)
            elif kind == "l":
                ti.type, ti.linkname = tarfile.SYMTYPE, data
                tf.addfile(ti)
    return buf.getvalue()


def load_image(store: Store, name: str, layer_entries: list) -> None:
    """Load an OCI archive with one layer per item of ``layer_entries``."""
    raws = [_tar(e) for e in layer_entries]
    members, descs = {}, []
    for raw in raws:
        blob = gzip.compress(raw, mtime=0, compresslevel=1)
        members[f"blobs/sha256/{sha(blob)[7:]}"] = blob
        descs.append({"mediaType": "application/vnd.oci.image.layer.v1.tar+gzip",
                      "digest": sha(blob), "size": len(blob)})
    cfg = json.dumps({"architecture": "amd64", "os": "linux", "config": {},
                      "rootfs": {"type": "layers", "diff_ids": [sha(r) for r in raws]}}).encode()
    man = json.dumps({"schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
                      "config": {"mediaType": "application/vnd.oci.image.config.v1+json",
                                 "digest": sha(cfg), "size": len(cfg)}, "layers": descs}).encode()
    members[f"blobs/sha256/{sha(cfg)[7:]}"] = cfg
    members[f"blobs/sha256/{sha(man)[7:]}"] = man
    members["index.json"] = json.dumps({"schemaVersion": 2, "manifests": [
        {"mediaType": "application/vnd.oci.image.manifest.v1+json", "digest": sha(man),
         "size": len(man), "annotations": {"io.containerd.image.name": name}}]}).encode()
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tf:
        for n, data in members.items():
            ti = tarfile.TarInfo(n)
            ti.size = len(data)
            tf.addfile(ti, io.BytesIO(data))
    buf.seek(0)
    store.load(buf)


def host_mounts(under: str) -> list[str]:
    """Host mounts that mention ``under`` (other engineers' mounts come and go meanwhile)."""
    with open("/proc/self/mountinfo") as f:
        return sorted(line for line in f if under in line)


def run_in_mntns(tmp_path, plans, cmd: str) -> str:
    targets = []
    for i, _ in enumerate(plans):
        t = tmp_path / f"rootfs{i}"
        t.mkdir(exist_ok=True)
        targets.append(str(t))
    cfg = tmp_path / "plans.json"
    cfg.write_text(json.dumps({"plans": [p.to_json() for p in plans], "targets": targets,
                               "cmd": cmd}))
    before = host_mounts(str(tmp_path))
    proc = subprocess.run(["unshare", "-m", "--propagation", "private", sys.executable, "-c",
                           HELPER, str(cfg)], capture_output=True, text=True, timeout=120)
    assert host_mounts(str(tmp_path)) == before == [], "a mount leaked to the host namespace"
    assert proc.returncode == 0, proc.stderr
    return proc.stdout


def many_layers(n: int) -> list:
    layers = []
    for i in range(n):
        e = [(f"layer{i}", "f", str(i).encode()), ("common", "f", f"from {i}\n".encode())]
        if i == 5:
            e += [("gone", "f", b"x"), ("d", "d", None), ("d/old", "f", b"old")]
        if i == 10:
            e += [(".wh.gone", "f", b"")]
        if i == 20:
            e += [("d", "d", None), ("d/.wh..wh..opq", "f", b""), ("d/new", "f", b"new")]
        if i == 30:
            e += [("lnk", "l", "/etc")]
        if i == 31:
            e += [("lnk", "d", None), ("lnk/escaped", "f", b"no")]
        layers.append(e)
    return layers


def test_200_layers_mount_past_the_page_limit_and_two_containers_share_lowers(tmp_path):
    store = Store(str(tmp_path / "store"))
    load_image(store, "x.io/many:1", many_layers(200))
    img = store.resolve("x.io/many:1")
    assert len(img.layers) == 200 and len(set(img.layers)) == 200
    p1 = overlay.prepare(str(tmp_path / "c1"), img.layers)
    p2 = overlay.prepare(str(tmp_path / "c2"), store.resolve("x.io/many:1").layers)
    assert len(p1.options()) > os.sysconf("SC_PAGESIZE")          # absolute form cannot mount
    assert p1.needs_links() and len(p1.options(relative=True)) < 1000
    assert p1.lower == p2.lower                                    # the same lower dirs
    out = run_in_mntns(tmp_path, [p1, p2], r"""
        set -e
        cat $T0/common; cat $T0/layer0 $T0/layer199; echo
        ls $T0 | grep -c '^layer'
        [ -e $T0/gone ] && echo gone-visible || echo gone-hidden
        ls $T0/d
        [ -d $T0/lnk ] && [ ! -L $T0/lnk ] && cat $T0/lnk/escaped; echo
        echo changed > $T0/common; echo new > $T0/only-c1
        cat $T1/common; [ -e $T1/only-c1 ] && echo leak || echo isolated
        stat -c %i $T0/layer7 $T1/layer7 | uniq | wc -l
        echo "cwd=$CWD_AFTER"
        grep " $T0 " /proc/self/mountinfo | grep -o 'nodev' | head -1
    """)
    lines = out.split("\n")
    assert lines[0] == "from 199"
    assert lines[1] == "0199"
    assert lines[2] == "200"
    assert lines[3] == "gone-hidden"                 # whiteout (char 0:0) from layer 10
    assert lines[4] == "new"                         # opaque dir from layer 20 hides d/old
    assert lines[5] == "no"                          # layer 31's dir replaces layer 30's symlink
    assert lines[6] == "from 199" and lines[7] == "isolated"
    assert lines[8] == "1"                           # same lower inode through both mounts
    assert lines[9] == f"cwd={os.getcwd()}"          # mount() restored the cwd after chdir
    assert lines[10] == "nodev"
    assert not os.path.exists("/etc/escaped")
    # copy-up landed in c1's upper; the shared lower is untouched
    assert (tmp_path / "c1" / "upper" / "common").read_text() == "changed\n"
    assert (tmp_path / "c1" / "upper" / "only-c1").exists()
    assert os.listdir(tmp_path / "c2" / "upper") == []
    with open(os.path.join(img.layers[-1], "common")) as f:
        assert f.read() == "from 199\n"
    overlay.remove(str(tmp_path / "c1"))
    overlay.remove(str(tmp_path / "c2"))
    assert not (tmp_path / "c1").exists() and not (tmp_path / "c2").exists()
    overlay.remove(str(tmp_path / "c1"))                           # idempotent


def test_busybox_rootfs_runs_and_small_plans_use_absolute_paths(tmp_path):
    if not os.path.exists("/bin/busybox"):
        pytest.skip("busybox-static not installed")
    store = Store(str(tmp_path / "store"))
    img = store.resolve("busybox")
    plan = overlay.prepare(str(tmp_path / "c"), img.layers)
    assert not plan.needs_links() and plan.links is None
    plan2 = overlay.OverlayPlan.from_json(plan.to_json())
    assert plan2 == plan
    ro = overlay.prepare(str(tmp_path / "ro"), img.layers, readonly=True)
    out = run_in_mntns(tmp_path, [plan, ro], r"""
        chroot $T0 /bin/sh -c 'echo hello from busybox; echo x > /tmp/f; cat /tmp/f'
        touch $T1/nope 2>/dev/null && echo writable || echo read-only
    """)
    assert out.split("\n")[:3] == ["hello from busybox", "x", "read-only"]
    assert (tmp_path / "c" / "upper" / "tmp" / "f").read_text() == "x\n"


def test_plan_from_spec_annotation_and_bad_paths(tmp_path):
    plan = overlay.prepare(str(tmp_path / "c"), [str(tmp_path)])
    spec = {"annotations": {overlay.ANNOTATION: plan.to_json()}}
    assert overlay.OverlayPlan.from_spec(spec) == plan
    assert overlay.OverlayPlan.from_spec({}) is None
    from pycontainer.errors import ImageError
    with pytest.raises(ImageError, match="contains"):
        overlay.prepare(str(tmp_path / "c,x"), [str(tmp_path)])
    with pytest.raises(ImageError, match="at most 500"):
        overlay.prepare(str(tmp_path / "d"), [f"{tmp_path}/l{i}" for i in range(501)])
    with pytest.raises(ImageError, match="already exists"):
        overlay.prepare(str(tmp_path / "c"), [str(tmp_path)])


def test_python_image_shares_busybox_layer_and_runs(tmp_path):
    """The second built-in image: Debian's python3.11 as one layer on top of busybox."""
    import subprocess as sp
    if not os.path.exists("/bin/busybox") or not os.path.exists("/usr/bin/python3.11") or \
            sp.run(["dpkg", "-s", "libpython3.11-stdlib"], capture_output=True).returncode:
        pytest.skip("busybox-static / python3.11-minimal / libpython3.11-stdlib not installed")
    store = Store(str(tmp_path / "store"))
    py = store.resolve("localhost/python:3.11")
    bb = store.resolve("busybox")
    assert len(py.layers) == 2 and py.layers[0] == bb.layers[0]       # shared, unpacked once
    assert len(os.listdir(store.path("layers"))) == 2
    assert py.run_config["Cmd"] == ["python3"]
    plan = overlay.prepare(str(tmp_path / "c"), py.layers)
    out = run_in_mntns(tmp_path, [plan], r"""
        chroot $T0 /usr/bin/python3 -c 'import ssl, sqlite3, json, zlib; print("py", 6 * 7)'
        chroot $T0 /bin/sh -c 'echo sh ok'
    """)
    assert out.split("\n")[:2] == ["py 42", "sh ok"]
