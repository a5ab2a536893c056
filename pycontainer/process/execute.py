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

import json
import os
import signal
import sys

from .. import capabilities, procattrs, userenv
from .. import state as st
from .. import syscalls as sc
from .. import trace
from ..errors import ContainerSetupError, InvalidState
from ..security import exeseal
from ..security.fds import close_inherited
from . import init as I   # everything the new process needs, imported before setns (P1)
from . import sync as S

EXEC_PID = "EXEC_PID"
# Join order: user first (it grants the right to join the rest), mnt late,
# pid last (it only applies to children anyway).
_ORDER = ("user", "ipc", "uts", "net", "cgroup", "time", "mnt", "pid")
_FLAGS = {"user": sc.CLONE_NEWUSER, "ipc": sc.CLONE_NEWIPC, "uts": sc.CLONE_NEWUTS,
          "net": sc.CLONE_NEWNET, "cgroup": sc.CLONE_NEWCGROUP, "time": sc.CLONE_NEWTIME,
          "mnt": sc.CLONE_NEWNS, "pid": sc.CLONE_NEWPID}


class ExecContext:
    def __init__(self, *, record, process, cgroup, console_socket=None, preserve_fds=0, seccomp=None):
        self.record = record
        self.process = process
        self.cgroup = cgroup
        self.console_path = console_socket
        self.console_sock = None
        self.preserve_fds = preserve_fds
        self.seccomp = seccomp
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
        from .launcher import _connect_console
        ctx.console_sock = _connect_console(ctx.console_path)
    parent, child = S.SyncSocket.pair()
    from .launcher import PR_SET_CHILD_SUBREAPER
    sc.prctl(PR_SET_CHILD_SUBREAPER, 1)
    exeseal.nondumpable()                      # CVE-2016-9962 / CVE-2019-5736 (security.exeseal)
    ctx.dmz_fd = exeseal.dmz_fd(3 + ctx.preserve_fds)
    trace.event("fork", "exec --process", what="exec joiner")
    jpid = os.fork()
    if jpid == 0:
        try:
            parent.close()
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
            from .launcher import _raise_from
            _raise_from(parent, msg)
        new_pid = msg["pid"]
        _reap(jpid)
        # Next: an ERROR from the new process, or EOF when execve closed the socket.
        try:
            msg = parent.recv(timeout=60)
        except ContainerSetupError as exc:
            if exc.stage == "sync" and "without saying why" in str(exc):
                return new_pid          # EOF: execve succeeded
            raise
        from .launcher import _raise_from
        _raise_from(parent, msg)
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
        sc.prctl(1, signal.SIGKILL)           # PR_SET_PDEATHSIG
        close_inherited(3 + ctx.preserve_fds)   # the caller's stray fds (security.fds)
        I._oom_score_adj(ctx.process)         # inherited; before setns(user) (see init.stage1)
        ctx.sync.expect(S.GO)                 # we are in the container's cgroup now
        fds = []
        for name, path in join:
            fds.append((name, os.open(path, os.O_RDONLY | os.O_CLOEXEC)))
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
        # '/' is the container's now: no more imports (security.md P1).
        sys.addaudithook(I._no_imports_after_pivot)
        pid = os.fork()
        if pid == 0:
            try:
                _exec_process(ctx)
            finally:
                os._exit(1)
        ctx.sync.send(EXEC_PID, pid=pid)
    except BaseException as exc:  # noqa: BLE001
        ctx.sync.send_error(exc, "exec")
        code = 1
    os._exit(code)


def _exec_process(ctx: ExecContext) -> None:
    """The new process: the same steps as the init's tail, then execve."""
    trace.set_stage("exec")
    proc = ctx.process
    try:
        if proc.get("terminal"):
            I._setup_console(ctx, proc, mount_console=False)
        for r in proc.get("rlimits", []):
            I._setrlimit(r)
        procattrs.apply_process(proc)       # scheduler, ioPriority (runc's setns init)
        env = proc.get("env", [])
        if ctx.seccomp and not proc.get("noNewPrivileges"):
            ctx.seccomp(proc)   # without NNP a filter needs CAP_SYS_ADMIN: before the drop
        caps = proc.get("capabilities")
        if caps is not None:
            capabilities.drop_bounding(caps.get("bounding", []), capabilities.last_cap())
        uid = proc.get("user", {}).get("uid", 0)
        userenv.fix_stdio(uid)                              # runc's setupUser
        proc["env"] = userenv.prepare_env(proc.get("env", []), uid)
        I._set_user(proc.get("user", {}), keep_caps=caps is not None,
                    in_userns=os.readlink("/proc/self/ns/user") != os.readlink("/proc/1/ns/user"))
        path = I.find_program(proc["args"][0], env, proc.get("cwd", "/"))
        if caps is not None:
            capabilities.apply_sets(caps)
        if "umask" in proc.get("user", {}):
            os.umask(proc["user"]["umask"])
        if not proc.get("terminal"):
            # A session of its own: no controlling tty shared with the caller, so no TIOCSTI
            # into the caller's terminal (CVE-2017-5226; crun and bubblewrap do the same).
            os.setsid()
        if proc.get("noNewPrivileges"):
            sc.prctl(I.PR_SET_NO_NEW_PRIVS, 1)
        if ctx.seccomp:
            ctx.seccomp(proc)
        I.exec_program(path, proc, ctx.sync.sock, ctx.preserve_fds, ctx.dmz_fd,
                       report=lambda exc: json.dumps({"type": S.ERROR, "kind": type(exc).__name__,
                                                      "msg": str(exc), "stage": exc.stage,
                                                      "errno": exc.errno}).encode())
    except BaseException as exc:  # noqa: BLE001
        if not ctx.sync.sock._closed:
            ctx.sync.send_error(exc, "exec")
        os._exit(1)
