"""Image config -> OCI process: docker's Entrypoint/Cmd/Env/WorkingDir/User rules."""

from __future__ import annotations

import os

import pytest

from pycontainer.errors import ImageError
from pycontainer.image import runconfig


def cfg(**c):
    return {"config": c}


def test_args_rules():
    c = cfg(Entrypoint=["/ep"], Cmd=["a", "b"])
    assert runconfig.process(c)["args"] == ["/ep", "a", "b"]
    assert runconfig.process(c, command=["x"])["args"] == ["/ep", "x"]
    assert runconfig.process(c, entrypoint="/other")["args"] == ["/other"]        # Cmd cleared
    assert runconfig.process(c, entrypoint="/other", command=["y"])["args"] == ["/other", "y"]
    assert runconfig.process(cfg(Cmd=["sh"]))["args"] == ["sh"]
    with pytest.raises(ImageError, match="no command specified"):
        runconfig.process(cfg())
    with pytest.raises(ImageError, match="no command"):
        runconfig.process(c, entrypoint="")


def test_env_workdir_ports():
    p = runconfig.process(cfg(Cmd=["x"], Env=["A=1", "B=2"], WorkingDir="/srv",
                              ExposedPorts={"80/tcp": {}, "53/udp": {}}),
                          env=["B=3", "C"])
    assert p["env"] == [runconfig.DEFAULT_PATH, "A=1", "B=3", "C=", "HOME=/"]   # docker adds HOME
    assert p["cwd"] == "/srv"
    assert runconfig.process(cfg(Cmd=["x"]), workdir="/w")["cwd"] == "/w"
    assert runconfig.process(cfg(Cmd=["x"], Env=["PATH=/bin"]))["env"] == ["PATH=/bin", "HOME=/"]
    p = runconfig.process(cfg(Cmd=["x"], Env=["HOME=/h"]), hostname="box", tty=True)
    assert p["env"] == [runconfig.DEFAULT_PATH, "HOSTNAME=box", "TERM=xterm", "HOME=/h"]
    with pytest.raises(ImageError, match="absolute"):
        runconfig.process(cfg(Cmd=["x"]), workdir="rel")
    assert runconfig.exposed_ports(cfg(ExposedPorts={"80/tcp": {}, "53/udp": {}, "8080": {}})) \
        == ["53/udp", "80/tcp", "8080/tcp"]


@pytest.fixture
def layers(tmp_path):
    low, top = tmp_path / "low", tmp_path / "top"
    (low / "etc").mkdir(parents=True)
    (top / "etc").mkdir(parents=True)
    (low / "etc" / "passwd").write_text("root:x:0:0::/root:/bin/sh\nold:x:5:5::/:/bin/sh\n")
    (top / "etc" / "passwd").write_text(
        "root:x:0:0::/root:/bin/sh\napp:x:1000:1000::/home/app:/bin/sh\n")
    (low / "etc" / "group").write_text("root:x:0:\napp:x:1000:\nwww:x:33:app,x\ndisk:x:6:app\n")
    return [str(low), str(top)]


def test_users(layers):
    r = runconfig.resolve_user
    assert r(layers, "") == {"uid": 0, "gid": 0}
    assert r(layers, "app") == {"uid": 1000, "gid": 1000, "additionalGids": [6, 33]}
    assert r(layers, "app:www") == {"uid": 1000, "gid": 33}
    assert r(layers, "1000") == {"uid": 1000, "gid": 1000, "additionalGids": [6, 33]}
    assert r(layers, "4242:7") == {"uid": 4242, "gid": 7}
    assert r(layers, "4242") == {"uid": 4242, "gid": 0}
    with pytest.raises(ImageError, match="unable to find user 'old'"):
        r(layers, "old")                   # the top layer's passwd hides the lower one
    with pytest.raises(ImageError, match="unable to find group 'nope'"):
        r(layers, "app:nope")
    assert runconfig.process(cfg(Cmd=["x"], User="app"), layers=layers)["user"]["uid"] == 1000


@pytest.mark.skipif(os.geteuid() != 0, reason="needs root (mknod whiteout)")
def test_whiteout_and_symlink_not_followed(layers, tmp_path):
    top = tmp_path / "top"
    os.unlink(top / "etc" / "passwd")
    os.mknod(top / "etc" / "passwd", 0o600 | 0o020000, os.makedev(0, 0))   # whiteout
    with pytest.raises(ImageError, match="no /etc/passwd"):
        runconfig.resolve_user(layers, "app")
    os.unlink(top / "etc" / "passwd")
    host = tmp_path / "hostpasswd"
    host.write_text("evil:x:0:0::/:/bin/sh\n")
    os.symlink(str(host), top / "etc" / "passwd")
    with pytest.raises(ImageError, match="no /etc/passwd"):
        runconfig.resolve_user(layers, "evil")
