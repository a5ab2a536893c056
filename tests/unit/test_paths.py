"""pycontainer.paths: os.path's meaning on the posix module alone (the hot verbs' path)."""

import os
import subprocess
import sys

import pytest

from pycontainer import paths

ROOT = __file__.rsplit("/tests/", 1)[0]


@pytest.mark.parametrize("parts", [
    ("/run/pycontainer", "c1"), ("/run/pycontainer/", "c1"), ("a", "b", "c"), ("", "x"),
    ("/a", "/b", "c"), ("/a", ""), ("a/", "b/"), ("/",  "x"), ("/a", "b", "/c", "d")])
def test_join_is_os_path_join(parts):
    assert paths.join(*parts) == os.path.join(*parts)


@pytest.mark.parametrize("path", [
    "/run/pycontainer", "/run/pycontainer/", "/", "//", "///x", "//x/y", "/a/./b", "/a/../b",
    "/../x", "/a//b/", "rel", "rel/../x", ".", "..", "./a/", "/a/.hidden", "/a/b/..", "a/..//b"])
def test_abspath_dirname_basename_are_os_paths(path, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert paths.abspath(path) == os.path.abspath(path)
    assert paths.dirname(path) == os.path.dirname(path)
    assert paths.basename(path) == os.path.basename(path)


def test_the_file_tests_are_os_paths(tmp_path):
    (tmp_path / "d").mkdir()
    (tmp_path / "f").write_text("x")
    os.symlink("f", tmp_path / "to-f")
    os.symlink("d", tmp_path / "to-d")
    os.symlink("nothing", tmp_path / "dangling")
    os.mkfifo(tmp_path / "fifo")
    for name in ("d", "f", "to-f", "to-d", "dangling", "fifo", "missing", "f/under-a-file", "d\0nul"):
        p = str(tmp_path / name)
        for fn in ("exists", "lexists", "isdir", "isfile"):
            assert getattr(paths, fn)(p) == getattr(os.path, fn)(p), (fn, name)


def test_getenv_follows_os_environ_once_os_is_loaded(monkeypatch):
    monkeypatch.setenv("PYC_PATHS_TEST", "changed in Python")
    assert paths.getenv("PYC_PATHS_TEST") == "changed in Python"
    monkeypatch.delenv("PYC_PATHS_TEST")
    assert paths.getenv("PYC_PATHS_TEST") is None


def test_getenv_reads_the_start_environment_without_importing_os():
    code = ("import sys; sys.path.insert(0, sys.argv[1]); from pycontainer import paths; "
            "print(paths.getenv('PYC_PATHS_TEST'), paths.getenv('PYC_NOT_SET'), 'os' in sys.modules)")
    env = {"PYC_PATHS_TEST": "caf\u00e9 \udcff"}
    p = subprocess.run([sys.executable, "-S", "-c", code, ROOT], capture_output=True,
                       env={k: v.encode("utf-8", "surrogateescape") for k, v in env.items()})
    assert p.returncode == 0, p.stderr
    assert p.stdout.decode("utf-8", "surrogateescape") == "caf\u00e9 \udcff None False\n"


@pytest.mark.parametrize("path", ["rel", ".", "..", "x/", "", "a/../b"])
def test_abspath_from_the_root_directory(path, monkeypatch):
    monkeypatch.chdir("/")            # getcwd() is "/": no "//" at the front
    assert paths.abspath(path) == os.path.abspath(path)


def _corpus():
    """Paths built from the pieces that make os.path's cases: slashes (one, two, three),
    ".", "..", names, empty parts."""
    import itertools
    pieces = ["", "/", "//", "///", ".", "..", "a", "b.c", "..."]
    out = set()
    for n in range(1, 5):
        for combo in itertools.product(pieces, repeat=n):
            out.add("/".join(combo))
            out.add("".join(combo))
    return sorted(out)


def test_normpath_split_isabs_are_os_paths_on_every_path_of_the_corpus():
    corpus = _corpus()
    assert len(corpus) > 5000
    for p in corpus:
        assert paths.normpath(p) == os.path.normpath(p), p
        assert paths.split(p) == os.path.split(p), p
        assert paths.isabs(p) == os.path.isabs(p), p
        assert paths.dirname(p) == os.path.dirname(p), p


def test_popenv_takes_the_variable_out_for_children_too_without_os():
    code = ("import sys, posix; sys.path.insert(0, sys.argv[1]); from pycontainer import paths; "
            "print(paths.popenv('PYC_POP'), paths.popenv('PYC_POP'), 'os' in sys.modules); "
            "sys.stdout.flush(); posix.execv('/usr/bin/env', ['env'])")
    p = subprocess.run([sys.executable, "-S", "-c", code, ROOT], capture_output=True, text=True,
                       env={"PYC_POP": "7", "PYC_KEEP": "1"})
    assert p.returncode == 0, p.stderr
    lines = p.stdout.splitlines()
    assert lines[0] == "7 None False"
    assert "PYC_KEEP=1" in lines and not [x for x in lines if x.startswith("PYC_POP=")]


def test_popenv_with_os_loaded_is_os_environ_pop(monkeypatch):
    monkeypatch.setenv("PYC_POP2", "x")
    assert paths.popenv("PYC_POP2") == "x"
    assert "PYC_POP2" not in os.environ and paths.popenv("PYC_POP2") is None
