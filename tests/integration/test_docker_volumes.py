"""Named volumes (issue 15): volume create/ls/rm/inspect/prune, -v NAME:/path[:ro], --mount,
seeding a new volume from the image, refusals (in use, unknown, bad option): one line, 125."""

import json
import os

import pytest

from conftest import new_id
from dockerleak import dleak  # noqa: F401 - the fixture

pytestmark = pytest.mark.root


@pytest.fixture
def vols(tmp_path, monkeypatch):
    d = tmp_path / "volumes"
    monkeypatch.setenv("PYCONTAINER_VOLUMES_DIR", str(d))
    return d


def test_volume_lifecycle_and_data_survives_containers(cli, dleak, vols):
    assert cli("volume", "create", "data1").stdout.strip() == "data1"
    assert cli("volume", "ls", "-q").stdout.split() == ["data1"]
    j = json.loads(cli("volume", "inspect", "data1").stdout)[0]
    assert j["Name"] == "data1" and j["Driver"] == "local"
    assert j["Mountpoint"] == str(vols / "data1" / "_data")
    assert cli("run", "--rm", "--net", "none", "-v", "data1:/data", "busybox", "sh", "-c",
               "echo kept > /data/f").returncode == 0
    p = cli("run", "--rm", "--net", "none", "--mount", "type=volume,source=data1,target=/d,readonly",
            "busybox", "sh", "-c", "cat /d/f; touch /d/x")
    assert p.stdout.strip() == "kept" and p.returncode == 1 and "Read-only" in p.stderr
    assert (vols / "data1" / "_data" / "f").read_text() == "kept\n"
    cid = new_id()
    assert cli("run", "-d", "--net", "none", "--name", cid, "-v", "data1:/data", "busybox",
               "sleep", "60").returncode == 0
    try:
        p = cli("volume", "rm", "data1")
        assert p.returncode == 1 and "in use" in p.stderr and len(p.stderr.splitlines()) == 1
        assert "data1" in cli("volume", "ls", "-q").stdout
        assert "Deleted" not in cli("volume", "prune", "-f").stdout        # in use: kept
        # docker's volume ls --filter: dangling (no container uses it), label, name
        assert cli("volume", "create", "--label", "k=v", "data2").returncode == 0
        assert cli("volume", "ls", "-q", "-f", "dangling=true").stdout.split() == ["data2"]
        assert cli("volume", "ls", "-q", "-f", "dangling=false").stdout.split() == ["data1"]
        assert cli("volume", "ls", "-q", "-f", "label=k=v", "-f", "name=data").stdout.split() == ["data2"]
        assert cli("volume", "ls", "-f", "colour=red").returncode == 1
        assert cli("volume", "rm", "data2").returncode == 0
        mounts = json.loads(cli("inspect", "-f", "{{json .Mounts}}", cid).stdout)
        assert mounts[0]["Destination"] == "/data"
    finally:
        cli("rm", "-f", cid)
    assert cli("volume", "rm", "data1").stdout.strip() == "data1"
    assert not (vols / "data1").exists()


def test_a_new_volume_is_seeded_from_the_image(cli, dleak, vols):
    p = cli("run", "--rm", "--net", "none", "-v", "etcvol:/etc", "busybox", "cat", "/etc/passwd")
    assert p.returncode == 0 and "root:" in p.stdout
    assert (vols / "etcvol" / "_data" / "passwd").exists()
    # an existing, non-empty volume is not seeded again
    (vols / "etcvol" / "_data" / "passwd").write_text("mine\n")
    p = cli("run", "--rm", "--net", "none", "-v", "etcvol:/etc", "busybox", "cat", "/etc/passwd")
    assert p.stdout == "mine\n"
    # docker 23+: prune takes anonymous volumes only; -a (or --filter all=true) named ones too
    cid = new_id()
    assert cli("run", "--net", "none", "--name", cid, "-v", "/anon", "busybox", "sh", "-c",
               "head -c 5000 /dev/zero > /anon/f").returncode == 0
    anon = [n for n in cli("volume", "ls", "-q").stdout.split() if n != "etcvol"]
    assert len(anon) == 1 and "Deleted" not in cli("volume", "prune", "-f").stdout    # in use
    cli("rm", cid)               # without -v: the anonymous volume stays, unused
    out = cli("volume", "prune", "-f").stdout
    assert out.split()[:6] == ["Deleted", "Volumes:", anon[0], "Total", "reclaimed", "space:"], out
    assert out.split()[6].endswith("kB"), out                 # its 5000 bytes of data, at least
    assert (vols / "etcvol").exists()
    assert cli("volume", "prune", "-f", "--filter", "label=nope").stdout.split()[0] == "Total"
    out = cli("volume", "prune", "-f", "--filter", "all=true").stdout
    assert "etcvol" in out and not (vols / "etcvol").exists()
    assert cli("volume", "prune", "--filter", "colour=red").returncode == 1      # as docker (the daemon)


def test_mount_bind_and_tmpfs(cli, dleak, vols, tmp_path):
    (tmp_path / "h").mkdir()
    (tmp_path / "h" / "x").write_text("host")
    p = cli("run", "--rm", "--net", "none", "--mount", f"type=bind,src={tmp_path}/h,dst=/h",
            "--mount", "type=tmpfs,dst=/t,tmpfs-size=1m", "busybox", "sh", "-c",
            "cat /h/x; grep ' /t ' /proc/mounts")
    assert p.returncode == 0, p.stderr
    assert p.stdout.startswith("host") and "tmpfs /t tmpfs" in p.stdout and "size=1024k" in p.stdout
    # a relative host path (., ./dir, ../dir) is from the current directory, as docker 23+ and
    # podman take it; a bare name stays a volume's
    for flag in ("-v", "./h:/h:ro"), ("-v", "../" + tmp_path.name + "/h:/h"), ("-v", ".:/t"), \
                ("--mount", "type=bind,src=./h,dst=/h"), ("--mount", "type=bind,src=h,dst=/h"):
        p = cli("run", "--rm", "--net", "none", *flag, "busybox", "sh", "-c",
                "cat /h/x 2>/dev/null || ls /t", cwd=str(tmp_path))
        assert (p.returncode, p.stdout.split()[0]) == (0, "host" if "/h" in flag[1] else "h"), (flag, p.stderr)
    assert cli("volume", "ls", "-q").stdout == ""


def test_v_modes_docker_takes_selinux_labels_propagation_nocopy(cli, dleak, vols, tmp_path):
    # -v SRC:DST:z (docs for SELinux hosts say it; docker ignores it where there is no
    # SELinux), ro,Z, a propagation, consistency; a named volume's nocopy: not seeded from
    # the image. All were refused: "mode must be ro or rw".
    (tmp_path / "x").write_text("host")
    for mode, want in (("z", "rw"), ("ro,Z", "ro"), ("rslave", "rw"), ("cached,ro", "ro")):
        p = cli("run", "--rm", "--net", "none", "-v", f"{tmp_path}:/h:{mode}", "busybox", "sh", "-c",
                "cat /h/x; grep ' /h ' /proc/mounts")
        assert p.returncode == 0, (mode, p.stderr)
        assert p.stdout.startswith("host") and f" {want}," in p.stdout, (mode, p.stdout)
    p = cli("run", "--rm", "--net", "none", "--mount",
            f"type=bind,src={tmp_path},dst=/h,bind-propagation=rslave,readonly", "busybox", "cat", "/h/x")
    assert (p.returncode, p.stdout) == (0, "host"), p.stderr
    for args in (("-v", "v2:/etc:nocopy"), ("--mount", "type=volume,src=v3,dst=/etc,volume-nocopy")):
        p = cli("run", "--rm", "--net", "none", *args, "busybox", "ls", "/etc")
        assert p.returncode == 0 and "passwd" not in p.stdout.split(), (args, p.stdout, p.stderr)
    assert "passwd" in cli("run", "--rm", "--net", "none", "-v", "v4:/etc", "busybox", "ls",
                           "/etc").stdout.split()                    # seeded, as before
    for v in ("v2", "v3", "v4"):
        assert cli("volume", "rm", v).returncode == 0


def test_bad_volume_input_is_one_line_and_changes_nothing(cli, dleak, vols, tmp_path):
    cases = [
        ("volume", "rm", "no-such-volume"),
        ("volume", "inspect", "no-such-volume"),
        ("volume", "create", "bad/name"),
        ("volume", "create", "--driver", "nfs", "x"),
        ("volume", "bogus"),
        ("run", "--rm", "--net", "none", "-v", "v1:/data:zz", "busybox", "true"),
        ("run", "--rm", "--net", "none", "-v", "v1:rel", "busybox", "true"),
        ("run", "--rm", "--net", "none", "--mount", "type=foo,dst=/x", "busybox", "true"),
        ("run", "--rm", "--net", "none", "--mount", "type=volume,src=v1,dst=/x,colour=red",
         "busybox", "true"),
        ("run", "--rm", "--net", "none", "--mount", f"type=bind,src={tmp_path}/none,dst=/x",
         "busybox", "true"),
        # docker's modes, but one of each kind, each where it applies (moby's linux_parser)
        ("run", "--rm", "--net", "none", "-v", f"{tmp_path}:/x:ro,rw", "busybox", "true"),
        ("run", "--rm", "--net", "none", "-v", f"{tmp_path}:/x:nocopy", "busybox", "true"),
        ("run", "--rm", "--net", "none", "-v", "v1:/x:rslave", "busybox", "true"),
        ("run", "--rm", "--net", "none", "-v", f"{tmp_path}:/x:rshared", "busybox", "true"),
        ("run", "--rm", "--net", "none", "--mount",
         "type=volume,src=v1,dst=/x,bind-propagation=rslave", "busybox", "true"),
    ]
    for args in cases:       # docker: run's refusals 125, the daemon's answer to others 1
        p = cli(*args)
        assert p.returncode == (125 if args[0] == "run" else 1), (args, p.returncode, p.stderr)
        assert len(p.stderr.strip().splitlines()) == 1, (args, p.stderr)
    assert not vols.exists() or os.listdir(vols) == []


def test_system_df_and_prune(cli, dleak, vols, tmp_path, monkeypatch):
    a = new_id()
    assert cli("run", "--net", "none", "--name", a, "busybox", "sh", "-c",
               "dd if=/dev/zero of=/big bs=1k count=300 2>/dev/null").returncode == 0
    cli("volume", "create", "unused1")
    rows = {json.loads(x)["Type"]: json.loads(x)
            for x in cli("system", "df", "--format", "json").stdout.splitlines()}
    assert rows["Containers"]["TotalCount"] == 1 and rows["Containers"]["Active"] == 0
    assert rows["Containers"]["Size"].endswith("kB") and rows["Local Volumes"]["TotalCount"] == 1
    # docker's Images row: what `images` lists, its SIZE the bytes on disk (a shared layer
    # once: it was each image's size added up); a build's step images are the Build Cache
    assert rows["Images"]["TotalCount"] == len(cli("images", "-q").stdout.split())
    assert rows["Images"]["TotalCount"] + rows["Build Cache"]["TotalCount"] >= \
        len(cli("images", "-aq").stdout.split())
    table = cli("system", "df").stdout.splitlines()
    assert table[0].split() == ["TYPE", "TOTAL", "ACTIVE", "SIZE", "RECLAIMABLE"]
    verbose = cli("system", "df", "-v").stdout                   # docker's three tables
    assert "Images space usage:" in verbose and "\nBuild cache usage: " in verbose
    mine = [ln.split() for ln in verbose.splitlines() if ln.endswith(f"   {a}")]
    aid = cli.id_of(a)
    assert mine and mine[0][0] == aid[:12] and mine[0][-1] == a and any(c.endswith("kB") for c in mine[0]), verbose
    assert [ln.split() for ln in verbose.splitlines() if ln.startswith("unused1 ")] == [["unused1", "0", "0B"]]
    busybox = [ln.split() for ln in verbose.splitlines() if ln.startswith("busybox ")]
    assert busybox and busybox[0][1] == "latest", verbose
    # prune on an image store of this test's own (the shared one has other runs' images)
    monkeypatch.setenv("PYCONTAINER_IMAGE_ROOT", str(tmp_path / "images"))
    out = cli("system", "prune", "-f", "--volumes").stdout
    assert aid in out and "unused1" not in out           # a named volume stays (docker 23+)
    assert out.splitlines()[-1].startswith("Total reclaimed space: ") and \
        not out.splitlines()[-1].endswith(" 0B"), out
    assert cli("ps", "-aq").stdout == "" and cli("volume", "ls", "-q").stdout == "unused1\n"
    assert cli("volume", "prune", "-af").stdout.split()[:3] == ["Deleted", "Volumes:", "unused1"]
    assert cli("system", "prune", "--bogus").returncode == 125


def test_inspect_finds_volumes_networks_and_images(cli, dleak, vols):
    cli("volume", "create", "iv1")
    assert cli("inspect", "-f", "{{.Name}} {{.Driver}}", "iv1", "bridge").stdout.split() == \
        ["iv1", "local", "bridge", "bridge"]
    assert "busybox" in cli("inspect", "-f", "{{json .RepoTags}}", "busybox").stdout
    # scripts pin an image by `index .RepoDigests 0` (was: "can't evaluate field RepoDigests")
    pinned = cli("image", "inspect", "-f", "{{index .RepoDigests 0}}", "busybox").stdout.strip()
    assert pinned.startswith("busybox@sha256:") and len(pinned) == len("busybox@sha256:") + 64
    assert cli("run", "--rm", "--pull", "never", "--net", "none", pinned, "true").returncode == 0
    p = cli("inspect", "--type", "volume", "busybox")
    assert p.returncode == 1 and "No such object: busybox" in p.stderr
    cli("volume", "rm", "iv1")


def _wait_gone(path, seconds=5.0):
    import time
    end = time.monotonic() + seconds
    while os.path.exists(path) and time.monotonic() < end:
        time.sleep(0.05)
    return not os.path.exists(path)


def test_anonymous_volumes_go_with_rm_and_rm_v_named_ones_stay(cli, dleak, vols):
    # -v /path and --mount type=volume without a source: docker's label, and removed with the
    # container by --rm (foreground or detached) and by rm -v; a named volume never is
    assert cli("run", "--rm", "--net", "none", "-v", "/anon", "busybox", "sh", "-c",
               "echo x > /anon/f").returncode == 0
    assert cli("volume", "ls", "-q").stdout.split() == []
    cid = cli("run", "-d", "--rm", "--net", "none", "--mount", "type=volume,target=/a",
              "busybox", "true").stdout.strip()
    assert _wait_gone(os.path.join("/var/lib/pycontainer/containers", cid))
    assert _wait_gone(str(vols)) or os.listdir(vols) == []
    a, b = new_id(), new_id()
    assert cli("run", "--net", "none", "--name", a, "-v", "/anon", "-v", "named1:/n", "busybox",
               "sh", "-c", "echo from-a > /anon/f").returncode == 0
    (anon,) = set(cli("volume", "ls", "-q").stdout.split()) - {"named1"}
    labels = json.loads(cli("volume", "inspect", anon).stdout)[0]["Labels"]
    assert labels == {"com.docker.volume.anonymous": ""}
    # --volumes-from: a's -v volumes at the same paths; :ro makes them read-only
    p = cli("run", "--net", "none", "--name", b, "--volumes-from", f"{a}:ro", "busybox", "sh", "-c",
            "cat /anon/f; ls /n; touch /anon/g")
    assert p.stdout.strip() == "from-a" and p.returncode == 1 and "Read-only" in p.stderr
    assert cli("rm", "-v", a).returncode == 0
    assert anon in cli("volume", "ls", "-q").stdout            # b still mounts it
    assert cli("rm", "-v", b).returncode == 0
    assert cli("volume", "ls", "-q").stdout.split() == ["named1"]
    assert cli("volume", "rm", "named1").returncode == 0
    p = cli("run", "--rm", "--net", "none", "--volumes-from", "no-such-container", "busybox", "true")
    assert p.returncode == 125 and "no such container" in p.stderr and len(p.stderr.splitlines()) == 1
    # a flag refused after the anonymous volume was made takes it away again
    for bad in (("--ulimit", "bogus"), ("--tmpfs", "relative")):
        p = cli("run", "--rm", "--net", "none", "-v", "/anon", *bad, "busybox", "true")
        assert p.returncode == 125 and len(p.stderr.splitlines()) == 1, p.stderr
    assert cli("volume", "ls", "-q").stdout.split() == []


def test_v_makes_a_missing_host_directory_as_docker(cli, dleak, tmp_path):
    """docker's -v HOST:CTR makes HOST when it is missing (a directory); --mount type=bind
    refuses it (test_bad_volume_input_is_one_line_and_changes_nothing)."""
    src = tmp_path / "made" / "here"
    p = cli("run", "--rm", "--net", "none", "-v", f"{src}:/x", "busybox", "sh", "-c", "echo hi > /x/f")
    assert p.returncode == 0, p.stderr
    assert src.is_dir() and (src / "f").read_text() == "hi\n"
    other = tmp_path / "not-made"                # a bad image: nothing made (docker: the same)
    p = cli("run", "--rm", "--net", "none", "-v", f"{other}:/x", "--pull", "never", "no-such-image-q", "true")
    assert p.returncode == 125 and not other.exists()
    (tmp_path / "dangling").symlink_to(tmp_path / "nowhere")
    p = cli("run", "--rm", "--net", "none", "-v", f"{tmp_path}/dangling:/x", "busybox", "true")
    assert p.returncode == 125 and "dangling" in p.stderr
    assert not (tmp_path / "nowhere").exists()


def test_a_volume_of_a_host_directory_local_drivers_bind_form(cli, dleak, vols, tmp_path):
    # volume create -o type=none -o o=bind -o device=DIR: compose's way to name a host
    # directory ("-o" was not an option); never seeded from the image, never deleted with it
    dev = tmp_path / "dev"
    dev.mkdir()
    (dev / "f").write_text("host-file\n")
    p = cli("volume", "create", "-o", "type=none", "-o", "o=bind", "-o", f"device={dev}", "hostdir")
    assert p.returncode == 0, p.stderr
    assert json.loads(cli("volume", "inspect", "hostdir").stdout)[0]["Options"]["device"] == str(dev)
    out = cli("run", "--rm", "--net", "none", "-v", "hostdir:/etc", "busybox", "/bin/sh", "-c",
              "ls /etc; echo ctr > /etc/g")
    assert "f" in out.stdout.split() and "passwd" not in out.stdout, out.stdout + out.stderr
    assert (dev / "g").read_text() == "ctr\n" and not (dev / "passwd").exists()   # not seeded
    assert cli("volume", "rm", "hostdir").returncode == 0
    assert {"f", "g"} <= set(os.listdir(dev))
    for opts in (["type=tmpfs", "device=tmpfs"], ["type=none", "o=bind", f"device={dev}/nope"], ["junk"]):
        p = cli("volume", "create", *[a for o in opts for a in ("-o", o)], "badvol")
        assert p.returncode == 1 and len(p.stderr.strip().splitlines()) == 1, p.stderr
    assert "badvol" not in cli("volume", "ls", "-q").stdout.split()
