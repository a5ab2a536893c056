"""Unit checks of the runc-parity helpers (no root, no kernel state)."""

import pytest

from pycontainer import procattrs, spec, state, userenv
from pycontainer.cgroups import sub
from pycontainer.errors import CgroupError, InvalidID, InvalidName, SpecError


def test_exec_cgroup_argument_rules_match_runc():
    assert sub.parse(["cpu,memory:a", "b"]) == {"cpu": "a", "memory": "a", "": "b"}
    for bad, needle in ((["x", "y"], "multiple"), (["cpu:a", "cpu:b"], "cpu specified"),
                        ([":a"], "empty <controller>"), (["../up"], "'..'"), (["cpu:"], "path")):
        with pytest.raises(CgroupError, match=needle):
            sub.parse(bad)


def test_prepare_env_dedups_and_adds_home(tmp_path, monkeypatch):
    pw = tmp_path / "passwd"
    pw.write_text("root:x:0:0:root:/root:/bin/sh\napp:x:1000:1000::/home/app:/bin/sh\n")
    assert userenv.home_of(1000, str(pw)) == "/home/app"
    assert userenv.home_of(4242, str(pw)) == "/"
    assert userenv.home_of(0, str(tmp_path / "missing")) == "/"
    monkeypatch.setattr(userenv, "home_of", lambda uid: f"/h{uid}")
    assert userenv.prepare_env(["A=1", "B=2", "A=3"], 7) == ["B=2", "A=3", "HOME=/h7"]
    assert userenv.prepare_env(["HOME=", "X=1"], 7) == ["X=1", "HOME=/h7"]
    assert userenv.prepare_env(["HOME=/x"], 7) == ["HOME=/x"]


def test_memory_policy_nodes_and_scheduler_rules():
    assert procattrs.parse_nodes("0-2,5") == [0, 1, 2, 5]
    with pytest.raises(SpecError):
        procattrs.parse_nodes("2-1")
    with pytest.raises(SpecError, match="SchedDeadline"):
        procattrs.validate_process({"scheduler": {"policy": "SCHED_FIFO", "runtime": 5}})
    procattrs.validate_process({"scheduler": {"policy": "SCHED_FIFO", "priority": 5},
                                "ioPriority": {"class": "IOPRIO_CLASS_IDLE", "priority": 0}})


def test_rootless_template():
    cfg = spec.to_rootless(spec.default_spec())
    assert [n for n in cfg["linux"]["namespaces"] if n["type"] == "network"] == []
    assert cfg["linux"]["namespaces"][-1] == {"type": "user"}
    assert "resources" not in cfg["linux"]


def test_id_length_and_docker_names():
    state.validate_id("a" * state.MAX_ID_LEN)
    with pytest.raises(InvalidID, match="at most"):
        state.validate_id("a" * (state.MAX_ID_LEN + 1))
    assert state.validate_name("/web-1.a_b") == "web-1.a_b"
    for bad in ("a", "-x", "a/b", "x" * 300, "é1"):
        with pytest.raises(InvalidName) as ei:
            state.validate_name(bad)
        assert ei.value.exit_code == 125


def test_resolve_in_root_follows_dangling_symlinks_inside_the_root(tmp_path):
    import os
    from pycontainer import mounts
    root = tmp_path / "root"
    (root / "tmp").mkdir(parents=True)
    os.symlink("/srv/real", root / "data")
    os.symlink("../srv/rel", root / "tmp" / "rel")
    os.symlink("../../../../etc", root / "esc")
    fd = os.open(root, os.O_PATH | os.O_DIRECTORY)
    try:
        assert mounts.resolve_in_root(fd, "/data/x") == "/srv/real/x"
        assert mounts.resolve_in_root(fd, "/tmp/rel/y") == "/srv/rel/y"
        assert mounts.resolve_in_root(fd, "/esc/z") == "/etc/z"        # never above the root
        assert mounts.resolve_in_root(fd, "/plain/a") == "/plain/a"
    finally:
        os.close(fd)


def test_make_target_creates_in_place_and_through_dangling_symlinks(tmp_path):
    """The five-call path (parent resolves, the name is free) and the walk it leaves to
    resolve_in_root (a dangling symlink as the last or a middle component) agree: every
    mount point lands inside the root, never at the symlink's host meaning."""
    import os
    from pycontainer import mounts
    root = tmp_path / "root"
    (root / "sys" / "fs").mkdir(parents=True)
    os.symlink("/srv/last", root / "last")           # dangling, last component
    os.symlink("/srv/mid", root / "mid")             # dangling, middle component
    os.symlink("/sys/fs", root / "fs")               # resolves, parent of a new name
    fd = os.open(root, os.O_PATH | os.O_DIRECTORY)
    try:
        for dest, is_dir, made in (("/sys/fs/cgroup", True, "sys/fs/cgroup"),
                                   ("/fs/cpu", True, "sys/fs/cpu"),
                                   ("/sys/fs/file", False, "sys/fs/file"),
                                   ("/last", True, "srv/last"),
                                   ("/mid/x/y", False, "srv/mid/x/y"),
                                   ("/sys/fs/cgroup", True, "sys/fs/cgroup")):   # exists: opened
            t = mounts.make_target(fd, dest, is_dir)
            try:
                assert os.readlink(f"/proc/self/fd/{t}") == str(root / made), dest
                assert os.path.isdir(root / made) == is_dir
            finally:
                os.close(t)
        assert not os.path.exists("/srv/last") and not os.path.exists("/srv/mid")
        (root / "file").write_text("")
        with pytest.raises(NotADirectoryError):
            mounts.make_target(fd, "/file/sub", True)
    finally:
        os.close(fd)


@pytest.mark.parametrize("env,msg", [(["BAD"], "missing '='"), (["=x"], "name cannot be empty"),
                                     (["A=b\0c"], "NUL byte")])
def test_config_env_follows_runcs_rules(env, msg):
    """runc's populateProcessEnvironment: config.json's (and exec's, and a start-sent) env
    entries are NAME=value, a name, no NUL; checked once, in spec.validate_process."""
    with pytest.raises(SpecError, match=msg):
        spec.validate_process({"args": ["true"], "env": env})
    with pytest.raises(SpecError, match="NUL"):
        spec.validate_process({"args": ["a\0b"]})
