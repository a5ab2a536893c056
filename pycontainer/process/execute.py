"""``exec``: a new process inside a running container.

The new process must end up exactly where the container's own processes
are: in each of its namespaces (setns(2) on ``/proc/<init>/ns/*``), in its
cgroup, with the capabilities, user, limits and no_new_privs its process
spec asks for, and with no host file descriptor (CVE-2024-21626 applies to
exec as much as to create). Like create it takes three processes:

    runtime (stage 0) ──fork──▶ joiner ──setns×N, fork──▶ the new process
        cgroup.procs ◀─ pid          (pid ns applies to children)
        GO ──────────────▶
                         ◀── EXEC_PID {pid}   joiner exits
                         ◀── ERROR …          or EOF: execve succeeded

The joiner is put into the container's cgroup *before* it joins the
cgroup namespace, so the new process sees the container's cgroup as '/'.
Joining the mount namespace also moves root and cwd to the container's
root (setns(2), "CLONE_NEWNS"), so the path lookups that follow happen
inside the container. The sync socket is close-on-exec: a successful
execve closes it, and the runtime reads EOF.
"""

from __future__ import annotations

import os
import sys

from _signal import SIGKILL   # not `signal`: its enums cost ~3 ms of every exec

from .. import jsonio, procattrs
from .. import state as st
from .. import syscalls as sc
from .. import trace
from ..errors import ContainerSetupError, InvalidState
from ..security import exeseal
from ..security.fds import close_inherited
from . import init as I   # everything the new process needs, imported before setns (P1)
from . import finalize, launcher
from . import sync as S

EXEC_PID = "EXEC_PID"
# Join order: user first (it grants the right to join the rest), mnt late,
# pid last (it only applies to children anyway).
_ORDER = ("user", "ipc", "uts", "net", "cgroup", "time", "mnt", "pid")
_FLAGS = {"user": sc.CLONE_NEWUSER, "ipc": sc.CLONE_NEWIPC, "uts": sc.CLONE_NEWUTS,
          "net": sc.CLONE_NEWNET, "cgroup": sc.CLONE_NEWCGROUP, "time": sc.CLONE_NEWTIME,
          "mnt": sc.CLONE_NEWNS, "pid": sc.CLONE_NEWPID}


class ExecContext:
    """What exec's processes need. The seccomp filter is not a parameter: it is
    always the container's own (``seccomp.bpf`` in its state dir, saved by
    create), so no exec form can leave it out."""

    def __init__(self, *, record, process, cgroup, statedir: str, console_socket=None,
                 preserve_fds=0):
        self.record = record
        self.process = process
        self.cgroup = cgroup
        self.console_path = console_socket
        self.console_sock = None
        self.preserve_fds = preserve_fds
        self.seccomp = None
        if os.path.exists(os.path.join(statedir, "seccomp.bpf")):
            from ..security.seccomp import Filter      # only for containers that have one
            self.seccomp = Filter.from_statedir(statedir)
        self.dmz_fd = None          # sealed exec helper (security.exeseal)
        self.sync = None


def namespaces_to_join(pid: int) -> list[tuple[str, str]]:
    """The namespaces of ``pid`` that differ from ours, in join order."""
    out = []
    for name in _ORDER:
        path = f"/proc/{pid}/ns/{name}"
        try:
            if os.readlink(path) != os.readlink(f"/proc/self/ns/{name}"):
                out.append((name, path))
        except FileNotFoundError:
            continue
    return out


def launch(ctx: ExecContext) -> int:
    """Start the process; return its host pid once execve has succeeded."""
    pid = ctx.record["pid"]
    if st.proc_start_time(pid) != ctx.record.get("pid_start"):
        raise InvalidState(f"cannot exec in container {ctx.record['id']!r}: it is stopped")
    join = namespaces_to_join(pid)
    if ctx.console_path:
        ctx.console_sock = launcher.connect_console(ctx.console_path)
    parent, child = S.SyncSocket.pair()
    sc.prctl(launcher.PR_SET_CHILD_SUBREAPER, 1)
    exeseal.nondumpable()                      # CVE-2016-9962 / CVE-2019-5736 (security.exeseal)
    ctx.dmz_fd = exeseal.dmz_fd(3 + ctx.preserve_fds)
    trace.event("fork", "exec --process", what="exec joiner")
    jpid = os.fork()
    if jpid == 0:
        try:
            parent.close()
            # what the attach priming holds stays out (only loaded if priming ran here)
            primer = sys.modules.get("pycontainer.cgroups.attachlock")
            if primer is not None:
                primer.drop_inherited()
            ctx.sync = child
            _joiner(ctx, join)
        finally:
            os._exit(1)
    child.close()
    if ctx.console_sock is not None:
        ctx.console_sock.close()
    if ctx.dmz_fd is not None:
        os.close(ctx.dmz_fd)
    try:
        ctx.cgroup.add_pid(jpid)
        parent.send(S.GO)
        msg = parent.recv(timeout=60)
        if msg.get("type") != EXEC_PID:
            launcher.raise_from(parent, msg)
        new_pid = msg["pid"]
        _reap(jpid)
        # Next: an ERROR from the new process, or EOF when execve closed the socket.
        try:
            msg = parent.recv(timeout=60)
        except ContainerSetupError as exc:
            if exc.stage == "sync" and "without saying why" in str(exc):
                return new_pid          # EOF: execve succeeded
            raise
        launcher.raise_from(parent, msg)
        raise AssertionError("unreachable")
    except BaseException:
        _reap(jpid)
        raise
    finally:
        parent.close()


def _reap(pid: int) -> None:
    try:
        os.waitpid(pid, 0)
    except ChildProcessError:
        pass


def _joiner(ctx: ExecContext, join: list[tuple[str, str]]) -> None:
    trace.set_stage("exec")
    code = 0
    try:
        sc.prctl(1, SIGKILL)           # PR_SET_PDEATHSIG
        close_inherited(3 + ctx.preserve_fds)   # the caller's stray fds (security.fds)
        I.oom_score_adj(ctx.process)         # inherited; before setns(user) (see init.stage1)
        procattrs.load_calls(ctx.process, {})  # scheduler, ioPriority: before setns(mnt)
        ctx.sync.expect(S.GO)                 # we are in the container's cgroup now
        fds = []
        for name, path in join:
            fds.append((name, os.open(path, os.O_RDONLY | os.O_CLOEXEC)))
        # Without a private mount namespace the init is chroot'ed (rootfs.chroot): so is exec.
        root_fd = os.open(f"/proc/{ctx.record['pid']}/root", os.O_PATH | os.O_DIRECTORY | os.O_CLOEXEC) \
            if ctx.record.get("host_mounts") else None
        for name, fd in fds:
            with trace.step("setns", "exec: the container's linux.namespaces", ns=name,
                            nstype=sc.CLONE_NAMES[_FLAGS[name]], file=dict(join)[name]):
                try:
                    sc.setns(fd, _FLAGS[name])
                except OSError as exc:
                    raise ContainerSetupError(f"exec: join {name} namespace: {exc.strerror}",
                                              stage="exec", errno=exc.errno) from None
                finally:
                    os.close(fd)
        if root_fd is not None:
            with trace.step("chroot", "exec", new_root=f"/proc/{ctx.record['pid']}/root"):
                os.fchdir(root_fd)
                os.chroot(".")
                os.chdir("/")
                os.close(root_fd)
        # '/' is the container's now: no more imports (security.md P1).
        sys.addaudithook(I.no_imports_after_pivot)
        pid = os.fork()
        if pid == 0:
            try:
                _exec_process(ctx, in_userns=any(name == "user" for name, _ in join))
            finally:
                os._exit(1)
        ctx.sync.send(EXEC_PID, pid=pid)
    except BaseException as exc:  # noqa: BLE001
        ctx.sync.send_error(exc, "exec")
        code = 1
    os._exit(code)


def _exec_process(ctx: ExecContext, in_userns: bool) -> None:
    """The new process: the init's own tail (finalize.py), then execve. ``in_userns``: it joined
    the container's user namespace (its /proc/1 need not be the init: ``--pid host``)."""
    trace.set_stage("exec")
    proc = ctx.process
    try:
        if proc.get("terminal"):
            I.setup_console(ctx, proc, mount_console=False)
        path = finalize.prepare(proc, ctx.seccomp, in_userns)
        finalize.exec_program(path, proc, ctx.sync.sock, ctx.preserve_fds, ctx.dmz_fd, ctx.seccomp,
                              report=lambda exc: jsonio.dumps({"type": S.ERROR, "kind": type(exc).__name__,
                                                               "msg": str(exc), "stage": exc.stage,
                                                               "errno": exc.errno}).encode())
    except BaseException as exc:  # noqa: BLE001
        if ctx.sync.sock.fileno() != -1:       # not yet handed to exec_program
            ctx.sync.send_error(exc, "exec")
        os._exit(1)
