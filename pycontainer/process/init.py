"""Stages 1 and 2: from a forked copy of the runtime to the container's program.

Stage 1 (``stage1``) joins and creates the namespaces; because a new PID
namespace applies only to the children of the caller (pid_namespaces(7)),
it then forks stage 2 and exits. Stage 2 (``init``) is pid 1 of the
container. ``init`` is one linear function whose order is the
documentation: each step says what must come before or after it, as runc's
``standard_init_linux.go`` does.

Everything the init needs is imported *before* pivot_root: after it,
``sys.path`` would resolve inside the image, and the image must never be
able to plant Python code the runtime imports (security.md P1). An audit
hook enforces this: any import after the pivot raises.
"""

from __future__ import annotations

import array  # noqa: F401  (socket.send_fds imports it lazily; must be loaded before pivot)
import errno
import fcntl
import os
import resource
import signal
import socket
import stat
import struct
import sys

import prctl  # noqa: F401  (imported here so it is loaded before pivot_root)

from .. import capabilities, hooks, namespaces, procattrs, rootfs, userenv
from .. import syscalls as sc
from .. import trace
from ..errors import ContainerSetupError, ExecError, MountError, SpecError
from ..security import exeseal
from ..security.fds import close_inherited
from . import sync as S

PR_SET_PDEATHSIG = 1
PR_SET_KEEPCAPS = 8
PR_SET_NO_NEW_PRIVS = 38
TIOCSCTTY = 0x540E
# what asked for the /etc/hosts, /etc/hostname, /etc/resolv.conf binds (not config.json's mounts)
NET_FILES_FIELD = "annotations[org.pycontainer.network] (--network --hostname --add-host --dns)"
DEFAULT_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"


def stage1(ctx) -> None:
    """Join/create namespaces, fork the init, report its pid, exit. Never returns."""
    trace.set_stage("stage1")
    code = 0
    try:
        # If the runtime dies during setup, so do we (PDEATHSIG is per process).
        sc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL)
        close_inherited(3 + ctx.preserve_fds)   # the caller's stray fds (CVE-2024-21626 class)
        # oom_score_adj is inherited: set it here, through the host's /proc and before a user
        # namespace, where the (non-dumpable) init could no longer open its own file.
        _oom_score_adj(ctx.spec.get("process", {}))
        ctx.sync.expect(S.GO)       # the runtime has put us into the cgroup
        flags, join = namespaces.plan(ctx.spec.get("linux", {}).get("namespaces", []))
        namespaces.join(namespaces.open_join_fds(join))
        if flags & sc.CLONE_NEWUSER:
            # The user namespace first: the others are then owned by it.
            namespaces.unshare(sc.CLONE_NEWUSER)
            ctx.sync.send(S.MAP_PLS)
            ctx.sync.expect(S.MAP_ACK)
            os.setresgid(0, 0, 0)
            os.setresuid(0, 0, 0)
            flags &= ~sc.CLONE_NEWUSER
        # The cgroup namespace must come after joining the cgroup (done by the
        # runtime before GO), so the container sees its own cgroup as '/'.
        namespaces.unshare(flags)
        if flags & sc.CLONE_NEWTIME:
            procattrs.write_time_offsets(ctx.spec.get("linux", {}))   # before anyone is inside
        pid = os.fork()
        if pid == 0:
            try:
                init(ctx)      # never returns
            finally:
                os._exit(1)
        ctx.sync.send(S.INIT_PID, pid=pid)
    except BaseException as exc:  # noqa: BLE001 - everything becomes a message
        ctx.sync.send_error(exc, "namespaces")
        code = 1
    os._exit(code)


def init(ctx) -> None:
    """pid 1 of the container: build its world, wait for ``start``, exec. Never returns."""
    trace.set_stage("init")
    spec, linux = ctx.spec, ctx.spec.get("linux", {})
    proc = spec["process"]
    stage = "init"
    try:
        # The runtime made the network and ran the createRuntime hooks; it
        # tells us our pid as the host sees it (for the hooks' state).
        go = ctx.sync.expect(S.CONTINUE)
        ctx.host_pid = go.get("pid", 0)
        ns_types = {n["type"] for n in linux.get("namespaces", [])}
        in_userns = "user" in ns_types

        # --- rootfs: all in our own mount namespace, so nothing leaks to the host
        stage = "rootfs"
        if spec.get("hooks", {}).get("startContainer") or spec.get("hooks", {}).get("createContainer"):
            hooks.prepare()
        rootfs.set_propagation(linux)
        if ctx.overlay:
            ctx.overlay(ctx.rootfs)               # image rootfs: overlayfs (pycontainer.image)
        else:
            rootfs.bind_rootfs(ctx.rootfs)        # pivot_root needs a mount point
        root_fd = os.open(ctx.rootfs, os.O_PATH | os.O_DIRECTORY | os.O_CLOEXEC)
        rootfs.mount_all(root_fd, spec.get("mounts", []), ctx.cgroup_mode,
                         cgroupns="cgroup" in ns_types)
        # /etc/hosts, /etc/hostname, /etc/resolv.conf written by the network setup
        rootfs.mount_all(root_fd, [{"destination": dst, "type": "bind", "source": src,
                                    "options": ["bind", "rw"]} for dst, src in go.get("files", {}).items()],
                         ctx.cgroup_mode, field=NET_FILES_FIELD)
        rootfs.setup_dev(root_fd, linux, spec.get("mounts", []), in_userns)
        os.close(root_fd)
        # createContainer hooks: container's namespaces, before pivot_root.
        hooks.run("createContainer", spec.get("hooks", {}).get("createContainer"), ctx.state_for_hooks())
        rootfs.pivot_root(ctx.rootfs)
        # From here on '/' is the image: no more imports (security.md P1).
        sys.addaudithook(_no_imports_after_pivot)

        # --- identity of the container ---------------------------------------
        stage = "network"
        if "network" in ns_types and not any(n.get("path") for n in linux.get("namespaces", [])
                                             if n["type"] == "network"):
            _loopback_up()          # runc's "loopback" network: lo is up in a new netns
        stage = "uts"
        if spec.get("hostname"):
            with trace.step("sethostname", "hostname", name=spec["hostname"]):
                socket.sethostname(spec["hostname"])
        if spec.get("domainname"):
            with trace.step("setdomainname", "domainname", name=spec["domainname"]):
                sc.setdomainname(spec["domainname"])
        stage = "sysctl"
        for key, value in linux.get("sysctl", {}).items():
            seps = [i for i in (key.find("."), key.find("/")) if i >= 0]
            slashed = bool(seps) and key[min(seps)] == "/"          # sysctl.d(5) spelling
            path = "/proc/sys/" + (key if slashed else key.replace(".", "/"))
            with trace.step("write", "linux.sysctl", file=path, value=value):
                try:
                    _write_proc(path, value)
                except OSError as exc:
                    raise ContainerSetupError(f"sysctl {key}={value}: {exc.strerror}", stage="sysctl",
                                              errno=exc.errno) from None
        # Masking and read-only paths come after the sysctls (/proc/sys turns read-only).
        stage = "masked-paths"
        rootfs.mask_paths(linux.get("maskedPaths", []))
        rootfs.readonly_paths(linux.get("readonlyPaths", []))

        stage = "cwd"
        userenv.make_cwd(proc.get("cwd", "/"), proc.get("user", {}))   # before a read-only root

        stage = "console"
        if proc.get("terminal"):
            _setup_console(ctx, proc)
        # The root stays read-only only after /dev/console & co. exist.
        rootfs.finalize_root(spec["root"].get("readonly", False), linux)

        # --- the process's limits and identity --------------------------------
        stage = "process"
        for r in proc.get("rlimits", []):
            with trace.step("setrlimit", "process.rlimits", type=r["type"], soft=r["soft"], hard=r["hard"]):
                _setrlimit(r)
        env = proc.get("env", [])
        path = find_program(proc["args"][0], env, proc.get("cwd", "/"))
        procattrs.apply_linux(linux)        # memoryPolicy, personality
        procattrs.apply_process(proc)       # scheduler, ioPriority: while we have every cap

        if ctx.seccomp and not proc.get("noNewPrivileges"):
            ctx.seccomp(proc)   # without NNP a filter needs CAP_SYS_ADMIN: load it before the drop (runc)
        caps = proc.get("capabilities")
        if caps is not None:
            # The bounding set needs CAP_SETPCAP to shrink: do it while we have everything.
            with trace.step("prctl PR_CAPBSET_DROP", "process.capabilities.bounding",
                            keep=caps.get("bounding", [])):
                capabilities.drop_bounding(caps.get("bounding", []), capabilities.last_cap())
        uid = proc.get("user", {}).get("uid", 0)
        userenv.fix_stdio(uid)                              # runc's setupUser
        proc["env"] = userenv.prepare_env(proc.get("env", []), uid)
        _set_user(proc.get("user", {}), keep_caps=caps is not None, in_userns=in_userns)
        if caps is not None:
            with trace.step("capset", "process.capabilities", effective=caps.get("effective", []),
                            ambient=caps.get("ambient", [])):
                capabilities.apply_sets(caps)
        if "umask" in proc.get("user", {}):
            os.umask(proc["user"]["umask"])
        # The cwd must be a directory the user reaches, so that `create` fails
        # (as runc's does); the chdir itself waits until every host fd is
        # closed (exec_program, CVE-2024-21626).
        _check_cwd(proc.get("cwd", "/"))

        # --- ready: the runtime records "created"; we wait for `start` --------
        stage = "start"
        ctx.sync.send(S.READY)
        ctx.sync.close()
        conn = _wait_for_start(ctx)

        hooks.run("startContainer", spec.get("hooks", {}).get("startContainer"), ctx.state_for_hooks())
        if not proc.get("terminal"):
            # A session of its own: no controlling tty shared with the caller, so no TIOCSTI
            # into the caller's terminal (CVE-2017-5226; crun and bubblewrap do the same).
            os.setsid()
        if proc.get("noNewPrivileges"):
            # After this, execve can never grant privileges (setuid bits, file caps).
            with trace.step("prctl PR_SET_NO_NEW_PRIVS", "process.noNewPrivileges"):
                sc.prctl(PR_SET_NO_NEW_PRIVS, 1)
        if ctx.seccomp:
            ctx.seccomp(proc)     # as late as possible: after NNP, just before exec

        exec_program(path, proc, conn, ctx.preserve_fds, ctx.dmz_fd,
                     report=lambda exc: str(exc).encode())
    except BaseException as exc:  # noqa: BLE001
        if not ctx.sync.sock._closed:
            ctx.sync.send_error(exc, stage)
        else:
            try:
                os.write(2, f"pycontainer init: {exc}\n".encode())
            except OSError:
                pass
        os._exit(1)


# --- helpers (each one kernel interface) -------------------------------------------

def _no_imports_after_pivot(event: str, args) -> None:
    if event == "import":
        raise ImportError(f"pycontainer: import of {args[0]!r} after pivot_root refused "
                          "(the container's filesystem must never supply runtime code)")


def _oom_score_adj(proc: dict) -> None:
    if "oomScoreAdj" in proc:
        with trace.step("write", "process.oomScoreAdj", file="/proc/self/oom_score_adj",
                        value=proc["oomScoreAdj"]):
            _write_proc("/proc/self/oom_score_adj", str(proc["oomScoreAdj"]))


def _write_proc(path: str, value: str) -> None:
    """Write a /proc file of the container's own procfs (never following a symlink)."""
    fd = os.open(path, os.O_WRONLY | os.O_NOFOLLOW | os.O_CLOEXEC)
    try:
        os.write(fd, value.encode())
    finally:
        os.close(fd)


def _loopback_up() -> None:
    """ioctl(SIOCSIFFLAGS) IFF_UP on ``lo`` of our own (new) netns (netdevice(7))."""
    SIOCGIFFLAGS, SIOCSIFFLAGS, IFF_UP = 0x8913, 0x8914, 0x1
    with trace.step("ioctl SIOCSIFFLAGS", "linux.namespaces", ifname="lo", flags="IFF_UP"):
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
            req = struct.pack("16sH14x", b"lo", 0)
            flags = struct.unpack("16sH14x", fcntl.ioctl(s, SIOCGIFFLAGS, req))[1]
            fcntl.ioctl(s, SIOCSIFFLAGS, struct.pack("16sH14x", b"lo", flags | IFF_UP))


def _setrlimit(r: dict) -> None:
    res = getattr(resource, r["type"])
    inf = resource.RLIM_INFINITY
    soft = inf if r["soft"] >= (1 << 63) - 1 or r["soft"] == 2**64 - 1 else r["soft"]
    hard = inf if r["hard"] >= (1 << 63) - 1 or r["hard"] == 2**64 - 1 else r["hard"]
    try:
        resource.setrlimit(res, (soft, hard))
    except (ValueError, OSError) as exc:
        raise ContainerSetupError(f"setrlimit {r['type']} soft={r['soft']} hard={r['hard']}: {exc}",
                                  stage="rlimits") from None


def find_program(arg0: str, env: list[str], cwd: str) -> str:
    """Resolve process.args[0] in the container (PATH from process.env) and check it runs."""
    if "/" in arg0:
        candidates = [arg0 if arg0.startswith("/") else os.path.join(cwd, arg0)]
    else:
        path = next((e[5:] for e in env if e.startswith("PATH=")), DEFAULT_PATH)
        candidates = [os.path.join(d or ".", arg0) for d in path.split(":")]
    denied = None
    for c in candidates:
        try:
            st = os.stat(c)
        except OSError:
            continue
        if stat.S_ISDIR(st.st_mode) or not os.access(c, os.X_OK):
            denied = denied or c
            continue
        return c
    if denied:
        raise ExecError(f"exec {arg0!r}: permission denied", stage="exec", errno=errno.EACCES)
    where = "" if "/" in arg0 else " in $PATH"
    raise ExecError(f"exec {arg0!r}: executable file not found{where}: no such file or directory",
                    stage="exec", errno=errno.ENOENT)


def _set_user(user: dict, keep_caps: bool, in_userns: bool) -> None:
    uid, gid = user.get("uid", 0), user.get("gid", 0)
    with trace.step("setresuid/setresgid", "process.user", uid=uid, gid=gid,
                    additionalGids=user.get("additionalGids", [])):
        try:
            groups = user.get("additionalGids", [])
            try:
                os.setgroups(groups)
            except PermissionError:
                if groups or not in_userns:   # setgroups may be denied in a user ns
                    raise
            os.setresgid(gid, gid, gid)
            if keep_caps and uid != 0:
                sc.prctl(PR_SET_KEEPCAPS, 1)      # keep permitted across setuid(2)
            os.setresuid(uid, uid, uid)
            if keep_caps and uid != 0:
                sc.prctl(PR_SET_KEEPCAPS, 0)
        except OSError as exc:
            raise ContainerSetupError(f"set user {uid}:{gid}: {exc.strerror}", stage="user",
                                      errno=exc.errno) from None


def _setup_console(ctx, proc: dict, mount_console: bool = True) -> None:
    """A pty from the container's devpts; its master goes to --console-socket (runc's protocol)."""
    if ctx.console_sock is None:
        raise SpecError("process.terminal is true but no --console-socket was given")
    with trace.step("openpty", "process.terminal", ptmx="/dev/ptmx"):
        master, slave = os.openpty()
    if "consoleSize" in proc:
        cs = proc["consoleSize"]
        fcntl.ioctl(slave, 0x5414, struct.pack("HHHH", cs.get("height", 0), cs.get("width", 0), 0, 0))
    if mount_console:
        # /dev/console is the pty slave, bound from the slave's fd onto an fd of a plain file
        # made with O_NOFOLLOW: never through the /dev/pts/N path, which a spec mount or a
        # race could have made a symlink to a procfs file (CVE-2025-52565).
        st = os.fstat(slave)
        if not (stat.S_ISCHR(st.st_mode) and 136 <= os.major(st.st_rdev) <= 143):
            raise MountError("mount /dev/console: the pty is not a devpts node (136-143:N); "
                             "refusing to bind it", stage="console")
        try:
            try:
                fd = os.open("/dev/console", os.O_CREAT | os.O_EXCL | os.O_WRONLY | os.O_NOFOLLOW
                             | os.O_CLOEXEC, 0o600)
            except FileExistsError:
                fd = os.open("/dev/console", os.O_PATH | os.O_NOFOLLOW | os.O_CLOEXEC)
            try:
                sc.mount(f"/proc/self/fd/{slave}", f"/proc/self/fd/{fd}", None, sc.MS_BIND)
            finally:
                os.close(fd)
        except OSError as exc:
            raise MountError(f"mount /dev/console: {exc.strerror}", stage="console",
                             errno=exc.errno) from None
    with trace.step("sendmsg SCM_RIGHTS", "process.terminal", to="--console-socket", fd="pty master"):
        socket.send_fds(ctx.console_sock, [b"/dev/ptmx"], [master])
    os.close(master)
    ctx.console_sock.close()
    os.setsid()
    fcntl.ioctl(slave, TIOCSCTTY, 0)
    for fd in (0, 1, 2):
        os.dup2(slave, fd)
    if slave > 2:
        os.close(slave)


def _wait_for_start(ctx) -> socket.socket:
    """The start barrier: block until `pycontainer start` connects to start.sock."""
    with trace.step("accept", "pycontainer start", socket="start.sock", note="waiting for `start`"):
        while True:
            conn, _ = ctx.listen.accept()
            data = conn.recv(16)
            if data == b"start":
                break
            conn.close()
    ctx.listen.close()
    return conn


def _move_fd_above(fd: int, low: int) -> int:
    if fd >= low:
        os.set_inheritable(fd, False)
        return fd
    new = fcntl.fcntl(fd, fcntl.F_DUPFD_CLOEXEC, low)
    os.close(fd)
    return new


def exec_program(path: str, proc: dict, report_sock, preserve_fds: int, dmz_fd, report) -> None:
    """The last steps before the program, shared by the init and exec. Never returns.

    Order matters (CVE-2024-21626): every fd but stdio, the preserved ones and
    the close-on-exec report socket is closed *before* chdir, so no host
    directory fd can be the cwd's way out of the root. A failure after this
    point is written to the report socket as ``report(exc)`` (the start
    barrier reads text, exec's runtime reads a sync message); success closes
    the socket by execve.
    """
    keep = 3 + preserve_fds
    fd = _move_fd_above(report_sock.detach(), keep)
    dmz = exeseal.place(dmz_fd, fd + 1)            # sealed exec helper (CVE-2019-5736)
    trace.event("close_range", "--preserve-fds", first=keep, keep=f"0-2, {preserve_fds} preserved fds")
    trace.event("execve", "process.args", path=path, args=proc["args"], cwd=proc.get("cwd", "/"))
    trace.close()
    if fd > keep:
        sc.close_range(keep, fd - 1)
    sc.close_range(fd + 1 if dmz is None else dmz + 1)
    for i in range(3, keep):
        os.set_inheritable(i, True)
    try:
        _chdir_inside(proc.get("cwd", "/"))
        _reset_signals()
        env = dict(e.split("=", 1) if "=" in e else (e, "") for e in proc.get("env", []))
        exeseal.execve(dmz, path, proc["args"], env)
    except ContainerSetupError as exc:
        os.write(fd, report(exc))
        os._exit(1)
    except OSError as exc:
        os.write(fd, report(ExecError(f"exec {proc['args'][0]!r}: {os.strerror(exc.errno).lower()}",
                                      stage="exec", errno=exc.errno)))
        os._exit(126 if exc.errno in (errno.EACCES, errno.EPERM) else 127)
    os._exit(127)


def _check_cwd(cwd: str) -> None:
    try:
        st_ = os.stat(cwd)
    except OSError as exc:
        raise ContainerSetupError(f"process.cwd {cwd!r}: {exc.strerror}", stage="cwd",
                                  errno=exc.errno) from None
    if not stat.S_ISDIR(st_.st_mode):
        raise ContainerSetupError(f"process.cwd {cwd!r}: not a directory", stage="cwd",
                                  errno=errno.ENOTDIR)


def _chdir_inside(cwd: str) -> None:
    try:
        os.chdir(cwd)
    except OSError as exc:
        raise ContainerSetupError(f"chdir to cwd {cwd!r} (set in process.cwd): {exc.strerror}",
                                  stage="cwd", errno=exc.errno) from None
    here = os.getcwd()
    if not here.startswith("/"):
        raise ContainerSetupError(f"cwd {cwd!r} resolves outside the container root", stage="cwd")


def _reset_signals() -> None:
    # Python ignores SIGPIPE and SIGXFSZ; ignored signals survive execve, so restore them.
    for sig in (signal.SIGPIPE, signal.SIGXFSZ, signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
        signal.signal(sig, signal.SIG_DFL)
    signal.pthread_sigmask(signal.SIG_SETMASK, [])
