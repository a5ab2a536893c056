"""Warm pools: containers created ahead of time, each serving one run (``Client.pool``).

A cold ``sandbox()`` pays for the overlay, the namespaces, the cgroup, the
network and the init before the program starts. A pool pays that ahead: it
keeps ``size`` containers *created* with a deferred process (runc's
``create``: the init has built the container's world and waits at its start
barrier, process/init.py, before the process's identity steps). ``run(cmd)``
*starts* one of them with ``cmd`` as its process: the start message carries
args, env, cwd and user (resolved here from the image's /etc/passwd, as
``sandbox(user=)`` does) and, as SCM_RIGHTS, the caller's stdin/stdout/stderr
pipes. The init checks the process as config.json's, makes the pipes its
stdio and goes down the one process tail (process/finalize.py: capabilities,
no_new_privs, seccomp and execve in one call), so ``cmd`` is pid 1 of a
container exactly as created: same limits, filter, capabilities, masked paths,
egress. Only the start and the program are on the caller's clock. The
container is then removed, never reused (no state leaks from one run to the
next), and a background thread creates its replacement.

Each container has its own worker in the helper (api/helper.py, op ``warm``,
``serve`` below): it created the container (so the init is its child and it
reads the exit status itself), waits on the request's reply socket for the
run, starts it, kills the cgroup at ``timeout``, answers as ``sandbox()``'s
worker does, and removes the container. The socket stays with the pool:
closing it (``close()``, or the calling program dying) makes the worker
remove its container, and the helper removes owned ones it outlives.

    pool = client.pool("busybox", size=4, mem_limit="64m", network_mode="none")
    r = pool.run(["sh", "-c", "echo hi"], timeout=5)    # a SandboxResult
    pool.close()

Back to back, runs are limited by the replacements: each is a full create
(and each used container a delete) in the background.
"""

from __future__ import annotations

import json
import os
import threading
import time

from ..errors import PyContainerError
from .results import SandboxResult, raise_error
from .streams import DEFAULT_MAX_OUTPUT, DIED, REPLY_GRACE, Sink, check_limits, collect


CREATORS = 2


class Pool:
    def __init__(self, client, image: str, *, size: int = 4, **kw):
        if not isinstance(size, int) or size < 1:
            raise PyContainerError(f"pool size={size!r}: give a number >= 1")
        from .config import options_from_kwargs
        self.client, self.image, self.size, self.kw = client, image, size, kw
        kw = {k: v for k, v in kw.items() if k != "command"}
        kw.setdefault("egress", "deny-private")          # the defaults of sandbox()
        kw.setdefault("allow_ptrace", False)
        self.options = options_from_kwargs(image, self.kw.get("command"), **kw)   # usage errors now
        self.ready: list[tuple[str, object]] = []       # (id, the socket to its worker)
        self.used: list[tuple[str, object]] = []
        self.creating = 0
        self.closed = False
        self.error: BaseException | None = None
        self.cond = threading.Condition()
        # Two creators: a create waits on the kernel part of its time (RCU grace periods of
        # the cgroup attach, the init's setup), so two overlap even on 2 CPUs.
        self.threads = [threading.Thread(target=self._keep, name=f"pycontainer-pool-{i}", daemon=True)
                        for i in range(min(CREATORS, size))]
        for t in self.threads:
            t.start()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    # --- the background thread: replace used containers, wait for spent ones ---------------

    def _keep(self) -> None:
        spent: list = []        # used containers whose worker is still removing them
        while True:
            with self.cond:
                while not self.closed and not self.used and len(self.ready) + self.creating >= self.size:
                    self.cond.wait(0.2 if spent else None)
                    if spent:
                        break
                if self.closed:
                    self.used[:0] = spent       # close() waits for them
                    return
                spent += self.used
                self.used = []
                make = len(self.ready) + self.creating < self.size
                if make:
                    self.creating += 1
            # a used container's worker removes it after its answer: the replacement need
            # not wait for that (back to back, the two overlap)
            spent = [item for item in spent if not self._gone(*item)]
            if make:
                try:
                    item = self._create()
                except BaseException as exc:  # noqa: BLE001 -- reported to the next run()
                    with self.cond:
                        self.creating -= 1
                        self.error = exc
                        self.cond.notify_all()
                    time.sleep(0.5)
                    continue
                with self.cond:
                    self.creating -= 1
                    if self.closed:
                        spent.append(item)
                    else:
                        self.ready.append(item)
                    self.cond.notify_all()

    def _create(self):
        from ..names import new_id
        cid = new_id()
        req = {"op": "warm", "root": self.client.root, "image_root": self.client.image_root,
               "id": cid, "options": self.options, "owned": True}
        sock = self.client.transport.call(req)
        try:
            sock.settimeout(self.client.timeout)
            try:
                data = sock.recv(1 << 20)
            except TimeoutError:
                raise PyContainerError(f"pool: no container was created within {self.client.timeout}s") \
                    from None
            raise_error(json.loads(data) if data else DIED)
            sock.settimeout(None)
        except BaseException:
            sock.close()
            raise
        return cid, sock

    def _gone(self, cid: str, sock) -> bool:
        """Has the worker of a used container exited (it removed the container)? No wait."""
        import socket
        try:
            if sock.recv(1 << 16, socket.MSG_DONTWAIT):
                return False
        except BlockingIOError:
            return False
        except OSError:
            pass
        self._finish(cid, sock)
        return True

    def _finish(self, cid: str, sock) -> None:
        """The worker removes its container and exits (EOF): wait for that; then make sure."""
        import socket
        try:
            sock.shutdown(socket.SHUT_WR)        # an unstarted one: "remove it" (EOF there)
            sock.settimeout(self.client.timeout)
            while sock.recv(1 << 16):
                pass
        except OSError:
            pass
        finally:
            sock.close()
        from ..container import Runtime
        try:
            Runtime(self.client.root).delete(cid, force=True)     # no-op once it is gone
        except PyContainerError:
            pass

    # --- runs ---------------------------------------------------------------------------------

    def _take(self, wait: float):
        deadline = time.monotonic() + wait
        with self.cond:
            while not self.ready:
                if self.closed:
                    raise PyContainerError("the pool is closed")
                if self.error is not None and not self.creating:
                    exc, self.error = self.error, None
                    raise PyContainerError(f"the pool cannot create containers: {exc}") from exc
                left = deadline - time.monotonic()
                if left <= 0:
                    raise PyContainerError(f"no pool container became ready within {wait}s")
                self.cond.wait(left)
            return self.ready.pop(0)

    def _send(self, msg: bytes, fds: list[int]):
        """Hand the run to a ready container's worker; one whose container died while it
        waited (its worker closed the socket: EPIPE) is passed over for the next."""
        import socket
        while True:
            cid, sock = self._take(self.client.timeout)
            try:
                socket.send_fds(sock, [msg], fds, socket.MSG_NOSIGNAL)    # EPIPE, not SIGPIPE
                return cid, sock
            except OSError:
                with self.cond:
                    self.used.append((cid, sock))
                    self.cond.notify_all()

    def run(self, command, *, timeout: float | None = None, input: bytes | None = None,  # noqa: A002
            max_output: int | None = DEFAULT_MAX_OUTPUT, on_stdout=None, on_stderr=None,
            environment=None, workdir: str | None = None, user: str | None = None):
        """Run ``command`` in a fresh pool container; a ``SandboxResult`` as ``sandbox()``'s.

        The process is the one ``sandbox(image, command, **pool options)`` would run (the
        image's entrypoint first, its env with ``environment`` on top, ``workdir`` and
        ``user`` resolved in the image), as pid 1 of the container."""
        import shlex
        import socket
        from .streams import exchange
        check_limits(timeout, max_output)
        args = shlex.split(command) if isinstance(command, str) else list(command)
        env = [f"{k}={v}" for k, v in environment.items()] if isinstance(environment, dict) \
            else list(environment or ())
        msg = json.dumps({"args": args, "env": env, "user": user, "workdir": workdir,
                          "timeout": timeout}).encode()
        t0 = time.monotonic()
        out_r, out_w = os.pipe2(os.O_CLOEXEC)
        err_r, err_w = os.pipe2(os.O_CLOEXEC)
        if input is not None:
            in_r, in_w = os.pipe2(os.O_CLOEXEC)
        else:
            in_r, in_w = os.open(os.devnull, os.O_RDONLY | os.O_CLOEXEC), -1
        try:
            cid, sock = self._send(msg, [in_r, out_w, err_w])
        except BaseException:
            for fd in (out_r, err_r, in_w):
                if fd >= 0:
                    os.close(fd)
            raise
        finally:
            for fd in (in_r, out_w, err_w):
                os.close(fd)
        try:
            deadline = None if timeout is None else time.monotonic() + timeout + REPLY_GRACE
            sinks = {1: Sink(max_output, on_stdout), 2: Sink(max_output, on_stderr)}
            # exchange closes its socket when done; ours stays for _finish (a dup of the same
            # socket: shutdown below is what cancels the run in the worker)
            mine = sock.dup()
            try:
                reply = collect(exchange(mine, {out_r: 1, err_r: 2}, stdin_fd=in_w, stdin_data=input,
                                         deadline=deadline), sinks)
            except BaseException:
                try:
                    sock.shutdown(socket.SHUT_RDWR)   # the worker kills and removes it
                except OSError:
                    pass
                raise
            raise_error(reply)
        finally:
            with self.cond:
                self.used.append((cid, sock))
                self.cond.notify_all()
        return SandboxResult(id=cid, exit_code=reply["exit_code"], stdout=sinks[1].value(),
                             stderr=sinks[2].value(), oom_killed=bool(reply.get("oom_killed")),
                             timed_out=reply["timed_out"], wall_time=time.monotonic() - t0,
                             stdout_truncated=sinks[1].truncated, stderr_truncated=sinks[2].truncated)

    def close(self) -> None:
        """Stop replacing; remove every container of the pool (ready or spent), and wait."""
        with self.cond:
            self.closed = True
            self.cond.notify_all()
        for t in self.threads:
            t.join(timeout=self.client.timeout)
        with self.cond:
            left, self.ready, self.used = self.ready + self.used, [], []
        import socket
        for _cid, sock in left:                 # all at once: the workers remove in parallel
            try:
                sock.shutdown(socket.SHUT_WR)
            except OSError:
                pass
        for cid, sock in left:
            self._finish(cid, sock)


# --- the helper's side: one worker per pool container (api/helper.py, op "warm") -------------

def serve(root: str, cid: str, o: dict, *, image_root, reply_fd: int) -> int:
    """Create ``cid`` with a deferred process, say so, wait for its run (or EOF), run it.

    The run message (JSON: args, env, user, workdir, timeout) brings the program's
    stdin/stdout/stderr. The answer is ``sandbox()``'s: {id, exit_code, oom_killed,
    timed_out, wall}; a program that cannot be started gives 126/127 with the message
    on its stderr; a process the init refuses, an error reply. The container is removed
    in every case, after the answer when the run went through.
    """
    import socket
    from .. import containerdir as cd
    from .. import lifecycle
    from ..container import Runtime
    from ..errors import encode
    from .config import build
    from .operations import egress_policy, egress_shared, egress_undo, with_group
    rt = Runtime(root)
    shared = egress_shared(o)
    cdir, plan = build(cid, with_group(o, shared, remove=True), image_root=image_root, root=root)
    try:
        on_delete = cd.delete_plan() + egress_policy(cid, o, shared=shared)
        record = rt.create(cid, cdir, overlay=plan, on_delete=on_delete, autoremove=True, deferred=True)
    except BaseException as exc:
        egress_undo(cid, o, shared)
        lifecycle.failed(root, cid, exc, remove=True)
        raise
    sock = socket.socket(fileno=os.dup(reply_fd))
    try:
        from ..image.store import Store
        with open(os.path.join(cdir, cd.CONFIG)) as f:
            hostname = json.load(f).get("hostname")
        image = Store(image_root).resolve(o["image"]).config     # for sandbox()'s process rules
        base = {"image": image, "hostname": hostname, "options": o, "plan": plan}
        os.write(reply_fd, json.dumps({"id": cid, "pid": record["pid"]}).encode())
        import select
        pidfd = os.pidfd_open(record["pid"])
        try:                                      # the run, or the init's death (killed, ...)
            if sock.fileno() not in select.select([sock.fileno(), pidfd], [], [])[0]:
                return 0                          # the pool sees EOF and takes another
        finally:
            os.close(pidfd)
        try:
            msg, fds, _flags, _addr = socket.recv_fds(sock, 1 << 20, 3)
        except OSError:
            msg, fds = b"", []
        if not msg:                               # the pool closed, or its program is gone
            for fd in fds:
                os.close(fd)
            return 0
        try:
            out = json.dumps(_run(rt, cid, record, base, json.loads(msg), fds, reply_fd))
        except PyContainerError as exc:
            rt.delete(cid, force=True)            # before the answer: a refused run leaves nothing
            out = json.dumps({"error": encode(exc)})
        try:
            os.write(reply_fd, out.encode())
        except OSError:
            pass
        return 0
    finally:
        sock.close()
        try:
            rt.delete(cid, force=True)
        except PyContainerError:
            pass


def _run(rt, cid: str, record: dict, base: dict, run: dict, fds: list[int], cancel_fd: int) -> dict:
    import select
    import signal
    from .. import containerdir as cd
    from .. import exitcodes
    from ..signals import wait_exit
    try:
        if len(fds) != 3:
            raise PyContainerError(f"pool: the run came with {len(fds)} stdio fds, not 3")
        proc = process_for(base, run)
        files = cd.oom_files(record)
        oom_before = cd.oom_kills(files)
        t0 = time.monotonic()
        try:
            rt.start(cid, process=proc, stdio=fds)
        except PyContainerError as exc:
            if not exitcodes.is_exec_error(exc):
                raise
            try:                        # sandbox()'s answer: the message on the program's stderr
                os.write(fds[2], f"{exc}\n".encode())
            except OSError:
                pass
            return {"id": cid, "exit_code": exitcodes.for_error(exc), "oom_killed": False,
                    "timed_out": False, "wall": 0.0}
    finally:
        for fd in fds:
            os.close(fd)                # the program has its own copies
    pid = record["pid"]
    timeout = run.get("timeout")
    timed_out = False
    pidfd = os.pidfd_open(pid)
    try:
        left = None if timeout is None else max(0.0, timeout - (time.monotonic() - t0))
        r, _, _ = select.select([pidfd, cancel_fd], [], [], left)
        if pidfd not in r:
            timed_out = not r
            rt.cgroup_of(record).kill_all(signal.SIGKILL)
    finally:
        os.close(pidfd)
    code = wait_exit(pid)
    return {"id": cid, "exit_code": code, "oom_killed": cd.oom_kills(files) > oom_before,
            "timed_out": timed_out, "wall": time.monotonic() - t0}


def process_for(base: dict, run: dict) -> dict:
    """The process ``sandbox(image, args, **pool options, environment=, working_dir=, user=)``
    would have (image/runconfig.py: entrypoint, env with HOSTNAME and the user's HOME, cwd,
    user from the image's /etc/passwd and /etc/group), as args, env, cwd and user."""
    from ..image import runconfig
    o, plan = base["options"], base["plan"]
    layers = plan.lower + ([plan.upper] if plan.upper else [])
    args = run.get("args")
    if not isinstance(args, list) or not args:
        raise PyContainerError("pool.run: give the command as a non-empty list (or a string)")
    env = run.get("env") or []
    p = runconfig.process(base["image"], layers=layers, command=[str(a) for a in args],
                          entrypoint=o.get("entrypoint"), env=list(o.get("env", ())) + [str(e) for e in env],
                          workdir=run.get("workdir") or o.get("workdir"),
                          user=run.get("user") or o.get("user"), hostname=base["hostname"])
    # A missing cwd is made by the init (as runc does for config.json's: owned by the user),
    # not in the upper dir under a mounted overlay.
    return {"args": p["args"], "env": p["env"], "cwd": p["cwd"],
            "user": {k: p["user"][k] for k in ("uid", "gid", "additionalGids") if k in p["user"]}}
