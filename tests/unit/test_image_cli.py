"""The image CLI commands (click CliRunner against a tmp store; no network)."""

from __future__ import annotations

import json
import os

import click
import pytest
from click.testing import CliRunner

from pycontainer.image import cli as image_cli

pytestmark = pytest.mark.skipif(not os.path.exists("/bin/busybox"),
                                reason="busybox-static not installed (the built-in image)")


@pytest.fixture
def run(tmp_path):
    @click.group()
    def top():
        pass
    for c in image_cli.COMMANDS:
        top.add_command(c)
    runner = CliRunner()
    env = {"PYCONTAINER_IMAGE_ROOT": str(tmp_path / "store")}

    def invoke(*args, ok=True):
        r = runner.invoke(top, list(args), env=env, catch_exceptions=True)
        if ok:
            assert r.exit_code == 0, (r.output, r.exception)
        return r
    return invoke


def test_commands_are_the_docker_names():
    assert [c.name for c in image_cli.COMMANDS] == ["pull", "images", "image", "tag", "rmi",
                                                   "load", "save", "history", "login", "logout"]
    assert set(image_cli.image.commands) >= {"ls", "inspect", "rm", "prune", "tag", "load",
                                             "save", "pull", "history"}


def test_images_tag_inspect_save_rmi_load(run, tmp_path):
    from pycontainer.image.store import Store
    Store(str(tmp_path / "store")).resolve("busybox")     # the built-in image, offline
    out = run("images").output.splitlines()
    assert out[0].split()[:2] == ["REPOSITORY", "TAG"]
    assert out[1].split()[:2] == ["busybox", "latest"]
    run("tag", "busybox", "localhost:5000/me/bb:v1")
    info = json.loads(run("image", "inspect", "localhost:5000/me/bb:v1").output)[0]
    assert sorted(info["RepoTags"]) == ["busybox:latest", "localhost:5000/me/bb:v1"]
    assert info["Config"]["Cmd"] == ["sh"]
    assert len(run("images", "-q").output.split()) == 1
    # docker's images REPOSITORY[:TAG], --format and --filter
    fmt = run("images", "--format", "{{.Repository}}:{{.Tag}}").output.split()
    assert sorted(fmt) == ["busybox:latest", "localhost:5000/me/bb:v1"]
    assert run("images", "--format", "{{.Tag}}", "localhost:5000/me/bb").output.split() == ["v1"]
    assert run("images", "-q", "nosuch").output == ""
    assert len(run("images", "-q", "--filter", "reference=busy*").output.split()) == 1
    assert run("images", "-q", "--filter", "reference=nope*").output == ""
    assert run("images", "-q", "--filter", "dangling=true").output == ""
    assert run("images", "-q", "--filter", "label=maintainer").output == ""
    rows = [json.loads(line) for line in run("images", "--format", "json").output.splitlines()]
    assert {r["Repository"] for r in rows} == {"busybox", "localhost:5000/me/bb"}
    r = run("images", "--filter", "colour=x", ok=False)
    assert r.exit_code != 0 and "KEY one of dangling, label, reference" in str(r.exception)
    r = run("images", "--filter", "before=x", ok=False)          # an image that is not there
    assert r.exit_code != 0 and "No such image: x:latest" in str(r.exception)
    run("save", "-o", str(tmp_path / "a.tar"), "busybox")
    assert run("rmi", "localhost:5000/me/bb:v1").output.strip() == "Untagged: localhost:5000/me/bb:v1"
    ident = run("image", "inspect", "-f", "{{.Id}}", "busybox").output.strip()
    out = run("rmi", "busybox").output.splitlines()        # docker's: the ID, then its layers
    assert out[:2] == ["Untagged: busybox:latest", f"Deleted: {ident}"]
    assert len(out) > 2 and all(ln.startswith("Deleted: sha256:") for ln in out[2:]), out
    r = run("rmi", "busybox", ok=False)
    assert r.exit_code == 1 and "No such image: busybox:latest" in r.output
    assert run("load", "-i", str(tmp_path / "a.tar")).output.strip() == "Loaded image: busybox:latest"
    assert json.loads(run("images", "--json").output)[0]["names"] == ["docker.io/library/busybox:latest"]


def test_images_no_trunc_shows_whole_ids(run, tmp_path):
    from pycontainer.image.store import Store
    Store(str(tmp_path / "store")).resolve("busybox")     # the built-in image, offline
    r = run("images", "-q", "--no-trunc")
    short = run("images", "-q")
    assert all(len(x) == 71 and x.startswith("sha256:") for x in r.output.split())
    assert [x[7:19] for x in r.output.split()] == short.output.split() != []
    assert r.output.split()[0] in run("images", "--no-trunc").output


def test_image_inspect_format_load_quiet_and_prune_all(run, tmp_path):
    from pycontainer.image.store import Store
    Store(str(tmp_path / "store")).resolve("busybox")     # the built-in image, offline
    run("tag", "busybox", "localhost/mine:1")
    ident = run("image", "inspect", "-f", "{{.Id}}", "busybox").output.strip()
    assert ident.startswith("sha256:") and len(ident) == 71
    run("save", "-o", str(tmp_path / "a.tar"), "localhost/mine:1")
    assert "Loaded image: localhost/mine:1" in run("load", "-q", "-i", str(tmp_path / "a.tar")).output
    # nothing dangling (all named): docker's total alone
    assert run("image", "prune", "-f").output == "Total reclaimed space: 0B\n"
    out = run("image", "prune", "-a", "-f").output             # no container uses them
    # docker/cli's prune words: "untagged: NAME", "deleted: ID" (then the layers), no blobs
    assert out.startswith("Deleted Images:\nuntagged: ") and f"deleted: {ident}\n" in out
    assert "untagged: localhost/mine:1" in out and "blob" not in out
    assert out.splitlines()[-1].startswith("Total reclaimed space: ") and not out.endswith(" 0B\n")
    assert len(set(ln for ln in out.splitlines() if ln.startswith("deleted: "))) == \
        out.count("deleted: ")                                 # each image once
    assert run("images", "-q").output == ""


def test_history_human_false_gives_bytes_and_times(run, tmp_path):
    from pycontainer.image.store import Store
    Store(str(tmp_path / "store")).resolve("busybox")     # the built-in image, offline
    people = run("history", "busybox").output.splitlines()[1].split()
    raw = run("history", "--human=false", "busybox").output.splitlines()[1].split()
    assert people[1:3] != raw[1:2] and raw[1].endswith("Z") and "T" in raw[1]   # RFC 3339
    assert raw[-1].isdigit() and people[-1].endswith("B")                      # bytes vs 2.14MB
    r = run("history", "--human=maybe", "busybox", ok=False)
    assert r.exit_code == 125 and len(r.output.splitlines()) == 1


def test_bad_platform_flag(run):
    r = run("pull", "--platform", "linux", "x", ok=False)
    assert r.exit_code == 1 and "OS/ARCH" in r.output and len(r.output.splitlines()) == 1
