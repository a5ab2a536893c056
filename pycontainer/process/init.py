"""Stages 1 and 2: from a forked copy of the runtime to the container's program.

Stage 1 (``stage1``) joins and creates the namespaces; because a new PID
namespace applies only to the children of the caller (pid_namespaces(7)),
it then forks stage 2 and exits. Stage 2 (``init``) is pid 1 of the
container. Without a user or time namespace there is no stage 1: the runtime
forks the init into its PID namespace itself (pidns.py), and the init makes
the other namespaces (``direct``). ``init`` is one linear function whose order is the
documentation: each step says what must come before or after it, as runc's
``standard_init_linux.go`` does. A container created with a deferred process
(warm pools) waits at the start barrier before the process's identity steps;
its ``start`` may send the process to run (args, env, cwd, user) and its stdio
fds (SCM_RIGHTS, unix(7)), checked as config.json's, and the init goes on down
the same tail (``adopt_process``, then process/finalize.py).

Everything the init needs is imported *before* pivot_root: after it,
``sys.path`` would resolve inside the image, and the image must never be
able to plant Python code the runtime imports (security.md P1). An audit
hook enforces this: any import after the pivot raises.
"""

from __future__ import annotations

# The C modules of socket, signal and struct, not those packages: ``socket`` (enums,
# selectors) and ``signal`` (enums) cost ~6 ms of stage 1, on the critical path of every
# create; ``struct`` is a wrapper of ``_struct`` found by a sys.path search (~0.2 ms).
import _signal
import _socket
import _struct
import fcntl
import posix
import stat
import sys

from .. import hooks, jsonio, namespaces, procattrs, rootfs, userenv
from .. import spec as spec_mod
from .. import syscalls as sc
from .. import trace
from ..errors import ContainerSetupError, MountError, SpecError, encode
from ..security.fds import close_inherited
from . import finalize
from . import sync as S

PR_SET_PDEATHSIG = 1
TIOCSCTTY = 0x540E
# what asked for the /etc/hosts, /etc/hostname, /etc/resolv.conf binds (not config.json's mounts)
NET_FILES_FIELD = "annotations[org.pycontainer.network] (--network --hostname --add-host --dns)"


def stage1(ctx) -> None:
    """Join/create namespaces, fork the init, report its pid, exit. Never returns."""
    trace.set_stage("stage1")
    code = 0
    try:
        # If the runtime dies during setup, so do we (PDEATHSIG is per process).
        sc.prctl(PR_SET_PDEATHSIG, _signal.SIGKILL)
        before_go(ctx)
        flags, join = namespaces.plan(ctx.spec.get("linux", {}).get("namespaces", []))
        namespaces.join(namespaces.open_join_fds(join))
        if flags & sc.CLONE_NEWUSER:
            # The user namespace first: the others are then owned by it.
            namespaces.unshare(sc.CLONE_NEWUSER)
            ctx.sync.send(S.MAP_PLS)
            ctx.sync.expect(S.MAP_ACK)
            posix.setresgid(0, 0, 0)
            posix.setresuid(0, 0, 0)
            flags &= ~sc.CLONE_NEWUSER
        # The cgroup namespace must come after joining the cgroup (done by the
        # runtime before GO), so the container sees its own cgroup as '/'.
        namespaces.unshare(flags)
        if flags & sc.CLONE_NEWTIME:
            procattrs.write_time_offsets(ctx.spec.get("linux", {}))   # before anyone is inside
        t_fork = trace.now()
        pid = posix.fork()
        if pid == 0:
            try:
                init(ctx)      # never returns
            finally:
                posix._exit(1)
        trace.event("fork", "linux.namespaces", ms=trace.since(t_fork), what="init (pid 1)", pid=pid)
        ctx.sync.send(S.INIT_PID, pid=pid)
    except BaseException as exc:  # noqa: BLE001 - everything becomes a message
        ctx.sync.send_error(exc, "namespaces")
        code = 1
    posix._exit(code)


def before_go(ctx, early: int = 0) -> None:
    """The first steps of the process the runtime forked, on itself, then wait for GO.
    ``early``: namespaces to unshare before GO (``direct``)."""
    close_inherited(3 + ctx.preserve_fds)   # the caller's stray fds (CVE-2024-21626 class)
    # oom_score_adj is inherited: set it here, through the host's /proc and before a user
    # namespace, where the (non-dumpable) init could no longer open its own file.
    oom_score_adj(ctx.spec.get("process", {}))
    namespaces.unshare(early)
    ctx.sync.expect(S.GO)       # the runtime has put us into the cgroup


def direct(ctx) -> None:
    """The init forked by the runtime itself, already in its PID namespace (pidns.py: no
    user or time namespace, so no stage 1): stage 1's steps on itself, less that
    namespace, then ``init``. Never returns."""
    trace.set_stage("init")
    try:
        flags, join = namespaces.plan(ctx.spec.get("linux", {}).get("namespaces", []))
        flags &= ~sc.CLONE_NEWPID
        join = [(t, p) for t, p in join if t != "pid"]
        # With none to join, the new namespaces but the cgroup one are made while the runtime
        # makes the cgroup (a network namespace alone takes ~0.5 ms): an API worker's init
        # has nothing to import and would wait for GO idle. (crun makes them at clone(2),
        # runc after its cgroup Apply: either is before the program.) The cgroup namespace
        # only after GO: its '/' is the cgroup the runtime has moved us into by then.
        early = 0 if join else flags & ~sc.CLONE_NEWCGROUP
        before_go(ctx, early)
        namespaces.join(namespaces.open_join_fds(join))
        namespaces.unshare(flags & ~early)
        ctx.sync.send(S.INIT_PID)       # in its namespaces; the runtime knows its pid
    except BaseException as exc:  # noqa: BLE001 - everything becomes a message
        ctx.sync.send_error(exc, "namespaces")
        posix._exit(1)
    init(ctx)


def init(ctx) -> None:
    """pid 1 of the container: build its world, wait for ``start``, exec. Never returns."""
    trace.set_stage("init")
    spec, linux = ctx.spec, ctx.spec.get("linux", {})
    proc = spec["process"]
    stage = "init"
    before = None
    try:
        # The runtime made the network and ran the createRuntime hooks; it
        # tells us our pid as the host sees it (for the hooks' state).
        go = ctx.sync.expect(S.CONTINUE)
        ctx.host_pid = go.get("pid", 0)
        ns_types = {n["type"] for n in linux.get("namespaces", [])}
        in_userns = "user" in ns_types
        # No new mount namespace (none listed, or one joined by path): the mounts land in a
        # table others share; remember which are ours (rootfs.py, "without a private ...").
        private_mnt = any(n["type"] == "mount" and not n.get("path") for n in linux.get("namespaces", []))
        before = None if private_mnt else set(rootfs.mount_ids())

        # --- rootfs: all in our own mount namespace, so nothing leaks to the host
        stage = "rootfs"
        if spec.get("hooks", {}).get("startContainer") or spec.get("hooks", {}).get("createContainer"):
            hooks.prepare()
        if private_mnt:
            rootfs.set_propagation(linux)
        if ctx.overlay:
            ctx.overlay(ctx.rootfs)               # image rootfs: overlayfs (pycontainer.image)
        else:
            rootfs.bind_rootfs(ctx.rootfs)        # pivot_root needs a mount point
        if not private_mnt:
            rootfs.make_private(ctx.rootfs)
        root_fd = posix.open(ctx.rootfs, posix.O_PATH | posix.O_DIRECTORY | posix.O_CLOEXEC)
        rootfs.mount_all(root_fd, spec.get("mounts", []), ctx.cgroup_mode,
                         cgroupns="cgroup" in ns_types)
        # /etc/hosts, /etc/hostname, /etc/resolv.conf written by the network setup
        rootfs.mount_all(root_fd, [{"destination": dst, "type": "bind", "source": src,
                                    "options": ["bind", "rw"]} for dst, src in go.get("files", {}).items()],
                         ctx.cgroup_mode, field=NET_FILES_FIELD)
        rootfs.setup_dev(root_fd, linux, spec.get("mounts", []), in_userns)
        posix.close(root_fd)
        # createContainer hooks: container's namespaces, before pivot_root.
        hooks.run("createContainer", spec.get("hooks", {}).get("createContainer"), ctx.state_for_hooks())
        procattrs.load_calls(proc, linux)     # the scheduler's, ioPriority's, ... C calls
        if private_mnt:
            rootfs.pivot_root(ctx.rootfs)
        else:
            rootfs.chroot(ctx.rootfs)
        # From here on '/' is the image: no more imports (security.md P1).
        sys.addaudithook(no_imports_after_pivot)

        # --- identity of the container ---------------------------------------
        stage = "network"
        if "network" in ns_types and not any(n.get("path") for n in linux.get("namespaces", [])
                                             if n["type"] == "network"):
            _loopback_up()          # runc's "loopback" network: lo is up in a new netns
        stage = "uts"
        if spec.get("hostname"):
            with trace.step("sethostname", "hostname", name=spec["hostname"]):
                _socket.sethostname(spec["hostname"])
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
            setup_console(ctx, proc)
        # The root stays read-only only after /dev/console & co. exist.
        rootfs.finalize_root(spec["root"].get("readonly", False), linux)

        # --- the process's limits and identity (shared with exec: finalize.py) --
        stage = "process"
        procattrs.apply_linux(linux)        # memoryPolicy, personality: while we have every cap
        # A deferred process (Runtime.create(deferred=True)): its identity and limits wait for
        # `start`, which may bring the process to run (args, env, cwd, user, stdio).
        path = None if ctx.deferred else finalize.prepare(proc, ctx.seccomp, in_userns)

        # --- ready: the runtime records "created"; we wait for `start` --------
        stage = "start"
        made = None if before is None else sorted(set(rootfs.mount_ids()) - before)
        ctx.sync.send(S.READY, mounts=made)
        ctx.sync.close()
        conn, sent, fds = _wait_for_start(ctx)
        # What `start` brought is answered in JSON (errors.encode); a plain start reads text.
        report = (lambda exc: str(exc).encode()) if sent is None else \
            (lambda exc: jsonio.dumps(encode(exc)).encode())
        hook_list = spec.get("hooks", {}).get("startContainer")
        if ctx.deferred:
            try:
                if sent is not None:
                    proc = adopt_process(proc, sent, fds)
                # hooks before the identity steps: they run as the runtime's hooks, not the user
                hooks.run("startContainer", hook_list, ctx.state_for_hooks())
                path = finalize.prepare(proc, ctx.seccomp, in_userns)
            except BaseException as exc:  # noqa: BLE001 -- told to `start`, which fails
                _reply(conn, report(exc))
                posix._exit(1)
        else:
            hooks.run("startContainer", hook_list, ctx.state_for_hooks())
        finalize.exec_program(path, proc, conn, ctx.preserve_fds, ctx.dmz_fd, ctx.seccomp,
                              report=report)
    except BaseException as exc:  # noqa: BLE001
        if ctx.sync.sock.fileno() != -1:        # not yet closed (READY was not sent)
            if before is not None:       # create fails: take our mounts out of the shared table
                try:
                    rootfs.unmount_ids(set(rootfs.mount_ids()) - before)
                except OSError:
                    pass
            ctx.sync.send_error(exc, stage)
        else:
            try:
                posix.write(2, f"pycontainer init: {exc}\n".encode())
            except OSError:
                pass
        posix._exit(1)


# --- helpers (each one kernel interface) -------------------------------------------

def no_imports_after_pivot(event: str, args) -> None:
    if event == "import":
        raise ImportError(f"pycontainer: import of {args[0]!r} after pivot_root refused "
                          "(the container's filesystem must never supply runtime code)")


def oom_score_adj(proc: dict) -> None:
    if "oomScoreAdj" in proc:
        with trace.step("write", "process.oomScoreAdj", file="/proc/self/oom_score_adj",
                        value=proc["oomScoreAdj"]):
            _write_proc("/proc/self/oom_score_adj", str(proc["oomScoreAdj"]))


def _write_proc(path: str, value: str) -> None:
    """Write a /proc file of the container's own procfs (never following a symlink)."""
    fd = posix.open(path, posix.O_WRONLY | posix.O_NOFOLLOW | posix.O_CLOEXEC)
    try:
        posix.write(fd, value.encode())
    finally:
        posix.close(fd)


def _loopback_up() -> None:
    """ioctl(SIOCSIFFLAGS) IFF_UP on ``lo`` of our own (new) netns (netdevice(7))."""
    SIOCGIFFLAGS, SIOCSIFFLAGS, IFF_UP = 0x8913, 0x8914, 0x1
    with trace.step("ioctl SIOCSIFFLAGS", "linux.namespaces", ifname="lo", flags="IFF_UP"):
        s = _socket.socket(_socket.AF_INET, _socket.SOCK_DGRAM)
        try:
            req = _struct.pack("16sH14x", b"lo", 0)
            flags = _struct.unpack("16sH14x", fcntl.ioctl(s, SIOCGIFFLAGS, req))[1]
            fcntl.ioctl(s, SIOCSIFFLAGS, _struct.pack("16sH14x", b"lo", flags | IFF_UP))
        finally:
            s.close()


def setup_console(ctx, proc: dict, mount_console: bool = True) -> None:
    """A pty from the container's devpts; its master goes to --console-socket (runc's protocol)."""
    if ctx.console_sock is None:
        raise SpecError("process.terminal is true but no --console-socket was given")
    with trace.step("openpty", "process.terminal", ptmx="/dev/ptmx"):
        master, slave = posix.openpty()
    if "consoleSize" in proc:
        cs = proc["consoleSize"]
        fcntl.ioctl(slave, 0x5414, _struct.pack("HHHH", cs.get("height", 0), cs.get("width", 0), 0, 0))
    if mount_console:
        # /dev/console is the pty slave, bound from the slave's fd onto an fd of a plain file
        # made with O_NOFOLLOW: never through the /dev/pts/N path, which a spec mount or a
        # race could have made a symlink to a procfs file (CVE-2025-52565).
        st = posix.fstat(slave)
        if not (stat.S_ISCHR(st.st_mode) and 136 <= posix.major(st.st_rdev) <= 143):
            raise MountError("mount /dev/console: the pty is not a devpts node (136-143:N); "
                             "refusing to bind it", stage="console")
        try:
            try:
                fd = posix.open("/dev/console", posix.O_CREAT | posix.O_EXCL | posix.O_WRONLY | posix.O_NOFOLLOW
                             | posix.O_CLOEXEC, 0o600)
            except FileExistsError:
                fd = posix.open("/dev/console", posix.O_PATH | posix.O_NOFOLLOW | posix.O_CLOEXEC)
            try:
                # The image's own /dev/console (no /dev tmpfs): bind only onto a plain file or
                # a device node, never onto a symlink (CVE-2026-41579's class, security.md S06).
                if stat.S_ISLNK(posix.fstat(fd).st_mode) or stat.S_ISDIR(posix.fstat(fd).st_mode):
                    raise MountError("mount /dev/console: it is a symlink or a directory in the "
                                     "image; refusing to bind the pty onto it", stage="console")
                sc.mount(f"/proc/self/fd/{slave}", f"/proc/self/fd/{fd}", None, sc.MS_BIND)
            finally:
                posix.close(fd)
        except OSError as exc:
            raise MountError(f"mount /dev/console: {exc.strerror}", stage="console",
                             errno=exc.errno) from None
    with trace.step("sendmsg SCM_RIGHTS", "process.terminal", to="--console-socket", fd="pty master"):
        S.send_fds(ctx.console_sock, [b"/dev/ptmx"], [master])
    posix.close(master)
    ctx.console_sock.close()
    posix.setsid()
    fcntl.ioctl(slave, TIOCSCTTY, 0)
    for fd in (0, 1, 2):
        posix.dup2(slave, fd)
    if slave > 2:
        posix.close(slave)


def _wait_for_start(ctx):
    """The start barrier: block until `pycontainer start` connects to start.sock.

    -> (connection, process or None, fds). A plain start sends ``start``; the API's
    (``Runtime.start(process=..., stdio=...)``) sends ``process LEN\n`` and LEN bytes of
    JSON, with the new stdin/stdout/stderr as SCM_RIGHTS on the first byte (unix(7)).
    Anything else is dropped and the wait goes on (a process for a container not created
    deferred is answered with an error first).
    """
    with trace.step("accept", "pycontainer start", socket="start.sock", note="waiting for `start`"):
        while True:
            conn = S.accept(ctx.listen)
            fds: list[int] = []
            try:
                data, fds, _flags, _addr = S.recv_fds(conn, 65536, 3)
                if data == b"start" and not fds:
                    sent = None
                    break
                head, nl, body = data.partition(b"\n")
                word, _, size = head.partition(b" ")
                if word == b"process" and not ctx.deferred:   # the runtime checks this first
                    _reply(conn, jsonio.dumps(encode(SpecError(
                        "this container was not created with a deferred process: `start` cannot "
                        "give it one"))).encode())
                elif word == b"process" and nl and size.isdigit() and int(size) <= MAX_PROCESS:
                    want = int(size)
                    while len(body) < want:
                        chunk = conn.recv(min(want - len(body), 1 << 20))
                        if not chunk:
                            break
                        body += chunk
                    if len(body) == want:
                        sent = jsonio.loads(body)
                        break
            except (OSError, ValueError):
                pass
            for fd in fds:
                posix.close(fd)
            conn.close()
    ctx.listen.close()
    return conn, sent, fds


MAX_PROCESS = 1 << 24       # bytes of the JSON process `start` may send (args and env: ARG_MAX-ish)
# What `start` may set of the created config's process; everything else (capabilities,
# noNewPrivileges, rlimits, apparmor, oomScoreAdj, umask, terminal) stays as created.
SENT_FIELDS = ("args", "env", "cwd", "user")


def adopt_process(proc: dict, sent, fds: list[int]) -> dict:
    """The created process with what `start` sent: checked as config.json's process is
    (spec.validate_process, plus runc's env rules), then ``fds`` become our 0, 1, 2."""
    if not isinstance(sent, dict):
        raise SpecError("start: the process must be an object")
    extra = sorted(set(sent) - set(SENT_FIELDS))
    if extra:
        raise SpecError(f"start: process.{extra[0]} cannot be changed at start "
                        f"(only {', '.join(SENT_FIELDS)})")
    new = dict(proc)
    new.update({k: sent[k] for k in ("args", "env", "cwd") if k in sent})
    if "user" in sent:
        user = sent["user"]
        if not isinstance(user, dict) or set(user) - {"uid", "gid", "additionalGids"}:
            raise SpecError("start: process.user takes uid, gid, additionalGids")
        new["user"] = {**{k: v for k, v in proc.get("user", {}).items() if k == "umask"}, **user}
    try:
        spec_mod.validate_process(new)   # args, cwd, env (runc's rules, NUL bytes), user...
    except SpecError as exc:        # its words name config.json; this came with `start`
        raise SpecError(str(exc).replace("config.json: ", "start: ", 1)) from None
    if fds:
        if len(fds) != 3:
            raise SpecError(f"start: give 3 stdio fds (stdin, stdout, stderr), not {len(fds)}")
        if proc.get("terminal"):
            raise SpecError("start: the container has a terminal; its stdio cannot be replaced")
        high = [fcntl.fcntl(fd, fcntl.F_DUPFD_CLOEXEC, 3) for fd in fds]   # none of them is 0-2
        for fd in fds:
            posix.close(fd)
        fds.clear()
        for i, fd in enumerate(high):
            posix.dup2(fd, i)            # inheritable: the program's stdio
            posix.close(fd)
    if new.get("cwd", "/") != proc.get("cwd", "/"):
        userenv.make_cwd(new["cwd"], new.get("user", {}))     # as create does for config.json's
    return new


def _reply(conn, data: bytes) -> None:
    try:
        conn.sendall(data)
    except OSError:
        pass
