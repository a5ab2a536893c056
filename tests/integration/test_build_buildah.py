"""Side by side with buildah: the same Containerfiles give the same file trees and config fields.

Debian's buildah (``buildah bud --layers``, runc, ``--network none``, its
own storage under a temporary root so nothing on the host is touched) and
``pycontainer build`` build each Containerfile from the same busybox image
(ours, loaded into buildah with ``save`` + ``buildah pull oci-archive:``).
Both results are flattened from their layer blobs with the image layer
unpacker (whiteouts applied as deletions) and compared path by path: type,
mode, owner, link target, content; and the config fields Env, Cmd,
Entrypoint, WorkingDir, User, ExposedPorts, Volumes, Labels (minus
buildah's ``io.buildah.version``), StopSignal. Skipped with the reason when
buildah cannot be installed.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import stat
import subprocess

import pytest

from pycontainer.image import layers
from test_build import ctx, image_root, inspect, pc  # noqa: F401 - fixtures shared with it

pytestmark = pytest.mark.root

BASE = "docker.io/library/busybox:latest"
# paths a RUN under runc leaves as mount points in buildah's layers (buildah's own doing)
BUILDAH_ONLY = {"run", "run/.containerenv"}

FILES = {
    "basic": f"""FROM {BASE}
ENV APP=/app GREETING="hi there"
LABEL a=b "c d"=e
WORKDIR /app
COPY file.txt .
COPY dir /app/dir/
COPY --chown=1000:1000 --chmod=640 file.txt /owned.txt
COPY *.md /docs/
RUN echo "$GREETING" > /app/out && mkdir -p /var/x && ln -s /app/out /link && \\
    ln /app/out /app/hard
EXPOSE 8080 53/udp
VOLUME /data
USER 1000
STOPSIGNAL SIGTERM
ENTRYPOINT ["/bin/sh", "-c"]
CMD ["cat /app/out"]
""",
    "deletes": f"""FROM {BASE}
RUN mkdir -p /tree/a/b && echo 1 > /tree/a/b/f && echo 2 > /tree/keep
RUN rm -rf /tree/a && rm /bin/ls && mkdir /tree/a && echo new > /tree/a/n
RUN chmod 4755 /tree/keep && chown 12:34 /tree/keep
CMD sh
""",
}


def _ensure_buildah():
    if shutil.which("buildah") is None and os.geteuid() == 0:
        subprocess.run(["apt-get", "-o", "DPkg::Lock::Timeout=300", "install", "-y", "-qq",
                        "buildah"], capture_output=True, timeout=600)
    if shutil.which("buildah") is None:
        pytest.skip("buildah is not installed and could not be installed (apt-get install "
                    "buildah)")


@pytest.fixture(scope="module")
def buildah(tmp_path_factory):
    _ensure_buildah()
    work = tmp_path_factory.mktemp("buildah")
    base = ["buildah", "--root", str(work / "root"), "--runroot", str(work / "runroot"),
            "--storage-driver", "overlay"]

    # buildah prefers crun when it is installed, and crun refuses this hybrid cgroup host:
    # its RUN steps go through runc, as in the numbers of bench/build.py
    env = dict(os.environ, BUILDAH_RUNTIME=shutil.which("runc") or "runc")

    def call(*args, check=True, **kw):
        p = subprocess.run(base + list(args), capture_output=True, text=True, timeout=300,
                           env=env, **kw)
        if check and p.returncode != 0:
            pytest.skip(f"buildah {args[0]} does not work here: {p.stderr.strip()[-300:]}")
        return p
    call.work = work
    yield call
    subprocess.run(base + ["rmi", "--all", "--force"], capture_output=True, timeout=120)
    subprocess.run(["umount", "-R", str(work / "root" / "overlay")], capture_output=True)
    shutil.rmtree(work, ignore_errors=True)


def _flatten(blobs: list[str], dest: str) -> None:
    os.makedirs(dest)
    for b in blobs:
        layers.apply_layer(b, dest, whiteouts="delete", devices="skip")


def _tree(root: str) -> dict:
    out = {}
    for dirpath, dirnames, filenames in os.walk(root):
        for n in dirnames + filenames:
            p = os.path.join(dirpath, n)
            st = os.lstat(p)
            rel = os.path.relpath(p, root)
            entry = [stat.S_IFMT(st.st_mode), oct(stat.S_IMODE(st.st_mode)), st.st_uid, st.st_gid]
            if stat.S_ISLNK(st.st_mode):
                entry.append(os.readlink(p))
            elif stat.S_ISREG(st.st_mode):
                entry.append(hashlib.sha256(open(p, "rb").read()).hexdigest())
            out[rel] = entry
    return out


def _fields(cfg: dict) -> dict:
    c = dict(cfg.get("config") or cfg.get("Config") or {})
    labels = {k: v for k, v in (c.get("Labels") or {}).items() if k != "io.buildah.version"}
    return {"Env": c.get("Env"), "Cmd": c.get("Cmd"), "Entrypoint": c.get("Entrypoint"),
            "WorkingDir": c.get("WorkingDir") or "", "User": c.get("User") or "",
            "ExposedPorts": c.get("ExposedPorts") or {}, "Volumes": c.get("Volumes") or {},
            "Labels": labels, "StopSignal": c.get("StopSignal") or ""}


def _oci_image(layout: str) -> tuple[dict, list[str]]:
    def blob(d):
        return os.path.join(layout, "blobs", "sha256", d[7:])
    index = json.load(open(os.path.join(layout, "index.json")))
    m = json.load(open(blob(index["manifests"][0]["digest"])))
    return json.load(open(blob(m["config"]["digest"]))), [blob(x["digest"]) for x in m["layers"]]


@pytest.mark.parametrize("name", sorted(FILES))
def test_same_tree_and_config_as_buildah(pc, buildah, tmp_path, name):
    c = ctx(tmp_path, {"Containerfile": FILES[name], "file.txt": "F\n", "dir/a": "A\n",
                       "dir/sub/b": "B\n", "x.md": "x", "y.md": "y"})
    os.chmod(os.path.join(c, "dir", "a"), 0o751)
    p = pc("build", "--network", "none", "-t", f"cmp-{name}", c)   # also makes busybox
    assert p.returncode == 0, p.stderr
    archive = tmp_path / "busybox.tar"
    assert pc("save", "-o", str(archive), BASE).returncode == 0
    buildah("pull", "-q", f"oci-archive:{archive}")
    buildah("bud", "--layers", "--network", "none", "-t", f"cmp-{name}", c)
    layout = tmp_path / "buildah-oci"
    buildah("push", f"cmp-{name}", f"oci:{layout}")
    theirs_cfg, theirs_blobs = _oci_image(str(layout))

    mine = inspect(pc, f"cmp-{name}")
    mine_blobs = [os.path.join(pc.image_root, "blobs", "sha256", x["digest"][7:])
                  for x in mine["Layers"]]
    _flatten(theirs_blobs, str(tmp_path / "theirs"))
    _flatten(mine_blobs, str(tmp_path / "mine"))
    t, m = _tree(str(tmp_path / "theirs")), _tree(str(tmp_path / "mine"))
    for k in BUILDAH_ONLY:
        if k not in m:
            t.pop(k, None)
    assert len(m) > 250 and "bin/sh" in m                # the whole busybox tree, compared
    only_t = sorted(set(t) - set(m))
    only_m = sorted(set(m) - set(t))
    differ = sorted(k for k in set(t) & set(m) if t[k] != m[k])
    assert (only_t, only_m, [(k, t[k], m[k]) for k in differ]) == ([], [], [])
    assert _fields({"config": mine["Config"]}) == _fields(theirs_cfg)
    assert _fields(theirs_cfg)["Cmd"]                         # something real was compared
