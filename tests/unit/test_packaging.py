"""A wheel (non-editable `pip install .`) works as well as .ci/install.sh's editable install.

Built offline from this checkout (--no-build-isolation --no-index: the build
needs setuptools and cffi, which the project's venv has), installed with
--no-deps into a fresh venv whose dependencies are this venv's (linked, not
downloaded), then used from a directory outside the checkout: the C
extension, package data (the seccomp profile, the built-in images' recipes)
and the `pycontainer` script must all come from the wheel.
"""

import importlib.metadata
import os
import subprocess
import sys
import zipfile

import pytest

from conftest import IS_ROOT, ROOT

DEPENDENCIES = ("cffi", "click", "pyroute2", "python-prctl")


@pytest.fixture(scope="module")
def wheel(tmp_path_factory):
    out = tmp_path_factory.mktemp("wheel")
    p = subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation",
                        "--no-index", "-q", "-w", str(out), ROOT], capture_output=True, text=True,
                       timeout=300)
    if p.returncode != 0 and "No module named" in p.stderr:
        pytest.skip("building needs setuptools and cffi in this venv: " + p.stderr.strip()[-200:])
    assert p.returncode == 0, p.stderr
    (whl,) = out.glob("pycontainer-*.whl")
    return whl


def _linked_dependencies(target) -> None:
    """Put this venv's installed dependencies on the new venv's path (a .pth and symlinks)."""
    target.mkdir()
    for name in DEPENDENCIES:
        dist = importlib.metadata.distribution(name)
        tops = {f.parts[0] for f in dist.files or () if len(f.parts) and f.parts[0] != ".."
                and not f.parts[0].endswith((".dist-info", ".egg-info")) and f.parts[0] != "__pycache__"}
        for top in tops:
            src = dist.locate_file(top)
            if os.path.exists(src) and not (target / top).exists():
                (target / top).symlink_to(src)


@pytest.fixture(scope="module")
def venv(wheel, tmp_path_factory):
    base = tmp_path_factory.mktemp("venv")
    v = base / "v"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(v)], check=True, timeout=120)
    deps = base / "deps"
    _linked_dependencies(deps)
    (site,) = (v / "lib").glob("python3*/site-packages")
    (site / "pycontainer-test-deps.pth").write_text(str(deps) + "\n")
    subprocess.run([sys.executable, "-m", "pip", "--python", str(v / "bin" / "python"), "install", "-q",
                    "--no-deps", "--no-index", str(wheel)], check=True, timeout=300)
    return v


def _env():
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTHON", "PYCONTAINER"))}
    return env


def test_the_wheel_carries_the_extension_the_data_and_the_script(wheel):
    names = zipfile.ZipFile(wheel).namelist()
    assert any(n.startswith("pycontainer/_native") and n.endswith(".so") for n in names)
    for n in ("pycontainer/security/seccomp_default.json", "pycontainer/security/dmz_x86_64.S",
              "pycontainer/images/build-busybox.sh", "pycontainer/images/build-python.sh"):
        assert n in names, n
    info = zipfile.ZipFile(wheel).getinfo("pycontainer/pycontainer-monitor")   # csrc/monitor.c
    assert info.external_attr >> 16 & 0o111, "the C monitor is not executable in the wheel"
    (ep,) = [n for n in names if n.endswith(".dist-info/entry_points.txt")]
    assert "pycontainer = pycontainer.entry:main" in zipfile.ZipFile(wheel).read(ep).decode()


def test_the_installed_command_runs_from_the_wheel(venv, tmp_path):
    where = subprocess.run([str(venv / "bin" / "python"), "-c", "import pycontainer._native as n; "
                            "import pycontainer; print(pycontainer.__file__); print(n.__file__)"],
                           cwd=tmp_path, env=_env(), capture_output=True, text=True, check=True)
    assert all(line.startswith(str(venv)) for line in where.stdout.split()), where.stdout
    p = subprocess.run([str(venv / "bin" / "pycontainer"), "--version"], cwd=tmp_path, env=_env(),
                       capture_output=True, text=True, timeout=30)
    assert p.returncode == 0 and p.stdout.startswith("pycontainer version"), p.stderr


@pytest.mark.root
@pytest.mark.skipif(not IS_ROOT, reason="runs a container")
def test_the_wheel_runs_a_container_from_its_own_recipes(venv, tmp_path):
    env = dict(_env(), PYCONTAINER_IMAGE_ROOT=str(tmp_path / "images"))   # busybox built anew
    p = subprocess.run([str(venv / "bin" / "pycontainer"), "--root", str(tmp_path / "state"), "run",
                        "--rm", "--net", "none", "busybox", "sh", "-c", "echo from-the-wheel"],
                       cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120,
                       stdin=subprocess.DEVNULL)
    assert (p.returncode, p.stdout) == (0, "from-the-wheel\n"), p.stderr
