"""importcache: the package's code from one file, and never a stale module from it."""

import os
import subprocess
import sys
import textwrap

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


@pytest.fixture
def pkg(tmp_path):
    """A package of four modules (two of them packages) and its cache."""
    p = tmp_path / "icpkg"
    (p / "sub").mkdir(parents=True)
    (p / "__init__.py").write_text("WHO = 'pkg'\n")
    (p / "a.py").write_text("VALUE = 1\n\ndef boom():\n    raise ValueError('from a')\n")
    (p / "sub" / "__init__.py").write_text("")
    (p / "sub" / "b.py").write_text("from .. import a\nVALUE = a.VALUE + 1\n")
    (p / "notes.txt").write_text("not a module\n")
    return p


def _build(pkg, cache):
    sys.path.insert(0, ROOT)
    from pycontainer import importcache
    return importcache.build(str(pkg), str(cache))


def _run(pkg, cache, body: str) -> str:
    """``body`` in a fresh interpreter (-I -S, as the launcher runs) after install()."""
    code = textwrap.dedent(f"""
        import sys
        sys.path[0:0] = [{ROOT!r}, {str(pkg.parent)!r}]
        from pycontainer import importcache
        print("installed", importcache.install({str(cache)!r}))
        def via(name):
            return type(sys.modules[name].__spec__.loader).__name__
    """) + textwrap.dedent(body)
    p = subprocess.run([sys.executable, "-I", "-S", "-c", code], capture_output=True, text=True,
                       timeout=60)
    assert p.returncode == 0, p.stderr
    return p.stdout


def test_modules_come_from_the_cache_as_modules_of_their_own(pkg, tmp_path):
    cache = tmp_path / "ic.bin"
    assert _build(pkg, cache) == 4
    assert [f for f in os.listdir(tmp_path) if ".tmp" in f] == []
    out = _run(pkg, cache, f"""
        import icpkg.sub.b, icpkg.a
        print(icpkg.sub.b.VALUE, icpkg.WHO)
        print(via("icpkg"), via("icpkg.a"), via("icpkg.sub"), via("icpkg.sub.b"))
        print(icpkg.a.__file__ == {str(pkg / "a.py")!r}, icpkg.sub.__path__ == [{str(pkg / "sub")!r}])
        import traceback
        try:
            icpkg.a.boom()
        except ValueError:
            print(traceback.format_exc().strip().splitlines()[-2].strip())
    """)
    assert out.split("\n")[:5] == ["installed True", "2 pkg", "Finder Finder Finder Finder",
                                   "True True", "raise ValueError('from a')"]


def test_a_source_changed_after_the_build_is_imported_from_the_source(pkg, tmp_path):
    cache = tmp_path / "ic.bin"
    _build(pkg, cache)
    (pkg / "a.py").write_text("VALUE = 41\n")            # another size
    st = os.stat(pkg / "sub" / "b.py")
    os.utime(pkg / "sub" / "b.py", ns=(st.st_atime_ns, st.st_mtime_ns + 1))   # same size, touched
    out = _run(pkg, cache, """
        import icpkg.sub.b
        print(icpkg.sub.b.VALUE, via("icpkg.a"), via("icpkg.sub.b"), via("icpkg.sub"))
    """)
    assert out.split("\n")[1] == "42 SourceFileLoader SourceFileLoader Finder"


def test_a_missing_foreign_or_broken_file_installs_nothing(pkg, tmp_path):
    cache = tmp_path / "ic.bin"
    _build(pkg, cache)
    good = cache.read_bytes()
    for name, data in (("missing", None), ("empty", b""), ("garbage", b"x" * 100),
                       ("other python", good[:16] + b"\0\0\0\0" + good[20:]),
                       ("cut short", good[:40])):
        target = tmp_path / "case.bin"
        if target.exists():
            target.unlink()
        if data is not None:
            target.write_bytes(data)
        out = _run(pkg, target, """
            import icpkg.a
            print(icpkg.a.VALUE, via("icpkg.a"), len([f for f in sys.meta_path if type(f).__name__ == "Finder"]))
        """)
        assert out.split("\n")[:2] == ["installed False", "1 SourceFileLoader 0"], name


def test_a_closed_and_reused_fd_number_is_not_read_as_code(pkg, tmp_path):
    """A process that closes every fd and opens another file at the cache's number (an
    init's fd hygiene, then an import) gets the source's code, not that file's bytes."""
    cache = tmp_path / "ic.bin"
    _build(pkg, cache)
    other = tmp_path / "other.bin"
    other.write_bytes(os.urandom(4096))
    out = _run(pkg, cache, f"""
        import os
        def target(n):
            try:
                return os.readlink(f"/proc/self/fd/{{n}}")
            except OSError:             # listdir's own fd, closed by now
                return None
        fd = [int(n) for n in os.listdir("/proc/self/fd") if target(n) == {str(cache)!r}][0]
        os.close(fd)
        assert os.open({str(other)!r}, os.O_RDONLY) == fd
        import icpkg.a
        print(icpkg.a.VALUE, via("icpkg.a"))
    """)
    assert out.split("\n")[1] == "1 Finder"


def test_the_installed_launcher_serves_the_hot_path_from_the_cache():
    """.ci/install.sh builds the cache and writes a launcher that installs it: the modules of
    a create (the runtime's and the init's) come from it."""
    launcher = os.path.join(sys.prefix, "bin", "pycontainer-launch")
    if not os.path.exists(launcher):
        pytest.skip("not installed by .ci/install.sh (no pycontainer-launch in this venv)")
    text = open(launcher).read()
    assert "importcache.install()" in text
    text = text.replace("\nmain()", "\nimport pycontainer.container, pycontainer.process.init\n"
                        "from pycontainer import importcache\n"
                        "built = os.stat(importcache.default_path()).st_mtime_ns\n"
                        "print(sorted(n for n, m in sys.modules.items() if n.startswith('pycontainer')"
                        " and type(m.__spec__.loader).__name__ != 'Finder'"
                        " and os.stat(m.__file__).st_mtime_ns < built))")
    p = subprocess.run([sys.executable, "-I", "-S", "-c", "import os\n" + text],
                       capture_output=True, text=True, timeout=60)
    assert p.returncode == 0, p.stderr
    # every module not changed since the build comes from the cache, but the package and
    # importcache itself (imported before the cache is installed) and the C module
    assert p.stdout.strip() == "['pycontainer', 'pycontainer._nscalls', 'pycontainer.importcache']"
