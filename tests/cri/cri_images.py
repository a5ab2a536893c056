"""Images for tests/cri without a network: a busybox-static OCI image made here,
as an OCI archive (what `ctr image import` reads) and served by a read-only
registry on 127.0.0.1 (what the CRI's PullImage fetches from)."""

from __future__ import annotations

import gzip
import hashlib
import http.server
import io
import json
import os
import subprocess
import tarfile
import threading

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def _sha(b: bytes) -> str:
    return "sha256:" + hashlib.sha256(b).hexdigest()


def busybox_image(work: str, cmd: list[str]) -> dict:
    """A one-layer OCI image of busybox-static: {digest: bytes} blobs + the manifest digest."""
    rootfs = os.path.join(work, "busybox")
    if not os.path.isdir(os.path.join(rootfs, "rootfs")):
        subprocess.run(["sh", os.path.join(REPO, "images", "build-busybox.sh"), rootfs],
                       check=True, stdout=subprocess.DEVNULL)
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as tf:
        base = os.path.join(rootfs, "rootfs")
        for dirpath, dirnames, filenames in os.walk(base):
            dirnames.sort()
            for name in sorted(dirnames) + sorted(filenames):
                full = os.path.join(dirpath, name)
                ti = tf.gettarinfo(full, os.path.relpath(full, base))
                ti.uid = ti.gid = 0
                ti.uname = ti.gname = ""
                ti.mtime = 0
                if ti.isreg():
                    with open(full, "rb") as f:
                        tf.addfile(ti, f)
                else:
                    tf.addfile(ti)
    raw = buf.getvalue()
    layer = gzip.compress(raw, mtime=0)
    config = json.dumps({"architecture": "amd64", "os": "linux",
                         "config": {"Env": ["PATH=/usr/sbin:/usr/bin:/sbin:/bin"], "Cmd": cmd,
                                    "WorkingDir": "/"},
                         "rootfs": {"type": "layers", "diff_ids": [_sha(raw)]}}).encode()
    manifest = json.dumps({
        "schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "config": {"mediaType": "application/vnd.oci.image.config.v1+json",
                   "digest": _sha(config), "size": len(config)},
        "layers": [{"mediaType": "application/vnd.oci.image.layer.v1.tar+gzip",
                    "digest": _sha(layer), "size": len(layer)}]}).encode()
    return {"blobs": {_sha(b): b for b in (layer, config, manifest)}, "manifest": _sha(manifest)}


def oci_archive(path: str, image: dict, name: str) -> str:
    """An OCI image layout tarball (what `ctr image import` reads) naming the image ``name``."""
    mf = image["blobs"][image["manifest"]]
    index = json.dumps({"schemaVersion": 2, "manifests": [{
        "mediaType": "application/vnd.oci.image.manifest.v1+json", "digest": image["manifest"],
        "size": len(mf), "platform": {"architecture": "amd64", "os": "linux"},
        "annotations": {"io.containerd.image.name": name,
                        "org.opencontainers.image.ref.name": name}}]}).encode()
    with tarfile.open(path, "w") as tf:
        for arcname, data in [("oci-layout", b'{"imageLayoutVersion":"1.0.0"}'), ("index.json", index)] + \
                [("blobs/sha256/" + d.split(":")[1], b) for d, b in image["blobs"].items()]:
            ti = tarfile.TarInfo(arcname)
            ti.size = len(data)
            tf.addfile(ti, io.BytesIO(data))
    return path


class Registry:
    """Read-only distribution API on 127.0.0.1 for the images given: GET/HEAD of
    /v2/, /v2/<repo>/manifests/<tag|digest>, /v2/<repo>/blobs/<digest>."""

    def __init__(self, images: dict[str, dict]):
        self.images = images          # "repo:tag" -> busybox_image()
        reg = self

        class H(http.server.BaseHTTPRequestHandler):
            def log_message(self, *a):
                pass

            def reply(self, code, body=b"", ctype="application/json", digest=None):
                self.send_response(code)
                self.send_header("Content-Type", ctype)
                self.send_header("Content-Length", str(len(body)))
                if digest:
                    self.send_header("Docker-Content-Digest", digest)
                self.end_headers()
                if self.command != "HEAD":
                    self.wfile.write(body)

            def do_GET(self):
                p = self.path.split("?")[0]
                if p in ("/v2", "/v2/"):
                    return self.reply(200, b"{}")
                parts = p[len("/v2/"):].split("/")
                if len(parts) >= 3 and p.startswith("/v2/"):
                    repo, kind, ref = "/".join(parts[:-2]), parts[-2], parts[-1]
                    for key, img in reg.images.items():
                        r, tag = key.rsplit(":", 1)
                        if r != repo:
                            continue
                        if kind == "manifests" and ref in (tag, img["manifest"]):
                            d = img["manifest"]
                            return self.reply(200, img["blobs"][d],
                                              "application/vnd.oci.image.manifest.v1+json", d)
                        if kind == "blobs" and ref in img["blobs"]:
                            return self.reply(200, img["blobs"][ref], "application/octet-stream", ref)
                return self.reply(404, b'{"errors":[{"code":"NOT_FOUND"}]}')

            do_HEAD = do_GET

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), H)
        self.port = self.server.server_address[1]
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def close(self):
        self.server.shutdown()
        self.server.server_close()
