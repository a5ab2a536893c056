"""The image store (OCI layout + unpacked layers): load/save, tags, rmi, gc, holds, faults.

Images are built in the tests as docker-save and OCI archives; no network.
"""

from __future__ import annotations

import errno
import gzip
import hashlib
import io
import json
import multiprocessing
import os
import tarfile

import pytest

from pycontainer.errors import ImageError, UnsafeArchiveError
from pycontainer.image import reference
from pycontainer.image.store import ImageNotFound, Store


def sha(b: bytes) -> str:
    return "sha256:" + hashlib.sha256(b).hexdigest()


def layer_tar(files: dict[str, bytes]) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as tf:
        for name, data in files.items():
            ti = tarfile.TarInfo(name)
            ti.size, ti.mode, ti.mtime = len(data), 0o644, 1_600_000_000
            tf.addfile(ti, io.BytesIO(data))
    return buf.getvalue()


def image_parts(layers: list[bytes], *, cmd=("sh",), arch=None, gz=True):
    """(manifest bytes, {digest: blob}) for an OCI image of ``layers`` (raw tars)."""
    blobs = {}
    descs = []
    for raw in layers:
        blob = gzip.compress(raw, mtime=0) if gz else raw
        blobs[sha(blob)] = blob
        descs.append({"mediaType": "application/vnd.oci.image.layer.v1.tar" + ("+gzip" if gz else ""),
                      "digest": sha(blob), "size": len(blob)})
    cfg = json.dumps({"architecture": arch or reference.host_platform()["architecture"],
                      "os": "linux", "config": {"Cmd": list(cmd), "Env": ["A=1"]},
                      "rootfs": {"type": "layers", "diff_ids": [sha(r) for r in layers]}}).encode()
    blobs[sha(cfg)] = cfg
    man = json.dumps({"schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
                      "config": {"mediaType": "application/vnd.oci.image.config.v1+json",
                                 "digest": sha(cfg), "size": len(cfg)},
                      "layers": descs}).encode()
    blobs[sha(man)] = man
    return man, blobs


def tar_of(members: dict[str, bytes], symlinks: dict[str, str] | None = None) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tf:
        for name, data in members.items():
            ti = tarfile.TarInfo(name)
            ti.size = len(data)
            tf.addfile(ti, io.BytesIO(data))
        for name, target in (symlinks or {}).items():
            ti = tarfile.TarInfo(name)
            ti.type, ti.linkname = tarfile.SYMTYPE, target
            tf.addfile(ti)
    return buf.getvalue()


def oci_archive(images: list[tuple[bytes, dict, str | None]], index_extra=None) -> bytes:
    members = {"oci-layout": b'{"imageLayoutVersion":"1.0.0"}'}
    manifests = []
    for man, blobs, name in images:
        for d, b in blobs.items():
            members[f"blobs/sha256/{d[7:]}"] = b
        desc = {"mediaType": "application/vnd.oci.image.manifest.v1+json", "digest": sha(man),
                "size": len(man)}
        if name:
            desc["annotations"] = {"org.opencontainers.image.ref.name": name}
        manifests.append(desc)
    manifests += index_extra or []
    members["index.json"] = json.dumps({"schemaVersion": 2, "manifests": manifests}).encode()
    return tar_of(members)


@pytest.fixture
def store(tmp_path):
    return Store(str(tmp_path / "store"))


def load_bytes(store, data: bytes, **kw):
    return store.load(io.BytesIO(data), **kw)


BASE = layer_tar({"bin/sh": b"#!shell", "etc/os-release": b"base"})
APP = layer_tar({"app/main.py": b"print('hi')"})


def blob_names(store):
    return sorted(os.listdir(store.path("blobs", "sha256")))


def layer_names(store):
    return sorted(os.listdir(store.path("layers")))


# --- load, resolve, layout ------------------------------------------------------------

def test_load_oci_archive_and_resolve(store):
    man, blobs = image_parts([BASE, APP])
    assert load_bytes(store, oci_archive([(man, blobs, "example.com/app:v1")])) == ["example.com/app:v1"]
    img = store.resolve("example.com/app:v1")
    assert img.digest == sha(man) and img.run_config["Cmd"] == ["sh"]
    assert [os.path.basename(d) for d in img.layers] == [sha(BASE)[7:], sha(APP)[7:]]
    with open(os.path.join(img.layers[1], "app", "main.py"), "rb") as f:
        assert f.read() == b"print('hi')"
    # the store is itself a valid OCI image layout
    with open(store.path("oci-layout")) as f:
        assert json.load(f) == {"imageLayoutVersion": "1.0.0"}
    with open(store.path("index.json")) as f:
        idx = json.load(f)
    (e,) = idx["manifests"]
    assert e["digest"] == sha(man)
    assert e["annotations"] == {"io.containerd.image.name": "example.com/app:v1",
                                "org.opencontainers.image.ref.name": "v1"}
    for d in blobs:
        assert store.has_blob(d)
    assert oct(os.stat(store.root).st_mode & 0o777) == "0o700"


def test_oci_archive_tag_only_name_needs_name_option(store):
    man, blobs = image_parts([BASE])
    assert load_bytes(store, oci_archive([(man, blobs, "latest")])) == [sha(man)]
    assert load_bytes(store, oci_archive([(man, blobs, "latest")]), name="mine") == ["mine:latest"]


def test_load_oci_index_picks_this_platform(store):
    here = reference.host_platform()["architecture"]
    other = "s390x" if here != "s390x" else "amd64"
    m1, b1 = image_parts([BASE], arch=here)
    m2, b2 = image_parts([APP], arch=other)
    idx = json.dumps({"schemaVersion": 2, "mediaType": "application/vnd.oci.image.index.v1+json",
                      "manifests": [
                          {"mediaType": "application/vnd.oci.image.manifest.v1+json",
                           "digest": sha(m2), "size": len(m2),
                           "platform": {"os": "linux", "architecture": other}},
                          {"mediaType": "application/vnd.oci.image.manifest.v1+json",
                           "digest": sha(m1), "size": len(m1),
                           "platform": {"os": "linux", "architecture": here}}]}).encode()
    blobs = {**b1, **b2, sha(idx): idx}
    members = {f"blobs/sha256/{d[7:]}": b for d, b in blobs.items()}
    members["index.json"] = json.dumps({"schemaVersion": 2, "manifests": [
        {"mediaType": "application/vnd.oci.image.index.v1+json", "digest": sha(idx),
         "size": len(idx), "annotations": {"io.containerd.image.name": "docker.io/library/multi:1"}}]}).encode()
    assert load_bytes(store, tar_of(members)) == ["multi:1"]
    assert store.resolve("multi:1").digest == sha(m1)


def test_load_docker_save_legacy_format(store):
    cfg = json.dumps({"architecture": "amd64", "os": "linux", "config": {"Cmd": ["true"]},
                      "rootfs": {"type": "layers", "diff_ids": [sha(BASE), sha(APP), sha(BASE)]}}).encode()
    members = {f"{sha(cfg)[7:]}.json": cfg, "aaa/layer.tar": BASE, "bbb/layer.tar": APP,
               "manifest.json": json.dumps([{"Config": f"{sha(cfg)[7:]}.json",
                                             "RepoTags": ["old/style:1", "busybox:x"],
                                             "Layers": ["aaa/layer.tar", "bbb/layer.tar",
                                                        "ccc/layer.tar"]}]).encode(),
               "repositories": b"{}"}
    data = tar_of(members, symlinks={"ccc/layer.tar": "../aaa/layer.tar"})
    assert sorted(load_bytes(store, gzip.compress(data))) == ["busybox:x", "old/style:1"]
    img = store.resolve("old/style:1")
    assert img.id == sha(cfg) and len(img.layers) == 3 and img.layers[0] == img.layers[2]
    assert store.inspect("busybox:x")["Config"]["Cmd"] == ["true"]


def test_save_then_load_roundtrip_keeps_digest(store, tmp_path):
    man, blobs = image_parts([BASE, APP])
    load_bytes(store, oci_archive([(man, blobs, "r.io/a/b:c")]))
    out = tmp_path / "saved.tar"
    store.save(["r.io/a/b:c"], str(out))
    with tarfile.open(out) as tf:
        names = tf.getnames()
        docker = json.load(tf.extractfile("manifest.json"))
    assert {"oci-layout", "index.json", "manifest.json"} <= set(names)
    assert docker[0]["RepoTags"] == ["r.io/a/b:c"]
    other = Store(str(tmp_path / "other"))
    assert other.load(str(out)) == ["r.io/a/b:c"]
    assert other.resolve("r.io/a/b:c").digest == sha(man)


# --- sharing, tags, rmi, gc, holds ------------------------------------------------------

def test_layers_unpacked_once_and_shared(store):
    m1, b1 = image_parts([BASE], cmd=["one"])
    m2, b2 = image_parts([BASE, APP], cmd=["two"])
    load_bytes(store, oci_archive([(m1, b1, "x.io/one:1"), (m2, b2, "x.io/two:1")]))
    one, two = store.resolve("x.io/one:1"), store.resolve("x.io/two:1")
    assert one.layers[0] == two.layers[0]
    assert layer_names(store) == sorted([sha(BASE)[7:], sha(APP)[7:]])


def test_tag_moves_name_and_rmi_untags_before_deleting(store):
    m1, b1 = image_parts([BASE], cmd=["one"])
    m2, b2 = image_parts([BASE, APP], cmd=["two"])
    load_bytes(store, oci_archive([(m1, b1, "x.io/one:1"), (m2, b2, "x.io/two:1")]))
    assert store.tag("x.io/one:1", "alias") == "docker.io/library/alias:latest"
    assert store.resolve("alias").digest == sha(m1)
    store.tag("x.io/two:1", "alias")                 # a name points at one image only
    assert store.resolve("alias").digest == sha(m2)
    assert store.remove("alias") == ["Untagged: alias:latest"]
    assert store.exists("x.io/two:1")
    out = store.remove("x.io/two:1")
    cfg2 = json.loads(m2)["config"]["digest"]                  # docker's image ID: the config's
    assert out[:2] == ["Untagged: x.io/two:1", f"Deleted: {cfg2}"]
    assert f"Deleted: {sha(APP)}" in out and f"Deleted blob: {sha(m2)}" in out   # its layer, blobs
    # APP's blob and layer went; BASE is still used by x.io/one
    assert layer_names(store) == [sha(BASE)[7:]]
    assert sorted(blob_names(store)) == sorted(d[7:] for d in b1)
    store.remove("x.io/one:1")
    assert blob_names(store) == [] and layer_names(store) == []
    with pytest.raises(ImageNotFound, match="No such image: x.io/one:1"):
        store.resolve("x.io/one:1")


def test_retag_leaves_old_image_dangling_until_prune(store):
    m1, b1 = image_parts([BASE], cmd=["one"])
    m2, b2 = image_parts([BASE, APP], cmd=["two"])
    load_bytes(store, oci_archive([(m1, b1, "x.io/a:1")]))
    store.resolve("x.io/a:1", hold="old-ctr")
    load_bytes(store, oci_archive([(m2, b2, "x.io/a:1")]))      # a newer x.io/a:1 arrives
    rows = {r["digest"]: r["names"] for r in store.list()}
    assert rows == {sha(m1): [], sha(m2): ["x.io/a:1"]}         # docker's <none>:<none>
    assert store.gc(dangling=True) == []                        # still used by old-ctr
    store.release("old-ctr")
    assert store.gc(dangling=True)[0] == f"Deleted: {json.loads(m1)['config']['digest']}"
    assert [r["digest"] for r in store.list()] == [sha(m2)]
    assert sorted(blob_names(store)) == sorted(d[7:] for d in b2)


def test_rmi_refuses_image_in_use_unless_forced(store):
    man, blobs = image_parts([BASE, APP])
    load_bytes(store, oci_archive([(man, blobs, "x.io/app:1")]))
    img = store.resolve("x.io/app:1", hold="ctr-1")
    with pytest.raises(ImageError, match="in use by container.*ctr-1"):
        store.remove("x.io/app:1")
    assert store.exists("x.io/app:1")
    store.remove("x.io/app:1", force=True)
    # the forced removal keeps the held layers for the running container...
    assert all(os.path.isdir(d) for d in img.layers)
    store.release("ctr-1")
    store.gc()
    # ...until it is released
    assert layer_names(store) == [] and blob_names(store) == []


def test_prune_holds(store):
    man, blobs = image_parts([BASE])
    load_bytes(store, oci_archive([(man, blobs, "x.io/a:1")]))
    store.resolve("x.io/a:1", hold="alive")
    store.resolve("x.io/a:1", hold="dead")
    assert store.prune_holds(["alive"]) == ["dead"]
    assert list(store.holds()) == ["alive"]
    with pytest.raises(ImageError, match="invalid container ID"):
        store.hold("../x", store.resolve("x.io/a:1"))


def test_a_hold_is_fsynced_unless_its_container_cannot_outlive_a_crash(store, monkeypatch):
    """A --rm container's hold (durable=False) skips the fsync; the content is the same."""
    man, blobs = image_parts([BASE])
    load_bytes(store, oci_archive([(man, blobs, "x.io/a:1")]))
    synced = []
    real = os.fsync
    monkeypatch.setattr(os, "fsync", lambda fd: (synced.append(fd), real(fd)))
    store.resolve("x.io/a:1", hold="kept")
    assert len(synced) == 1
    store.resolve("x.io/a:1", hold="removed", durable=False)
    assert len(synced) == 1
    holds = store.holds()
    assert holds["removed"] == holds["kept"] and holds["kept"]["image"] == sha(man)


def test_list_inspect_and_id_prefix(store):
    man, blobs = image_parts([BASE])
    load_bytes(store, oci_archive([(man, blobs, "x.io/a:1")]))
    (row,) = store.list()
    assert row["names"] == ["x.io/a:1"] and row["digest"] == sha(man)
    info = store.inspect("x.io/a:1")
    assert info["Layers"][0]["diff_id"] == sha(BASE) and info["Layers"][0]["dir"]
    assert store.resolve(row["id"][7:19]).digest == sha(man)      # docker-style short ID
    assert store.resolve(sha(man)).digest == sha(man)


def test_lazy_unpack_after_layers_dir_wiped(store):
    import shutil
    man, blobs = image_parts([BASE])
    load_bytes(store, oci_archive([(man, blobs, "x.io/a:1")]))
    shutil.rmtree(store.path("layers", sha(BASE)[7:]))
    assert os.path.isfile(os.path.join(store.resolve("x.io/a:1").layers[0], "bin", "sh"))


# --- bad input leaves the store consistent -----------------------------------------------

def _consistent(store, before):
    assert os.listdir(store.path("ingest")) == []
    assert not [n for n in os.listdir(store.path("layers")) if n.startswith(".tmp-")]
    with open(store.path("index.json")) as f:
        assert json.load(f)["manifests"] == before


def test_corrupt_blob_in_archive_refused(store):
    man, blobs = image_parts([BASE])
    data = oci_archive([(man, blobs, "x.io/a:1")])
    lay = [d for d in blobs if blobs[d][:2] == b"\x1f\x8b"][0]
    bad = {**blobs, lay: blobs[lay][:-8] + b"XXXXXXXX"}
    members = {f"blobs/sha256/{d[7:]}": b for d, b in bad.items()}
    with tarfile.open(fileobj=io.BytesIO(data)) as tf:
        members["index.json"] = tf.extractfile("index.json").read()
    store.init()
    with pytest.raises(ImageError, match="digest"):
        load_bytes(store, tar_of(members))
    _consistent(store, [])
    assert not store.has_blob(lay)


def test_diff_id_mismatch_refused(store):
    man, blobs = image_parts([BASE])
    cfg_d = json.loads(man)["config"]["digest"]
    cfg = json.loads(blobs[cfg_d])
    cfg["rootfs"]["diff_ids"] = [sha(b"not it")]
    cfg_b = json.dumps(cfg).encode()
    m = json.loads(man)
    m["config"].update(digest=sha(cfg_b), size=len(cfg_b))
    man2 = json.dumps(m).encode()
    blobs2 = {d: b for d, b in blobs.items() if d not in (cfg_d, sha(man))}
    blobs2.update({sha(cfg_b): cfg_b, sha(man2): man2})
    with pytest.raises(ImageError, match="does not match the config's diff_id"):
        load_bytes(store, oci_archive([(man2, blobs2, "x.io/a:1")]))
    _consistent(store, [])
    assert layer_names(store) == []


def test_malicious_layer_in_archive_refused(store):
    evil = layer_tar({"../../../escape": b"x"})
    man, blobs = image_parts([evil])
    with pytest.raises(UnsafeArchiveError, match="'..' component"):
        load_bytes(store, oci_archive([(man, blobs, "x.io/evil:1")]))
    _consistent(store, [])
    assert not os.path.exists(os.path.join(os.path.dirname(store.root), "escape"))


def test_truncated_archive_and_garbage(store):
    man, blobs = image_parts([BASE])
    data = oci_archive([(man, blobs, "x.io/a:1")])
    store.init()
    cut = data.find(blobs[json.loads(man)["layers"][0]["digest"]]) + 20   # inside the layer
    with pytest.raises(ImageError, match="truncated"):
        load_bytes(store, data[:cut])
    with pytest.raises(ImageError, match="not a tar"):
        load_bytes(store, b"hello world" * 100)
    _consistent(store, [])


def test_ingest_verifies_digest_and_size(store):
    with pytest.raises(ImageError, match="mismatch"):
        store.add_blob_bytes(b"abc", expected=sha(b"abd"))
    with store.ingest(sha(b"abc"), size=5) as w:
        w.write(b"abc")
        with pytest.raises(ImageError, match="truncated"):
            w.commit()
    assert blob_names(store) == [] and os.listdir(store.path("ingest")) == []


def test_disk_full_mid_blob_leaves_nothing(store, monkeypatch):
    with store.ingest(sha(b"x" * 10)) as w:
        def full(_):
            raise OSError(errno.ENOSPC, "No space left on device")
        monkeypatch.setattr(w.f, "write", full)
        with pytest.raises(ImageError, match="No space left") as ei:
            w.write(b"x" * 10)
        assert ei.value.errno == errno.ENOSPC
    assert blob_names(store) == [] and os.listdir(store.path("ingest")) == []


def _unpack_worker(root, man_digest, q):
    try:
        s = Store(root)
        q.put(s.resolve(man_digest).layers)
    except Exception as exc:                  # pragma: no cover - reported to the parent
        q.put(repr(exc))


def test_concurrent_unpack_of_one_layer_is_safe(store):
    import shutil
    big = layer_tar({f"f{i}": os.urandom(2048) for i in range(400)})
    man, blobs = image_parts([big])
    load_bytes(store, oci_archive([(man, blobs, "x.io/a:1")]))
    shutil.rmtree(store.path("layers", sha(big)[7:]))
    ctx = multiprocessing.get_context("fork")
    q = ctx.Queue()
    procs = [ctx.Process(target=_unpack_worker, args=(store.root, sha(man), q)) for _ in range(4)]
    for p in procs:
        p.start()
    results = [q.get(timeout=60) for _ in procs]
    for p in procs:
        p.join(10)
    assert all(r == results[0] for r in results), results
    assert layer_names(store) == [sha(big)[7:]]
    assert len(os.listdir(store.path("layers", sha(big)[7:]))) == 400


def _load_worker(root, path, q):
    try:
        q.put(Store(root).load(path))
    except Exception as exc:                  # pragma: no cover - reported to the parent
        q.put(repr(exc))


def test_concurrent_loads_of_one_image(store, tmp_path):
    big = layer_tar({f"f{i}": os.urandom(4096) for i in range(300)})
    man, blobs = image_parts([BASE, big])
    path = tmp_path / "a.tar"
    path.write_bytes(oci_archive([(man, blobs, "x.io/a:1")]))
    ctx = multiprocessing.get_context("fork")
    q = ctx.Queue()
    procs = [ctx.Process(target=_load_worker, args=(store.root, str(path), q)) for _ in range(4)]
    for p in procs:
        p.start()
    results = [q.get(timeout=60) for _ in procs]
    for p in procs:
        p.join(10)
    assert results == [["x.io/a:1"]] * 4
    assert [r["names"] for r in store.list()] == [["x.io/a:1"]]
    assert layer_names(store) == sorted([sha(BASE)[7:], sha(big)[7:]])
    assert os.listdir(store.path("ingest")) == []


# --- references and the built-in image ------------------------------------------------------

@pytest.mark.parametrize("ref,name", [
    ("busybox", "docker.io/library/busybox:latest"),
    ("busybox:1.36", "docker.io/library/busybox:1.36"),
    ("user/app", "docker.io/user/app:latest"),
    ("index.docker.io/library/x:y", "docker.io/library/x:y"),
    ("localhost:5000/a/b", "localhost:5000/a/b:latest"),
    ("127.0.0.1:5000/pyc/busybox:oci", "127.0.0.1:5000/pyc/busybox:oci"),
    ("quay.io/a/b@sha256:" + "a" * 64, "quay.io/a/b@sha256:" + "a" * 64),
])
def test_reference_normalisation(ref, name):
    assert reference.parse(ref).name == name


@pytest.mark.parametrize("ref", ["", "UPPER", "a b", "a@sha256:xyz", "a:", "-a", "a/:b", "a:b:c"])
def test_reference_rejects(ref):
    with pytest.raises(ImageError, match="invalid image reference"):
        reference.parse(ref)


@pytest.mark.skipif(not os.path.exists("/bin/busybox"), reason="busybox-static not installed")
def test_builtin_busybox_offline_and_reproducible(tmp_path):
    a, b = Store(str(tmp_path / "a")), Store(str(tmp_path / "b"))
    ia = a.resolve("busybox")
    assert ia.names == ["docker.io/library/busybox:latest"]
    assert ia.run_config["Cmd"] == ["sh"]
    assert os.path.isfile(os.path.join(ia.layers[0], "bin", "busybox"))
    assert os.readlink(os.path.join(ia.layers[0], "bin", "ls")) == "busybox"
    assert b.resolve("busybox:latest").digest == ia.digest       # reproducible
    assert a.inspect("busybox")["RootFS"]["Layers"] == [f"sha256:{os.path.basename(ia.layers[0])}"]
    with pytest.raises(ImageNotFound):
        a.resolve("busybox:1.0")


def test_rootfs_prepare_and_cleanup(store, tmp_path):
    from pycontainer.image import rootfs
    man, blobs = image_parts([BASE, APP])
    load_bytes(store, oci_archive([(man, blobs, "x.io/a:1")]))
    cdir = str(tmp_path / "containers")
    img, plan = rootfs.prepare("c1", "x.io/a:1", store=store, containers_dir=cdir, pull="never")
    assert plan.lower == img.layers and plan.upper == os.path.join(cdir, "c1", "upper")
    assert os.path.isdir(plan.upper) and os.path.isdir(plan.work)
    with pytest.raises(ImageError, match="in use by container"):
        store.remove("x.io/a:1")
    with pytest.raises(ImageNotFound):
        rootfs.prepare("c2", "x.io/missing:1", store=store, containers_dir=cdir, pull="never")
    with pytest.raises(ImageError, match="already exists"):     # same id twice
        rootfs.prepare("c1", "x.io/a:1", store=store, containers_dir=cdir, pull="never")
    assert list(store.holds()) == ["c1"]                        # the first one's hold stays
    rootfs.cleanup("c1", store=store, containers_dir=cdir)
    rootfs.cleanup("c1", store=store, containers_dir=cdir)     # idempotent
    assert os.listdir(cdir) == [] and store.holds() == {}
    store.remove("x.io/a:1")
    with pytest.raises(ImageError, match="invalid container ID"):
        rootfs.prepare("../x", "x.io/a:1", store=store, containers_dir=cdir, pull="never")


def test_prune_of_a_step_image_sharing_a_named_images_id_does_not_say_deleted(store):
    # a build's last step and the image it tags share one config (the image ID); pruning
    # the step's unnamed manifest must not print "Deleted: <ID>" of the image that stays
    man, blobs = image_parts([BASE], cmd=["one"])
    step = json.loads(man)
    step["annotations"] = {"org.pycontainer.build.intermediate": "true"}
    step = json.dumps(step).encode()
    load_bytes(store, oci_archive([(man, blobs, "x.io/app:1"), (step, {sha(step): step}, None)]))
    assert len(store.read_index()["manifests"]) == 2
    out = store.gc(dangling=True)
    assert not [ln for ln in out if ln.startswith("Deleted: ")], out
    assert [e["digest"] for e in store.read_index()["manifests"]] == [sha(man)]
    ident = json.loads(man)["config"]["digest"]
    assert store.remove("x.io/app:1")[:2] == ["Untagged: x.io/app:1", f"Deleted: {ident}"]
