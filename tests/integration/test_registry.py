"""Pulls over the distribution API, from registries on 127.0.0.1 only.

Two registries:

* a real one: Debian's docker-registry (distribution 2.8), started here as
  tests/clients/scripts/registry.sh does, with the built-in busybox image pushed
  by skopeo as an OCI manifest, as a Docker schema2 manifest, and under an
  OCI index with two platforms (skipped with the reason if the packages are
  missing and cannot be installed);
* a fake one (http.server in a thread) for what a real registry will not do
  on demand: bearer-token auth, a redirect to a "CDN", a corrupt blob, a
  lying Docker-Content-Digest, a registry that never answers.
"""

from __future__ import annotations

import gzip
import hashlib
import http.server
import io
import json
import os
import shutil
import socket
import subprocess
import tarfile
import threading
import time
import urllib.request

import pytest

from pycontainer.errors import ImageError
from pycontainer.image import reference, registry
from pycontainer.image.store import Store

HERE_ARCH = reference.host_platform()["architecture"]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def sha(b: bytes) -> str:
    return "sha256:" + hashlib.sha256(b).hexdigest()


def consistent(store: Store) -> None:
    assert os.listdir(store.path("ingest")) == []
    assert not [n for n in os.listdir(store.path("layers")) if n.startswith(".tmp-")]


# --- the real registry ----------------------------------------------------------------

def _ensure_packages():
    need = [p for c, p in (("docker-registry", "docker-registry"), ("skopeo", "skopeo"))
            if shutil.which(c) is None]
    if need and os.geteuid() == 0:
        subprocess.run(["apt-get", "-o", "DPkg::Lock::Timeout=300", "install", "-y", "-qq", *need],
                       capture_output=True, timeout=600)
    missing = [c for c in ("docker-registry", "skopeo") if shutil.which(c) is None]
    if missing:
        pytest.skip(f"{', '.join(missing)} not installed and could not be installed "
                    "(apt-get install docker-registry skopeo)")
    if not os.path.exists("/bin/busybox"):
        pytest.skip("busybox-static not installed")


@pytest.fixture(scope="module")
def real_registry(tmp_path_factory):
    _ensure_packages()
    work = tmp_path_factory.mktemp("registry")
    port = free_port()
    host = f"127.0.0.1:{port}"
    (work / "config.yml").write_text(f"""version: 0.1
log:
  level: error
storage:
  filesystem:
    rootdirectory: {work}/data
  delete:
    enabled: true
http:
  addr: {host}
""")
    log = open(work / "registry.log", "w")
    proc = subprocess.Popen(["docker-registry", "serve", str(work / "config.yml")],
                            stdout=log, stderr=subprocess.STDOUT)
    try:
        for _ in range(100):
            try:
                urllib.request.urlopen(f"http://{host}/v2/", timeout=1).close()
                break
            except OSError:
                time.sleep(0.1)
        else:
            pytest.fail("docker-registry did not start: " + (work / "registry.log").read_text())
        # the built-in busybox, saved as an OCI archive, pushed three ways
        src = Store(str(work / "src"))
        img = src.resolve("busybox")
        src.save(["busybox"], str(work / "bb.tar"))
        repo = f"{host}/pyc/busybox"
        for fmt, tag in (("oci", "oci"), ("v2s2", "v2s2")):
            subprocess.run(["skopeo", "copy", "-q", "--dest-tls-verify=false", "--format", fmt,
                            f"oci-archive:{work}/bb.tar:latest", f"docker://{repo}:{tag}"],
                           check=True, capture_output=True, timeout=120)
        man = {}
        for tag, mt in (("oci", registry.MT_OCI_MANIFEST), ("v2s2", registry.MT_DOCKER_MANIFEST)):
            req = urllib.request.Request(f"http://{host}/v2/pyc/busybox/manifests/{tag}",
                                         headers={"Accept": mt})
            with urllib.request.urlopen(req, timeout=10) as r:
                data = r.read()
            man[tag] = (sha(data), len(data), mt)
        other = "arm64" if HERE_ARCH != "arm64" else "amd64"
        index = {"schemaVersion": 2, "mediaType": registry.MT_OCI_INDEX, "manifests": [
            {"mediaType": man["v2s2"][2], "digest": man["v2s2"][0], "size": man["v2s2"][1],
             "platform": {"os": "linux", "architecture": other}},
            {"mediaType": man["oci"][2], "digest": man["oci"][0], "size": man["oci"][1],
             "platform": {"os": "linux", "architecture": HERE_ARCH}}]}
        req = urllib.request.Request(f"http://{host}/v2/pyc/busybox/manifests/index",
                                     data=json.dumps(index).encode(), method="PUT",
                                     headers={"Content-Type": registry.MT_OCI_INDEX})
        urllib.request.urlopen(req, timeout=10).close()
        yield {"host": host, "repo": repo, "man": man, "image": img, "other": other}
    finally:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        log.close()


@pytest.mark.parametrize("tag,mt", [("oci", registry.MT_OCI_MANIFEST),
                                    ("v2s2", registry.MT_DOCKER_MANIFEST)])
def test_pull_oci_and_docker_schema2(real_registry, tmp_path, tag, mt):
    store = Store(str(tmp_path / "s"))
    img = store.pull(f"{real_registry['repo']}:{tag}")
    assert img.digest == real_registry["man"][tag][0]
    assert img.manifest.get("mediaType") == mt
    # same rootfs as the image that was pushed: diff_ids survive recompression
    assert img.config["rootfs"]["diff_ids"] == real_registry["image"].config["rootfs"]["diff_ids"]
    assert img.layers[0].endswith(real_registry["image"].config["rootfs"]["diff_ids"][0][7:])
    assert os.path.isfile(os.path.join(img.layers[0], "bin", "busybox"))
    assert img.run_config["Cmd"] == ["sh"]
    assert store.list()[0]["names"] == [f"{real_registry['repo']}:{tag}"]
    consistent(store)


def test_pull_index_picks_platform(real_registry, tmp_path):
    store = Store(str(tmp_path / "s"))
    img = store.pull(f"{real_registry['repo']}:index")
    assert img.digest == real_registry["man"]["oci"][0]
    other = store.pull(f"{real_registry['repo']}:index",
                       platform={"os": "linux", "architecture": real_registry["other"]})
    assert other.digest == real_registry["man"]["v2s2"][0]
    with pytest.raises(ImageError, match=r"no image for platform linux/riscv64 \(available: "):
        store.pull(f"{real_registry['repo']}:index",
                   platform={"os": "linux", "architecture": "riscv64"})


def test_pull_by_digest_and_layer_reuse(real_registry, tmp_path):
    store = Store(str(tmp_path / "s"))
    store.pull(f"{real_registry['repo']}:oci")
    msgs = []

    class P(registry.Progress):
        def done(self, digest, msg):
            msgs.append(msg)
    d = real_registry["man"]["oci"][0]
    img = store.pull(f"{real_registry['repo']}@{d}", progress=P())
    assert img.digest == d and set(msgs) == {"Already exists"}


@pytest.mark.root
def test_run_of_a_missing_image_says_it_pulls_as_docker(real_registry, tmp_path):
    # run pulled a missing image without a word (minutes, for a large one): docker's
    # "Unable to find image ... locally" and the layers' progress go to stderr, the
    # program's output alone to stdout; -q keeps stderr quiet
    import sys
    env = dict(os.environ, PYCONTAINER_IMAGE_ROOT=str(tmp_path / "s"))
    ref = f"{real_registry['repo']}:oci"
    for quiet in ((), ("-q",)):
        p = subprocess.run([sys.executable, "-m", "pycontainer", "--root", str(tmp_path / "state"),
                            "run", "--rm", "--net", "none", *quiet, ref, "echo", "ran"],
                           capture_output=True, text=True, env=env, timeout=120)
        assert p.returncode == 0 and p.stdout == "ran\n", p.stderr
        if quiet:
            assert p.stderr == ""
        else:
            assert f"Unable to find image '{ref}' locally" in p.stderr and "Digest: sha256:" in p.stderr
        shutil.rmtree(tmp_path / "s")                # missing again for the second round


def test_unknown_repo_tag_and_bad_reference(real_registry, tmp_path):
    store = Store(str(tmp_path / "s"))
    with pytest.raises(ImageError, match="repository 'pyc/nope' not found|not found"):
        store.pull(f"{real_registry['host']}/pyc/nope:latest")
    with pytest.raises(ImageError, match="manifest 'nosuchtag' not found in repository"):
        store.pull(f"{real_registry['repo']}:nosuchtag")
    with pytest.raises(ImageError, match="invalid image reference"):
        store.pull(f"{real_registry['host']}/Bad/Name")
    consistent(store)
    assert store.list() == []


def test_https_to_plain_registry_hints_insecure(real_registry, tmp_path):
    store = Store(str(tmp_path / "s"))
    with pytest.raises(ImageError, match="insecure|cannot reach"):
        store.pull(f"{real_registry['repo']}:oci", insecure=False, timeout=5)


# --- the fake registry -------------------------------------------------------------------

class Fake:
    """A registry in a thread: one repo 'r/img', bearer auth, knobs for faults."""

    def __init__(self, padding: int = 0):
        layer_raw = io.BytesIO()
        with tarfile.open(fileobj=layer_raw, mode="w") as tf:
            ti = tarfile.TarInfo("hello.txt")
            data = b"hello from the fake registry\n"
            ti.size = len(data)
            tf.addfile(ti, io.BytesIO(data))
            if padding:
                ti = tarfile.TarInfo("random.bin")
                ti.size = padding
                tf.addfile(ti, io.BytesIO(os.urandom(padding)))
        raw = layer_raw.getvalue()
        self.layer = gzip.compress(raw, mtime=0)
        self.config = json.dumps({"architecture": HERE_ARCH, "os": "linux",
                                  "config": {"Cmd": ["cat", "/hello.txt"]},
                                  "rootfs": {"type": "layers", "diff_ids": [sha(raw)]}}).encode()
        self.manifest = json.dumps({
            "schemaVersion": 2, "mediaType": registry.MT_DOCKER_MANIFEST,
            "config": {"mediaType": "application/vnd.docker.container.image.v1+json",
                       "digest": sha(self.config), "size": len(self.config)},
            "layers": [{"mediaType": "application/vnd.docker.image.rootfs.diff.tar.gzip",
                        "digest": sha(self.layer), "size": len(self.layer)}]}).encode()
        self.blobs = {sha(self.layer): self.layer, sha(self.config): self.config}
        self.corrupt_layer = False
        self.lie_digest = False
        self.cdn_auth_seen: list = []
        self.token_requests: list = []
        self.basic: str | None = None        # "user:password": a Basic login instead of tokens
        fake = self

        class H(http.server.BaseHTTPRequestHandler):
            def log_message(self, *a):
                pass

            def send(self, code, body=b"", headers=()):
                self.send_response(code)
                for k, v in headers:
                    self.send_header(k, v)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def do_GET(self):
                base = f"http://127.0.0.1:{fake.port}"
                if self.path.startswith("/token"):
                    fake.token_requests.append(self.path)
                    return self.send(200, b'{"token": "tok123"}')
                if self.path.startswith("/cdn/"):
                    fake.cdn_auth_seen.append(self.headers.get("Authorization"))
                    body = fake.blobs[self.path[5:]]
                    if fake.corrupt_layer and self.path[5:] == sha(fake.layer):
                        body = body[:-4] + b"XXXX"
                    return self.send(200, body)
                if fake.basic is not None:
                    import base64
                    if self.headers.get("Authorization") != \
                            "Basic " + base64.b64encode(fake.basic.encode()).decode():
                        return self.send(401, b'{"errors":[{"code":"UNAUTHORIZED"}]}',
                                         [("WWW-Authenticate", 'Basic realm="fake"')])
                elif self.headers.get("Authorization") != "Bearer tok123":
                    return self.send(401, b'{"errors":[{"code":"UNAUTHORIZED"}]}', [
                        ("WWW-Authenticate",
                         f'Bearer realm="{base}/token",service="fake",scope="repository:r/img:pull"')])
                if self.path == "/v2/":
                    return self.send(200, b"{}")
                if self.path == "/v2/r/img/manifests/v1":
                    dg = sha(b"lie") if fake.lie_digest else sha(fake.manifest)
                    return self.send(200, fake.manifest, [
                        ("Content-Type", registry.MT_DOCKER_MANIFEST),
                        ("Docker-Content-Digest", dg)])
                if self.path.startswith("/v2/r/img/blobs/"):
                    d = self.path.rsplit("/", 1)[1]
                    if d in fake.blobs:
                        return self.send(307, b"", [("Location", f"{base}/cdn/{d}")])
                return self.send(404, b'{"errors":[{"code":"MANIFEST_UNKNOWN"}]}')

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), H)
        self.port = self.server.server_address[1]
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def close(self):
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def fake():
    f = Fake()
    yield f
    f.close()


def test_bearer_token_auth_and_redirect_without_credentials(fake, tmp_path):
    store = Store(str(tmp_path / "s"))
    img = store.pull(f"127.0.0.1:{fake.port}/r/img:v1")
    assert img.digest == sha(fake.manifest)
    with open(os.path.join(img.layers[0], "hello.txt")) as f:
        assert f.read() == "hello from the fake registry\n"
    assert fake.token_requests and "scope=repository%3Ar%2Fimg%3Apull" in fake.token_requests[0]
    assert "service=fake" in fake.token_requests[0]
    assert fake.cdn_auth_seen and set(fake.cdn_auth_seen) == {None}   # token stays home


def test_basic_login_from_creds_or_an_auth_file_and_one_line_without(fake, tmp_path):
    """``pull --creds``/``--authfile``/``$REGISTRY_AUTH_FILE`` (podman's), docker's config.json;
    without credentials a one-line error and an empty store."""
    import base64
    import sys
    fake.basic = "u:s3cret"
    ref = f"127.0.0.1:{fake.port}/r/img:v1"
    home = tmp_path / "home"
    (home / ".docker").mkdir(parents=True)
    env = {k: v for k, v in os.environ.items() if k not in ("REGISTRY_AUTH_FILE", "XDG_RUNTIME_DIR")}
    env["HOME"] = str(home)

    def pull(n, *args, **extra):
        root = tmp_path / f"s{n}"
        p = subprocess.run([sys.executable, "-m", "pycontainer", "pull", "-q", "--image-root",
                            str(root), *args, ref], capture_output=True, text=True,
                           env={**env, **extra}, timeout=60)
        return p, Store(str(root))

    p, st = pull(0)
    assert p.returncode != 0 and len(p.stderr.strip().splitlines()) == 1, p.stderr
    assert "requires a login" in p.stderr and st.list() == []
    p, st = pull(1, "--creds", "u")
    assert p.returncode != 0 and "USER:PASSWORD" in p.stderr and st.list() == []
    p, st = pull(2, "--creds", "u:s3cret")
    assert p.returncode == 0, p.stderr
    assert len(st.list()) == 1
    entry = {"auths": {f"127.0.0.1:{fake.port}": {"auth": base64.b64encode(b"u:s3cret").decode()}}}
    (tmp_path / "auth.json").write_text(json.dumps(entry))
    p, st = pull(3, REGISTRY_AUTH_FILE=str(tmp_path / "auth.json"))
    assert p.returncode == 0 and len(st.list()) == 1, p.stderr
    p, st = pull(4, "--authfile", str(tmp_path / "auth.json"))
    assert p.returncode == 0 and len(st.list()) == 1, p.stderr
    (home / ".docker" / "config.json").write_text(json.dumps(entry))          # docker login's
    p, st = pull(5)
    assert p.returncode == 0 and len(st.list()) == 1, p.stderr


def test_login_checks_keeps_and_logout_forgets_the_credentials(fake, tmp_path):
    """docker login: the registry checks the user and password first; a wrong one is one
    line and writes nothing; the kept entry is what pull then uses; logout takes it out."""
    import sys
    fake.basic = "u:s3cret"
    host = f"127.0.0.1:{fake.port}"
    home = tmp_path / "home"
    home.mkdir()
    env = {k: v for k, v in os.environ.items() if k not in ("REGISTRY_AUTH_FILE", "XDG_RUNTIME_DIR")}
    env["HOME"] = str(home)
    cfg = home / ".docker" / "config.json"

    def pc(*args, stdin=""):
        return subprocess.run([sys.executable, "-m", "pycontainer", *args], input=stdin,
                              capture_output=True, text=True, env=env, timeout=60)

    p = pc("login", "-u", "u", "--password-stdin", host, stdin="wrong\n")
    assert p.returncode != 0 and len(p.stderr.strip().splitlines()) == 1, p.stderr
    assert "invalid username or password" in p.stderr and not cfg.exists()
    p = pc("login", "-u", "u", host)                       # stdin is not a terminal: no prompt
    assert p.returncode != 0 and "--password-stdin" in p.stderr and not cfg.exists()
    cfg.parent.mkdir()
    cfg.write_text(json.dumps({"credsStore": "keep-me", "auths": {"other:5000": {"auth": "eDp5"}}}))
    p = pc("login", "-u", "u", "--password-stdin", f"http://{host}/v2/", stdin="s3cret\n")
    assert p.returncode == 0 and p.stdout.startswith("Login Succeeded!"), p.stderr
    doc = json.loads(cfg.read_text())
    assert doc["credsStore"] == "keep-me" and set(doc["auths"]) == {"other:5000", host}
    assert os.stat(cfg).st_mode & 0o777 == 0o600
    p = pc("pull", "-q", "--image-root", str(tmp_path / "s"), f"{host}/r/img:v1")
    assert p.returncode == 0, p.stderr
    assert Store(str(tmp_path / "s")).list()
    p = pc("logout", host)
    assert p.returncode == 0 and p.stdout.strip() == f"Removed login credentials for {host}"
    assert set(json.loads(cfg.read_text())["auths"]) == {"other:5000"}
    assert pc("logout", host).stdout.strip() == f"Not logged in to {host}"
    # podman's file when asked for (--authfile), bearer registries too (a token with them)
    fake.basic = None
    p = pc("login", "-u", "u", "-p", "pw", "--authfile", str(tmp_path / "auth.json"), host)
    assert p.returncode == 0, p.stderr
    assert host in json.loads((tmp_path / "auth.json").read_text())["auths"]
    assert fake.token_requests and "scope=" not in fake.token_requests[-1]


def test_corrupt_blob_refused_store_consistent(fake, tmp_path):
    fake.corrupt_layer = True
    store = Store(str(tmp_path / "s"))
    with pytest.raises(ImageError, match="digest mismatch"):
        store.pull(f"127.0.0.1:{fake.port}/r/img:v1")
    consistent(store)
    assert not store.has_blob(sha(fake.layer)) and store.list() == []


def test_lying_content_digest_refused(fake, tmp_path):
    fake.lie_digest = True
    store = Store(str(tmp_path / "s"))
    with pytest.raises(ImageError, match="Docker-Content-Digest"):
        store.pull(f"127.0.0.1:{fake.port}/r/img:v1")
    assert store.list() == []


def test_hanging_registry_times_out(tmp_path):
    srv = socket.socket()
    srv.bind(("127.0.0.1", 0))
    srv.listen(8)                      # accepts connections (kernel backlog), never answers
    try:
        store = Store(str(tmp_path / "s"))
        t0 = time.monotonic()
        with pytest.raises(ImageError, match="no answer within 1s"):
            store.pull(f"127.0.0.1:{srv.getsockname()[1]}/r/img:v1", timeout=1)
        assert time.monotonic() - t0 < 10
    finally:
        srv.close()


def test_nothing_listening(tmp_path):
    store = Store(str(tmp_path / "s"))
    with pytest.raises(ImageError, match="cannot reach registry"):
        store.pull(f"127.0.0.1:{free_port()}/r/img:v1", timeout=2)


DISK_FULL = r"""
import json, os, sys
from pycontainer.errors import ImageError
from pycontainer.image.store import Store
s = Store(sys.argv[1])
out = {}
try:
    s.pull(sys.argv[2])
    out["error"] = None
except ImageError as exc:
    out["error"], out["errno"] = str(exc), exc.errno
out["ingest"] = os.listdir(s.path("ingest"))
out["layers"] = os.listdir(s.path("layers"))
out["images"] = s.list()
out["blobs"] = os.listdir(s.path("blobs", "sha256"))
print(json.dumps(out))
"""


@pytest.mark.skipif(os.geteuid() != 0 or shutil.which("unshare") is None,
                    reason="needs root and unshare(1) for a private tmpfs")
def test_disk_full_mid_pull_leaves_store_consistent(tmp_path):
    """The store lives on a 256 KiB tmpfs in a private mount namespace; the layer is 1 MiB."""
    import errno as errno_mod
    import sys
    f = Fake(padding=1 << 20)
    try:
        root = tmp_path / "small"
        root.mkdir()
        proc = subprocess.run(
            ["unshare", "-m", "--propagation", "private", "sh", "-c",
             'mount -t tmpfs -o size=256k tmpfs "$0" && exec "$1" -c "$2" "$0/store" "$3"',
             str(root), sys.executable, DISK_FULL, f"127.0.0.1:{f.port}/r/img:v1"],
            capture_output=True, text=True, timeout=60)
    finally:
        f.close()
    assert proc.returncode == 0, proc.stderr
    out = json.loads(proc.stdout)
    assert out["error"] and "No space left on device" in out["error"], out
    assert out["errno"] == errno_mod.ENOSPC
    assert out["ingest"] == [] and out["layers"] == [] and out["images"] == []
    assert sha(f.layer)[7:] not in out["blobs"]          # never reachable by digest
    assert os.listdir(root) == []                          # the tmpfs died with the namespace


def test_archives_interoperate_with_skopeo(tmp_path):
    """skopeo reads our save (as docker-archive and oci-archive) and our store (an OCI
    layout); we load skopeo's docker-archive (the legacy docker save format)."""
    _ensure_packages()
    src = Store(str(tmp_path / "src"))
    img = src.resolve("busybox")
    src.save(["busybox"], str(tmp_path / "ours.tar"))

    def inspect(ref):
        out = subprocess.run(["skopeo", "inspect", ref], capture_output=True, text=True, timeout=60)
        assert out.returncode == 0, out.stderr
        return json.loads(out.stdout)
    assert inspect(f"docker-archive:{tmp_path}/ours.tar")["Layers"] == \
        img.config["rootfs"]["diff_ids"]
    assert inspect(f"oci-archive:{tmp_path}/ours.tar:latest")["Digest"] == img.digest
    assert inspect(f"oci:{src.root}:latest")["Digest"] == img.digest
    subprocess.run(["skopeo", "copy", "-q", f"oci-archive:{tmp_path}/ours.tar:latest",
                    f"docker-archive:{tmp_path}/theirs.tar:example/bb:da"],
                   check=True, capture_output=True, timeout=60)
    dst = Store(str(tmp_path / "dst"))
    assert dst.load(str(tmp_path / "theirs.tar")) == ["example/bb:da"]
    got = dst.resolve("example/bb:da")
    assert got.config["rootfs"]["diff_ids"] == img.config["rootfs"]["diff_ids"]
    assert got.layers[0].endswith(os.path.basename(img.layers[0]))
