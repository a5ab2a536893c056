"""Stage 0: the runtime's side of ``create``.

``launch()`` is the whole of ``create`` in the order the kernel needs it:

1. reserve the ID (the state dir: a runtime killed now leaves a husk, which
   ``delete --force`` removes);
2. bind the start barrier ``start.sock`` (startsock.py: the init waits on it;
   runc uses a FIFO, exec.fifo, for the same purpose);
3. fork the init into the container's PID namespace (pidns.py), or, where a
   user or time namespace must be made first, stage 1, which will fork it;
   the child imports what it needs and waits for ``GO``; meanwhile the first
   ``creating`` record is written, so a runtime killed at any later point
   leaves what ``delete --force`` needs to clean up;
4. create the cgroup, move the child into it, then let it go (sync ``GO``):
   nothing of the container runs before it is in its cgroup (runc: Apply(pid)
   before the bootstrap data is sent). The cgroup comes after the fork so that
   the child's imports overlap the kernel's wait for the first attach
   (cgroups/attachlock.py), which also holds back the cgroup's mkdir;
5. answer stage 1's requests (uid/gid maps) and learn the init's pid from
   it, or wait for the init's word that its namespaces are made; set up the
   network, run the createRuntime hooks, let the init build its rootfs
   (``CONTINUE``) and wait until it is ``READY``;
6. record ``created`` with the init's pid and start time, write --pid-file.

If anything fails, everything made so far is undone in reverse (the undo
list), so a failed create leaves no process, cgroup, lease or state dir.
Stage 0 marks itself a *child subreaper* (prctl(2) PR_SET_CHILD_SUBREAPER)
so that an init orphaned when stage 1 exits becomes its child and a
foreground ``run`` can wait for it.
"""

from __future__ import annotations

import posix
import sys

from .. import paths
from .. import pidns
from .. import state as st
from .. import trace
from ..errors import ContainerSetupError, SpecError

PR_SET_CHILD_SUBREAPER = 36


class Launch:
    """Everything the children need; they get it by fork, not by a pipe."""

    def __init__(self, *, container_id, bundle, spec, rootfs, statedir, cgroup_mode,
                 console_socket=None, preserve_fds=0, overlay=None, seccomp=None, record=None,
                 deferred=False, stdio=None):
        self.id = container_id
        self.bundle = bundle
        self.spec = spec
        self.rootfs = rootfs
        self.statedir = statedir
        self.cgroup_mode = cgroup_mode
        self.console_path = console_socket
        self.console_sock = None
        self.preserve_fds = preserve_fds
        self.overlay = overlay
        self.seccomp = seccomp
        self.deferred = deferred    # the process's identity steps wait for `start` (init.py)
        self.stdio = stdio          # (in, out, err) fds for the children's 0/1/2; None: ours
        self.dmz_fd = None          # sealed exec helper (security.exeseal), made before the fork
        self.record = record or {}
        self.sync = None
        self.listen = None
        self.host_pid = 0

    def state_for_hooks(self) -> dict:
        s = st.oci_state(self.record, st.CREATING)
        s["pid"] = self.host_pid
        return s


def launch(ctx: Launch, cgroup, network=None) -> dict:
    """Create the container up to ``created``; return its state record."""
    from .. import syscalls as sc      # the init's calls: imported here, before the fork, once
    from ..security import exeseal
    from . import startsock
    from . import sync as S
    spec = ctx.spec
    linux = spec.get("linux", {})
    record = ctx.record
    undo: list = []
    pid = 0
    try:
        # (2) the start barrier: a listening unix socket in the state dir.
        ctx.listen = startsock.listen(ctx.statedir.path)
        if ctx.console_path:
            ctx.console_sock = connect_console(ctx.console_path)

        # (3) the init (pidns.py), or stage 1 where a user or time namespace needs it
        direct = not pidns.needs_stage1(linux.get("namespaces", []))
        parent, child = S.SyncSocket.pair()
        sc.prctl(PR_SET_CHILD_SUBREAPER, 1)
        # CVE-2019-5736: what enters the container is non-dumpable, and execs the program
        # through a sealed memfd (pycontainer.security.exeseal).
        exeseal.nondumpable()
        ctx.dmz_fd = exeseal.dmz_fd(3 + ctx.preserve_fds)
        undo.append(lambda: _close_dmz(ctx))     # a refused fork (a bad pid namespace path)
        t_fork = trace.now()
        own_pidns = pidns.for_children(linux.get("namespaces", [])) if direct else None
        try:
            pid1 = posix.fork()
        except BaseException:
            pidns.back(own_pidns)
            raise
        if pid1 == 0:
            # The child must never return into the caller's code.
            try:
                if own_pidns is not None:
                    posix.close(own_pidns)
                parent.close()
                if ctx.stdio:           # the caller's pipes in place of our 0/1/2
                    for n, fd in enumerate(ctx.stdio):
                        if fd is not None:
                            posix.dup2(fd, n)
                ctx.statedir.unlock()   # our copy only: the flock stays with stage 0
                # what the attach priming holds stays out (only loaded if priming ran here)
                primer = sys.modules.get("pycontainer.cgroups.attachlock")
                if primer is not None:
                    primer.drop_inherited()
                # The container's side keeps the C socket objects too (process/sync.py's
                # accept, send_fds, recv_fds): `import socket` here was ~6 ms of every create.
                trace.set_stage("init" if direct else "stage1")
                ctx.sync = child
                from . import init
                init.direct(ctx) if direct else init.stage1(ctx)
            finally:
                posix._exit(1)
        # Until stage 1 has sent the init's pid and been reaped, a failure must kill it, not
        # only wait for it: before GO it waits for us forever (a create whose cgroup attach
        # failed hung here, the runtime in waitpid, stage 1 in recv). After the reap its pid
        # may belong to another process: never signal it then. (The init forked directly
        # waits the same way.)
        stage1 = [pid1]
        undo.append(lambda: stage1[0] and _kill_and_reap(stage1[0]))
        pidns.back(own_pidns)       # before any other fork, or thread, of ours
        trace.event("fork", "linux.namespaces", ms=trace.since(t_fork), pid=pid1,
                    what="init (pid 1)" if direct else "stage 1 (namespaces)")
        child.close()
        _close_dmz(ctx)                 # the children's now
        if network is not None:
            network.preload()      # import pyroute2 in a thread while the children work
        ctx.listen.close()
        if ctx.console_sock is not None:
            ctx.console_sock.close()
        crash_point("before-record")          # a husk and a child that waits for GO
        joins_netns = any(n.get("path") for n in linux.get("namespaces", []) if n["type"] == "network")
        # none, host: only /etc files, in the state dir, made while the child imports (or,
        # an API worker's init, unshares and waits for GO): nothing to undo elsewhere, and lo
        # of a new netns is the init's own step (init.py, runc's "loopback"), not the runtime's.
        # (After GO they would be on the path: the init then has nothing to do until CONTINUE.)
        files_only = network is not None and (network.mode.kind == "host" or
                                              (network.mode.kind == "none" and not joins_netns))
        if files_only:
            record["network"] = network.setup(ctx.id, None, files_dir=ctx.statedir.path)
        elif network is not None:
            record["network"] = network.pending()     # enough to tear down if setup dies
        if direct:
            # The init is our child: its pid is recorded now, while it imports, so a runtime
            # killed from here on leaves what `delete --force` needs, and nothing but the
            # bridge stands between the init's namespaces and its CONTINUE.
            record.update(pid=pid1, pid_start=st.proc_start_time(pid1))
        # The first record (what delete --force needs: the cgroup, the network, the delete
        # plan), before any of them exists. Until now the state dir alone was the container:
        # a husk (state.py), with no process (a child of ours waits for GO on a socket that
        # closes if we die), cgroup or network to undo.
        ctx.statedir.write(record)
        crash_point("after-fork")
        # (4) the cgroup, then the child into it, then GO (it does nothing before GO)
        cgroup.create(linux.get("resources"))
        crash_point("after-cgroup")
        undo.append(cgroup.destroy)
        try:
            cgroup.add_pid(pid1)
            parent.send(S.GO)
        except Exception:
            # the child failed before GO (its namespaces, oom_score_adj) and exited: its
            # message, already queued, is the error to report, not ESRCH or EPIPE
            failed = parent.queued_error()
            if failed is not None:
                raise failed from None
            raise

        # (5) requests from stage 1, then the init's pid (or, forked directly, its word)
        with trace.step("recv from init" if direct else "recv from stage 1", "linux.namespaces",
                        socket="sync socketpair",
                        note="the init joins and unshares its namespaces" if direct else
                        "stage 1 unshares, forks the init, sends its pid"):
            msg = parent.recv(timeout=60)
        if msg.get("type") == S.MAP_PLS:
            from .. import namespaces
            namespaces.write_id_maps(pid1, linux.get("uidMappings", []), linux.get("gidMappings", []))
            parent.send(S.MAP_ACK)
            msg = parent.recv(timeout=60)
        if msg.get("type") != S.INIT_PID:
            raise_from(parent, msg)
        pid = pid1 if direct else msg["pid"]
        if direct:
            stage1[0] = 0                   # the undo below kills it, once
        undo.append(lambda: _kill_and_reap(pid))
        if not direct:             # (with a bridge's plan: the pending record above)
            record.update(pid=pid, pid_start=st.proc_start_time(pid))
            ctx.statedir.write(record)
        trace.event("init started", "linux.namespaces", pid=pid)

        files = record["network"].get("files", {}) if files_only else {}
        hk = spec.get("hooks", {})
        # A bridge (veth, address, routes: ~7 ms) is made while the init builds its rootfs,
        # unless a hook that may look at the network runs before the start: the init gets
        # /etc/hosts without the address (filled in place below) and the program starts only
        # after create returns. `early` is the init's CONTINUE before the network setup.
        early = network is not None and network.mode.kind == "bridge" and \
            not (hk.get("prestart") or hk.get("createRuntime") or hk.get("createContainer"))
        if network is not None and not files_only:
            undo.append(lambda: network.teardown(ctx.id, record.get("network")))
            crash_point("before-network")
            if early:
                parent.send(S.CONTINUE, pid=pid, files=network.early_files(ctx.id, ctx.statedir.path))
            try:
                saved = network.setup(ctx.id, pid, files_dir=ctx.statedir.path, early=early)
            except Exception:
                # After an early CONTINUE the init works on meanwhile; if it failed (no such
                # program, say) and exited, its netns went with it and the setup fails on
                # that: the init's own error, already queued, is the one to report.
                failed = parent.queued_error() if early else None
                if failed is not None:
                    raise failed from None
                raise
            crash_point("after-network")
            record["network"] = saved
            ctx.statedir.write(record)
            files = saved.get("files", {})
        if hk.get("prestart") or hk.get("createRuntime"):
            from .. import hooks
            state_json = st.oci_state(record, st.CREATING)
            hooks.run("prestart", hk.get("prestart"), state_json)
            hooks.run("createRuntime", hk.get("createRuntime"), state_json)
        if not early:
            parent.send(S.CONTINUE, pid=pid, files=files)
        # Stage 1 has exited after sending the pid; reaped only now, while the init works
        # (its exit, the unmapping of a Python process, cost ~0.2 ms before the CONTINUE).
        # Until then it is a zombie, whose pid no other process can have: undo may kill it.
        if not direct:
            _reap(pid1)
            stage1[0] = 0
        with trace.step("recv from init", "root.path, mounts, process", socket="sync socketpair",
                        note="the init mounts the rootfs, pivots and says it is ready"):
            ready = parent.expect(S.READY, timeout=120)
        if ready.get("mounts") is not None:
            # no private mount namespace: what `delete` must unmount (rootfs.unmount_recorded)
            joined = [n.get("path") for n in linux.get("namespaces", []) if n["type"] == "mount"]
            record["host_mounts"] = {"ids": ready["mounts"], "ns": joined[0] if joined else None}
        crash_point("after-pivot")            # the init has pivoted and waits for start
        parent.close()

        # (6) created
        record["status"] = st.CREATED
        ctx.statedir.write(record)
        return record
    except BaseException:
        for fn in reversed(undo):
            try:
                fn()
            except Exception:  # noqa: BLE001 - undo as much as possible
                pass
        raise


CRASH_POINTS = ("before-record", "after-fork", "after-cgroup", "before-network", "after-network",
                "after-pivot")


def crash_point(name: str) -> None:
    """For fault tests (security.md S22): ``PYCONTAINER_TEST_CRASH_AT=<name>`` makes the
    runtime kill -9 itself here, so recovery can be proven at every step."""
    if paths.getenv("PYCONTAINER_TEST_CRASH_AT") == name:
        posix.kill(posix.getpid(), 9)          # SIGKILL


def raise_from(sock, msg: dict) -> None:
    from . import sync as S
    if msg.get("type") == S.ERROR:
        from ..errors import from_message
        raise from_message(msg.get("kind", ""), msg.get("msg", "setup failed"),
                           stage=msg.get("stage", ""), errno=msg.get("errno"))
    raise ContainerSetupError(f"sync: unexpected message {msg.get('type')}", stage="sync")


def connect_console(path: str):
    import socket
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        s.connect(path)
    except OSError as exc:
        s.close()
        raise SpecError(f"--console-socket {path!r}: {exc.strerror}") from None
    return s


def _close_dmz(ctx: Launch) -> None:
    if ctx.dmz_fd is not None:
        posix.close(ctx.dmz_fd)
        ctx.dmz_fd = None


def _reap(pid: int) -> None:
    try:
        posix.waitpid(pid, 0)
    except ChildProcessError:
        pass


def _kill_and_reap(pid: int) -> None:
    try:
        posix.kill(pid, 9)                  # SIGKILL
    except ProcessLookupError:
        return
    _reap(pid)
