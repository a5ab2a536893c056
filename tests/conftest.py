"""Shared fixtures: a busybox bundle, the CLI as a subprocess, leak checks.

Integration tests run the real runtime, as root, on the real kernel, and
check the result from outside (/proc/PID/ns, /proc/PID/status, the cgroup
tree, mountinfo). Each test gets its own state root (``--root``) so tests
never see each other's containers, and ``leakcheck`` asserts that a test
left no mount, cgroup or state behind.
"""

from __future__ import annotations

import copy
import json
import os
import shutil
import subprocess
import sys
import time
import uuid

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
IS_ROOT = os.geteuid() == 0


def pytest_collection_modifyitems(config, items):
    skip_root = pytest.mark.skip(reason="needs root (integration test on the real kernel)")
    for item in items:
        if "root" in item.keywords and not IS_ROOT:
            item.add_marker(skip_root)


@pytest.fixture(autouse=True)
def _unit_events_log(request, tmp_path_factory, monkeypatch):
    """A unit test's events (a store of its own loading, tagging, removing images) go to a
    log of its own, not to the host's events.log that ``pycontainer events`` shows."""
    if f"{os.sep}unit{os.sep}" not in str(request.node.fspath):
        return
    sys.path.insert(0, ROOT) if ROOT not in sys.path else None
    from pycontainer import events
    log = str(tmp_path_factory.mktemp("events") / "events.log")
    monkeypatch.setattr(events, "path", lambda: log)


# --- the default image's rootfs, built once per session -------------------------

@pytest.fixture(scope="session")
def busybox_rootfs(tmp_path_factory):
    out = tmp_path_factory.mktemp("image") / "busybox"
    if not os.path.exists("/bin/busybox"):
        pytest.skip("busybox-static is not installed (apt-get install busybox-static)")
    subprocess.run(["sh", os.path.join(ROOT, "images", "build-busybox.sh"), str(out)],
                   check=True, stdout=subprocess.DEVNULL)
    return str(out / "rootfs")


def default_config(args):
    sys.path.insert(0, ROOT)
    from pycontainer.spec import default_spec
    spec = default_spec(args, terminal=False)
    return spec


class Bundle:
    """A bundle dir with a copy of the busybox rootfs and an editable config."""

    def __init__(self, path: str, rootfs_src: str):
        self.path = path
        self.rootfs = os.path.join(path, "rootfs")
        shutil.copytree(rootfs_src, self.rootfs, symlinks=True)
        self.config = default_config(["sh", "-c", "true"])
        self.config["root"]["readonly"] = False   # tests write marks into the rootfs

    def write(self, config: dict | None = None) -> str:
        with open(os.path.join(self.path, "config.json"), "w") as f:
            json.dump(config if config is not None else self.config, f)
        return self.path

    def args(self, *argv: str) -> "Bundle":
        self.config["process"]["args"] = list(argv)
        self.write()
        return self


@pytest.fixture
def bundle(tmp_path, busybox_rootfs):
    b = Bundle(str(tmp_path / "bundle"), busybox_rootfs)
    os.makedirs(b.path, exist_ok=True)
    b.write()
    return b


# --- the CLI -----------------------------------------------------------------------

class CLI:
    def __init__(self, root: str):
        self.root = root
        self.created: list[str] = []

    def cmd(self, *args: str, root: bool = True) -> list[str]:
        base = [sys.executable, "-m", "pycontainer"]
        return base + (["--root", self.root] if root else []) + list(args)

    def __call__(self, *args: str, check: bool = False, timeout: float = 60, input=None,
                 root: bool = True, **kw) -> subprocess.CompletedProcess:
        # Output goes to files, not pipes: a created or detached container's
        # init inherits them and would hold a pipe open long after we return.
        import tempfile
        with tempfile.TemporaryFile("w+") as out, tempfile.TemporaryFile("w+") as err, \
                tempfile.TemporaryFile("w+b") as data:
            stdin = None if input is not None else subprocess.DEVNULL
            if isinstance(input, bytes):            # bytes (a tar): from a file, not as text
                data.write(input)
                data.seek(0)
                stdin, input = data, None
            r = subprocess.run(self.cmd(*args, root=root), stdout=out, stderr=err, text=True,
                               timeout=timeout, input=input, cwd=kw.pop("cwd", ROOT), stdin=stdin, **kw)
            out.seek(0)
            err.seek(0)
            p = subprocess.CompletedProcess(r.args, r.returncode, out.read(), err.read())
        if check and p.returncode != 0:
            raise AssertionError(f"pycontainer {' '.join(args)} failed ({p.returncode}): {p.stderr}")
        return p

    def state(self, cid: str) -> dict:
        return json.loads(self("state", cid, check=True).stdout)

    def id_of(self, name: str) -> str:
        """The ID (docker's 64 hex digits) of the container ``--name``d so."""
        return self("inspect", "-f", "{{.Id}}", name, check=True).stdout.strip()

    @staticmethod
    def dirs_named(name: str, cdir: str = "/var/lib/pycontainer/containers") -> list[str]:
        """The container directories (named by ID) that hold the name ``name``: what a
        "nothing left" check of a refused ``--name``d create looks for."""
        out = []
        for n in os.listdir(cdir) if os.path.isdir(cdir) else []:
            try:
                with open(os.path.join(cdir, n, "name")) as f:
                    if f.read().strip() == name:
                        out.append(n)
            except OSError:
                pass
        return out

    def create(self, cid: str, bundle: str, *extra: str, **kw) -> subprocess.CompletedProcess:
        self.created.append(cid)
        return self("create", "--bundle", bundle, *extra, cid, **kw)

    def cleanup(self) -> None:
        for cid in os.listdir(self.root) if os.path.isdir(self.root) else []:
            self("delete", "--force", cid)


@pytest.fixture
def cli(tmp_path):
    c = CLI(str(tmp_path / "state"))
    yield c
    c.cleanup()


HOT_IMPORTS_BANNED = ("os", "json", "re", "enum", "socket", "click", "signal", "subprocess")


def as_installed(cli, *args, banned=HOT_IMPORTS_BANNED) -> str:
    """Run a verb as the installed command runs it (python -I -S), with -X importtime listing
    every module it loads; assert none of ``banned`` is among them. -> its stdout."""
    import sysconfig
    where = [ROOT, sysconfig.get_paths()["purelib"], sysconfig.get_paths()["platlib"]]   # as install.sh's
    launch = (f"import sys; sys.path[0:0] = {where!r}; from pycontainer import importcache; "
              "importcache.install(); from pycontainer.entry import main; main()")
    p = subprocess.run([sys.executable, "-I", "-S", "-X", "importtime", "-c", launch,
                        "--root", cli.root, *args], capture_output=True, text=True, timeout=60)
    assert p.returncode == 0, (args, p.stderr[-2000:])
    mods = {line.rsplit("|", 1)[1].strip() for line in p.stderr.splitlines()
            if line.startswith("import time:") and "|" in line}
    assert "pycontainer.container" in mods, args
    assert not [m for m in banned if m in mods], (args, sorted(mods))
    return p.stdout


def engine_verbs_as_installed(cli, bundle) -> None:
    """state (created, running, paused, stopped), start, kill and delete of one container,
    each run as the installed command runs it (``as_installed``: none of HOT_IMPORTS_BANNED)."""
    bundle.args("sleep", "30")
    cid = new_id()
    cli.create(cid, bundle.path)
    try:
        assert json.loads(as_installed(cli, "state", cid))["status"] == "created"
        as_installed(cli, "start", cid)
        assert json.loads(as_installed(cli, "state", cid))["status"] == "running"
        assert cli("pause", cid).returncode == 0
        assert json.loads(as_installed(cli, "state", cid))["status"] == "paused"
        assert cli("resume", cid).returncode == 0
        as_installed(cli, "kill", cid, "KILL")
        for _ in range(200):
            if cli.state(cid)["status"] == "stopped":
                break
            time.sleep(0.02)
        # stopped: the OOM count comes from the recorded directories too (cgroups/events.py)
        assert "oomKilled" not in json.loads(as_installed(cli, "state", cid))
        as_installed(cli, "delete", cid)
    finally:
        cli("delete", "--force", cid)
    assert cli("state", cid).returncode != 0


def new_id(prefix: str = "t") -> str:
    return f"{prefix}-{uuid.uuid4().hex[:10]}"


# --- "nothing left behind" ------------------------------------------------------------

def _mounts() -> list[str]:
    with open("/proc/self/mountinfo") as f:
        return sorted(" ".join(line.split()[3:5]) for line in f)


def _cgroups() -> list[str]:
    out = []
    for base in ("/sys/fs/cgroup", "/sys/fs/cgroup/unified"):
        if not os.path.isdir(base):
            continue
        for hier in os.listdir(base):
            p = os.path.join(base, hier, "pycontainer")
            if os.path.isdir(p):
                out += [os.path.join(p, d) for d in os.listdir(p) if os.path.isdir(os.path.join(p, d))]
        p = os.path.join(base, "pycontainer")
        if os.path.isdir(p):
            out += [os.path.join(p, d) for d in os.listdir(p) if os.path.isdir(os.path.join(p, d))]
    return sorted(out)


CONTAINER_DIRS = "/var/lib/pycontainer/containers"


def leftovers_of(ids, *, with_dirs: bool = False) -> list[str]:
    """Mounts and cgroups (v1 hierarchies and v2) that name one of ``ids`` (and, with
    ``with_dirs``, their container dirs): other tests' containers come and go on a shared
    machine, so the API and sandbox tests compare only their own."""
    with open("/proc/self/mountinfo") as f:
        mounts = [ln.split()[4] for ln in f if any(i in ln for i in ids)]
    out = mounts + [p for p in _cgroups() if os.path.basename(p) in ids]
    if with_dirs:
        out += [i for i in ids if os.path.exists(os.path.join(CONTAINER_DIRS, i))]
    return out


def record_ids(client) -> set:
    """Every container ID ``client`` sends to its helper, from now on (``client.seen_ids``)."""
    ids: set[str] = set()
    helper_call = client.transport.helper.call

    def record(req, *a, **kw):
        if req.get("id"):
            ids.add(req["id"])
        return helper_call(req, *a, **kw)
    client.transport.helper.call = record
    client.seen_ids = ids
    return ids


def in_threads(work, n: int, timeout: float) -> list:
    """Run ``work(k)`` for k in range(n), each in its own thread; -> what they raised."""
    import threading
    errors: list = []

    def guarded(k):
        try:
            work(k)
        except BaseException as exc:  # noqa: BLE001 - reported to the test
            errors.append(exc)
    threads = [threading.Thread(target=guarded, args=(k,)) for k in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout)
    return errors


class Snapshot:
    def __init__(self, state_root: str):
        self.state_root = state_root
        self.mounts = _mounts()
        self.cgroups = _cgroups()

    def assert_same(self) -> None:
        # Left behind = there now and not before; what went away meanwhile is
        # someone else's and no leak of ours.
        from collections import Counter

        def new():              # multisets: a second mount on the same target counts too
            return (set(Counter(_mounts()) - Counter(self.mounts)),
                    set(_cgroups()) - set(self.cgroups))

        def states():
            return os.listdir(self.state_root) if os.path.isdir(self.state_root) else []
        deadline = time.monotonic() + 10   # a monitor's --rm delete can still be under way
        while (new() != (set(), set()) or states()) and time.monotonic() < deadline:
            time.sleep(0.05)
        mounts, cgroups = new()
        assert not mounts, "mounts left behind: " + repr(sorted(mounts))
        assert not cgroups, "cgroups left behind: " + repr(sorted(cgroups))
        left = states()
        assert left == [], f"state dirs left behind: {left}"


@pytest.fixture
def leakcheck(cli):
    snap = Snapshot(cli.root)
    yield snap
    snap.assert_same()


def pid_alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except FileNotFoundError:
        return False


def proc_status(pid: int) -> dict:
    out = {}
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            k, _, v = line.partition(":")
            out[k] = v.strip()
    return out


def status_of_program(pid: int, name: str, timeout: float = 10) -> dict:
    """``proc_status`` of ``pid`` once it is program ``name`` asleep in its own code (or at
    ``timeout``). A runc-style ``start`` returns when the init has the go (runc's exec.fifo
    read), before the init sets no_new_privs, loads its filter, closes fds and execs; and
    the kernel names the task (``Name:``) a moment before it commits the program's
    credentials, so the name alone is not enough: asleep (``S``), exec is over."""
    deadline = time.monotonic() + timeout
    while True:
        s = proc_status(pid)
        if (s["Name"] == name and s["State"].startswith("S")) or time.monotonic() > deadline:
            return s
        time.sleep(0.005)


def descendant_running(pid: int, argv: list[str], timeout: float = 10) -> int:
    """The pid of a process running ``argv`` below ``pid`` (its child, grandchild ...), once
    there is one; AssertionError after ``timeout``. Only ``pid``'s own tree counts: other
    tests' containers run the same commands."""
    want = ("\0".join(argv) + "\0").encode()
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for n in filter(str.isdigit, os.listdir("/proc")):
            try:
                with open(f"/proc/{n}/cmdline", "rb") as f:
                    if f.read() == want and _below(int(n), pid):
                        return int(n)
            except OSError:
                pass
        time.sleep(0.02)
    raise AssertionError(f"no {argv} below pid {pid} after {timeout} s")


def logged(cli, container: str, text: str, timeout: float = 15) -> str:
    """``logs`` of ``container`` once it has ``text`` (AssertionError after ``timeout``): a
    container that says "ready" once its trap is set, or once it runs at all, tells the test
    when a signal, a reader or a follower can come, where a fixed sleep only guesses."""
    deadline = time.monotonic() + timeout
    while text not in (out := cli("logs", container).stdout):
        assert time.monotonic() < deadline, f"{text!r} not in the log of {container}: {out!r}"
        time.sleep(0.05)
    return out


def read_until(proc, want: bytes, timeout: float = 15) -> bytes:
    """What ``proc`` (a Popen with stdout=PIPE) writes, read until ``want`` is in it: that a
    follower (``logs -f``, ``attach``) has shown a line proves it is following from there
    on. AssertionError after ``timeout`` or at its end of output."""
    import select
    got, deadline = b"", time.monotonic() + timeout
    while want not in got:
        left = deadline - time.monotonic()
        assert left > 0 and select.select([proc.stdout], [], [], left)[0], (want, got)
        data = os.read(proc.stdout.fileno(), 65536)
        assert data, f"{want!r} not in its whole output {got!r}"
        got += data
    return got


TICKS_UNTIL_GO = "until [ -e /go ]; do echo tick; sleep 0.1; done; "


def attached_to_the_end(cli, cid: str) -> tuple[int, bytes, bytes]:
    """``attach`` to a container whose program begins with TICKS_UNTIL_GO: once attach has
    shown a "tick" (it follows from there on), /go is made, so what the program does next
    comes while it is attached, however long attach took to start. -> (attach's exit
    status, all it printed, its stderr)."""
    p = subprocess.Popen(cli.cmd("attach", cid), stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                         cwd=ROOT)
    try:
        out = read_until(p, b"tick\n")
        assert cli("exec", cid, "touch", "/go").returncode == 0
        rest, err = p.communicate(timeout=60)
    finally:
        if p.poll() is None:
            p.kill()
            p.wait()
    return p.returncode, out + rest, err


def _below(pid: int, ancestor: int) -> bool:
    while pid > 1:
        with open(f"/proc/{pid}/stat") as f:
            pid = int(f.read().rsplit(")", 1)[1].split()[1])
        if pid == ancestor:
            return True
    return False


__all__ = ["Bundle", "CLI", "new_id", "pid_alive", "proc_status", "status_of_program",
           "descendant_running", "logged", "read_until", "attached_to_the_end", "TICKS_UNTIL_GO",
           "copy"]
