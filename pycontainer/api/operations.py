"""The operations the porcelain (``run IMAGE``, ``logs``, ``wait``, ``stop``) and the API share.

* forking ones, for a single-threaded process only (the CLI, or the API's
  helper, api/helper.py): ``op_create`` (``run -d``, ``containers.create``:
  the container under a monitor, detach.py), ``op_run`` (the foreground
  program on our stdio, with a timeout that kills its whole cgroup) and
  ``op_exec``;
* reading ones, for any process and thread: ``inspect`` (a docker-inspect
  record from the state and the container's directory), ``resolve_id``,
  ``follow_logs``, ``wait`` and ``stop``.

Each one raises pycontainer's errors (``errors.py``), which are the API's too.
"""

from __future__ import annotations

import json
import os
import signal
import time

from .. import containerdir as cd
from ..errors import ContainerNotFound, PyContainerError
from .config import ANN_IMAGE, ANN_LABELS, build


def op_create(root: str, cid: str, o: dict, *, start: bool, remove: bool = False,
              image_root=None) -> dict:
    """Build and create under a monitor (``run -d``, ``containers.create``); -> {id, pid}."""
    from .. import detach
    from ..container import Runtime
    cdir, plan = build(cid, o, image_root=image_root, root=root)
    rt = Runtime(root)
    try:
        on_delete = cd.delete_plan() + egress_policy(cid, o)
        pid = detach.spawn(rt, cid, cdir, cdir, tty=bool(o.get("tty")), start=start, remove=remove,
                           interactive=bool(o.get("interactive")), overlay=plan,
                           on_delete=on_delete)
    except BaseException:
        if not os.path.isdir(os.path.join(root, cid)):
            cd.remove(cid)
            egress_undo(cid, o)
        raise
    if o.get("lifetime"):
        expire_after(root, cid, float(o["lifetime"]))
    return {"id": cid, "pid": pid}


def expire_after(root: str, cid: str, lifetime: float) -> None:
    """``lifetime=``: a small process of its own (double fork, new session: it outlives the
    caller, as the container does) kills the container's cgroup and removes it ``lifetime``
    seconds from now, unless it is gone by then. Call from a single-threaded process."""
    pid = os.fork()
    if pid:
        os.waitpid(pid, 0)
        return
    try:
        os.setsid()
        if os.fork():
            os._exit(0)
        devnull = os.open(os.devnull, os.O_RDWR)
        for fd in (0, 1, 2):
            os.dup2(devnull, fd)
        os.closerange(3, 1 << 16)
        signal.signal(signal.SIGCHLD, signal.SIG_DFL)
        time.sleep(lifetime)
        if os.path.isdir(os.path.join(root, cid)):
            from ..container import Runtime
            try:
                Runtime(root).delete(cid, force=True)
            except PyContainerError:
                pass
    finally:
        os._exit(0)


def egress_policy(cid: str, o: dict) -> list[dict]:
    """Install the egress policy of a bridged container (network/egress.py); its delete-plan step."""
    if o.get("network") not in (None, "bridge") or \
            (o.get("egress", "allow-all") == "allow-all" and not o.get("egress_allow")):
        return []
    from ..network import egress
    from ..network.bridge import veth_name
    egress.apply(cid, veth_name(cid), o.get("egress_allow") or (), egress.resolvers(o.get("dns")))
    return [{"call": "pycontainer.network.egress:remove"}]


def egress_undo(cid: str, o: dict) -> None:
    if o.get("network") in (None, "bridge") and \
            (o.get("egress", "allow-all") != "allow-all" or o.get("egress_allow")):
        from ..network import egress
        from ..network.bridge import veth_name
        egress.remove_chain(cid, veth_name(cid))


def op_run(root: str, cid: str, o: dict, *, remove: bool, timeout: float | None = None,
           image_root=None, forward_signals: bool = False, pull: str = "missing",
           cancel_fd: int | None = None) -> dict:
    """Build, run in the foreground on our stdio, wait; -> {exit_code, oom_killed, timed_out, wall}.

    ``timeout`` (seconds from start) kills every process of the container's
    cgroup. The exit status is also written to the container's exit.json,
    so a kept container reports it later. ``cancel_fd`` (the API's reply
    socket) readable or closed means the caller is gone: the cgroup is killed
    and the container removed, whatever ``remove`` says (it was the caller's).
    """
    from ..container import Runtime
    cdir, plan = build(cid, o, image_root=image_root, pull=pull, root=root)
    rt = Runtime(root)
    try:
        on_delete = cd.delete_plan() + egress_policy(cid, o)
        record = rt.create(cid, cdir, overlay=plan, on_delete=on_delete)
    except BaseException:
        if not os.path.isdir(os.path.join(root, cid)):
            cd.remove(cid)
            egress_undo(cid, o)
        raise
    timed_out = False
    try:
        files = cd.oom_files(record)
        oom_before = cd.oom_kills(files)
        pid = record["pid"]
        t0 = time.monotonic()
        old = {}
        if forward_signals:         # as docker's sig-proxy: our signals go to the program
            from ..container import forward_signal
            for s in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP, signal.SIGQUIT, signal.SIGUSR1,
                      signal.SIGUSR2):
                old[s] = signal.signal(s, lambda n, _f: forward_signal(pid, n))
        rt.start(cid)
        pidfd = os.pidfd_open(pid)
        try:
            import select
            left = None if timeout is None else timeout - (time.monotonic() - t0)
            watch = [pidfd] if cancel_fd is None else [pidfd, cancel_fd]
            r, _, _ = select.select(watch, [], [], None if left is None else max(0.0, left))
            if pidfd not in r:
                timed_out = not r
                remove = remove or bool(r)
                rt.cgroup_of(record).kill_all(signal.SIGKILL)
        finally:
            os.close(pidfd)
        from ..container import wait_exit
        code = wait_exit(pid)
        for s, h in old.items():
            signal.signal(s, h)
        wall = time.monotonic() - t0
        oom = cd.oom_kills(files) > oom_before
        cd.write_exit(os.path.join(cdir, cd.EXIT), code, oom)
    except BaseException:
        rt.delete(cid, force=True)
        raise
    if remove:
        rt.delete(cid, force=True)
    return {"id": cid, "exit_code": code, "oom_killed": oom, "timed_out": timed_out, "wall": wall}


def op_exec(root: str, cid: str, args, *, env=(), user=None, workdir=None, tty=False,
            interactive=False, privileged=False, detach=False) -> int:
    """``exec`` on our stdio; the exit status (0 once started with ``detach``)."""
    from ..container import Runtime
    rt = Runtime(root)
    caps = None
    if privileged:
        from ..capabilities import CAPS
        caps = sorted(CAPS)
    proc = rt.exec_process(cid, list(args), env=list(env), user=user, cwd=workdir, tty=False, caps=caps)
    if tty and not detach:
        from .. import terminal
        return terminal.exec_(rt, cid, proc, interactive=interactive)
    return rt.exec(cid, proc, detach=detach)


def op_exec_timed(root: str, cid: str, args, *, env=(), user=None, workdir=None, privileged=False,
                  detach=False, timeout: float | None = None, cancel_fd: int | None = None,
                  oom: bool = False, tty: bool = False) -> dict:
    """``exec`` on our stdio for the API -> {exit_code, timed_out, oom_killed}.

    ``timeout`` or ``cancel_fd`` readable (the caller gave up or died) kills
    the exec's process tree (the process and its descendants, found through
    /proc/PID/task/TID/children), not the container. ``tty``: the process
    gets a pseudo-terminal (pty(7)) as its stdio; we copy its output to our
    stdout and our stdin to it (docker exec -t: one stream, CRLF line ends).
    """
    import select
    from ..container import Runtime, wait_exit
    rt = Runtime(root)
    caps = None
    if privileged:
        from ..capabilities import CAPS
        caps = sorted(CAPS)
    gids = ()
    if user and not all(p.isdigit() for p in user.split(":")):
        user, gids = exec_user(rt, cid, user)
    proc = rt.exec_process(cid, list(args), env=list(env), user=user, cwd=workdir, tty=False, caps=caps,
                           additional_gids=gids)
    files = cd.oom_files(rt.record(cid)) if oom else []
    oom_before = cd.oom_kills(files) if oom else 0
    pid_file = f"/dev/shm/pycontainer-exec-{os.getpid()}.pid"       # tmpfs: no disk on the path
    master = -1
    if tty and not detach:
        master, ours = _pty_stdio(rt.record(cid)["pid"])
    try:
        rt.exec(cid, proc, detach=True, pid_file=pid_file)
        with open(pid_file) as f:
            pid = int(f.read())
    finally:
        try:
            os.unlink(pid_file)
        except FileNotFoundError:
            pass
        if master >= 0:
            null = os.open(os.devnull, os.O_RDWR)
            for i in (0, 1, 2):             # only the exec holds the terminal's other end now
                os.dup2(null, i)
            os.close(null)
    if detach:
        return {"exit_code": None, "timed_out": False}
    t0 = time.monotonic()
    pidfd = os.pidfd_open(pid)
    try:
        watch = [pidfd] if cancel_fd is None else [pidfd, cancel_fd]
        left = None if timeout is None else max(0.0, timeout - (time.monotonic() - t0))
        if master >= 0:
            r = _relay_tty(master, ours, pidfd, watch, None if left is None else t0 + timeout)
        else:
            r, _, _ = select.select(watch, [], [], left)
        timed_out = pidfd not in r
        if timed_out:
            kill_tree(pid)
    finally:
        os.close(pidfd)
    code = wait_exit(pid)
    return {"exit_code": code, "timed_out": timed_out, "oom_killed": oom and cd.oom_kills(files) > oom_before}


def _pty_stdio(init_pid: int) -> tuple[int, tuple[int, int]]:
    """A pty of the container's own devpts (its /dev/ptmx, opened with openat2 RESOLVE_IN_ROOT
    from its root, so the terminal is /dev/pts/N in there) whose terminal end, opened with
    TIOCGPTPEER, becomes our fds 0-2 (the exec inherits them); (master, (our stdin, our
    stdout)) to relay through. See pts(4), ioctl_tty(2)."""
    import fcntl
    from .. import syscalls as sc
    ours = (os.dup(0), os.dup(1))
    root = os.open(f"/proc/{init_pid}/root", os.O_PATH | os.O_DIRECTORY | os.O_CLOEXEC)
    try:
        master = sc.openat2(root, "dev/ptmx", os.O_RDWR | os.O_NOCTTY, 0,
                            sc.RESOLVE_IN_ROOT | sc.RESOLVE_NO_MAGICLINKS)
    finally:
        os.close(root)
    fcntl.ioctl(master, 0x40045431, b"\0\0\0\0")               # TIOCSPTLCK 0: unlock
    term = fcntl.ioctl(master, 0x5441, os.O_RDWR | os.O_NOCTTY)   # TIOCGPTPEER
    for i in (0, 1, 2):
        os.dup2(term, i)
    os.close(term)
    return master, ours


def _relay_tty(master: int, ours, pidfd: int, watch: list, deadline) -> list:
    """Copy the pty's output to our stdout and our stdin into it until the exec exits (then
    what it left in the pty), the deadline passes or ``watch`` fires; select's ready list."""
    import select
    stdin, stdout = ours
    rd = {master, stdin, *watch}
    ready: list = []
    while pidfd not in ready:
        left = None if deadline is None else deadline - time.monotonic()
        if left is not None and left <= 0:
            ready = []
            break
        r, _, _ = select.select(list(rd), [], [], left)
        ready = [f for f in r if f in watch]
        if ready and pidfd not in ready:
            break                                   # the caller is gone
        if master in r:
            try:
                data = os.read(master, 65536)
            except OSError:                          # EIO: no process holds the terminal
                data = b""
            if data:
                os.write(stdout, data)
            else:
                rd.discard(master)
        if stdin in r:
            data = os.read(stdin, 65536)
            os.write(master, data or b"\x04")       # end of our input: ^D, the terminal's EOF
            if not data:
                rd.discard(stdin)
    while pidfd in ready and master in rd:           # the rest of its output, without waiting
        if not select.select([master], [], [], 0.05)[0]:
            break
        try:
            data = os.read(master, 65536)
        except OSError:
            break
        if not data:
            break
        os.write(stdout, data)
    for fd in (master, stdin, stdout):
        os.close(fd)
    return ready


def exec_user(rt, cid: str, user: str) -> tuple[str, list[int]]:
    """A user/group name -> ("UID:GID", supplementary gids), from the container's /etc/passwd and
    /etc/group: its image's layers with its own changes on top (as docker exec resolves it)."""
    from ..image.overlay import ANNOTATION, OverlayPlan
    from ..image.runconfig import resolve_user
    with open(os.path.join(rt.record(cid).get("bundle", ""), "config.json")) as f:
        plan = OverlayPlan.from_json(json.load(f).get("annotations", {}).get(ANNOTATION) or "{}")
    u = resolve_user(plan.lower + ([plan.upper] if plan.upper else []), user)
    return f"{u['uid']}:{u['gid']}", u.get("additionalGids", [])


def kill_tree(pid: int) -> None:
    """SIGKILL ``pid`` and every descendant, stopping each first so none can fork away."""
    seen: list[int] = []
    todo = [pid]
    while todo:
        p = todo.pop()
        try:
            os.kill(p, signal.SIGSTOP)
        except ProcessLookupError:
            continue
        seen.append(p)
        try:
            for tid in os.listdir(f"/proc/{p}/task"):
                with open(f"/proc/{p}/task/{tid}/children") as f:
                    todo += [int(c) for c in f.read().split()]
        except OSError:
            pass
    for p in seen:
        try:
            os.kill(p, signal.SIGKILL)
        except ProcessLookupError:
            pass


def inspect(root: str, cid: str) -> dict:
    """docker-inspect-shaped record of a container, from its state and its directory."""
    from ..container import Runtime
    rt = Runtime(root)
    state = rt.state(cid)
    ann = state.get("annotations") or {}
    cdir = ann.get(cd.ANN_DIR) or ""
    try:
        with open(os.path.join(cdir, "config.json")) as f:
            cfg = json.load(f)
    except (OSError, ValueError):
        cfg = {}
    proc = cfg.get("process", {})
    try:
        saved_net = rt.record(cid).get("network") or {}
    except PyContainerError:
        saved_net = {}
    ex = cd.read_exit(cdir) if cdir else None
    status = {"creating": "created", "stopped": "exited"}.get(state["status"], state["status"])
    try:
        labels = json.loads(ann.get(ANN_LABELS) or "{}")
    except ValueError:
        labels = {}
    return {
        "Id": cid, "Name": cid, "Created": state.get("created", ""),
        "Path": (proc.get("args") or [""])[0], "Args": (proc.get("args") or [])[1:],
        "State": {"Status": status, "Running": status == "running", "Paused": status == "paused",
                  "Pid": state.get("pid", 0), "ExitCode": (ex or {}).get("exit_code", 0 if not ex and status != "exited" else -1),
                  "OOMKilled": bool((ex or {}).get("oom_killed")),
                  "FinishedAt": (ex or {}).get("finished_at", "")},
        "Config": {"Image": ann.get(ANN_IMAGE, ""), "Cmd": proc.get("args", []),
                   "Tty": bool(proc.get("terminal")), "Env": proc.get("env", []),
                   "User": _user_of(proc), "WorkingDir": proc.get("cwd", ""),
                   "Hostname": cfg.get("hostname", ""), "Labels": labels},
        "HostConfig": host_config(cfg, ann),
        "NetworkSettings": network_settings(saved_net),
        "Dir": cdir, "Bundle": state.get("bundle", ""),
    }


def _user_of(proc: dict) -> str:
    u = proc.get("user") or {}
    return f"{u.get('uid', 0)}:{u.get('gid', 0)}"


def host_config(cfg: dict, ann: dict) -> dict:
    """docker's HostConfig, from what config.json says."""
    res = (cfg.get("linux") or {}).get("resources") or {}
    mem, cpu, pids = res.get("memory") or {}, res.get("cpu") or {}, res.get("pids") or {}
    nano = int(cpu["quota"] * 1e9 / cpu["period"]) if cpu.get("quota", 0) > 0 and cpu.get("period") else 0
    try:
        mode = json.loads(ann.get("org.pycontainer.network") or "{}").get("mode", "none")
    except ValueError:
        mode = ""
    if isinstance(mode, list):                       # [kind, ref]: container:ID
        mode = mode[0] if mode[1] is None else f"{mode[0]}:{mode[1]}"
    caps = (cfg.get("process") or {}).get("capabilities", {}).get("bounding", [])
    return {"Memory": mem.get("limit", 0), "MemorySwap": mem.get("swap", 0), "NanoCpus": nano,
            "CpuShares": cpu.get("shares", 0), "CpusetCpus": cpu.get("cpus", ""),
            "PidsLimit": pids.get("limit", 0), "NetworkMode": mode or "none",
            "ReadonlyRootfs": bool((cfg.get("root") or {}).get("readonly")), "CapAdd": None,
            "Binds": [f"{m['source']}:{m['destination']}" for m in cfg.get("mounts", ())
                      if m.get("type") == "bind" and m.get("source", "").startswith("/")
                      and not m["destination"].startswith(("/etc/", "/dev"))],
            "Capabilities": caps}


def network_settings(saved: dict) -> dict:
    """docker's NetworkSettings from the network state the runtime saved (bridge: ip, gateway)."""
    ip, gw = saved.get("ip", ""), saved.get("gateway", "")
    nets = {}
    if ip:
        nets[saved.get("network", "bridge")] = {"IPAddress": ip, "Gateway": gw,
                                                "IPPrefixLen": saved.get("prefixlen", 0)}
    return {"IPAddress": ip, "Gateway": gw, "IPPrefixLen": saved.get("prefixlen", 0),
            "Networks": nets, "Ports": {}, "SandboxKey": saved.get("host_ifname", "")}


def matches(attrs: dict, filters: dict) -> bool:
    """docker's container filters: id, name, label ("k" / "k=v"), status, ancestor."""
    for key, want in filters.items():
        values = [want] if isinstance(want, (str, bool)) else list(want)
        if key == "label":
            labels = attrs["Config"].get("Labels") or {}
            for v in values:                  # all must match
                k, eq, val = v.partition("=")
                if k not in labels or (eq and labels[k] != val):
                    return False
        elif key == "id":
            if not any(attrs["Id"].startswith(v) for v in values):
                return False
        elif key == "name":
            if not any(v in attrs["Name"] for v in values):
                return False
        elif key == "status":
            if attrs["State"]["Status"] not in values:
                return False
        elif key == "ancestor":
            if attrs["Config"]["Image"] not in values:
                return False
        else:
            raise PyContainerError(f"filter {key!r}: supported are id, name, label, status, ancestor")
    return True


def resolve_id(root: str, ref: str) -> str:
    """A full ID, a name (IDs are names here) or a unique ID prefix -> the ID."""
    from .. import state as st
    ids = st.list_ids(root)
    if ref in ids:
        return ref
    matches = [i for i in ids if i.startswith(ref)] if ref else []
    if len(matches) == 1:
        return matches[0]
    if len(matches) > 1:
        raise PyContainerError(f"container {ref!r} is ambiguous: {len(matches)} IDs start with it")
    raise ContainerNotFound(f"container {ref!r} does not exist")


# --- stop / wait / logs -f ---------------------------------------------------------------

def stop(root: str, cid: str, timeout: float = 10) -> None:
    """docker stop: SIGTERM to the init; after ``timeout`` SIGKILL to the whole cgroup."""
    from ..container import Runtime
    rt = Runtime(root)
    record = rt.record(cid)
    if rt.state(cid)["status"] in ("stopped",):
        return
    cdir = cd.of(record)
    try:
        rt.kill(cid, signal.SIGTERM)
    except PyContainerError:
        pass
    if _wait_stopped(rt, cid, cdir, timeout):
        return
    try:
        rt.kill(cid, signal.SIGKILL, all_processes=True)
    except PyContainerError:
        pass
    _wait_stopped(rt, cid, cdir, 10)


def _wait_stopped(rt, cid, cdir, timeout) -> bool:
    from .. import state as st
    deadline = time.monotonic() + timeout
    if cdir and cd.monitor_pid(cdir):
        return cd.wait_monitor(cdir, timeout)
    record = rt.record(cid)
    while time.monotonic() < deadline:
        if st.status_of(record) == st.STOPPED:
            return True
        time.sleep(0.02)
    return st.status_of(record) == st.STOPPED


def wait(root: str, cid: str, timeout: float | None = None) -> tuple[int, bool]:
    """Until the program exits; (exit status, OOM-killed). -1 when nobody saw the status."""
    from .. import state as st
    from ..container import Runtime
    record = Runtime(root).record(cid)
    cdir = cd.of(record)
    deadline = None if timeout is None else time.monotonic() + timeout
    if cdir and cd.monitor_pid(cdir):
        # Until exit.json exists (with --rm the monitor then becomes `delete`) or
        # the monitor is gone; a pidfd wakes us at once when it exits.
        while cd.read_exit(cdir) is None:
            left = None if deadline is None else deadline - time.monotonic()
            if left is not None and left <= 0:
                raise PyContainerError(f"wait {cid}: timed out after {timeout}s")
            if cd.wait_monitor(cdir, 0.05 if left is None else min(0.05, left)):
                break
    else:
        while st.status_of(record) != st.STOPPED:
            if deadline is not None and time.monotonic() > deadline:
                raise PyContainerError(f"wait {cid}: timed out after {timeout}s")
            time.sleep(0.05)
    ex = cd.read_exit(cdir) if cdir else None
    if ex is None:
        return -1, False
    return ex["exit_code"], bool(ex.get("oom_killed"))


def follow_logs(root: str, cid: str, cdir: str, *, stdout=True, stderr=True, timestamps=False,
                tail=None, poll: float = 0.1):
    """Yield (stream, bytes) as the log grows, until the monitor exits."""
    chunks, off = cd.read_logs(cdir, stdout=stdout, stderr=stderr, timestamps=timestamps,
                            tail=None if tail in (None, "all") else tail)
    yield from chunks
    while True:
        alive = bool(cd.monitor_pid(cdir))
        chunks, off = cd.read_logs(cdir, stdout=stdout, stderr=stderr, timestamps=timestamps,
                                since_offset=off)
        yield from chunks
        if not alive:
            return
        time.sleep(poll)
