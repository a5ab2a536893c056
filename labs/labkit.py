"""The labs' shared plumbing: run a lab's program, look at it from outside, say what is wrong.

Every lab has the same shape:

* ``exercise.py``   – a few functions for the student to complete (each raises
  ``NotImplementedError`` with a hint until it is done);
* ``solution/exercise.py`` – the reference answers, kept apart;
* ``lab.py``        – the program that calls those functions in the right order
  and then stays alive (or writes its result) so the check can look at it;
* ``check``         – runs ``lab.py`` and verifies the result *from outside*:
  namespace inodes under ``/proc/PID/ns``, cgroup files, mountinfo, ``ip``.

``check --solution`` runs the reference answers instead of the student's, which
is what CI does. ``check`` exits 0 when everything is right, 1 when something is
wrong (each wrong thing is printed in plain words), and 77 when the lab cannot
run on this machine (not root, no cgroup v2, ...), saying why.
"""

from __future__ import annotations

import importlib.util
import json
import os
import shutil
import signal
import subprocess
import sys
import time

LABS = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(LABS)
SKIP = 77          # the exit status automake and the tests read as "skipped"
if REPO not in sys.path:
    sys.path.insert(0, REPO)   # so ``from pycontainer import syscalls`` works from a checkout


# --- inside the lab's program -------------------------------------------------------------

def load_exercise(lab_dir: str):
    """Import the student's exercise.py, or the reference one when LAB_SOLUTION=1."""
    sub = "solution" if os.environ.get("LAB_SOLUTION") == "1" else ""
    path = os.path.join(lab_dir, sub, "exercise.py")
    spec = importlib.util.spec_from_file_location("exercise", path)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def load_solution(lab_name: str):
    """Another lab's reference answers (a later lab builds on an earlier one's steps)."""
    path = os.path.join(LABS, lab_name, "solution", "exercise.py")
    spec = importlib.util.spec_from_file_location(f"solution_{lab_name[:2]}", path)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def state_dir(lab: str) -> str:
    """Where a lab's program leaves what the check reads (``/tmp/pycontainer-lab-NN``)."""
    path = f"/tmp/pycontainer-lab-{lab}"
    os.makedirs(path, exist_ok=True)
    return path


def report(lab: str, **info) -> None:
    """Tell the check what happened (written atomically: the check polls for it)."""
    path = os.path.join(state_dir(lab), "ready.json")
    with open(path + ".tmp", "w") as f:
        json.dump(info, f)
    os.rename(path + ".tmp", path)


def wait_forever() -> None:
    """Stay alive until the check is done looking (it sends SIGTERM)."""
    signal.signal(signal.SIGTERM, lambda *_: os._exit(0))
    while True:
        signal.pause()


def fork_and_stay(steps) -> int:
    """Fork a child that runs ``steps()`` and then stays alive (for the check to look at).

    The parent gets the child's PID once the steps worked; if they raised, the
    child's error becomes the parent's exit message (what the check prints).
    """
    r, w = os.pipe()
    pid = os.fork()
    if pid == 0:
        os.close(r)
        try:
            steps()
            os.write(w, b"ok")
        except Exception as e:  # tell the parent, which reports it
            os.write(w, f"{type(e).__name__}: {e}".encode())
            os._exit(1)
        os.close(w)
        wait_forever()
    os.close(w)
    msg = os.read(r, 4096).decode()
    os.close(r)
    if msg != "ok":
        sys.exit(msg or "the child died before it finished its steps")
    return pid


def busybox_rootfs(dest: str) -> str:
    """A fresh copy of the busybox root filesystem at ``dest`` (built once, offline)."""
    cache = "/tmp/pycontainer-labs-busybox"
    if not os.path.exists(os.path.join(cache, "rootfs", "bin", "busybox")):
        subprocess.run(["sh", os.path.join(REPO, "images", "build-busybox.sh"), cache],
                       check=True, stdout=subprocess.DEVNULL)
    if os.path.exists(dest):
        shutil.rmtree(dest)
    shutil.copytree(os.path.join(cache, "rootfs"), dest, symlinks=True)
    return dest


# --- in the check -------------------------------------------------------------------------

class Check:
    """Runs a lab's program and collects what is right and what is wrong."""

    def __init__(self, lab: str, lab_dir: str):
        self.lab, self.lab_dir = lab, lab_dir
        self.solution = "--solution" in sys.argv
        self.failed = 0
        self.proc: subprocess.Popen | None = None
        self.cleanups: list = []
        print(f"lab {lab}: checking {'the reference solution' if self.solution else 'your exercise.py'}")

    # preconditions
    def need_root(self) -> None:
        if os.geteuid() != 0:
            self.skip("run the check as root (sudo ./check)")

    def need_cgroup2(self) -> None:
        if not os.path.exists("/sys/fs/cgroup/cgroup.controllers"):
            self.skip("needs a pure cgroup v2 machine (/sys/fs/cgroup is cgroup v1 or hybrid "
                      "here): use the Vagrantfile's VM, see labs/README.md")

    def skip(self, why: str) -> None:
        print(f"lab {self.lab}: skipped: {why}")
        sys.exit(SKIP)

    # running the lab
    def start(self, *argv: str, timeout: float = 180, wait_exit: bool = False) -> dict:
        """Run lab.py; return what it reported. On failure print its stderr and exit 1."""
        sdir = state_dir(self.lab)
        for name in os.listdir(sdir):
            p = os.path.join(sdir, name)
            shutil.rmtree(p) if os.path.isdir(p) and not os.path.islink(p) else os.unlink(p)
        env = dict(os.environ, LAB_SOLUTION="1" if self.solution else "0")
        self.errlog = open(os.path.join(sdir, "stderr.log"), "w+")
        self.proc = subprocess.Popen([sys.executable, os.path.join(self.lab_dir, "lab.py"), *argv],
                                     env=env, stdin=subprocess.DEVNULL, stdout=self.errlog,
                                     stderr=subprocess.STDOUT, start_new_session=True)
        ready = os.path.join(sdir, "ready.json")
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if os.path.exists(ready):
                if wait_exit:
                    self.proc.wait(timeout=max(1, deadline - time.monotonic()))
                with open(ready) as f:
                    return json.load(f)
            if self.proc.poll() is not None and not os.path.exists(ready):
                break
            time.sleep(0.05)
        if self.proc.poll() is None:
            self.fail(f"lab.py did not report within {timeout:.0f} s", "is it waiting for something?")
            self.finish()
        self.errlog.seek(0)
        out = self.errlog.read().strip().splitlines()
        hint = next((l for l in reversed(out) if "NotImplementedError" in l or "Error" in l), "")
        self.fail("lab.py did not get to the end", hint or "\n".join(out[-5:]) or "(no output)")
        self.finish()

    def ok(self, cond: bool, what: str, hint: str = "") -> bool:
        print(f"  {'ok  ' if cond else 'FAIL'}  {what}")
        if not cond:
            self.failed += 1
            if hint:
                print(f"        -> {hint}")
        return cond

    def fail(self, what: str, hint: str = "") -> None:
        self.ok(False, what, hint)

    def finish(self) -> None:
        """Stop the lab's program (by its PID; we started it), clean up, exit 0 or 1."""
        if self.proc:
            # The whole process group: lab.py's children outlive it when it
            # failed half-way (a child waiting on a pipe, in its namespaces).
            try:
                os.killpg(self.proc.pid, signal.SIGTERM)
            except ProcessLookupError:
                pass
            try:
                self.proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                pass
            deadline = time.monotonic() + 5
            while time.monotonic() < deadline:
                try:
                    os.killpg(self.proc.pid, 0)
                except ProcessLookupError:
                    break
                time.sleep(0.05)
            else:
                try:
                    os.killpg(self.proc.pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
        for fn in reversed(self.cleanups):
            try:
                fn()
            except OSError:
                pass
        if self.failed:
            print(f"lab {self.lab}: {self.failed} thing(s) to fix")
            sys.exit(1)
        print(f"lab {self.lab}: all good")
        sys.exit(0)


# --- looking from outside ----------------------------------------------------------------

def ns_inode(pid: int | str, name: str) -> str:
    return os.readlink(f"/proc/{pid}/ns/{name}")


def proc_status(pid: int) -> dict[str, str]:
    out = {}
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            k, _, v = line.partition(":")
            out[k] = v.strip()
    return out


def mountinfo(pid: int | str = "self") -> list[dict]:
    """/proc/PID/mountinfo as dicts: mount point, fs type, source, options (proc(5))."""
    out = []
    with open(f"/proc/{pid}/mountinfo") as f:
        for line in f:
            left, _, right = line.partition(" - ")
            a, b = left.split(), right.split()
            out.append({"root": a[3], "target": a[4], "opts": a[5], "optional": " ".join(a[6:]),
                        "fstype": b[0],
                        "source": b[1], "super": b[2] if len(b) > 2 else ""})
    return out


def cgroup_read(path: str, name: str) -> str:
    with open(os.path.join(path, name)) as f:
        return f.read().strip()


def rmdir_cgroup(path: str) -> None:
    """Remove a cgroup we made, once its processes are gone (rmdir(2) on cgroupfs)."""
    for _ in range(100):
        try:
            os.rmdir(path)
            return
        except FileNotFoundError:
            return
        except OSError:
            time.sleep(0.05)
