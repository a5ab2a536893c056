"""The Python API, shaped like the docker SDK, and the path the CLI porcelain shares.

::

    import pycontainer
    client = pycontainer.Client()
    out = client.containers.run("busybox", ["echo", "hi"], remove=True, network_mode="none")
    c = client.containers.create("busybox", "sleep 60", name="box", mem_limit="64m",
                                 network_mode="none")
    c.start(); code, output = c.exec_run("ls -l"); c.stop(); c.remove()
    r = client.containers.sandbox("busybox", ["sh", "-c", "..."], timeout=5, mem_limit="64m")
    r.exit_code, r.stdout, r.stderr, r.oom_killed, r.timed_out, r.wall_time

Three layers:

* **operations** (``build``, ``op_run``, ``op_create``, ``op_exec``): turn
  options into a bundle and run it with ``Runtime``. They fork (stage 1, the
  monitor), so they run only in a single-threaded process: the CLI (the
  porcelain in ``porcelain.py`` calls them directly) or the helper below.
* **the helper** (``_Helper``): a program embedding pycontainer may have
  threads, and fork(2) of a threaded interpreter can deadlock on a lock
  another thread held. So ``Client`` never forks the caller: it starts one
  helper, ``python -I -m pycontainer.api --serve``, with ``close_fds`` (no
  fd of the host program reaches it), and per request sends a
  ``SOCK_SEQPACKET`` message with the request and the fds it needs (a reply
  socket, stdin/stdout/stderr) over SCM_RIGHTS. The helper, single-threaded
  and with the runtime already imported, forks a worker per request: no
  interpreter start per container.
* **the objects** (``Client``, ``Container``, ``Image``): what needs no fork
  (start, stop, kill, wait, logs, remove, stats, images) runs in the
  caller's process.

Exceptions: ``APIError`` (any failure, a ``PyContainerError``), ``NotFound``
and ``ImageNotFound`` under it, and ``ContainerError`` (the program exited
non-zero: ``exit_status``, ``stderr``).
"""

from __future__ import annotations

import json
import os
import signal
import sys
import threading
import time
import uuid

from .errors import PyContainerError
from .image.rootfs import ANN_DIR, DEFAULT_CONTAINERS as CONTAINERS_DIR

ANN_IMAGE = "org.pycontainer.image"
DEFAULT_ROOT = "/run/pycontainer"


# --- exceptions ----------------------------------------------------------------------------

class APIError(PyContainerError):
    """A request failed; ``str(e)`` says why."""


class NotFound(APIError):
    """No such container (or image)."""


class ImageNotFound(NotFound):
    """No such image in the store (and it could not be pulled)."""


class ContainerError(APIError):
    """The container's program exited with a non-zero status."""

    def __init__(self, container, exit_status: int, command, image: str, stderr: bytes):
        self.container, self.exit_status, self.command, self.image = container, exit_status, command, image
        self.stderr = stderr
        err = stderr.decode(errors="replace").strip() if stderr else ""
        super().__init__(f"command {command!r} in image {image!r} returned non-zero exit status "
                         f"{exit_status}" + (f": {err}" if err else ""))


def _translate(exc: BaseException) -> BaseException:
    """Runtime and image errors -> the API's exceptions (the original chained)."""
    from . import errors
    if isinstance(exc, APIError):
        return exc
    name = type(exc).__name__
    if name == "ImageNotFound":
        new = ImageNotFound(str(exc))
    elif isinstance(exc, errors.ContainerNotFound):
        new = NotFound(str(exc))
    elif isinstance(exc, PyContainerError):
        new = APIError(str(exc))
        new.errno = exc.errno
    else:
        return exc
    new.__cause__ = exc
    return new


# --- options: the docker SDK's names -> the porcelain's --------------------------------------

def options_from_kwargs(image: str, command=None, **kw) -> dict:
    """docker SDK ``containers.run/create`` keyword arguments -> build() options."""
    import shlex
    o: dict = {"image": image}
    if command is not None:
        o["command"] = shlex.split(command) if isinstance(command, str) else list(command)
    ep = kw.pop("entrypoint", None)
    if ep is not None:
        o["entrypoint"] = ep if isinstance(ep, str) else ep[0]
        if not isinstance(ep, str) and len(ep) > 1:
            o["command"] = list(ep[1:]) + o.get("command", [])
    env = kw.pop("environment", None) or []
    o["env"] = [f"{k}={v}" for k, v in env.items()] if isinstance(env, dict) else list(env)
    vols = kw.pop("volumes", None) or []
    if isinstance(vols, dict):
        vols = [f"{h}:{v['bind']}:{v.get('mode', 'rw')}" for h, v in vols.items()]
    o["volumes"] = list(vols)
    ports = kw.pop("ports", None) or {}
    o["publish"] = [f"{h}:{c.split('/')[0]}/{c.split('/')[1] if '/' in c else 'tcp'}"
                    for c, h in ports.items()] if isinstance(ports, dict) else list(ports)
    rename = {"name": "name", "hostname": "hostname", "working_dir": "workdir", "user": "user",
              "network_mode": "network", "network": "network", "mem_limit": "memory",
              "memswap_limit": "memory_swap", "cpu_shares": "cpu_shares", "cpuset_cpus": "cpuset_cpus",
              "pids_limit": "pids_limit", "blkio_weight": "blkio_weight", "cap_add": "cap_add",
              "cap_drop": "cap_drop", "privileged": "privileged", "read_only": "read_only",
              "tty": "tty", "stdin_open": "interactive", "cpus": "cpus", "devices": "device",
              "device_requests": "device_requests", "device_cgroup_rules": "device_cgroup_rule",
              "group_add": "group_add"}
    for k, v in list(kw.items()):
        if k in rename:
            if v is not None:
                o[rename[k]] = v
            kw.pop(k)
    nano = kw.pop("nano_cpus", None)
    if nano:
        o["cpus"] = str(nano / 1e9)
    for k in ("detach", "remove", "auto_remove", "stdout", "stderr", "labels", "stream"):
        kw.pop(k, None)
    if kw:
        raise APIError(f"unsupported option(s): {', '.join(sorted(kw))}")
    for k in ("memory", "memory_swap", "cpu_shares", "pids_limit", "blkio_weight", "cpus"):
        if k in o:
            o[k] = str(o[k])
    return o


DEVICE_OPTIONS = ("device", "gpus", "device_requests", "device_cgroup_rule", "group_add")


def DeviceRequest(*args, **kw):  # noqa: N802 - docker.types.DeviceRequest's name
    """docker.types.DeviceRequest (driver, count, device_ids, capabilities, options)."""
    from .cdi.requests import DeviceRequest as Request
    return Request(*args, **kw)


# --- operations (single-threaded process only: they fork) ----------------------------------------

def build(cid: str, o: dict, *, image_root=None, pull: str = "missing",
          root: str | None = None) -> tuple[str, object]:
    """Image + options -> the container's directory with config.json; (cdir, overlay plan).

    On failure nothing is left (directory removed, image hold released).
    """
    from . import spec as spec_mod
    from .cgroups import convert
    from .image import rootfs as img_rootfs, runconfig
    from .image.store import Store
    from .state import validate_id
    validate_id(cid)
    resources = convert.docker_resources(
        memory=o.get("memory"), memory_swap=o.get("memory_swap"), cpus=o.get("cpus"),
        cpu_shares=o.get("cpu_shares"), cpuset_cpus=o.get("cpuset_cpus"), pids_limit=o.get("pids_limit"),
        blkio_weight=o.get("blkio_weight"),
        device_read_bps=o.get("device_read_bps") or None, device_write_bps=o.get("device_write_bps") or None,
        device_read_iops=o.get("device_read_iops") or None,
        device_write_iops=o.get("device_write_iops") or None)
    mounts = [_volume(v) for v in o.get("volumes", ())]
    caps = _capabilities(o.get("cap_add", ()), o.get("cap_drop", ()), o.get("privileged"))
    hostname = o.get("hostname") or cid[:12]
    net = _network_request(o.get("network"), o.get("publish", ()), hostname)
    devplan = None
    if any(o.get(k) for k in DEVICE_OPTIONS):          # --device/--gpus/CDI: pycontainer/cdi
        from .cdi import requests as devreq
        devplan = devreq.plan(o)                       # resolved before the image is touched
    store = Store(image_root)
    img, plan = img_rootfs.prepare(cid, o["image"], store=store, containers_dir=CONTAINERS_DIR, pull=pull)
    cdir = os.path.join(CONTAINERS_DIR, cid)
    try:
        proc = runconfig.process(img.config, layers=img.layers, command=o.get("command") or None,
                                 entrypoint=o.get("entrypoint"), env=list(o.get("env", ())),
                                 workdir=o.get("workdir"), user=o.get("user"),
                                 hostname=hostname, tty=bool(o.get("tty")))
        runconfig.make_workdir(img.layers, plan.upper, proc["cwd"])       # docker creates -w
        os.mkdir(os.path.join(cdir, "rootfs"), 0o755)
        cfg = spec_mod.default_spec(proc["args"], terminal=bool(o.get("tty")))
        cfg["process"].update({k: v for k, v in proc.items() if k != "args"})
        cfg["process"]["capabilities"] = {k: list(caps) for k in ("bounding", "effective", "permitted")}
        if o.get("tty") and o.get("console_size"):
            cfg["process"]["consoleSize"] = o["console_size"]
        cfg["root"] = {"path": "rootfs", "readonly": bool(o.get("read_only"))}
        cfg["hostname"] = hostname
        cfg["mounts"] += mounts
        if o.get("privileged"):
            cfg["linux"].pop("maskedPaths", None)
            cfg["linux"].pop("readonlyPaths", None)
            cfg["process"]["noNewPrivileges"] = False
        from .security import seccomp as seccomp_mod      # docker's default profile (issue #7)
        seccomp_mod.apply_docker_options(cfg, o.get("security_opt", ()), privileged=bool(o.get("privileged")))
        if resources:
            cfg["linux"]["resources"].update(resources)
        if devplan:
            devreq.apply(cfg, devplan)
        cfg["annotations"] = {ANN_DIR: cdir, ANN_IMAGE: img.name,     # docker start/inspect
                              "org.pycontainer.overlay": plan.to_json(),
                              "org.pycontainer.options": json.dumps(
                                  {k: v for k, v in o.items() if k != "console_size"})}
        if net is not None:
            cfg["annotations"]["org.pycontainer.network"] = json.dumps(net)
        from . import run_flags                      # docker run's --tmpfs, --ulimit, --dns, ...
        run_flags.to_spec(cfg, o, img)
        if net is not None and net.get("mode") == "host":
            cfg["linux"]["namespaces"] = [n for n in cfg["linux"]["namespaces"] if n["type"] != "network"]
        with open(os.path.join(cdir, "config.json"), "w") as f:
            json.dump(cfg, f, indent=1)
        if root:                       # whose container this is (gc of another root skips it)
            with open(os.path.join(cdir, "root"), "w") as f:
                f.write(os.path.abspath(root))
    except BaseException:
        remove_dir(cid)
        raise
    return cdir, plan


def op_create(root: str, cid: str, o: dict, *, start: bool, remove: bool = False,
              image_root=None) -> dict:
    """Build and create under a monitor (``run -d``, ``containers.create``); -> {id, pid}."""
    from . import detach
    from .container import Runtime
    from . import lifecycle
    cdir, plan = build(cid, dict(o, remove=remove), image_root=image_root, root=root)
    rt = Runtime(root)
    try:
        pid = detach.spawn(rt, cid, cdir, cdir, tty=bool(o.get("tty")), start=start, remove=remove,
                           interactive=bool(o.get("interactive")), overlay=plan)
    except BaseException as exc:
        lifecycle.failed(root, cid, exc, remove=remove)     # docker keeps a Created one (126/127)
        raise
    return {"id": cid, "pid": pid}


def op_run(root: str, cid: str, o: dict, *, remove: bool, timeout: float | None = None,
           image_root=None, forward_signals: bool = False, pull: str = "missing") -> dict:
    """Build, run in the foreground on our stdio, wait; -> {exit_code, oom_killed, timed_out, wall}.

    ``timeout`` (seconds from start) kills every process of the container's
    cgroup. The exit status is also written to the container's exit.json,
    so a kept container reports it later.
    """
    from . import detach
    from .container import Runtime
    from . import lifecycle
    cdir, plan = build(cid, dict(o, remove=remove), image_root=image_root, pull=pull, root=root)
    rt = Runtime(root)
    try:
        record = rt.create(cid, cdir, overlay=plan)
    except BaseException as exc:
        lifecycle.failed(root, cid, exc, remove=remove)     # docker keeps a Created one (126/127)
        raise
    timed_out = False
    try:
        files, oom_before = detach._oom_files(rt, record)
        pid = record["pid"]
        t0 = time.monotonic()
        old = {}
        if forward_signals:         # as docker's sig-proxy: our signals go to the program
            from .container import _forward
            for s in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP, signal.SIGQUIT, signal.SIGUSR1,
                      signal.SIGUSR2):
                old[s] = signal.signal(s, lambda n, _f: _forward(pid, n))
        rt.start(cid)
        pidfd = os.pidfd_open(pid)
        try:
            import select
            left = None if timeout is None else timeout - (time.monotonic() - t0)
            r, _, _ = select.select([pidfd], [], [], None if left is None else max(0.0, left))
            if not r:
                timed_out = True
                rt.cgroup_of(record).kill_all(signal.SIGKILL)
        finally:
            os.close(pidfd)
        from .container import _wait_exit
        code = _wait_exit(pid)
        for s, h in old.items():
            signal.signal(s, h)
        wall = time.monotonic() - t0
        from . import monitor
        oom = monitor.oom_kills(files) > oom_before
        monitor.write_exit(os.path.join(cdir, detach.EXIT),
                           {"exit_code": code, "signal": code - 128 if code > 128 else 0,
                            "oom_killed": oom, "finished_at": monitor.rfc3339(time.time_ns())})
    except BaseException as exc:
        lifecycle.failed(root, cid, exc, remove=remove)
        raise
    if remove:
        rt.delete(cid, force=True)
    else:
        lifecycle.release_network(root, cid)        # docker: a stopped container holds no IP/ports
    return {"id": cid, "exit_code": code, "oom_killed": oom, "timed_out": timed_out, "wall": wall}


def op_exec(root: str, cid: str, args, *, env=(), user=None, workdir=None, tty=False,
            interactive=False, privileged=False, detach=False) -> int:
    """``exec`` on our stdio; the exit status (0 once started with ``detach``)."""
    from .container import Runtime
    rt = Runtime(root)
    caps = None
    if privileged:
        from .capabilities import CAPS
        caps = sorted(CAPS)
    proc = rt.exec_process(cid, list(args), env=list(env), user=user, cwd=workdir, tty=False, caps=caps)
    if tty and not detach:
        from . import terminal
        return terminal.exec_(rt, cid, proc, interactive=interactive)
    return rt.exec(cid, proc, detach=detach)


def remove_dir(cid: str) -> None:
    """Remove a container's directory and release its image hold (tolerant, idempotent)."""
    import shutil
    from .image import rootfs as img_rootfs
    cdir = os.path.join(CONTAINERS_DIR, cid)
    try:
        img_rootfs.cleanup(cid, containers_dir=CONTAINERS_DIR)
    except Exception:  # noqa: BLE001
        pass
    shutil.rmtree(cdir, ignore_errors=True)


def _volume(v: str) -> dict:
    from .errors import SpecError
    parts = v.split(":")
    if len(parts) not in (2, 3) or not parts[0] or not parts[1]:
        raise SpecError(f"-v {v!r}: use HOST:CONTAINER[:ro|rw]")
    src, dst = parts[0], parts[1]
    mode = parts[2] if len(parts) == 3 else "rw"
    if not os.path.isabs(src) or not os.path.isabs(dst):
        raise SpecError(f"-v {v!r}: both paths must be absolute")
    if mode not in ("ro", "rw"):
        raise SpecError(f"-v {v!r}: mode must be ro or rw")
    if not os.path.exists(src):
        raise SpecError(f"-v {v!r}: {src} does not exist")
    return {"destination": dst, "type": "bind", "source": src, "options": ["rbind", mode, "rprivate"]}


def _capabilities(add, drop, privileged) -> list[str]:
    """docker's rules (moby oci/caps TweakCapabilities): ``--privileged`` and ``--cap-add ALL``
    give every capability the runtime itself holds (minus --cap-drop), ``--cap-drop ALL``
    keeps only --cap-add, otherwise docker's 14 minus --cap-drop plus --cap-add."""
    from . import spec as spec_mod
    from .capabilities import cap_number
    from .errors import SpecError

    def norm(flag, names):
        out = []
        for c in names or ():
            if c.upper() == "ALL":
                out.append("ALL")
            elif cap_number(c) is None:
                raise SpecError(f"{flag} {c}: unknown capability")
            else:
                out.append("CAP_" + c.upper().removeprefix("CAP_"))
        return out
    add, drop = norm("--cap-add", add), norm("--cap-drop", drop)
    if privileged:
        return _all_caps()
    if "ALL" in add:
        return sorted(c for c in _all_caps() if c not in drop)
    if "ALL" in drop:
        return sorted(set(add) - {"ALL"})
    return sorted({c for c in spec_mod.DEFAULT_CAPS if c not in drop} | set(add))


def _all_caps() -> list[str]:
    """Every capability in the runtime's own bounding set (a capability it lacks cannot be given)."""
    from .capabilities import CAPS
    try:
        with open("/proc/self/status") as f:
            bnd = int(next(ln.split()[1] for ln in f if ln.startswith("CapBnd:")), 16)
    except (OSError, StopIteration, ValueError):
        return sorted(CAPS)
    return sorted(n for n, bit in CAPS.items() if bnd >> bit & 1)


def _network_request(mode, publish, hostname: str):
    from . import network
    req = {"mode": mode or "bridge", "hostname": hostname}
    if publish:
        req["ports"] = list(publish)
    return network.parse_request(req)


# --- reading a container (no fork: any process, any thread) ----------------------------------

def inspect(root: str, cid: str) -> dict:
    """docker-inspect-shaped record of a container, from its state and its directory."""
    from . import inspect as insp
    try:
        return insp.record(root, cid)
    except PyContainerError as exc:
        raise _translate(exc) from None


def resolve_id(root: str, ref: str) -> str:
    """A full ID, a name (IDs are names here) or a unique ID prefix -> the ID."""
    from . import inspect as insp
    ids = insp.list_ids(root)
    if ref in ids:
        return ref
    named = insp.find_name(root, ref)          # a name given by `rename`
    if named:
        return named
    matches = [i for i in ids if i.startswith(ref)] if ref else []
    if len(matches) == 1:
        return matches[0]
    if len(matches) > 1:
        raise APIError(f"container {ref!r} is ambiguous: {len(matches)} IDs start with it")
    raise NotFound(f"container {ref!r} does not exist")


def read_logs(cdir: str, *, stdout=True, stderr=True, timestamps=False, tail=None, since_offset=0):
    """(chunks of bytes, new offset) from the container's json.log."""
    from . import detach
    path = os.path.join(cdir, detach.LOG)
    try:
        with open(path, "rb") as f:
            f.seek(since_offset)
            data = f.read()
    except FileNotFoundError:
        return [], since_offset
    end = data.rfind(b"\n") + 1          # a line still being written waits for the next read
    lines = data[:end].splitlines()
    want = {"stdout"} if stdout else set()
    if stderr:
        want.add("stderr")
    out = []
    for line in lines:
        try:
            e = json.loads(line)
        except ValueError:
            continue
        if e.get("stream") in want:
            text = e.get("log", "")
            out.append((e["stream"], (e["time"] + " " if timestamps else "") + text))
    if tail is not None and tail != "all":
        out = out[-int(tail):] if int(tail) > 0 else []
    return [(s, t.encode()) for s, t in out], since_offset + end


# --- the helper: a single-threaded process that forks for us ----------------------------------

_PRELOAD = ("pycontainer.container", "pycontainer.process.launcher", "pycontainer.process.init",
            "pycontainer.process.execute", "pycontainer.spec", "pycontainer.state", "pycontainer.cgroups",
            "pycontainer.cgroups.convert", "pycontainer.image.store", "pycontainer.image.rootfs",
            "pycontainer.image.overlay", "pycontainer.image.runconfig", "pycontainer.network",
            "pycontainer.detach", "pycontainer.monitor", "pycontainer.capabilities", "pycontainer.terminal",
            "pycontainer.porcelain", "pycontainer.hooks", "pycontainer.errors",
            # what the first container would import lazily (measured): each worker is a
            # fork of the helper, so anything not loaded here is loaded once per container
            "pycontainer.cgroups.devices", "pycontainer.cgroups.stats", "pycontainer.cgroups.v1",
            "pycontainer.cgroups.v2", "pycontainer.image.layers", "pycontainer.network.files",
            "pycontainer.network.ipam", "pycontainer.network.nat", "pycontainer.network.netns",
            "pycontainer.security.seccomp", "shutil", "subprocess", "tempfile", "hashlib",
            "random", "locale", "bz2", "lzma", "bisect")


class _Helper:
    """One ``python -I -m pycontainer.api --serve`` per Client; per request, one forked worker."""

    def __init__(self):
        self.lock = threading.Lock()
        self.proc = None
        self.sock = None

    def _start(self):
        import socket
        import subprocess
        mine, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        try:
            self.proc = subprocess.Popen(
                [sys.executable, "-I", "-m", "pycontainer.api", "--serve", str(theirs.fileno())],
                stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, pass_fds=(theirs.fileno(),),
                close_fds=True, cwd="/")
        finally:
            theirs.close()
        self.sock = mine

    def call(self, request: dict, stdio=(None, None, None), timeout: float | None = None) -> tuple:
        """Send ``request`` with our stdio fds; return (reply socket) to read the answer from."""
        import socket
        mine, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET | socket.SOCK_CLOEXEC)
        null = os.open(os.devnull, os.O_RDWR | os.O_CLOEXEC)
        try:
            fds = [theirs.fileno()] + [null if fd is None else fd for fd in stdio]
            data = json.dumps(request).encode()
            with self.lock:
                for attempt in (0, 1):
                    if self.sock is None or self.proc.poll() is not None:
                        self.close_locked()
                        self._start()
                    try:
                        socket.send_fds(self.sock, [data], fds)
                        break
                    except OSError:
                        self.close_locked()
                        if attempt:
                            raise
        finally:
            theirs.close()
            os.close(null)
        return mine

    def close_locked(self):
        if self.sock is not None:
            self.sock.close()
            self.sock = None
        if self.proc is not None:
            try:
                self.proc.wait(timeout=5)
            except Exception:  # noqa: BLE001
                self.proc.kill()
                self.proc.wait()
            self.proc = None

    def close(self):
        with self.lock:
            self.close_locked()


def _recv_reply(sock, timeout=None) -> dict:
    sock.settimeout(timeout)
    try:
        data = sock.recv(1 << 20)
    finally:
        sock.close()
    if not data:
        raise APIError("the pycontainer helper died before it answered")
    reply = json.loads(data)
    if "error" in reply:
        cls = {"ImageNotFound": ImageNotFound, "ContainerNotFound": NotFound}.get(reply.get("kind"))
        exc = (cls or APIError)(reply["error"])
        raise exc
    return reply


def _serve(ctl_fd: int) -> None:
    """The helper's loop: one message = one request; fork a worker for it."""
    import importlib
    import socket
    for m in _PRELOAD:
        try:
            importlib.import_module(m)
        except ImportError:
            pass
    ctl = socket.socket(fileno=ctl_fd)
    os.set_inheritable(ctl_fd, False)
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGCHLD, lambda _n, _f: _reap_workers())   # no zombie workers
    while True:
        try:
            msg, fds, _flags, _addr = socket.recv_fds(ctl, 1 << 20, 8)
        except InterruptedError:
            continue
        _reap_workers()
        if not msg:
            break                       # the client closed: we are done
        for fd in fds:
            os.set_inheritable(fd, False)
        req = json.loads(msg)
        if "pyroute2" not in sys.modules and req.get("op") in ("run", "create") and \
                (req.get("options") or {}).get("network", "bridge") not in ("none", "host"):
            # The first bridge container pays pyroute2's import (~150 ms) here, once:
            # every later worker is a fork that has it, and its setup is ~13 ms.
            try:
                importlib.import_module("pyroute2.iproute")
            except ImportError:
                pass
        pid = os.fork()
        if pid == 0:
            code = 1
            try:
                signal.signal(signal.SIGCHLD, signal.SIG_DFL)   # the worker waits for its own
                ctl.close()
                code = _worker(req, fds)
            finally:
                os._exit(code)
        for fd in fds:
            os.close(fd)
    _reap_workers()


def _reap_workers():
    while True:
        try:
            pid, _ = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            return
        if pid == 0:
            return


def _worker(req: dict, fds: list[int]) -> int:
    """One request in a forked worker: stdio from the caller, the answer on fds[0]."""
    reply_fd, stdio = fds[0], fds[1:4]
    for i, fd in enumerate(stdio):
        os.dup2(fd, i)
        os.close(fd)
    op = req.pop("op")
    root = req.pop("root")
    image_root = req.pop("image_root", None)
    try:
        if op == "run":
            res = op_run(root, req["id"], req["options"], remove=req["remove"], timeout=req.get("timeout"),
                         image_root=image_root)
        elif op == "create":
            res = op_create(root, req["id"], req["options"], start=req["start"], remove=req["remove"],
                            image_root=image_root)
        elif op == "start":
            from . import lifecycle
            res = {"pid": lifecycle.start(root, req["id"])}
        elif op == "exec":
            res = {"exit_code": op_exec(root, req["id"], req["args"], env=req.get("env", ()),
                                        user=req.get("user"), workdir=req.get("workdir"),
                                        privileged=req.get("privileged", False),
                                        detach=req.get("detach", False))}
        else:
            raise APIError(f"unknown operation {op!r}")
        out = json.dumps(res)
        code = 0
    except PyContainerError as exc:
        from . import exitcodes
        if op == "create" and not req.get("start") and exitcodes.is_exec_error(exc):
            out, code = json.dumps({"id": req["id"], "pid": 0}), 0    # docker: start() fails
        elif op not in ("run", "exec") or not exitcodes.is_exec_error(exc):
            out, code = json.dumps({"error": str(exc), "kind": type(exc).__name__}), 1
        else:       # docker: (126|127, message); sandbox: exit_code with the message on stderr
            os.write(2, f"{exc}\n".encode())
            out, code = json.dumps({"id": req.get("id"), "exit_code": exitcodes.for_error(exc),
                                    "oom_killed": False, "timed_out": False, "wall": 0.0}), 0
    except BaseException as exc:  # noqa: BLE001
        out = json.dumps({"error": str(exc) or type(exc).__name__, "kind": type(exc).__name__})
        code = 1
    for i in (0, 1, 2):              # the container keeps its copies; ours go first
        try:
            os.dup2(os.open(os.devnull, os.O_RDWR), i)
        except OSError:
            pass
    os.write(reply_fd, out.encode())
    return code


# --- the objects ---------------------------------------------------------------------------

class ExecResult(tuple):
    """(exit_code, output), as the docker SDK's exec_run returns."""

    def __new__(cls, exit_code, output):
        return super().__new__(cls, (exit_code, output))

    exit_code = property(lambda self: self[0])
    output = property(lambda self: self[1])


class SandboxResult:
    """What a sandboxed run produced."""

    __slots__ = ("id", "exit_code", "stdout", "stderr", "oom_killed", "timed_out", "wall_time")

    def __init__(self, **kw):
        for k in self.__slots__:
            setattr(self, k, kw.get(k))

    def __repr__(self):
        return (f"SandboxResult(exit_code={self.exit_code}, oom_killed={self.oom_killed}, "
                f"timed_out={self.timed_out}, wall_time={self.wall_time:.3f}, "
                f"stdout={self.stdout[:60]!r}, stderr={self.stderr[:60]!r})")


class Container:
    def __init__(self, client: "Client", cid: str, attrs: dict | None = None):
        self.client = client
        self.id = cid
        self.attrs = attrs if attrs is not None else inspect(client.root, cid)

    def __repr__(self):
        return f"<Container: {self.id[:12]}>"

    name = property(lambda self: self.id)
    short_id = property(lambda self: self.id[:12])
    image = property(lambda self: self.attrs["Config"]["Image"])
    status = property(lambda self: self.attrs["State"]["Status"])

    def reload(self) -> None:
        self.attrs = inspect(self.client.root, self.id)

    def _rt(self):
        from .container import Runtime
        return Runtime(self.client.root)

    def _call(self, fn, *a, **kw):
        try:
            return fn(*a, **kw)
        except PyContainerError as exc:
            raise _translate(exc) from None

    def start(self) -> None:
        self.reload()
        if self.attrs["State"].get("RuntimeStatus") == "created":     # its init waits for us
            self._call(self._rt().start, self.id)
        else:           # docker's start again (a monitor is forked: the helper does it)
            _recv_reply(self.client._helper.call({"op": "start", "root": self.client.root,
                                                  "id": self.id}))
        self.reload()

    def kill(self, signal_="SIGKILL") -> None:
        from .container import parse_signal
        self._call(self._rt().kill, self.id, parse_signal(signal_))

    def stop(self, timeout: float = 10) -> None:
        """SIGTERM, then after ``timeout`` seconds SIGKILL to every process (docker stop)."""
        stop(self.client.root, self.id, timeout)
        self.reload()

    def pause(self) -> None:
        self._call(self._rt().pause, self.id)

    def unpause(self) -> None:
        self._call(self._rt().resume, self.id)

    def wait(self, timeout: float | None = None) -> dict:
        """Block until the program exits: ``{"StatusCode": n, "Error": None, "OOMKilled": b}``."""
        code, oom = wait(self.client.root, self.id, timeout)
        return {"StatusCode": code, "Error": None, "OOMKilled": oom}

    def remove(self, force: bool = False, v: bool = False) -> None:
        from . import lifecycle          # also a Created one kept without runtime state
        self._call(lifecycle.remove, self.client.root, self.id, force=force)

    def logs(self, stdout=True, stderr=True, timestamps=False, tail="all", stream=False, follow=False):
        cdir = self.attrs.get("Dir", "")
        if stream or follow:
            return (data for _s, data in follow_logs(self.client.root, self.id, cdir, stdout=stdout,
                                                     stderr=stderr, timestamps=timestamps, tail=tail))
        chunks, _ = read_logs(cdir, stdout=stdout, stderr=stderr, timestamps=timestamps,
                              tail=None if tail == "all" else tail)
        return b"".join(d for _s, d in chunks)

    def stats(self, stream: bool = False) -> dict:
        return self._call(self._rt().stats, self.id)

    def top(self) -> list[int]:
        return self._call(self._rt().pids, self.id)

    def exec_run(self, cmd, stdout=True, stderr=True, stdin=False, tty=False, privileged=False,
                 user="", detach=False, environment=None, workdir=None, demux=False) -> ExecResult:
        """Run ``cmd`` in the container; (exit_code, output) with stdout and stderr as asked."""
        import shlex
        args = shlex.split(cmd) if isinstance(cmd, str) else list(cmd)
        env = [f"{k}={v}" for k, v in environment.items()] if isinstance(environment, dict) \
            else list(environment or ())
        req = {"op": "exec", "root": self.client.root, "id": self.id, "args": args, "env": env,
               "user": user or None, "workdir": workdir, "privileged": privileged, "detach": detach}
        if detach:
            _recv_reply(self.client._helper.call(req))
            return ExecResult(None, None)
        out, err, reply = self.client._collect(req, separate=demux, stdout=stdout, stderr=stderr)
        return ExecResult(reply["exit_code"], (out, err) if demux else out)


class ContainerCollection:
    def __init__(self, client: "Client"):
        self.client = client

    def create(self, image: str, command=None, **kw) -> Container:
        """A created container (its program waits for ``start()``), with a monitor."""
        return self._create(image, command, start=False, **kw)

    def _create(self, image, command, *, start, **kw):
        remove = bool(kw.get("auto_remove") or kw.get("remove"))
        cid = kw.get("name") or uuid.uuid4().hex
        o = options_from_kwargs(image, command, **kw)
        req = {"op": "create", "root": self.client.root, "image_root": self.client.image_root,
               "id": cid, "options": o, "start": start, "remove": remove}
        _recv_reply(self.client._helper.call(req))
        return Container(self.client, cid)

    def run(self, image: str, command=None, *, stdout=True, stderr=False, remove=False,
            detach=False, timeout: float | None = None, **kw):
        """docker's ``containers.run``: the output (bytes), or a Container with ``detach``.

        Raises ``ContainerError`` (with stderr) when the program exits non-zero.
        """
        if detach:
            return self._create(image, command, start=True, remove=remove, **kw)
        r = self.sandbox(image, command, timeout=timeout, remove=remove, **kw)
        if r.exit_code != 0:
            raise ContainerError(None if remove else Container(self.client, r.id), r.exit_code,
                                 command, image, r.stderr)
        return (r.stdout if stdout else b"") + (r.stderr if stderr else b"")

    def sandbox(self, image: str, command=None, *, timeout: float | None = None, remove: bool = True,
                input: bytes | None = None, **kw) -> SandboxResult:  # noqa: A002
        """Run to completion with a timeout that kills the whole cgroup; never raises for the
        program's own failure. Limits: mem_limit, nano_cpus/cpus, cpu_shares, pids_limit;
        network_mode="none" for no network; ``input`` (bytes) is the program's stdin."""
        cid = kw.get("name") or uuid.uuid4().hex
        o = options_from_kwargs(image, command, **kw)
        req = {"op": "run", "root": self.client.root, "image_root": self.client.image_root,
               "id": cid, "options": o, "remove": remove, "timeout": timeout}
        t0 = time.monotonic()
        out, err, reply = self.client._collect(req, separate=True, stdin_data=input)
        return SandboxResult(id=cid, exit_code=reply["exit_code"], stdout=out, stderr=err,
                             oom_killed=reply["oom_killed"], timed_out=reply["timed_out"],
                             wall_time=time.monotonic() - t0)

    def get(self, container_id: str) -> Container:
        return Container(self.client, resolve_id(self.client.root, container_id))

    def list(self, all: bool = False, filters: dict | None = None) -> list[Container]:  # noqa: A002
        from . import state as st
        out = []
        for cid in st.list_ids(self.client.root):
            try:
                c = Container(self.client, cid)
            except NotFound:
                continue
            if all or c.status in ("running", "paused"):
                out.append(c)
        return out


class Image:
    def __init__(self, attrs: dict):
        self.attrs = attrs
        self.id = attrs.get("Id", "")
        self.tags = attrs.get("RepoTags", [])

    def __repr__(self):
        return f"<Image: {', '.join(repr(t) for t in self.tags)}>"

    short_id = property(lambda self: self.id[:19])


class ImageCollection:
    def __init__(self, client: "Client"):
        self.client = client

    def _store(self):
        from .image.store import Store
        return Store(self.client.image_root)

    def _call(self, fn, *a, **kw):
        try:
            return fn(*a, **kw)
        except PyContainerError as exc:
            raise _translate(exc) from None

    def get(self, name: str) -> Image:
        return Image(self._call(self._store().inspect, name))

    def list(self) -> list[Image]:
        s = self._store()
        out = []
        for row in s.list():
            ref = row["names"][0] if row["names"] else row["digest"]
            try:
                out.append(Image(s.inspect(ref)))
            except PyContainerError:
                continue
        return out

    def pull(self, repository: str, tag: str | None = None, insecure=None, **kw) -> Image:
        ref = f"{repository}:{tag}" if tag else repository
        img = self._call(self._store().pull, ref, insecure=insecure, **kw)
        return self.get(img.name)

    def remove(self, image: str, force: bool = False) -> None:
        self._call(self._store().remove, image, force=force)

    def load(self, data) -> list[Image]:
        """A ``docker save`` / OCI archive: bytes, a file object or a path."""
        import io
        src = io.BytesIO(data) if isinstance(data, (bytes, bytearray)) else data
        names = self._call(self._store().load, src)
        return [self.get(n) for n in names]


class Client:
    """Entry point: ``Client().containers`` and ``Client().images`` (docker SDK shape)."""

    def __init__(self, root: str = DEFAULT_ROOT, image_root: str | None = None):
        import weakref
        self.root = os.path.abspath(root)
        self.image_root = image_root
        self._helper = _Helper()
        weakref.finalize(self, self._helper.close)
        self.containers = ContainerCollection(self)
        self.images = ImageCollection(self)

    @classmethod
    def from_env(cls) -> "Client":
        return cls(os.environ.get("PYCONTAINER_ROOT", DEFAULT_ROOT),
                   os.environ.get("PYCONTAINER_IMAGE_ROOT"))

    def close(self) -> None:
        """Stop the helper process (it also stops by itself when this process exits)."""
        self._helper.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def _collect(self, req, *, separate: bool, stdout=True, stderr=True, stdin_data: bytes | None = None):
        """Send ``req`` with pipes for stdout/stderr (and stdin); read both and the reply."""
        import selectors
        out_r, out_w = os.pipe2(os.O_CLOEXEC)
        if separate:
            err_r, err_w = os.pipe2(os.O_CLOEXEC)
        else:
            err_r, err_w = -1, out_w
        in_r = in_w = -1
        if stdin_data is not None:
            in_r, in_w = os.pipe2(os.O_CLOEXEC)
        try:
            sock = self._helper.call(req, (None if in_r < 0 else in_r, out_w, err_w))
        except BaseException:
            for fd in {out_r, out_w, err_r, err_w, in_r, in_w} - {-1}:
                os.close(fd)
            raise
        os.close(out_w)
        if separate:
            os.close(err_w)
        if in_r >= 0:
            os.close(in_r)
            os.set_blocking(in_w, False)
        pending = memoryview(stdin_data or b"")
        bufs = {out_r: [], err_r: []}
        reply_data = None
        sel = selectors.DefaultSelector()
        try:
            sel.register(out_r, selectors.EVENT_READ)
            if separate:
                sel.register(err_r, selectors.EVENT_READ)
            sel.register(sock, selectors.EVENT_READ)
            if in_w >= 0:
                if pending:
                    sel.register(in_w, selectors.EVENT_WRITE)
                else:
                    os.close(in_w)
                    in_w = -1
            open_fds = {out_r} | ({err_r} if separate else set())
            while open_fds or reply_data is None:
                for key, _ in sel.select():
                    if key.fd == in_w:
                        try:
                            pending = pending[os.write(in_w, pending[:65536]):]
                        except BlockingIOError:
                            continue
                        except OSError:          # the program closed its stdin
                            pending = pending[:0]
                        if not pending:
                            sel.unregister(in_w)
                            os.close(in_w)
                            in_w = -1
                        continue
                    if key.fileobj is sock:
                        reply_data = sock.recv(1 << 20) or b""
                        sel.unregister(sock)
                        if not reply_data:
                            reply_data = b'{"error": "the pycontainer helper died before it answered"}'
                        continue
                    data = os.read(key.fd, 65536)
                    if data:
                        bufs[key.fd].append(data)
                    else:
                        sel.unregister(key.fd)
                        open_fds.discard(key.fd)
        finally:
            sel.close()
            sock.close()
            if in_w >= 0:
                os.close(in_w)
            os.close(out_r)
            if separate:
                os.close(err_r)
        reply = json.loads(reply_data)
        if "error" in reply:
            cls = {"ImageNotFound": ImageNotFound, "ContainerNotFound": NotFound}.get(reply.get("kind"))
            raise (cls or APIError)(reply["error"])
        return b"".join(bufs[out_r]), b"".join(bufs.get(err_r, [])), reply


# --- stop / wait / logs -f (shared by the CLI porcelain) -------------------------------------

def stop(root: str, cid: str, timeout: float = 10, sig: int = signal.SIGTERM) -> None:
    """docker stop: ``sig`` (SIGTERM) to the init; after ``timeout`` SIGKILL to the cgroup."""
    from .container import Runtime
    rt = Runtime(root)
    try:
        record = rt.record(cid)
        if rt.state(cid)["status"] in ("stopped",):
            return
        cdir = (record.get("annotations") or {}).get(ANN_DIR, "")
        try:
            rt.kill(cid, sig)
        except PyContainerError:
            pass
        if _wait_stopped(rt, cid, cdir, timeout):
            return
        try:
            rt.kill(cid, signal.SIGKILL, all_processes=True)
        except PyContainerError:
            pass
        _wait_stopped(rt, cid, cdir, 10)
    except PyContainerError as exc:
        raise _translate(exc) from None


def _wait_stopped(rt, cid, cdir, timeout) -> bool:
    from . import detach
    from . import state as st
    deadline = time.monotonic() + timeout
    if cdir and detach.monitor_pid(cdir):
        return detach.wait_monitor(cdir, timeout)
    record = rt.record(cid)
    while time.monotonic() < deadline:
        if st.status_of(record) == st.STOPPED:
            return True
        time.sleep(0.02)
    return st.status_of(record) == st.STOPPED


def wait(root: str, cid: str, timeout: float | None = None) -> tuple[int, bool]:
    """Until the program exits; (exit status, OOM-killed). -1 when nobody saw the status."""
    from . import detach
    from . import state as st
    from .container import Runtime
    rt = Runtime(root)
    try:
        record = rt.record(cid)
    except PyContainerError as exc:
        raise _translate(exc) from None
    cdir = (record.get("annotations") or {}).get(ANN_DIR, "")
    deadline = None if timeout is None else time.monotonic() + timeout
    if cdir and detach.monitor_pid(cdir):
        # Until exit.json exists (with --rm the monitor then becomes `delete`) or
        # the monitor is gone; a pidfd wakes us at once when it exits.
        while detach.read_exit(cdir) is None:
            left = None if deadline is None else deadline - time.monotonic()
            if left is not None and left <= 0:
                raise APIError(f"wait {cid}: timed out after {timeout}s")
            if detach.wait_monitor(cdir, 0.05 if left is None else min(0.05, left)):
                break
    else:
        while st.status_of(record) != st.STOPPED:
            if deadline is not None and time.monotonic() > deadline:
                raise APIError(f"wait {cid}: timed out after {timeout}s")
            time.sleep(0.05)
    ex = detach.read_exit(cdir) if cdir else None
    if ex is None:
        return -1, False
    return ex["exit_code"], bool(ex.get("oom_killed"))


def follow_logs(root: str, cid: str, cdir: str, *, stdout=True, stderr=True, timestamps=False,
                tail=None, poll: float = 0.1):
    """Yield (stream, bytes) as the log grows, until the monitor exits."""
    from . import detach
    chunks, off = read_logs(cdir, stdout=stdout, stderr=stderr, timestamps=timestamps,
                            tail=None if tail in (None, "all") else tail)
    yield from chunks
    while True:
        alive = bool(detach.monitor_pid(cdir))
        chunks, off = read_logs(cdir, stdout=stdout, stderr=stderr, timestamps=timestamps,
                                since_offset=off)
        yield from chunks
        if not alive:
            return
        time.sleep(poll)


if __name__ == "__main__":
    if len(sys.argv) == 3 and sys.argv[1] == "--serve":
        _serve(int(sys.argv[2]))
